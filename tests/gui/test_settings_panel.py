"""The chat's side panel alone: load settings with their memory effect (a real tiny GGUF, the
real planner), sampling parameters, system-prompt presets and persistence."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from workbench.engine.settings import LoadSettings, Sampling
from workbench.gguf import read_split_headers
from workbench.hardware.model import (
    CpuInfo,
    GpuInfo,
    HardwareReport,
    LlamaBuild,
    NvmlStatus,
    OsInfo,
    RamInfo,
)
from workbench.planner import estimate_memory, model_params
from workbench.present.numbers import format_bytes
from workbench.store import prompt_presets
from workbench.ui.memory_preview import MemoryPreview, PreviewResult, machine_from_report
from workbench.ui.settings_panel import CUSTOM, RELOAD_PENDING_TEXT, RELOAD_TEXT, SettingsPanel

GiB = 1 << 30
WAIT_MS = 5000


def report(*, gpu: bool = False, ram_free: int = 16 * GiB) -> HardwareReport:
    """A machine at the hardware report's boundary (this one has no GPU to test with)."""
    gpus = [GpuInfo(vendor="nvidia", name="Test GPU", index=0, source="nvml",
                    vram_total_bytes=8 * GiB, vram_free_bytes=6 * GiB, llama_usable=True)
            ] if gpu else []
    return HardwareReport(
        os=OsInfo("Linux", "6.1", "#1", "x86_64", "3.11", "python3"),
        cpu=CpuInfo(model="test CPU", architecture="x86_64", physical_cores=2,
                    logical_cores=2, flags={}, flags_source=None),
        ram=RamInfo(total_bytes=32 * GiB, available_bytes=ram_free),
        gpus=gpus, nvml=NvmlStatus(available=gpu), llama=LlamaBuild(installed=True))


def make_panel(qtbot, **kwargs) -> SettingsPanel:
    kwargs.setdefault("detect", report)
    panel = SettingsPanel(**kwargs)
    qtbot.addWidget(panel)
    panel.show()
    return panel


def wait_result(qtbot, panel: SettingsPanel, **expected: object) -> PreviewResult:
    """The shown preview once it is the one for ``expected`` request fields."""
    preview = panel.preview

    def ready() -> bool:
        result = preview.result
        return (not preview.busy and result is not None
                and all(getattr(result.request, k) == v for k, v in expected.items()))

    qtbot.waitUntil(ready, timeout=WAIT_MS)
    assert preview.result is not None
    return preview.result


def planned(path: Path, **settings: object):
    return estimate_memory(model_params(read_split_headers(path)), backend="cpu", **settings)


def test_context_changes_the_preview_as_the_planner_says(qtbot, llama_tiny: Path) -> None:
    panel = make_panel(qtbot)
    panel.context.setValue(1024)
    panel.set_model(str(llama_tiny))
    first = wait_result(qtbot, panel, n_ctx=1024)
    expected = planned(llama_tiny, n_ctx=1024)
    assert first.error is None and first.plan == expected
    assert panel.preview.cpu_bar.isVisible() and not panel.preview.gpu_bar.isVisible()
    cpu_text = panel.preview.cpu_text.text()
    assert f"KV cache {format_bytes(expected.kv_cache_bytes)}" in cpu_text
    assert "of 16.0 GiB free" in cpu_text
    assert panel.preview.summary_label.text().startswith("CPU only, context 1024: fits")
    assert panel.preview.cpu_bar.used == expected.cpu_bytes

    panel.context.setValue(8192)
    second = wait_result(qtbot, panel, n_ctx=8192)
    expected = planned(llama_tiny, n_ctx=8192)
    assert second.plan == expected
    assert second.plan.kv_cache_bytes == 8 * first.plan.kv_cache_bytes
    assert f"KV cache {format_bytes(expected.kv_cache_bytes)}" in panel.preview.cpu_text.text()
    assert panel.preview.cpu_text.text() != cpu_text


def test_flash_attention_and_kv_type_reach_the_plan(qtbot, llama_tiny: Path) -> None:
    panel = make_panel(qtbot)
    panel.set_model(str(llama_tiny))
    panel.flash_attn.setCurrentIndex(panel.flash_attn.findData("on"))
    panel.kv_type.setCurrentIndex(panel.kv_type.findData("q8_0"))
    result = wait_result(qtbot, panel, kv_type="q8_0", flash_attn="on")
    assert result.plan == planned(llama_tiny, n_ctx=4096, kv_type="q8_0", flash_attn="on")
    # llama.cpp refuses a quantized V cache without flash attention: the reason, not a plan
    panel.flash_attn.setCurrentIndex(panel.flash_attn.findData("off"))
    result = wait_result(qtbot, panel, flash_attn="off")
    assert result.plan is None and "needs flash attention" in (result.error or "")
    assert panel.preview.error_label.isVisible()
    assert "needs flash attention" in panel.preview.error_label.text()
    assert not panel.preview.cpu_bar.isVisible()


def test_a_machine_without_a_gpu_says_so_for_gpu_layers(qtbot, llama_tiny: Path) -> None:
    panel = make_panel(qtbot, detect=lambda: report(gpu=False))
    panel.set_model(str(llama_tiny))
    wait_result(qtbot, panel, n_gpu_layers=0)
    assert not panel.preview.note_label.isVisible()
    panel.gpu_layers.setValue(-1)
    result = wait_result(qtbot, panel, n_gpu_layers=-1)
    assert result.plan is not None and result.plan.backend == "cpu"
    assert result.plan.gpu_layers == 0 and result.plan.gpu_bytes == 0
    note = panel.preview.note_label
    assert note.isVisible()
    assert note.text() == ("no GPU that llama.cpp can use was found: every layer runs on the "
                           "CPU.")
    assert not panel.preview.gpu_bar.isVisible()


def test_a_usable_gpu_gets_its_own_bar(qtbot, llama_tiny: Path) -> None:
    panel = make_panel(qtbot, detect=lambda: report(gpu=True))
    panel.set_model(str(llama_tiny))
    panel.gpu_layers.setValue(-1)
    result = wait_result(qtbot, panel, n_gpu_layers=-1)
    plan = result.plan
    assert plan is not None and plan.backend == "cuda" and plan.fit == "full_gpu"
    assert plan == estimate_memory(model_params(read_split_headers(llama_tiny)), n_ctx=4096,
                                   n_gpu_layers=-1, backend="cuda")
    assert panel.preview.gpu_bar.isVisible() and panel.preview.gpu_bar.capacity == 6 * GiB
    assert panel.preview.gpu_text.text().startswith("Test GPU: weights ")
    assert "of 6.0 GiB free" in panel.preview.gpu_text.text()
    assert not panel.preview.note_label.isVisible()
    # the spin box now stops at the model's layer count (2 blocks + the output layer)
    assert panel.gpu_layers.maximum() == plan.n_layers == 3
    panel.gpu_layers.setValue(1)
    result = wait_result(qtbot, panel, n_gpu_layers=1)
    assert result.plan is not None and result.plan.fit == "partial"
    assert "Partial offload: 1 of 3 layers on the GPU" in panel.preview.summary_label.text()


def test_not_enough_ram_says_how_much_is_missing(qtbot, llama_tiny: Path) -> None:
    panel = make_panel(qtbot, detect=lambda: report(ram_free=1 << 20))
    panel.set_model(str(llama_tiny))
    result = wait_result(qtbot, panel, n_ctx=4096)
    assert result.fits is False
    missing = format_bytes(result.plan.cpu_bytes - (1 << 20))
    assert f"does not fit: needs {missing} more RAM" in panel.preview.summary_label.text()


@pytest.mark.parametrize("content", [b"GGUF\x03\x00\x00\x00garbage", b"not a model at all"])
def test_a_corrupt_file_shows_one_line_reason(qtbot, tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(content)
    panel = make_panel(qtbot)
    panel.set_model(str(bad))
    result = wait_result(qtbot, panel)
    assert result.plan is None and result.error
    text = panel.preview.error_label.text()
    assert panel.preview.error_label.isVisible() and text.startswith("Cannot estimate memory: ")
    assert "\n" not in text and "Traceback" not in text
    assert not panel.preview.cpu_bar.isVisible()
    panel.set_model(str(tmp_path / "missing.gguf"))
    result = wait_result(qtbot, panel, model_path=str(tmp_path / "missing.gguf"))
    assert "cannot read missing.gguf" in (result.error or "")


def test_stale_results_are_dropped(qtbot, llama_tiny: Path) -> None:
    gate = threading.Event()

    def slow_detect() -> HardwareReport:
        assert gate.wait(5)
        return report()

    panel = make_panel(qtbot, detect=slow_detect)
    shown: list[PreviewResult] = []
    panel.preview.updated.connect(shown.append)
    panel.set_model(str(llama_tiny))
    qtbot.waitUntil(lambda: panel.preview._job is not None, timeout=WAIT_MS)  # first job blocked
    panel.context.setValue(2048)
    gate.set()
    wait_result(qtbot, panel, n_ctx=2048)
    assert [r.request.n_ctx for r in shown] == [2048]


def test_the_loaded_settings_are_compared_and_reload_is_emphasised(qtbot,
                                                                   llama_tiny: Path) -> None:
    panel = make_panel(qtbot)
    path = str(llama_tiny)
    loaded = panel.load_settings(path)
    panel.set_model(path, loaded)
    wait_result(qtbot, panel, n_ctx=4096)
    assert panel.preview.delta_label.text() == "These are the settings of the loaded model."
    assert panel.reload_button.text() == RELOAD_TEXT and not panel.settings_differ()

    panel.context.setValue(8192)
    result = wait_result(qtbot, panel, n_ctx=8192)
    kv_change = result.plan.kv_cache_bytes - result.loaded_plan.kv_cache_bytes
    assert kv_change == planned(llama_tiny, n_ctx=4096).kv_cache_bytes
    delta = panel.preview.delta_label.text()
    assert delta.startswith(f"+{format_bytes(kv_change)} KV cache")
    assert delta.endswith("vs now; reload to apply.")
    assert panel.settings_differ() and panel.reload_button.property("pending") is True
    assert panel.reload_button.text() == RELOAD_PENDING_TEXT
    assert panel.reload_button.font().bold()

    panel.context.setValue(4096)
    wait_result(qtbot, panel, n_ctx=4096)
    assert panel.reload_button.text() == RELOAD_TEXT and not panel.reload_button.font().bold()
    panel.threads.setValue(1)  # no memory effect, but still a different load
    assert panel.settings_differ() and panel.reload_button.text() == RELOAD_PENDING_TEXT
    panel.set_model(None)
    assert not panel.settings_differ()
    assert panel.preview.result is None and not panel.preview.cpu_bar.isVisible()
    assert panel.preview.summary_label.text().startswith("Load a model")


def test_header_is_read_once_per_model(qtbot, llama_tiny: Path, monkeypatch) -> None:
    import workbench.gguf as gguf

    calls: list[str] = []
    real = gguf.read_split_headers
    monkeypatch.setattr(gguf, "read_split_headers",
                        lambda path, **kw: calls.append(path) or real(path, **kw))
    panel = make_panel(qtbot)
    panel.set_model(str(llama_tiny))
    wait_result(qtbot, panel, n_ctx=4096)
    for ctx in (1024, 2048):
        panel.context.setValue(ctx)
        wait_result(qtbot, panel, n_ctx=ctx)
    assert calls == [str(llama_tiny)]


def test_gpu_layers_spin_box_names_its_special_values(qtbot) -> None:
    panel = make_panel(qtbot)
    spin = panel.gpu_layers
    assert spin.value() == 0 and spin.text() == "CPU only"
    spin.setValue(-1)
    assert spin.text() == "All"
    assert spin.valueFromText("all") == -1 and spin.valueFromText("CPU only") == 0
    assert spin.valueFromText("12") == 12
    spin.lineEdit().selectAll()
    qtbot.keyClicks(spin, "7")
    assert spin.value() == 7


def test_load_settings_and_sampling_carry_the_new_fields(qtbot) -> None:
    panel = make_panel(qtbot)
    assert panel.load_settings("m.gguf") == LoadSettings(model_path="m.gguf")
    panel.gpu_layers.setValue(-1)
    panel.flash_attn.setCurrentIndex(panel.flash_attn.findData("off"))
    panel.kv_type.setCurrentIndex(panel.kv_type.findData("q4_0"))
    panel.context.setValue(2048)
    settings = panel.load_settings("m.gguf")
    assert (settings.n_gpu_layers, settings.flash_attn, settings.kv_type, settings.n_ctx) == (
        -1, "off", "q4_0", 2048)

    assert panel.sampling() == Sampling()
    panel.top_p.setValue(0.8)
    panel.top_k.setValue(0)
    panel.min_p.setValue(0.1)
    panel.repeat_penalty.setValue(1.15)
    panel.temperature.setValue(0.2)
    sampling = panel.sampling()
    assert (sampling.top_p, sampling.top_k, sampling.min_p, sampling.repeat_penalty,
            sampling.temperature) == (0.8, 0, 0.1, 1.15, 0.2)
    assert panel.top_k.text() == "Off"
    panel.reset_sampling_button.click()
    assert panel.sampling() == Sampling()
    for spin in (panel.top_p, panel.top_k, panel.min_p, panel.repeat_penalty):
        assert spin.accessibleName() and spin.toolTip()


def test_save_and_restore_round_trip(qtbot, settings: QSettings) -> None:
    first = make_panel(qtbot)
    first.system_prompt.setPlainText("Be brief.")
    first.top_p.setValue(0.7)
    first.top_k.setValue(12)
    first.min_p.setValue(0.2)
    first.repeat_penalty.setValue(1.3)
    first.gpu_layers.setValue(-1)
    first.flash_attn.setCurrentIndex(first.flash_attn.findData("on"))
    first.kv_type.setCurrentIndex(first.kv_type.findData("q8_0"))
    first.context.setValue(2048)
    first.save(settings)
    settings.sync()

    second = make_panel(qtbot)
    second.restore(QSettings(settings.fileName(), QSettings.Format.IniFormat))
    assert second.sampling() == first.sampling()
    assert second.load_settings("m") == first.load_settings("m")
    assert second.system_text() == "Be brief."
    assert second.preset_combo.currentText() == CUSTOM


def test_presets_fill_the_box_and_user_presets_round_trip(qtbot, home: Path) -> None:
    panel = make_panel(qtbot)
    combo = panel.preset_combo
    assert combo.currentText() == "Default" and not panel.delete_preset_action.isEnabled()
    index = combo.findText("Coding assistant")
    combo.setCurrentIndex(index)
    combo.activated.emit(index)
    coding = next(p for p in prompt_presets.builtin_presets() if p.name == "Coding assistant")
    assert panel.system_prompt.toPlainText() == coding.text
    assert combo.currentText() == "Coding assistant"

    panel.system_prompt.setPlainText(coding.text + " Prefer Python.")
    assert combo.currentText() == CUSTOM
    assert panel.save_preset_as("Python helper")
    assert combo.currentText() == "Python helper (mine)"
    assert panel.delete_preset_action.isEnabled()
    assert not panel.save_preset_as("Translator")  # a built-in name: a message, no change
    assert "built-in" in panel.preset_message.text()

    other = make_panel(qtbot)  # presets live in the data dir, not in the panel
    assert other.choose_preset("Python helper")
    assert other.system_text().endswith("Prefer Python.")
    assert other.delete_current_preset()
    assert prompt_presets.user_presets() == []
    assert other.preset_combo.findText("Python helper (mine)") == -1
    assert other.preset_combo.currentText() == CUSTOM  # the text stays, now custom
    assert other.choose_preset("Default") and other.system_text() == ""
    assert not other.delete_current_preset()  # built-in presets stay


def test_preview_alone_reports_nothing_without_a_model(qtbot) -> None:
    calls: list[int] = []
    preview = MemoryPreview(detect=lambda: calls.append(1) or report())
    qtbot.addWidget(preview)
    preview.set_settings(LoadSettings(model_path="x"))
    qtbot.wait(300)
    assert calls == [] and preview.result is None and not preview.busy


def test_a_gpu_llama_cpp_cannot_use_is_not_planned_for() -> None:
    machine = machine_from_report(report(gpu=True))
    assert (machine.backend, machine.free_vram_bytes, machine.gpu_name) == ("cuda", 6 * GiB,
                                                                            "Test GPU")
    unusable = report(gpu=True)
    unusable.gpus[0].llama_usable = False  # e.g. a CPU-only llama-cpp-python build
    machine = machine_from_report(unusable)
    assert machine.backend == "cpu" and machine.free_vram_bytes is None
    assert machine.no_gpu_reason == "llama.cpp cannot use this machine's GPU (Test GPU)"
    assert machine.free_ram_bytes == 16 * GiB
