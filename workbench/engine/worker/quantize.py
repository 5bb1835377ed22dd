"""Quantise a GGUF model with llama.cpp's own quantiser, in a process of its own.

    python -m workbench.engine.worker.quantize IN.gguf OUT.gguf TYPE [--threads N] [--progress]

TYPE is one of QUANT_FTYPES (llama.cpp's ``LLAMA_FTYPE_*`` names without the prefix). llama.cpp
can abort or crash the process; callers run this module with ``subprocess`` and read the outcome
from the exit status: 0 done, 1 llama.cpp failed (one line on stderr says why), 2 bad arguments,
negative = killed by a signal. With ``--progress`` each tensor done prints ``progress I N`` on
stdout. ``--verbose`` passes llama.cpp's log through to stderr.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import re
import sys
from pathlib import Path

# Name -> attribute of llama_cpp. None of these needs an importance matrix.
QUANT_FTYPES: dict[str, str] = {
    "F32": "LLAMA_FTYPE_ALL_F32",
    "F16": "LLAMA_FTYPE_MOSTLY_F16",
    "BF16": "LLAMA_FTYPE_MOSTLY_BF16",
    "Q8_0": "LLAMA_FTYPE_MOSTLY_Q8_0",
    "Q6_K": "LLAMA_FTYPE_MOSTLY_Q6_K",
    "Q5_K_M": "LLAMA_FTYPE_MOSTLY_Q5_K_M",
    "Q5_K_S": "LLAMA_FTYPE_MOSTLY_Q5_K_S",
    "Q4_K_M": "LLAMA_FTYPE_MOSTLY_Q4_K_M",
    "Q4_K_S": "LLAMA_FTYPE_MOSTLY_Q4_K_S",
    "Q4_0": "LLAMA_FTYPE_MOSTLY_Q4_0",
    "Q3_K_M": "LLAMA_FTYPE_MOSTLY_Q3_K_M",
    "Q2_K": "LLAMA_FTYPE_MOSTLY_Q2_K",
    "IQ4_XS": "LLAMA_FTYPE_MOSTLY_IQ4_XS",
}

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
    parser.add_argument("type", type=str.upper, choices=list(QUANT_FTYPES), metavar="TYPE")
    parser.add_argument("--threads", type=int, default=0, help="0: all cores (default)")
    parser.add_argument("--progress", action="store_true", help="print 'progress I N' lines")
    parser.add_argument("--verbose", action="store_true", help="show llama.cpp's log")
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
    params.ftype = getattr(llama_cpp, QUANT_FTYPES[args.type])
    params.nthread = args.threads
    rc = llama_cpp.llama_model_quantize(os.fsencode(args.src), os.fsencode(args.dst),
                                        ctypes.byref(params))
    if rc != 0 or not args.dst.is_file():
        reason = errors[-1] if errors else f"llama_model_quantize returned {rc}"
        print(f"{PROG}: error: {reason}", file=sys.stderr)
        args.dst.unlink(missing_ok=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
