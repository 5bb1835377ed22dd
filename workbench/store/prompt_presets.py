"""System-prompt presets: the built-in ones (``resources/system_prompts.json``) and the user's
own (``prompt_presets.json`` in the data directory, written atomically).

    builtin_presets() -> list[PromptPreset]
    user_presets() -> list[PromptPreset]
    all_presets() -> list[PromptPreset]          (built-in first, then the user's, by name)
    save_preset(name, text) -> PromptPreset       (adds or replaces a user preset)
    delete_preset(name) -> bool                   (user presets only)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench import paths
from workbench.errors import BadInput
from workbench.resources import resource_path
from workbench.store.state_file import StateFileUnreadable, read_json_document, write_json_atomic

PRESETS_FILE = "prompt_presets.json"
BUILTIN_FILE = "system_prompts.json"
MAX_NAME_LENGTH = 80
FORMAT_VERSION = 1


@dataclass(frozen=True)
class PromptPreset:
    name: str
    text: str
    builtin: bool = False


def presets_path() -> Path:
    """The user's presets file."""
    return paths.data_dir() / PRESETS_FILE


def _parse(path: Path, *, builtin: bool) -> list[PromptPreset]:
    try:
        data: Any = read_json_document(path, "prompt presets file")
    except StateFileUnreadable as err:
        raise BadInput(f"cannot read the prompt presets file {path}: {err.reason}") from None
    if data is None:
        return []
    items = data.get("presets") if isinstance(data, dict) else None
    if not isinstance(items, list) or not all(
            isinstance(i, dict) and isinstance(i.get("name"), str)
            and isinstance(i.get("text"), str) for i in items):
        raise BadInput(f"the prompt presets file {path} must hold "
                       '{"presets": [{"name": ..., "text": ...}]}: fix or delete it')
    return [PromptPreset(i["name"], i["text"], builtin) for i in items]


def builtin_presets(path: Path | None = None) -> list[PromptPreset]:
    """The presets Workbench ships, in the file's order."""
    return _parse(path or resource_path(BUILTIN_FILE), builtin=True)


def user_presets(path: Path | None = None) -> list[PromptPreset]:
    """The user's presets, sorted by name (case-insensitive)."""
    presets = _parse(path or presets_path(), builtin=False)
    return sorted(presets, key=lambda p: p.name.casefold())


def all_presets(path: Path | None = None, builtin_path: Path | None = None
                ) -> list[PromptPreset]:
    return [*builtin_presets(builtin_path), *user_presets(path)]


def _write(presets: list[PromptPreset], path: Path) -> None:
    document = {"version": FORMAT_VERSION,
                "presets": [{"name": p.name, "text": p.text} for p in presets]}
    write_json_atomic(path, document, indent=2)


def _clean_name(name: str) -> str:
    cleaned = " ".join(name.split())
    if not cleaned:
        raise BadInput("a preset needs a name")
    if len(cleaned) > MAX_NAME_LENGTH:
        raise BadInput(f"a preset name can have at most {MAX_NAME_LENGTH} characters")
    return cleaned


def save_preset(name: str, text: str, path: Path | None = None,
                builtin_path: Path | None = None) -> PromptPreset:
    """Add the user preset ``name`` (or replace the one of that name, compared
    case-insensitively). A built-in preset's name is refused."""
    name = _clean_name(name)
    if any(p.name.casefold() == name.casefold() for p in builtin_presets(builtin_path)):
        raise BadInput(f"{name!r} is a built-in preset: choose another name")
    path = path or presets_path()
    kept = [p for p in user_presets(path) if p.name.casefold() != name.casefold()]
    preset = PromptPreset(name, text)
    _write(sorted([*kept, preset], key=lambda p: p.name.casefold()), path)
    return preset


def delete_preset(name: str, path: Path | None = None) -> bool:
    """Delete the user preset ``name``; False if there is none (built-in ones stay)."""
    path = path or presets_path()
    presets = user_presets(path)
    kept = [p for p in presets if p.name != name]
    if len(kept) == len(presets):
        return False
    _write(kept, path)
    return True
