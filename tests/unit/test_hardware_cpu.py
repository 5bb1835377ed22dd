"""CPU and RAM detection: /proc/cpuinfo texts of other machines, macOS sysctl, psutil here."""

from __future__ import annotations

from pathlib import Path

from workbench.hardware import detect_cpu, detect_ram
from workbench.hardware.cpu import parse_cpuinfo

SAPPHIRE_RAPIDS = """\
processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu vme sse sse2 pni ssse3 fma sse4_1 avx f16c avx2 avx512f avx512bw avx512_vnni \
avx512_bf16 avx_vnni amx_bf16 amx_tile amx_int8

processor\t: 1
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu
"""

OLD_PENTIUM = """\
processor\t: 0
model name\t: Intel(R) Pentium(R) CPU G4560 @ 3.50GHz
flags\t\t: fpu sse sse2 pni ssse3 sse4_1 sse4_2
"""

GRAVITON = """\
processor\t: 0
BogoMIPS\t: 243.75
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm \
lrcpc dcpop asimddp sve i8mm
CPU implementer\t: 0x41
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cpuinfo"
    path.write_text(text)
    return path


def test_x86_flags_with_avx512_and_amx(tmp_path: Path) -> None:
    cpu = detect_cpu(cpuinfo_path=_write(tmp_path, SAPPHIRE_RAPIDS), machine="x86_64",
                     system="Linux")
    assert cpu.model == "Intel(R) Xeon(R) Platinum 8480+"
    assert cpu.architecture == "x86_64"
    flags = cpu.flags
    for name in ("sse3", "avx", "avx2", "fma", "f16c", "avx512f", "avx512_vnni", "avx512_bf16",
                 "avx_vnni", "amx_tile", "amx_int8", "amx_bf16"):
        assert flags[name] is True, name
    assert "neon" not in flags
    assert cpu.flags_source == str(tmp_path / "cpuinfo")


def test_x86_without_avx(tmp_path: Path) -> None:
    cpu = detect_cpu(cpuinfo_path=_write(tmp_path, OLD_PENTIUM), machine="x86_64",
                     system="Linux")
    assert cpu.flags["sse3"] is True
    assert cpu.flags["avx"] is False and cpu.flags["avx2"] is False
    assert cpu.flags["amx_int8"] is False


def test_arm_features(tmp_path: Path) -> None:
    cpu = detect_cpu(cpuinfo_path=_write(tmp_path, GRAVITON), machine="aarch64", system="Linux")
    assert cpu.flags["neon"] is True
    assert cpu.flags["fp16"] is True and cpu.flags["dotprod"] is True
    assert cpu.flags["sve"] is True and cpu.flags["i8mm"] is True
    assert cpu.flags["sve2"] is False
    assert "avx2" not in cpu.flags


def test_missing_cpuinfo_gives_unknown_flags(tmp_path: Path) -> None:
    cpu = detect_cpu(cpuinfo_path=tmp_path / "absent", machine="x86_64", system="Linux")
    assert cpu.flags_source is None
    assert cpu.flags["avx2"] is None  # unknown, not False


def test_apple_silicon_through_sysctl() -> None:
    values = {
        "machdep.cpu.brand_string": "Apple M2 Max",
        "hw.optional.neon": "1",
        "hw.optional.arm.FEAT_FP16": "1",
        "hw.optional.arm.FEAT_DotProd": "1",
        "hw.optional.arm.FEAT_I8MM": "0",
    }
    cpu = detect_cpu(sysctl=values.get, machine="arm64", system="Darwin")
    assert cpu.model == "Apple M2 Max"
    assert cpu.flags["neon"] is True and cpu.flags["dotprod"] is True
    assert cpu.flags["i8mm"] is False
    assert cpu.flags["sme"] is None  # the sysctl did not answer
    assert cpu.flags_source == "sysctl"


def test_first_processor_only() -> None:
    model, words = parse_cpuinfo(SAPPHIRE_RAPIDS)
    assert model == "Intel(R) Xeon(R) Platinum 8480+"
    assert "amx_tile" in words


def test_this_machine() -> None:
    cpu = detect_cpu()
    assert cpu.logical_cores and cpu.logical_cores >= 1
    assert cpu.model
    ram = detect_ram()
    assert ram.total_bytes and ram.available_bytes is not None
    assert 0 < ram.available_bytes <= ram.total_bytes
    assert ram.swap_total_bytes is not None
