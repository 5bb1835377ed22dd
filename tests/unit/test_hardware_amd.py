"""AMD detection from a fake sysfs tree (and a fake amdsmi), PCI display devices."""

from __future__ import annotations

import types
from pathlib import Path

import pytest

from workbench.hardware import detect_amd
from workbench.hardware.amd import gfx_name
from workbench.hardware.pci import pci_device_name, pci_display_devices

GIB = 1024**3

PCI_IDS = """\
# comment
1002  Advanced Micro Devices, Inc. [AMD/ATI]
\t73bf  Navi 21 [Radeon RX 6800/6800 XT / 6900 XT]
\t744c  Navi 31 [Radeon RX 7900 XT/7900 XTX/7900 GRE/7900M]
\t\t1002 0e3b  Radeon RX 7900 XTX
10de  NVIDIA Corporation
\t2684  AD102 [GeForce RTX 4090]
"""


def _files(directory: Path, **files: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text + "\n")


def _pci_device(root: Path, slot: str, vendor: str, device: str, pci_class: str,
                driver: str | None = None, **files: str) -> Path:
    dev = root / "sys/devices/pci0000:00" / slot
    _files(dev, vendor=vendor, device=device, **{"class": pci_class}, **files)
    bus = root / "sys/bus/pci/devices"
    bus.mkdir(parents=True, exist_ok=True)
    (bus / slot).symlink_to(dev)
    if driver:
        target = root / "sys/bus/pci/drivers" / driver
        target.mkdir(parents=True, exist_ok=True)
        (dev / "driver").symlink_to(target)
    return dev


def _drm_card(root: Path, card: str, dev: Path, render_minor: int | None = None) -> None:
    drm = root / "sys/class/drm"
    (drm / card).mkdir(parents=True, exist_ok=True)
    (drm / card / "device").symlink_to(dev)
    if render_minor is not None:
        (dev / "drm" / f"renderD{render_minor}").mkdir(parents=True)


def _kfd_node(root: Path, node: int, **props: int) -> None:
    text = "\n".join(f"{k} {v}" for k, v in props.items())
    _files(root / "sys/class/kfd/kfd/topology/nodes" / str(node), properties=text)


@pytest.fixture
def machine(tmp_path: Path) -> Path:
    """A desktop with a Radeon RX 7900 XTX (gfx1100) and an Intel iGPU."""
    radeon = _pci_device(tmp_path, "0000:03:00.0", "0x1002", "0x744c", "0x030000",
                         driver="amdgpu", mem_info_vram_total=str(24 * GIB),
                         mem_info_vram_used=str(2 * GIB), mem_info_gtt_total=str(16 * GIB))
    intel = _pci_device(tmp_path, "0000:00:02.0", "0x8086", "0xa780", "0x030000", driver="i915")
    _pci_device(tmp_path, "0000:00:1f.3", "0x8086", "0x7a50", "0x040300")  # audio: not a GPU
    _drm_card(tmp_path, "card1", radeon, render_minor=129)
    _drm_card(tmp_path, "card0", intel, render_minor=128)
    (tmp_path / "sys/class/drm/card1-DP-1").mkdir()  # a connector, not a card
    _kfd_node(tmp_path, 0, cpu_cores_count=16, gfx_target_version=0)
    _kfd_node(tmp_path, 1, gfx_target_version=110000, drm_render_minor=129, vendor_id=4098)
    _files(tmp_path / "usr/share/hwdata", **{"pci.ids": PCI_IDS})
    return tmp_path


def test_sysfs_radeon(machine: Path) -> None:
    gpus, source = detect_amd(machine, use_amdsmi=False)
    assert source == "sysfs"
    [gpu] = gpus
    assert gpu.vendor == "amd" and gpu.source == "sysfs" and gpu.index == 0
    assert gpu.name == "AMD Navi 31 [Radeon RX 7900 XT/7900 XTX/7900 GRE/7900M]"
    assert gpu.vram_total_bytes == 24 * GIB
    assert gpu.vram_used_bytes == 2 * GIB
    assert gpu.vram_free_bytes == 22 * GIB
    assert gpu.arch == "gfx1100"
    assert gpu.pci_bus_id == "0000:03:00.0"
    assert gpu.extra["gtt_total_bytes"] == 16 * GIB
    assert gpu.extra["drm_card"] == 1


def test_product_name_wins_and_without_pci_ids(tmp_path: Path) -> None:
    dev = _pci_device(tmp_path, "0000:c1:00.0", "0x1002", "0x74a1", "0x038000",
                      product_name="AMD Instinct MI300X", mem_info_vram_total=str(192 * GIB),
                      mem_info_vram_used="0")
    _drm_card(tmp_path, "card0", dev)
    other = _pci_device(tmp_path, "0000:c2:00.0", "0x1002", "0x73bf", "0x030000",
                        mem_info_vram_total=str(16 * GIB), mem_info_vram_used=str(GIB))
    _drm_card(tmp_path, "card1", other)
    gpus, _ = detect_amd(tmp_path, use_amdsmi=False)
    assert [g.name for g in gpus] == ["AMD Instinct MI300X", "AMD GPU [1002:73bf]"]
    assert gpus[0].arch is None  # no KFD topology here
    assert gpus[1].index == 1


def test_no_amd_gpu(tmp_path: Path) -> None:
    assert detect_amd(tmp_path, use_amdsmi=False) == ([], None)


def test_gfx_names() -> None:
    assert gfx_name(110000) == "gfx1100"
    assert gfx_name(90010) == "gfx90a"
    assert gfx_name(90402) == "gfx942"
    assert gfx_name(100300) == "gfx1030"
    assert gfx_name(110501) == "gfx1151"
    assert gfx_name(0) is None


def _fake_amdsmi(*, broken: bool = False) -> types.ModuleType:
    mod = types.ModuleType("amdsmi")
    mod.log = []  # type: ignore[attr-defined]
    mod.AmdSmiMemoryType = types.SimpleNamespace(VRAM="VRAM")  # type: ignore[attr-defined]

    def amdsmi_init() -> None:
        mod.log.append("init")  # type: ignore[attr-defined]
        if broken:
            raise RuntimeError("amdsmi_init failed: AMDSMI_STATUS_DRIVER_NOT_LOADED")

    def amdsmi_shut_down() -> None:
        mod.log.append("shutdown")  # type: ignore[attr-defined]

    def check(mem_type: str) -> None:
        assert mem_type == "VRAM"

    funcs = {
        "amdsmi_init": amdsmi_init,
        "amdsmi_shut_down": amdsmi_shut_down,
        "amdsmi_get_processor_handles": lambda: ["h0"],
        "amdsmi_get_gpu_asic_info": lambda h: {"market_name": "AMD Radeon RX 7900 XTX",
                                               "vendor_id": "0x1002",
                                               "target_graphics_version": "gfx1100"},
        "amdsmi_get_gpu_memory_total": lambda h, t: check(t) or 24 * GIB,
        "amdsmi_get_gpu_memory_usage": lambda h, t: check(t) or 3 * GIB,
        "amdsmi_get_gpu_vram_info": lambda h: {"vram_bit_width": 384,
                                               "vram_max_bandwidth": 960},
        "amdsmi_get_gpu_device_bdf": lambda h: "0000:03:00.0",
        "amdsmi_get_gpu_device_uuid": lambda h: "uuid-0",
        "amdsmi_get_gpu_driver_info": lambda h: {"driver_version": "6.8.5"},
    }
    for name, func in funcs.items():
        setattr(mod, name, func)
    return mod


def test_amdsmi_first(machine: Path) -> None:
    smi = _fake_amdsmi()
    gpus, source = detect_amd(machine, amdsmi_module=smi)
    assert source == "amdsmi"
    [gpu] = gpus
    assert gpu.name == "AMD Radeon RX 7900 XTX" and gpu.arch == "gfx1100"
    assert gpu.vram_total_bytes == 24 * GIB and gpu.vram_free_bytes == 21 * GIB
    assert gpu.memory_bandwidth_gbps == 960.0 and gpu.memory_bus_width_bits == 384
    assert gpu.driver_version == "6.8.5" and gpu.pci_bus_id == "0000:03:00.0"
    assert smi.log == ["init", "shutdown"]


def test_broken_amdsmi_falls_back_to_sysfs(machine: Path) -> None:
    gpus, source = detect_amd(machine, amdsmi_module=_fake_amdsmi(broken=True))
    assert source == "sysfs"
    assert gpus[0].arch == "gfx1100"


def test_pci_display_devices(machine: Path) -> None:
    devices = pci_display_devices(machine)
    assert [(d.slot, d.vendor, d.driver) for d in devices] == [
        ("0000:00:02.0", "intel", "i915"),
        ("0000:03:00.0", "amd", "amdgpu"),
    ]
    assert devices[1].device_id == "0x744c"


def test_pci_names(machine: Path) -> None:
    assert pci_device_name("0x10de", "0x2684", machine) == "AD102 [GeForce RTX 4090]"
    assert pci_device_name("1002", "73BF", machine) == "Navi 21 [Radeon RX 6800/6800 XT / 6900 XT]"
    assert pci_device_name("0x1002", "0x0e3b", machine) is None  # a subsystem line, not a device
    assert pci_device_name("0x1002", "0x744c", machine / "nowhere") is None


def test_this_machine_does_not_raise() -> None:
    gpus, source = detect_amd()
    assert isinstance(gpus, list)
    assert (source is None) == (not gpus)
    assert all(d.slot for d in pci_display_devices())
