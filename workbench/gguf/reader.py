"""Entry points: read the header of a GGUF file or URL, and of all shards of a split model."""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from workbench.gguf.errors import GGUFError
from workbench.gguf.model import GGUFHeader
from workbench.gguf.parser import parse_header
from workbench.gguf.sources import is_url, open_source

DEFAULT_MAX_HEADER_BYTES = 64 * 1024 * 1024
MIN_HEADER_BYTES = 64

# llama.cpp's llama_split_path: "%s-%05d-of-%05d.gguf"; split.no counts from 0.
_SPLIT_NAME = re.compile(r"^(?P<prefix>.+)-(?P<no>\d{5})-of-(?P<count>\d{5})\.gguf$")


def read_header(source: str | os.PathLike[str], *,
                max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES, token: str | None = None,
                timeout: float = 30.0) -> GGUFHeader:
    """Read and validate the header of a local GGUF file or an http(s) URL (never the weights).

    ``max_header_bytes`` bounds what is read (and held in memory); ``token`` is sent as a Bearer
    token (only when given); ``timeout`` applies to each network operation. Raises ``GGUFError``
    for malformed input, ``GGUFSourceError`` (missing file, HTTP 401/403/404) and
    ``GGUFRemoteError`` (network failures).
    """
    if max_header_bytes < MIN_HEADER_BYTES:
        raise ValueError(f"max_header_bytes must be at least {MIN_HEADER_BYTES}")
    byte_source = open_source(source, token=token, timeout=timeout)
    try:
        header = parse_header(byte_source, max_header_bytes)
    finally:
        byte_source.close()
    return dataclasses.replace(header, source=os.fspath(source))


def split_sources(source: str | os.PathLike[str]) -> list[str] | None:
    """All shard names of a split model (``name-00001-of-00003.gguf``), or None if not split."""
    text = os.fspath(source)
    parts = urlsplit(text) if is_url(text) else None
    if parts is not None:
        directory, _, filename = parts.path.rpartition("/")
    else:
        directory, filename = "", Path(text).name
    match = _SPLIT_NAME.match(filename)
    if match is None:
        return None
    count = int(match.group("count"))
    if count < 1 or not 1 <= int(match.group("no")) <= count:
        return None
    names = [f"{match.group('prefix')}-{i:05d}-of-{count:05d}.gguf" for i in range(1, count + 1)]
    if parts is not None:
        return [urlunsplit(parts._replace(path=f"{directory}/{name}")) for name in names]
    return [os.fspath(Path(text).with_name(name)) for name in names]


def read_split_headers(source: str | os.PathLike[str], *,
                       max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES,
                       token: str | None = None, timeout: float = 30.0) -> tuple[GGUFHeader, ...]:
    """Headers of every shard of a split model, in order (any shard's name will do).

    A file whose name is not a shard name gives a 1-tuple. Each shard's ``split.no`` and
    ``split.count`` (when present) must match its name.
    """
    names = split_sources(source)
    if names is None:
        return (read_header(source, max_header_bytes=max_header_bytes, token=token,
                            timeout=timeout),)
    headers = []
    for index, name in enumerate(names):
        header = read_header(name, max_header_bytes=max_header_bytes, token=token,
                             timeout=timeout)
        for key, expected in (("split.no", index), ("split.count", len(names))):
            value = header.metadata.get(key)
            if value is not None and value != expected:
                raise GGUFError(f"{name}: {key} is {value!r}, the file name says {expected}")
        headers.append(header)
    return tuple(headers)
