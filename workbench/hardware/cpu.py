"""CPU model, cores and SIMD features; system RAM and swap (psutil).

Linux: /proc/cpuinfo ("flags" on x86, "Features" on arm). macOS: sysctl
(machdep.cpu.brand_string, hw.optional.*). Elsewhere the model comes from ``platform`` and the
flags are unknown (None) rather than guessed.
"""

from __future__ import annotations

import platform
import subprocess
from collections.abc import Callable
from pathlib import Path

from workbench.hardware.model import CpuInfo, RamInfo

SysctlReader = Callable[[str], "str | None"]

# Our flag name -> the names /proc/cpuinfo uses for it (x86 "flags", arm "Features").
X86_FLAGS = {
    "sse3": ("pni",),
    "ssse3": ("ssse3",),
    "avx": ("avx",),
    "avx2": ("avx2",),
    "fma": ("fma",),
    "f16c": ("f16c",),
    "avx_vnni": ("avx_vnni",),
    "avx512f": ("avx512f",),
    "avx512bw": ("avx512bw",),
    "avx512_vnni": ("avx512_vnni",),
    "avx512_bf16": ("avx512_bf16",),
    "amx_tile": ("amx_tile",),
    "amx_int8": ("amx_int8",),
    "amx_bf16": ("amx_bf16",),
}
ARM_FLAGS = {
    "neon": ("asimd", "neon"),
    "fp16": ("fphp", "asimdhp"),
    "dotprod": ("asimddp",),
    "i8mm": ("i8mm",),
    "sve": ("sve",),
    "sve2": ("sve2",),
    "sme": ("sme",),
}
# macOS on Apple Silicon: hw.optional.* sysctls.
MAC_ARM_SYSCTLS = {
    "neon": "hw.optional.neon",
    "fp16": "hw.optional.arm.FEAT_FP16",
    "dotprod": "hw.optional.arm.FEAT_DotProd",
    "i8mm": "hw.optional.arm.FEAT_I8MM",
    "sme": "hw.optional.arm.FEAT_SME",
}
MAC_X86_SYSCTLS = {
    "avx": "hw.optional.avx1_0",
    "avx2": "hw.optional.avx2_0",
    "fma": "hw.optional.fma",
    "f16c": "hw.optional.f16c",
    "avx512f": "hw.optional.avx512f",
    "avx512_vnni": "hw.optional.avx512vnni",
}


def is_arm(machine: str) -> bool:
    return machine.lower() in ("arm64", "aarch64") or machine.lower().startswith("arm")


def run_sysctl(name: str) -> str | None:
    """``sysctl -n NAME`` (macOS/BSD), or None when it fails or is absent."""
    try:
        done = subprocess.run(["sysctl", "-n", name], capture_output=True, text=True,
                              timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    value = done.stdout.strip()
    return value if done.returncode == 0 and value else None


def parse_cpuinfo(text: str) -> tuple[str | None, set[str]]:
    """The model name and the set of feature words in a /proc/cpuinfo text (first CPU)."""
    model = None
    words: set[str] = set()
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key = key.strip().lower()
        value = value.strip()
        if key in ("model name", "cpu model", "hardware") and value and model is None:
            model = value
        elif key in ("flags", "features") and not words:
            words = set(value.split())
    return model, words


def flags_from_words(words: set[str], machine: str) -> dict[str, bool | None]:
    table = ARM_FLAGS if is_arm(machine) else X86_FLAGS
    return {name: any(w in words for w in aliases) for name, aliases in table.items()}


def _unknown_flags(machine: str) -> dict[str, bool | None]:
    return dict.fromkeys(ARM_FLAGS if is_arm(machine) else X86_FLAGS, None)


def _cores() -> tuple[int | None, int | None]:
    try:
        import psutil

        return psutil.cpu_count(logical=False), psutil.cpu_count(logical=True)
    except Exception:
        import os

        return None, os.cpu_count()


def detect_cpu(
    *,
    cpuinfo_path: Path | str = "/proc/cpuinfo",
    sysctl: SysctlReader | None = None,
    machine: str | None = None,
    system: str | None = None,
) -> CpuInfo:
    """Describe the CPU; never raises. The keyword arguments let tests feed another machine."""
    machine = machine or platform.machine() or "unknown"
    system = system or platform.system()
    physical, logical = _cores()
    model: str | None = None
    flags = _unknown_flags(machine)
    source: str | None = None

    if system == "Darwin":
        read = sysctl or run_sysctl
        model = read("machdep.cpu.brand_string")
        table = MAC_ARM_SYSCTLS if is_arm(machine) else MAC_X86_SYSCTLS
        values = {name: read(key) for name, key in table.items()}
        if any(v is not None for v in values.values()):
            flags = {name: (v == "1") if v is not None else None for name, v in values.items()}
            if is_arm(machine):
                flags["neon"] = True  # every Apple Silicon CPU has Advanced SIMD
            source = "sysctl"
    else:
        try:
            text = Path(cpuinfo_path).read_text(errors="replace")
        except OSError:
            text = ""
        if text:
            model, words = parse_cpuinfo(text)
            if words:
                flags = flags_from_words(words, machine)
                source = str(cpuinfo_path)
    if not model:
        model = platform.processor() or None
    return CpuInfo(
        model=model,
        architecture=machine,
        physical_cores=physical,
        logical_cores=logical,
        flags=flags,
        flags_source=source,
    )


def detect_ram() -> RamInfo:
    """Total/available RAM and swap (psutil); None values when psutil cannot tell."""
    try:
        import psutil

        vm = psutil.virtual_memory()
        ram = RamInfo(total_bytes=int(vm.total), available_bytes=int(vm.available))
    except Exception:
        return RamInfo(total_bytes=None, available_bytes=None)
    try:
        swap = psutil.swap_memory()
        ram.swap_total_bytes = int(swap.total)
        ram.swap_used_bytes = int(swap.used)
    except Exception:
        pass
    return ram
