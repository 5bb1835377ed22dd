"""A chat template cannot hang or exhaust the model process (bounded in time and size, with an
error naming the template), and Ctrl-C stops ``run`` and ``compare`` at any point, model
process included."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
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


def _ctrl_c(process: subprocess.Popen[str], after_s: float) -> tuple[float, str]:
    """Ctrl-C to the whole process group after ``after_s``; (seconds to exit, stderr)."""
    time.sleep(after_s)
    children = psutil.Process(process.pid).children(recursive=True)
    assert children, "the model process should be running"
    started = time.monotonic()
    os.killpg(process.pid, signal.SIGINT)
    try:
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    elapsed = time.monotonic() - started
    _gone, alive = psutil.wait_procs(children, timeout=5)
    assert not alive, f"model processes left running: {alive}"
    return elapsed, err


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
    limits = TemplateLimits(max_seconds=0.5, max_chars=1_000_000)
    started = time.monotonic()
    with pytest.raises(TemplateLimitError, match=f"the chat template of Evil.*{says}"):
        GuardedChatFormatter(template, eos_token="", bos_token="", name="Evil",
                             limits=limits)(messages=MESSAGES)
    assert time.monotonic() - started < 3.0


def test_ordinary_templates_render_as_llama_cpp_renders_them() -> None:
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    template = ("{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}"
                "{{ eos_token }}{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}"
                "{{ messages|tojson }}{{ 'x'|center(5) }}{{ ' a ' ~ 1 ~ 'b' }}")
    plain = Jinja2ChatFormatter(template, eos_token="</s>", bos_token="<s>")
    guarded = GuardedChatFormatter(template, eos_token="</s>", bos_token="<s>", name="m")
    assert guarded(messages=MESSAGES).prompt == plain(messages=MESSAGES).prompt
    assert guarded(messages=MESSAGES).stop == plain(messages=MESSAGES).stop


# -- through the CLI, real model processes ------------------------------------------------------

def test_run_with_a_looping_template_fails_in_seconds_naming_it(
        hostile_template_model: Path) -> None:
    process = _workbench("run", str(hostile_template_model), "hi", "--max-tokens", "4")
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
    elapsed, err = _ctrl_c(process, after_s=4.0)
    assert process.returncode == 130 and "interrupted" in err
    assert "safe mode" not in err  # a Ctrl-C is not a crash
    assert elapsed < 5.0


def test_ctrl_c_stops_compare_during_a_hung_load(llama_tiny: Path) -> None:
    process = _workbench("compare", "hi", "-t", f"local:{llama_tiny}", "-t",
                         f"local:{llama_tiny}", "--no-save",
                         WORKBENCH_WORKER_FAULT="hang-on-load")
    elapsed, err = _ctrl_c(process, after_s=4.0)
    assert process.returncode == 130 and "interrupted" in err, err
    assert "internal error" not in err and "Traceback" not in err
    assert elapsed < 15.0
