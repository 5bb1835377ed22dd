"""``workbench inspect MODEL``: what a GGUF model is, from its header alone (local path or URL)."""

from __future__ import annotations

import argparse
import functools
import math
import os
import sys
from typing import TYPE_CHECKING, Any

from workbench.commands.lazy import LazyHelpFormatter, LazyText
from workbench.errors import BadInput

if TYPE_CHECKING:  # workbench.gguf imports numpy, gguf and httpx: only when a file is read
    from workbench.gguf import AdapterSummary, GGUFHeader, ModelSummary

ARRAY_ITEMS_SHOWN = 64  # longer arrays are shown as their type and length only
TEXT_CHARS_SHOWN = 160  # in the human table; JSON keeps whole strings


def register(subparsers: Any) -> None:
    from workbench.commands.output import add_json_flag

    parser = subparsers.add_parser(
        "inspect",
        help="show what a GGUF model holds (reads only its header)",
        description="Read a GGUF file's header (a path or an http(s) URL; only the header is "
                    "transferred) and show the model's architecture, size, quantization and "
                    "shape. All shards of a split model (name-00001-of-00003.gguf) are read.",
        formatter_class=LazyHelpFormatter,
    )
    parser.add_argument("model", metavar="MODEL", help="a .gguf file or an http(s) URL")
    parser.add_argument("--tensors", action="store_true", help="also list every tensor")
    parser.add_argument("--metadata", action="store_true",
                        help="also show the raw metadata (long arrays as their length)")
    parser.add_argument("--hf-token", action="store_true",
                        help="send $HF_TOKEN as a Bearer token (gated or private models)")
    parser.add_argument("--max-header-mib", type=int, metavar="MIB",
                        help=LazyText(lambda: "read at most this much header (default: "
                                      f"{_default_max_header_mib()})"))
    add_json_flag(parser)
    parser.set_defaults(func=handler)


def _default_max_header_mib() -> int:
    from workbench.gguf import DEFAULT_MAX_HEADER_BYTES

    return DEFAULT_MAX_HEADER_BYTES >> 20


def handler(args: argparse.Namespace) -> int:
    from workbench.commands.output import emit
    from workbench.gguf import is_adapter, read_split_headers, summarize, summarize_adapter

    token = None
    if args.hf_token:
        token = os.environ.get("HF_TOKEN")
        if not token:
            raise BadInput("--hf-token was given but the HF_TOKEN environment variable is empty")
    max_mib = _default_max_header_mib() if args.max_header_mib is None else args.max_header_mib
    if max_mib < 1:
        raise BadInput("--max-header-mib must be at least 1")
    headers = read_split_headers(args.model, max_header_bytes=max_mib << 20, token=token)
    if is_adapter(headers[0]):  # a LoRA adapter: architecture, rank, alpha, targets, size
        adapter = summarize_adapter(headers[0])
        document = adapter.to_dict()
        show = functools.partial(print_adapter, adapter, headers, args)
    else:
        summary = summarize(headers)
        document = summary.to_dict()
        show = functools.partial(print_human, summary, headers, args)
    if args.tensors:
        document["tensors"] = tensor_documents(headers)
    if args.metadata:
        document["metadata"] = metadata_document(headers[0])
    emit(args, document, show)
    return 0


# -- documents ---------------------------------------------------------------------------------

def tensor_documents(headers: tuple[GGUFHeader, ...]) -> list[dict[str, Any]]:
    return [
        {"name": t.name, "type": t.type_name, "ggml_type": t.ggml_type, "shape": list(t.shape),
         "n_elements": t.n_elements, "n_bytes": t.n_bytes, "offset": t.offset, "shard": index}
        for index, header in enumerate(headers) for t in header.tensors
    ]


def metadata_document(header: GGUFHeader) -> dict[str, Any]:
    """Metadata as JSON values; arrays longer than ARRAY_ITEMS_SHOWN become {type, length}."""
    return {key: _json_value(value) for key, value in header.metadata.items()}


def _json_value(value: Any) -> Any:
    from workbench.gguf import GGUFArray

    if isinstance(value, GGUFArray):
        if len(value) > ARRAY_ITEMS_SHOWN:
            return {"type": value.type_name, "length": len(value)}
        return [_json_value(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no NaN or Infinity
    return value


# -- people ------------------------------------------------------------------------------------

def _size(n_bytes: int) -> str:
    from workbench.present.numbers import format_size

    return format_size(n_bytes)


def _count(n: int) -> str:
    for div, unit in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if n >= div:
            return f"{n / div:.2f} {unit}"
    return str(n)


def _layers(value: int | tuple[int, ...] | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, tuple):
        distinct = sorted(set(value))
        return (str(distinct[0]) if len(distinct) == 1
                else f"per layer: {', '.join(map(str, value))}")
    return str(value)


def _opt(value: Any) -> str:
    return "-" if value is None else str(value)


def summary_rows(s: ModelSummary) -> list[tuple[str, str]]:
    types = ", ".join(f"{name} x{count}" for name, count in s.tensor_types.items())
    experts = "-" if s.n_expert is None else f"{s.n_expert} ({_opt(s.n_expert_used)} used)"
    template = (f"yes ({s.chat_template_length} characters)" if s.has_chat_template else "no")
    vocab = _opt(s.vocab_size) + (f" ({s.tokenizer_model})" if s.tokenizer_model else "")
    return [
        ("Model", f"{s.name or '-'} ({s.architecture or 'unknown architecture'})"),
        ("Source", s.source + (f" (+{s.split_count - 1} shards)" if s.split_count > 1 else "")),
        ("File size", f"{_size(s.file_size)} ({s.file_size:,} bytes)"),
        ("Parameters", f"{_count(s.parameter_count)} ({s.parameter_count:,})"),
        ("Quantization", f"{s.file_type or '-'} (most weights: {s.dominant_type or '-'})"),
        ("Bits per weight", "-" if s.bits_per_weight is None else f"{s.bits_per_weight:.2f}"),
        ("Tensor types", types or "-"),
        ("Context length", _opt(s.context_length)),
        ("Layers", _opt(s.n_layer)),
        ("Embedding width", _opt(s.n_embd)),
        ("Attention heads", _layers(s.n_head)),
        ("KV heads", _layers(s.n_head_kv)),
        ("Feed-forward width", _layers(s.n_ff)),
        ("Head size (K/V)", f"{_opt(s.key_length)} / {_opt(s.value_length)}"),
        ("Vocabulary", vocab),
        ("Experts", experts),
        ("Sliding window", _opt(s.sliding_window)),
        ("Chat template", template),
        ("GGUF", f"version {s.gguf_version}, header {_size(s.header_size)}, "
                 f"{s.tensor_count} tensors"),
    ]


def adapter_rows(a: AdapterSummary) -> list[tuple[str, str]]:
    types = ", ".join(f"{name} x{count}" for name, count in a.tensor_types.items())
    rank = str(a.rank) if len(a.ranks) == 1 else f"{', '.join(map(str, a.ranks))} (per tensor)"
    alpha = ("- (scaled by the scale alone)" if a.alpha is None
             else f"{a.alpha:g} (x{a.alpha / a.rank:g} at scale 1)" if a.alpha
             else "0 (scaled by the scale alone)")
    rows = [
        ("Adapter", f"LoRA: {a.name or '-'}"),
        ("For architecture", a.architecture),
        ("Source", a.source),
        ("File size", f"{_size(a.file_size)} ({a.file_size:,} bytes)"),
        ("LoRA weights", f"{_size(a.tensor_data_size)} ({a.tensor_data_size:,} bytes)"),
        ("Rank", rank),
        ("Alpha", alpha),
        ("Targets", ", ".join(a.targets)),
        ("Tensors changed", f"{len(a.pairs)} ({a.tensor_count} tensors in the file)"),
        ("Tensor types", types or "-"),
    ]
    if a.skipped_tensors:
        rows.append(("Ignored", f"{len(a.skipped_tensors)} norm vectors (llama.cpp skips them)"))
    if a.alora_invocation_tokens:
        rows.append(("aLoRA", f"{a.alora_invocation_tokens} invocation tokens"))
    rows.append(("GGUF", f"version {a.gguf_version}, header {_size(a.header_size)}"))
    return rows


def print_adapter(adapter: AdapterSummary, headers: tuple[GGUFHeader, ...],
                  args: argparse.Namespace) -> None:
    from rich.console import Console
    from rich.table import Table

    from workbench.terminal_text import rich_text

    console = Console(file=sys.stdout, highlight=False, markup=False, emoji=False)
    table = Table(title="GGUF LoRA adapter", show_header=False, title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for field, value in adapter_rows(adapter):
        table.add_row(rich_text(field), rich_text(value))
    console.print(table)
    _print_extras(console, headers, args)


def _shown(value: Any) -> str:
    from workbench.gguf import GGUFArray

    if isinstance(value, GGUFArray):
        if len(value) > ARRAY_ITEMS_SHOWN:
            return f"[{len(value):,} items]"
        return repr([_json_value(item) for item in value])
    text = repr(value) if isinstance(value, str) else str(value)
    if len(text) > TEXT_CHARS_SHOWN:
        return f"{text[:TEXT_CHARS_SHOWN]}... ({len(text):,} characters)"
    return text


def print_human(summary: ModelSummary, headers: tuple[GGUFHeader, ...],
                args: argparse.Namespace) -> None:
    from rich.console import Console
    from rich.table import Table

    from workbench.terminal_text import rich_text

    def row(table: Table, *cells: str) -> None:  # no markup, emoji codes or controls
        table.add_row(*(rich_text(cell) for cell in cells))

    console = Console(file=sys.stdout, highlight=False, markup=False, emoji=False)
    table = Table(title="GGUF model", show_header=False, title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for field, value in summary_rows(summary):
        row(table, field, value)
    console.print(table)
    for notice in summary.notices:
        print(f"Note: {notice}")
    _print_extras(console, headers, args)


def _print_extras(console: Any, headers: tuple[GGUFHeader, ...],
                  args: argparse.Namespace) -> None:
    """The --tensors and --metadata tables."""
    from rich.table import Table

    from workbench.gguf import GGUFArray
    from workbench.gguf.ggml_types import value_type_name
    from workbench.terminal_text import rich_text

    def row(table: Table, *cells: str) -> None:  # no markup, emoji codes or controls
        table.add_row(*(rich_text(cell) for cell in cells))

    if args.tensors:
        tensors = Table(title="Tensors", title_justify="left")
        for column in ("name", "type", "shape", "elements", "bytes", "offset"):
            tensors.add_column(column, justify="left" if column == "name" else "right",
                               overflow="fold")
        for header in headers:
            for t in header.tensors:
                row(tensors, t.name, t.type_name, " x ".join(map(str, t.shape)),
                                f"{t.n_elements:,}", f"{t.n_bytes:,}", f"{t.offset:,}")
        console.print(tensors)

    if args.metadata:
        meta = Table(title="Metadata", title_justify="left")
        meta.add_column("key", overflow="fold")
        meta.add_column("type")
        meta.add_column("value", overflow="fold")
        header = headers[0]
        for key, value in header.metadata.items():
            kind = (value.type_name if isinstance(value, GGUFArray)
                    else value_type_name(header.metadata_types.get(key, -1)))
            row(meta, key, kind, _shown(value))
        console.print(meta)
