"""The Library page: a scan off the GUI thread over a real folder of GGUF files, Open in Chat
(loads the model in the real worker) and Delete."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

from PySide6.QtCore import QSettings

from tests.helpers.gui import LOAD_TIMEOUT_MS
from workbench.hub import scan_library
from workbench.ui.library_page import LibraryPage
from workbench.ui.main_window import MainWindow


def _folder_scanner(folder: Path, threads: list[str]):
    def scan():
        threads.append(threading.current_thread().name)
        return scan_library(sources=("folder",), extra_folders=[folder])
    return scan


def test_scan_lists_models_and_delete_removes_the_file(qtbot, tmp_path: Path,
                                                       llama_tiny: Path) -> None:
    folder = tmp_path / "models"
    folder.mkdir()
    copy = Path(shutil.copy(llama_tiny, folder / "tiny-llama-Q8_0.gguf"))
    (folder / "not-a-model.gguf").write_bytes(b"nope")
    threads: list[str] = []
    page = LibraryPage(_folder_scanner(folder, threads))
    qtbot.addWidget(page)
    with qtbot.waitSignal(page.scanned, timeout=10_000):
        page.show()
        assert page.scanning
    assert threads == ["workbench-library"]
    names = {m.path: m for m in page.models}
    assert str(copy) in names and names[str(copy)].status == "ok"
    row = [m.path for m in page.models].index(str(copy))
    assert page.table.item(row, 2).text() == "Q8_0"
    assert page.table.item(row, 4).text() == "llama"
    page.table.selectRow(row)
    assert page.open_button.isEnabled() and page.path_label.text() == str(copy)
    page.confirm_delete = lambda model: True  # the Yes of the confirmation dialog
    with qtbot.waitSignal(page.scanned, timeout=10_000):
        page.delete_selected()
    assert not copy.exists()
    assert str(copy) not in [m.path for m in page.models]


def test_open_in_chat_loads_the_model(qtbot, tmp_path: Path, settings: QSettings,
                                      llama_tiny: Path) -> None:
    folder = tmp_path / "models"
    folder.mkdir()
    shutil.copy(llama_tiny, folder / "tiny.gguf")
    win = MainWindow(settings=settings, library_scanner=_folder_scanner(folder, []))
    qtbot.addWidget(win)
    win.show()
    with qtbot.waitSignal(win.library.scanned, timeout=10_000):
        win.show_page("library")
    win.library.table.selectRow(0)
    with qtbot.waitSignal(win.bridge.loaded, timeout=LOAD_TIMEOUT_MS) as blocker:
        win.library.open_button.click()
    assert win.current_page() == "chat"
    assert blocker.args[0].architecture == "llama"
    win.close()
