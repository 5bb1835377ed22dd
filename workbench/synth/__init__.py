"""Synthetic GGUF models: random weights in the exact tensor layout of real architectures.

They load and run in llama.cpp like the real thing (same tensors, metadata, a working byte-level
BPE tokenizer and the real family's chat template), so speed and memory measured on them are
real. Nothing here imports llama_cpp: quantisation runs in a child process.

    synthesize(out, arch, preset=..., layers=..., quant=..., seed=...) -> SynthResult
    tiny_model(arch, quant="Q8_0", fault=None) -> Path      (cached test models)
    plan_tensors(arch, preset, layers) -> [(name, shape)]   (no weights written)
    write_lora_adapter(out, base, rank=..., targets=..., mismatch=None) -> Path  (a LoRA)
"""

from workbench.synth.adapter import MISMATCHES as LORA_MISMATCHES
from workbench.synth.adapter import write_lora_adapter
from workbench.synth.build import (
    FAULTS,
    SynthCancelled,
    SynthResult,
    synth_cache_dir,
    synthesize,
    tiny_model,
)
from workbench.synth.layout import TensorSpec, count_parameters, plan_tensors
from workbench.synth.presets import ARCHITECTURES, PRESETS, ModelShape, resolve_shape
from workbench.synth.quantizer import QUANT_TYPES
from workbench.synth.writer import SYNTH_FORMAT_VERSION

__all__ = [
    "ARCHITECTURES",
    "FAULTS",
    "LORA_MISMATCHES",
    "PRESETS",
    "QUANT_TYPES",
    "SYNTH_FORMAT_VERSION",
    "ModelShape",
    "SynthCancelled",
    "SynthResult",
    "TensorSpec",
    "count_parameters",
    "plan_tensors",
    "resolve_shape",
    "synth_cache_dir",
    "synthesize",
    "tiny_model",
    "write_lora_adapter",
]
