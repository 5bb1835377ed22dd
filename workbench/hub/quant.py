"""GGUF file names on the Hub: the quant type in a name, split shards, grouping into variants.

A repository usually holds one model in several quant types (``model-Q4_K_M.gguf``,
``model-Q8_0.gguf``), large ones as split files (``model-Q8_0-00001-of-00003.gguf``, sometimes in
a folder per quant), and vision projectors (``mmproj-*.gguf``). A ``Variant`` is what a person
picks: one file, or all shards of a split set.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass

from workbench.present.numbers import format_size

# llama.cpp's llama_split_path: "%s-%05d-of-%05d.gguf"
SPLIT_NAME = re.compile(r"^(?P<prefix>.+)-(?P<no>\d{5})-of-(?P<count>\d{5})\.gguf$",
                        re.IGNORECASE)
# Quant types as they appear in file names: Q4_K_M, IQ4_XS, Q8_0, UD-Q4_K_XL, BF16, MXFP4, ...
# (every llama.cpp 0.3.36 file type: tests/unit/test_synth_quant_types.py)
_QUANT = re.compile(
    r"(?<![A-Za-z0-9])(?P<q>(?:UD-)?(?:I?Q[1-8](?:_[A-Z0-9]{1,4}){0,3}|TQ[12]_0|BF16|F16|FP16|"
    r"F32|FP32|MXFP4(?:_MOE)?|NVFP4))(?![A-Za-z0-9])",
    re.IGNORECASE,
)
_FOLDER_QUANT = re.compile(r"^(?:UD-)?(?:I?Q[1-8]\w*|TQ[12]_0|BF16|F16|F32|MXFP4\w*|NVFP4)$",
                           re.IGNORECASE)


def quant_from_name(name: str) -> str | None:
    """The quant type a file name states (the last one), upper-case, or None."""
    base = posixpath.basename(name)
    match = SPLIT_NAME.match(base)
    stem = match.group("prefix") if match else re.sub(r"\.gguf$", "", base, flags=re.I)
    found = [m.group("q") for m in _QUANT.finditer(stem)]
    if not found:
        folder = posixpath.basename(posixpath.dirname(name))
        return folder.upper() if folder and _FOLDER_QUANT.match(folder) else None
    quant = found[-1].upper()
    return {"FP16": "F16", "FP32": "F32"}.get(quant, quant)


def is_projector(name: str) -> bool:
    """A multimodal projector (mmproj), not a language model."""
    return "mmproj" in posixpath.basename(name).lower()


def split_info(name: str) -> tuple[str, int, int] | None:
    """(path prefix, shard number from 1, shard count) of a split file name, else None."""
    directory, base = posixpath.split(name)
    match = SPLIT_NAME.match(base)
    if match is None:
        return None
    no, count = int(match.group("no")), int(match.group("count"))
    if count < 1 or not 1 <= no <= count:
        return None
    return posixpath.join(directory, match.group("prefix")), no, count


@dataclass(frozen=True)
class RemoteFile:
    """One file of a repository at a commit: its size and the Hub's hashes."""

    repo_id: str
    path: str
    size: int | None
    sha256: str | None  # the LFS object id (SHA-256 of the content); None for non-LFS files
    blob_id: str | None  # the git object id (SHA-1 of "blob <size>\\0" + content)
    revision: str
    commit: str | None

    @property
    def etag(self) -> str | None:
        """The name of the file's blob in the HF cache (sha256 for LFS, else the git oid)."""
        return self.sha256 or self.blob_id

    def to_dict(self) -> dict[str, object]:
        return {"path": self.path, "size": self.size, "sha256": self.sha256,
                "blob_id": self.blob_id}


@dataclass(frozen=True)
class Variant:
    """What a person picks in a repository: one GGUF file, or every shard of a split set."""

    name: str  # the file name, or for a split set its prefix + ".gguf"
    quant: str | None
    kind: str  # "model" or "mmproj"
    files: tuple[RemoteFile, ...]
    split_count: int  # 1 for a single file
    complete: bool  # every shard is present

    @property
    def size(self) -> int | None:
        sizes = [f.size for f in self.files]
        return None if any(s is None for s in sizes) else sum(s for s in sizes if s is not None)

    @property
    def first(self) -> RemoteFile:
        return self.files[0]

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "quant": self.quant, "kind": self.kind, "size": self.size,
                "split_count": self.split_count, "complete": self.complete,
                "files": [f.to_dict() for f in self.files]}


def group_variants(files: Iterable[RemoteFile]) -> list[Variant]:
    """Group a repository's ``.gguf`` files into variants, sorted: models by size, then mmproj."""
    singles: list[Variant] = []
    splits: dict[tuple[str, int], dict[int, RemoteFile]] = {}
    for f in files:
        if not f.path.lower().endswith(".gguf"):
            continue
        info = split_info(f.path)
        if info is None:
            kind = "mmproj" if is_projector(f.path) else "model"
            singles.append(Variant(f.path, quant_from_name(f.path), kind, (f,), 1, True))
            continue
        prefix, no, count = info
        splits.setdefault((prefix, count), {})[no] = f
    for (prefix, count), shards in splits.items():
        ordered = tuple(shards[i] for i in sorted(shards))
        kind = "mmproj" if is_projector(prefix) else "model"
        singles.append(Variant(f"{prefix}.gguf", quant_from_name(ordered[0].path), kind, ordered,
                               count, len(shards) == count))

    def order(v: Variant) -> tuple[int, int, str]:
        return (v.kind != "model", v.size if v.size is not None else 1 << 62, v.name)

    return sorted(singles, key=order)


def select_variant(variants: list[Variant], *, quant: str | None = None,
                   filename: str | None = None) -> Variant:
    """The variant asked for by quant type or file name (any shard's name selects the set).

    Raises ``BadInput`` listing the choices when the request is ambiguous or matches nothing.
    """
    from workbench.errors import BadInput

    models = [v for v in variants if v.kind == "model"] or variants
    if not variants:
        raise BadInput("this repository has no .gguf files")
    if filename:
        wanted = filename.strip("/")
        for v in variants:
            names = {v.name, posixpath.basename(v.name)}
            for f in v.files:
                names.update({f.path, posixpath.basename(f.path)})
            if wanted in names:
                return v
        raise BadInput(f"no file named {filename!r}; files: {describe(variants)}")
    if quant:
        hits = [v for v in variants if v.quant and v.quant.upper() == quant.strip().upper()]
        model_hits = [v for v in hits if v.kind == "model"]
        hits = model_hits or hits
        if len(hits) == 1:
            return hits[0]
        if not hits:
            raise BadInput(f"no {quant.upper()} file; quant types here: {describe(models)}")
        raise BadInput(f"several {quant.upper()} files ({', '.join(v.name for v in hits)}): "
                       "choose one with --file")
    if len(models) == 1:
        return models[0]
    raise BadInput(f"{len(models)} GGUF variants: {describe(models)}; choose one with --quant "
                   "or --file")


def describe(variants: Iterable[Variant]) -> str:
    parts = []
    for v in variants:
        size = format_size(v.size) if v.size is not None else "size unknown"
        parts.append(f"{v.quant or v.name} ({size})")
    return ", ".join(parts)
