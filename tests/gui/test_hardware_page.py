"""The Hardware page: detection off the GUI thread, VRAM/RAM gauges, findings with fixes."""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtGui import QGuiApplication

from tests.fakes.nvml import make_fake_pynvml, rtx_4090
from workbench.hardware import detect, diagnose
from workbench.hardware.model import LlamaBuild
from workbench.ui.hardware_page import HardwarePage

GIB = 1024**3


def test_detects_off_the_gui_thread_and_shows_gauges_and_fixes(qtbot, tmp_path: Path) -> None:
    threads: list[str] = []

    def detector():
        threads.append(threading.current_thread().name)
        report = detect(nvml_module=make_fake_pynvml([rtx_4090()]), sysfs_root=tmp_path,
                        probe_llama=False)
        # a CPU-only llama.cpp build, as probed: the doctor then says how to rebuild it
        report.llama = LlamaBuild(installed=True, version="0.3.36", probe_ok=True,
                                  gpu_offload=False,
                                  devices=[{"name": "CPU", "description": "x86", "type": "cpu"}])
        for gpu in report.gpus:
            gpu.llama_usable = False
        return report, diagnose(report)

    page = HardwarePage(detector)
    qtbot.addWidget(page)
    page.resize(900, 700)
    with qtbot.waitSignal(page.detected, timeout=10_000):
        page.show()
        assert page.detecting  # the GUI thread did not wait
    assert threads == ["workbench-hardware"]
    assert page.report is not None and len(page.gpu_gauges) == 1
    gauge = page.gpu_gauges[0]
    gpu = page.report.gpus[0]
    assert gauge.value() == round(1000 * gpu.vram_used_bytes / gpu.vram_total_bytes)
    assert "used / 24.0 GiB" in gauge.format()
    ram = page.report.ram
    assert "GiB" in page.ram_gauge.format() and ram.total_bytes
    # the doctor's findings, each with its fix, copyable
    rows_with_fix = [row for row in page.finding_rows if row.fix is not None]
    assert rows_with_fix, [f.code for f in page.findings]
    row = rows_with_fix[0]
    assert row.fix.isReadOnly() and row.fix.text() == row.finding.fix
    row.copy_fix()
    assert QGuiApplication.clipboard().text() == row.finding.fix
    # shown again: no second detection unless asked
    page.hide()
    page.show()
    assert not page.detecting
    with qtbot.waitSignal(page.detected, timeout=10_000):
        page.refresh_button.click()
    assert threads == ["workbench-hardware"] * 2


def test_no_gpu_and_a_failed_probe_are_said_plainly(qtbot, tmp_path: Path) -> None:
    def detector():
        report = detect(nvml_module=make_fake_pynvml([]), sysfs_root=tmp_path, probe_llama=False)
        report.llama = LlamaBuild(installed=True, version="0.3.36",
                                  error="probe crashed: SIGSEGV")
        return report, diagnose(report)

    page = HardwarePage(detector)
    qtbot.addWidget(page)
    with qtbot.waitSignal(page.detected, timeout=10_000):
        page.show()
    assert page.gpu_gauges == []
    texts = [w.text() for w in page.findChildren(type(page.state_label))]
    assert any(t.startswith("No GPU found") for t in texts)
    assert any("failed: probe crashed: SIGSEGV" in t for t in texts)
    assert any(f.severity == "error" and f.fix for f in page.findings)


def test_a_drivers_gpu_name_is_shown_as_written(qtbot, tmp_path: Path) -> None:
    from PySide6.QtGui import QTextDocument
    from PySide6.QtWidgets import QLabel

    hostile = 'RTX <img src="file:///etc/passwd"><a href="x">update</a>'

    def detector():
        report = detect(nvml_module=make_fake_pynvml([rtx_4090(name=hostile)]),
                        sysfs_root=tmp_path, probe_llama=False)
        return report, diagnose(report)

    page = HardwarePage(detector)
    qtbot.addWidget(page)
    with qtbot.waitSignal(page.detected, timeout=10_000):
        page.show()
    shown = []
    for label in page.findChildren(QLabel):
        document = QTextDocument()
        document.setHtml(label.text())
        shown.append(document.toPlainText())
    assert any(f"0: {hostile}" in text for text in shown)
