"""Light, dark, or the system's colour scheme for the whole app.

Qt >= 6.8 can ask the platform for a scheme (QStyleHints.setColorScheme); where the platform
cannot switch (or the Qt is older, or the platform has no themes, like offscreen), an explicit
palette is set instead. "system" puts back the palette the app started with, which follows the
system's light/dark setting on platforms that report it.

On top of the palette, the app's stylesheet (``style.app_stylesheet``) is set on the whole
application; a ``StyleKeeper`` sets it again whenever the palette or the font changes (a theme
switch, the system turning dark at dusk, a larger text size), so it never shows stale colours.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

from workbench.ui.icons import arrow_files
from workbench.ui.style import app_stylesheet, is_dark

THEMES = {"system": "Follow the system", "light": "Light", "dark": "Dark"}
_started_with: QPalette | None = None
_keeper: StyleKeeper | None = None


class StyleKeeper(QObject):
    """Sets the app's stylesheet from the current palette and font, again on each change."""

    def __init__(self, app: QApplication) -> None:
        super().__init__(app)
        self.app = app
        self._key: tuple[int, ...] | None = None
        # the arrows' image files, for this process only (removed when it ends)
        self.folder = Path(tempfile.mkdtemp(prefix="workbench-ui-"))
        atexit.register(shutil.rmtree, self.folder, ignore_errors=True)
        # the application's own change signals: an event filter on the application would see
        # every event of every widget, in Python
        app.paletteChanged.connect(self.refresh)
        app.fontChanged.connect(self.refresh)
        self.refresh()

    def refresh(self, *_changed: object) -> None:
        palette, font = self.app.palette(), self.app.font()
        key = (*(palette.color(role).rgba() for role in (
            QPalette.ColorRole.Window, QPalette.ColorRole.Base, QPalette.ColorRole.WindowText,
            QPalette.ColorRole.Highlight, QPalette.ColorRole.Button)),
            round(font.pointSizeF() * 10))
        if key != self._key:  # setStyleSheet re-polishes every widget: only when needed
            self._key = key
            try:
                arrows: dict[str, str] | None = arrow_files(self.folder, palette)
            except OSError:  # no room for four small files: Fusion's own arrows, unstyled
                arrows = None
            self.app.setStyleSheet(app_stylesheet(palette, font.pointSizeF(), arrows))


def dark_palette() -> QPalette:
    """A readable dark palette (Fusion-like) for platforms that cannot switch by themselves."""
    palette = QPalette()
    base, window, text = QColor("#1e1f22"), QColor("#2b2d30"), QColor("#e6e6e6")
    disabled = QColor("#7f7f7f")
    for role, colour in (
            (QPalette.ColorRole.Window, window), (QPalette.ColorRole.WindowText, text),
            (QPalette.ColorRole.Base, base), (QPalette.ColorRole.AlternateBase, window),
            (QPalette.ColorRole.Text, text), (QPalette.ColorRole.Button, window),
            (QPalette.ColorRole.ButtonText, text), (QPalette.ColorRole.ToolTipBase, base),
            (QPalette.ColorRole.ToolTipText, text), (QPalette.ColorRole.PlaceholderText, disabled),
            (QPalette.ColorRole.Highlight, QColor("#2f65ca")),
            (QPalette.ColorRole.HighlightedText, QColor("#ffffff")),
            (QPalette.ColorRole.Link, QColor("#6ea8fe")),
            (QPalette.ColorRole.BrightText, QColor("#ff6b6b"))):
        palette.setColor(role, colour)
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text,
                 QPalette.ColorRole.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, disabled)
    return palette


def apply_theme(choice: str, *, stylesheet: bool = True) -> str:
    """Apply ``choice`` (a key of THEMES; anything else counts as "system"); returns the key.
    ``stylesheet=False`` sets the palette only (a window being built sets the stylesheet
    once it is complete: ``keep_style``)."""
    global _started_with
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        return "system"
    if _started_with is None:
        _started_with = QPalette(app.palette())
    choice = choice if choice in THEMES else "system"
    scheme = {"system": Qt.ColorScheme.Unknown, "light": Qt.ColorScheme.Light,
              "dark": Qt.ColorScheme.Dark}[choice]
    hints = QGuiApplication.styleHints()
    if hasattr(hints, "setColorScheme"):  # Qt >= 6.8
        hints.setColorScheme(scheme)
    if choice == "system":
        app.setPalette(_started_with)
    elif choice == "dark" and not is_dark(app.palette()):
        app.setPalette(dark_palette())
    elif choice == "light" and is_dark(app.palette()):
        app.setPalette(app.style().standardPalette())
    if stylesheet:
        keep_style(app)
    return choice


def keep_style(app: QApplication) -> StyleKeeper:
    """The app's stylesheet, set now and kept in step with the palette and font."""
    global _keeper
    if _keeper is None or _keeper.app is not app:
        _keeper = StyleKeeper(app)
    else:
        _keeper.refresh()
    return _keeper
