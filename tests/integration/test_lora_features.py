"""LoRA adapters in compare, eval and serve, on the real llama.cpp with the tiny synthetic llama
and a synthetic adapter: ``local:BASE+lora:ADAPTER@SCALE`` answers otherwise than the base, the
stored runs name the adapter, an eval report says what the adapter adds, and ``serve`` lists and
answers a model id for the base with the adapter next to the plain base (the openai SDK)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.helpers.lora import adapter_for
from tests.helpers.serve import serving
from workbench.cli import main
from workbench.compare import store as compare_store
from workbench.server.runner import BackgroundServer
from workbench.store import db

pytestmark = pytest.mark.usefixtures("home")

SCALE = "0.8"
GREEDY = ("--max-tokens", "8", "--temperature", "0", "--seed", "3")


@pytest.fixture(scope="module")
def files(tiny_model_path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The tiny llama (Q8_0) and an adapter for it, side by side in a folder of their own."""
    folder = tmp_path_factory.mktemp("lora-targets")
    base = folder / "llama-tiny.gguf"
    shutil.copy(tiny_model_path("llama", "Q8_0"), base)
    return base, adapter_for(base, folder / "my-adapter.gguf", seed=1)


def test_compare_a_base_and_the_base_with_an_adapter(
        files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    base, adapter = files
    with_adapter = f"local:{base}+lora:{adapter}@{SCALE}"
    code = main(["compare", "Once upon a time", "-t", f"local:{base}", "-t", with_adapter,
                 *GREEDY, "--ctx", "256", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    plain, adapted = json.loads(out)
    assert plain["error"] is None and adapted["error"] is None
    assert plain["text"] != adapted["text"]
    assert adapted["target"] == with_adapter
    assert adapted["label"] == f"local/llama-tiny.gguf+lora:my-adapter.gguf@{SCALE}"
    assert adapted["provider"] == "local" and adapted["destination"] == "this machine"
    with db.connect() as connection:
        stored = compare_store.load_run(connection, adapted["run_id"])
    assert [a.target for a in stored.answers] == [f"local:{base}", with_adapter]
    # a misfit or missing adapter is refused before anything loads
    code = main(["compare", "hi", "-t", f"local:{base}+lora:{base.with_name('none.gguf')}",
                 "--no-save", "--json"])
    out, err = capsys.readouterr()
    assert code == 1 and "no such LoRA adapter file" in json.loads(out)[0]["error"]


SUITE = """
description: base against base + adapter
prompts:
  - "{{q}}"
providers:
  - local:llama-tiny.gguf
  - id: local:llama-tiny.gguf+lora:my-adapter.gguf@0.8
    label: tuned
tests:
  - vars: {q: "Once upon a time"}
    assert:
      - type: not-contains
        value: "@@@"
  - vars: {q: "The capital of France is"}
    assert:
      - type: contains
        value: "@@@"
"""


def test_eval_a_base_against_the_base_with_an_adapter(
        files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    base, adapter = files
    suite = base.with_name("suite.yaml")
    suite.write_text(SUITE, encoding="utf-8")
    markdown = base.with_name("report.md")
    code = main(["eval", str(suite), "--max-tokens", "8", "--temperature", "0", "--json",
                 "--markdown", str(markdown)])
    out, err = capsys.readouterr()
    assert code == 0, err
    document = json.loads(out)
    specs = {t["target"]: t["spec"] for t in document["targets"]}
    assert specs == {"local:llama-tiny.gguf": f"local:{base}",
                     "tuned": f"local:{base}+lora:{adapter}@0.8"}
    for case in document["cases"]:
        texts = {r["target"]: r["text"] for r in case["results"]}
        assert texts["tuned"] != texts["local:llama-tiny.gguf"]
    (comparison,) = document["comparisons"]
    effect = comparison["adapter"]
    assert effect["adapter"] == "tuned" and effect["base"] == "local:llama-tiny.gguf"
    assert effect["points"] == 0.0 and effect["n"] == 2  # one passes, one fails, for both
    assert effect["base_tokens_per_s"] and effect["adapter_tokens_per_s"]
    assert effect["text"].startswith("tuned: the adapter adds 0.0 points on this suite (95% "
                                     "interval ")
    assert "generation speed (" in effect["text"]  # 8 tokens: the sign of the cost is noise
    assert effect["text"] in markdown.read_text(encoding="utf-8")
    # -t on the command line: the same spec, and the run stores it
    with_adapter = f"local:{base}+lora:{adapter}@{SCALE}"
    code = main(["eval", str(suite), "-t", with_adapter, "--max-tokens", "4",
                 "--temperature", "0", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    again = json.loads(out)
    assert again["run"]["targets"] == [with_adapter]
    assert again["targets"][0]["spec"] == with_adapter


# -- serve -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server(files: tuple[Path, Path]) -> Iterator[BackgroundServer]:
    base, adapter = files
    with serving(base, f"{base}+lora:{adapter}@{SCALE}") as running:  # type: ignore[arg-type]
        yield running


def test_serve_a_model_id_for_the_base_with_the_adapter(server: BackgroundServer,
                                                        files: tuple[Path, Path]) -> None:
    _, adapter = files
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="none", max_retries=0)
    combined = f"llama-tiny.gguf+lora:my-adapter.gguf@{SCALE}"
    assert [m.id for m in client.models.list()] == ["llama-tiny.gguf", combined]
    answers = {}
    for model in ("llama-tiny.gguf", combined):
        reply = client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "Once upon a time"}],
            max_tokens=8, temperature=0, seed=3)
        assert reply.model == model and reply.choices[0].message.content is not None
        answers[model] = reply.choices[0].message.content
    assert answers["llama-tiny.gguf"] != answers[combined]
    listed = client.models.retrieve(combined).model_dump()["workbench"]
    assert listed["loras"] == [{"path": str(adapter.resolve()), "scale": float(SCALE)}]
    slots = {slot.model.id: slot for slot in server.state.pool.slots()}
    assert set(slots) == {"llama-tiny.gguf", combined}  # a worker each
    assert slots[combined].info is not None and slots[combined].info.loras == (
        (str(adapter.resolve()), float(SCALE)),)
    assert slots[combined].planned_bytes > slots["llama-tiny.gguf"].planned_bytes
