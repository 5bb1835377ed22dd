"""System-prompt presets: the shipped ones and the user's (JSON in the data dir, atomic)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from workbench.errors import BadInput
from workbench.store import prompt_presets as pp


def test_builtin_presets_ship_the_useful_ones() -> None:
    presets = pp.builtin_presets()
    names = [p.name for p in presets]
    assert names[0] == "Default" and presets[0].text == ""
    for name in ("Concise assistant", "Coding assistant", "Extraction to JSON", "Summariser",
                 "Translator"):
        assert name in names
    assert all(p.builtin for p in presets)
    assert all(p.text.strip() for p in presets[1:])
    assert "JSON" in next(p.text for p in presets if p.name == "Extraction to JSON")


def test_user_presets_round_trip_in_the_data_dir(home: Path) -> None:
    assert pp.user_presets() == []
    saved = pp.save_preset("  Pirate   voice ", "Answer like a pirate.")
    assert saved == pp.PromptPreset("Pirate voice", "Answer like a pirate.", False)
    pp.save_preset("brief", "Be brief.")
    assert pp.presets_path() == home / "data" / pp.PRESETS_FILE
    assert [p.name for p in pp.user_presets()] == ["brief", "Pirate voice"]
    document = json.loads(pp.presets_path().read_text(encoding="utf-8"))
    assert document["presets"][1] == {"name": "Pirate voice", "text": "Answer like a pirate."}
    # the same name (any case) replaces the preset
    pp.save_preset("PIRATE voice", "Arr.")
    assert [(p.name, p.text) for p in pp.user_presets()] == [("brief", "Be brief."),
                                                             ("PIRATE voice", "Arr.")]
    names = [p.name for p in pp.all_presets()]
    assert names[0] == "Default" and names[-2:] == ["brief", "PIRATE voice"]
    assert pp.delete_preset("brief") is True
    assert pp.delete_preset("brief") is False
    assert [p.name for p in pp.user_presets()] == ["PIRATE voice"]
    # no temporary files left behind by the atomic writes
    assert sorted(f.name for f in pp.presets_path().parent.iterdir()) == [pp.PRESETS_FILE]


def test_builtin_names_and_empty_names_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "presets.json"
    with pytest.raises(BadInput, match="built-in"):
        pp.save_preset("coding ASSISTANT", "x", path)
    with pytest.raises(BadInput, match="needs a name"):
        pp.save_preset("   ", "x", path)
    with pytest.raises(BadInput, match="at most"):
        pp.save_preset("n" * (pp.MAX_NAME_LENGTH + 1), "x", path)
    assert not path.exists()
    assert pp.delete_preset("Default", path) is False  # built-in presets cannot be deleted


@pytest.mark.parametrize("content, message", [
    ("{not json", "not valid JSON"),
    ('{"presets": [{"name": 1, "text": "x"}]}', "must hold"),
    ('["a"]', "must hold"),
])
def test_a_broken_file_gives_one_actionable_line(tmp_path: Path, content: str,
                                                 message: str) -> None:
    path = tmp_path / "presets.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(BadInput, match=message) as info:
        pp.user_presets(path)
    assert "\n" not in str(info.value) and "fix or delete it" in str(info.value)
    with pytest.raises(BadInput):  # a save never overwrites a file it could not read
        pp.save_preset("mine", "x", path)
    assert path.read_text(encoding="utf-8") == content
