"""``python -m workbench.ui.gui_probe``: start Qt (no window) and print, as one JSON object, what
``workbench doctor`` reports about the GUI: the Qt version, the platform plugin, the bundled
code font and the icon theme; where Qt cannot start, ``{"failed": [Qt's messages]}`` and exit
status 1. Run in a child process, so that Qt never loads in the doctor's own process.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import qVersion
from PySide6.QtGui import QFontDatabase, QFontInfo, QIcon

from workbench.ui.fonts import CODE_FAMILY, code_font, register_bundled_fonts
from workbench.ui.qt_start import create_application


def icon_theme() -> dict[str, Any]:
    """The icon theme Qt uses, and whether its index.theme is on Qt's search path."""
    name = QIcon.themeName()
    paths = QIcon.themeSearchPaths()
    found = [str(Path(p, name)) for p in paths if name and Path(p, name, "index.theme").is_file()]
    return {"name": name or None, "fallback": QIcon.fallbackThemeName() or None,
            "found": found[0] if found else None}


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
            "platform": app.platformName(), "icon_theme": icon_theme(),
            "code_font": code_font_report()}


if __name__ == "__main__":
    json.dump(probe(), sys.stdout)
    sys.stdout.write("\n")
