"""llama-cpp-python's own OpenAI-compatible server (``python -m llama_cpp.server``) on a free
loopback port: a real OpenAI-compatible endpoint for the provider and eval tests."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


BOOTSTRAP = """
import runpy
import llama_cpp.llama as module
defaults = module.llama_cpp.llama_model_default_params
def no_repack():
    params = defaults()
    params.use_extra_bufts = False
    return params
module.llama_cpp.llama_model_default_params = no_repack
runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
"""


@contextlib.contextmanager
def llama_server(model: Path, *, alias: str, n_ctx: int = 512,
                 timeout_s: float = 120) -> Iterator[str]:
    """Serve ``model`` as ``alias``; yields the server's /v1 base URL. CPU weight repacking is
    off, as Workbench's worker has it where the CPU was not probed safe (llama.cpp's AMX repack
    crashes while generating on CPUs that advertise AMX without permitting it); the server has
    no option for that, so a small bootstrap sets it before the server module runs."""
    port = free_port()
    # The log goes to a file: a pipe nobody reads fills up (llama.cpp logs a line per tensor
    # it repacks) and then blocks the server in the middle of loading.
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in the finally below
    process = subprocess.Popen(
        [sys.executable, "-c", BOOTSTRAP, "--model", str(model), "--host",
         "127.0.0.1", "--port", str(port), "--n_ctx", str(n_ctx), "--model_alias", alias],
        stdout=subprocess.DEVNULL, stderr=log,
        env={**os.environ, "GGML_NO_BACKTRACE": "1"})
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if process.poll() is not None:
                log.seek(0)
                raise RuntimeError("llama_cpp.server exited: "
                                   + log.read().decode(errors="replace")[-2000:])
            try:
                with urllib.request.urlopen(base + "/models", timeout=1) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"llama_cpp.server did not answer /v1/models in {timeout_s} s")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
