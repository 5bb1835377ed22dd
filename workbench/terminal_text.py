"""Untrusted text written to a terminal: model output, GGUF metadata, Hub names, provider errors.

Such text is never markup and never terminal control. ``terminal_safe`` makes every control
character visible as a backslash escape (ESC becomes the four characters ``\\x1b``), so OSC 52
(clipboard writes), OSC 8 (links), cursor moves, title changes, carriage-return overwrites and
bidirectional overrides cannot act; plain newlines and tabs are kept (``\\r\\n`` becomes
``\\n``). ``rich_text`` and ``markup_escape`` are the two ways such text goes into rich output:
as a ``Text`` (never parsed as markup) or escaped inside a markup string.

``json_safe`` keeps ``--json`` output exact: it only writes C1 controls and bidirectional
overrides as JSON ``\\uXXXX`` escapes (JSON already escapes C0), which decode to the same text.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # rich is imported only when a table or panel is printed
    from rich.text import Text

# C0 controls but tab and newline, DEL, C1 controls, and the bidirectional embeddings,
# overrides and isolates (text that displays in another order than it reads)
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u202a-\u202e\u2066-\u2069]")
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u061c\u202a-\u202e\u2066-\u2069]")


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal_safe(text: object) -> str:
    """``text`` with every control character and escape sequence made visible."""
    value = text if isinstance(text, str) else str(text)
    return _UNSAFE.sub(_escaped, value.replace("\r\n", "\n"))


def markup_escape(text: object) -> str:
    """``text`` safe inside a rich markup string: controls visible, brackets escaped."""
    from rich.markup import escape

    return escape(terminal_safe(text))


def rich_text(text: object, style: str = "") -> Text:
    """``text`` as a rich ``Text``: printed as it is (no markup, no emoji codes), controls
    visible."""
    from rich.text import Text

    return Text(terminal_safe(text), style=style)


def json_safe(document_text: str) -> str:
    """Serialised JSON with C1 controls and bidi overrides written as ``\\uXXXX`` (same data)."""
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", document_text)
