"""The monospace font shipped with the app (JetBrains Mono, ``resources/fonts/``), used for code
everywhere, so code looks the same, and is really fixed-pitch, whatever fonts a machine has.

``register_bundled_fonts()`` runs once, after the QGuiApplication exists and before any widget
(``app.configure_application``); ``code_font()`` and ``code_families()`` register on first use
too, so nothing depends on the order.
"""

from __future__ import annotations

import logging

from PySide6.QtGui import QFont, QFontDatabase

from workbench.resources import resource_path

log = logging.getLogger("workbench.ui")

CODE_FAMILY = "JetBrains Mono"
FONT_DIR = ("fonts",)
FONT_FILES = ("JetBrainsMono-Regular.ttf", "JetBrainsMono-Bold.ttf",
              "JetBrainsMono-Italic.ttf", "JetBrainsMono-BoldItalic.ttf")
_registered: list[str] | None = None


def register_bundled_fonts() -> list[str]:
    """Add the bundled font files to Qt's font database; returns the families they hold."""
    global _registered
    if _registered is not None:
        return _registered
    families: list[str] = []
    for name in FONT_FILES:
        path = resource_path(*FONT_DIR, name)
        font_id = QFontDatabase.addApplicationFont(str(path))
        if font_id < 0:
            log.warning("the bundled font %s could not be loaded; code uses the system's "
                        "monospace font", path)
            continue
        families += [f for f in QFontDatabase.applicationFontFamilies(font_id)
                     if f not in families]
    _registered = families
    return families


def code_families() -> list[str]:
    """The font families for code, best first: the bundled one, the system's fixed font."""
    bundled = [CODE_FAMILY] if CODE_FAMILY in register_bundled_fonts() else []
    system = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont).family()
    return list(dict.fromkeys([*bundled, system, "monospace"]))


def code_font() -> QFont:
    """A QFont for code (command lines, logs, tracebacks) at the system's fixed-font size."""
    font = QFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
    font.setFamilies(code_families())
    font.setStyleHint(QFont.StyleHint.Monospace)
    font.setFixedPitch(True)
    return font
