"""The app's look: its icons follow the theme, one stylesheet in both themes and at large text,
focus visible, every control reachable by keyboard and named for a screen reader, and a Chat
page that leaves most of the width to the conversation."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QColor, QFont, QIcon, QImage, QPalette
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollBar,
    QTextEdit,
    QWidget,
)

from workbench.ui.icons import GLYPHS, icon
from workbench.ui.main_window import MainWindow
from workbench.ui.style import is_dark

pytestmark = pytest.mark.usefixtures("memory_keyring")  # never the OS keyring


def _window(qtbot, settings: QSettings, size: tuple[int, int] = (1100, 700)) -> MainWindow:
    win = MainWindow(settings=settings, library_scanner=lambda: [],
                     hardware_detector=lambda: (_ for _ in ()).throw(RuntimeError("skip")))
    qtbot.addWidget(win)
    win.resize(*size)
    win.show()
    qtbot.waitExposed(win)
    return win


@pytest.fixture
def themed(qtbot, settings: QSettings) -> Iterator[MainWindow]:
    """A window whose theme the test may switch; the system's theme is put back after."""
    win = _window(qtbot, settings)
    yield win
    win.set_theme("system")


def _ink(image: QImage) -> QColor:
    """The colour of the most opaque pixel: the glyph's own colour, not its anti-aliasing."""
    best, colour = -1, QColor()
    for y in range(image.height()):
        for x in range(image.width()):
            pixel = image.pixelColor(x, y)
            if pixel.alpha() > best:
                best, colour = pixel.alpha(), pixel
    assert best > 200, "the icon painted nothing"
    return colour


def _close(a: QColor, b: QColor, tolerance: int = 24) -> bool:
    return all(abs(x - y) <= tolerance for x, y in
               ((a.red(), b.red()), (a.green(), b.green()), (a.blue(), b.blue())))


def test_every_page_has_its_own_icon_and_it_follows_the_theme(themed: MainWindow) -> None:
    rail = themed.rail
    pictures = set()
    for row in range(rail.count()):
        image = rail.item(row).icon().pixmap(24, 24).toImage()
        assert not image.isNull()
        pictures.add(bytes(image.constBits()))
    assert len(pictures) == rail.count()  # no two pages share a picture
    chat = icon("chat")
    for theme in ("light", "dark"):
        themed.set_theme(theme)
        palette = QApplication.palette()
        assert is_dark(palette) == (theme == "dark")
        text = palette.color(QPalette.ColorRole.WindowText)
        assert _close(_ink(chat.pixmap(32, 32).toImage()), text), theme
        disabled = chat.pixmap(32, 32, QIcon.Mode.Disabled).toImage()
        assert _close(_ink(disabled), palette.color(QPalette.ColorGroup.Disabled,
                                                    QPalette.ColorRole.WindowText)), theme


def test_every_purpose_has_a_glyph_that_draws(qapp) -> None:
    for purpose in GLYPHS:
        _ink(icon(purpose).pixmap(24, 24).toImage())


def test_icons_are_drawn_without_importing_qtawesome(qapp) -> None:
    """The icon font comes from qtawesome's files; its Python layer (qtpy's star imports of
    every Qt module) stays out of the app's start."""
    import subprocess
    import sys

    code = ("from PySide6.QtWidgets import QApplication; app = QApplication([]); import sys; "
            "from workbench.ui.icons import icon; icon('chat').pixmap(16, 16); "
            "print('qtawesome' in sys.modules, 'qtpy' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert done.stdout.split() == ["False", "False"], done.stderr


def test_a_missing_icon_font_draws_nothing_and_doctor_says_why(qapp, monkeypatch) -> None:
    import importlib.util

    from workbench.ui import gui_probe, icons

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    icons.icon_font.cache_clear()
    try:
        image = icon("chat").pixmap(16, 16).toImage()
        assert not any(image.pixelColor(x, y).alpha() for y in range(16) for x in range(16))
        report = gui_probe.app_icons()
        assert report["error"] == "qtawesome is not installed"
        assert report["blank"] == sorted(GLYPHS)
    finally:
        monkeypatch.undo()
        icons.icon_font.cache_clear()
    _ink(icon("chat").pixmap(16, 16).toImage())  # drawn again once the font is found


def test_one_stylesheet_in_both_themes_and_at_twice_the_text(themed: MainWindow) -> None:
    app = QApplication.instance()
    themed.set_theme("light")
    light = app.styleSheet()
    themed.set_theme("dark")
    dark = app.styleSheet()
    base = app.palette().color(QPalette.ColorRole.Base).name()
    assert base in dark and base not in light  # the sheet is made from the palette
    assert "QPushButton:focus" in dark and 'QPushButton[primary="true"]' in dark
    button = themed.chat.new_chat_button
    height, rail = button.sizeHint().height(), (themed.rail.iconSize(), themed.rail.width())
    font = QFont(app.font())
    normal = QFont(font)
    font.setPointSizeF(font.pointSizeF() * 2)
    app.setFont(font)
    try:
        assert app.styleSheet() != dark  # the sheet follows the font: padding grows too
        button.ensurePolished()
        assert button.sizeHint().height() >= 1.6 * height  # the 1 px borders do not grow
        assert themed.rail.iconSize().height() >= 1.8 * rail[0].height()
        assert themed.rail.width() >= 1.6 * rail[1]
        QApplication.processEvents()
        metrics = themed.rail.fontMetrics()
        for row in range(themed.rail.count()):  # no page's name is cut, scroll bar or not
            item = themed.rail.item(row)
            room = themed.rail.visualItemRect(item).width() - themed.rail.iconSize().width()
            assert room > metrics.horizontalAdvance(item.text()), item.text()
    finally:
        app.setFont(normal)
    assert app.styleSheet() == dark and themed.rail.iconSize() == rail[0]


def test_keyboard_focus_is_drawn(themed: MainWindow, qtbot) -> None:
    themed.show_page("chat")
    button = themed.chat.new_chat_button
    accent = QApplication.palette().color(QPalette.ColorRole.Highlight)

    def accent_pixels() -> int:
        image = button.grab().toImage()
        return sum(_close(image.pixelColor(x, y), accent, 30)
                   for y in range(image.height()) for x in range(image.width()))

    themed.activateWindow()
    themed.chat.input.setFocus(Qt.FocusReason.TabFocusReason)
    qtbot.waitUntil(themed.chat.input.hasFocus)
    before = accent_pixels()
    button.setFocus(Qt.FocusReason.TabFocusReason)
    qtbot.waitUntil(button.hasFocus)
    assert accent_pixels() > before + 2 * button.width()  # a ring around it, in the accent


INTERACTIVE = (QAbstractButton, QLineEdit, QAbstractSpinBox, QComboBox, QAbstractItemView,
               QPlainTextEdit, QTextEdit)


def _inside(widget: QWidget, kind: type) -> bool:
    parent = widget.parentWidget()
    while parent is not None:
        if isinstance(parent, kind):
            return True
        parent = parent.parentWidget()
    return False


def _controls(page: QWidget) -> list[QWidget]:
    """The page's controls, shown or not (a tab not chosen, a bar shown while editing)."""
    found = []
    for widget in page.findChildren(QWidget):
        if not isinstance(widget, INTERACTIVE) or isinstance(widget, QHeaderView):
            continue
        parent = widget.parent()
        if isinstance(parent, QAbstractItemView) and not isinstance(widget, QScrollBar):
            continue  # a table's own parts: its corner button, an open cell editor
        if isinstance(widget, QLineEdit) and isinstance(parent, QAbstractSpinBox | QComboBox):
            continue  # the edit inside a spin box or an editable combo box
        if isinstance(parent, QLineEdit) or _inside(widget, QComboBox):
            continue  # a line edit's clear button; a combo box's pop-up list
        if isinstance(widget, QTextEdit | QPlainTextEdit) and widget.isReadOnly() \
                and widget.focusPolicy() == Qt.FocusPolicy.NoFocus:
            continue  # text shown, not a control
        found.append(widget)
    return found


def _named(widget: QWidget) -> bool:
    if widget.accessibleName().strip():
        return True
    if isinstance(widget, QAbstractButton) and widget.text().replace("&", "").strip():
        return True
    return any(label.buddy() is widget for label in widget.window().findChildren(QLabel))


def test_every_control_is_named_and_reachable_by_keyboard(themed: MainWindow) -> None:
    problems, checked = [], 0
    keys = themed.rail.keys()
    for key in keys:
        themed.show_page(key)
        page = themed.page(key)
        QApplication.processEvents()
        for widget in _controls(page):
            checked += 1
            what = f"{key}: {type(widget).__name__} {widget.objectName() or ''}" \
                   f"{getattr(widget, 'text', lambda: '')()!r}"
            if not widget.focusPolicy() & Qt.FocusPolicy.TabFocus:
                problems.append(f"{what} is not reachable with Tab")
            if not _named(widget):
                problems.append(f"{what} has no accessible name")
    assert not problems, "\n".join(problems)
    assert checked > 150  # every page's controls were looked at, not a few


def test_chat_leaves_most_of_the_width_to_the_conversation(qtbot, settings: QSettings) -> None:
    win = _window(qtbot, settings, (1100, 700))
    win.show_page("chat")
    chat = win.chat
    QApplication.processEvents()
    conversation = chat.view.width()
    assert chat.side.isVisible() and not chat.sidebar.isVisible()
    assert conversation > 0.55 * win.width()
    chat.panel_button.click()  # the side panel folds away: the conversation takes its room
    QApplication.processEvents()
    assert not chat.side.isVisible() and chat.view.width() > 0.8 * win.width()
    win.resize(1600, 900)  # the user chose: a wider window does not bring it back
    QApplication.processEvents()
    assert not chat.side.isVisible()
    win.close()
    again = _window(qtbot, settings, (1600, 900))
    QApplication.processEvents()
    assert not again.chat.side.isVisible() and not again.chat.panel_button.isChecked()
    again.chat.panel_action.trigger()
    assert again.chat.side.isVisible()


def test_a_wide_window_shows_both_panels_at_first(qtbot, settings: QSettings) -> None:
    win = _window(qtbot, settings, (1700, 900))
    win.show_page("chat")
    QApplication.processEvents()
    assert win.chat.side.isVisible() and win.chat.sidebar.isVisible()


def test_primary_buttons_are_marked(themed: MainWindow) -> None:
    wanted = {themed.chat.send_button, themed.compare.run_button, themed.evals.run_button,
              themed.bench.run_button, themed.server_page.start_button}  # builds those pages
    primary = [b for b in themed.findChildren(QPushButton) if b.property("primary")]
    assert wanted <= set(primary)
