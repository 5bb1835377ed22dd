"""Colours derived from the system palette, so light and dark themes both look right.

Nothing here picks a colour of its own except the hue of an error (a muted red), and that is
blended into the palette's base colour rather than used raw.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtGui import QColor, QIcon, QPalette

from workbench.resources import resources_dir

RESOURCES = resources_dir()
ERROR_HUE = QColor(200, 60, 50)
NOTICE_HUE = QColor(50, 110, 200)  # something to know, not a failure


def blend(base: QColor, over: QColor, amount: float) -> QColor:
    """``over`` laid on ``base`` with opacity ``amount`` (0..1)."""
    return QColor(
        round(base.red() + (over.red() - base.red()) * amount),
        round(base.green() + (over.green() - base.green()) * amount),
        round(base.blue() + (over.blue() - base.blue()) * amount),
    )


def css(color: QColor) -> str:
    return color.name(QColor.NameFormat.HexRgb)


def chat_stylesheet(palette: QPalette) -> str:
    """Message bubbles: the user's tinted with the highlight colour, the assistant's framed."""
    base = palette.color(QPalette.ColorRole.Base)
    highlight = palette.color(QPalette.ColorRole.Highlight)
    mid = palette.color(QPalette.ColorRole.Mid)
    return f"""
    QWidget#chatContainer {{ background: {css(base)}; }}
    QFrame#message[role="user"] {{
        background: {css(blend(base, highlight, 0.13))};
        border: 1px solid {css(blend(base, highlight, 0.30))};
        border-radius: 8px;
    }}
    QFrame#message[role="assistant"] {{
        background: {css(base)};
        border: 1px solid {css(blend(base, mid, 0.55))};
        border-radius: 8px;
    }}
    """


def banner_stylesheet(palette: QPalette, hue: QColor = ERROR_HUE) -> str:
    """The banner's look: an error's red by default, ``NOTICE_HUE`` for a notice."""
    base = palette.color(QPalette.ColorRole.Window)
    return f"""
    QFrame#noticeBanner {{
        background: {css(blend(base, hue, 0.14))};
        border: 1px solid {css(blend(base, hue, 0.45))};
        border-radius: 6px;
    }}
    """


def secondary_text(palette: QPalette) -> QColor:
    """A colour for less important text (metrics, hints) that stays readable."""
    text = palette.color(QPalette.ColorRole.WindowText)
    window = palette.color(QPalette.ColorRole.Window)
    return blend(text, window, 0.35)


def is_dark(palette: QPalette) -> bool:
    """Whether text sits on a dark background (picks the dark code-highlighting style)."""
    return palette.color(QPalette.ColorRole.Base).lightness() < \
        palette.color(QPalette.ColorRole.Text).lightness()


def code_background(palette: QPalette) -> QColor:
    """The faint shade behind code blocks."""
    return blend(palette.color(QPalette.ColorRole.Base),
                 palette.color(QPalette.ColorRole.Text), 0.06)


def app_icon() -> QIcon:
    path = RESOURCES / "icons" / "workbench.svg"
    return QIcon(str(path)) if path.is_file() else QIcon()


def app_stylesheet(palette: QPalette, point_size: float = 10.0,
                   arrows: dict[str, str] | None = None) -> str:
    """The whole app's look on top of Fusion: roomy inputs and buttons with rounded corners, a
    focus ring on every control (a 2 px accent border, the padding shrunk so nothing moves),
    group boxes as cards, primary buttons (``primary`` property) in the accent colour, readable
    table headers, the navigation rail, slim scroll bars. Colours come from ``palette`` and
    sizes grow with the font (200% text gives twice the padding), so light, dark and large
    text all hold together; Qt scales the pixel sizes on high-DPI screens. ``arrows`` names
    image files (icons.arrow_files) for the combo and spin boxes' arrows and the check boxes,
    which a styled box no longer draws by itself (theme.StyleKeeper makes them); without
    them the boxes keep Fusion's own frame and arrows."""
    role = QPalette.ColorRole
    window, base, text = (palette.color(role.Window), palette.color(role.Base),
                          palette.color(role.WindowText))
    accent, on_accent = palette.color(role.Highlight), palette.color(role.HighlightedText)
    border = blend(window, text, 0.22)
    card = blend(window, base, 0.55)
    hover = blend(window, text, 0.07)
    rule, faint = blend(window, text, 0.10), blend(window, text, 0.14)  # lines, card edges
    button = palette.color(role.Button)
    disabled = palette.color(QPalette.ColorGroup.Disabled, role.WindowText)
    grow = max(1.0, point_size / 10.0)

    def px(value: float, less: int = 0) -> str:
        return f"{round(value * grow) - less}px"

    boxes = ", QSpinBox, QDoubleSpinBox, QComboBox" if arrows else ""  # styled with arrows
    focused_boxes = ", QSpinBox:focus, QDoubleSpinBox:focus, QComboBox:focus" if arrows else ""
    pad_v, pad_h = 4, 10  # a button's padding; inputs use (3, 6); focus takes 1 px of each
    return f"""
    QPushButton {{
        padding: {px(pad_v)} {px(pad_h)}; border: 1px solid {css(border)};
        border-radius: {px(6)}; background: {css(button)};
        color: {css(palette.color(role.ButtonText))}; min-height: {px(18)};
    }}
    QPushButton:hover {{ background: {css(blend(button, text, 0.08))}; }}
    QPushButton:pressed {{ background: {css(blend(button, text, 0.16))}; }}
    QPushButton:disabled {{ color: {css(disabled)}; border-color: {css(faint)}; }}
    QPushButton:focus {{
        border: 2px solid {css(accent)}; padding: {px(pad_v, 1)} {px(pad_h, 1)};
    }}
    QPushButton[primary="true"] {{
        background: {css(accent)}; color: {css(on_accent)}; border-color: {css(accent.darker(115))};
        font-weight: 600;
    }}
    QPushButton[primary="true"]:hover {{ background: {css(accent.lighter(110))}; }}
    QPushButton[primary="true"]:pressed {{ background: {css(accent.darker(115))}; }}
    QPushButton[primary="true"]:focus {{ border: 2px solid {css(blend(accent, text, 0.6))}; }}
    QPushButton[primary="true"]:disabled {{
        background: {css(button)}; color: {css(disabled)}; font-weight: 600;
        border-color: {css(blend(window, accent, 0.35))};
    }}
    QToolButton {{ border: 1px solid transparent; border-radius: {px(6)}; padding: {px(3)}; }}
    QToolButton:hover {{ background: {css(hover)}; border-color: {css(border)}; }}
    QToolButton:focus {{ border: 2px solid {css(accent)}; padding: {px(3, 1)}; }}
    QToolButton:checked {{ background: {css(blend(window, accent, 0.18))}; }}
    QLineEdit, QPlainTextEdit, QTextEdit{boxes} {{
        border: 1px solid {css(border)}; border-radius: {px(5)};
        padding: {px(3)} {px(6)}; background: {css(base)};
        selection-background-color: {css(accent)}; selection-color: {css(on_accent)};
    }}
{_arrow_rules(arrows, px, faint) if arrows else ""}
    QLineEdit:focus, QPlainTextEdit:focus, QTextEdit:focus{focused_boxes} {{
        border: 2px solid {css(accent)}; padding: {px(3, 1)} {px(6, 1)};
    }}
    QLineEdit:disabled, QSpinBox:disabled, QDoubleSpinBox:disabled, QComboBox:disabled {{
        color: {css(disabled)}; background: {css(window)};
    }}
    QAbstractItemView {{
        border: 1px solid {css(border)}; border-radius: {px(5)}; background: {css(base)};
        alternate-background-color: {css(blend(base, text, 0.035))};
        selection-background-color: {css(blend(base, accent, 0.30))};
        selection-color: {css(palette.color(role.Text))};
        gridline-color: {css(blend(base, text, 0.10))};
    }}
    QAbstractItemView:focus {{ border: 2px solid {css(accent)}; }}
    QAbstractItemView::item {{ padding: {px(3)} {px(4)}; }}
    QHeaderView::section {{
        background: {css(card)}; color: {css(text)}; font-weight: 600;
        padding: {px(4)} {px(8)}; border: none; border-bottom: 1px solid {css(border)};
        border-right: 1px solid {css(rule)};
    }}
    QGroupBox {{
        background: {css(card)}; border: 1px solid {css(faint)};
        border-radius: {px(8)}; margin-top: {px(22)}; padding: {px(10)} {px(8)} {px(8)} {px(8)};
    }}
    QGroupBox::title {{
        subcontrol-origin: margin; subcontrol-position: top left; left: {px(4)};
        padding: 0 {px(4)}; font-weight: 600; color: {css(text)};
    }}
    QLabel[secondary="true"] {{ color: {css(secondary_text(palette))}; }}
    QWidget[card="true"] {{
        background: {css(card)}; border: 1px solid {css(faint)};
        border-radius: {px(8)};
    }}
    QListWidget#navRail {{
        background: {css(blend(window, text, 0.035))}; border: none;
        border-right: 1px solid {css(blend(window, text, 0.12))}; border-radius: 0;
        padding: {px(6)} {px(4)}; outline: none;
    }}
    QListWidget#navRail::item {{
        border-radius: {px(6)}; padding: {px(2)} {px(8)}; color: {css(text)};
        border: 2px solid transparent;
    }}
    QListWidget#navRail::item:hover {{ background: {css(hover)}; }}
    QListWidget#navRail::item:selected {{
        background: {css(blend(window, accent, 0.20))}; color: {css(text)}; font-weight: 600;
    }}
    QListWidget#navRail::item:focus {{ border: 2px solid {css(accent)}; }}
    QTabWidget::pane {{ border: 1px solid {css(faint)}; border-radius: {px(6)};
        top: -1px; }}
    QTabBar::tab {{ padding: {px(5)} {px(14)}; border: 1px solid transparent;
        border-top-left-radius: {px(6)}; border-top-right-radius: {px(6)}; }}
    QTabBar::tab:selected {{ background: {css(card)}; border-color: {css(faint)};
        border-bottom-color: {css(card)}; font-weight: 600; }}
    QTabBar::tab:hover:!selected {{ background: {css(hover)}; }}
    QTabBar::tab:focus {{ border: 2px solid {css(accent)}; }}
    QCheckBox:focus, QRadioButton:focus {{ background: {css(blend(window, accent, 0.22))};
        border-radius: {px(4)}; }}
    QScrollBar:vertical {{ width: {px(11)}; background: transparent; margin: 0; }}
    QScrollBar:horizontal {{ height: {px(11)}; background: transparent; margin: 0; }}
    QScrollBar::handle {{ background: {css(blend(window, text, 0.28))}; border-radius: {px(4)};
        min-height: {px(28)}; min-width: {px(28)}; margin: {px(2)}; }}
    QScrollBar::handle:hover {{ background: {css(blend(window, text, 0.42))}; }}
    QScrollBar::add-line, QScrollBar::sub-line {{ width: 0; height: 0; }}
    QScrollBar::add-page, QScrollBar::sub-page {{ background: transparent; }}
    QSplitter::handle {{ background: transparent; }}
    QSplitter::handle:hover {{ background: {css(blend(window, accent, 0.35))}; }}
    QToolTip {{ color: {css(palette.color(role.ToolTipText))};
        background: {css(palette.color(role.ToolTipBase))}; border: 1px solid {css(border)};
        padding: {px(4)}; }}
    QStatusBar {{ border-top: 1px solid {css(rule)}; }}
    QProgressBar {{ border: 1px solid {css(border)}; border-radius: {px(4)}; text-align: center;
        background: {css(base)}; }}
    QProgressBar::chunk {{ background: {css(accent)}; border-radius: {px(3)}; }}
    """


def _arrow_rules(arrows: dict[str, str], px: Callable[..., str], line: QColor) -> str:
    """Drop-down and spin arrows, and check boxes, drawn from ``arrows``' image files."""
    def url(key: str) -> str:
        return "url(" + arrows[key].replace("\\", "/") + ")"

    return f"""
    QComboBox {{ padding-right: {px(22)}; }}
    QComboBox::drop-down {{ subcontrol-origin: padding; subcontrol-position: center right;
        width: {px(20)}; border: none; }}
    QComboBox::down-arrow {{ image: {url("down")}; width: {px(12)}; height: {px(12)}; }}
    QComboBox::down-arrow:disabled {{ image: {url("down-disabled")}; }}
    QSpinBox, QDoubleSpinBox {{ padding-right: {px(20)}; }}
    QSpinBox::up-button, QDoubleSpinBox::up-button, QSpinBox::down-button,
    QDoubleSpinBox::down-button {{ subcontrol-origin: border; width: {px(18)}; border: none;
        border-left: 1px solid {css(line)}; }}
    QSpinBox::up-button, QDoubleSpinBox::up-button {{ subcontrol-position: top right; }}
    QSpinBox::down-button, QDoubleSpinBox::down-button {{ subcontrol-position: bottom right; }}
    QSpinBox::up-arrow, QDoubleSpinBox::up-arrow {{ image: {url("up")}; width: {px(10)};
        height: {px(10)}; }}
    QSpinBox::down-arrow, QDoubleSpinBox::down-arrow {{ image: {url("down")};
        width: {px(10)}; height: {px(10)}; }}
    QSpinBox::up-arrow:disabled, QDoubleSpinBox::up-arrow:disabled,
    QSpinBox::up-arrow:off, QDoubleSpinBox::up-arrow:off {{ image: {url("up-disabled")}; }}
    QSpinBox::down-arrow:disabled, QDoubleSpinBox::down-arrow:disabled,
    QSpinBox::down-arrow:off, QDoubleSpinBox::down-arrow:off {{
        image: {url("down-disabled")}; }}
    QCheckBox::indicator, QAbstractItemView::indicator {{ width: {px(16)}; height: {px(16)}; }}
    QCheckBox::indicator:unchecked, QAbstractItemView::indicator:unchecked {{
        image: {url("check-off")}; }}
    QCheckBox::indicator:checked, QAbstractItemView::indicator:checked {{
        image: {url("check-on")}; }}
    QCheckBox::indicator:unchecked:disabled, QAbstractItemView::indicator:unchecked:disabled {{
        image: {url("check-off-disabled")}; }}
    QCheckBox::indicator:checked:disabled, QAbstractItemView::indicator:checked:disabled {{
        image: {url("check-on-disabled")}; }}
    QComboBox:focus {{ padding-right: {px(22, 1)}; }}
    QSpinBox:focus, QDoubleSpinBox:focus {{ padding-right: {px(20, 1)}; }}
    """
