"""``workbench synth``: write a random-weight model in the exact tensor layout of a real one."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.commands.lazy import LazyChoices, LazyHelpFormatter, LazyText
from workbench.errors import BadInput

if TYPE_CHECKING:  # workbench.synth imports numpy and gguf: only when a model is written
    from workbench.synth import SynthResult

SHOW_PROGRESS_BYTES = 256 << 20  # progress bars only for models that take a while


def register(subparsers: Any) -> None:
    from workbench.commands.output import add_json_flag

    parser = subparsers.add_parser(
        "synth",
        help="write a synthetic (random-weight) GGUF model in a real architecture's shape",
        description="Write a random-weight GGUF model in the exact tensor layout of a real "
                    "architecture, with a working byte-level BPE tokenizer and the real model "
                    "family's chat template; llama.cpp loads and runs it like the real model, "
                    "so speed and memory measured on it are real. Without --preset the "
                    "architecture's tiny test shape is written.",
        epilog=LazyText(_epilog),
        formatter_class=LazyHelpFormatter,
    )
    parser.add_argument("out", nargs="?", type=Path, metavar="OUT.gguf",
                        help="the file to write")
    parser.add_argument("--arch", help="architecture (implied by --preset)")
    parser.add_argument("--preset", help="a real model's shape (see --list)")
    parser.add_argument("--layers", type=int, metavar="N",
                        help="keep the shape but use N layers")
    parser.add_argument("--quant", default="F16", metavar="TYPE",
                        help=LazyText(lambda: "quantisation: " + ", ".join(_synth().QUANT_TYPES)
                                      + " (default: F16)"))
    parser.add_argument("--seed", type=int, default=0, metavar="N",
                        help="random seed; the same seed gives the same file (default: 0)")
    parser.add_argument("--vocab", type=int, metavar="N", help="vocabulary size override")
    parser.add_argument("--ctx", type=int, metavar="N", help="training context length override")
    parser.add_argument("--threads", type=int, metavar="N",
                        help="quantiser threads (default: all cores)")
    parser.add_argument("--fault", choices=LazyChoices(lambda: _synth().FAULTS), metavar="KIND",
                        help=LazyText(_fault_help))
    parser.add_argument("--list", action="store_true",
                        help="list the architectures and presets, then exit")
    add_json_flag(parser)
    parser.set_defaults(func=handler)


def _synth() -> Any:
    import workbench.synth

    return workbench.synth


def _epilog() -> str:
    synth = _synth()
    presets = ", ".join(name for name in synth.PRESETS if not name.endswith("-tiny"))
    quants = ", ".join(q for q in synth.QUANT_TYPES if q not in ("F32", "F16"))
    return (f"Architectures: {', '.join(synth.ARCHITECTURES)}. Presets: {presets} (and "
            "<arch>-tiny). Quantisations: F32 and F16 are written directly; "
            f"{quants} are made by llama.cpp's quantiser (the IQ1/IQ2/IQ3_XXS types with a "
            "uniform importance matrix; MXFP4 and NVFP4 in every block weight). Rows that do "
            "not fit a type's blocks fall back to a type that fits, as in llama.cpp.")


def _fault_help() -> str:
    faults = "; ".join(f"{name}: {text}" for name, text in _synth().FAULTS.items())
    return f"for testing crash handling: write a deliberately broken model ({faults})"


def handler(args: argparse.Namespace) -> int:
    from workbench.commands.output import emit

    if args.list:
        emit(args, _listing(), _print_listing)
        return 0
    if args.out is None:
        raise BadInput("synth: give the output file, e.g. workbench synth model.gguf --arch llama")
    if args.threads is not None and args.threads < 1:
        raise BadInput(f"--threads must be 1 or more, not {args.threads}")
    from workbench.synth import synthesize
    from workbench.synth.layout import tensors_for
    from workbench.synth.presets import resolve_shape
    from workbench.synth.writer import tensor_nbytes

    shape = resolve_shape(args.arch, args.preset, layers=args.layers, vocab_size=args.vocab,
                          ctx=args.ctx)
    big = sum(tensor_nbytes(t, "F16") for t in tensors_for(shape)) >= SHOW_PROGRESS_BYTES
    kwargs = dict(preset=args.preset, layers=args.layers, quant=args.quant, seed=args.seed,
                  vocab_size=args.vocab, ctx=args.ctx, fault=args.fault, threads=args.threads)
    if big:
        result = _with_progress(args.out, shape.arch, kwargs)
    else:
        result = synthesize(args.out, shape.arch, **kwargs)
    emit(args, result.to_dict(), lambda: _print_result(result))
    return 0


def _with_progress(out: Path, arch: str, kwargs: dict[str, Any]) -> SynthResult:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from workbench.synth import synthesize

    columns = (TextColumn("{task.description}"), BarColumn(),
               TextColumn("{task.percentage:>3.0f}%"), TimeRemainingColumn())
    with Progress(*columns, console=Console(file=sys.stderr), transient=True) as bars:
        tasks: dict[str, Any] = {}
        labels = {"write": "writing weights", "quantize": f"quantising to {kwargs['quant']}"}

        def on_progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bars.add_task(labels[stage], total=total)
            bars.update(tasks[stage], completed=done, total=total)

        return synthesize(out, arch, progress=on_progress, **kwargs)


def _human_size(n: float) -> str:
    from workbench.present.numbers import format_bytes

    return format_bytes(n)


def _count(n: int) -> str:
    from workbench.present.numbers import format_count

    return format_count(n)


def _print_result(r: SynthResult) -> None:
    fault = f", fault: {r.fault}" if r.fault else ""
    layers = f"{r.layers} layer{'s' * (r.layers != 1)}"
    print(f"wrote {r.path}: {r.preset} ({r.arch}, {layers}, {r.n_params:,} parameters, "
          f"vocab {r.vocab_size}, context {r.context_length}), {r.quant}, "
          f"{_human_size(r.size_bytes)}, seed {r.seed}{fault}, in {r.seconds:.1f} s")


def _listing() -> dict[str, Any]:
    from workbench.synth import ARCHITECTURES, FAULTS, PRESETS, QUANT_TYPES
    from workbench.synth.layout import count_parameters, tensors_for

    return {
        "architectures": dict(ARCHITECTURES),
        "presets": [dict(shape.to_dict(), n_params=count_parameters(tensors_for(shape)))
                    for shape in PRESETS.values()],
        "quant_types": dict(QUANT_TYPES),
        "faults": dict(FAULTS),
    }


def _print_listing() -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    listing = _listing()
    table = Table(title="Presets (workbench synth --preset NAME)", title_justify="left",
                  box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False)
    for column in ("preset", "layers", "embd", "heads", "vocab", "context", "params", "moe"):
        table.add_column(column, no_wrap=True)
    for p in listing["presets"]:
        table.add_row(p["name"], str(p["n_layer"]), str(p["n_embd"]),
                      f"{p['n_head']}/{p['n_head_kv']}", str(p["n_vocab"]), str(p["n_ctx"]),
                      _count(p["n_params"]),
                      f"{p['n_expert_used']}/{p['n_expert']}" if p["n_expert"] else "-")
    console = Console(file=sys.stdout, highlight=False, markup=False)
    console.print(table)
    console.print("Architectures: " + ", ".join(listing["architectures"]))
    console.print("Quantisations: " + ", ".join(listing["quant_types"]))
