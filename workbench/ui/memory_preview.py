"""What loading the model with the side panel's settings would cost, before reloading it.

``MemoryPreview`` reads the model's GGUF header once per file (off the GUI thread), plans the
memory with ``workbench.planner.estimate_memory`` for the chosen context, GPU layers, flash
attention and KV cache type, and shows weights / KV cache / compute per device as a stacked
``MemoryBar`` plus text, against the free VRAM and RAM ``workbench.hardware.detect()`` reported
(read once). LoRA adapters in the settings are read too (their headers, once per file version)
and planned with the model: their tensors are shown as "adapters" next to the weights. It also
says how the plan differs from the settings the loaded model uses. Results of settings that
changed meanwhile are dropped.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from PySide6.QtCore import QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QPainter, QPalette, QPen
from PySide6.QtWidgets import QFormLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from workbench.engine.settings import LoadSettings
from workbench.errors import WorkbenchError
from workbench.hardware.model import HardwareReport
from workbench.ui.background import BackgroundCall
from workbench.ui.style import ERROR_HUE, blend
from workbench.ui.widgets import make_card, make_secondary, plain_label

if TYPE_CHECKING:  # the planner and the GGUF reader (numpy) load when a model is chosen
    from workbench.gguf import AdapterSummary
    from workbench.planner import MemoryPlan, ModelParams

DEBOUNCE_MS = 150
Detect = Callable[[], HardwareReport]

T = TypeVar("T")


@dataclass(frozen=True)
class PreviewRequest:
    """The load settings that change memory (a LoadSettings without the rest)."""

    model_path: str
    n_ctx: int
    n_gpu_layers: int
    flash_attn: str
    kv_type: str
    n_batch: int = 512
    n_ubatch: int = 512
    swa_full: bool = False
    loras: tuple[tuple[str, float], ...] = ()  # LoRA adapters: (path, scale) each

    @classmethod
    def from_settings(cls, settings: LoadSettings) -> PreviewRequest:
        return cls(model_path=settings.model_path, n_ctx=settings.n_ctx,
                   n_gpu_layers=settings.n_gpu_layers, flash_attn=settings.flash_attn,
                   kv_type=settings.kv_type, n_batch=settings.n_batch,
                   n_ubatch=settings.n_ubatch, swa_full=settings.swa_full,
                   loras=settings.loras)


@dataclass(frozen=True)
class Machine:
    """What the plan is measured against: the backend llama.cpp can use and free memory."""

    backend: str  # "cpu" when llama.cpp can use no GPU here
    free_vram_bytes: int | None
    free_ram_bytes: int | None
    gpu_name: str | None = None
    no_gpu_reason: str | None = None  # why GPU layers have no effect here


def machine_from_report(report: HardwareReport) -> Machine:
    """The first GPU llama.cpp can use (as ``workbench estimate`` picks it), else the CPU."""
    from workbench.planner.recommend import planner_backend

    ram = report.ram.available_bytes or report.ram.total_bytes
    usable = [g for g in report.gpus if g.llama_usable is not False and g.vram_free_bytes]
    if usable:
        gpu = usable[0]
        return Machine(planner_backend(gpu.vendor, report), gpu.vram_free_bytes, ram, gpu.name)
    if report.gpus:
        names = ", ".join(g.name or g.vendor for g in report.gpus)
        reason = f"llama.cpp cannot use this machine's GPU ({names})"
    else:
        reason = "no GPU that llama.cpp can use was found"
    return Machine("cpu", None, ram, None, reason)


@dataclass(frozen=True)
class PreviewResult:
    request: PreviewRequest
    machine: Machine | None = None
    plan: MemoryPlan | None = None
    loaded: PreviewRequest | None = None
    loaded_plan: MemoryPlan | None = None
    error: str | None = None

    @property
    def differs(self) -> bool:
        """The settings differ from those of the loaded model (False when none is loaded)."""
        return self.loaded is not None and self.loaded != self.request

    @property
    def fits(self) -> bool | None:
        """Whether the plan fits the free memory (None: unknown)."""
        if self.plan is None or self.machine is None:
            return None
        checks = [(self.plan.cpu_bytes, self.machine.free_ram_bytes)]
        if self.plan.backend != "cpu":
            checks.append((self.plan.gpu_bytes, self.machine.free_vram_bytes))
        if any(free is None for _, free in checks):
            return None
        return all(need <= free for need, free in checks if free is not None)


# -- texts ---------------------------------------------------------------------------------
ADAPTERS = "adapters"


def preview_parts(plan: MemoryPlan, device: str) -> list[tuple[str, int]]:
    """``device_parts`` with the LoRA adapters' tensors shown apart from the model's weights
    (the plan counts them in the weights)."""
    from workbench.present.plans import device_parts

    parts = device_parts(plan, device)
    adapters = plan.adapter_gpu_bytes if device == "gpu" else plan.adapter_cpu_bytes
    if not adapters:
        return parts
    out = []
    for name, n in parts:
        if name == "weights":
            out += [(name, n - adapters), (ADAPTERS, adapters)]
        else:
            out.append((name, n))
    return out


def preview_text(plan: MemoryPlan, device: str, free: int | None) -> str:
    """What one device holds, against its free memory (adapters apart)."""
    from workbench.present.plans import parts_text

    return parts_text(preview_parts(plan, device), free)


def summary_text(result: PreviewResult) -> str:
    from workbench.present.plans import preview_summary

    plan, machine = result.plan, result.machine
    if plan is None:
        return ""
    return preview_summary(plan, result.fits,
                           free_ram=machine.free_ram_bytes if machine else None,
                           free_vram=machine.free_vram_bytes if machine else None)


def delta_text(result: PreviewResult) -> str:
    """The change against the loaded settings ("" when no model is loaded)."""
    from workbench.present.plans import delta_words

    if result.loaded is None:
        return ""
    if not result.differs:
        return "These are the settings of the loaded model."
    new, old = result.plan, result.loaded_plan
    if new is None or old is None:
        return "Differs from the loaded model; reload to apply."
    return delta_words(new, old)


def gpu_note(result: PreviewResult) -> str:
    machine = result.machine
    if machine is None or machine.backend != "cpu" or result.request.n_gpu_layers == 0:
        return ""
    return f"{machine.no_gpu_reason or 'no usable GPU'}: every layer runs on the CPU."


# -- the bar -------------------------------------------------------------------------------
class MemoryBar(QWidget):
    """One stacked bar: the parts of a plan against the free memory of a device. Colours come
    from the palette; the text next to it carries the figures (never colour alone)."""

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName(name)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.parts: list[tuple[str, int]] = []
        self.capacity: int | None = None

    def set_parts(self, parts: Sequence[tuple[str, int]], capacity: int | None,
                  text: str) -> None:
        self.parts = [(name, n) for name, n in parts if n > 0]
        self.capacity = capacity
        self.setToolTip(text)
        self.setAccessibleDescription(text)
        self.update()

    @property
    def used(self) -> int:
        return sum(n for _, n in self.parts)

    def sizeHint(self) -> QSize:
        return QSize(self.fontMetrics().averageCharWidth() * 24, self.fontMetrics().height())

    def minimumSizeHint(self) -> QSize:
        return QSize(self.fontMetrics().averageCharWidth() * 8, self.fontMetrics().height() // 2)

    def paintEvent(self, _event: Any) -> None:
        palette = self.palette()
        base = palette.color(QPalette.ColorRole.Base)
        highlight = palette.color(QPalette.ColorRole.Highlight)
        frame = palette.color(QPalette.ColorRole.Mid)
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5)
        painter.setPen(QPen(frame, 1))
        painter.setBrush(base)
        painter.drawRoundedRect(rect, 3, 3)
        scale = max(self.used, self.capacity or 0)
        if scale > 0:
            inner = rect.adjusted(1, 1, -1, -1)
            x = inner.left()
            shades = (1.0, 0.7, 0.45, 0.3)
            painter.setPen(Qt.PenStyle.NoPen)
            for i, (_, n) in enumerate(self.parts):
                width = inner.width() * n / scale
                painter.setBrush(blend(base, highlight, shades[i % len(shades)]))
                painter.drawRect(QRectF(x, inner.top(), width, inner.height()))
                x += width
            if self.capacity is not None and self.used > self.capacity:
                limit = inner.left() + inner.width() * self.capacity / scale
                painter.setBrush(blend(base, ERROR_HUE, 0.55))
                painter.drawRect(QRectF(limit, inner.top(), x - limit, inner.height()))
                painter.setPen(QPen(QColor(ERROR_HUE), 2))
                painter.drawLine(int(limit), int(inner.top()), int(limit), int(inner.bottom()))
        painter.end()


# -- the widget ----------------------------------------------------------------------------
class MemoryPreview(QWidget):
    """The memory a load with the chosen settings needs, shown before reloading."""

    updated = Signal(object)  # PreviewResult, each time one is shown

    def __init__(self, parent: QWidget | None = None, *, detect: Detect | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Memory preview")
        make_card(self)
        self._detect = detect
        self._lock = threading.Lock()
        self._machine: Machine | None = None
        self._params: dict[tuple[str, int, int], ModelParams | str] = {}
        self._adapters: dict[tuple[str, int, int], AdapterSummary | str] = {}
        self._plans: dict[tuple[PreviewRequest, str], MemoryPlan | str] = {}
        self._model_path: str | None = None
        self._settings: LoadSettings | None = None
        self._loaded: PreviewRequest | None = None
        self._generation = 0
        self._job: BackgroundCall | None = None
        self.result: PreviewResult | None = None

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(DEBOUNCE_MS)
        self._timer.timeout.connect(self._start)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 8)
        self.summary_label = self._label("Memory needed")
        bold = self.summary_label.font()
        bold.setBold(True)
        self.summary_label.setFont(bold)
        layout.addWidget(self.summary_label)
        rows = QFormLayout()
        rows.setContentsMargins(0, 0, 0, 0)
        self.gpu_bar = MemoryBar("GPU memory needed", self)
        self.gpu_text = self._label("GPU memory breakdown")
        self.cpu_bar = MemoryBar("RAM needed", self)
        self.cpu_text = self._label("RAM breakdown")
        self.gpu_title = QLabel("GPU", self)
        self.cpu_title = QLabel("RAM", self)
        rows.addRow(self.gpu_title, self.gpu_bar)
        rows.addRow(self.gpu_text)
        rows.addRow(self.cpu_title, self.cpu_bar)
        rows.addRow(self.cpu_text)
        layout.addLayout(rows)
        self.note_label = self._label("GPU note", secondary=True)
        self.delta_label = self._label("Change against the loaded model")
        self.error_label = self._label("Why memory cannot be estimated")
        for label in (self.note_label, self.delta_label, self.error_label):
            layout.addWidget(label)
        self.setToolTip("Memory llama.cpp allocates for these settings, estimated from the "
                        "model's header: weights, KV cache (grows with the context) and the "
                        "compute buffer, on the GPU and in RAM, against the memory that was free "
                        "when Workbench checked.")
        self._show(None)

    def _label(self, name: str, *, secondary: bool = False) -> QLabel:
        label = plain_label("", self)
        label.setWordWrap(True)
        label.setAccessibleName(name)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        return make_secondary(label) if secondary else label

    # -- API -------------------------------------------------------------------------------
    @property
    def model_path(self) -> str | None:
        return self._model_path

    @property
    def busy(self) -> bool:
        """A computation is pending or running."""
        return self._timer.isActive() or self._job is not None

    def set_model(self, model_path: str | None, loaded: LoadSettings | None = None) -> None:
        """The model to plan for (None: no model) and the settings it is loaded with."""
        self._model_path = model_path
        self._loaded = PreviewRequest.from_settings(loaded) if loaded is not None else None
        self._generation += 1
        if model_path is None:
            self._timer.stop()
            self._show(None)
            return
        self._timer.start()

    def set_settings(self, settings: LoadSettings) -> None:
        """The settings the next load would use (their model path is ignored); debounced."""
        self._settings = settings
        self._generation += 1
        if self._model_path is not None:
            self._timer.start()

    def request(self) -> PreviewRequest | None:
        if self._model_path is None:
            return None
        settings = self._settings or LoadSettings(model_path=self._model_path)
        return PreviewRequest.from_settings(
            dataclasses.replace(settings, model_path=self._model_path))

    # -- background work -------------------------------------------------------------------
    def _start(self) -> None:
        request = self.request()
        if self._job is not None or request is None:
            return  # a running job restarts us when it ends
        generation = self._generation
        call = BackgroundCall(partial(self.compute, request, self._loaded), self,
                              name="workbench-memory-preview")
        call.finished.connect(partial(self._done, generation))
        call.failed.connect(lambda err, g=generation, r=request: self._done(
            g, PreviewResult(r, error=f"{type(err).__name__}: {err}")))
        self._job = call
        call.start()

    def _done(self, generation: int, result: PreviewResult) -> None:
        # the finished call stays a child of this widget: deleting it here could race with
        # its thread, which is still returning from emit()
        self._job = None
        if generation != self._generation:  # stale: the settings changed meanwhile
            if not self._timer.isActive():
                self._start()
            return
        self._show(result)

    def compute(self, request: PreviewRequest, loaded: PreviewRequest | None) -> PreviewResult:
        """The preview of ``request`` (and of ``loaded``); runs off the GUI thread."""
        machine = self._hardware()
        params = self._model_params(request.model_path)
        if isinstance(params, str):
            return PreviewResult(request, machine, loaded=loaded, error=params)
        loras = self._loras(request)
        if isinstance(loras, str):
            return PreviewResult(request, machine, loaded=loaded, error=loras)
        plan = self._plan(params, request, machine.backend, loras)
        if isinstance(plan, str):
            return PreviewResult(request, machine, loaded=loaded, error=plan)
        loaded_plan = None
        if loaded is not None and loaded.model_path == request.model_path:
            old_loras = self._loras(loaded)
            old = self._plan(params, loaded, machine.backend,
                             old_loras) if not isinstance(old_loras, str) else old_loras
            loaded_plan = None if isinstance(old, str) else old
        return PreviewResult(request, machine, plan, loaded, loaded_plan)

    def _hardware(self) -> Machine:
        with self._lock:
            if self._machine is not None:
                return self._machine
        try:
            if self._detect is None:
                from workbench.hardware import detect

                report = detect()
            else:
                report = self._detect()
            machine = machine_from_report(report)
        except Exception as err:  # detect() does not raise; an injected one might
            machine = Machine("cpu", None, None, None, f"hardware detection failed ({err})")
        with self._lock:
            self._machine = machine
        return machine

    def _model_params(self, path: str) -> ModelParams | str:
        """The header's model numbers (read once per file version), or why they cannot be."""
        from workbench.gguf import read_split_headers
        from workbench.planner import model_params

        return self._cached(self._params, path, "the model's header",
                            lambda: model_params(read_split_headers(path)))

    def _cached(self, cache: dict, path: str, what: str, read: Callable[[], T]) -> T | str:
        """``read()`` once per version of the file at ``path`` (kept in ``cache``), or why it
        cannot be read: the first line of a WorkbenchError, never a traceback in the panel."""
        try:
            stat = os.stat(path)
        except OSError as err:
            return f"cannot read {os.path.basename(path)}: {err.strerror or err}"
        key = (path, stat.st_mtime_ns, stat.st_size)
        with self._lock:
            hit = cache.get(key)
        if hit is not None:
            return hit  # type: ignore[no-any-return]
        value: T | str
        try:
            value = read()
        except WorkbenchError as err:
            value = str(err).splitlines()[0] if str(err) else type(err).__name__
        except Exception as err:  # a reader bug must not become a traceback in the panel
            value = f"cannot read {what}: {type(err).__name__}: {err}"
        with self._lock:
            for old in [k for k in cache if k[0] == path]:
                del cache[old]
            cache[key] = value
        return value

    def _loras(self, request: PreviewRequest) -> list[tuple[AdapterSummary, float]] | str:
        """The request's LoRA adapters read (once per file version), or why one cannot be."""
        out = []
        for path, scale in request.loras:
            summary = self._adapter(path)
            if isinstance(summary, str):
                return summary
            out.append((summary, scale))
        return out

    def _adapter(self, path: str) -> AdapterSummary | str:
        from workbench.gguf import read_adapter

        return self._cached(self._adapters, path, "the adapter's header",
                            lambda: read_adapter(path))

    def _plan(self, params: ModelParams, request: PreviewRequest, backend: str,
              loras: Sequence[tuple[AdapterSummary, float]] = ()) -> MemoryPlan | str:
        key = (request, backend)
        with self._lock:
            hit = self._plans.get(key)
        if hit is not None and not isinstance(hit, str):
            return hit
        from workbench.planner import estimate_memory

        value: MemoryPlan | str
        try:
            value = estimate_memory(params, n_ctx=request.n_ctx, n_ubatch=request.n_ubatch,
                                    n_batch=request.n_batch, n_gpu_layers=request.n_gpu_layers,
                                    kv_type=request.kv_type, flash_attn=request.flash_attn,
                                    backend=backend, swa_full=request.swa_full,
                                    loras=list(loras))
        except WorkbenchError as err:
            value = str(err)
        except Exception as err:  # an estimator bug must not become a traceback
            value = f"the memory estimate failed: {type(err).__name__}: {err}"
        with self._lock:
            if len(self._plans) > 64:
                self._plans.clear()
            self._plans[key] = value
        return value

    # -- display ---------------------------------------------------------------------------
    def _show(self, result: PreviewResult | None) -> None:
        self.result = result
        plan = result.plan if result is not None else None
        on_gpu = plan is not None and plan.backend != "cpu"
        for widget in (self.gpu_title, self.gpu_bar, self.gpu_text):
            widget.setVisible(on_gpu)
        for widget in (self.cpu_title, self.cpu_bar, self.cpu_text):
            widget.setVisible(plan is not None)
        if result is None:
            self.summary_label.setText("Load a model to see the memory these settings need.")
            for label in (self.note_label, self.delta_label, self.error_label):
                label.setVisible(False)
            return
        machine = result.machine
        if plan is not None:
            self.summary_label.setText(summary_text(result))
            free_ram = machine.free_ram_bytes if machine else None
            text = preview_text(plan, "cpu", free_ram)
            self.cpu_text.setText(text)
            self.cpu_bar.set_parts(preview_parts(plan, "cpu"), free_ram, text)
            if on_gpu:
                free_vram = machine.free_vram_bytes if machine else None
                text = preview_text(plan, "gpu", free_vram)
                if machine and machine.gpu_name:
                    text = f"{machine.gpu_name}: {text}"
                self.gpu_text.setText(text)
                self.gpu_bar.set_parts(preview_parts(plan, "gpu"), free_vram, text)
        else:
            self.summary_label.setText("Memory needed: unknown")
        self._set(self.error_label, f"Cannot estimate memory: {result.error}"
                  if result.error else "")
        self._set(self.note_label, gpu_note(result))
        self._set(self.delta_label, delta_text(result) if plan is not None else "")
        self.updated.emit(result)

    @staticmethod
    def _set(label: QLabel, text: str) -> None:
        label.setText(text)
        label.setVisible(bool(text))
