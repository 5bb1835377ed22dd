"""``workbench estimate MODEL``: how much memory llama.cpp will need, before loading (or
downloading) anything: the plan is computed from the GGUF header alone (path or URL)."""

from __future__ import annotations

import argparse
import os
from typing import Any

from workbench.errors import BadInput

GiB = 1 << 30
FLASH_CHOICES = ("on", "off", "auto")


def register(subparsers: Any) -> None:
    from workbench.commands.output import add_json_flag

    parser = subparsers.add_parser(
        "estimate",
        help="estimate the memory a model needs (reads only its header)",
        description="Plan the memory llama.cpp will allocate for MODEL (a .gguf path or an "
                    "http(s) URL; only the header is read): weights per layer, KV cache, "
                    "compute and output buffers, split between GPU and CPU. With "
                    "--gpu-layers auto it picks the GPU layers and context that fit this "
                    "machine's free memory, as llama.cpp's --fit does.",
    )
    parser.add_argument("model", metavar="MODEL", help="a .gguf file or an http(s) URL")
    parser.add_argument("--ctx", type=int, default=4096, metavar="N",
                        help="context length (0: the model's trained context; default: 4096)")
    parser.add_argument("--ubatch", type=int, default=512, metavar="N",
                        help="physical batch size (default: 512)")
    parser.add_argument("--batch", type=int, default=512, metavar="N",
                        help="logical batch size (default: 512)")
    parser.add_argument("--gpu-layers", default="0", metavar="N|auto",
                        help="layers to offload (-1: all), or auto to fit the free memory "
                             "(default: 0)")
    parser.add_argument("--kv-type", choices=("f16", "q8_0", "q4_0"), default="f16",
                        help="KV cache type (default: f16)")
    parser.add_argument("--flash-attn", nargs="?", const="on", default="auto",
                        choices=FLASH_CHOICES,
                        help="flash attention (a bare --flash-attn means on; default: auto)")
    parser.add_argument("--backend", choices=("auto", "cpu", "cuda", "rocm", "metal", "vulkan"),
                        default="auto",
                        help="GPU backend to plan for (default: from the detected hardware)")
    parser.add_argument("--vram", type=float, metavar="GIB",
                        help="free GPU memory to plan with, instead of detecting it")
    parser.add_argument("--ram", type=float, metavar="GIB",
                        help="free RAM to plan with, instead of detecting it")
    parser.add_argument("--margin", type=float, default=1.0, metavar="GIB",
                        help="memory to leave free per GPU with --gpu-layers auto (default: 1)")
    parser.add_argument("--full-swa", action="store_true",
                        help="sliding-window layers hold the full context (llama.cpp's C "
                             "default), not only their window (Workbench's default)")
    parser.add_argument("--calibrate", action="store_true",
                        help="measure this machine for the speed preview if no calibration "
                             "fits yet (seconds to a minute; cached)")
    parser.add_argument("--profile", action="store_true",
                        help="measure this CPU's kernel profile for the weight types the "
                             "model uses, if not stored yet (a few seconds per type, once; "
                             "then the preview is a prediction, not an upper bound)")
    parser.add_argument(
        "--lora", action="append", default=[], metavar="FILE[@SCALE]",
        help="plan a LoRA adapter (GGUF) loaded with the model at a scale (default 1.0); "
             "repeat for several. Its tensors join the weights, and the speed preview reads "
             "them per token")
    parser.add_argument("--hf-token", action="store_true",
                        help="send $HF_TOKEN as a Bearer token (gated or private models)")
    add_json_flag(parser)
    parser.set_defaults(func=handler)


def _gpu_layers(value: str) -> int | None:
    if value == "auto":
        return None
    try:
        n = int(value)
    except ValueError:
        raise BadInput(f"--gpu-layers must be a number or auto, not {value!r}") from None
    if n < -1:
        raise BadInput("--gpu-layers must be -1 (all), a count >= 0, or auto")
    return n


def _hardware(args: argparse.Namespace) -> tuple[str, list[int], int, str | None]:
    """(backend, free VRAM per GPU, free RAM, a note) from the options, else the machine."""
    backend = args.backend
    ram: int | None = int(args.ram * GiB) if args.ram is not None else None
    frees: list[int] = [int(args.vram * GiB)] if args.vram is not None else []
    note = None
    if backend != "auto" and ram is not None and (args.vram is not None or backend == "cpu"):
        return backend, frees, ram, note
    from workbench.hardware import detect

    # the llama.cpp probe (cached) says which GPU backends the build has; not needed when the
    # user gave the GPU memory
    report = detect(probe_llama=args.vram is None)
    if ram is None:
        ram = report.ram.available_bytes or report.ram.total_bytes or 0
    usable = [g for g in report.gpus if g.llama_usable is not False and g.vram_free_bytes]
    if backend == "auto":
        from workbench.planner.recommend import planner_backend

        gpus = usable or report.gpus
        backend = planner_backend(gpus[0].vendor, report) if gpus else "cpu"
        if backend == "cpu" and args.vram is not None:
            backend = "cuda"
            note = "no GPU detected: planned for a CUDA GPU with the --vram given"
        elif backend == "cpu" and report.gpus:
            note = "llama.cpp cannot use this machine's GPU: planned for the CPU"
    if args.vram is None and backend != "cpu":
        frees = [int(g.vram_free_bytes) for g in usable]  # type: ignore[arg-type]
    return backend, frees, int(ram or 0), note


def handler(args: argparse.Namespace) -> int:
    from workbench.commands.output import emit
    from workbench.gguf import read_split_headers, summarize
    from workbench.planner import estimate_memory, model_params, plan_offload

    if args.ctx < 0 or args.ubatch < 1 or args.batch < 1:
        raise BadInput("--ctx must be >= 0 and the batch sizes >= 1")
    if args.margin < 0:
        raise BadInput("--margin cannot be negative")
    ngl = _gpu_layers(args.gpu_layers)
    token = None
    if args.hf_token:
        token = os.environ.get("HF_TOKEN")
        if not token:
            raise BadInput("--hf-token was given but the HF_TOKEN environment variable is empty")
    headers = read_split_headers(args.model, token=token)
    summary = summarize(headers)
    params = model_params(headers)
    loras = _adapters(args, headers)
    settings = {"n_ubatch": args.ubatch, "n_batch": args.batch, "kv_type": args.kv_type,
                "flash_attn": args.flash_attn, "swa_full": args.full_swa, "loras": loras}
    offload = None
    notes: list[str] = []
    if ngl is None:
        backend, frees, ram, note = _hardware(args)
        if note:
            notes.append(note)
        offload = plan_offload(params, free_vram_bytes=frees, free_ram_bytes=ram,
                               n_ctx=args.ctx, margin_bytes=int(args.margin * GiB),
                               backend=backend, **settings)
        plan = offload.plan
    else:
        backend = args.backend
        if backend == "auto":
            backend = "cpu" if ngl == 0 else _hardware(args)[0]
        if ngl != 0 and backend == "cpu":
            notes.append("no GPU backend: the GPU layers were planned on the CPU")
        plan = estimate_memory(params, n_ctx=args.ctx, n_gpu_layers=ngl, backend=backend,
                               **settings)
    document = plan.to_dict()
    document.update({
        "model": args.model,
        "architecture": summary.architecture,
        "name": summary.name,
        "file_type": summary.file_type,
        "parameter_count": summary.parameter_count,
        "file_size": summary.file_size,
        **_speed(args, headers, plan, loras),
        "notes": [*plan.notes, *notes],
        "loras": [{"path": adapter.source, "scale": scale, "rank": adapter.rank,
                   "targets": list(adapter.targets), "bytes": adapter.tensor_data_size}
                  for adapter, scale in loras],
    })
    if offload is not None:
        document["offload"] = {k: v for k, v in offload.to_dict().items() if k != "plan"}
    emit(args, document, lambda: print_human(document, plan, offload))
    return 0


def _adapters(args: argparse.Namespace, headers: Any) -> list[tuple[Any, float]]:
    """``--lora`` FILE[@SCALE]: each adapter's summary and scale, checked against the model."""
    from workbench.engine.settings import parse_lora
    from workbench.gguf import check_adapter_fits, read_adapter

    loras = []
    for text in args.lora or ():
        path, scale = parse_lora(text)
        if not os.path.isfile(path):
            raise BadInput(f"no such LoRA adapter file: {path}")
        adapter = read_adapter(path)
        check_adapter_fits(adapter, headers)
        loras.append((adapter, scale))
    return loras


def _speed(args: argparse.Namespace, headers: Any, plan: Any,
           loras: list[tuple[Any, float]]) -> dict[str, Any]:
    """The speed preview for the planned GPU layers (workbench.planner.speed), the adapters'
    tensors read per token included."""
    from workbench.planner.speed import adapter_read_bytes, predict_speed

    gpu = None
    if plan.gpu_layers:
        from workbench.hardware import detect

        usable = [g for g in detect().gpus if g.llama_usable is not False]
        gpu = usable[0] if usable else None
    local = not str(args.model).startswith(("http://", "https://"))
    adapter_bytes = adapter_read_bytes(headers, loras, n_gpu_layers=plan.gpu_layers,
                                       backend=plan.backend)
    prediction = predict_speed(headers, gpu=gpu, n_gpu_layers=plan.gpu_layers,
                               model_path=os.path.abspath(args.model) if local else None,
                               calibrate_missing=args.calibrate, adapter_bytes=adapter_bytes,
                               profile_missing=args.profile)
    return {
        "predicted_prompt_tokens_per_s": prediction.pp_tokens_per_s,
        "predicted_gen_tokens_per_s": prediction.tg_tokens_per_s,
        # what the two figures are: measured, predicted, upper bound or rough
        "speed_kind": prediction.kind,
        "speed_note": f"{prediction.method}: {prediction.basis}",
    }


def print_human(document: dict[str, Any], plan: Any, offload: Any = None) -> None:
    from rich.console import Console
    from rich.table import Table

    from workbench.present.numbers import format_count, format_size
    from workbench.present.plans import memory_verdict
    from workbench.terminal_text import markup_escape as esc

    console = Console(highlight=False, emoji=False)
    title = document.get("name") or os.path.basename(document["model"])
    console.print(f"[bold]{esc(title)}[/bold]  {esc(document.get('architecture'))}, "
                  f"{format_count(document.get('parameter_count') or 0)} parameters, "
                  f"{esc(document.get('file_type') or '?')}, "
                  f"{format_size(document.get('file_size') or 0)} file")
    console.print(f"ctx {document['ctx']}, ubatch {document['n_ubatch']}, flash attention "
                  f"{'on' if document['flash_attn'] else 'off'}, KV {document['kv_type']}, "
                  f"backend {document['backend']}, GPU layers {document['gpu_layers']}/"
                  f"{document['n_layers']}")
    table = Table(show_header=True, header_style="bold")
    for column in ("", "GPU", "CPU", "total"):
        table.add_column(column, justify="left" if not column else "right")

    def row(label: str, gpu: int, cpu: int) -> None:
        table.add_row(label, *(format_size(n) if n else "-" for n in (gpu, cpu, gpu + cpu)))

    d = document
    row("weights", d["weights_gpu_bytes"], d["weights_cpu_bytes"])
    if d.get("adapter_gpu_bytes") or d.get("adapter_cpu_bytes"):
        row("  of which LoRA adapters", d["adapter_gpu_bytes"], d["adapter_cpu_bytes"])
    row("KV cache", d["kv_gpu_bytes"], d["kv_cpu_bytes"])
    row("compute buffer", d["compute_gpu_bytes"], d["compute_cpu_bytes"])
    row("output buffer", 0, d["output_bytes"])
    row("GPU overhead (est.)", d["overhead_bytes"], 0)
    table.add_section()
    row("total", d["gpu_bytes"], d["cpu_bytes"])
    console.print(table)
    for lora in d.get("loras") or []:
        console.print(f"LoRA adapter {esc(os.path.basename(lora['path']))} at scale "
                      f"{lora['scale']:g}: rank {lora['rank']}, "
                      f"{esc(', '.join(lora['targets']))}, {format_size(lora['bytes'])}")
    for note in d.get("notes") or []:
        console.print(f"[dim]note: {esc(note)}[/dim]")
    reason = offload.reason if offload is not None else None
    console.print(f"[bold]{esc(memory_verdict(plan, reason))}[/bold]")
    console.print(esc(estimate_speed_line(d)))


def estimate_speed_line(document: dict[str, Any]) -> str:
    """The speed preview in one line, saying plainly what kind of figure it is."""
    from workbench.present.plans import predicted_speed, speed_kind_words

    kind = document.get("speed_kind") or "predicted"
    parts = [f"{label} {figure}" for label, value in (
        ("generation", document.get("predicted_gen_tokens_per_s")),
        ("prompt", document.get("predicted_prompt_tokens_per_s")))
        if (figure := predicted_speed(value, kind=kind))]
    if not parts:
        return f"Speed: not predicted ({document.get('speed_note') or 'no figure'})"
    what = speed_kind_words(kind).meaning
    return f"Speed: {', '.join(parts)}. {what[0].upper()}{what[1:]}. {document.get('speed_note')}"
