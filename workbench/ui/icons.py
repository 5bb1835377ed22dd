"""The app's icons: Material Design Icons (Apache 2.0, the font qtawesome ships), by purpose.

Each icon is drawn at paint time in the current palette's colours (text, accent when selected,
the disabled grey), so switching between light and dark recolours every icon with no one having
to set it again. Pages ask for an icon by what it is for (``icon("chat")``), never by glyph
name: the glyph for a purpose is chosen here, once.
"""

from __future__ import annotations

import functools
import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QPoint, QRect, QSize, Qt
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontDatabase,
    QIcon,
    QIconEngine,
    QPainter,
    QPalette,
    QPixmap,
)
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


FONT_PREFIX = "materialdesignicons6-webfont"  # qtawesome's files of Material Design Icons 6


@dataclass(frozen=True)
class IconFont:
    """The icon font as Qt knows it: its family and each glyph name's character."""

    family: str
    characters: dict[str, str]


@functools.cache
def icon_font() -> IconFont:
    """Material Design Icons 6 from qtawesome's package files, loaded into Qt once (the
    application must exist). qtawesome itself is not imported: its Python layer star-imports
    every Qt module through qtpy, which cost the first window 0.6 s. Raises OSError or
    ValueError when the files are missing or broken."""
    spec = importlib.util.find_spec("qtawesome")  # finds the package without running it
    if spec is None or not spec.submodule_search_locations:
        raise OSError("qtawesome is not installed")
    folder = Path(next(iter(spec.submodule_search_locations))) / "fonts"
    fonts = sorted(folder.glob(f"{FONT_PREFIX}-*.ttf"))
    if not fonts:
        raise OSError(f"no {FONT_PREFIX} font in {folder}")
    charmap = fonts[-1].with_name(fonts[-1].name.replace("webfont-", "webfont-charmap-")
                                  .removesuffix(".ttf") + ".json")
    codes = json.loads(charmap.read_text(encoding="utf-8"))
    font_id = QFontDatabase.addApplicationFont(str(fonts[-1]))
    families = QFontDatabase.applicationFontFamilies(font_id) if font_id >= 0 else []
    if not families:
        raise ValueError(f"Qt cannot load the icon font {fonts[-1]}")
    return IconFont(families[0], {name: chr(int(code, 16)) for name, code in codes.items()})


def _paint_glyph(painter: QPainter, rect: QRect, glyph: str, colour: QColor) -> None:
    """One glyph centred in ``rect`` at 7/8 of its height (qtawesome's own size: room for the
    font's bearing); nothing when the font cannot be loaded (``workbench doctor`` says why)."""
    try:
        font = icon_font()
    except (OSError, ValueError):
        return
    character = font.characters.get(glyph.removeprefix("mdi6."))
    if character is None:
        return
    face = QFont(font.family)
    face.setPixelSize(max(1, round(0.875 * rect.height())))
    painter.save()
    painter.setPen(colour)
    painter.setFont(face)
    painter.drawText(rect, int(Qt.AlignmentFlag.AlignCenter), character)
    painter.restore()


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
        _paint_glyph(painter, rect, self.glyph, colour)

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
