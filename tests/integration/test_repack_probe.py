"""The weight-repacking probe: a throwaway worker decides, the verdict is remembered."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import pytest

from workbench.engine import repack_probe
from workbench.engine.client import LocalEngine
from workbench.engine.defaults import resolve_load_settings
from workbench.engine.settings import LoadSettings, Sampling


def test_a_crashing_probe_switches_repacking_off_and_is_remembered(
        home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKBENCH_WORKER_FAULT", "abort-on-repack")
    verdict = repack_probe.repack_verdict("Q4_K_M")
    assert verdict.safe is False
    assert "SIGABRT" in verdict.reason and verdict.quant == "Q4_K"
    # remembered: without the fault, the stored verdict still answers (no new probe)
    monkeypatch.delenv("WORKBENCH_WORKER_FAULT")
    assert repack_probe.repack_verdict("Q4_K_M") == verdict
    # a refresh probes again: this machine's own verdict (on CPUs whose AMX crashes, a crash)
    fresh = repack_probe.repack_verdict("Q4_K_M", refresh=True)
    assert fresh.probed_at > verdict.probed_at and "SIGABRT" not in fresh.reason
    assert fresh.retry_after is None


def test_every_load_uses_the_verdict(home: Path, monkeypatch: pytest.MonkeyPatch,
                                     tiny_model_path) -> None:
    model = tiny_model_path(arch="llama", quant="Q4_K_M")
    monkeypatch.setenv("WORKBENCH_WORKER_FAULT", "abort-on-repack")
    with LocalEngine() as engine:
        # repack left to Workbench
        info = engine.load(*resolve_load_settings(LoadSettings(str(model), n_ctx=512)))
        assert info.repack is False
        assert any("weight repacking off for Q4_K" in note for note in info.notes)
        assert engine.settings is not None and engine.settings.repack is False


def test_a_mix_is_judged_by_every_repackable_type_it_holds(
        home: Path, monkeypatch: pytest.MonkeyPatch, tiny_model_path) -> None:
    """IQ3_M's own IQ3_S weights are never repacked, but its Q4_K ones are: they decide."""
    from workbench.engine.defaults import repack_decision, repackable_types

    model = tiny_model_path(arch="llama", quant="IQ3_M")
    types = repackable_types(str(model))
    assert "Q4_K" in types and "IQ3_S" not in types
    monkeypatch.setenv("WORKBENCH_WORKER_FAULT", "abort-on-repack")
    repack, note = repack_decision(str(model))
    assert repack is False and note is not None and "\n" not in note
    assert note.startswith(f"weight repacking off for {', '.join(types)}: the probe crashed")
    with LocalEngine() as engine:
        info = engine.load(*resolve_load_settings(LoadSettings(str(model), n_ctx=512)))
        assert info.repack is False and note in info.notes


def test_types_that_are_never_repacked_need_no_probe(home: Path) -> None:
    verdict = repack_probe.repack_verdict("F16")
    assert verdict.safe and "not repacked" in verdict.reason
    assert not (home / "data" / "repack-probe.json").exists()


def test_quant_families() -> None:
    assert repack_probe.family("Q4_K_M") == "Q4_K"
    assert repack_probe.family("q5_k_s") == "Q5_K"
    assert repack_probe.family("Q8_0") == "Q8_0"
    assert repack_probe.family("IQ4_XS") == "IQ4_XS"
    assert repack_probe.family("MXFP4_MOE") == "MXFP4"


# -- a probe that cannot be built or run: repacking off, the reason said, never a refusal ----

def _synth_without(monkeypatch: pytest.MonkeyPatch, quant: str) -> None:
    """The synthesiser as it was before it knew ``quant`` (it refuses to make it)."""
    from workbench.synth import quant_types, quantizer

    monkeypatch.delitem(quant_types.QUANTS, quant)
    monkeypatch.delitem(quantizer.QUANT_TYPES, quant)


@pytest.mark.parametrize("quant", ["Q4_1", "IQ4_NL"])
def test_a_type_the_synthesiser_cannot_make_still_loads_and_answers(
        quant: str, home: Path, monkeypatch: pytest.MonkeyPatch,
        tiny_model_path) -> None:
    model = tiny_model_path(arch="llama", quant=quant)  # built before the synthesiser "forgets"
    _synth_without(monkeypatch, quant)
    with LocalEngine() as engine:
        # repack left to Workbench
        info = engine.load(*resolve_load_settings(LoadSettings(str(model), n_ctx=512)))
        assert info.repack is False
        [note] = [n for n in info.notes if "weight repacking" in n]
        assert note.startswith(f"weight repacking off for {quant}: no probe could be run")
        assert "unsupported quantisation" in note and "\n" not in note
        answer = engine.chat([{"role": "user", "content": "hi"}], Sampling(max_tokens=3))
        assert answer.metrics.completion_tokens >= 1


def test_a_failed_probe_is_retried_later_not_remembered_forever(
        home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as patch:
        _synth_without(patch, "Q4_1")
        failed = repack_probe.repack_verdict("Q4_1")
        assert failed.safe is False and failed.retry_after is not None
        assert failed.retry_after - failed.probed_at == repack_probe.RETRY_AFTER_S
        assert repack_probe.repack_verdict("Q4_1") == failed  # remembered: no new probe
    # the cause has gone away (as a full disk is cleared) ...
    stale = dataclasses.replace(failed, retry_after=time.time() - 1)
    repack_probe._save_verdict(stale)  # ... and the retry time has come
    fresh = repack_probe.repack_verdict("Q4_1")  # a real verdict: it ran, or crashed
    assert fresh.retry_after is None and "no probe could be run" not in fresh.reason
    assert repack_probe.repack_verdict("Q4_1") == fresh  # a real verdict is kept for good


def test_an_unwritable_synth_cache_means_off_with_the_reason(
        home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = home / "not-a-directory"
    blocker.write_text("")
    monkeypatch.setenv("WORKBENCH_SYNTH_CACHE", str(blocker / "synth"))
    verdict = repack_probe.repack_verdict("Q8_0")
    assert verdict.safe is False and verdict.retry_after is not None
    assert verdict.reason.startswith("no probe could be run (")


def test_a_verdict_stored_by_another_version_is_probed_again(home: Path) -> None:
    key = repack_probe.probe_key("Q8_0")
    path = home / "data" / "repack-probe.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({key: {"safe": False, "verdict": "from the future"}}))
    verdict = repack_probe.repack_verdict("Q8_0")
    assert verdict.retry_after is None and verdict.key == key
    assert (verdict.reason == "a batched prompt ran with repacking on"
            or verdict.reason.startswith("the probe crashed with repacking on ("))
    assert json.loads(path.read_text())[key]["reason"] == verdict.reason
