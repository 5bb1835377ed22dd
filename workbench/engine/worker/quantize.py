"""Quantise a GGUF model with llama.cpp's own quantiser, in a process of its own.

    python -m workbench.engine.worker.quantize IN.gguf OUT.gguf TYPE [--threads N] [--progress]

TYPE is a key of workbench.synth.quant_types.QUANTS. Types that need an importance matrix get a
uniform one (every column equally important: the synthetic weights have no preferred inputs),
passed through the C API's ``llama_model_imatrix_data`` array; MXFP4 gets its tensor-type
override. llama.cpp can abort or crash the process; callers run this module with ``subprocess``
and read the outcome from the exit status: 0 done, 1 llama.cpp failed (one line on stderr says
why), 2 bad arguments, negative = killed by a signal. With ``--progress`` each tensor done prints
``progress I N`` on stdout. ``--verbose`` passes llama.cpp's log through to stderr.
``--allow-requantize`` lets llama.cpp quantise weights that are quantised already.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import re
import sys
from pathlib import Path
from typing import Any

from workbench.synth.quant_types import QUANTS, QuantType

PROG = "python -m workbench.engine.worker.quantize"
_TENSOR_LINE = re.compile(r"^\[\s*(\d+)/\s*(\d+)\]")
GGML_LOG_LEVEL_ERROR, GGML_LOG_LEVEL_CONT = 4, 5  # ggml.h


class _Args(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"{PROG}: error: {message}", file=sys.stderr)
        sys.exit(2)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = _Args(prog=PROG, description="Quantise a GGUF model with llama.cpp.")
    parser.add_argument("src", type=Path, metavar="IN")
    parser.add_argument("dst", type=Path, metavar="OUT")
    parser.add_argument("type", type=str.upper, choices=list(QUANTS), metavar="TYPE")
    parser.add_argument("--threads", type=int, default=0, help="0: all cores (default)")
    parser.add_argument("--progress", action="store_true", help="print 'progress I N' lines")
    parser.add_argument("--verbose", action="store_true", help="show llama.cpp's log")
    parser.add_argument("--allow-requantize", action="store_true",
                        help="quantise weights that are already quantised (a real model's "
                        "other quantisation, for tests: quality is that of the source's type)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    if not args.src.is_file():
        print(f"{PROG}: error: input model not found: {args.src}", file=sys.stderr)
        return 2
    if args.threads < 0:
        print(f"{PROG}: error: --threads must be 0 or more", file=sys.stderr)
        return 2

    import llama_cpp

    errors: list[str] = []
    last_level = [0]

    @llama_cpp.llama_log_callback
    def on_log(level: int, text: bytes, _user: ctypes.c_void_p) -> None:
        message = text.decode("utf-8", errors="replace")
        level = last_level[0] if level == GGML_LOG_LEVEL_CONT else level
        last_level[0] = level
        if args.verbose:
            sys.stderr.write(message)
        if level == GGML_LOG_LEVEL_ERROR and message.strip():
            errors.append(message.strip())
        match = _TENSOR_LINE.match(message)
        if args.progress and match:
            print(f"progress {match.group(1)} {match.group(2)}", flush=True)

    llama_cpp.llama_log_set(on_log, ctypes.c_void_p(0))
    llama_cpp.llama_backend_init()
    params = llama_cpp.llama_model_quantize_default_params()
    quant = QUANTS[args.type]
    params.ftype = getattr(llama_cpp, quant.ftype)
    params.nthread = args.threads
    params.allow_requantize = args.allow_requantize
    keep = _special_inputs(llama_cpp, params, quant, args.src)  # alive until quantised
    rc = llama_cpp.llama_model_quantize(os.fsencode(args.src), os.fsencode(args.dst),
                                        ctypes.byref(params))
    if rc != 0 or not args.dst.is_file():
        reason = errors[-1] if errors else f"llama_model_quantize returned {rc}"
        print(f"{PROG}: error: {reason}", file=sys.stderr)
        args.dst.unlink(missing_ok=True)
        return 1
    del keep
    return 0


def _special_inputs(llama_cpp: Any, params: Any, quant: QuantType, src: Path) -> list[Any]:
    """Set the importance matrix, tensor-type and file-type overrides ``quant`` needs.

    Returns the ctypes objects the pointers refer to: the caller keeps them alive.
    """
    keep: list[Any] = []
    if quant.imatrix:
        entries = uniform_imatrix(src)
        array = (llama_cpp.llama_model_imatrix_data * (len(entries) + 1))()
        for index, (name, size) in enumerate(entries):
            values = (ctypes.c_float * size)(*([1.0] * size))
            keep += [name, values]
            array[index] = llama_cpp.llama_model_imatrix_data(name, values, size)
        params.imatrix = array  # the last entry stays zeroed: a NULL name ends the list
        keep.append(array)
    if quant.override is not None:
        from gguf import GGMLQuantizationType

        overrides = (llama_cpp.llama_model_tensor_override * 2)()
        overrides[0].pattern = quant.override.encode()
        overrides[0].type = int(GGMLQuantizationType[quant.tensor_type])
        params.tt_overrides = overrides
        keep.append(overrides)
    if quant.file_type is not None:
        kv = (llama_cpp.llama_model_kv_override * 2)()
        kv[0].tag = llama_cpp.LLAMA_KV_OVERRIDE_TYPE_INT
        kv[0].key = b"general.file_type"
        kv[0].value.val_i64 = getattr(llama_cpp, quant.file_type)
        params.kv_overrides = kv
        keep.append(kv)
    return keep


def uniform_imatrix(src: Path) -> list[tuple[bytes, int]]:
    """(tensor name, imatrix length) for every matrix in ``src``: one weight per input column
    (ne0) and expert (ne2), as llama.cpp's quantiser expects them."""
    from workbench.gguf import read_header

    entries = []
    for tensor in read_header(src).tensors:
        if len(tensor.shape) >= 2:
            experts = tensor.shape[2] if len(tensor.shape) > 2 else 1
            entries.append((tensor.name.encode(), tensor.shape[0] * experts))
    return entries


if __name__ == "__main__":
    sys.exit(main())
