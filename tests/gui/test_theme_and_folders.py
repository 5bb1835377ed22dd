"""Settings: the theme (light / dark / the system's) and the Library's model folders."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from workbench.hub import folders
from workbench.ui.main_window import MainWindow
from workbench.ui.style import is_dark

pytestmark = pytest.mark.usefixtures("memory_keyring")  # never the OS keyring


@pytest.fixture
def ini(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "theme.ini"), QSettings.Format.IniFormat)


def _window(qtbot, settings: QSettings) -> MainWindow:
    win = MainWindow(settings=settings, library_scanner=lambda: [],
                     hardware_detector=lambda: (_ for _ in ()).throw(RuntimeError("skip")))
    qtbot.addWidget(win)
    return win


def test_dark_theme_applies_persists_and_system_restores(qtbot, ini: QSettings) -> None:
    app = QApplication.instance()
    started = app.palette()
    assert not is_dark(started)  # the offscreen platform starts light
    win = _window(qtbot, ini)
    page = win.settings_page
    assert page.theme.currentData() == "system"
    page.theme.setCurrentIndex(page.theme.findData("dark"))
    page.theme.activated.emit(page.theme.currentIndex())  # as a user's choice does
    try:
        assert is_dark(app.palette())
        assert ini.value("ui/theme") == "dark"
        # the conversation restyles itself for the new palette
        assert "#" in win.chat.view._container.styleSheet()
        win.close()
        again = _window(qtbot, ini)  # the next start applies the stored choice
        assert is_dark(app.palette())
        assert again.settings_page.theme.currentData() == "dark"
        again.set_theme("system")
        assert app.palette() == started
        assert ini.value("ui/theme") == "system"
        again.set_theme("light")
        assert not is_dark(app.palette())
    finally:
        app.setPalette(started)


def test_model_folders_are_added_listed_and_removed(qtbot, ini: QSettings,
                                                    tmp_path: Path) -> None:
    win = _window(qtbot, ini)
    page = win.settings_page
    shelf = tmp_path / "models shelf"
    shelf.mkdir()
    changed: list[bool] = []
    page.foldersChanged.connect(lambda: changed.append(True))
    win.library.scanned_once = True
    assert page.add_model_folder(str(shelf))
    assert shelf.resolve() in folders()
    assert [page.folder_list.item(i).text() for i in range(page.folder_list.count())] \
        == [str(p) for p in folders()]
    assert changed and not win.library.scanned_once  # the Library rescans when shown
    assert not page.add_model_folder(str(tmp_path / "missing"))
    assert "not a folder" in page.message.text()
    row = [page.folder_list.item(i).text() for i in range(page.folder_list.count())].index(
        str(shelf.resolve()))
    page.folder_list.setCurrentRow(row)
    assert page.remove_selected_folder()
    assert shelf.resolve() not in folders() and shelf.exists()  # the files stay
