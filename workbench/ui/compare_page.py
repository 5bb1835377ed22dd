"""The Compare page: one prompt to 2-4 targets side by side, streamed, with the same figures
for each, a live tok/s chart, blind voting and the history of past runs.

A comparison is one ``Task`` of the page's ``TaskRunner`` (ui/background.py): off the GUI
thread it warms the cloud clients, then ``CompareSession`` runs each target in its own thread.
Text pieces go straight into a per-pane ``StreamBuffer`` (no signal per token) that a 16 ms
timer flushes; status lines and finished answers are the task's progress, delivered on the GUI
thread; once the page has shut the task down, nothing of that run reaches it. Before anything
is sent off this machine, an inline bar says which providers get the prompt and waits for Send.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCharts import QChart, QChartView, QLineSeries, QValueAxis
from PySide6.QtCore import QPointF, Qt, QTimer, Signal
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from workbench.cancel import CancelToken
from workbench.compare import store as compare_store
from workbench.compare.runner import MAX_TARGETS, CompareEvent, CompareSession, build_messages
from workbench.costs.pricing import load_pricing
from workbench.engine.settings import Sampling
from workbench.errors import WorkbenchError
from workbench.hub.library import record_use
from workbench.providers.base import AnswerResult, Params, Target, failed_result
from workbench.routing.targets import build_any_target
from workbench.store import db
from workbench.store.settings import load_settings
from workbench.ui.background import BackgroundCall, Progress, TaskRunner, Work
from workbench.ui.chart_axis import set_round_axis, use_text_numbers
from workbench.ui.compare_pane import AnswerPane, LoadedModel, TargetPicker
from workbench.ui.icons import icon
from workbench.ui.stream_buffer import StreamBuffer
from workbench.ui.style import banner_stylesheet
from workbench.ui.widgets import chat_format_combo, make_primary, plain_label, plain_tip

FLUSH_INTERVAL_MS = 16
CHART_INTERVAL_MS = 1000
LETTERS = compare_store.LETTERS
_STARTED = object()  # the comparison's first progress: the targets' threads are starting


def destinations(targets: list[Target]) -> list[str]:
    """"label -> host" for each target that sends the prompt off this machine."""
    return [f"{t.label} → {t.destination}" for t in targets if t.leaves_machine]


def _warm_clients(targets: list[Target]) -> None:
    for target in targets:
        client = getattr(target, "client", None)
        if callable(client):
            with contextlib.suppress(Exception):  # a failure shows in the target's pane
                client()


class CompareChart(QChartView):
    """Live generation speed, one line per pane, a point about once a second."""

    def __init__(self, parent: QWidget | None = None) -> None:
        chart = QChart()
        chart.setTitle("Generation speed (tok/s) over time")
        chart.legend().setAlignment(Qt.AlignmentFlag.AlignBottom)
        chart.setBackgroundRoundness(0)
        super().__init__(chart, parent)
        self.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.setAccessibleName("Live generation speed chart")
        self.setToolTip("Live estimate per pane: tokens since the first text / seconds since "
                        "the first text (where the target reports a running token count).")
        use_text_numbers(chart)
        self.x_axis = QValueAxis()
        self.x_axis.setTitleText("time since sending (s)")
        self.y_axis = QValueAxis()
        self.y_axis.setTitleText("tok/s")
        chart.addAxis(self.x_axis, Qt.AlignmentFlag.AlignBottom)
        chart.addAxis(self.y_axis, Qt.AlignmentFlag.AlignLeft)
        self.series: list[QLineSeries] = []
        self.reset([])

    def reset(self, names: list[str]) -> None:
        chart = self.chart()
        for series in self.series:
            chart.removeSeries(series)
        self.series = []
        for name in names:
            series = QLineSeries()
            series.setName(name)
            series.setPointsVisible(True)  # short answers may give a single point
            chart.addSeries(series)
            series.attachAxis(self.x_axis)
            series.attachAxis(self.y_axis)
            self.series.append(series)
        set_round_axis(self.x_axis, 10)
        set_round_axis(self.y_axis, 10)

    def add_point(self, index: int, seconds: float, rate: float) -> None:
        """One point; the axes grow to the next round value (1-2-5 ticks) when it is past."""
        if not 0 <= index < len(self.series):
            return
        self.series[index].append(QPointF(seconds, rate))
        if seconds > self.x_axis.max():
            set_round_axis(self.x_axis, seconds * 1.25)
        if rate > self.y_axis.max() * 0.95:
            set_round_axis(self.y_axis, rate * 1.25)


class ComparePage(QWidget):
    statusMessage = Signal(str)
    runFinished = Signal(int)  # the stored run's id (0 when not stored)

    def __init__(self, loaded_path: LoadedModel | None = None,
                 parent: QWidget | None = None, *,
                 connect: Callable[[], Any] = db.connect) -> None:
        """``loaded_path`` tells what the Chat page has loaded: its LoadSettings (the "loaded
        model" target then loads the file with the same context, GPU layers, ...), or just its
        path (then llama.cpp's defaults apply), or None."""
        super().__init__(parent)
        self._connect = connect
        self._loaded_path: LoadedModel = loaded_path or (lambda: None)
        self.session: CompareSession | None = None
        self.targets: list[Target] = []
        self.results: list[AnswerResult | None] = []
        self.positions: list[int] = []  # session index -> answer position
        self.order: list[int] = []  # display slot -> answer position
        self.buffers: list[StreamBuffer] = []
        self.blind = False
        self.run_id: int | None = None
        self._pending: tuple[list[AnswerResult | Target], str, str | None, Params] | None = None
        self._tasks = TaskRunner(self, name="workbench-compare")
        self._gate = threading.Lock()  # a session starts, or the page shuts down: not both

        # targets
        self.count = QSpinBox(self)
        self.count.setRange(2, MAX_TARGETS)
        self.count.setValue(2)
        self.count.setAccessibleName("Number of targets")
        self.count.setMaximumWidth(70)
        self.pickers = [TargetPicker(i + 1, self._loaded_path, self) for i in range(MAX_TARGETS)]
        targets_form = QFormLayout()
        targets_form.addRow("Targets:", self.count)
        self.picker_labels: list[QLabel] = []
        for i, picker in enumerate(self.pickers):
            label = QLabel(f"{i + 1}:", self)
            self.picker_labels.append(label)
            targets_form.addRow(label, picker)
        self.count.valueChanged.connect(self._count_changed)

        # prompt
        self.system = QLineEdit(self)
        self.system.setPlaceholderText("System prompt (optional, sent to every target)")
        self.system.setAccessibleName("System prompt")
        self.prompt = QPlainTextEdit(self)
        self.prompt.setPlaceholderText("The prompt every target answers")
        self.prompt.setAccessibleName("Prompt")
        self.prompt.setMaximumHeight(90)
        self.max_tokens = QSpinBox(self)
        self.max_tokens.setRange(1, 32768)
        self.max_tokens.setValue(256)
        self.max_tokens.setPrefix("max tokens ")
        self.max_tokens.setAccessibleName("Maximum answer tokens")
        # The lowest value of each is "each provider's own" (sent as nothing), as in the CLI.
        self.temperature = QDoubleSpinBox(self)
        self.temperature.setRange(-0.1, 2.0)
        self.temperature.setSingleStep(0.1)
        self.temperature.setDecimals(2)
        self.temperature.setValue(-0.1)
        self.temperature.setPrefix("temperature ")
        self.temperature.setSpecialValueText("default temperature")
        self.temperature.setAccessibleName("Temperature")
        self.temperature.setToolTip("Sampling temperature for every target; 0 answers the most "
                                    "likely tokens (reproducible). Default: each provider's own "
                                    f"(local models: {Sampling.temperature}).")
        self.seed = QSpinBox(self)
        self.seed.setRange(-1, 2**31 - 1)
        self.seed.setValue(-1)
        self.seed.setPrefix("seed ")
        self.seed.setSpecialValueText("random seed")
        self.seed.setAccessibleName("Seed")
        self.seed.setToolTip("A fixed seed makes local answers reproducible (and is sent to the "
                             "APIs that take one); random varies them.")
        self.chat_format = chat_format_combo(
            self, "Chat format of local models",
            "How the prompt is put to local models: their own chat template, completion (the "
            "prompt is continued as raw text, for base models) or a built-in chat format. "
            "Cloud APIs format chats themselves.", prefix="local: ")
        self.blind_box = QCheckBox("Blind", self)
        self.blind_box.setToolTip("Blind mode: the answers are shown in random order as A, B, "
                                  "...; the names appear after you vote for the better one.")
        self.blind_box.setAccessibleName("Blind mode")
        self.run_button = make_primary(QPushButton("Run", self))
        self.run_button.setIcon(icon("run"))
        self.run_button.setDefault(True)
        self.run_button.clicked.connect(self.run)
        self.stop_button = QPushButton("Stop", self)
        self.stop_button.clicked.connect(self.stop)
        self.stop_button.setEnabled(False)
        controls = QHBoxLayout()
        controls.addWidget(self.max_tokens)
        controls.addWidget(self.temperature)
        controls.addWidget(self.seed)
        controls.addWidget(self.chat_format)
        controls.addWidget(self.blind_box)
        controls.addStretch(1)
        controls.addWidget(self.run_button)
        controls.addWidget(self.stop_button)

        # the privacy bar
        self.send_bar = QFrame(self)
        self.send_bar.setObjectName("noticeBanner")
        self.send_bar.setStyleSheet(banner_stylesheet(self.palette()))
        self.send_bar.setAccessibleName("The prompt leaves this machine")
        self.send_text = plain_label("", self.send_bar)
        self.send_text.setWordWrap(True)
        self.send_button = QPushButton("Send", self.send_bar)
        self.send_button.setAccessibleName("Send the prompt to these providers")
        self.send_button.clicked.connect(self._confirmed)
        self.cancel_send = QPushButton("Cancel", self.send_bar)
        self.cancel_send.clicked.connect(self._cancel_pending)
        bar = QHBoxLayout(self.send_bar)
        bar.addWidget(self.send_text, 1)
        bar.addWidget(self.send_button)
        bar.addWidget(self.cancel_send)
        self.send_bar.hide()

        # answers
        self.panes = [AnswerPane(i + 1, self) for i in range(MAX_TARGETS)]
        panes_row = QSplitter(Qt.Orientation.Horizontal, self)
        for pane in self.panes:
            panes_row.addWidget(pane)

        # vote
        self.vote_bar = QWidget(self)
        vote_layout = QHBoxLayout(self.vote_bar)
        vote_layout.setContentsMargins(0, 0, 0, 0)
        vote_layout.addWidget(QLabel("Which answer is better?", self.vote_bar))
        self.vote_buttons: dict[str, QPushButton] = {}
        for choice in [*LETTERS[:MAX_TARGETS], "tie"]:
            button = QPushButton(choice if choice != "tie" else "Tie", self.vote_bar)
            button.setAccessibleName(f"Vote {choice}")
            button.clicked.connect(lambda _c=False, c=choice: self.vote(c))
            self.vote_buttons[choice] = button
            vote_layout.addWidget(button)
        vote_layout.addStretch(1)
        self.vote_bar.hide()

        # chart + history
        self.chart = CompareChart(self)
        self.chart.setMinimumHeight(260)
        self.history = QListWidget(self)
        self.history.setAccessibleName("Past comparisons")
        self.history.itemActivated.connect(self._open_history)
        self.history.itemClicked.connect(self._open_history)
        history_box = QWidget(self)
        history_layout = QVBoxLayout(history_box)
        history_layout.setContentsMargins(0, 0, 0, 0)
        history_layout.addWidget(QLabel("History", history_box))
        history_layout.addWidget(self.history, 1)
        bottom = QSplitter(Qt.Orientation.Horizontal, self)
        bottom.addWidget(self.chart)
        bottom.addWidget(history_box)
        bottom.setStretchFactor(0, 3)
        bottom.setStretchFactor(1, 1)

        self.splitter = QSplitter(Qt.Orientation.Vertical, self)
        self.splitter.addWidget(panes_row)
        self.splitter.addWidget(bottom)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 1)

        # the page scrolls rather than forcing a wide window (four panes need room)
        body = QWidget(self)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)
        layout = QVBoxLayout(body)
        layout.setContentsMargins(16, 12, 16, 12)
        top = QHBoxLayout()
        top.addLayout(targets_form, 3)
        prompt_column = QVBoxLayout()
        prompt_column.addWidget(self.system)
        prompt_column.addWidget(self.prompt)
        prompt_column.addLayout(controls)
        top.addLayout(prompt_column, 2)
        layout.addLayout(top)
        layout.addWidget(self.send_bar)
        layout.addWidget(self.vote_bar)
        layout.addWidget(self.splitter, 1)
        scroll.setWidget(body)

        self._flush_timer = QTimer(self)
        self._flush_timer.setInterval(FLUSH_INTERVAL_MS)
        self._flush_timer.timeout.connect(self._flush)
        self._chart_timer = QTimer(self)
        self._chart_timer.setInterval(CHART_INTERVAL_MS)
        self._chart_timer.timeout.connect(self._chart_tick)
        self.pickers[1].set_target("openai", "gpt-4o-mini")
        self._count_changed(self.count.value())
        self.refresh_history()

    # -- configuration ---------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.session is not None

    def _count_changed(self, count: int) -> None:
        for i, (picker, label, pane) in enumerate(
                zip(self.pickers, self.picker_labels, self.panes, strict=True)):
            for widget in (picker, label, pane):
                widget.setVisible(i < count)

    # -- running ---------------------------------------------------------------------------
    def run(self) -> bool:
        """Build the targets and start (after the privacy bar when the prompt leaves)."""
        if self.running or self._pending is not None:
            return False
        prompt = self.prompt.toPlainText()
        system = self.system.text().strip() or None
        try:
            build_messages(prompt, system)
            settings = load_settings()  # a bad settings file is named, nothing runs
        except WorkbenchError as err:
            self.statusMessage.emit(str(err))
            return False
        built: list[AnswerResult | Target] = []
        for picker in self.pickers[: self.count.value()]:
            text = f"{picker.kind.currentText()}"
            try:
                spec = picker.spec()
                text = spec.text
                built.append(build_any_target(spec, settings=settings,
                                              load=picker.load_settings(),
                                              chat_format=str(self.chat_format.currentData()),
                                              on_model_used=record_use))
            except WorkbenchError as err:
                built.append(failed_result(text, err, label=text))
        params = self.params()
        self._pending = (built, prompt, system, params)
        outgoing = destinations([t for t in built if isinstance(t, Target)])
        if outgoing:
            self.send_text.setText("This prompt will be sent off this machine to: "
                                   + "; ".join(outgoing) + ". Send it?")
            self.send_bar.show()
            self.send_button.setFocus()
            return True
        self._confirmed()
        return True

    def params(self) -> Params:
        """What every target is asked with: the controls' values (their lowest: the default)."""
        temperature = round(self.temperature.value(), 2)
        seed = self.seed.value()
        return Params(max_tokens=self.max_tokens.value(),
                      temperature=None if temperature < 0 else temperature,
                      seed=None if seed < 0 else seed)

    def _cancel_pending(self) -> None:
        if self._pending is not None:
            for item in self._pending[0]:
                if isinstance(item, Target):
                    item.close()
        self._pending = None
        self.send_bar.hide()

    def _confirmed(self) -> None:
        if self._pending is None:
            return
        built, prompt, system, params = self._pending
        self._pending = None
        self.send_bar.hide()
        self.vote_bar.hide()
        self.blind = self.blind_box.isChecked() and len(built) > 1
        self.order = (compare_store.blind_order(len(built)) if self.blind
                      else list(range(len(built))))
        self.results = [item if isinstance(item, AnswerResult) else None for item in built]
        self.targets = [item for item in built if isinstance(item, Target)]
        self.positions = [i for i, item in enumerate(built) if isinstance(item, Target)]
        self.buffers = [StreamBuffer() for _ in built]
        self._prompt, self._system, self._params = prompt, system, params
        self.run_id = None
        self._revealed = False
        for slot, position in enumerate(self.order):
            pane = self.panes[slot]
            pane.clear(self._header(slot, position))
            result = self.results[position]
            if result is not None:
                pane.show_result(result, self._header(slot, position), hidden=self._hidden)
        self.chart.reset([self._header(slot, p) for slot, p in enumerate(self.order)])
        self._chart_started = [False] * len(built)
        if not self.targets:
            self._finish()
            return
        settings = load_settings()
        try:
            pricing = load_pricing(overrides=settings.pricing_overrides)
        except WorkbenchError as err:
            pricing = None
            self.statusMessage.emit(f"costs unavailable: {err}")
        self.session = CompareSession(self.targets, build_messages(prompt, system), params,
                                      pricing=pricing, settings=settings)
        self.run_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        self._tasks.run(self._comparison(self.session), on_progress=self._on_event)

    def _comparison(self, session: CompareSession) -> Work:
        """The run, for the page's task runner: its progress is ``_STARTED``, then
        ``(position, event)`` for each status line and finished answer."""
        targets, positions, buffers, gate = (list(self.targets), list(self.positions),
                                             list(self.buffers), self._gate)

        def work(progress: Progress, cancel: CancelToken) -> list[AnswerResult]:
            # Cloud SDKs are imported on first use; import them in one thread, one at a time,
            # before the targets' threads start (concurrent first imports of pydantic models
            # race).
            _warm_clients(targets)

            def on_event(event: CompareEvent) -> None:  # on a target's thread
                position = positions[event.index]
                if event.kind == "delta":
                    buffers[position].push(event.text, event.tokens or 0)
                else:
                    progress((position, event))

            session.on_event = on_event
            with gate:
                if cancel.is_set():  # the page shut down while the clients were warming
                    return []
                for buffer in buffers:
                    buffer.start()
                progress(_STARTED)
                session.start()
            return session.wait()

        return work

    def _header(self, slot: int, position: int) -> str:
        if self.blind and not self._revealed:
            return f"Answer {LETTERS[slot]}"
        result = self.results[position] if position < len(self.results) else None
        if result is not None:
            label = result.label
        else:
            index = self.positions.index(position)
            label = self.targets[index].label
        return f"{LETTERS[slot]}: {label}"

    _revealed = False

    @property
    def _hidden(self) -> bool:
        """A blind run before the vote: nothing may name a target."""
        return self.blind and not self._revealed

    def _slot_of(self, position: int) -> int:
        return self.order.index(position)

    def _flush(self) -> None:
        for position, buffer in enumerate(self.buffers):
            text = buffer.take()
            if text:
                self.panes[self._slot_of(position)].append(text)

    def _chart_tick(self) -> None:
        for position, buffer in enumerate(self.buffers):
            if self.results[position] is not None:
                continue
            figures = buffer.live()
            slot = self._slot_of(position)
            self.panes[slot].show_live(figures.ttft_ms, figures.tokens, figures.tokens_per_s)
            if figures.tokens_per_s is not None:
                self.chart.add_point(slot, figures.elapsed_s, figures.tokens_per_s)

    def _on_event(self, payload: tuple[int, CompareEvent] | object) -> None:
        """The comparison's progress, on the GUI thread."""
        if self.session is None:
            return
        if payload is _STARTED:
            self._flush_timer.start()
            self._chart_timer.start()
            return
        assert isinstance(payload, tuple)
        position, event = payload
        pane = self.panes[self._slot_of(position)]
        if event.kind == "status":
            pane.show_status(event.text, hidden=self._hidden)
        elif event.kind == "done" and event.result is not None:
            self._flush()
            self.results[position] = event.result
            pane.show_result(event.result, hidden=self._hidden)
            slot = self._slot_of(position)
            rate = event.result.gen_tokens_per_s
            if rate is not None and not self.chart.series[slot].count():
                # no running token count came (some cloud targets): one point at the end
                self.chart.add_point(slot, self.buffers[position].live().elapsed_s, rate)
            if all(r is not None for r in self.results):
                self._finish()

    def _finish(self) -> None:
        self._flush_timer.stop()
        self._chart_timer.stop()
        self._flush()
        results = [r for r in self.results if r is not None]
        targets, self.targets = self.targets, []
        self.session = None
        if targets:  # stopping model processes may take a moment: not on the GUI thread
            closer = BackgroundCall(lambda: [t.close() for t in targets], self,
                                    name="workbench-compare-close")
            closer.start()
        try:
            with contextlib.closing(self._connect()) as connection:
                self.run_id = compare_store.save_run(
                    connection, prompt=self._prompt, system=self._system, params=self._params,
                    results=results, blind=self.blind, order=self.order)
        except Exception as err:  # the answers stay on screen
            self.run_id = 0
            self.statusMessage.emit(f"the comparison could not be stored: {err}")
        self._revealed = not self.blind
        for slot, position in enumerate(self.order):
            self.panes[slot].show_result(results[position], self._header(slot, position),
                                         hidden=self._hidden)
        self.run_button.setEnabled(True)
        self.stop_button.setEnabled(False)
        self._show_vote(len(results))
        self.refresh_history()
        self.runFinished.emit(self.run_id or 0)

    def stop(self) -> None:
        if self.session is not None:
            self.session.cancel()
            self.stop_button.setEnabled(False)

    def shutdown(self, timeout_s: float = 5.0) -> None:
        """Cancel a running comparison and release its targets (the window is closing)."""
        session, targets = self.session, self.targets
        self.session, self.targets = None, []
        self._flush_timer.stop()
        self._chart_timer.stop()
        self._cancel_pending()
        with self._gate:  # a session still warming up never starts; nothing more arrives
            self._tasks.cancel_all()
        if session is not None:
            session.cancel()
            with contextlib.suppress(TimeoutError):
                session.wait(timeout_s)
        for target in targets:
            with contextlib.suppress(Exception):
                target.close()

    # -- voting and history ----------------------------------------------------------------
    def _show_vote(self, count: int) -> None:
        show = bool(self.run_id) and count > 1 and self.blind and not self._revealed
        for choice, button in self.vote_buttons.items():
            button.setVisible(choice == "tie" or LETTERS.index(choice) < count)
        self.vote_bar.setVisible(show)

    def vote(self, choice: str) -> None:
        if not self.run_id:
            return
        try:
            with contextlib.closing(self._connect()) as connection:
                stored = compare_store.record_vote(connection, self.run_id, choice)
        except WorkbenchError as err:
            self.statusMessage.emit(str(err))
            return
        self._show_run(stored)
        self.statusMessage.emit(f"Vote recorded: {choice}")
        self.refresh_history()

    def refresh_history(self) -> None:
        self.history.clear()
        try:
            with contextlib.closing(self._connect()) as connection:
                runs = compare_store.recent_runs(connection, limit=50)
        except Exception as err:  # a broken database must not break the page
            self.statusMessage.emit(f"history unavailable: {err}")
            return
        for run in runs:
            prompt = " ".join(str(run["prompt"]).split())
            prompt = prompt if len(prompt) <= 60 else prompt[:57] + "…"
            flags = " · blind" if run["blind"] else ""
            flags += " · voted" if run["voted"] else ""
            item = QListWidgetItem(f"#{run['id']} {prompt} ({run['answers']} answers{flags})")
            item.setData(Qt.ItemDataRole.UserRole, int(run["id"]))
            item.setToolTip(plain_tip(f"{run['created_at']}\n{run['prompt']}"))
            self.history.addItem(item)

    def _open_history(self, item: QListWidgetItem) -> None:
        if self.running:
            return
        run_id = int(item.data(Qt.ItemDataRole.UserRole))
        try:
            with contextlib.closing(self._connect()) as connection:
                stored = compare_store.load_run(connection, run_id)
        except WorkbenchError as err:
            self.statusMessage.emit(str(err))
            return
        self._show_run(stored)

    def _show_run(self, stored: compare_store.StoredRun) -> None:
        """Show a stored run in the panes (names hidden while a blind run is unvoted)."""
        self.run_id = stored.id
        self.blind = stored.blind
        self._revealed = stored.revealed
        self.order = list(stored.display_order)
        self.results = list(stored.answers)
        self.prompt.setPlainText(stored.prompt)
        self.system.setText(stored.system or "")
        count = len(stored.answers)
        if count >= 2:
            self.count.setValue(count)
        for slot, (letter, answer) in enumerate(stored.displayed()):
            header = f"{letter}: {answer.label}" if stored.revealed else f"Answer {letter}"
            if stored.vote is not None and stored.vote in (letter, "tie"):
                header += " (tie)" if stored.vote == "tie" else " (winner)"
            self.panes[slot].clear(header)
            self.panes[slot].show_result(answer, header, hidden=not stored.revealed)
        self._show_vote(count)
