"""LoRA adapters on the real llama.cpp: synthetic adapters for the tiny synthetic llama change its
greedy answer at a non-zero scale and leave it as it was at scale 0; several load at once; a
corrupt or mismatched adapter that reaches the worker is a load error it survives; ``run`` and
``bench`` take ``--lora``. (The memory plan with adapters: test_planner_accuracy.py.)"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.lora import adapter_for, mismatched
from workbench.engine.client import ChatResult, LocalEngine
from workbench.engine.defaults import resolve_load_settings
from workbench.engine.errors import ModelRejected
from workbench.engine.settings import LoadSettings, Sampling
from workbench.errors import WorkbenchError
from workbench.synth import write_lora_adapter

PROMPT = [{"role": "user", "content": "The capital of France is"}]
GREEDY = Sampling(temperature=0.0, max_tokens=24, seed=7, ignore_eos=True,
                  chat_format="completion")


@pytest.fixture(scope="module")
def engine() -> Iterator[LocalEngine]:
    with LocalEngine() as eng:
        yield eng


@pytest.fixture(scope="module")
def base(tiny_model_path) -> Path:
    path: Path = tiny_model_path("llama", "Q8_0")
    return path


@pytest.fixture(scope="module")
def adapters(base: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("loras")
    return {
        "one": adapter_for(base, out / "one.gguf", seed=1),
        "two": write_lora_adapter(out / "two.gguf", base, rank=8, targets=("attn_k", "ffn_up"),
                                  dtype="F16", seed=2),
        "width": mismatched(base, out / "width.gguf"),
    }


def answer(engine: LocalEngine, base: Path, *loras: tuple[Path, float]) -> tuple[ChatResult,
                                                                                  list[str]]:
    settings = LoadSettings(str(base), n_ctx=256, seed=7,
                            loras=tuple((str(path), scale) for path, scale in loras))
    info = engine.load(*resolve_load_settings(settings))
    assert info.loras == settings.loras
    pieces: list[str] = []
    result = engine.chat(PROMPT, GREEDY, on_delta=lambda text, _n: pieces.append(text))
    assert result.metrics.completion_tokens == GREEDY.max_tokens
    return result, pieces


def test_scale_zero_is_the_base_model_and_a_scale_changes_it(
        engine: LocalEngine, base: Path, adapters: dict[str, Path]) -> None:
    plain, plain_pieces = answer(engine, base)
    zero, zero_pieces = answer(engine, base, (adapters["one"], 0.0))
    assert zero.text == plain.text and zero_pieces == plain_pieces  # token for token
    changed, _ = answer(engine, base, (adapters["one"], 1.0))
    assert changed.text != plain.text
    again, _ = answer(engine, base, (adapters["one"], 1.0))
    assert again.text == changed.text  # deterministic
    negative, _ = answer(engine, base, (adapters["one"], -1.0))
    assert negative.text not in (plain.text, changed.text)


def test_two_adapters_at_once(engine: LocalEngine, base: Path,
                              adapters: dict[str, Path]) -> None:
    plain, _ = answer(engine, base)
    one, _ = answer(engine, base, (adapters["one"], 1.0))
    both, _ = answer(engine, base, (adapters["one"], 1.0), (adapters["two"], 2.0))
    assert both.text not in (plain.text, one.text)
    info = engine.info
    assert info is not None and len(info.loras) == 2


def test_bad_adapters_reaching_the_worker_are_load_errors_it_survives(
        engine: LocalEngine, base: Path, adapters: dict[str, Path], tmp_path: Path) -> None:
    """What the policy's fit check keeps from llama.cpp, sent to the worker directly: llama.cpp
    refuses each one (no abort), and the same worker then loads the model again."""
    good = adapters["one"].read_bytes()
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(good[:len(good) - 1000])
    garbage = tmp_path / "garbage.gguf"
    garbage.write_bytes(bytes(range(256)) * 64)
    pid = engine.pid
    for bad in (truncated, garbage, adapters["width"]):
        with pytest.raises(ModelRejected, match="LoRA adapter"):
            engine.load(LoadSettings(str(base), n_ctx=256, repack=False,
                                     loras=((str(bad), 1.0),)))
        assert engine.pid == pid  # the same worker: it did not crash
    result, _ = answer(engine, base)
    assert result.text and engine.pid == pid


def test_the_policy_refuses_a_mismatch_before_the_worker(base: Path,
                                                         adapters: dict[str, Path]) -> None:
    with pytest.raises(WorkbenchError, match="does not fit the model"):
        resolve_load_settings(LoadSettings(str(base), loras=((str(adapters["width"]), 1.0),)))


def workbench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "workbench", *args], capture_output=True,
                          text=True, timeout=300)


@pytest.mark.usefixtures("home")
def test_run_and_bench_take_lora_options(base: Path, adapters: dict[str, Path]) -> None:
    greedy = ("--max-tokens", "8", "--temperature", "0", "--seed", "3", "--ctx", "256",
              "--chat-format", "completion", "--json")
    plain = workbench("run", str(base), "Once upon a time", *greedy)
    zero = workbench("run", str(base), "Once upon a time", *greedy,
                     "--lora", f"{adapters['one']}@0")
    both = workbench("run", str(base), "Once upon a time", *greedy,
                     "--lora", str(adapters["one"]), "--lora", f"{adapters['two']}@2.5")
    for result in (plain, zero, both):
        assert result.returncode == 0, result.stderr
    plain_doc, zero_doc, both_doc = (json.loads(r.stdout) for r in (plain, zero, both))
    assert zero_doc["text"] == plain_doc["text"]
    assert both_doc["loras"] == [{"path": str(adapters["one"]), "scale": 1.0},
                                 {"path": str(adapters["two"]), "scale": 2.5}]
    assert "LoRA adapter" in both.stderr
    bench = workbench("bench", str(base), "--lora", f"{adapters['one']}@0.5", "--prompt-tokens",
                      "16", "--gen-tokens", "4", "--repetitions", "1", "--no-store", "--json")
    assert bench.returncode == 0, bench.stderr
    assert json.loads(bench.stdout)["settings"]["loras"] == [[str(adapters["one"]), 0.5]]
    mismatch = workbench("bench", str(base), "--lora", str(adapters["width"]), "--no-store")
    assert mismatch.returncode == 2 and "does not fit the model" in mismatch.stderr
