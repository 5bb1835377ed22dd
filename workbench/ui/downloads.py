"""Downloads in the window: a ``DownloadQueue`` whose progress reaches the GUI thread in
batches, and the Downloads page (pause, resume, cancel, remove).

The queue's worker thread calls ``on_update`` per progress step; that only pushes "changed"
into a latest-only ``Relay`` (ui/background.py), which reaches the GUI thread at most once per
250 ms: the controller then reads the jobs and emits ``jobsChanged`` once. The queue's thread
starts on the first download or when the Downloads page is first shown (jobs left queued by an
earlier run then resume).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QPushButton,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workbench.errors import WorkbenchError
from workbench.hub import DownloadJob, DownloadQueue, Variant
from workbench.present.numbers import format_bytes
from workbench.ui.background import BackgroundCall, Relay
from workbench.ui.widgets import page_title, plain_label, row_table

REFRESH_MS = 250
COLUMNS = ("Model", "Repository", "State", "Progress", "Speed", "Time left", "Problem")


def progress_text(job: DownloadJob) -> str:
    if job.bytes_total:
        share = 100.0 * job.bytes_done / job.bytes_total
        return f"{format_bytes(job.bytes_done)} / {format_bytes(job.bytes_total)} ({share:.0f}%)"
    return format_bytes(job.bytes_done)


def eta_text(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    if seconds >= 60:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds} s"


def running_summary(jobs: list[DownloadJob]) -> str | None:
    """The status bar's line for the running download(s), None when none runs."""
    running = [j for j in jobs if j.state == "running"]
    if not running:
        return None
    job = running[0]
    text = f"Downloading {job.name}: {progress_text(job)}"
    if job.rate_bps:
        text += f", {format_bytes(job.rate_bps)}/s"
    if len(running) > 1:
        text += f" (+{len(running) - 1} more)"
    return text


class DownloadsController(QObject):
    jobsChanged = Signal(object)  # list[DownloadJob]
    failed = Signal(str)

    def __init__(self, queue: DownloadQueue | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._queue = queue
        self.started = False
        self.jobs: list[DownloadJob] = []
        self._changes = Relay(self, latest_only=True, interval_ms=REFRESH_MS)
        self._changes.delivered.connect(self._changed)

    @property
    def queue(self) -> DownloadQueue:
        if self._queue is None:
            self._queue = DownloadQueue(on_update=self._on_update)
        elif self._queue.on_update is None:
            self._queue.on_update = self._on_update
        return self._queue

    def _on_update(self, _job: DownloadJob, _progress: Any) -> None:
        """Called on the download thread: only say that something changed."""
        self._changes.push(None)

    def start(self) -> None:
        if not self.started:
            self.started = True
            self.queue.start()
        self.mark_dirty()

    def mark_dirty(self) -> None:
        """Something changed: the list is read again soon (any thread)."""
        self._changes.push(None)

    @Slot(object)
    def _changed(self, _value: object) -> None:
        if self.started:
            self.refresh()

    def refresh(self) -> None:
        """Read the jobs now and emit ``jobsChanged``."""
        try:
            self.jobs = self.queue.jobs()
        except WorkbenchError as err:
            self.failed.emit(f"the download list cannot be read: {err}")
            return
        self.jobsChanged.emit(self.jobs)

    def add(self, repo_id: str, variant: Variant, revision: str = "main") -> DownloadJob:
        job = self.queue.add(repo_id, list(variant.files), name=variant.name,
                             quant=variant.quant, revision=revision)
        self.start()
        self.refresh()
        return job

    def shutdown(self) -> None:
        if self.started and self._queue is not None:
            self._queue.close(timeout=5.0)
        self.started = False


class DownloadsPage(QWidget):
    statusMessage = Signal(str)

    def __init__(self, controller: DownloadsController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.jobs: list[DownloadJob] = []
        title = page_title("Downloads", self)
        self.summary = plain_label("", self)
        self.summary.setAccessibleName("Downloads summary")
        header = QHBoxLayout()
        header.addWidget(title)
        header.addStretch(1)
        header.addWidget(self.summary)
        self.table = row_table(COLUMNS, "Download jobs", self)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.pause_button = QPushButton("Pause", self)
        self.resume_button = QPushButton("Resume", self)
        self.cancel_button = QPushButton("Cancel", self)
        self.remove_button = QPushButton("Remove", self)
        self.pause_button.setAccessibleName("Pause the selected download")
        self.resume_button.setAccessibleName("Resume the selected download")
        self.cancel_button.setAccessibleName("Cancel the selected download (keeps its bytes)")
        self.remove_button.setAccessibleName("Remove the selected download and its partial "
                                             "bytes")
        self.pause_button.clicked.connect(lambda: self._act("pause"))
        self.resume_button.clicked.connect(lambda: self._act("resume"))
        self.cancel_button.clicked.connect(lambda: self._act("cancel"))
        self.remove_button.clicked.connect(lambda: self._act("remove"))
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        for button in (self.pause_button, self.resume_button, self.cancel_button,
                       self.remove_button):
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 12, 16, 12)
        layout.addLayout(header)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        controller.jobsChanged.connect(self.show_jobs)
        controller.failed.connect(self.statusMessage)
        self._update_buttons()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.controller.start()  # jobs left queued by an earlier run resume
        self.controller.refresh()

    def show_jobs(self, jobs: list[DownloadJob]) -> None:
        selected = self.selected()
        self.jobs = list(jobs)
        self.table.setRowCount(len(self.jobs))
        for row, job in enumerate(self.jobs):
            values = (job.name, job.repo_id, job.state, progress_text(job),
                      f"{format_bytes(job.rate_bps)}/s" if job.rate_bps else "",
                      eta_text(job.eta_s), job.error or "")
            for column, value in enumerate(values):
                item = self.table.item(row, column)
                if item is None:
                    item = QTableWidgetItem()
                    self.table.setItem(row, column, item)
                item.setText(value)
                item.setToolTip(value)
            if selected is not None and job.id == selected.id:
                self.table.selectRow(row)
        done = sum(1 for j in self.jobs if j.state == "done")
        count = f"{len(self.jobs)} job" + ("s" if len(self.jobs) != 1 else "")
        self.summary.setText(f"{count}, {done} done" if self.jobs else
                             "No downloads yet: pick a model on the Discover page")
        self._update_buttons()

    def selected(self) -> DownloadJob | None:
        row = self.table.currentRow()
        return self.jobs[row] if 0 <= row < len(self.jobs) else None

    def _update_buttons(self) -> None:
        job = self.selected()
        state = job.state if job else None
        self.pause_button.setEnabled(state in ("queued", "running"))
        self.resume_button.setEnabled(state in ("paused", "cancelled", "failed"))
        self.cancel_button.setEnabled(state in ("queued", "running", "paused"))
        self.remove_button.setEnabled(job is not None)

    def _act(self, action: str) -> None:
        job = self.selected()
        if job is None:
            return
        queue = self.controller.queue
        calls = {"pause": lambda: queue.pause(job.id), "resume": lambda: queue.resume(job.id),
                 "cancel": lambda: queue.cancel(job.id),
                 "remove": lambda: queue.remove(job.id, discard=True)}
        call = BackgroundCall(calls[action], self, name="workbench-download-action")
        call.finished.connect(lambda *_: self.controller.mark_dirty())
        call.failed.connect(lambda err: self.statusMessage.emit(f"{action}: {err}"))
        call.start()
        self.controller.start()

