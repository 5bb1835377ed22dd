"""The monospace font shipped in resources/fonts/: registered, complete, and used for code."""

from __future__ import annotations

from PySide6.QtGui import QFontDatabase, QFontInfo

from workbench.hardware import Finding
from workbench.resources import resource_path
from workbench.ui import fonts
from workbench.ui.app import configure_application
from workbench.ui.hardware_page import FindingRow
from workbench.ui.notice_banner import NoticeBanner


def test_the_bundled_family_has_its_four_faces(bundled_fonts: list[str]) -> None:
    assert fonts.CODE_FAMILY in bundled_fonts
    assert set(QFontDatabase.styles(fonts.CODE_FAMILY)) >= {"Regular", "Bold", "Italic",
                                                             "Bold Italic"}
    assert all(resource_path(*fonts.FONT_DIR, name).is_file() for name in fonts.FONT_FILES)
    assert resource_path(*fonts.FONT_DIR, "OFL.txt").read_text().count("Open Font License") >= 1


def test_code_font_resolves_to_the_bundled_monospace_family(qapp) -> None:
    configure_application(qapp)  # what run_app does before the first widget; idempotent
    info = QFontInfo(fonts.code_font())
    assert info.family() == fonts.CODE_FAMILY and info.fixedPitch()
    assert fonts.code_families()[0] == fonts.CODE_FAMILY


def test_fix_commands_and_crash_details_use_the_code_font(qtbot) -> None:
    row = FindingRow(Finding("error", "x", "title", "detail", "sudo apt install libfoo1"))
    banner = NoticeBanner()
    qtbot.addWidget(row)
    qtbot.addWidget(banner)
    assert row.fix is not None
    assert QFontInfo(row.fix.font()).family() == fonts.CODE_FAMILY
    assert QFontInfo(banner.details.font()).family() == fonts.CODE_FAMILY
