"""The Start page: the three steps of a first start (this machine -> pick -> download), each with
its real state, and the local-file way in when the Hub cannot be reached.

1. this machine: GPU/VRAM, RAM and CPU in one line (the Hardware page's ``Detector``);
2. pick: the best catalog recommendation for it (``workbench.planner.recommend``), in words;
3. download: that file through the ``DownloadsController`` (like the Discover page), its
   progress, then "Open in chat".

Everything slow (library scan, detection, recommendation, the Hub check, the repository
listing) runs off the GUI thread (``BackgroundCall``). With offline mode on no connection is
attempted; the recommendation (from the local catalog) stays, the download waits, and opening a
GGUF file or adding a models folder is offered instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from workbench.errors import WorkbenchError
from workbench.hardware import HardwareReport
from workbench.hub import DownloadJob, LocalModel, RepoListing, Variant, add_folder, repo_listing
from workbench.hub.probe import check_hub
from workbench.hub.quant import select_variant
from workbench.present.numbers import format_bytes
from workbench.ui.background import BackgroundCall
from workbench.ui.downloads import DownloadsController, progress_text
from workbench.ui.hardware_page import Detector, detect_and_diagnose
from workbench.ui.icons import icon
from workbench.ui.library_page import Scanner
from workbench.ui.widgets import make_primary, make_secondary, page_title, plain_label, plain_tip

if TYPE_CHECKING:  # the planner reads GGUF types (numpy): loaded when the first pick is made
    from workbench.planner.recommend import Recommendation

Recommender = Callable[[HardwareReport], list["Recommendation"]]
NetworkCheck = Callable[[], str | None]  # None: the Hub answers; else why it cannot be reached

PROGRESS_STEPS = 1000


def _first_pick(report: HardwareReport) -> list[Recommendation]:
    from workbench.planner.recommend import first_pick

    return first_pick(report)


def machine_line(report: HardwareReport) -> str:
    """GPU/VRAM, RAM and CPU in one line."""
    parts = []
    if report.gpus:
        for gpu in report.gpus:
            name = gpu.name or f"{gpu.vendor} GPU {gpu.index}"
            vram = (f", {format_bytes(gpu.vram_total_bytes)} VRAM"
                    if gpu.vram_total_bytes else "")
            parts.append(f"{name}{vram}")
    else:
        parts.append("no GPU (models run on the CPU)")
    ram = report.ram
    if ram.total_bytes:
        free = (f" ({format_bytes(ram.available_bytes)} free)"
                if ram.available_bytes is not None else "")
        parts.append(f"{format_bytes(ram.total_bytes)} RAM{free}")
    cpu = report.cpu
    cores = cpu.physical_cores or cpu.logical_cores
    parts.append((cpu.model or "unknown CPU") + (f", {cores} cores" if cores else ""))
    return " · ".join(parts)


def why_words(rec: Recommendation) -> str:
    """Why this one: the ranking rules it won on (speed floor, fit, expected quality)."""
    from workbench.planner.recommend import DEFAULT_MIN_TOKENS_PER_S, FIRST_PICK_TOKENS_PER_S
    from workbench.present.fit import fit_words
    from workbench.present.plans import speed_kind_words

    tg = rec.speed.tg_tokens_per_s
    judged = speed_kind_words(rec.speed.kind).judged  # a bound is not called a prediction
    if rec.usable and tg is not None and tg >= FIRST_PICK_TOKENS_PER_S:
        text = (f"Why this one: of the catalog models {judged} to answer comfortably fast here "
                f"(at least {FIRST_PICK_TOKENS_PER_S:g} tokens/s), ")
    elif rec.usable:
        text = (f"Why this one: of the catalog models {judged} to reach a usable speed here "
                f"(at least {DEFAULT_MIN_TOKENS_PER_S:g} tokens/s), ")
    else:
        text = "Why this one: no catalog model reaches a usable speed here; of those that fit, "
    text += f"none fits better (it {fit_words(rec.fit).phrase})"
    if rec.quality is not None and rec.expected_quality is not None:
        text += (" and none is expected to answer better ("
                 f"{rec.quality.metric} {rec.expected_quality:g} at {rec.file.quant}).")
    else:
        text += " and none is larger."
    if rec.notes:
        text += " Note: " + "; ".join(rec.notes) + "."
    return text


def find_variant(rec: Recommendation) -> tuple[RepoListing, Variant]:
    """The Hub listing of the recommended repository and the recommended file's variant."""
    listing = repo_listing(rec.entry.repo)
    return listing, select_variant(listing.variants, filename=rec.repo_filename)


def _wrapped(text: str, parent: QWidget, name: str) -> QLabel:
    label = plain_label(text, parent)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setAccessibleName(name)
    return label


def _button(text: str, parent: QWidget, name: str, tip: str) -> QPushButton:
    button = QPushButton(text, parent)
    button.setAccessibleName(name)
    button.setToolTip(tip)
    return button


class WelcomePage(QWidget):
    statusMessage = Signal(str)
    openRequested = Signal(str)  # a model path, to open on the Chat page
    openFileRequested = Signal()  # the "Open a GGUF model" file dialog
    pageRequested = Signal(str)  # a page key: hardware, discover, library
    libraryScanned = Signal(object)  # list[LocalModel]
    hardwareDetected = Signal(object)  # HardwareReport
    recommended = Signal(object)  # Recommendation | None
    networkChecked = Signal(object)  # None when the Hub answers, else the reason (str)
    downloadQueued = Signal(object)  # DownloadJob

    def __init__(self, downloads: DownloadsController, parent: QWidget | None = None, *,
                 detector: Detector | None = None, scanner: Scanner | None = None,
                 recommender: Recommender | None = None,
                 network_check: NetworkCheck | None = None, offline: bool = False) -> None:
        super().__init__(parent)
        from workbench.hub import scan_library

        self.downloads = downloads
        self._detector = detector or detect_and_diagnose
        self._scanner = scanner or scan_library
        self._recommender = recommender or _first_pick
        self._network_check = network_check or check_hub
        self.offline = offline
        self.models: list[LocalModel] | None = None
        self.report: HardwareReport | None = None
        self.recommendation: Recommendation | None = None
        self.recommend_error: str | None = None
        self.network_problem: str | None = None
        self.network_known = False
        self.job: DownloadJob | None = None
        self._calls: dict[str, BackgroundCall] = {}
        self._recommend_started = 0.0
        self._shown_once = False

        self.title = page_title("Get started", self)
        self.intro = _wrapped("Three steps to a model that runs well on this machine: look at "
                              "the hardware, pick a model, download it.", self, "Introduction")
        self.library_label = _wrapped("", self, "Models on this machine")
        self.library_button = _button("Open the &Library", self, "Open the Library",
                                      "The GGUF models already on this machine")
        self.library_button.clicked.connect(lambda: self.pageRequested.emit("library"))
        library_row = QHBoxLayout()
        library_row.addWidget(self.library_label, 1)
        library_row.addWidget(self.library_button)
        self.library_box = QFrame(self)
        self.library_box.setFrameShape(QFrame.Shape.StyledPanel)
        self.library_box.setLayout(library_row)
        self.library_box.hide()

        # 1. this machine
        self.machine_box = QGroupBox("1. This machine", self)
        self.machine_label = _wrapped("", self.machine_box, "This machine")
        self.hardware_button = _button("Hard&ware details", self.machine_box,
                                       "Open the Hardware page",
                                       "GPUs, CPU, memory and what llama.cpp can use")
        self.hardware_button.clicked.connect(lambda: self.pageRequested.emit("hardware"))
        row = QHBoxLayout(self.machine_box)
        row.addWidget(self.machine_label, 1)
        row.addWidget(self.hardware_button, 0, Qt.AlignmentFlag.AlignTop)

        # 2. pick
        self.pick_box = QGroupBox("2. Pick a model", self)
        self.pick_state = _wrapped("", self.pick_box, "Recommendation state")
        self.pick_title = _wrapped("", self.pick_box, "Recommended model")
        self.pick_title.setTextFormat(Qt.TextFormat.PlainText)
        font = self.pick_title.font()
        font.setBold(True)
        self.pick_title.setFont(font)
        self.pick_details = _wrapped("", self.pick_box, "Why this model")
        self.pick_details.setTextFormat(Qt.TextFormat.PlainText)
        self.more_button = _button("&More choices…", self.pick_box, "More choices on Discover",
                                   "Search Hugging Face for other GGUF models and their fit")
        self.more_button.clicked.connect(lambda: self.pageRequested.emit("discover"))
        pick_layout = QVBoxLayout(self.pick_box)
        pick_layout.addWidget(self.pick_state)
        pick_layout.addWidget(self.pick_title)
        pick_layout.addWidget(self.pick_details)
        more_row = QHBoxLayout()
        more_row.addStretch(1)
        more_row.addWidget(self.more_button)
        pick_layout.addLayout(more_row)

        # 3. download
        self.download_box = QGroupBox("3. Download it", self)
        self.download_state = _wrapped("", self.download_box, "Download state")
        self.progress = QProgressBar(self.download_box)
        self.progress.setRange(0, PROGRESS_STEPS)
        self.progress.setAccessibleName("Download progress")
        self.progress.setTextVisible(False)
        self.progress.hide()
        self.download_button = _button("&Download", self.download_box,
                                       "Download the recommended model",
                                       "Queue the recommended file (see also the Downloads "
                                       "page)")
        make_primary(self.download_button).setIcon(icon("downloads"))
        self.download_button.clicked.connect(self.download)
        self.open_button = _button("Open in cha&t", self.download_box,
                                   "Open the downloaded model in chat",
                                   "Load the downloaded model and go to the Chat page")
        self.open_button.clicked.connect(self.open_downloaded)
        self.open_button.hide()
        download_layout = QVBoxLayout(self.download_box)
        download_layout.addWidget(self.download_state)
        download_layout.addWidget(self.progress)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.download_button)
        buttons.addWidget(self.open_button)
        download_layout.addLayout(buttons)

        # the way in without a network
        self.local_box = QGroupBox("Already have GGUF files?", self)
        self.network_label = _wrapped("", self.local_box, "Network state")
        self.open_file_button = _button("&Open a GGUF file…", self.local_box,
                                        "Open a GGUF file",
                                        "Load a .gguf model file from this machine")
        self.open_file_button.clicked.connect(lambda: self.openFileRequested.emit())
        self.add_folder_button = _button("Add a models fold&er…", self.local_box,
                                         "Add a models folder",
                                         "Add a folder of .gguf files to the Library")
        self.add_folder_button.clicked.connect(self.choose_folder)
        self.scan_button = _button("Sca&n again", self.local_box, "Scan again",
                                   "Look for local models and check the connection again")
        self.scan_button.clicked.connect(self.scan_again)
        local_layout = QVBoxLayout(self.local_box)
        local_layout.addWidget(self.network_label)
        local_buttons = QHBoxLayout()
        local_buttons.addWidget(self.open_file_button)
        local_buttons.addWidget(self.add_folder_button)
        local_buttons.addWidget(self.scan_button)
        local_buttons.addStretch(1)
        local_layout.addLayout(local_buttons)

        body = QWidget(self)
        body_layout = QVBoxLayout(body)
        body_layout.setContentsMargins(0, 0, 0, 0)
        body_layout.setSpacing(12)
        body_layout.addWidget(self.intro)
        body_layout.addWidget(self.library_box)
        for box in (self.machine_box, self.pick_box, self.download_box, self.local_box):
            body_layout.addWidget(box)
        body_layout.addStretch(1)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(body)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 12, 16, 12)
        layout.addWidget(self.title)
        layout.addWidget(scroll, 1)

        for label in (self.intro, self.pick_details):
            make_secondary(label)
        self._timer = QTimer(self)
        self._timer.setInterval(1000)
        self._timer.timeout.connect(self._show_pick)
        downloads.jobsChanged.connect(self._jobs_changed)
        self._show_all()

    # -- background work -------------------------------------------------------------------
    def busy(self, what: str | None = None) -> bool:
        """Whether background work (``what``: scan, detect, recommend, network, listing) runs."""
        return what in self._calls if what else bool(self._calls)

    def _run(self, what: str, fn: Callable[[], Any], done: Callable[[Any], None],
             failed: Callable[[BaseException], None]) -> None:
        if what in self._calls:
            return
        call = BackgroundCall(fn, self, name=f"workbench-welcome-{what}")
        self._calls[what] = call

        def on_done(result: Any) -> None:
            self._calls.pop(what, None)
            done(result)

        def on_failed(err: BaseException) -> None:
            self._calls.pop(what, None)
            failed(err)

        call.finished.connect(on_done)
        call.failed.connect(on_failed)
        call.start()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._shown_once:
            self._shown_once = True
            self.refresh()

    def refresh(self) -> None:
        """Start what is not known yet: the scan, the hardware (then the pick), the Hub check."""
        if self.models is None:
            self.scan()
        if self.report is None:
            self._run("detect", self._detector, self._on_detected, self._on_detect_failed)
        elif self.recommendation is None and self.recommend_error is None:
            self._start_recommend()
        if not self.network_known:
            self.check_network()
        self._show_all()

    def scan(self) -> None:
        """Scan the library for models (off the GUI thread); ``libraryScanned`` when done."""
        self._run("scan", self._scanner, self._on_scanned, self._on_scan_failed)
        self._show_library()

    def scan_again(self) -> None:
        """Scan for models and check the Hub again (and detect again if that failed)."""
        self.scan()
        if self.report is None and not self.busy("detect"):
            self.recommend_error = None
            self._run("detect", self._detector, self._on_detected, self._on_detect_failed)
        self.network_known = False
        self.check_network()
        self._show_all()

    def check_network(self) -> None:
        """Check whether the Hub answers; with offline mode on, no connection is attempted."""
        if self.offline:
            self._on_network("offline mode is on: nothing leaves this machine")
            return
        self._run("network", self._network_check, self._on_network,
                  lambda err: self._on_network(str(err)))
        self._show_network()

    def set_offline(self, offline: bool) -> None:
        """Follow the offline setting (re-checks the Hub when the page has been shown)."""
        self.offline = offline
        self.network_known = False
        if self._shown_once:
            self.check_network()

    def set_hardware(self, report: HardwareReport) -> None:
        """Use a report another page detected (no second detection)."""
        if self.report is None and not self.busy("detect"):
            self._on_detected((report, []))

    # -- results ---------------------------------------------------------------------------
    def _on_scanned(self, models: list[LocalModel]) -> None:
        self.models = [m for m in models if m.status == "ok" and not m.is_adapter]
        self._show_library()
        self.libraryScanned.emit(self.models)

    def _on_scan_failed(self, err: BaseException) -> None:
        self.models = []
        self._show_library()
        self.statusMessage.emit(f"The library scan failed: {err}")
        self.libraryScanned.emit(self.models)

    def _on_detected(self, result: tuple[HardwareReport, list[Any]]) -> None:
        self.report = result[0]
        self.machine_label.setText(machine_line(self.report))
        self.hardwareDetected.emit(self.report)
        if self._shown_once:  # the page's first show starts the (slow) pick
            self._start_recommend()

    def _on_detect_failed(self, err: BaseException) -> None:
        self.machine_label.setText(f"The hardware could not be detected: {err}")
        self.recommend_error = "needs the hardware detection, which failed"
        self._show_all()

    def _start_recommend(self) -> None:
        report = self.report
        if report is None or self.busy("recommend"):
            return
        self._recommend_started = time.monotonic()
        self._timer.start()
        self._run("recommend", lambda: self._recommender(report), self._on_recommended,
                  self._on_recommend_failed)
        self._show_all()

    def _on_recommended(self, results: list[Recommendation]) -> None:
        self._timer.stop()
        self.recommendation = results[0] if results else None
        self.recommend_error = None if results else (
            "no catalog model fits this machine's free memory")
        self._show_all()
        self.recommended.emit(self.recommendation)

    def _on_recommend_failed(self, err: BaseException) -> None:
        self._timer.stop()
        self.recommend_error = str(err)
        self._show_all()
        self.recommended.emit(None)

    def _on_network(self, problem: str | None) -> None:
        self.network_problem = problem
        self.network_known = True
        self._show_all()
        self.networkChecked.emit(problem)

    # -- download --------------------------------------------------------------------------
    def download(self) -> None:
        """Queue the recommended file (its Hub listing is read off the GUI thread first)."""
        rec = self.recommendation
        if rec is None or not self.can_download():
            return
        self.download_state.setText(f"Listing {rec.entry.repo} on the Hub…")
        self._run("listing", lambda: find_variant(rec), self._queue, self._on_listing_failed)
        self._show_download()

    def _queue(self, found: tuple[RepoListing, Variant]) -> None:
        listing, variant = found
        try:
            job = self.downloads.add(listing.repo_id, variant, listing.revision)
        except Exception as err:  # shown, never a dead window
            self._on_listing_failed(err)
            return
        self.job = job
        self.statusMessage.emit(f"Queued {variant.name}: see also the Downloads page.")
        self._show_download()
        self.downloadQueued.emit(job)

    def _on_listing_failed(self, err: BaseException) -> None:
        self.download_state.setText(f"The download could not start: {err}")
        self.statusMessage.emit(f"The download could not start: {err}")
        self._show_download(keep_text=True)

    def _jobs_changed(self, jobs: list[DownloadJob]) -> None:
        if self.job is None:
            return
        for job in jobs:
            if job.id == self.job.id:
                finished_now = job.state == "done" and self.job.state != "done"
                self.job = job
                self._show_download()
                if finished_now:
                    self.scan()  # the new model is in the library now
                return

    def open_downloaded(self) -> None:
        if self.job is not None and self.job.state == "done" and self.job.paths:
            self.openRequested.emit(self.job.paths[0])

    def can_download(self) -> bool:
        running = self.job is not None and self.job.state in ("queued", "running")
        return (self.recommendation is not None and self.network_known
                and self.network_problem is None and not running
                and not self.busy("listing"))

    # -- local files -----------------------------------------------------------------------
    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a folder of GGUF models")
        if folder:
            self.add_models_folder(folder)

    def add_models_folder(self, folder: str) -> bool:
        """Add ``folder`` to the Library's folders and scan again; False when it cannot be."""
        try:
            path = add_folder(folder)
        except WorkbenchError as err:
            self.statusMessage.emit(str(err))
            return False
        self.statusMessage.emit(f"Added {path} to the Library's folders; scanning…")
        self.scan()
        return True

    # -- display ---------------------------------------------------------------------------
    def _show_all(self) -> None:
        self._show_library()
        self._show_machine()
        self._show_pick()
        self._show_network()
        self._show_download()

    def _show_library(self) -> None:
        scanning = self.busy("scan")
        self.scan_button.setEnabled(not scanning)
        if not self.models:
            self.library_box.setVisible(False)
            return
        count = len(self.models)
        noun = "model" if count == 1 else "models"
        self.library_label.setText(f"You have {count} {noun} on this machine: open the Library "
                                   "to chat with one, or pick another below.")
        self.library_box.setVisible(True)
        self.library_button.setDefault(True)

    def _show_machine(self) -> None:
        if self.report is None and self.busy("detect"):
            self.machine_label.setText("Detecting the GPUs, CPU and memory…")
        elif self.report is None and not self.machine_label.text():
            self.machine_label.setText("Not detected yet.")

    def _show_pick(self) -> None:
        rec = self.recommendation
        if self.busy("recommend"):
            seconds = time.monotonic() - self._recommend_started
            self.pick_state.setText("Planning every catalog model on this machine (memory, "
                                    f"speed, quality)… {seconds:.0f} s")
        elif rec is None:
            self.pick_state.setText(f"No recommendation: {self.recommend_error}"
                                    if self.recommend_error else
                                    "The recommendation follows the hardware detection.")
        else:
            self.pick_state.setText("The best match for this machine from the model catalog:")
        self.pick_title.setVisible(rec is not None)
        self.pick_details.setVisible(rec is not None)
        if rec is None:
            return
        size = format_bytes(rec.file.size_bytes)
        self.pick_title.setText(f"{rec.entry.name}, {rec.file.quant} ({size})")
        self.pick_title.setToolTip(plain_tip(f"{rec.entry.repo}/{rec.file.name}"))
        from workbench.present.plans import recommendation_memory_words, speed_words

        lines = [f"Memory: {recommendation_memory_words(rec)}.",
                 f"Speed: {speed_words(rec)}.",
                 f"Licence: {rec.entry.licence}.",
                 why_words(rec)]
        self.pick_details.setText("\n".join(lines))

    def _show_network(self) -> None:
        if not self.network_known:
            checking = self.busy("network")
            self.network_label.setText("Checking whether the Hugging Face Hub answers…"
                                       if checking else "")
            self.local_box.setTitle("Already have GGUF files?")
        elif self.network_problem is None:
            self.network_label.setText("The Hugging Face Hub answers: downloads work. If you "
                                       "already have GGUF files, open one or add their folder.")
            self.local_box.setTitle("Already have GGUF files?")
        else:
            self.network_label.setText(f"No network: {self.network_problem}. Models cannot be "
                                       "downloaded now; open a GGUF file you have, or add a "
                                       "folder of them to the Library.")
            self.local_box.setTitle("No network: use local files")

    def _show_download(self, keep_text: bool = False) -> None:
        rec, job = self.recommendation, self.job
        self.download_button.setEnabled(self.can_download())
        done = job is not None and job.state == "done"
        self.open_button.setVisible(done)
        self.open_button.setEnabled(done and bool(job and job.paths))
        self.download_button.setVisible(not done)
        self.download_button.setDefault(not self.models and self.can_download())
        if job is not None and job.state in ("queued", "running", "paused", "done"):
            self.progress.setVisible(True)
            share = job.bytes_done / job.bytes_total if job.bytes_total else 0.0
            self.progress.setValue(PROGRESS_STEPS if done else int(share * PROGRESS_STEPS))
        else:
            self.progress.setVisible(False)
        if rec is not None:
            self.download_button.setText(f"&Download {rec.file.quant} "
                                         f"({format_bytes(rec.file.size_bytes)})")
        if keep_text:
            return
        if job is not None:
            if done:
                text = f"Downloaded {job.name}: open it in chat."
            elif job.state in ("failed", "cancelled"):
                text = f"The download {job.state}: {job.error or 'no reason given'}. " \
                       "Download again to resume it."
            else:
                text = f"{job.name}: {job.state}, {progress_text(job)}"
            self.download_state.setText(text)
        elif self.busy("listing") and rec is not None:
            self.download_state.setText(f"Listing {rec.entry.repo} on the Hub…")
        elif rec is None:
            self.download_state.setText("The download follows the pick.")
        elif not self.network_known:
            self.download_state.setText("Checking the connection to the Hub…")
        elif self.network_problem is not None:
            self.download_state.setText(f"{rec.file.name} cannot be downloaded now (no "
                                        "network). The recommendation stays: download it "
                                        "when you are online, or use local files below.")
        else:
            self.download_state.setText(f"{rec.file.name} from {rec.entry.repo} on Hugging "
                                        "Face, into the shared Hugging Face cache.")
