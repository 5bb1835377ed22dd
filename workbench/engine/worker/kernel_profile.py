"""``python -m workbench.engine.worker.kernel_profile``: this machine's ggml kernels, timed.

The speed preview's machine profile (planner/machine_profile.py): for each weight type, how
long llama.cpp's own CPU kernels take to multiply a matrix of that type by one column
(generation: per byte of weights streamed from memory, plus per row, from a short-row and a
long-row matrix of 64 MiB each) and by a 512-token batch (prompt processing: per weight and
token); how long a graph node costs by itself (the threads meet after every op); and how fast
element-wise ops move bytes. It runs in a child process because it calls ggml directly (ctypes
on the libraries llama-cpp-python ships), and a native crash must cost only this measurement.

Prints ONE JSON object on stdout::

    {"version": 2, "threads": 2, "kernels": {"Q6_K": {"gemv_s_per_byte": ...,
     "gemv_s_per_row": ..., "gemm_s_per_weight": ...}, "Q4_K+repack": {...}},
     "node_s": ..., "elementwise_s_per_byte": ..., "skipped": {...}, "seconds": ...}

``--type T`` times weights of type T in plain memory; ``--repack T`` in the CPU backend's
repacking buffer, where llama.cpp's loader puts them when repacking is on (key ``T+repack``;
skipped when this CPU has no repacked layout for T). Neither: every type, plain.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

PROFILE_VERSION = 2
MATRIX_BYTES = 16 << 20  # one generation test matrix (a large model's layer matrix)
# bytes of weights streamed per generation test: twice the last-level cache, as a model's
# weights stream from memory (a 64 MiB test on a 480 MiB-L3 Xeon measured 2-3x too fast)
MIN_FOOTPRINT, MAX_FOOTPRINT = 256 << 20, 1 << 30
SHORT_ROW = 512  # generation rows: short and long, to split per-byte from per-row cost
LONG_ROW = 4096
GEMV_REPEATS = 4
GEMM_ROW = 2048  # prompt test: a 2048 x 4096 matrix (a 1-3B model's width) x 512 tokens
GEMM_ROWS = 4096
GEMM_FEW_ROWS = 256  # and a 2048 x 256 one (a K/V projection), for the per-input cost
GEMM_TOKENS = 512
GEMM_REPEATS = 2
ATTN_HEAD_DIM, ATTN_HEADS, ATTN_TOKENS = 128, 8, 512  # the attention test: pp512 of 8 heads
REPACKED_SUFFIX = "+repack"
# llama.cpp's loader tries the CPU's extra buffer types in order: AMX (on CPUs with AMX, for
# rows of a multiple of 2048 in current versions), then this one, the AVX2/AVX-512/NEON repacking
REPACK_BUFFER_NAME = b"CPU_REPACK"
NODE_OPS = 400
TENSOR_NAME_OFFSET = 256  # struct ggml_tensor (ggml.h): name[64] after data, extra after name
TENSOR_DATA_OFFSET = 248
TENSOR_EXTRA_OFFSET = 320
TYPES = ("F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K", "Q4_K",
         "Q5_K", "Q6_K", "IQ4_NL", "IQ4_XS", "IQ3_S", "IQ2_S", "TQ2_0", "MXFP4")

P = ctypes.c_void_p


class _InitParams(ctypes.Structure):
    _fields_ = [("mem_size", ctypes.c_size_t), ("mem_buffer", P), ("no_alloc", ctypes.c_bool)]


class Ggml:
    """The few ggml functions the profile needs, declared on the libraries llama_cpp loaded."""

    def __init__(self) -> None:
        import llama_cpp

        lib_dir = Path(llama_cpp.__file__).parent / "lib"
        suffix = ".dylib" if sys.platform == "darwin" else (".dll" if os.name == "nt" else ".so")
        prefix = "" if os.name == "nt" else "lib"
        libs = {name: ctypes.CDLL(str(lib_dir / f"{prefix}{name}{suffix}"))
                for name in ("ggml-base", "ggml-cpu", "ggml")
                if (lib_dir / f"{prefix}{name}{suffix}").exists()}
        if not libs:
            raise RuntimeError(f"no ggml libraries in {lib_dir}")
        self.libs = libs

        def fn(_lib: str, name: str, res: Any, *args: Any) -> Any:
            for lib in libs.values():  # exported by one of them; which one varies by version
                if hasattr(lib, name):
                    f = getattr(lib, name)
                    f.restype, f.argtypes = res, list(args)
                    return f
            raise AttributeError(f"ggml has no {name}")

        i64, sz, c_int, c_bool = ctypes.c_int64, ctypes.c_size_t, ctypes.c_int, ctypes.c_bool
        self.init = fn("base", "ggml_init", P, _InitParams)
        self.free = fn("base", "ggml_free", None, P)
        self.new_tensor_1d = fn("base", "ggml_new_tensor_1d", P, P, c_int, i64)
        self.new_tensor_2d = fn("base", "ggml_new_tensor_2d", P, P, c_int, i64, i64)
        self.set_name = fn("base", "ggml_set_name", P, P, ctypes.c_char_p)
        self.get_data = fn("base", "ggml_get_data", P, P)
        self.nbytes = fn("base", "ggml_nbytes", sz, P)
        self.mul_mat = fn("base", "ggml_mul_mat", P, P, P, P)
        self.add = fn("base", "ggml_add", P, P, P, P)
        self.new_tensor_3d = fn("base", "ggml_new_tensor_3d", P, P, c_int, i64, i64, i64)
        f32 = ctypes.c_float
        self.flash_attn_ext = fn("base", "ggml_flash_attn_ext", P, P, P, P, P, P, f32, f32, f32)
        self.new_graph_custom = fn("base", "ggml_new_graph_custom", P, P, sz, c_bool)
        self.build_forward_expand = fn("base", "ggml_build_forward_expand", None, P, P)
        self.row_size = fn("base", "ggml_row_size", sz, c_int, i64)
        self.requires_imatrix = fn("base", "ggml_quantize_requires_imatrix", c_bool, c_int)
        self.quantize_chunk = fn("base", "ggml_quantize_chunk", sz, c_int, P, P, i64, i64, i64,
                                 P)
        self.tensor_overhead = fn("base", "ggml_tensor_overhead", sz)
        self.graph_overhead_custom = fn("base", "ggml_graph_overhead_custom", sz, sz, c_bool)
        self.cpu_buffer_type = fn("base", "ggml_backend_cpu_buffer_type", P)
        self.alloc_ctx_tensors = fn("base", "ggml_backend_alloc_ctx_tensors_from_buft", P, P, P)
        self.buffer_free = fn("base", "ggml_backend_buffer_free", None, P)
        self.tensor_set = fn("base", "ggml_backend_tensor_set", None, P, P, sz, sz)
        self.graph_compute = fn("base", "ggml_backend_graph_compute", c_int, P, P)
        self.backend_free = fn("base", "ggml_backend_free", None, P)
        self.dev_by_type = fn("base", "ggml_backend_dev_by_type", P, c_int)
        self.dev_backend_reg = fn("base", "ggml_backend_dev_backend_reg", P, P)
        self.reg_get_proc_address = fn("base", "ggml_backend_reg_get_proc_address", P, P,
                                       ctypes.c_char_p)
        self.buft_name = fn("base", "ggml_backend_buft_name", ctypes.c_char_p, P)
        self.cpu_init = fn("cpu", "ggml_backend_cpu_init", P)
        self.cpu_set_n_threads = fn("cpu", "ggml_backend_cpu_set_n_threads", None, P, c_int)

    def context(self, n_tensors: int, *, graph_size: int = 0) -> int:
        size = n_tensors * self.tensor_overhead() + (
            self.graph_overhead_custom(graph_size, False) if graph_size else 0) + (1 << 16)
        ctx = self.init(_InitParams(size, None, True))
        if not ctx:
            raise RuntimeError("ggml_init failed")
        return int(ctx)

    def repack_buffer_type(self) -> int | None:
        """The CPU backend's repacking buffer type (the extra buffer type named CPU_REPACK)."""
        dev = self.dev_by_type(0)
        reg = self.dev_backend_reg(dev) if dev else None
        address = self.reg_get_proc_address(reg, b"ggml_backend_dev_get_extra_bufts") \
            if reg else None
        if not address:
            return None
        get_extra = ctypes.CFUNCTYPE(ctypes.POINTER(P), P)(address)
        bufts = get_extra(dev)
        i = 0
        while bufts and bufts[i]:
            if self.buft_name(bufts[i]) == REPACK_BUFFER_NAME:
                return int(bufts[i])
            i += 1
        return None


def last_level_cache_bytes() -> int:
    """The CPU's largest cache in bytes (0 if unknown): sysfs on Linux, sysctl on macOS."""
    sizes = []
    for path in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*/size"):
        text = path.read_text().strip().upper()
        unit = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
        digits = text.rstrip("KMG")
        if digits.isdigit():
            sizes.append(int(digits) * unit)
    if not sizes and sys.platform == "darwin":
        import subprocess

        for key in ("hw.l3cachesize", "hw.l2cachesize"):
            out = subprocess.run(["sysctl", "-n", key], capture_output=True, text=True,
                                 check=False).stdout.strip()
            if out.isdigit() and int(out):
                sizes.append(int(out))
                break
    return max(sizes, default=0)


def type_ids() -> dict[str, int]:
    import gguf

    return {t.name: int(t.value) for t in gguf.GGMLQuantizationType}


def _layout_ok(g: Ggml, tensor: int) -> bool:
    """Do the struct offsets this module reads match the loaded ggml? (name and data)"""
    g.set_name(tensor, b"wb-layout-check")
    name = ctypes.string_at(tensor + TENSOR_NAME_OFFSET, 15)
    data = ctypes.c_void_p.from_address(tensor + TENSOR_DATA_OFFSET).value
    return name == b"wb-layout-check" and data == g.get_data(tensor)


def quantized_rows(g: Ggml, type_id: int, rows: int, row: int, rng: np.random.Generator
                   ) -> bytes:
    """``rows`` rows of ``row`` random weights in ``type_id`` (16 distinct rows, tiled)."""
    distinct = min(rows, 16)
    src = rng.standard_normal((distinct, row), dtype=np.float32) * 0.02
    size = g.row_size(type_id, row)
    dst = ctypes.create_string_buffer(size * distinct)
    g.quantize_chunk(type_id, src.ctypes.data, ctypes.addressof(dst), 0, distinct, row, None)
    return bytes(dst.raw) * (rows // distinct) + bytes(dst.raw[: size * (rows % distinct)])


class Profiler:
    def __init__(self, threads: int) -> None:
        self.g = Ggml()
        self.threads = threads
        self.backend = self.g.cpu_init()
        if not self.backend:
            raise RuntimeError("ggml_backend_cpu_init failed")
        self.g.cpu_set_n_threads(self.backend, threads)
        self.repack_buft: int | bool | None = False  # False: not looked up yet
        self.ids = type_ids()
        self.rng = np.random.default_rng(0)
        self.footprint = min(max(2 * last_level_cache_bytes(), MIN_FOOTPRINT), MAX_FOOTPRINT)

    def close(self) -> None:
        self.g.backend_free(self.backend)

    def _repack_buffer_type(self) -> int | None:
        if self.repack_buft is False:
            self.repack_buft = self.g.repack_buffer_type()
        return self.repack_buft or None

    def _weights(self, name: str, shapes: list[tuple[int, int]], repack: bool
                 ) -> tuple[int, int, list[int]] | None:
        """(ctx, buffer, tensors): one matrix of type ``name`` per (row, rows) shape; None when
        ``repack`` is asked and this CPU has no repacked layout for the type."""
        g, tid = self.g, self.ids[name]
        ctx = g.context(len(shapes))
        tensors = [int(g.new_tensor_2d(ctx, tid, row, rows)) for row, rows in shapes]
        buft = self._repack_buffer_type() if repack else g.cpu_buffer_type()
        if buft is None or (repack and not _layout_ok(g, tensors[0])):
            g.free(ctx)
            return None
        buf = g.alloc_ctx_tensors(ctx, buft)
        if not buf:
            g.free(ctx)
            raise MemoryError(f"cannot allocate {name} test weights")
        if repack and not all(ctypes.c_void_p.from_address(t + TENSOR_EXTRA_OFFSET).value
                              for t in tensors):  # no repacked kernel for this type here
            g.buffer_free(buf)
            g.free(ctx)
            return None
        for t, (row, rows) in zip(tensors, shapes, strict=True):
            data = quantized_rows(g, tid, rows, row, self.rng)
            g.tensor_set(t, data, 0, len(data))
        return ctx, int(buf), tensors

    def _run(self, weights: list[int], row: int, tokens: int, repeats: int) -> float:
        """Fastest of ``repeats`` products of every weight with a ``tokens``-column input, in
        one graph (as a model's layers run)."""
        g = self.g
        ctx = g.context(2 * len(weights) + 2, graph_size=len(weights) + 4)
        x = g.new_tensor_2d(ctx, self.ids["F32"], row, tokens)
        graph = g.new_graph_custom(ctx, len(weights) + 4, False)
        for w in weights:
            g.build_forward_expand(graph, g.mul_mat(ctx, w, x))
        buf = g.alloc_ctx_tensors(ctx, g.cpu_buffer_type())
        try:
            ones = (np.ones((tokens, row), dtype=np.float32) * 0.5).tobytes()
            g.tensor_set(x, ones, 0, len(ones))
            return self._best(graph, repeats)
        finally:
            g.buffer_free(buf)
            g.free(ctx)

    def _best(self, graph: int, repeats: int) -> float:
        best = float("inf")
        self.g.graph_compute(self.backend, graph)  # warm: threads, repacked layouts, pages
        for _ in range(repeats):
            started = time.perf_counter()
            if self.g.graph_compute(self.backend, graph) != 0:
                raise RuntimeError("ggml_backend_graph_compute failed")
            best = min(best, time.perf_counter() - started)
        return best

    def _timed(self, name: str, row: int, rows: int, count: int, tokens: int, repeats: int,
               repack: bool) -> float | None:
        made = self._weights(name, [(row, rows)] * count, repack)
        if made is None:
            return None
        ctx, buf, tensors = made
        try:
            return self._run(tensors, row, tokens, repeats)
        finally:
            self.g.buffer_free(buf)
            self.g.free(ctx)

    def weight_type(self, name: str, repack: bool) -> dict[str, float] | None:
        """Generation: time = bytes x ``gemv_s_per_byte`` + rows x ``gemv_s_per_row``, from
        short-row and long-row matrices of ``self.footprint`` bytes each (beyond the caches, as
        a model's weights are); prompt: ``gemm_s_per_weight`` per weight and token. None: no
        repacked layout for it here."""
        g = self.g
        row_bytes = {row: g.row_size(self.ids[name], row) for row in (SHORT_ROW, LONG_ROW)}
        times, rows = {}, {}
        for row, size in row_bytes.items():
            rows[row] = max(64, MATRIX_BYTES // size // 64 * 64)
            count = max(2, -(-self.footprint // (rows[row] * size)))
            found = self._timed(name, row, rows[row], count, 1, GEMV_REPEATS, repack)
            if found is None:
                return None
            times[row] = found / count
        t_gemm = self._timed(name, GEMM_ROW, GEMM_ROWS, 1, GEMM_TOKENS, GEMM_REPEATS, repack)
        t_few = self._timed(name, GEMM_ROW, GEMM_FEW_ROWS, 1, GEMM_TOKENS, GEMM_REPEATS, repack)
        if t_gemm is None or t_few is None:
            return None
        # t = weights x tokens x a + inputs x c (c: converting the batch to the kernel's type,
        # once per product: it dominates products with few rows)
        inputs = GEMM_ROW * GEMM_TOKENS
        per_weight = max((t_gemm - t_few) / (inputs * (GEMM_ROWS - GEMM_FEW_ROWS)), 0.0)
        per_input = max((t_few - per_weight * inputs * GEMM_FEW_ROWS) / inputs, 0.0)
        r_s, r_l = rows[SHORT_ROW], rows[LONG_ROW]
        b_s, b_l = r_s * row_bytes[SHORT_ROW], r_l * row_bytes[LONG_ROW]
        t_s, t_l = times[SHORT_ROW], times[LONG_ROW]
        # t = B a + R b for both matrices (B bytes, R rows): solve for a and b
        per_row = max((t_s - t_l * b_s / b_l) / (r_s - r_l * b_s / b_l), 0.0)
        per_byte = max((t_l - per_row * r_l) / b_l, 0.0)
        return {"gemv_s_per_byte": per_byte, "gemv_s_per_row": per_row,
                "gemm_s_per_weight": per_weight, "gemm_s_per_input": per_input}

    def attention(self) -> float:
        """Seconds per multiply-add of flash attention over a prompt batch from an empty
        context (F16 K and V, as llama.cpp's default cache holds them, and its causal mask):
        ``ATTN_TOKENS`` queries x as many cells, every pair counted, masked ones included."""
        g, f32, f16 = self.g, self.ids["F32"], self.ids["F16"]
        d, h, t = ATTN_HEAD_DIM, ATTN_HEADS, ATTN_TOKENS
        ctx = g.context(8, graph_size=8)
        q = g.new_tensor_3d(ctx, f32, d, t, h)
        k = g.new_tensor_3d(ctx, f16, d, t, h)
        v = g.new_tensor_3d(ctx, f16, d, t, h)
        mask = g.new_tensor_2d(ctx, f16, t, t)
        graph = g.new_graph_custom(ctx, 8, False)
        g.build_forward_expand(graph, g.flash_attn_ext(ctx, q, k, v, mask, d ** -0.5, 0.0,
                                                       0.0))
        buf = g.alloc_ctx_tensors(ctx, g.cpu_buffer_type())
        try:
            for tensor, dtype in ((q, np.float32), (k, np.float16), (v, np.float16)):
                data = (self.rng.standard_normal(d * t * h) * 0.1).astype(dtype).tobytes()
                g.tensor_set(tensor, data, 0, len(data))
            causal = np.triu(np.full((t, t), -np.inf, dtype=np.float16), 1).tobytes()
            g.tensor_set(mask, causal, 0, len(causal))
            return self._best(graph, GEMM_REPEATS) / (2 * d * t * t * h)
        finally:
            g.buffer_free(buf)
            g.free(ctx)

    def elementwise(self) -> tuple[float, float]:
        """(seconds per graph node by itself, seconds per byte an element-wise op moves)."""
        g, f32 = self.g, self.ids["F32"]
        results = []
        for n, ops in ((64, NODE_OPS), (1 << 20, 16)):  # tiny ops: the fixed cost; big: bytes
            ctx = g.context(ops + 4, graph_size=ops + 4)
            a = g.new_tensor_1d(ctx, f32, n)
            b = g.new_tensor_1d(ctx, f32, n)
            graph = g.new_graph_custom(ctx, ops + 4, False)
            cur = a
            for _ in range(ops):
                cur = g.add(ctx, cur, b)
            g.build_forward_expand(graph, cur)
            buf = g.alloc_ctx_tensors(ctx, g.cpu_buffer_type())
            try:
                zeros = bytes(4 * n)
                g.tensor_set(a, zeros, 0, len(zeros))
                g.tensor_set(b, zeros, 0, len(zeros))
                results.append((self._best(graph, 5), ops, n))
            finally:
                g.buffer_free(buf)
                g.free(ctx)
        (t_small, ops_small, _), (t_big, ops_big, n_big) = results
        node_s = t_small / ops_small
        per_byte = max(t_big / ops_big - node_s, 0.0) / (3 * 4 * n_big)
        return node_s, per_byte


def profile(threads: int, types: list[str], repack: list[str]) -> dict[str, Any]:
    """The profile of ``types`` (plain memory) and of ``repack`` (the repacking buffer)."""
    started = time.monotonic()
    p = Profiler(threads)
    kernels: dict[str, dict[str, float]] = {}
    skipped: dict[str, str] = {}
    try:
        node_s, per_byte = p.elementwise()
        attention = p.attention()
        for name, repacked in [(t, False) for t in types] + [(t, True) for t in repack]:
            key = name + REPACKED_SUFFIX if repacked else name
            tid = p.ids.get(name)
            if tid is None:
                skipped[key] = "not a ggml type here"
            elif p.g.requires_imatrix(tid):
                skipped[key] = "needs an importance matrix to quantise"
            elif (found := p.weight_type(name, repacked)) is None:
                skipped[key] = "no repacked layout for it on this CPU"
            else:
                kernels[key] = found
    finally:
        p.close()
    return {"version": PROFILE_VERSION, "threads": threads, "footprint": p.footprint,
            "kernels": kernels,
            "node_s": node_s, "elementwise_s_per_byte": per_byte,
            "attention_s_per_mac": attention, "skipped": skipped,
            "seconds": round(time.monotonic() - started, 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workbench.engine.worker.kernel_profile")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--type", dest="types", action="append", default=[],
                        help="a weight type to time in plain memory (repeatable)")
    parser.add_argument("--repack", action="append", default=[],
                        help="a weight type to time in the repacking buffer (repeatable)")
    args = parser.parse_args(argv)
    types = args.types if args.types or args.repack else list(TYPES)
    out = profile(max(1, args.threads), types, args.repack)
    sys.stdout.write(json.dumps(out) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
