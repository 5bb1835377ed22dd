"""The doctor's GUI findings from what the Qt probe (a child process) answers."""

from __future__ import annotations

from workbench.hardware.gui_doctor import probe_findings

PROBE = {"qt_version": "6.11.3", "pyside_version": "6.11.3", "platform": "xcb",
         "icon_theme": {"name": "Adwaita", "fallback": "hicolor",
                        "found": "/usr/share/icons/Adwaita"},
         "code_font": {"bundled_family": "JetBrains Mono", "registered": ["JetBrains Mono"],
                       "styles": ["Regular", "Bold", "Italic", "Bold Italic"],
                       "resolved": "JetBrains Mono", "fixed_pitch": True}}


def by_code(probe: dict) -> dict:
    return {f.code: f for f in probe_findings(probe, "")}


def test_a_healthy_gui_reports_qt_the_font_and_the_icon_theme() -> None:
    found = by_code(PROBE)
    assert found["gui-qt"].title == "Qt 6.11.3 (PySide6 6.11.3), platform plugin xcb"
    assert found["gui-code-font"].severity == "ok"
    assert "Bold Italic" in found["gui-code-font"].title
    assert (found["gui-icon-theme"].severity, found["gui-icon-theme"].title) == \
        ("ok", "Icon theme: Adwaita")


def test_a_missing_bundled_font_is_a_warning_with_a_fix() -> None:
    probe = {**PROBE, "code_font": {**PROBE["code_font"], "registered": [],
                                    "resolved": "DejaVu Sans", "fixed_pitch": False}}
    font = by_code(probe)["gui-code-font"]
    assert font.severity == "warning" and "DejaVu Sans" in font.detail
    assert "resources/fonts/" in font.fix


def test_an_icon_theme_that_is_not_installed_is_said() -> None:
    probe = {**PROBE, "icon_theme": {"name": "breeze", "fallback": None, "found": None}}
    theme = by_code(probe)["gui-icon-theme"]
    assert (theme.severity, theme.title) == ("info", "Icon theme breeze not found")
