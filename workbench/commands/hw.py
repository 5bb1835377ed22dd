"""``workbench hw``: this machine's CPU, RAM, GPUs and what the llama.cpp build can use."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workbench.hardware import HardwareReport


def register(subparsers: Any) -> None:
    from workbench.commands.output import add_json_flag

    parser = subparsers.add_parser(
        "hw",
        help="show the hardware and what the llama.cpp build can use",
        description="Detect the CPU (model, cores, SIMD features), RAM, GPUs (NVIDIA through "
                    "NVML, AMD through amdsmi or sysfs, Apple Silicon through sysctl) and probe "
                    "the installed llama-cpp-python build in a child process (cached).",
    )
    parser.add_argument("--no-probe", action="store_true",
                        help="do not probe the llama.cpp build")
    parser.add_argument("--refresh", action="store_true",
                        help="probe the llama.cpp build again instead of using the cached answer")
    add_json_flag(parser)
    parser.set_defaults(func=handler)


def handler(args: argparse.Namespace) -> int:
    from workbench.commands.output import emit
    from workbench.hardware import detect

    report = detect(probe_llama=not args.no_probe, refresh_probe=args.refresh)
    emit(args, report.to_dict(), lambda: print_human(report))
    return 0


def _size(n: int | None) -> str:
    from workbench.present.numbers import format_bytes

    return "-" if n is None else format_bytes(n)


def _value(value: object, unit: str = "") -> str:
    from workbench.present.numbers import plain

    if value is None:
        return "-"
    if isinstance(value, float):
        value = plain(value, 6)
    return f"{value}{unit}"


def print_human(report: HardwareReport) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    # markup=False: names such as "Navi 31 [Radeon RX 7900 XT]" must print as they are.
    console = Console(file=sys.stdout, highlight=False, emoji=False, markup=False)
    system = Table(title="System", show_header=False, title_justify="left")
    system.add_column(style="bold")
    system.add_column()
    os_info, cpu, ram = report.os, report.cpu, report.ram
    system.add_row("OS", f"{os_info.system} {os_info.release} ({os_info.machine})"
                   + ("  [translated by Rosetta]" if os_info.rosetta else ""))
    system.add_row("CPU", f"{cpu.model or '?'} — {_value(cpu.physical_cores)} cores, "
                          f"{_value(cpu.logical_cores)} threads")
    present = [name for name, on in cpu.flags.items() if on]
    system.add_row("CPU features", " ".join(present) if cpu.flags_source else "unknown")
    system.add_row("RAM", f"{_size(ram.available_bytes)} free of {_size(ram.total_bytes)}"
                          + (f", swap {_size(ram.swap_total_bytes)}"
                             if ram.swap_total_bytes else ""))
    nvml = report.nvml
    system.add_row("NVML", f"driver {nvml.driver_version}, CUDA {nvml.cuda_driver_version}"
                   if nvml.available else f"unavailable: {nvml.reason}")
    console.print(system)

    if report.gpus:
        gpus = Table(title="GPUs", title_justify="left")
        for column in ("#", "GPU", "VRAM free / total", "bandwidth", "compute", "power",
                       "llama.cpp"):
            gpus.add_column(column)
        for gpu in report.gpus:
            memory = f"{_size(gpu.vram_free_bytes)} / {_size(gpu.vram_total_bytes)}"
            if gpu.estimated:
                memory += " (est.)"
            if gpu.unified_memory:
                memory += " unified"
            compute = (f"sm {gpu.compute_capability}" if gpu.compute_capability
                       else gpu.arch or "-")
            power = (f"{_value(gpu.power_draw_watts, ' W')} / {_value(gpu.power_limit_watts, ' W')}"
                     if gpu.power_limit_watts or gpu.power_draw_watts else "-")
            usable = {True: Text("usable", style="green"),
                      False: Text("not usable", style="red"),
                      None: Text("unknown")}[gpu.llama_usable]
            gpus.add_row(str(gpu.index), f"{gpu.name or '?'} ({gpu.vendor}, {gpu.source})",
                         memory, _value(gpu.memory_bandwidth_gbps, " GB/s"), compute, power,
                         usable)
        console.print(gpus)
        commands: dict[str, list[str]] = {}
        for gpu in report.gpus:
            if gpu.reinstall_command:
                commands.setdefault(gpu.reinstall_command, []).append(f"#{gpu.index}")
        for command, indices in commands.items():
            console.print(f"llama.cpp cannot use GPU {', '.join(indices)}; rebuild it with:\n"
                          f"  {command}")
        for gpu in report.gpus:
            if gpu.other_processes_vram_bytes:
                console.print(f"GPU {gpu.index}: other processes hold "
                              f"{_size(gpu.other_processes_vram_bytes)}")
    else:
        console.print("GPUs: none found")

    build = report.llama
    llama = Table(title="llama.cpp build", show_header=False, title_justify="left")
    llama.add_column(style="bold")
    llama.add_column()
    if not build.installed:
        llama.add_row("llama-cpp-python", build.error or "not installed")
    else:
        llama.add_row("llama-cpp-python", f"{build.version or '?'}"
                      + (f" (ggml {build.ggml_version}, {build.ggml_commit})"
                         if build.ggml_version else ""))
        if build.error:
            llama.add_row("probe", build.error)
        elif build.probe_ok:
            llama.add_row("GPU offload", "yes" if build.gpu_offload else "no (CPU only)")
            for device in build.devices:
                llama.add_row(f"device {device.get('name')}",
                              f"{device.get('type')}: {device.get('description')}, "
                              f"{_size(device.get('memory_total_bytes'))}")
            for backend, features in build.features.items():
                llama.add_row(f"{backend} features",
                              " ".join(k if v == "1" else f"{k}={v}" for k, v in features.items()))
        for note in build.notes:
            llama.add_row("note", note)
    console.print(llama)
