"""LocalEngine.load takes resolved settings; the policy above it resolves them; "last used" is a
callback the callers wire (issue 13 item 4)."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.engine.client import LocalEngine
from workbench.engine.defaults import resolve_load_settings
from workbench.engine.settings import LoadSettings
from workbench.errors import BadInput


def test_load_refuses_settings_left_to_workbench(llama_tiny: Path) -> None:
    engine = LocalEngine()
    with pytest.raises(ValueError, match="resolved settings"):
        engine.load(LoadSettings(str(llama_tiny)))  # repack=None: the policy's to decide
    assert not engine.alive  # refused before a worker was started


def test_the_policy_refuses_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="no such model file"):
        resolve_load_settings(LoadSettings(str(tmp_path / "absent.gguf")))


def test_a_load_reports_the_model_used_and_the_callers_notes(home: Path,
                                                              llama_tiny: Path) -> None:
    used: list[str] = []
    settings, notes = resolve_load_settings(LoadSettings(str(llama_tiny), n_ctx=512))
    assert settings.repack is not None
    with LocalEngine(on_model_used=used.append) as engine:
        info = engine.load(settings, [*notes, "a note from the caller"])
        assert used == [str(llama_tiny)]
        assert "a note from the caller" in info.notes
        engine.load(settings.safe())
    assert used == [str(llama_tiny)] * 2


def test_a_failing_last_used_never_fails_a_load(home: Path, llama_tiny: Path) -> None:
    def read_only(path: str) -> None:
        raise OSError(f"read-only: {path}")

    with LocalEngine(on_model_used=read_only) as engine:
        engine.load(*resolve_load_settings(LoadSettings(str(llama_tiny), n_ctx=512)))
        assert engine.info is not None


def test_workbench_run_records_last_used(home: Path, llama_tiny: Path) -> None:
    from workbench.cli import main
    from workbench.hub import library

    assert main(["run", str(llama_tiny), "hi", "--max-tokens", "2", "--ctx", "512",
                 "--json"]) == 0
    assert str(Path(llama_tiny).resolve()) in library._last_uses()
