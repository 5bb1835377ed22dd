"""The status bar: loaded model and size, the model process's state and memory, the machine's
RAM use and the offline state."""

from __future__ import annotations

import psutil
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QLabel, QProgressBar, QStatusBar, QWidget

from workbench.engine.protocol import LoadedModel
from workbench.net.offline import NetworkState
from workbench.present.numbers import format_bytes
from workbench.ui import engine_bridge as states
from workbench.ui.engine_bridge import EngineBridge
from workbench.ui.widgets import plain_label

RSS_INTERVAL_MS = 2000
OFFLINE_TEXT = "Offline: nothing leaves this machine"
ONLINE_TEXT = "Online"

STATE_TEXT = {
    states.NO_MODEL: "no model",
    states.LOADING: "loading the model…",
    states.READY: "ready",
    states.ANSWERING: "answering…",
    states.STOPPING: "stopping…",
    states.CRASHED: "crashed",
    states.CLOSED: "closed",
}


class StatusBar(QStatusBar):
    def __init__(self, bridge: EngineBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.model_label = plain_label("No model", self)
        self.model_label.setAccessibleName("Model in memory")
        self.busy = QProgressBar(self)
        self.busy.setRange(0, 0)  # indeterminate
        self.busy.setMaximumWidth(90)
        self.busy.setMaximumHeight(12)
        self.busy.setTextVisible(False)
        self.busy.setAccessibleName("Working")
        self.busy.hide()
        self.state_label = plain_label("", self)
        self.state_label.setAccessibleName("Model process state")
        self.state_label.setToolTip("The model runs in a separate process, so a crash in "
                                    "llama.cpp never takes the window down.")
        self.rss_label = QLabel(self)
        self.rss_label.setAccessibleName("Model process memory")
        self.rss_label.setToolTip("Resident memory (RSS) of the model process: weights read "
                                  "from disk, KV cache and compute buffers.")
        self.ram_label = QLabel(self)
        self.ram_label.setAccessibleName("System memory in use")
        self.ram_label.setToolTip("Memory in use on this machine / its total (all processes).")
        self.offline_label = QLabel(self)
        self.offline_label.setAccessibleName("Network state")
        self.download_label = plain_label("", self)
        self.download_label.setAccessibleName("Running download")
        self.download_label.hide()
        for label in (self.model_label, self.state_label, self.rss_label, self.ram_label,
                      self.offline_label, self.download_label):
            label.setContentsMargins(8, 0, 8, 0)
        self.addPermanentWidget(self.model_label)
        self.addPermanentWidget(self.busy)
        self.addPermanentWidget(self.state_label)
        self.addPermanentWidget(self.rss_label)
        self.addPermanentWidget(self.download_label)
        self.addPermanentWidget(self.ram_label)
        self.addPermanentWidget(self.offline_label)
        self.offline = False
        self.set_network(NetworkState(False))

        self._rss_timer = QTimer(self)
        self._rss_timer.setInterval(RSS_INTERVAL_MS)
        self._rss_timer.timeout.connect(self.refresh_memory)
        self._rss_timer.start()
        bridge.stateChanged.connect(self._on_state)
        bridge.loaded.connect(self._on_loaded)
        self._on_state(bridge.state)

    def _on_state(self, state: str) -> None:
        pid = self.bridge.engine.pid if self.bridge.engine.alive else None
        text = STATE_TEXT.get(state, state)
        if state == states.NO_MODEL and pid is None:
            text = "not running"
        self.state_label.setText(f"Model process: {text}" + (f" (pid {pid})" if pid else ""))
        self.busy.setVisible(state in (states.LOADING, states.STOPPING))
        if self.bridge.info is None:
            self.model_label.setText("No model")
        self.refresh_memory()

    def _on_loaded(self, info: LoadedModel) -> None:
        name = info.name or "model"
        self.model_label.setText(f"{name} · {format_bytes(info.model_size_bytes)}")

    def refresh_memory(self) -> None:
        rss = self.bridge.worker_rss_bytes()
        self.rss_label.setText(f"RSS {format_bytes(rss)}" if rss is not None else "")
        self.rss_label.setVisible(rss is not None)
        memory = psutil.virtual_memory()
        used = memory.total - memory.available
        self.ram_label.setText(f"RAM {format_bytes(used)} / {format_bytes(memory.total)}")

    def set_download(self, text: str | None) -> None:
        """Show the running download (None hides it)."""
        self.download_label.setText(text or "")
        self.download_label.setVisible(bool(text))

    def set_network(self, state: NetworkState) -> None:
        """Show the app's network state (``network_state()``; startup and Settings call this)."""
        self.offline = state.offline
        self.offline_label.setText(OFFLINE_TEXT if state.offline else ONLINE_TEXT)
        tip = ("Offline mode (" + ", ".join(state.reasons) + "): every connection that would "
               "leave this machine is refused; local models still work." if state.offline else
               "Online: cloud targets and downloads may connect when you start them. Turn on "
               "offline mode in Settings to block every outside connection.")
        if state.settings_problem:
            tip += "\n" + state.settings_problem
        self.offline_label.setToolTip(tip)
