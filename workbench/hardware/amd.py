"""AMD GPUs: through ``amdsmi`` (ROCm's Python binding) when it imports and works, else sysfs.

sysfs (amdgpu driver): /sys/class/drm/cardN/device/{vendor=0x1002, mem_info_vram_total,
mem_info_vram_used, product_name (server cards only)}. The gfx architecture (what a ROCm/HIP
build must target) comes from the KFD topology, /sys/class/kfd/kfd/topology/nodes/*/properties
(``gfx_target_version 110000`` = gfx1100, matched to the card by ``drm_render_minor``).
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path
from types import ModuleType
from typing import Any

from workbench.hardware.model import GpuInfo
from workbench.hardware.pci import pci_device_name, read_text

AMD_VENDOR_ID = "0x1002"
_CARD = re.compile(r"card(\d+)$")


def gfx_name(target_version: int) -> str | None:
    """KFD's ``gfx_target_version`` (major*10000 + minor*100 + stepping) as a gfx name.

    110000 -> gfx1100, 90010 -> gfx90a, 90402 -> gfx942, 100300 -> gfx1030.
    """
    if target_version <= 0:
        return None
    major, minor = target_version // 10000, (target_version // 100) % 100
    step = target_version % 100
    return f"gfx{major}{minor}{step:x}"


def _int(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text, 0)
    except ValueError:
        return None


def _kfd_nodes(root: Path) -> list[dict[str, int]]:
    base = root / "sys/class/kfd/kfd/topology/nodes"
    try:
        names = sorted(os.listdir(base), key=lambda n: int(n) if n.isdigit() else 0)
    except OSError:
        return []
    nodes = []
    for name in names:
        text = read_text(base / name / "properties") or ""
        props = {}
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            number = _int(value.strip())
            if number is not None:
                props[key] = number
        if props.get("gfx_target_version", 0) > 0:  # CPU nodes have 0
            nodes.append(props)
    return nodes


def _render_minor(device_dir: Path) -> int | None:
    try:
        for entry in os.listdir(device_dir / "drm"):
            if entry.startswith("renderD") and entry[7:].isdigit():
                return int(entry[7:])
    except OSError:
        pass
    return None


def _amd_cards(root: Path) -> list[tuple[int, Path]]:
    base = root / "sys/class/drm"
    try:
        entries = os.listdir(base)
    except OSError:
        return []
    cards = []
    for entry in entries:
        match = _CARD.match(entry)
        if match and (read_text(base / entry / "device/vendor") or "").lower() == AMD_VENDOR_ID:
            cards.append((int(match.group(1)), base / entry / "device"))
    return sorted(cards)


def detect_amd_sysfs(sysfs_root: Path | str = "/") -> list[GpuInfo]:
    """AMD GPUs from the amdgpu driver's sysfs files (no ROCm needed)."""
    root = Path(sysfs_root)
    cards = _amd_cards(root)
    nodes = _kfd_nodes(root)
    gpus = []
    for index, (card_number, dev) in enumerate(cards):
        device_id = (read_text(dev / "device") or "").lower()
        name = read_text(dev / "product_name") or None
        if not name:
            known = pci_device_name(AMD_VENDOR_ID, device_id, root) if device_id else None
            name = f"AMD {known}" if known else f"AMD GPU [1002:{device_id.removeprefix('0x')}]"
        total = _int(read_text(dev / "mem_info_vram_total"))
        used = _int(read_text(dev / "mem_info_vram_used"))
        gpu = GpuInfo(vendor="amd", name=name, index=index, source="sysfs")
        gpu.vram_total_bytes = total
        gpu.vram_used_bytes = used
        gpu.vram_free_bytes = total - used if total is not None and used is not None else None
        with contextlib.suppress(OSError):
            gpu.pci_bus_id = os.path.basename(os.path.realpath(dev))
        gpu.extra["drm_card"] = card_number
        gtt = _int(read_text(dev / "mem_info_gtt_total"))
        if gtt is not None:
            gpu.extra["gtt_total_bytes"] = gtt
        minor = _render_minor(dev)
        node = next((n for n in nodes if minor is not None and n.get("drm_render_minor") == minor),
                    None)
        if node is None and len(nodes) == len(cards) == 1:
            node = nodes[0]
        if node is not None:
            gpu.arch = gfx_name(node["gfx_target_version"])
        gpus.append(gpu)
    return gpus


def _na(value: Any) -> Any:
    return None if value in (None, "N/A", "") else value


def detect_amd_smi(amdsmi: ModuleType) -> list[GpuInfo]:
    """AMD GPUs through amdsmi; raises if amdsmi itself cannot start (the caller falls back)."""
    amdsmi.amdsmi_init()
    try:
        gpus = []
        memory_type = getattr(getattr(amdsmi, "AmdSmiMemoryType", None), "VRAM", 0)
        for index, handle in enumerate(amdsmi.amdsmi_get_processor_handles()):
            gpu = GpuInfo(vendor="amd", name=None, index=index, source="amdsmi")

            def call(field: str, func: str, *args: Any, _gpu: GpuInfo = gpu) -> Any:
                try:
                    return getattr(amdsmi, func)(*args)
                except Exception as err:
                    _gpu.errors[field] = f"{type(err).__name__}: {err}"
                    return None

            asic = call("asic_info", "amdsmi_get_gpu_asic_info", handle) or {}
            gpu.name = _na(asic.get("market_name"))
            arch = _na(asic.get("target_graphics_version"))
            gpu.arch = str(arch) if arch else None
            total = call("vram_total", "amdsmi_get_gpu_memory_total", handle, memory_type)
            used = call("vram_used", "amdsmi_get_gpu_memory_usage", handle, memory_type)
            gpu.vram_total_bytes = int(total) if isinstance(total, int) else None
            gpu.vram_used_bytes = int(used) if isinstance(used, int) else None
            if gpu.vram_total_bytes is not None and gpu.vram_used_bytes is not None:
                gpu.vram_free_bytes = gpu.vram_total_bytes - gpu.vram_used_bytes
            vram = call("vram_info", "amdsmi_get_gpu_vram_info", handle) or {}
            width = _na(vram.get("vram_bit_width"))
            gpu.memory_bus_width_bits = width if isinstance(width, int) else None
            bandwidth = _na(vram.get("vram_max_bandwidth"))  # GB/s per amdsmi.h
            gpu.memory_bandwidth_gbps = float(bandwidth) if isinstance(bandwidth, int) else None
            bdf = call("pci_bus_id", "amdsmi_get_gpu_device_bdf", handle)
            gpu.pci_bus_id = str(bdf) if bdf else None
            uuid = call("uuid", "amdsmi_get_gpu_device_uuid", handle)
            gpu.uuid = str(uuid) if uuid else None
            driver = call("driver", "amdsmi_get_gpu_driver_info", handle) or {}
            gpu.driver_version = _na(driver.get("driver_version"))
            gpus.append(gpu)
        return gpus
    finally:
        with contextlib.suppress(Exception):
            amdsmi.amdsmi_shut_down()


def detect_amd(
    sysfs_root: Path | str = "/",
    *,
    amdsmi_module: ModuleType | None = None,
    use_amdsmi: bool = True,
) -> tuple[list[GpuInfo], str | None]:
    """AMD GPUs and where they came from ("amdsmi", "sysfs", or None when there are none).

    amdsmi is tried first when importable (or given); if it fails or lists nothing, sysfs is
    read under ``sysfs_root``. Never raises.
    """
    if use_amdsmi:
        module = amdsmi_module
        if module is None:
            try:
                import amdsmi as module  # type: ignore[no-redef]
            except Exception:
                module = None
        if module is not None:
            try:
                gpus = detect_amd_smi(module)
                if gpus:
                    return gpus, "amdsmi"
            except Exception:
                pass
    try:
        gpus = detect_amd_sysfs(sysfs_root)
    except Exception:
        return [], None
    return gpus, ("sysfs" if gpus else None)
