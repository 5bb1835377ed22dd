"""The starter suites shipped in ``resources/evals/``: one per task type (classification,
structured extraction, summarisation, question answering over a passage, small code tasks),
with deterministic assertions only, so they run in one click without a judge.

``starter_suites`` lists them (title and description from each suite's ``description``);
``copy_starter`` copies one, with the case files it names, into a folder where the user can
edit it, never overwriting a file there.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from workbench.errors import BadInput
from workbench.resources import resource_path

__all__ = ["Starter", "copy_starter", "starter_suites", "starters_dir"]

# the order the app shows them in; any other suite in the folder follows, by name
ORDER = ("classification", "extraction", "summarisation", "qa", "code")
MAX_TITLE_CHARS = 40
MAX_COPIES = 1000
_FILE_PREFIX = "file://"


@dataclass(frozen=True)
class Starter:
    name: str  # the file's stem: "classification"
    title: str  # "Classification"
    description: str  # what it tests, one or two sentences
    path: Path  # the suite file (read-only where the app is installed)


def starters_dir() -> Path:
    return resource_path("evals")


def _read(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise BadInput(f"{path}: cannot read the starter suite: {err}") from None
    if not isinstance(data, dict):
        raise BadInput(f"{path}: a starter suite is a YAML mapping")
    return data


def _title_and_text(name: str, description: Any) -> tuple[str, str]:
    """``"Classification: the sentiment ..."`` -> ("Classification", "The sentiment ...")."""
    text = " ".join(str(description or "").split())
    head, sep, rest = text.partition(": ")
    if sep and head and len(head) <= MAX_TITLE_CHARS and rest:
        return head, rest[:1].upper() + rest[1:]
    return name.replace("_", " ").replace("-", " ").capitalize(), text


def _sort_key(path: Path) -> tuple[int, str]:
    stem = path.stem
    return (ORDER.index(stem) if stem in ORDER else len(ORDER), stem)


def starter_suites() -> list[Starter]:
    """The shipped starter suites, in the order the app shows them."""
    folder = starters_dir()
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.glob("*.yaml"), key=_sort_key):
        title, text = _title_and_text(path.stem, _read(path).get("description"))
        found.append(Starter(name=path.stem, title=title, description=text, path=path))
    return found


def _file_names(value: Any) -> Iterator[str]:
    """Every ``file://NAME`` a suite's data holds (tests, prompts, vars)."""
    if isinstance(value, str):
        if value.startswith(_FILE_PREFIX):
            yield value[len(_FILE_PREFIX):]
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _file_names(key)  # prompts may be a map {file://x.txt: label}
            yield from _file_names(item)
    elif isinstance(value, list):
        for item in value:
            yield from _file_names(item)


def _case_files(suite: Path) -> list[str]:
    """The files next to ``suite`` that it names: plain names in the starters' own folder only
    (a name with a folder, or one that is not there, is left to the suite loader to report)."""
    names: list[str] = []
    for name in _file_names(_read(suite)):
        if name in names or Path(name).name != name or name in ("", ".", ".."):
            continue
        if (suite.parent / name).is_file():
            names.append(name)
    return names


def _write_new(folder: Path, name: str, data: bytes) -> Path:
    """Write ``data`` to ``folder/name``, or to ``stem-2.ext``, ``stem-3.ext``, ... when that
    file exists; never over an existing file (exclusive create)."""
    stem, suffix = Path(name).stem, Path(name).suffix
    for number in range(1, MAX_COPIES + 1):
        target = folder / (name if number == 1 else f"{stem}-{number}{suffix}")
        try:
            with target.open("xb") as handle:
                handle.write(data)
        except FileExistsError:
            continue
        except OSError as err:
            raise BadInput(f"cannot write {target}: {err.strerror or err}") from None
        return target
    raise BadInput(f"{folder} already holds {MAX_COPIES} copies of {name}")


def copy_starter(name: str, dest_dir: str | Path) -> Path:
    """Copy the starter suite ``name`` and the case files it names into ``dest_dir`` (made if
    missing); a name already taken there gets a number (``qa-2.yaml``), and the copied suite
    names its copied case files. Returns the copied suite's path."""
    starters = {s.name: s for s in starter_suites()}
    starter = starters.get(name)
    if starter is None:
        known = ", ".join(starters) or "none are installed"
        raise BadInput(f"no starter suite named {name!r} (there are: {known})")
    folder = Path(dest_dir).expanduser()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise BadInput(f"cannot create {folder}: {err.strerror or err}") from None
    if not folder.is_dir():
        raise BadInput(f"{folder} is not a folder")
    if folder.resolve() == starter.path.parent.resolve():
        raise BadInput(f"{folder} holds the starter suites themselves: copy to a folder of your "
                       "own")
    text = starter.path.read_text(encoding="utf-8")
    for case_file in _case_files(starter.path):
        copied = _write_new(folder, case_file, (starter.path.parent / case_file).read_bytes())
        if copied.name != case_file:
            # the reference as written, not inside a longer name (file://a.csv vs file://aa.csv)
            pattern = re.escape(_FILE_PREFIX + case_file) + r"(?![\w.-])"
            text = re.sub(pattern, (_FILE_PREFIX + copied.name).replace("\\", "\\\\"), text)
    return _write_new(folder, starter.path.name, text.encode("utf-8"))
