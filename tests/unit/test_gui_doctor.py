"""The doctor's GUI findings from what the Qt probe (a child process) answers."""

from __future__ import annotations

from workbench.hardware.gui_doctor import probe_findings

PROBE = {"qt_version": "6.11.3", "pyside_version": "6.11.3", "platform": "xcb",
         "icons": {"library": "1.4.2", "blank": [], "error": None},
         "code_font": {"bundled_family": "JetBrains Mono", "registered": ["JetBrains Mono"],
                       "styles": ["Regular", "Bold", "Italic", "Bold Italic"],
                       "resolved": "JetBrains Mono", "fixed_pitch": True}}


def by_code(probe: dict) -> dict:
    return {f.code: f for f in probe_findings(probe, "")}


def test_a_healthy_gui_reports_qt_the_font_and_the_icons() -> None:
    found = by_code(PROBE)
    assert found["gui-qt"].title == "Qt 6.11.3 (PySide6 6.11.3), platform plugin xcb"
    assert found["gui-code-font"].severity == "ok"
    assert "Bold Italic" in found["gui-code-font"].title
    assert (found["gui-icons"].severity, found["gui-icons"].title) == \
        ("ok", "Icons: Material Design Icons (qtawesome 1.4.2)")


def test_a_missing_bundled_font_is_a_warning_with_a_fix() -> None:
    probe = {**PROBE, "code_font": {**PROBE["code_font"], "registered": [],
                                    "resolved": "DejaVu Sans", "fixed_pitch": False}}
    font = by_code(probe)["gui-code-font"]
    assert font.severity == "warning" and "DejaVu Sans" in font.detail
    assert "resources/fonts/" in font.fix


def test_icons_that_do_not_draw_are_a_warning_with_a_fix() -> None:
    probe = {**PROBE, "icons": {"library": "1.4.2", "blank": ["chat", "start"], "error": None}}
    icons = by_code(probe)["gui-icons"]
    assert (icons.severity, icons.title) == ("warning", "2 of the app's icons do not draw")
    assert "chat, start" in icons.detail and "qtawesome" in icons.fix
