"""``python -m workbench.ui.gui_probe``: start Qt (no window) and print, as one JSON object, what
``workbench doctor`` reports about the GUI: the Qt version, the platform plugin, the bundled
code font and the icon theme. Run in a child process, so that Qt never loads in the doctor's
own process and an abort there is only a finding.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import qVersion
from PySide6.QtGui import QFontDatabase, QFontInfo, QGuiApplication, QIcon

from workbench.ui.fonts import CODE_FAMILY, code_font, register_bundled_fonts


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


def probe() -> dict[str, Any]:
    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    return {"qt_version": qVersion(), "pyside_version": pyside_version,
            "platform": app.platformName(), "icon_theme": icon_theme(),
            "code_font": code_font_report()}


if __name__ == "__main__":
    json.dump(probe(), sys.stdout)
    sys.stdout.write("\n")
