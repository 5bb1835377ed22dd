"""Which models the server offers, and the ids that name them.

The models given with ``--model`` come first, then (unless ``--no-library``) every usable model
of the local library (``workbench ls``). A model's id in ``/v1/models`` is its file name, or its
library id (``workbench ls`` shows it) where two files share a name; a request may also name a
model by its library id, its file name without ``.gguf``, or its library name. Only listed
models can be loaded: a request never names a path of its own.

A ``--model`` may carry LoRA adapters, ``PATH+lora:ADAPTER[@SCALE]`` (repeatable, as in a
target spec): served as a model of its own, id ``FILE+lora:ADAPTER-FILE@SCALE`` (the scale
left out when it is 1), loaded with its adapters by a worker of its own, next to the plain
file when that is served too. The adapters are checked against the model at start.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from workbench.errors import BadInput, WorkbenchError

if TYPE_CHECKING:
    from workbench.hub.library import LocalModel

LIBRARY_TTL_S = 10.0  # the library is scanned again at most this often
RESERVED_IDS = ("auto",)  # and any id starting with "router:"


@dataclass(frozen=True)
class ServedModel:
    id: str
    path: str  # the file to load (the first shard of a split model)
    files: tuple[str, ...]
    library_id: str
    name: str  # the library's name, or the file name
    source: str  # "command line" or the library source (hf-cache, folder, lmstudio, ...)
    context_length: int | None  # the context the model was trained for (its header)
    created: int  # the file's modification time (OpenAI's "created")
    names: tuple[str, ...] = ()  # every other name that selects it
    loras: tuple[tuple[str, float], ...] = ()  # LoRA adapters loaded with it: (path, scale)

    @property
    def key(self) -> tuple[str, tuple[tuple[str, float], ...]]:
        """What makes it one model: the file, and the adapters it is loaded with."""
        return os.path.realpath(self.path), self.loras

    def to_openai(self) -> dict[str, object]:
        return {"id": self.id, "object": "model", "created": self.created,
                "owned_by": "workbench", "workbench": {
                    "path": self.path, "library_id": self.library_id, "source": self.source,
                    "context_length": self.context_length,
                    "loras": [{"path": path, "scale": scale} for path, scale in self.loras]}}


Scanner = Callable[[], "list[LocalModel]"]


def _default_scan() -> list[LocalModel]:
    from workbench.hub.library import scan_library

    return scan_library()


def _mtime(path: str) -> int:
    try:
        return int(os.stat(path).st_mtime)
    except OSError:
        return 0


def explicit_model(spec: str, scan: Scanner | None) -> ServedModel:
    """A ``--model`` argument: a GGUF path, or a model of the library (id, name, path), with
    the LoRA adapters it names (``PATH+lora:ADAPTER[@SCALE]``...)."""
    from workbench.providers.local import LORA_SEP

    if LORA_SEP in spec:
        return _with_adapters(spec, scan)
    return _plain_model(spec, scan)


def _with_adapters(spec: str, scan: Scanner | None) -> ServedModel:
    """``BASE+lora:ADAPTER[@SCALE]...``: the base with its adapters, checked against it."""
    from workbench.engine.defaults import check_loras
    from workbench.engine.settings import MAX_LORAS, LoadSettings, parse_lora
    from workbench.providers.local import LORA_SEP, lora_suffix

    base_spec, *adapters = spec.split(LORA_SEP)
    if not base_spec.strip():
        raise BadInput(f"--model {spec}: the model is missing before '{LORA_SEP}'")
    loras = []
    for text in adapters:
        if not text.strip():
            raise BadInput(f"--model {spec}: the adapter file is missing after '{LORA_SEP}' "
                           "(use PATH+lora:ADAPTER[@SCALE])")
        path, scale = parse_lora(text.strip(), what=f"--model {spec}: LoRA adapter")
        loras.append((str(Path(path).expanduser().resolve()), scale))
    if len(loras) > MAX_LORAS:
        raise BadInput(f"--model {spec}: at most {MAX_LORAS} LoRA adapters")
    base = _plain_model(base_spec.strip(), scan)
    try:
        check_loras(LoadSettings(base.path, loras=tuple(loras)))
    except BadInput as err:
        raise BadInput(f"--model {spec}: {err}") from None
    suffix = lora_suffix(loras, short=True)
    return dataclasses.replace(
        base, id=base.id + suffix, library_id=base.library_id + suffix,
        name=base.name + suffix, names=tuple(name + suffix for name in base.names),
        loras=tuple(loras))


def _plain_model(spec: str, scan: Scanner | None) -> ServedModel:
    from workbench.hub.library import find_model, model_id

    path = Path(spec).expanduser()
    if path.is_file():
        from workbench.gguf import read_header, summarize

        summary = summarize(read_header(path))  # a malformed file is refused here, at start
        real = str(path.resolve())
        return ServedModel(id=path.name, path=real, files=(real,), library_id=model_id(real),
                           name=path.name, source="command line",
                           context_length=summary.context_length, created=_mtime(real))
    if scan is None:
        raise BadInput(f"--model {spec}: no such file (and --no-library: ids are not looked up)")
    model = find_model(spec, scan())
    if model.status != "ok":
        raise BadInput(f"--model {spec}: {model.name} is {model.status}: {model.problem}")
    return _from_library(model, source="command line")


def _from_library(model: LocalModel, *, source: str | None = None) -> ServedModel:
    return ServedModel(id=Path(model.path).name, path=model.path, files=tuple(model.files),
                       library_id=model.id, name=model.name, source=source or model.source,
                       context_length=model.context_length, created=_mtime(model.path),
                       names=tuple(model.aliases))


class Catalog:
    """The served models: ``--model`` ones fixed at start, the library's rescanned now and then
    (thread-safe; a scan that fails keeps the last list)."""

    def __init__(self, explicit: Sequence[ServedModel] = (), *, scan: Scanner | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.explicit = list(explicit)
        self._scan = scan
        self._clock = clock
        self._lock = threading.Lock()
        self._library: list[ServedModel] = []
        self._scanned_at: float | None = None
        self._models: list[ServedModel] = self._assign_ids([])

    @classmethod
    def build(cls, specs: Sequence[str], *, library: bool) -> Catalog:
        scan = _default_scan if library else None
        return cls([explicit_model(spec, scan) for spec in specs], scan=scan)

    def add(self, model: ServedModel) -> ServedModel:
        """Serve ``model`` too (a router's local model); returns it as listed (its id)."""
        with self._lock:
            self.explicit.append(model)
            self._models = self._assign_ids(self._library)
            return next(m for m in self._models if m.key == model.key)

    def models(self) -> list[ServedModel]:
        """Every served model (blocking: may scan the library; call it off the event loop)."""
        with self._lock:
            now = self._clock()
            if self._scan is not None and (self._scanned_at is None
                                           or now - self._scanned_at > LIBRARY_TTL_S):
                self._scanned_at = now
                try:
                    found = [m for m in self._scan() if m.status == "ok"]
                except (OSError, WorkbenchError):
                    found = None
                if found is not None:
                    self._library = [_from_library(m) for m in found]
                    self._models = self._assign_ids(self._library)
            return list(self._models)

    def cached(self) -> list[ServedModel]:
        """The served models as last listed (never scans: safe on the event loop)."""
        with self._lock:
            return list(self._models)

    def find(self, name: str) -> ServedModel | None:
        """The model ``name`` selects (its id first, then its other names), or None; from the
        last listing (``models()`` refreshes it)."""
        models = self.cached()
        for model in models:
            if model.id == name:
                return model
        for model in models:
            stem = model.id[:-5] if model.id.lower().endswith(".gguf") else model.id
            if name in (model.library_id, stem, model.name, *model.names):
                return model
        return None

    def _assign_ids(self, library: list[ServedModel]) -> list[ServedModel]:
        seen: set[tuple[str, tuple[tuple[str, float], ...]]] = set()
        unique: list[ServedModel] = []
        for model in [*self.explicit, *library]:
            if model.key in seen:
                continue
            seen.add(model.key)
            unique.append(model)
        counts: dict[str, int] = {}
        for model in unique:
            counts[model.id] = counts.get(model.id, 0) + 1
        out = []
        for model in unique:
            if counts[model.id] > 1 or model.id in RESERVED_IDS or model.id.startswith(
                    "router:"):
                names = (model.id, *model.names)
                model = dataclasses.replace(model, id=model.library_id, names=names)
            out.append(model)
        return out
