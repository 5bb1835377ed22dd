"""The Hardware page: GPUs with VRAM gauges, the CPU and its SIMD features, RAM, what the
installed llama.cpp can use, and the doctor's findings with their fixes.

``detect()`` runs a probe in a child process the first time, so it runs off the GUI thread
(``BackgroundCall``); the page detects when it is first shown and on Refresh.
"""

from __future__ import annotations

import html
from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication, QShowEvent
from PySide6.QtWidgets import (
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from workbench.hardware import Finding, HardwareReport, detect, diagnose
from workbench.hardware.model import GpuInfo
from workbench.ui.background import BackgroundCall
from workbench.ui.fonts import code_font
from workbench.ui.gauge import MemoryGauge
from workbench.ui.widgets import make_secondary, page_title

Detector = Callable[[], tuple[HardwareReport, list[Finding]]]

SEVERITY_TEXT = {"ok": "OK", "info": "Info", "warning": "Warning", "error": "Error"}


def detect_and_diagnose() -> tuple[HardwareReport, list[Finding]]:
    report = detect()
    return report, diagnose(report)


def flag_text(flags: dict[str, bool | None]) -> str:
    """SIMD features as text: the ones present, then the ones absent."""
    have = [name.upper() for name, value in flags.items() if value]
    lack = [name.upper() for name, value in flags.items() if value is False]
    unknown = [name.upper() for name, value in flags.items() if value is None]
    parts = []
    if have:
        parts.append("yes: " + ", ".join(have))
    if lack:
        parts.append("no: " + ", ".join(lack))
    if unknown:
        parts.append("unknown: " + ", ".join(unknown))
    return "\n".join(parts) or "not reported"


def llama_use_text(gpu: GpuInfo) -> str:
    if gpu.llama_usable is None:
        return "unknown (the llama.cpp probe did not run)"
    return "yes" if gpu.llama_usable else "no: this llama.cpp build has no backend for it"


def _selectable(text: str, parent: QWidget) -> QLabel:
    label = QLabel(text, parent)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


class FindingRow(QFrame):
    """One doctor finding: severity as text, title, detail, and the fix with a Copy button."""

    def __init__(self, finding: Finding, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.finding = finding
        self.setObjectName("finding")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 4)
        severity = html.escape(SEVERITY_TEXT.get(finding.severity, finding.severity))
        # a finding can quote a driver, a GPU name or an error: escaped, only the severity bold
        title = QLabel(f"<b>{severity}</b>: {html.escape(finding.title)}", self)
        title.setTextFormat(Qt.TextFormat.RichText)
        title.setWordWrap(True)
        title.setAccessibleName(f"{finding.severity}: {finding.title}")
        layout.addWidget(title)
        if finding.detail:
            detail = _selectable(finding.detail, self)
            detail.setTextFormat(Qt.TextFormat.PlainText)
            layout.addWidget(detail)
        self.fix: QLineEdit | None = None
        if finding.fix:
            row = QHBoxLayout()
            self.fix = QLineEdit(finding.fix, self)
            self.fix.setReadOnly(True)
            self.fix.setFont(code_font())
            self.fix.setAccessibleName(f"Fix for {finding.title}")
            self.fix.setCursorPosition(0)
            copy = QPushButton("Copy", self)
            copy.setAccessibleName(f"Copy the fix for {finding.title}")
            copy.setToolTip("Copy this command to the clipboard")
            copy.clicked.connect(self.copy_fix)
            row.addWidget(self.fix, 1)
            row.addWidget(copy)
            layout.addLayout(row)

    def copy_fix(self) -> None:
        if self.finding.fix:
            QGuiApplication.clipboard().setText(self.finding.fix)


class HardwarePage(QWidget):
    detected = Signal(object)  # HardwareReport
    statusMessage = Signal(str)

    def __init__(self, detector: Detector | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._detector = detector or detect_and_diagnose
        self.report: HardwareReport | None = None
        self.findings: list[Finding] = []
        self.gpu_gauges: list[MemoryGauge] = []
        self.finding_rows: list[FindingRow] = []
        self._call: BackgroundCall | None = None

        title = page_title("This machine", self)
        self.state_label = QLabel("", self)
        self.state_label.setAccessibleName("Detection state")
        self.refresh_button = QPushButton("Detect again", self)
        self.refresh_button.setAccessibleName("Detect the hardware again")
        self.refresh_button.setToolTip("Probe the GPUs, CPU, memory and the llama.cpp build again")
        self.refresh_button.clicked.connect(lambda: self.refresh(force=True))
        header = QHBoxLayout()
        header.addWidget(title)
        header.addStretch(1)
        header.addWidget(self.state_label)
        header.addWidget(self.refresh_button)

        self.body = QWidget(self)
        self.body_layout = QVBoxLayout(self.body)
        self.body_layout.setContentsMargins(0, 0, 0, 0)
        self.body_layout.setSpacing(12)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(self.body)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 12, 16, 12)
        layout.addLayout(header)
        layout.addWidget(scroll, 1)

    # -- detection -------------------------------------------------------------------------
    @property
    def detecting(self) -> bool:
        return self._call is not None

    def refresh(self, force: bool = False) -> None:
        """Detect in the background (no-op while a detection runs, or when done unless forced)."""
        if self._call is not None or (self.report is not None and not force):
            return
        self.state_label.setText("Detecting…")
        self.refresh_button.setEnabled(False)
        self._call = BackgroundCall(self._detector, self, name="workbench-hardware")
        self._call.finished.connect(self._on_detected)
        self._call.failed.connect(self._on_failed)
        self._call.start()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.refresh()

    def _on_detected(self, result: tuple[HardwareReport, list[Finding]]) -> None:
        self._call = None
        self.refresh_button.setEnabled(True)
        self.report, self.findings = result
        seconds = self.report.elapsed_seconds
        self.state_label.setText(f"Detected in {seconds:.1f} s" if seconds else "Detected")
        self._rebuild()
        self.detected.emit(self.report)

    def _on_failed(self, err: BaseException) -> None:
        self._call = None
        self.refresh_button.setEnabled(True)
        self.state_label.setText(f"Detection failed: {err}")
        self.statusMessage.emit(f"Hardware detection failed: {err}")

    # -- display ---------------------------------------------------------------------------
    def _clear(self) -> None:
        while self.body_layout.count():
            item = self.body_layout.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        self.gpu_gauges = []
        self.finding_rows = []

    def _rebuild(self) -> None:
        assert self.report is not None
        self._clear()
        report = self.report
        self.body_layout.addWidget(self._gpu_box(report))
        self.body_layout.addWidget(self._cpu_box(report))
        self.body_layout.addWidget(self._llama_box(report))
        self.body_layout.addWidget(self._doctor_box())
        self.body_layout.addStretch(1)

    def _hint(self, text: str, parent: QWidget) -> QLabel:
        return make_secondary(_selectable(text, parent))

    def _gpu_box(self, report: HardwareReport) -> QGroupBox:
        box = QGroupBox(f"GPUs ({len(report.gpus)})", self.body)
        layout = QVBoxLayout(box)
        if not report.gpus:
            reason = report.nvml.reason if not report.nvml.available else None
            text = "No GPU found: models run on the CPU."
            if reason:
                text += f" NVML: {reason}."
            layout.addWidget(self._hint(text, box))
        for gpu in report.gpus:
            form = QFormLayout()
            name = gpu.name or f"{gpu.vendor} GPU {gpu.index}"
            heading = QLabel(f"<b>{gpu.index}: {html.escape(name)}</b>", box)  # a driver's text
            heading.setTextFormat(Qt.TextFormat.RichText)
            layout.addWidget(heading)
            gauge = MemoryGauge(f"VRAM of GPU {gpu.index}", box)
            used, total = gpu.vram_used_bytes, gpu.vram_total_bytes
            if used is None and total is not None and gpu.vram_free_bytes is not None:
                used = total - gpu.vram_free_bytes
            gauge.set_usage(used, total)
            self.gpu_gauges.append(gauge)
            form.addRow("VRAM:", gauge)
            details = []
            if gpu.compute_capability:
                details.append(f"compute capability {gpu.compute_capability}")
            if gpu.arch:
                details.append(gpu.arch)
            if gpu.driver_version:
                details.append(f"driver {gpu.driver_version}")
            if gpu.memory_bandwidth_gbps:
                details.append(f"{gpu.memory_bandwidth_gbps:.0f} GB/s memory bandwidth")
            if details:
                form.addRow("Details:", _selectable(", ".join(details), box))
            form.addRow("llama.cpp can use it:", _selectable(llama_use_text(gpu), box))
            layout.addLayout(form)
        return box

    def _cpu_box(self, report: HardwareReport) -> QGroupBox:
        box = QGroupBox("CPU and memory", self.body)
        form = QFormLayout(box)
        cpu = report.cpu
        form.addRow("CPU:", _selectable(cpu.model or "unknown model", box))
        cores = f"{cpu.physical_cores or '?'} physical, {cpu.logical_cores or '?'} logical"
        form.addRow("Cores:", _selectable(cores, box))
        flags = _selectable(flag_text(cpu.flags), box)
        flags.setToolTip("SIMD instruction sets llama.cpp's CPU kernels use"
                         + (f" (from {cpu.flags_source})" if cpu.flags_source else ""))
        form.addRow("SIMD:", flags)
        self.ram_gauge = MemoryGauge("System RAM", box)
        ram = report.ram
        used = (ram.total_bytes - ram.available_bytes
                if ram.total_bytes is not None and ram.available_bytes is not None else None)
        self.ram_gauge.set_usage(used, ram.total_bytes)
        form.addRow("RAM:", self.ram_gauge)
        return box

    def _llama_box(self, report: HardwareReport) -> QGroupBox:
        box = QGroupBox("What llama.cpp can use", self.body)
        form = QFormLayout(box)
        build = report.llama
        if not build.installed:
            form.addRow(self._hint("llama-cpp-python is not installed.", box))
            return box
        form.addRow("llama-cpp-python:", _selectable(build.version or "unknown version", box))
        if build.error:
            form.addRow("Probe:", _selectable(f"failed: {build.error}", box))
        elif not build.probe_ok:
            form.addRow("Probe:", _selectable("not run", box))
        else:
            offload = {True: "yes", False: "no (CPU only)", None: "unknown"}[build.gpu_offload]
            form.addRow("GPU offload:", _selectable(offload, box))
            devices = [f"{d.get('name')}: {d.get('description') or ''} ({d.get('type')})"
                       for d in build.devices]
            form.addRow("Devices:", _selectable("\n".join(devices) or "none", box))
            cpu_features = build.features.get("CPU") or {}
            if cpu_features:
                enabled = [k for k, v in cpu_features.items() if str(v) not in ("0", "")]
                form.addRow("CPU kernels:", _selectable(", ".join(enabled) or "none", box))
        return box

    def _doctor_box(self) -> QGroupBox:
        box = QGroupBox("Doctor", self.body)
        layout = QVBoxLayout(box)
        if not self.findings:
            layout.addWidget(self._hint("No findings.", box))
        for finding in self.findings:
            row = FindingRow(finding, box)
            self.finding_rows.append(row)
            layout.addWidget(row)
        return box
