"""``python -m workbench.ui.gui_probe``: start Qt (no window) and print, as one JSON object, what
``workbench doctor`` reports about the GUI: the Qt version, the platform plugin, the bundled
code font and the app's icons; where Qt cannot start, ``{"failed": [Qt's messages]}`` and exit
status 1. Run in a child process, so that Qt never loads in the doctor's own process.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import qVersion
from PySide6.QtGui import QFontDatabase, QFontInfo

from workbench.ui.fonts import CODE_FAMILY, code_font, register_bundled_fonts
from workbench.ui.qt_start import create_application


def app_icons() -> dict[str, Any]:
    """Whether the app's icons draw: qtawesome's version and the purposes whose glyph painted
    nothing (its font missing from this installation) or failed, with the reason."""
    from workbench.ui.icons import GLYPHS, icon, icon_font

    try:
        import qtawesome  # for its version: the app reads its font files without importing it
    except ImportError as err:
        return {"library": None, "blank": sorted(GLYPHS), "error": str(err)}
    blank = []
    try:
        icon_font()
        for purpose in GLYPHS:
            image = icon(purpose).pixmap(16, 16).toImage()
            if not any(image.pixelColor(x, y).alpha() for y in range(16) for x in range(16)):
                blank.append(purpose)
    except Exception as err:  # a missing or broken font file
        return {"library": qtawesome.__version__, "blank": sorted(GLYPHS), "error": str(err)}
    return {"library": qtawesome.__version__, "blank": blank, "error": None}


def code_font_report() -> dict[str, Any]:
    """The bundled families, their styles, and what a code font resolves to on this machine."""
    families = register_bundled_fonts()
    resolved = QFontInfo(code_font())
    return {"bundled_family": CODE_FAMILY, "registered": families,
            "styles": QFontDatabase.styles(CODE_FAMILY) if CODE_FAMILY in families else [],
            "resolved": resolved.family(), "fixed_pitch": resolved.fixedPitch()}


def print_failure(said: list[str]) -> None:
    """Qt could not start: its own messages, as the one JSON object (exit status 1)."""
    print(json.dumps({"failed": said}))


def probe() -> dict[str, Any]:
    app = create_application(on_failure=print_failure)
    return {"qt_version": qVersion(), "pyside_version": pyside_version,
            "platform": app.platformName(), "icons": app_icons(),
            "code_font": code_font_report()}


if __name__ == "__main__":
    json.dump(probe(), sys.stdout)
    sys.stdout.write("\n")
