"""``diagnose(report)``: what is wrong with this machine's setup for local inference, and fixes."""

from __future__ import annotations

import importlib.metadata
import re
from dataclasses import dataclass

from workbench.hardware.backends import gpu_command
from workbench.hardware.model import GpuInfo, HardwareReport, JsonMixin

SEVERITIES = ("ok", "info", "warning", "error")
GIB = 1024**3
LOW_RAM_BYTES = 2 * GIB
LOW_RAM_FRACTION = 0.10
VRAM_HELD_WARNING_FRACTION = 0.10
VENDOR_NAMES = {"nvidia": "NVIDIA", "amd": "AMD", "apple": "Apple"}
TOOLKITS = {
    "nvidia": "the CUDA toolkit (nvcc) and a C++ compiler",
    "amd": "ROCm (hipcc) and a C++ compiler",
    "apple": "the Xcode command line tools (xcode-select --install)",
}


@dataclass
class Finding(JsonMixin):
    """One diagnosis: ``severity`` is ok/info/warning/error; ``fix`` a command or an action."""

    severity: str
    code: str
    title: str
    detail: str = ""
    fix: str | None = None


def _gib(n: int | None) -> str:
    return "?" if n is None else f"{n / GIB:.1f} GiB"


def _gpu_label(gpu: GpuInfo) -> str:
    return f"{gpu.name or gpu.vendor.upper() + ' GPU'} (#{gpu.index})"


def _required_llama_spec() -> str:
    """The llama-cpp-python requirement Workbench declares, e.g. ``llama-cpp-python==0.3.36``."""
    try:
        for requirement in importlib.metadata.requires("workbench") or []:
            spec = requirement.split(";")[0].strip()
            if re.match(r"llama[-_]cpp[-_]python\b", spec, re.IGNORECASE):
                return spec.replace(" ", "")
    except importlib.metadata.PackageNotFoundError:
        pass
    return "llama-cpp-python"


def _llama_findings(report: HardwareReport) -> list[Finding]:
    build = report.llama
    if not build.installed:
        return [Finding("error", "llama_cpp_missing", "llama-cpp-python is not installed",
                        build.error or "Workbench runs models with llama-cpp-python.",
                        fix=f"pip install '{_required_llama_spec()}'")]
    if build.error:
        importable = "import llama_cpp failed" not in build.error
        return [Finding(
            "error",
            "llama_probe_failed" if importable else "llama_cpp_not_importable",
            "llama.cpp could not be probed" if importable else "llama_cpp cannot be imported",
            build.error,
            fix=("reinstall it: pip install --force-reinstall --no-cache-dir "
                 f"'{_required_llama_spec()}'"),
        )]
    if not build.probe_ok:
        return []
    gpu_devices = [d for d in build.devices if d.get("type") in ("gpu", "igpu")]
    if gpu_devices:
        names = ", ".join(f"{d.get('name')} ({d.get('description')})" for d in gpu_devices)
        return [Finding("ok", "llama_gpu_offload", "llama.cpp can offload to a GPU", names)]
    return [Finding("info", "llama_cpu_only", "this llama.cpp build runs on the CPU only",
                    f"llama-cpp-python {build.version}: no GPU backend compiled in")]


def _unused_gpu_findings(report: HardwareReport) -> list[Finding]:
    """One finding per rebuild command, naming every GPU that command would bring into use."""
    groups: dict[str | None, list[GpuInfo]] = {}
    for gpu in report.gpus:
        if gpu.llama_usable is False:
            fix = gpu.reinstall_command or gpu_command(gpu, report.llama.version)
            groups.setdefault(fix, []).append(gpu)
    findings = []
    for fix, gpus in groups.items():
        vendor = gpus[0].vendor
        labels = ", ".join(_gpu_label(g) for g in gpus)
        findings.append(Finding(
            "warning", "gpu_unused_by_build",
            f"{labels} {'is' if len(gpus) == 1 else 'are'} not used by llama.cpp",
            f"the installed llama-cpp-python {report.llama.version} has no backend for "
            f"{VENDOR_NAMES.get(vendor, vendor)} GPUs, so models run on the CPU. Rebuilding it "
            f"needs {TOOLKITS.get(vendor, 'the GPU vendor toolkit')}.",
            fix=fix,
        ))
    return findings


def _gpu_findings(report: HardwareReport) -> list[Finding]:
    findings = _unused_gpu_findings(report)
    for gpu in report.gpus:
        held = gpu.other_processes_vram_bytes
        if held and gpu.vram_total_bytes:
            top = ", ".join(f"{p.name or '?'} (pid {p.pid}, {_gib(p.used_bytes)})"
                            for p in gpu.processes[:3])
            severity = "warning" if held / gpu.vram_total_bytes >= VRAM_HELD_WARNING_FRACTION \
                else "info"
            findings.append(Finding(
                severity, "vram_held_by_others",
                f"other processes hold {_gib(held)} of {_gpu_label(gpu)}'s VRAM",
                f"{top}; that memory is not available to models",
                fix="close those programs to free the memory" if severity == "warning" else None,
            ))
        if gpu.errors:
            detail = "; ".join(f"{k}: {v}" for k, v in sorted(gpu.errors.items()))
            findings.append(Finding("info", "gpu_fields_unreadable",
                                    f"some of {_gpu_label(gpu)}'s details could not be read",
                                    detail))
        if gpu.vendor == "amd" and gpu.llama_usable is not False and not gpu.arch:
            findings.append(Finding("info", "amd_arch_unknown",
                                    f"{_gpu_label(gpu)}: gfx architecture unknown",
                                    "a ROCm/HIP build then targets every architecture (slower "
                                    "to build); install ROCm to let Workbench see it"))
    return findings


def _nvml_findings(report: HardwareReport) -> list[Finding]:
    nvidia_pci = [d for d in report.pci_display_devices if d.vendor == "nvidia"]
    nvml_gpus = [g for g in report.gpus if g.vendor == "nvidia"]
    if report.nvml.available or not nvidia_pci or nvml_gpus:
        return []
    slots = ", ".join(d.slot for d in nvidia_pci)
    driver = next((d.driver for d in nvidia_pci if d.driver), None)
    reason = report.nvml.reason or "NVML is unavailable"
    if "pynvml" in reason:
        fix = "pip install nvidia-ml-py"
    elif driver == "nouveau" or driver is None:
        fix = "install NVIDIA's proprietary driver (nouveau cannot run CUDA), then reboot"
    else:
        fix = "reinstall the NVIDIA driver (or reboot after a driver update)"
    return [Finding("warning", "nvml_missing_nvidia_visible",
                    "an NVIDIA GPU is on the PCI bus but NVML cannot see it",
                    f"PCI {slots} (driver: {driver or 'none'}); {reason}. Without NVML Workbench "
                    "cannot read its VRAM, and without the driver llama.cpp cannot use it.",
                    fix=fix)]


def _ram_findings(report: HardwareReport) -> list[Finding]:
    total, available = report.ram.total_bytes, report.ram.available_bytes
    if total is None or available is None:
        return [Finding("info", "ram_unknown", "system memory could not be read")]
    if available < LOW_RAM_BYTES or available < LOW_RAM_FRACTION * total:
        return [Finding("warning", "low_free_ram", f"only {_gib(available)} of RAM is free",
                        f"{_gib(total)} in total; models that do not fit will swap or fail "
                        "to load",
                        fix="close memory-hungry programs before loading a model")]
    return [Finding("ok", "ram", f"{_gib(available)} of {_gib(total)} RAM free")]


def _cpu_findings(report: HardwareReport) -> list[Finding]:
    flags, findings = report.cpu.flags, []
    if any(flags.get(f) for f in ("amx_tile", "amx_int8", "amx_bf16")):
        findings.append(Finding(
            "info", "amx_advertised", "the CPU advertises AMX",
            "llama.cpp's CPU weight repacking uses AMX kernels and can crash (SIGILL/SIGSEGV) "
            "where a VM advertises AMX without permitting it; Workbench probes repacking in a "
            "child process before enabling it"))
    if flags.get("avx2") is False and flags.get("avx") is not None:
        findings.append(Finding("warning", "no_avx2", "the CPU has no AVX2",
                                "llama.cpp's fast CPU kernels need AVX2: expect slow generation "
                                "on the CPU"))
    cpu_features = report.llama.features.get("CPU", {})
    if report.llama.probe_ok and cpu_features and report.cpu.flags_source:
        missing = [name for flag, name in (("avx2", "AVX2"), ("avx512f", "AVX512"))
                   if flags.get(flag) and name not in cpu_features]
        if missing:
            findings.append(Finding(
                "info", "build_lacks_cpu_features",
                f"the CPU has {', '.join(missing)} but this llama.cpp build does not use it",
                "llama-cpp-python was compiled for a more generic CPU",
                fix=(f'CMAKE_ARGS="-DGGML_NATIVE=on" pip install --force-reinstall '
                     f"--no-cache-dir llama-cpp-python=={report.llama.version}"),
            ))
    return findings


def _os_findings(report: HardwareReport) -> list[Finding]:
    if report.os.rosetta:
        return [Finding("warning", "rosetta",
                        "Python runs as x86_64 under Rosetta on an Apple Silicon Mac",
                        "an x86_64 llama-cpp-python cannot use Metal and runs several times "
                        "slower; install a native arm64 Python and reinstall Workbench in it",
                        fix="install an arm64 Python (python.org or Homebrew in /opt/homebrew)")]
    return []


def diagnose(report: HardwareReport) -> list[Finding]:
    """Findings, most severe first; an empty problem list still yields "ok" findings."""
    findings = [
        *_os_findings(report),
        *_llama_findings(report),
        *_gpu_findings(report),
        *_nvml_findings(report),
        *_ram_findings(report),
        *_cpu_findings(report),
    ]
    if not report.gpus and not any(d.vendor in ("nvidia", "amd")
                                   for d in report.pci_display_devices):
        findings.append(Finding("info", "no_gpu", "no GPU found: models run on the CPU",
                                "speed then depends on memory bandwidth and CPU cores"))
    order = {s: i for i, s in enumerate(reversed(SEVERITIES))}
    return sorted(findings, key=lambda f: order.get(f.severity, 0))
