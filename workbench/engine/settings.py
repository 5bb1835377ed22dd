"""What a model is loaded with and what an answer is sampled with (plain data, JSON-friendly)."""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import psutil

from workbench.engine.tool_calls import check_tool_request
from workbench.errors import BadInput

KV_TYPES = ("f16", "q8_0", "q4_0")


class ChatFormat(NamedTuple):
    label: str
    description: str


# How a conversation is put to a local model: the GGUF's own template, none (raw text is
# continued, for base models), or one of llama.cpp's built-in chat formats.
CHAT_FORMATS: dict[str, ChatFormat] = {
    "auto": ChatFormat("Model's template", "the chat template in the model's GGUF file (a "
                       "plain User:/Assistant: transcript when it has none)"),
    "completion": ChatFormat("Completion (raw text)", "no chat: the text is continued as "
                             "written, for base models"),
    "chatml": ChatFormat("ChatML", "<|im_start|>role ... <|im_end|> (Qwen, SmolLM, Yi, many "
                         "fine-tunes)"),
    "llama-3": ChatFormat("Llama 3", "<|start_header_id|>role<|end_header_id|> ... <|eot_id|>"),
    "gemma": ChatFormat("Gemma", "<start_of_turn>role ... <end_of_turn>"),
    "mistral": ChatFormat("Mistral", "[INST] ... [/INST]"),
    "phi-3": ChatFormat("Phi-3", "<|user|> ... <|end|><|assistant|>"),
}

FlashAttn = Literal["on", "off", "auto"]
SAFE_MODE_MAX_CTX = 2048
MAX_STOPS = 16  # stop sequences per answer (OpenAI allows 4, Anthropic more)
MAX_STOP_CHARS = 500


def physical_cores() -> int:
    """Threads llama.cpp should use by default: one per physical core (never the SMT siblings)."""
    return psutil.cpu_count(logical=False) or psutil.cpu_count() or 1


@dataclass(frozen=True)
class LoadSettings:
    """How to load a model. ``None`` fields mean "Workbench decides" (see resolved())."""

    model_path: str
    n_ctx: int = 4096
    n_gpu_layers: int = 0  # -1: every layer
    flash_attn: FlashAttn = "auto"
    kv_type: str = "f16"
    threads: int | None = None
    n_batch: int = 512
    n_ubatch: int = 512
    seed: int = -1  # -1: random
    repack: bool | None = None  # CPU weight repacking (llama.cpp extra buffer types); None: probe
    use_mmap: bool = True
    # Sliding-window layers keep only their window (llama-server's default); True gives them the
    # full context, as llama-cpp-python's C default would (3-6x the KV cache on Gemma 3).
    swa_full: bool = False
    # Load for embeddings (llama.cpp's embedding mode): the model then answers ``embed`` requests
    # (one pooled, unit-length vector per input) and no chat. Each input is decoded in one
    # batch, so the worker raises n_batch and n_ubatch to the context (``embedding_load``).
    embedding: bool = False
    # LoRA adapters applied to the model: (path, scale) each, in order; a scale of 0 loads the
    # adapter but leaves the model's answers as they are. Checked against the model's header
    # before llama.cpp sees them (workbench.engine.defaults.resolve_load_settings).
    loras: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "loras", _lora_entries(self.loras))
        if self.kv_type not in KV_TYPES:
            raise BadInput(f"unknown KV cache type {self.kv_type!r} (use one of {KV_TYPES})")
        if self.flash_attn not in ("on", "off", "auto"):
            raise BadInput(f"flash attention must be on, off or auto, not {self.flash_attn!r}")
        if self.n_ctx < 0 or self.n_ctx > 1 << 24:
            raise BadInput(f"context length {self.n_ctx} is out of range")
        if self.n_gpu_layers < -1:
            raise BadInput("GPU layers must be -1 (all) or a count >= 0")
        if self.threads is not None and self.threads < 1:
            raise BadInput("threads must be at least 1")
        if self.n_batch < 1 or self.n_ubatch < 1:
            raise BadInput("batch sizes must be at least 1")

    def safe(self) -> LoadSettings:
        """Safe mode: no weight repacking, CPU only, a smaller context, memory-mapped weights."""
        n_ctx = min(self.n_ctx, SAFE_MODE_MAX_CTX) if self.n_ctx else SAFE_MODE_MAX_CTX
        return dataclasses.replace(
            self, repack=False, n_gpu_layers=0, n_ctx=n_ctx, use_mmap=True
        )

    def embedding_load(self) -> LoadSettings:
        """These settings as an embedding load runs them: ``embedding`` on, and n_batch and
        n_ubatch raised to the context. llama.cpp pools an input over the micro-batch it was
        decoded in: an input split over two would be pooled over its last part only, so the
        longest input a load takes is its context, decoded whole (the memory planner counts
        the larger compute buffer from these figures). A context of 0 (the model's own) is
        left to the worker, which reads the trained context from the file."""
        n = self.n_ctx
        return dataclasses.replace(self, embedding=True, n_batch=n or self.n_batch,
                                   n_ubatch=n or self.n_ubatch)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``loras`` as a list of [path, scale] lists (as JSON gives it back)."""
        return dataclasses.asdict(self) | {"loras": [list(entry) for entry in self.loras]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LoadSettings:
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - fields
        if unknown:
            raise BadInput(f"unknown load settings: {', '.join(sorted(unknown))}")
        return cls(**data)


MAX_LORAS = 16  # adapters per load


def _lora_entries(loras: Any) -> tuple[tuple[str, float], ...]:
    """``loras`` as a tuple of (path, scale) tuples (JSON gives lists); ``BadInput`` unless
    every path is a non-empty string and every scale a finite number."""
    if not isinstance(loras, list | tuple):
        raise BadInput("loras must be a list of [path, scale] pairs")
    if len(loras) > MAX_LORAS:
        raise BadInput(f"at most {MAX_LORAS} LoRA adapters, not {len(loras)}")
    entries = []
    for entry in loras:
        if not isinstance(entry, list | tuple) or len(entry) != 2:
            raise BadInput(f"a LoRA adapter is a [path, scale] pair, not {entry!r}")
        path, scale = entry
        if not isinstance(path, str) or not path:
            raise BadInput("a LoRA adapter's path must be a non-empty string")
        if isinstance(scale, bool) or not isinstance(scale, int | float):
            raise BadInput(f"the scale of LoRA adapter {path} must be a number, not {scale!r}")
        if not math.isfinite(scale):
            raise BadInput(f"the scale of LoRA adapter {path} must be finite, not {scale}")
        entries.append((path, float(scale)))
    return tuple(entries)


def parse_lora(text: str, *, what: str = "--lora") -> tuple[str, float]:
    """``FILE[@SCALE]`` as (path, scale), the scale 1.0 when not given; a path that itself
    holds an ``@`` is taken whole when it names a file. ``BadInput`` (its message starting with
    ``what``, e.g. ``--lora a.gguf@x``) for a scale that is not a finite number. The one
    reading of an adapter with its scale: ``--lora``, a target's ``+lora:`` and
    ``serve --model``'s."""
    path, at, scale_text = text.rpartition("@")
    if not at or (os.path.isfile(text) and not _is_number(scale_text)):
        path, scale = text, 1.0
    else:
        try:
            scale = float(scale_text)
        except ValueError:
            raise BadInput(f"{what} {text}: the scale after '@' must be a number, not "
                           f"{scale_text!r}") from None
        if not math.isfinite(scale):
            raise BadInput(f"{what} {text}: the scale must be a finite number")
    if not path:
        raise BadInput(f"{what} {text}: give the adapter file before '@'")
    return path, scale


def format_scale(scale: float) -> str:
    """A LoRA scale as written: ``0.8``, ``1``, ``-0.5`` (``repr`` where ``:g`` would round)."""
    short = f"{scale:g}"
    return short if float(short) == scale else repr(scale)


def format_lora(path: str, scale: float) -> str:
    """``FILE[@SCALE]``, which ``parse_lora`` reads back: the scale left out when it is 1 (and
    the path holds no ``@`` that would be read as one)."""
    if scale == 1.0 and "@" not in path:
        return path
    return f"{path}@{format_scale(scale)}"


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class Sampling:
    """How one answer is asked for: the sampling parameters and the chat format."""

    temperature: float = 0.7
    top_k: int = 40
    top_p: float = 0.95
    min_p: float = 0.05
    repeat_penalty: float = 1.0
    max_tokens: int = 512
    seed: int | None = None
    ignore_eos: bool = False  # generate exactly max_tokens (benchmarks, stress tests)
    chat_format: str = "auto"  # one of CHAT_FORMATS
    # A JSON Schema (as JSON text) the answer must follow: sampled through llama.cpp's grammar
    # built from it, which ends the answer (end of generation) once the JSON is complete.
    json_schema: str | None = None
    # The caller's own stop sequences: the answer ends before the first of them (not included),
    # like the chat format's end-of-turn strings.
    stop: tuple[str, ...] = ()
    # Tools the model may call (OpenAI's list, as JSON text; workbench.engine.tool_calls) and
    # whether it must: "auto" (it decides), "required" (one call to one of them), or
    # "function:NAME" (one call to that one); a forced call is sampled through a grammar.
    tools: str | None = None
    tool_choice: str = "auto"

    def __post_init__(self) -> None:
        if isinstance(self.stop, str | list):  # JSON gives a list; one string is one stop
            object.__setattr__(self, "stop", (self.stop,) if isinstance(self.stop, str)
                               else tuple(self.stop))
        if len(self.stop) > MAX_STOPS:
            raise BadInput(f"at most {MAX_STOPS} stop sequences, not {len(self.stop)}")
        for stop in self.stop:
            if not isinstance(stop, str) or not stop:
                raise BadInput("a stop sequence must be a non-empty string")
            if len(stop) > MAX_STOP_CHARS:
                raise BadInput(f"a stop sequence may be at most {MAX_STOP_CHARS} characters")
        if self.json_schema is not None:
            try:
                schema = json.loads(self.json_schema)
            except (TypeError, ValueError) as err:
                raise BadInput(f"json_schema is not JSON text: {err}") from None
            if not isinstance(schema, dict):
                raise BadInput("json_schema must be a JSON Schema object")
        if self.tools is not None:
            check_tool_request(self.tools, self.tool_choice, json_schema=self.json_schema)
        elif self.tool_choice != "auto":
            raise BadInput("tool_choice needs tools")
        if self.chat_format not in CHAT_FORMATS:
            raise BadInput(f"unknown chat format {self.chat_format!r}; choose from: "
                           f"{', '.join(CHAT_FORMATS)}")
        if self.temperature < 0:
            raise BadInput("temperature must be >= 0")
        if not 0 < self.top_p <= 1 or not 0 <= self.min_p <= 1:
            raise BadInput("top_p must be in (0, 1] and min_p in [0, 1]")
        if self.max_tokens < 1:
            raise BadInput("max_tokens must be at least 1")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Sampling:
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in fields})
