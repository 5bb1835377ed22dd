"""The app's icons: Material Design Icons (Apache 2.0, the font qtawesome ships), by purpose.

Each icon is drawn at paint time in the current palette's colours (text, accent when selected,
the disabled grey), so switching between light and dark recolours every icon with no one having
to set it again. Pages ask for an icon by what it is for (``icon("chat")``), never by glyph
name: the glyph for a purpose is chosen here, once.
"""

from __future__ import annotations

import functools
from pathlib import Path

from PySide6.QtCore import QPoint, QRect, QSize, Qt
from PySide6.QtGui import QColor, QIcon, QIconEngine, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import QApplication

# purpose -> Material Design Icons 6 glyph (https://pictogrammers.com/library/mdi/)
GLYPHS: dict[str, str] = {
    # pages
    "start": "mdi6.rocket-launch-outline",
    "hardware": "mdi6.chip",
    "discover": "mdi6.magnify",
    "downloads": "mdi6.download-outline",
    "library": "mdi6.bookshelf",
    "chat": "mdi6.chat-outline",
    "compare": "mdi6.compare-horizontal",
    "evals": "mdi6.clipboard-check-outline",
    "server": "mdi6.server-network",
    "bench": "mdi6.speedometer",
    "costs": "mdi6.cash-multiple",
    "settings": "mdi6.cog-outline",
    # actions and states
    "conversations": "mdi6.forum-outline",
    "side-panel": "mdi6.tune-variant",
    "send": "mdi6.send",
    "stop": "mdi6.stop-circle-outline",
    "run": "mdi6.play",
    "open": "mdi6.folder-open-outline",
    "new": "mdi6.plus",
    "error": "mdi6.alert-circle-outline",
    "arrow-up": "mdi6.chevron-up",
    "arrow-down": "mdi6.chevron-down",
    "check-on": "mdi6.checkbox-marked",
    "check-off": "mdi6.checkbox-blank-outline",
    "notice": "mdi6.information-outline",
    "adapter": "mdi6.puzzle-outline",
    "remove": "mdi6.close",
}


def _colour(mode: QIcon.Mode, palette: QPalette) -> QColor:
    if mode == QIcon.Mode.Disabled:
        return palette.color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.WindowText)
    if mode == QIcon.Mode.Selected:  # a selected row in the rail: the accent colour
        return palette.color(QPalette.ColorRole.Highlight)
    return palette.color(QPalette.ColorRole.WindowText)


@functools.lru_cache(maxsize=256)
def _glyph(glyph: str, rgba: int) -> QIcon:
    """qtawesome's icon of ``glyph`` in one colour (imported on first use: it loads its fonts
    into Qt, which needs the application)."""
    import qtawesome

    colour = QColor.fromRgba(rgba)
    return qtawesome.icon(glyph, color=colour, color_active=colour, color_selected=colour,
                          color_disabled=colour)


class _PaletteIconEngine(QIconEngine):
    """Paints one glyph in the colour the application palette gives its mode, when painted."""

    def __init__(self, glyph: str, hue: QColor | None = None) -> None:
        super().__init__()
        self.glyph = glyph
        self.hue = hue  # a fixed colour (an error's red), or None to follow the palette

    def paint(self, painter: QPainter, rect: QRect, mode: QIcon.Mode,
              state: QIcon.State) -> None:
        colour = self.hue if self.hue is not None and mode != QIcon.Mode.Disabled \
            else _colour(mode, QApplication.palette())
        _glyph(self.glyph, colour.rgba()).paint(painter, rect, Qt.AlignmentFlag.AlignCenter,
                                                QIcon.Mode.Normal, state)

    def pixmap(self, size: QSize, mode: QIcon.Mode, state: QIcon.State) -> QPixmap:
        pixmap = QPixmap(size)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        self.paint(painter, QRect(QPoint(0, 0), size), mode, state)
        painter.end()
        return pixmap

    def clone(self) -> QIconEngine:
        return _PaletteIconEngine(self.glyph, self.hue)


def icon(purpose: str, hue: QColor | None = None) -> QIcon:
    """The icon for ``purpose`` (a key of GLYPHS), in the palette's colours or in ``hue``."""
    return QIcon(_PaletteIconEngine(GLYPHS[purpose], hue))


def arrow_files(folder: Path, palette: QPalette) -> dict[str, str]:
    """The combo and spin boxes' arrows and the check boxes' boxes as PNG files in ``folder``
    (a stylesheet can only draw an image file): arrows in the palette's text and disabled
    colours, a ticked box in the accent colour; 32 px, for high-DPI screens."""
    text = palette.color(QPalette.ColorRole.Text)
    disabled = palette.color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text)
    accent = palette.color(QPalette.ColorRole.Highlight)
    wanted = {"up": ("arrow-up", text), "up-disabled": ("arrow-up", disabled),
              "down": ("arrow-down", text), "down-disabled": ("arrow-down", disabled),
              "check-on": ("check-on", accent), "check-off": ("check-off", text),
              "check-on-disabled": ("check-on", disabled),
              "check-off-disabled": ("check-off", disabled)}
    files = {}
    for key, (purpose, colour) in wanted.items():
        path = folder / f"{key}-{colour.name()[1:]}.png"
        if not path.is_file():
            icon(purpose, colour).pixmap(32, 32).save(str(path))
        files[key] = str(path)
    return files
