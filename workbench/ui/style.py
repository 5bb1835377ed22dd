"""Colours derived from the system palette, so light and dark themes both look right.

Nothing here picks a colour of its own except the hue of an error (a muted red), and that is
blended into the palette's base colour rather than used raw.
"""

from __future__ import annotations

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
