"""Malformed, truncated and hostile GGUF headers: always one GGUFError, never a crash or a hog."""

from __future__ import annotations

import importlib.util
import itertools
import os
import random
import struct
import subprocess
import sys
import tracemalloc
from pathlib import Path

import gguf
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers.gguf_bytes import (
    ARR,
    BOOL,
    Q4_0_TYPE,
    STR,
    U8,
    U32,
    U64,
    build,
    gstr,
    kv,
    tensor,
)
from workbench.gguf import GGUFError, GGUFHeader, read_header

ARCH = kv("general.architecture", STR, "llama")
GOOD_TENSOR = tensor("a.weight", (8, 4))  # 128 bytes of f32


def parse(tmp_path: Path, data: bytes, **kwargs: object) -> GGUFHeader:
    path = tmp_path / "x.gguf"
    path.write_bytes(data)
    return read_header(path, **kwargs)  # type: ignore[arg-type]


def test_builder_makes_valid_files(tmp_path: Path) -> None:
    header = parse(tmp_path, build([ARCH, kv("x.flag", BOOL, 2)], [GOOD_TENSOR], version=2))
    assert header.version == 2
    assert header.metadata == {"general.architecture": "llama", "x.flag": True}
    assert header.tensors[0].shape == (8, 4) and header.tensors[0].n_bytes == 128
    scalar = parse(tmp_path, build([], [tensor("s", ())]))
    assert scalar.tensors[0].shape == () and scalar.tensors[0].n_elements == 1


HUGE = 2**64 - 1

CASES = {
    "bad magic": (b"GGML" + build()[4:], "not a GGUF file"),
    "version 1": (build(version=1), "version 1 is no longer supported"),
    "big-endian": (build(version=0x03000000), "big-endian"),
    "version 4": (build(version=4), "unsupported GGUF version 4"),
    "version 0": (build(version=0), "unsupported GGUF version 0"),
    "huge tensor count": (build([ARCH], n_tensors=HUGE), "cannot fit"),
    "huge kv count": (build([ARCH], n_kv=2**63), "cannot fit"),
    "kv count too high": (build([ARCH], n_kv=2), "truncated"),
    "huge key length": (build([struct.pack("<Q", HUGE) + b"k" * 32]), "truncated"),
    "empty key": (build([kv("", U8, 1), b"\0" * 8], n_kv=1), "key #0 is empty"),
    "counts cannot fit": (build([kv("", U8, 1)]), "cannot fit in the 13 bytes left"),
    "key not utf-8": (build([kv(b"\xff\xfe", U8, 1)]), "not valid UTF-8"),
    "duplicate key": (build([ARCH, ARCH]), "duplicate key 'general.architecture'"),
    "unknown value type": (build([gstr("k") + struct.pack("<I", 13) + b"\0" * 8]),
                           "unknown value type 13"),
    "huge string value": (build([gstr("k") + struct.pack("<IQ", STR, 2**40)]), "truncated"),
    "unknown element type": (build([kv("k", ARR, (99, []))]), "unknown element type 99"),
    "huge array": (build([gstr("k") + struct.pack("<IIQ", ARR, U32, 2**62)]),
                   "bytes left in the file"),
    "string array past end": (build([gstr("k") + struct.pack("<IIQ", ARR, STR, 3) + gstr("a")
                                     + struct.pack("<Q", 10**9) + b"\0" * 16]), "truncated"),
    "deep nesting": (build([kv("k", ARR, (ARR, [(ARR, [(ARR, [(U8, [1])])])]))]),
                     "nested more than 3 deep"),
    "alignment type": (build([kv("general.alignment", U64, 32)]), "must be uint32"),
    "alignment 48": (build([kv("general.alignment", U32, 48)]), "not a power of two"),
    "alignment 0": (build([kv("general.alignment", U32, 0)]), "not a power of two"),
    "long tensor name": (build([], [tensor("n" * 64, (4,))]), "at most 63"),
    "duplicate tensor": (build([], [GOOD_TENSOR, tensor("a.weight", (4,), offset=128)]),
                         "duplicate tensor name 'a.weight'"),
    "5 dimensions": (build([], [tensor("t", (1, 1, 1, 1, 1))]), "5 dimensions"),
    "zero dimension": (build([], [tensor("t", (4, 0))]), "invalid dimension 0"),
    "huge dimension": (build([], [tensor("t", (2**63,))]), "invalid dimension"),
    "too many elements": (build([], [tensor("t", (2**40, 2**40))]), "too many elements"),
    "removed ggml type": (build([], [tensor("t", (32,), ggml_type=4)]), "unknown ggml type 4"),
    "unknown ggml type": (build([], [tensor("t", (32,), ggml_type=2**31)]), "unknown ggml type"),
    "row not whole blocks": (build([], [tensor("t", (33, 2), ggml_type=Q4_0_TYPE)]),
                             "not a multiple of its block size 32"),
    "unaligned offset": (build([], [tensor("t", (4,), offset=16)]), "not a multiple of the"),
    "past end of file": (build([], [tensor("t", (1024, 2))]), "runs past the end of the file"),
    "huge offset": (build([], [tensor("t", (4,), offset=2**64 - 32)]), "leaves a gap"),
    "overlap": (build([], [tensor("a", (64,)), tensor("b", (8,), offset=224)]),
                "offset 224 overlaps the tensor before it (expected 256"),
    "gap": (build([], [tensor("a", (64,)), tensor("b", (8,), offset=288)]),
            "offset 288 leaves a gap after the tensor before it"),
    "out of order": (build([], [tensor("a", (64,), offset=64), tensor("b", (8,))]),
                     "'a' data offset 64 leaves a gap"),
    "truncated tensor info": (build([ARCH], [GOOD_TENSOR])[:-4096 - 40], "truncated"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_malformed_headers(tmp_path: Path, case: str) -> None:
    data, expected = CASES[case]
    with pytest.raises(GGUFError) as caught:
        parse(tmp_path, data)
    message = str(caught.value)
    assert expected in message
    assert "x.gguf" in message and "\n" not in message


def test_error_says_where(tmp_path: Path) -> None:
    data = build([ARCH, gstr("k") + struct.pack("<I", 77)])
    with pytest.raises(GGUFError, match=rf"unknown value type 77 \(at byte {len(data) - 4}\)"):
        parse(tmp_path, data)


def test_declared_lengths_allocate_nothing(tmp_path: Path) -> None:
    """A 1 TiB string in a 4 KiB file, and a billion-string array: read nothing big."""
    for data in (build([gstr("k") + struct.pack("<IQ", STR, 2**40)], n_kv=1),
                 build([gstr("k") + struct.pack("<IIQ", ARR, STR, 10**9), b"\0" * 4096],
                       n_kv=1)):
        tracemalloc.start()
        try:
            with pytest.raises(GGUFError):
                parse(tmp_path, data)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < 512 * 1024


# -- mutations of a real file (hypothesis) ------------------------------------------------------

def _write_real(path: Path, *, nested: bool) -> tuple[bytes, int, Path]:
    """A GGUFWriter file: realistic metadata with a vocabulary, a few tensors."""
    writer = gguf.GGUFWriter(path, "llama")
    writer.add_name("mutant")
    writer.add_context_length(2048)
    writer.add_head_count_kv([1, 2])
    writer.add_token_list([f"t{i}" for i in range(40)])
    writer.add_token_scores([0.5] * 40)
    writer.add_bool("x.flag", True)
    if nested:  # GGUF allows arrays of arrays; llama.cpp's parser does not
        writer.add_array("x.nested", [[1, 2], [3]])
    writer.add_tensor("token_embd.weight", np.zeros((40, 32), dtype=np.float16))
    writer.add_tensor("q.weight", np.zeros((2, 18), dtype=np.uint8),
                      raw_dtype=gguf.GGMLQuantizationType.Q4_0)
    writer.add_tensor("norm.weight", np.ones(32, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    data = path.read_bytes()
    header = read_header(path)
    return data, header.header_size, path.with_name("mutated.gguf")


@pytest.fixture(scope="module")
def real_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, int, Path]:
    return _write_real(tmp_path_factory.mktemp("mutations") / "real.gguf", nested=True)


def check_outcome(path: Path, data: bytes) -> None:
    """Parse mutated bytes: a header that keeps every invariant, or GGUFError; bounded memory."""
    path.write_bytes(data)
    tracemalloc.start()
    try:
        try:
            header = read_header(path)
        except GGUFError as err:
            assert "\n" not in str(err)
            header = None
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * len(data) + 1024 * 1024
    if header is None:
        return
    assert header.data_offset % header.alignment == 0 or not header.tensors
    for before, after in itertools.pairwise(header.tensors):  # in order, padded, no overlap
        assert after.offset == -(-(before.offset + before.n_bytes) // header.alignment) * (
            header.alignment)
    for t in header.tensors:
        assert header.data_offset <= t.offset and t.offset + t.n_bytes <= len(data)
        assert (t.offset - header.data_offset) % header.alignment == 0
        assert 0 <= len(t.shape) <= 4 and all(d > 0 for d in t.shape)


def test_truncated_at_every_offset(real_file: tuple[bytes, int, Path]) -> None:
    data, _, path = real_file
    path.write_bytes(data)
    for end in reversed(range(len(data))):
        os.truncate(path, end)
        with pytest.raises(GGUFError):
            read_header(path)


# No per-example deadline (a clock on a shared machine): a hang is the suite's per-test timeout.
_SETTINGS = settings(max_examples=150, deadline=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture])


@_SETTINGS
@given(flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1,
                      max_size=8))
def test_flipped_bytes(real_file: tuple[bytes, int, Path], flips: list[tuple[int, int]]) -> None:
    data, header_size, path = real_file
    mutated = bytearray(data)
    for position, value in flips:
        mutated[position % (header_size + 64)] = value
    check_outcome(path, bytes(mutated))


_BIG_VALUES = [0, 1, 2**31, 2**32 - 1, 2**32, 2**40, 2**63 - 1, 2**63, 2**64 - 1]


@_SETTINGS
@given(position=st.integers(0, 10**6), value=st.sampled_from([*_BIG_VALUES, -1, -2]),
       width=st.sampled_from([4, 8]))
def test_huge_lengths_and_counts(real_file: tuple[bytes, int, Path], position: int, value: int,
                                 width: int) -> None:
    data, header_size, path = real_file
    position %= header_size - width
    if value < 0:  # just past the file's end, or the file's size
        value = len(data) + value + 2
    mutated = bytearray(data)
    mutated[position:position + width] = (value % 2 ** (8 * width)).to_bytes(width, "little")
    check_outcome(path, bytes(mutated))


@_SETTINGS
@given(position=st.integers(0, 10**6), type_id=st.integers(0, 50))
def test_changed_types(real_file: tuple[bytes, int, Path], position: int, type_id: int) -> None:
    """Overwrite a 4-byte field with a small number: value types, element types, ggml types."""
    data, header_size, path = real_file
    position %= header_size - 4
    mutated = bytearray(data)
    mutated[position:position + 4] = type_id.to_bytes(4, "little")
    check_outcome(path, bytes(mutated))


@_SETTINGS
@given(data=st.binary(max_size=512))
def test_random_bytes_after_magic(real_file: tuple[bytes, int, Path], data: bytes) -> None:
    _, _, path = real_file
    check_outcome(path, b"GGUF" + data)


# -- agreement with llama.cpp's own parser (gguf_init_from_file, in a child process) ------------

_LLAMA_CHILD = """
import ctypes, sys
class Params(ctypes.Structure):
    _fields_ = [("no_alloc", ctypes.c_bool), ("ctx", ctypes.c_void_p)]
lib = ctypes.CDLL(sys.argv[1])
lib.gguf_init_from_file.restype = ctypes.c_void_p
lib.gguf_init_from_file.argtypes = [ctypes.c_char_p, Params]
lib.gguf_free.argtypes = [ctypes.c_void_p]
for line in sys.stdin:
    ctx = lib.gguf_init_from_file(line.strip().encode(), Params(True, None))
    print(1 if ctx else 0, flush=True)
    if ctx:
        lib.gguf_free(ctx)
"""

# Where we are stricter than gguf_init_from_file, on purpose: it checks tensor data against the
# file only when it loads the data; it does not check UTF-8; it allows zero-sized dimensions.
_STRICTER = ("runs past the end of the file", "not valid UTF-8", "invalid dimension 0")


def _ggml_base_library() -> Path:
    spec = importlib.util.find_spec("llama_cpp")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("llama-cpp-python is not installed")
    lib_dir = Path(next(iter(spec.submodule_search_locations))) / "lib"
    found = sorted(lib_dir.glob("libggml-base.*")) + sorted(lib_dir.glob("ggml-base.dll"))
    if not found:
        pytest.skip(f"no ggml-base library in {lib_dir}")
    return found[0]


def _llama_accepts(paths: list[Path]) -> list[bool]:
    result = subprocess.run([sys.executable, "-c", _LLAMA_CHILD, str(_ggml_base_library())],
                            input="\n".join(map(str, paths)), stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, timeout=120, check=True)
    verdicts = [line == "1" for line in result.stdout.split()]
    assert len(verdicts) == len(paths)
    return verdicts


def _mutations(data: bytes, header_size: int, count: int) -> list[bytes]:
    rng = random.Random(20240501)
    out = []
    for _ in range(count):
        mutated = bytearray(data)
        kind = rng.choice(["flip", "big", "type", "truncate"])
        if kind == "flip":
            for _ in range(rng.randint(1, 4)):
                mutated[rng.randrange(header_size + 64)] = rng.randrange(256)
        elif kind == "big":
            width = rng.choice([4, 8])
            at = rng.randrange(header_size - width)
            value = rng.choice([*_BIG_VALUES, len(data), len(data) + 1])
            mutated[at:at + width] = (value % 2 ** (8 * width)).to_bytes(width, "little")
        elif kind == "type":
            at = rng.randrange(header_size - 4)
            mutated[at:at + 4] = rng.randrange(50).to_bytes(4, "little")
        else:
            del mutated[rng.randrange(len(data)):]
        out.append(bytes(mutated))
    return out


def test_we_accept_only_what_llama_cpp_accepts(tmp_path: Path) -> None:
    data, header_size, _ = _write_real(tmp_path / "real.gguf", nested=False)
    crafted = [case for case, _ in CASES.values()]
    samples = [data, *crafted, *_mutations(data, header_size, 400)]
    paths = []
    for index, sample in enumerate(samples):
        paths.append(tmp_path / f"{index}.gguf")
        paths[-1].write_bytes(sample)
    theirs = _llama_accepts(paths)
    assert theirs[0], "llama.cpp rejects the unmutated file"
    accepted = 0
    for path, llama_ok in zip(paths, theirs, strict=True):
        try:
            read_header(path)
        except GGUFError as err:
            if llama_ok:  # a disagreement must be one of the deliberate ones
                assert any(reason in str(err) for reason in _STRICTER), str(err)
            continue
        accepted += 1
        assert llama_ok, f"we accept {path.name}, llama.cpp rejects it"
    assert accepted >= 40  # the comparison is not vacuous
