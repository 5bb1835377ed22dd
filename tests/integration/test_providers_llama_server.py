"""The openai SDK path against a real OpenAI-compatible server on loopback: llama-cpp-python's
``llama_cpp.server`` serving a tiny synthetic model, as a profile target and in `workbench
compare` next to the same model run locally."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.llama_server import llama_server as serve
from workbench.costs.answer_cost import price_answer
from workbench.costs.pricing import load_pricing
from workbench.providers.base import Params
from workbench.providers.profiles import Profile, save_profile
from workbench.providers.registry import build_target
from workbench.store.settings import AppSettings

HELLO = [{"role": "user", "content": "Tell me about the weather."}]


@pytest.fixture(scope="module")
def llama_server(tiny_model_path) -> Iterator[str]:
    """``python -m llama_cpp.server`` on a free loopback port; yields its /v1 base URL."""
    # F16: llama.cpp's CPU weight repacking (which crashes on this CPU's AMX) does not touch it
    with serve(tiny_model_path("llama", "F16"), alias="tiny") as base:
        yield base


@pytest.fixture
def settings(llama_server: str) -> AppSettings:
    settings = AppSettings()
    save_profile(settings, Profile("tinyserver", llama_server, requires_key=False))
    return settings


def test_streaming_through_the_openai_sdk(llama_server: str, settings: AppSettings) -> None:
    target = build_target("profile:tinyserver/tiny", settings=settings)
    assert not target.leaves_machine
    deltas: list[str] = []
    try:
        result = target.stream(HELLO, Params(max_tokens=24, temperature=0.7, seed=3),
                               on_delta=lambda text, _n: deltas.append(text))
    finally:
        target.close()
    assert result.ok, result.error
    assert result.text and result.text == "".join(deltas)
    assert result.finish_reason in ("stop", "length")
    assert result.ttft_ms is not None and 0 < result.ttft_ms <= result.total_ms
    # llama_cpp.server streams no usage chunk: the tokens are unknown - not 0, not chunks
    assert result.prompt_tokens is None and result.completion_tokens is None
    assert result.tokens_source is None and result.gen_tokens_per_s is None
    assert any("no usage" in note for note in result.notes)
    price_answer(result, load_pricing(), settings)
    assert result.cost_usd is None and "self-hosted" in result.cost_note


def test_compare_local_model_against_the_same_model_served(llama_server: str, llama_tiny: Path,
                                                          tmp_path: Path) -> None:
    env = {**os.environ, "WORKBENCH_HOME": str(tmp_path)}
    add = subprocess.run([sys.executable, "-m", "workbench", "profiles", "add", "tinyserver",
                          llama_server, "--no-key"], env=env, capture_output=True, text=True,
                         timeout=60)
    assert add.returncode == 0, add.stderr
    run = subprocess.run(
        [sys.executable, "-m", "workbench", "compare", "Say hello.", "--target",
         f"local:{llama_tiny}", "--target", "profile:tinyserver/tiny", "--max-tokens", "16",
         "--ctx", "512", "--repack", "off", "--seed", "2", "--json"],
        env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    local, served = json.loads(run.stdout)
    assert local["target"] == f"local:{llama_tiny}" and local["error"] is None
    assert local["prompt_tokens"] > 0 and local["completion_tokens"] > 0
    assert local["tokens_source"] == "llama.cpp" and local["energy_j"] > 0
    assert local["cost_usd"] is not None and local["cost_usd"] > 0
    assert served["error"] is None and served["text"]
    assert served["prompt_tokens"] is None and served["completion_tokens"] is None
    assert served["cost_usd"] is None
    assert "this machine" in run.stderr
