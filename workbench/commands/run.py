"""``workbench run MODEL "PROMPT"``: one answer from a local model, with exact metrics."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from workbench.commands.output import add_json_flag, emit
from workbench.engine.client import ChatResult, LocalEngine
from workbench.engine.defaults import resolve_load_settings
from workbench.engine.errors import WorkerCrashed
from workbench.engine.protocol import LoadedModel
from workbench.engine.settings import CHAT_FORMATS, KV_TYPES, LoadSettings, Sampling, parse_lora
from workbench.errors import BadInput
from workbench.terminal_text import terminal_safe


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "run", help="answer one prompt with a local GGUF model (streams; metrics on stderr)")
    parser.add_argument("model", help="path of a GGUF file")
    parser.add_argument("prompt", help="the user message ('-' reads it from stdin)")
    add_model_options(parser)
    add_lora_option(parser)
    parser.add_argument("--system", help="a system prompt")
    add_chat_format_option(parser)
    parser.add_argument("--max-tokens", type=int, default=256, help="answer length limit")
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--top-k", type=int, default=40)
    parser.add_argument("--top-p", type=float, default=0.95)
    parser.add_argument("--min-p", type=float, default=0.05)
    parser.add_argument("--repeat-penalty", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=None, help="sampling seed (reproducible)")
    add_json_flag(parser)
    parser.set_defaults(func=run)


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """The load options shared by every command that loads a model."""
    parser.add_argument("--ctx", type=int, default=4096, help="context length in tokens")
    parser.add_argument("--gpu-layers", type=int, default=0,
                        help="layers to offload to the GPU (-1: all)")
    parser.add_argument("--flash-attn", choices=("on", "off", "auto"), default="auto")
    parser.add_argument("--kv-type", choices=KV_TYPES, default="f16", help="KV cache type")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads (default: physical cores)")
    parser.add_argument("--ubatch", type=int, default=512, help="micro-batch size")
    parser.add_argument("--repack", choices=("on", "off", "auto"), default="auto",
                        help="CPU weight repacking (auto: on where this CPU was probed safe)")
    parser.add_argument("--safe-mode", action="store_true",
                        help="no repacking, CPU only, context <= 2048")


def add_lora_option(parser: argparse.ArgumentParser) -> None:
    """--lora FILE[@SCALE], repeatable: LoRA adapters applied to the model."""
    parser.add_argument(
        "--lora", action="append", default=[], metavar="FILE[@SCALE]",
        help="apply a LoRA adapter (GGUF) at a scale (default 1.0; 0 loads it without "
             "effect); repeat for several. It is checked against the model before loading")


def add_chat_format_option(parser: argparse.ArgumentParser,
                           applies_to: str = "the model") -> None:
    """--chat-format: how the prompt is put to a local model."""
    parser.add_argument(
        "--chat-format", choices=list(CHAT_FORMATS), default="auto",
        help=f"for {applies_to}: auto, the model's own template; completion, continue the "
             "prompt as raw text (base models); or a built-in format for a model whose "
             "template is missing or broken")


def load_settings_from(args: argparse.Namespace) -> LoadSettings:
    settings = LoadSettings(
        model_path=args.model,
        n_ctx=args.ctx,
        n_gpu_layers=args.gpu_layers,
        flash_attn=args.flash_attn,
        kv_type=args.kv_type,
        threads=args.threads,
        n_batch=max(args.ubatch, 512),
        n_ubatch=args.ubatch,
        repack={"on": True, "off": False, "auto": None}[args.repack],
        loras=tuple(parse_lora(text) for text in getattr(args, "lora", None) or ()),
    )
    return settings.safe() if args.safe_mode else settings


def run(args: argparse.Namespace) -> int:
    prompt = sys.stdin.read() if args.prompt == "-" else args.prompt
    if not prompt.strip():
        raise BadInput("the prompt is empty")
    settings = load_settings_from(args)
    sampling = Sampling(
        temperature=args.temperature, top_k=args.top_k, top_p=args.top_p, min_p=args.min_p,
        repeat_penalty=args.repeat_penalty, max_tokens=args.max_tokens, seed=args.seed,
        chat_format=args.chat_format,
    )
    messages = ([{"role": "system", "content": args.system}] if args.system else []) + [
        {"role": "user", "content": prompt}]
    stream = None if args.json else _write_stdout
    from workbench.hub.library import record_use  # the library's "last used"

    with LocalEngine(on_model_used=record_use) as engine:
        try:
            result, info = _answer(engine, settings, messages, sampling, stream)
        except WorkerCrashed as err:
            if settings == settings.safe():
                raise
            safe = settings.safe()
            print(f"workbench: {terminal_safe(err)}; retrying once in safe mode (no weight "
                  f"repacking, CPU only, context {safe.n_ctx})", file=sys.stderr)
            if stream is not None and err.partial_text:
                sys.stdout.write("\n")
            result, info = _answer(engine, safe, messages, sampling, stream)
            settings = safe
    document = {
        "text": result.text,
        "finish_reason": result.finish_reason,
        **result.metrics.to_dict(),
        "model": info.name or info.model_path,
        "chat_template": info.chat_template,
        "chat_format": sampling.chat_format,
        "notes": info.notes,
        "loras": [{"path": path, "scale": scale} for path, scale in info.loras],
        "settings": {**(engine.settings or settings).to_dict(), "threads": info.threads},
    }
    emit(args, document, lambda: _print_metrics(result))
    return 0


def _answer(engine: LocalEngine, settings: LoadSettings, messages: list[dict[str, str]],
            sampling: Sampling, stream: Any) -> tuple[ChatResult, LoadedModel]:
    info = engine.load(*resolve_load_settings(settings))
    for note in info.notes:
        print(f"workbench: {terminal_safe(note)}", file=sys.stderr)
    for path, scale in info.loras:
        print(f"workbench: LoRA adapter {terminal_safe(path)} at scale {scale:g}",
              file=sys.stderr)
    if not info.chat_template and sampling.chat_format == "auto":
        named = "|".join(name for name in CHAT_FORMATS if name not in ("auto", "completion"))
        print("workbench: answering with a plain 'User:/Assistant:' transcript; --chat-format "
              f"completion continues your text as written, --chat-format {named} picks a chat "
              "format", file=sys.stderr)
    return engine.chat(messages, sampling, on_delta=stream), info


def _write_stdout(text: str, _tokens: int = 0) -> None:
    """Stream answer text: model output, so its controls are made visible (``--json`` keeps
    the exact text)."""
    sys.stdout.write(terminal_safe(text))
    sys.stdout.flush()


def _print_metrics(result: ChatResult) -> None:
    sys.stdout.write("\n")
    sys.stdout.flush()
    m = result.metrics
    ttft = f"{m.ttft_ms:.0f} ms" if m.ttft_ms is not None else "n/a"
    parts = [
        f"TTFT {ttft}",
        f"prompt {m.prompt_tokens} tok" + (
            f" @ {m.prompt_tokens_per_s:.1f} tok/s" if m.prompt_tokens_per_s else ""),
        f"output {m.completion_tokens} tok" + (
            f" @ {m.gen_tokens_per_s:.1f} tok/s" if m.gen_tokens_per_s else ""),
        f"total {m.total_ms / 1000:.2f} s",
    ]
    if m.load_ms is not None:
        parts.append(f"load {m.load_ms / 1000:.2f} s")
    parts.append(f"finish: {result.finish_reason}")
    print("  ".join(parts), file=sys.stderr)
