"""Code in chat answers: fenced blocks found in Markdown source, and Pygments colour spans.

Qt-free (unit-testable without a display): the message widget turns the spans into text
formats. Lexing is linear in the code's length; no lexer is ever guessed from the whole lexer
list (``pygments.lexers.guess_lexer`` imports every lexer, ~1 s, and guesses short snippets
badly), only from an explicit fence language or a ``#!`` line.
"""

from __future__ import annotations

import re
from collections.abc import Generator
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from pygments.lexer import Lexer
from pygments.lexers import get_lexer_by_name
from pygments.style import StyleMeta
from pygments.styles import get_style_by_name
from pygments.token import Token, _TokenType
from pygments.util import ClassNotFound

LIGHT_STYLE = "default"
DARK_STYLE = "github-dark"
MAX_HIGHLIGHT_CHARS = 200_000  # longer code stays plain (still monospace)
PLAIN: tuple[str | None, bool, bool] = (None, False, False)
_LOOKS: dict[str, dict[_TokenType, tuple[str | None, bool, bool]]] = {}  # per style

_OPEN = re.compile(
    r"^(?P<prefix>(?:[ ]{0,3}>[ ]?)*[ ]*(?:(?:[-*+]|\d{1,9}[.)])[ ]+)?)"
    r"(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_QUOTE = re.compile(r"^[ ]{0,3}>[ ]?")
_SHEBANG = re.compile(r"^#!\s*(?:\S*/)?(?:env\s+)?(?P<name>[A-Za-z_+-]+)")


class Span(NamedTuple):
    """A run of code with one look: ``color`` is ``#rrggbb`` or None (the text colour)."""

    start: int
    length: int
    color: str | None
    bold: bool
    italic: bool


@dataclass(frozen=True)
class FencedCode:
    """One fenced code block of Markdown source, its code exactly as written."""

    language: str
    code: str
    first_line: int  # the opening fence's line (0-based)
    last_line: int   # the closing fence's line (the last line if the fence is never closed)


def style_name(dark: bool) -> str:
    """The Pygments style for a dark or a light background."""
    return DARK_STYLE if dark else LIGHT_STYLE


def fenced_blocks(markdown: str) -> list[FencedCode]:
    """The fenced code blocks of ``markdown`` in order (also inside lists and block quotes).

    An unclosed fence runs to the end (an answer cut short). Tabs and trailing spaces are kept.
    """
    lines = markdown.replace("\r\n", "\n").split("\n")
    if lines and lines[-1] == "" and len(lines) > 1:
        lines.pop()
    blocks: list[FencedCode] = []
    index = 0
    while index < len(lines):
        match = _OPEN.match(lines[index])
        if not match or (match["fence"][0] == "`" and "`" in match["info"]):
            index += 1
            continue
        fence, prefix = match["fence"], match["prefix"]
        quotes = prefix.count(">")
        indent = len(_strip_quotes(prefix, quotes))
        closing = re.compile(rf"^[ ]{{0,3}}{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
        code: list[str] = []
        end = index + 1
        while end < len(lines):
            line = _strip_indent(_strip_quotes(lines[end], quotes), indent)
            if closing.match(line):
                break
            code.append(line)
            end += 1
        words = match["info"].split()
        blocks.append(FencedCode(words[0] if words else "", "\n".join(code), index,
                                 min(end, len(lines) - 1)))
        index = end + 1
    return blocks


def _strip_quotes(line: str, depth: int) -> str:
    for _ in range(depth):
        match = _QUOTE.match(line)
        if not match:
            break
        line = line[match.end():]
    return line


def _strip_indent(line: str, width: int) -> str:
    removed = 0
    while removed < width and removed < len(line) and line[removed] == " ":
        removed += 1
    return line[removed:]


def lexer_for(language: str, code: str = "") -> Lexer | None:
    """The lexer named by a fence's language, else one named by a ``#!`` line, else None."""
    names = [language.strip().lower()] if language.strip() else []
    shebang = _SHEBANG.match(code)
    if shebang:
        names.append(shebang["name"].lower().rstrip("0123456789.-"))
    for name in names:
        lexer = _lexer_by_name(name)
        if lexer is not None:
            return lexer
    return None


@lru_cache(maxsize=64)
def _lexer_by_name(name: str) -> Lexer | None:
    try:
        # the text must reach the lexer unchanged, so that offsets are offsets into the code
        return get_lexer_by_name(name, stripnl=False, stripall=False, ensurenl=False, tabsize=0)
    except ClassNotFound:
        return None


COMMON_LANGUAGES = ("python", "javascript", "typescript", "bash", "json", "c", "cpp", "rust",
                    "go", "java", "html", "css", "sql", "yaml")


def warm_up() -> None:
    """Import the common lexers and both styles ahead of time (Pygments imports a lexer's
    module on first use: tens of ms). Meant for a background thread at start-up."""
    for language in COMMON_LANGUAGES:
        lexer_for(language)
    for style in (LIGHT_STYLE, DARK_STYLE):
        get_style_by_name(style)


def highlight(code: str, language: str, style: str) -> list[Span]:
    """Colour spans for ``code`` (offsets into ``code``); empty if no lexer fits.

    Spans with the default look are left out; neighbours with the same look are merged.
    """
    steps = highlight_steps(code, language, style)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value


def highlight_steps(code: str, language: str, style: str,
                    tokens_per_step: int = 64) -> Generator[None, None, list[Span]]:
    """``highlight`` in small steps: yields every ``tokens_per_step`` tokens and returns the
    spans at the end, so a caller can lex long code a slice at a time (the GUI thread lexes a
    400-line answer in ~50-100 ms with Pygments: in slices, it never stalls that long)."""
    if not code or len(code) > MAX_HIGHLIGHT_CHARS:
        return []
    lexer = lexer_for(language, code)
    if lexer is None:
        return []
    looks = _LOOKS.setdefault(style, {})
    spans: list[Span] = []
    position = 0
    for count, (token_type, value) in enumerate(lexer.get_tokens(code), start=1):
        look = looks.get(token_type)
        if look is None:
            look = looks[token_type] = _look(get_style_by_name(style), token_type)
        last = spans[-1] if spans else None
        touches = last is not None and last.start + last.length == position
        if touches and (value.isspace() or (last.color, last.bold, last.italic) == look):
            spans[-1] = last._replace(length=last.length + len(value))  # whitespace: any look
        elif value and look != PLAIN and not value.isspace():
            spans.append(Span(position, len(value), *look))
        position += len(value)
        if count % tokens_per_step == 0:
            yield
    if position != len(code):
        return []  # the lexer changed the text: offsets would be wrong, stay plain
    return spans


def _look(style: StyleMeta, token_type: _TokenType) -> tuple[str | None, bool, bool]:
    """Colour (None where the style keeps its own text colour: the palette's is used), bold,
    italic."""
    found = style.style_for_token(token_type)
    text_color = style.style_for_token(Token)["color"]
    color = f"#{found['color']}" if found["color"] and found["color"] != text_color else None
    return color, bool(found["bold"]), bool(found["italic"])
