"""Display controllers on the PCI bus (Linux sysfs), whatever driver they have or lack.

Used to notice a GPU that its vendor's tools cannot see (an NVIDIA card without a working NVML)
and to name AMD cards from the system's pci.ids database.
"""

from __future__ import annotations

import contextlib
import os
from functools import lru_cache
from pathlib import Path

from workbench.hardware.model import PciDisplayDevice

VENDORS = {
    "0x10de": "nvidia",
    "0x1002": "amd",
    "0x8086": "intel",
    "0x106b": "apple",
    "0x1af4": "virtio",
    "0x1234": "qemu",
    "0x15ad": "vmware",
    "0x1414": "microsoft",
    "0x1a03": "aspeed",
    "0x102b": "matrox",
}
PCI_IDS_PATHS = ("usr/share/hwdata/pci.ids", "usr/share/misc/pci.ids", "usr/share/pci.ids")


def read_text(path: Path) -> str | None:
    """A small sysfs file's stripped text, or None if it cannot be read."""
    try:
        return path.read_text(errors="replace").strip()
    except OSError:
        return None


def pci_display_devices(sysfs_root: Path | str = "/") -> list[PciDisplayDevice]:
    """Every PCI device of class 0x03xxxx (VGA, 3D, other display controllers)."""
    base = Path(sysfs_root) / "sys/bus/pci/devices"
    try:
        slots = sorted(os.listdir(base))
    except OSError:
        return []
    found = []
    for slot in slots:
        dev = base / slot
        pci_class = read_text(dev / "class") or ""
        if not pci_class.lower().startswith("0x03"):
            continue
        vendor_id = (read_text(dev / "vendor") or "").lower()
        driver = None
        with contextlib.suppress(OSError):
            driver = os.path.basename(os.readlink(dev / "driver"))
        found.append(PciDisplayDevice(
            slot=slot,
            vendor_id=vendor_id,
            device_id=(read_text(dev / "device") or "").lower(),
            vendor=VENDORS.get(vendor_id),
            driver=driver,
        ))
    return found


@lru_cache(maxsize=8)
def _pci_ids_text(root: str) -> str | None:
    for rel in PCI_IDS_PATHS:
        text = read_text(Path(root) / rel)
        if text:
            return text
    return None


def pci_device_name(vendor_id: str, device_id: str, root: Path | str = "/") -> str | None:
    """The device's name from the system's pci.ids database, or None.

    ``vendor_id``/``device_id`` are hex with or without ``0x`` ("0x1002", "744c").
    """
    text = _pci_ids_text(str(root))
    if not text:
        return None
    vendor = vendor_id.lower().removeprefix("0x").zfill(4)
    device = device_id.lower().removeprefix("0x").zfill(4)
    in_vendor = False
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        if not line.startswith("\t"):
            if in_vendor:
                return None
            in_vendor = line[:4].lower() == vendor
        elif in_vendor and not line.startswith("\t\t") and line[1:5].lower() == device:
            return line[5:].strip() or None
    return None
