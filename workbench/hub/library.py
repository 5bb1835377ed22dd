"""The model library: every local GGUF in one list, wherever it is, without copying anything.

Sources: the Hugging Face cache (where ``workbench pull`` and every HF tool download), folders
the user adds, and the model folders of LM Studio, Ollama, GPT4All and Jan (``apps.py``). Each
model carries what its GGUF header says (architecture, parameters, quant, context length; read
once and remembered by size and modification time), its size, source and last use. Unfinished
downloads are listed as ``partial``, unreadable or truncated files as ``broken``. LoRA adapters
(``general.type`` = ``adapter``) are not models: ``scan_library`` leaves them out unless asked
(``adapters=True``, the Library page), and then lists them with ``kind="lora-adapter"`` and the
listed models each one fits (``workbench.hub.adapters``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from workbench import paths
from workbench.errors import BadInput
from workbench.hub import cache as hf_cache
from workbench.hub.apps import (
    DISCOVERERS,
    Found,
    HomeEnv,
    discover_folder,
    display_name,
    group_files,
    split_problem,
)
from workbench.hub.config import HubConfig
from workbench.hub.errors import LibraryError, NotFoundError
from workbench.hub.quant import quant_from_name
from workbench.store.state_file import read_json_state, write_json_atomic

SOURCES = ("hf-cache", "folder", "lmstudio", "ollama", "gpt4all", "jan")
STATUSES = ("ok", "partial", "broken")
INDEX_VERSION = 2  # 2: adapters are told from models
MODEL, LORA_ADAPTER = "model", "lora-adapter"
_index_lock = threading.Lock()


@dataclass
class LocalModel:
    """One model on disk (all shards of a split model are one model)."""

    id: str
    name: str
    path: str  # the file to load (the first shard)
    files: list[str]
    source: str
    detail: str | None
    status: str
    problem: str | None
    size: int
    quant: str | None = None
    architecture: str | None = None
    parameters: int | None = None
    context_length: int | None = None
    model_name: str | None = None  # general.name
    repo_id: str | None = None
    last_used: str | None = None
    modified: str | None = None
    deletable: bool = True
    delete_note: str | None = None
    aliases: list[str] = field(default_factory=list)
    kind: str = MODEL  # or LORA_ADAPTER: not loadable as a model
    # a LoRA adapter's facts (None for a model): rank, alpha, the tensor kinds it changes
    adapter_rank: int | None = None
    adapter_alpha: float | None = None
    adapter_targets: list[str] = field(default_factory=list)
    fits: list[str] = field(default_factory=list)  # an adapter: the paths of the models it fits

    @property
    def is_adapter(self) -> bool:
        return self.kind == LORA_ADAPTER

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


# -- settings: folders and usage ------------------------------------------------------------------

def _settings_path() -> Path:
    return paths.data_dir() / "library.json"


def _read_json(path: Path) -> dict[str, Any]:
    """A JSON object state file (``workbench.store.state_file``: a bad one is set aside)."""
    raw = read_json_state(path, default={})
    return raw if isinstance(raw, dict) else {}


def _write_json(path: Path, document: dict[str, Any]) -> None:
    write_json_atomic(path, document)


def folders() -> list[Path]:
    """The folders the user added to the library."""
    return [Path(p) for p in _read_json(_settings_path()).get("folders", [])
            if isinstance(p, str)]


def add_folder(folder: str | os.PathLike[str]) -> Path:
    path = Path(folder).expanduser().resolve()
    if not path.is_dir():
        raise BadInput(f"{folder}: not a folder")
    settings = _read_json(_settings_path())
    current = [p for p in settings.get("folders", []) if isinstance(p, str)]
    if str(path) not in current:
        current.append(str(path))
    settings["folders"] = current
    _write_json(_settings_path(), settings)
    return path


def remove_folder(folder: str | os.PathLike[str]) -> bool:
    path = str(Path(folder).expanduser().resolve())
    settings = _read_json(_settings_path())
    current = [p for p in settings.get("folders", []) if isinstance(p, str)]
    if path not in current:
        return False
    settings["folders"] = [p for p in current if p != path]
    _write_json(_settings_path(), settings)
    return True


def _usage_path() -> Path:
    return paths.data_dir() / "model-usage.json"


def record_use(path: str | os.PathLike[str], when: float | None = None) -> None:
    """Remember that a model was loaded now (the engine calls this)."""
    key = os.path.realpath(path)
    with _index_lock:
        usage = _read_json(_usage_path())
        usage[key] = when if when is not None else time.time()
        _write_json(_usage_path(), usage)


def _last_uses() -> dict[str, float]:
    out: dict[str, float] = {}
    try:
        usage = _read_json(_usage_path())
    except OSError:  # "last used" is shown, never needed
        usage = {}
    for key, value in usage.items():
        if isinstance(value, (int, float)):
            out[key] = float(value)
    try:  # a benchmark run is a use too
        from workbench.store import db

        if not db.database_path().exists():
            return out
        connection = db.connect()
        try:
            rows = connection.execute(
                "SELECT model_path, MAX(created_at) FROM bench_runs GROUP BY model_path")
            for model_path, created in rows:
                stamp = datetime.fromisoformat(str(created).replace("Z", "+00:00")).timestamp()
                key = os.path.realpath(model_path)
                out[key] = max(out.get(key, 0.0), stamp)
        finally:
            connection.close()
    except Exception:  # no database yet, or an older one: usage from the JSON file only
        pass
    return out


def _iso(stamp: float | None) -> str | None:
    if stamp is None:
        return None
    return datetime.fromtimestamp(stamp, tz=timezone.utc).isoformat(timespec="seconds")


# -- the Hugging Face cache -----------------------------------------------------------------------

def _partial_names() -> dict[str, tuple[str, str, int | None]]:
    """blob name -> (repo, file path, size) for the download queue's files."""
    from workbench.hub.queue import JobStore

    out = {}
    with contextlib.suppress(Exception):
        for job in JobStore().load().values():
            for f in job.files:
                if f.etag:
                    out[f.etag] = (f.repo_id, f.path, f.size)
    return out


def _main_commit(repo: Path) -> str | None:
    try:
        return (repo / "refs" / "main").read_text(encoding="utf-8").strip()
    except OSError:
        return None


def discover_hf_cache(cache_dir: Path) -> list[Found]:
    """GGUF files in the HF cache: one per blob (the ``main`` revision's name first), plus
    unfinished downloads."""
    out: list[Found] = []
    if not cache_dir.is_dir():
        return out
    partial_names: dict[str, tuple[str, str, int | None]] | None = None
    for repo in sorted(cache_dir.glob("models--*")):
        repo_id = hf_cache.repo_id_from_folder(repo.name)
        if repo_id is None or not repo.is_dir():
            continue
        main = _main_commit(repo)
        snapshots = repo / "snapshots"
        commits = sorted((p for p in snapshots.iterdir() if p.is_dir()),
                         key=lambda p: (p.name != main, -p.stat().st_mtime)) \
            if snapshots.is_dir() else []
        seen: dict[tuple[str, ...], int] = {}
        for commit in commits:
            links = [Path(dp) / n for dp, _d, names in os.walk(commit) for n in names
                     if n.lower().endswith(".gguf")]
            for files in group_files(links):
                key = tuple(os.path.realpath(f) for f in files)
                rel = files[0].relative_to(commit).as_posix()
                if key in seen:
                    previous = out[seen[key]]
                    out[seen[key]] = Found(
                        previous.files, previous.source, previous.name, previous.detail,
                        previous.status, previous.problem, repo_id=repo_id,
                        aliases=(*previous.aliases, f"{repo_id}@{commit.name[:8]}/{rel}"),
                        delete_note=previous.delete_note)
                    continue
                dangling = [f for f in files if not f.exists()]
                problem = split_problem(files)
                if dangling:
                    problem = "the cache links to a missing blob (deleted outside the cache?)"
                seen[key] = len(out)
                out.append(Found(files, "hf-cache", display_name(files[0]),
                                 f"{repo_id}/{rel}", "broken" if problem else "ok", problem,
                                 repo_id=repo_id,
                                 delete_note="deletes the file from the Hugging Face cache "
                                             "(shared with other HF tools)"))
        blobs = repo / "blobs"
        for partial in sorted(blobs.glob("*.incomplete")) if blobs.is_dir() else []:
            if partial_names is None:
                partial_names = _partial_names()
            etag = partial.name.split(".", 1)[0]
            known = partial_names.get(etag)
            if (known and not known[1].lower().endswith(".gguf")) or \
                    (not known and not _starts_like_gguf(partial)):
                continue  # another kind of file (safetensors, a README...)
            if known:
                name, detail = display_name(Path(known[1])), f"{repo_id}/{known[1]}"
                size = known[2]
                have = partial.stat().st_size
                problem = f"download unfinished: {have} of {size} bytes" if size else \
                    "download unfinished"
            else:
                name, detail = f"{etag[:12]}… (unfinished download)", repo_id
                problem = "an unfinished download of an unknown file"
            out.append(Found((partial,), "hf-cache", name, detail, "partial", problem,
                             repo_id=repo_id,
                             delete_note="deletes the unfinished download's bytes"))
    return out


def _starts_like_gguf(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            return fh.read(4) == b"GGUF"
    except OSError:
        return False


# -- headers, cached ------------------------------------------------------------------------------

def _index_path() -> Path:
    return paths.cache_dir() / "library-index.json"


def _fingerprint(files: Iterable[Path]) -> list[list[int]] | None:
    out = []
    for f in files:
        try:
            st = f.stat()
        except OSError:
            return None
        out.append([st.st_size, st.st_mtime_ns])
    return out


def _summarize(files: tuple[Path, ...]) -> dict[str, Any]:
    from workbench.gguf import GGUFError, is_adapter, read_header, summarize, summarize_adapter

    adapter = False
    try:
        headers = [read_header(f) for f in files]
        if is_adapter(headers[0]):
            adapter = True
            a = summarize_adapter(headers[0])
            return {"kind": LORA_ADAPTER, "architecture": a.architecture, "name": a.name,
                    "rank": a.rank, "alpha": a.alpha, "targets": list(a.targets),
                    "dominant_type": max(a.tensor_types, key=lambda k: a.tensor_types[k],
                                         default=None)}
        s = summarize(headers)
    except GGUFError as err:
        return {"error": str(err)} | ({"kind": LORA_ADAPTER} if adapter else {})
    except Exception as err:  # unreadable in some other way: flag it, keep listing
        return {"error": f"{type(err).__name__}: {err}"} | (
            {"kind": LORA_ADAPTER} if adapter else {})
    return {"architecture": s.architecture, "parameters": s.parameter_count,
            "context_length": s.context_length, "file_type": s.file_type,
            "dominant_type": s.dominant_type, "name": s.name}


class _HeaderIndex:
    """Header summaries by real path, valid while size and mtime are unchanged."""

    def __init__(self) -> None:
        try:
            raw = _read_json(_index_path())
        except OSError:  # a cache: read again from the headers
            raw = {}
        self.entries: dict[str, Any] = raw.get("entries", {}) \
            if raw.get("version") == INDEX_VERSION else {}
        self.dirty = False

    def get(self, files: tuple[Path, ...]) -> dict[str, Any]:
        key = "|".join(os.path.realpath(f) for f in files)
        fingerprint = _fingerprint(files)
        entry = self.entries.get(key)
        if entry is not None and fingerprint is not None and entry.get("fp") == fingerprint:
            cached: dict[str, Any] = entry["summary"]
            return cached
        summary = _summarize(files)
        if fingerprint is not None:
            self.entries[key] = {"fp": fingerprint, "summary": summary}
            self.dirty = True
        return summary

    def save(self) -> None:
        if self.dirty:
            with contextlib.suppress(OSError):
                _write_json(_index_path(), {"version": INDEX_VERSION, "entries": self.entries})


# -- the list -------------------------------------------------------------------------------------

def model_id(path: str | os.PathLike[str]) -> str:
    return hashlib.sha1(os.path.realpath(path).encode("utf-8"),
                        usedforsecurity=False).hexdigest()[:10]


def _to_model(found: Found, index: _HeaderIndex, uses: dict[str, float]) -> LocalModel:
    files = found.files
    sizes = []
    mtimes = []
    for f in files:
        with contextlib.suppress(OSError):
            st = f.stat()
            sizes.append(st.st_size)
            mtimes.append(st.st_mtime)
    status, problem = found.status, found.problem
    model = LocalModel(
        id=model_id(files[0]), name=found.name, path=str(files[0]),
        files=[str(f) for f in files], source=found.source, detail=found.detail,
        status=status, problem=problem, size=sum(sizes), repo_id=found.repo_id,
        modified=_iso(max(mtimes)) if mtimes else None, deletable=found.deletable,
        delete_note=found.delete_note, aliases=list(found.aliases),
        quant=quant_from_name(files[0].name),
    )
    if status == "ok":
        summary = index.get(files)
        model.kind = summary.get("kind", MODEL)
        if "error" in summary:
            model.status, model.problem = "broken", summary["error"]
        elif model.kind == LORA_ADAPTER:
            model.architecture = summary.get("architecture")
            model.model_name = summary.get("name")
            model.adapter_rank = summary.get("rank")
            model.adapter_alpha = summary.get("alpha")
            model.adapter_targets = list(summary.get("targets") or [])
            model.quant = summary.get("dominant_type")
        else:
            model.architecture = summary.get("architecture")
            model.parameters = summary.get("parameters")
            model.context_length = summary.get("context_length")
            model.model_name = summary.get("name")
            model.quant = summary.get("file_type") or model.quant or summary.get(
                "dominant_type")
    stamp = uses.get(os.path.realpath(files[0]))
    model.last_used = _iso(stamp)
    return model


def scan_library(*, config: HubConfig | None = None, env: HomeEnv | None = None,
                 extra_folders: Iterable[Path] | None = None, sources: Iterable[str] = SOURCES,
                 progress: Callable[[str], None] | None = None,
                 adapters: bool = False) -> list[LocalModel]:
    """Every local GGUF model, deduplicated by real file (the first source wins, the others
    become aliases), sorted by source then name. LoRA adapters are left out; with
    ``adapters=True`` they are listed too (``kind="lora-adapter"``), each with the listed
    models it fits (``fits``)."""
    config = config or HubConfig.from_env()
    env = env or HomeEnv.current()
    wanted = set(sources)
    unknown = wanted - set(SOURCES)
    if unknown:
        raise BadInput(f"unknown source(s): {', '.join(sorted(unknown))}; "
                       f"choose from {', '.join(SOURCES)}")
    found: list[Found] = []
    if "hf-cache" in wanted:
        found += discover_hf_cache(config.cache_dir)
    for name, discover in DISCOVERERS.items():
        if name in wanted:
            if progress:
                progress(f"looking for {name} models")
            with contextlib.suppress(OSError):
                found += discover(env)
    if "folder" in wanted:  # last: a file an app also lists keeps the app's name
        for folder in [*folders(), *(extra_folders or [])]:
            found += discover_folder(Path(folder))
    index = _HeaderIndex()
    uses = _last_uses()
    models: list[LocalModel] = []
    by_file: dict[tuple[int, int] | str, LocalModel] = {}
    for item in found:
        key = _file_key(item.files[0])
        if key in by_file:
            first = by_file[key]
            first.aliases.append(f"{item.source}:{item.name}")
            first.aliases.extend(a for a in item.aliases if a not in first.aliases)
            continue
        model = _to_model(item, index, uses)
        by_file[key] = model
        models.append(model)
    index.save()
    if adapters:
        _fill_fits(models)
    else:
        models = [m for m in models if not m.is_adapter]
    order = {s: i for i, s in enumerate(SOURCES)}
    return sorted(models, key=lambda m: (order.get(m.source, 99), m.name.lower(), m.path))


def _fill_fits(listed: list[LocalModel]) -> None:
    """Set ``fits`` of every usable adapter listed to the paths of the usable models listed
    (of its architecture) it fits."""
    from workbench.hub.adapters import adapter_fits

    models = [m for m in listed if not m.is_adapter and m.status == "ok"]
    for adapter in listed:
        if adapter.is_adapter and adapter.status == "ok":
            adapter.fits = [m.path for m in models if m.architecture == adapter.architecture
                            and adapter_fits(adapter.path, m.files)]


def _file_key(path: Path) -> tuple[int, int] | str:
    try:
        st = path.stat()
        return (st.st_dev, st.st_ino)
    except OSError:
        return os.path.realpath(path)


def find_model(query: str, models: list[LocalModel]) -> LocalModel:
    """The one model ``query`` names: an id (or its prefix), a path, a name, an Ollama tag,
    ``repo/file``; raises ``NotFoundError`` or ``BadInput`` (ambiguous) otherwise."""
    q = query.strip()
    if not q:
        raise BadInput("name a model (an id, a path or a name from `workbench ls`)")
    real = os.path.realpath(os.path.expanduser(q))
    exact = [m for m in models
             if m.id == q or real in (os.path.realpath(f) for f in m.files)
             or q in (m.path, m.name, m.detail) or q in m.aliases
             or (m.detail and m.detail.endswith("/" + q))]
    if len(exact) == 1:
        return exact[0]
    if not exact and len(q) >= 4:
        exact = [m for m in models if m.id.startswith(q)]
        if len(exact) == 1:
            return exact[0]
    if not exact:
        raise NotFoundError(f"no local model matches {query!r} (see `workbench ls`)")
    listing = "; ".join(f"{m.id} {m.name} ({m.source})" for m in exact[:8])
    raise BadInput(f"{query!r} matches {len(exact)} models: {listing}; use an id")


# -- delete and reveal ----------------------------------------------------------------------------

def delete_model(model: LocalModel, *, config: HubConfig | None = None) -> list[str]:
    """Delete a model's files; returns what was deleted. Ollama's and Jan's models are theirs
    to delete (``LibraryError`` says how)."""
    if not model.deletable:
        raise LibraryError(f"{model.name}: {model.delete_note or 'cannot be deleted here'}")
    config = config or HubConfig.from_env()
    if model.source == "hf-cache":
        return _delete_from_hf_cache([Path(f) for f in model.files], config.cache_dir)
    deleted = []
    for f in model.files:
        path = Path(f)
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        except OSError as err:
            raise LibraryError(f"cannot delete {path}: {err.strerror or err}") from None
        deleted.append(str(path))
    return deleted


def _delete_from_hf_cache(files: list[Path], cache_dir: Path) -> list[str]:
    deleted: list[str] = []
    cache_root = os.path.realpath(cache_dir)
    for path in files:
        if not os.path.realpath(path).startswith(cache_root + os.sep) and \
                not os.path.abspath(path).startswith(os.path.abspath(cache_dir) + os.sep):
            raise LibraryError(f"{path} is not inside the Hugging Face cache {cache_dir}")
        parts = Path(os.path.abspath(path)).relative_to(os.path.abspath(cache_dir)).parts
        repo = Path(cache_dir) / parts[0]
        blob = Path(os.path.realpath(path))
        try:
            if path.name.endswith(hf_cache.INCOMPLETE_SUFFIX) and path.parent.name == "blobs":
                path.unlink(missing_ok=True)
                deleted.append(str(path))
            else:
                # every snapshot link to this blob goes, then the blob itself
                for link in (repo / "snapshots").rglob("*") if (repo / "snapshots").is_dir() \
                        else []:
                    if link.is_symlink() and os.path.realpath(link) == str(blob):
                        link.unlink()
                        deleted.append(str(link))
                if path.exists() and not path.is_symlink():  # a copied snapshot file
                    path.unlink()
                    deleted.append(str(path))
                if blob.is_file() and blob.parent.name == "blobs":
                    blob.unlink()
                    deleted.append(str(blob))
        except OSError as err:
            raise LibraryError(f"cannot delete {path}: {err.strerror or err}") from None
        _prune(repo)
    return deleted


def _prune(repo: Path) -> None:
    """Remove empty snapshot folders; the whole repo folder once it holds no file."""
    snapshots = repo / "snapshots"
    if snapshots.is_dir():
        for folder in sorted((p for p in snapshots.rglob("*") if p.is_dir()),
                             key=lambda p: len(p.parts), reverse=True):
            with contextlib.suppress(OSError):
                folder.rmdir()
    has_files = any(p.is_file() or p.is_symlink()
                    for sub in ("snapshots", "blobs") if (repo / sub).is_dir()
                    for p in (repo / sub).rglob("*"))
    if not has_files:
        shutil.rmtree(repo, ignore_errors=True)


def reveal_command(path: str | os.PathLike[str], platform: str = sys.platform) -> list[str]:
    """The command that shows ``path`` in the platform's file manager."""
    target = os.fspath(path)
    if platform == "darwin":
        return ["open", "-R", target]
    if platform.startswith("win"):
        return ["explorer", f"/select,{target}"]
    folder = target if os.path.isdir(target) else os.path.dirname(target) or "."
    return ["xdg-open", folder]


def reveal(path: str | os.PathLike[str]) -> None:
    """Show ``path`` in the file manager (does not wait for it)."""
    if not os.path.exists(path):
        raise NotFoundError(f"{path}: no such file")
    command = reveal_command(path)
    try:
        subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
    except OSError as err:
        raise LibraryError(f"cannot open the file manager ({command[0]}): "
                           f"{err.strerror or err}") from None
