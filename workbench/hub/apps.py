"""GGUF files other apps keep, found where they keep them (read in place, never copied).

- LM Studio: ``~/.lmstudio/models/<publisher>/<repo>/*.gguf`` (older: ``~/.cache/lm-studio/
  models``), or the ``downloadsFolder`` of its ``settings.json``.
- Ollama: ``$OLLAMA_MODELS``, ``~/.ollama/models`` or ``/usr/share/ollama/.ollama/models``:
  ``manifests/<registry>/<namespace>/<model>/<tag>`` (JSON; the layer of media type
  ``application/vnd.ollama.image.model`` is the GGUF) and ``blobs/sha256-<hex>``.
- GPT4All: its download folder (``~/.local/share/nomic.ai/GPT4All``, ``~/Library/Application
  Support/nomic.ai/GPT4All``, ``%LOCALAPPDATA%/nomic.ai/GPT4All``, or ``modelPath`` in
  ``GPT4All.ini``); ``incomplete-*.gguf`` are its unfinished downloads. Its Python bindings use
  ``~/.cache/gpt4all``.
- Jan: ``<data folder>/llamacpp/models/<id>/model.yml`` (``model_path`` relative to the data
  folder: ``$XDG_DATA_HOME/Jan/data``, ``~/Library/Application Support/Jan/data``,
  ``%APPDATA%/Jan/data``); releases before 0.6 kept ``~/jan/models/<id>/*.gguf``.
"""

from __future__ import annotations

import configparser
import json
import os
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from workbench.hub.quant import split_info

MAX_DEPTH = 6
OLLAMA_MODEL_MEDIA_TYPE = "application/vnd.ollama.image.model"
OLLAMA_DEFAULT_REGISTRY = "registry.ollama.ai"


@dataclass(frozen=True)
class Found:
    """One model found on disk: its file(s) (all shards, in order) and where it came from."""

    files: tuple[Path, ...]
    source: str
    name: str
    detail: str | None = None  # repository, Ollama tag, folder
    status: str = "ok"  # ok | partial | broken (from the layout; headers are read later)
    problem: str | None = None
    deletable: bool = True
    delete_note: str | None = None
    repo_id: str | None = None
    aliases: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class HomeEnv:
    """The user's home, environment and platform (tests pass a temporary home)."""

    home: Path
    environ: Mapping[str, str]
    platform: str = sys.platform
    root: Path = Path("/")  # where system-wide folders are (/usr/share/ollama, ...)

    @classmethod
    def current(cls) -> HomeEnv:
        return cls(Path.home(), os.environ, sys.platform)

    def path_var(self, name: str) -> Path | None:
        value = self.environ.get(name)
        return Path(value).expanduser() if value else None

    @property
    def macos_support(self) -> Path:
        return self.home / "Library" / "Application Support"

    @property
    def xdg_data(self) -> Path:
        return self.path_var("XDG_DATA_HOME") or self.home / ".local" / "share"

    @property
    def xdg_config(self) -> Path:
        return self.path_var("XDG_CONFIG_HOME") or self.home / ".config"


def _unique(paths: list[Path | None]) -> list[Path]:
    out: list[Path] = []
    seen: set[str] = set()
    for p in paths:
        if p is None:
            continue
        key = os.path.normcase(os.path.abspath(p))
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


# -- generic folders ------------------------------------------------------------------------------

def walk_gguf(root: Path, *, max_depth: int = MAX_DEPTH) -> Iterator[Path]:
    """``.gguf`` files under ``root`` (hidden folders skipped; symlinked folders not followed)."""
    if not root.is_dir():
        return
    base_depth = len(root.parts)
    for dirpath, dirnames, filenames in os.walk(root):
        depth = len(Path(dirpath).parts) - base_depth
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".")) \
            if depth < max_depth else []
        for name in sorted(filenames):
            if name.lower().endswith(".gguf") and not name.startswith("."):
                yield Path(dirpath) / name


def group_files(paths: list[Path]) -> list[tuple[Path, ...]]:
    """Group shards of split models (``x-00001-of-00003.gguf``), in order; others alone."""
    singles: list[tuple[Path, ...]] = []
    splits: dict[tuple[str, int], dict[int, Path]] = {}
    for p in paths:
        info = split_info(p.as_posix())
        if info is None:
            singles.append((p,))
        else:
            prefix, no, count = info
            splits.setdefault((prefix, count), {})[no] = p
    for (_, _count), shards in splits.items():
        singles.append(tuple(shards[i] for i in sorted(shards)))
    return sorted(singles, key=lambda files: files[0].as_posix())


def display_name(path: Path) -> str:
    """A file's name without ``.gguf`` and without a split suffix."""
    info = split_info(path.name)
    stem = Path(info[0]).name if info else path.name
    return stem[:-5] if stem.lower().endswith(".gguf") else stem


def split_problem(files: tuple[Path, ...]) -> str | None:
    info = split_info(files[0].as_posix())
    if info is None or len(files) == info[2]:
        return None
    return f"{len(files)} of {info[2]} shards present"


def discover_folder(root: Path, *, source: str = "folder", detail: str | None = None,
                    deletable: bool = True, delete_note: str | None = None) -> list[Found]:
    out = []
    for files in group_files(list(walk_gguf(root))):
        problem = split_problem(files)
        rel = files[0].parent.relative_to(root).as_posix() if files[0].parent != root else None
        out.append(Found(files, source, display_name(files[0]),
                         detail or (f"{root}/{rel}" if rel else str(root)),
                         "broken" if problem else "ok", problem, deletable, delete_note))
    return out


# -- LM Studio ------------------------------------------------------------------------------------

def lmstudio_roots(env: HomeEnv) -> list[Path]:
    candidates: list[Path | None] = []
    pointer = env.home / ".lmstudio-home-pointer"
    homes = [env.home / ".lmstudio", env.home / ".cache" / "lm-studio"]
    try:
        text = pointer.read_text(encoding="utf-8").strip()
        if text:
            homes.insert(0, Path(text).expanduser())
    except (OSError, UnicodeDecodeError):
        pass
    for home in homes:
        try:
            settings = json.loads((home / "settings.json").read_text(encoding="utf-8"))
            folder = settings.get("downloadsFolder") if isinstance(settings, dict) else None
            if isinstance(folder, str) and folder:
                candidates.append(Path(folder).expanduser())
        except (OSError, ValueError):
            pass
        candidates.append(home / "models")
    return [p for p in _unique(candidates) if p.is_dir()]


def discover_lmstudio(env: HomeEnv) -> list[Found]:
    out = []
    for root in lmstudio_roots(env):
        for found in discover_folder(root, source="lmstudio"):
            rel = found.files[0].parent.relative_to(root).as_posix()
            repo = rel if rel.count("/") == 1 else None  # <publisher>/<repo>
            out.append(Found(found.files, "lmstudio", found.name, rel if rel != "." else None,
                             found.status, found.problem, repo_id=repo,
                             delete_note="deletes the file from LM Studio's models folder"))
    return out


# -- Ollama ---------------------------------------------------------------------------------------

def ollama_roots(env: HomeEnv) -> list[Path]:
    candidates = [env.path_var("OLLAMA_MODELS"), env.home / ".ollama" / "models"]
    if env.platform.startswith("linux"):
        candidates += [env.root / "usr/share/ollama/.ollama/models",
                       env.root / "var/lib/ollama/.ollama/models"]
    return [p for p in _unique(candidates) if (p / "manifests").is_dir()]


def ollama_name(parts: tuple[str, ...]) -> str:
    """``registry.ollama.ai/library/llama3.2/1b`` -> ``llama3.2:1b`` (as ``ollama list``)."""
    *where, model, tag = parts
    if where[:2] == [OLLAMA_DEFAULT_REGISTRY, "library"]:
        prefix = ""
    elif where[:1] == [OLLAMA_DEFAULT_REGISTRY]:
        prefix = "/".join(where[1:]) + "/"
    else:
        prefix = "/".join(where) + "/"
    return f"{prefix}{model}:{tag}"


def _ollama_blob(root: Path, digest: str) -> Path:
    hexdigest = digest.split(":", 1)[-1]
    for name in (f"sha256-{hexdigest}", f"sha256:{hexdigest}"):
        candidate = root / "blobs" / name
        if candidate.exists():
            return candidate
    return root / "blobs" / f"sha256-{hexdigest}"


def discover_ollama(env: HomeEnv) -> list[Found]:
    """One entry per model blob; tags that share a blob are its aliases."""
    by_blob: dict[Path, list[str]] = {}
    missing: list[tuple[Path, str]] = []
    for root in ollama_roots(env):
        manifests = root / "manifests"
        for dirpath, _dirs, filenames in os.walk(manifests):
            for filename in filenames:
                path = Path(dirpath) / filename
                parts = path.relative_to(manifests).parts
                if len(parts) < 3:
                    continue
                try:
                    manifest = json.loads(path.read_text(encoding="utf-8"))
                    layers = manifest.get("layers") or []
                except (OSError, ValueError, AttributeError):
                    continue
                for layer in layers:
                    if not isinstance(layer, dict) or \
                            layer.get("mediaType") != OLLAMA_MODEL_MEDIA_TYPE:
                        continue
                    blob = _ollama_blob(root, str(layer.get("digest", "")))
                    if not blob.is_file():
                        missing.append((blob, ollama_name(parts)))
                    elif _is_gguf(blob):
                        by_blob.setdefault(blob, []).append(ollama_name(parts))
    note = "managed by Ollama: remove it with `ollama rm {name}`"
    out = []
    for blob, names in by_blob.items():
        names = sorted(names)
        out.append(Found((blob,), "ollama", names[0], names[0], deletable=False,
                         delete_note=note.format(name=names[0]), aliases=tuple(names[1:])))
    for blob, name in missing:
        out.append(Found((blob,), "ollama", name, name, "broken",
                         "Ollama's manifest points to a missing blob", deletable=False,
                         delete_note=note.format(name=name)))
    return out


def _is_gguf(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            return fh.read(4) == b"GGUF"
    except OSError:
        return False


# -- GPT4All --------------------------------------------------------------------------------------

def gpt4all_roots(env: HomeEnv) -> list[Path]:
    candidates: list[Path | None] = []
    for ini in (env.xdg_config / "nomic.ai" / "GPT4All.ini",
                env.home / ".config" / "nomic.ai" / "GPT4All.ini"):
        parser = configparser.ConfigParser(interpolation=None, strict=False)
        try:
            parser.read(ini, encoding="utf-8")
        except (configparser.Error, UnicodeDecodeError):
            continue
        for section in [*parser.sections(), "DEFAULT"]:
            value = parser.get(section, "modelPath", fallback=None)
            if value:
                candidates.append(Path(value.strip().strip('"')).expanduser())
    local = env.path_var("LOCALAPPDATA")
    candidates += [
        env.xdg_data / "nomic.ai" / "GPT4All",
        env.macos_support / "nomic.ai" / "GPT4All",
        local / "nomic.ai" / "GPT4All" if local else None,
        env.home / ".cache" / "gpt4all",
    ]
    return [p for p in _unique(candidates) if p.is_dir()]


def discover_gpt4all(env: HomeEnv) -> list[Found]:
    out = []
    for root in gpt4all_roots(env):
        paths = sorted(p for p in root.iterdir() if p.is_file() and
                       p.name.lower().endswith(".gguf"))
        for files in group_files(paths):
            first = files[0]
            if first.name.startswith("incomplete-"):
                out.append(Found(files, "gpt4all", display_name(first)[len("incomplete-"):],
                                 str(root), "partial", "GPT4All's download is unfinished",
                                 delete_note="deletes GPT4All's unfinished download"))
                continue
            problem = split_problem(files)
            out.append(Found(files, "gpt4all", display_name(first), str(root),
                             "broken" if problem else "ok", problem,
                             delete_note="deletes the file from GPT4All's models folder"))
    return out


# -- Jan ------------------------------------------------------------------------------------------

def jan_data_folders(env: HomeEnv) -> list[Path]:
    appdata = env.path_var("APPDATA")
    candidates = [env.xdg_data / "Jan" / "data", env.macos_support / "Jan" / "data",
                  appdata / "Jan" / "data" if appdata else None]
    return [p for p in _unique(candidates) if p.is_dir()]


def read_simple_yaml(path: Path) -> dict[str, str]:
    """Top-level ``key: value`` scalars of a YAML file (enough for Jan's model.yml)."""
    out: dict[str, str] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return out
    for line in lines:
        if not line or line[0] in " \t#-" or ":" not in line:
            continue
        key, _, value = line.partition(":")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        out[key.strip()] = value
    return out


def discover_jan(env: HomeEnv) -> list[Found]:
    note = "managed by Jan: delete it in Jan's model settings"
    out = []
    seen: set[Path] = set()
    for data in jan_data_folders(env):
        models = data / "llamacpp" / "models"
        for yml in sorted(models.rglob("model.yml")) if models.is_dir() else []:
            meta = read_simple_yaml(yml)
            model_id = yml.parent.relative_to(models).as_posix()
            raw = meta.get("model_path")
            if raw:
                target = Path(raw).expanduser()
                target = target if target.is_absolute() else data / target
            else:
                ggufs = sorted(yml.parent.glob("*.gguf"))
                target = ggufs[0] if ggufs else yml.parent / "model.gguf"
            seen.add(yml.parent)
            name = meta.get("name") or model_id
            if target.is_file():
                out.append(Found((target,), "jan", name, model_id, deletable=False,
                                 delete_note=note))
            else:
                out.append(Found((target,), "jan", name, model_id, "broken",
                                 "Jan's model.yml points to a missing file", deletable=False,
                                 delete_note=note))
        for found in discover_folder(models, source="jan", deletable=False, delete_note=note):
            if found.files[0].parent not in seen:
                out.append(found)
    legacy = env.home / "jan" / "models"
    out += discover_folder(legacy, source="jan", deletable=False, delete_note=note)
    return out


DISCOVERERS = {
    "lmstudio": discover_lmstudio,
    "ollama": discover_ollama,
    "gpt4all": discover_gpt4all,
    "jan": discover_jan,
}
