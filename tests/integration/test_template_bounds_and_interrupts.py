"""A chat template cannot hang or exhaust the model process (bounded in time and size, with an
error naming the template), and Ctrl-C stops ``run`` and ``compare`` at any point, model
process included."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import psutil
import pytest

from workbench.engine.worker.template_guard import (
    GuardedChatFormatter,
    TemplateLimitError,
    TemplateLimits,
)

NESTED_LOOPS = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
REPO_ROOT = Path(__file__).resolve().parents[2]
MESSAGES = [{"role": "user", "content": "hi"}]
HANG_S = 60  # a load with WORKBENCH_WORKER_FAULT=hang-on-load lasts this long (worker/host.py)


@pytest.fixture(scope="module")
def hostile_template_model(tiny_model_path, tmp_path_factory) -> Path:
    """The tiny llama with a chat template that would loop for hours (a real GGUF edit)."""
    out = tmp_path_factory.mktemp("hostile") / "looping-template.gguf"
    subprocess.run([sys.executable, "-m", "gguf.scripts.gguf_new_metadata",
                    str(tiny_model_path("llama", "Q8_0")), str(out), "--force",
                    "--general-name", "Looping<b>Model</b>", "--chat-template", NESTED_LOOPS],
                   check=True, capture_output=True, timeout=120)
    return out


def _workbench(*args: str, **env: str) -> subprocess.Popen[str]:
    """``python -m workbench ...`` in its own process group, as a terminal runs it."""
    return subprocess.Popen([sys.executable, "-m", "workbench", *args], cwd=REPO_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, env={**os.environ, **env})


def _ctrl_c(process: subprocess.Popen[str], after_s: float) -> str:
    """Ctrl-C to the whole process group after ``after_s``; its stderr once it exited.

    The model process hangs in its load for HANG_S: the command must exit well before that (it
    stops the model process instead of waiting for the load), and leave no model process."""
    time.sleep(after_s)
    children = psutil.Process(process.pid).children(recursive=True)
    assert children, "the model process should be running"
    os.killpg(process.pid, signal.SIGINT)
    try:
        _, err = process.communicate(timeout=HANG_S / 2)
    except subprocess.TimeoutExpired:
        pytest.fail("Ctrl-C waited for the hung load instead of stopping the model process")
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    _gone, alive = psutil.wait_procs(children, timeout=5)
    assert not alive, f"model processes left running: {alive}"
    return err


# -- the guard itself ---------------------------------------------------------------------------

@pytest.mark.parametrize("template, says", [
    (NESTED_LOOPS, "ran longer than"),
    ("{% set l = [1] * 100000 %}{% for a in l %}{% for b in l %}{% endfor %}{% endfor %}",
     "ran longer than"),
    ("{{ 'x' * 10000000000 }}", "10,000,000,000 characters"),
    ("{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}"
     "{% endfor %}", "characters"),
    ("{{ 'x'|center(1000000000) }}", "characters"),
    ("{{ '%1000000000s'|format('x') }}", "format width"),
    ("{{ '%1000000000s' % 'x' }}", "format width"),
    ("{{ '{:>1000000000}'.format('x') }}", "format width"),
    ("{% for i in range(100000) %}{{ 'y' * 1000 }}{% endfor %}", "characters"),
    ("{{ 7 ** 100000000 }}", "too large a number"),
])
def test_templates_are_bounded_in_time_and_size(template: str, says: str) -> None:
    """The guard stops each template at one of its own limits (its clock, its counts), which the
    error names, and before anything near the size asked for was built. Unguarded, these run
    for hours or need gigabytes (a guard that lets one run is the suite's per-test timeout)."""
    limits = TemplateLimits(max_seconds=0.5, max_chars=1_000_000)
    tracemalloc.start()
    try:
        with pytest.raises(TemplateLimitError, match=f"the chat template of Evil.*{says}"):
            GuardedChatFormatter(template, eos_token="", bos_token="", name="Evil",
                                 limits=limits)(messages=MESSAGES)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20, f"{peak >> 20} MiB"


def test_ordinary_templates_render_as_llama_cpp_renders_them() -> None:
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    template = ("{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}"
                "{{ eos_token }}{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}"
                "{{ messages|tojson }}{{ 'x'|center(5) }}{{ ' a ' ~ 1 ~ 'b' }}")
    plain = Jinja2ChatFormatter(template, eos_token="</s>", bos_token="<s>")
    guarded = GuardedChatFormatter(template, eos_token="</s>", bos_token="<s>", name="m")
    assert guarded(messages=MESSAGES).prompt == plain(messages=MESSAGES).prompt
    assert guarded(messages=MESSAGES).stop == plain(messages=MESSAGES).stop



GUARD_THEN_PROFILE = """
import sys
from workbench.engine.worker.template_guard import TemplateTimeout, within_time
within_time(lambda: 1, 30.0)  # finishes long before its watchdog
def spin():
    while True:
        pass
try:
    within_time(spin, 0.2)  # stopped by its watchdog
except TemplateTimeout:
    pass
calls = []
sys.setprofile(lambda frame, event, arg: calls.append(event))
(lambda: None)()
sys.setprofile(None)
print(len(calls))
"""


def test_a_guarded_render_leaves_the_thread_fit_to_profile_and_trace() -> None:
    """Clearing a thread's pending asynchronous exception when none was scheduled makes a
    profiled or traced thread spin forever on CPython 3.11 (pytest's call counting, coverage,
    debuggers): the guard never clears one; a timeout that fired as the work returned is taken."""
    done = subprocess.run([sys.executable, "-c", GUARD_THEN_PROFILE], capture_output=True,
                          text=True, timeout=60, cwd=REPO_ROOT, check=False)
    assert done.returncode == 0 and int(done.stdout) > 0, done.stderr

# -- through the CLI, real model processes ------------------------------------------------------

def test_run_with_a_looping_template_fails_in_seconds_naming_it(
        hostile_template_model: Path) -> None:
    # repacking off: on CPUs where the probe crashes, its note would be a second line
    process = _workbench("run", str(hostile_template_model), "hi", "--max-tokens", "4",
                         "--repack", "off")
    try:
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 2, err
    assert "chat template of Looping<b>Model</b> ran longer than" in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_ctrl_c_stops_run_during_a_hung_load(llama_tiny: Path) -> None:
    process = _workbench("run", str(llama_tiny), "hi", WORKBENCH_WORKER_FAULT="hang-on-load")
    err = _ctrl_c(process, after_s=4.0)
    assert process.returncode == 130 and "interrupted" in err
    assert "safe mode" not in err  # a Ctrl-C is not a crash


def test_ctrl_c_stops_compare_during_a_hung_load(llama_tiny: Path) -> None:
    process = _workbench("compare", "hi", "-t", f"local:{llama_tiny}", "-t",
                         f"local:{llama_tiny}", "--no-save",
                         WORKBENCH_WORKER_FAULT="hang-on-load")
    err = _ctrl_c(process, after_s=4.0)
    assert process.returncode == 130 and "interrupted" in err, err
    assert "internal error" not in err and "Traceback" not in err
