"""Parser pieces whose values are loaded when argparse first needs them, not at start.

Every command registers its parser on each start (``workbench --help`` builds them all), so a
choice list or help text that lives in a heavy package (numpy, gguf, httpx behind it) would be
imported for every command. These wrappers defer the import to the moment argparse checks a
value or formats that command's own help.

- ``LazyChoices(load)``: ``choices=``; give a ``metavar`` too (argparse lists choices in the
  usage line otherwise) and write ``%(choices)s`` in the help to show them.
- ``LazyText(render)``: a description, epilog or argument help; the parser needs
  ``formatter_class=LazyHelpFormatter``.
"""

from __future__ import annotations

import argparse
import copy
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, overload


class LazyChoices(Sequence[str]):
    """A sequence of choices loaded (once) on first use."""

    def __init__(self, load: Callable[[], Iterable[str]]) -> None:
        self._load = load
        self._values: tuple[str, ...] | None = None

    def _get(self) -> tuple[str, ...]:
        if self._values is None:
            self._values = tuple(self._load())
        return self._values

    def __contains__(self, value: object) -> bool:
        return value in self._get()

    def __iter__(self) -> Iterator[str]:
        return iter(self._get())

    def __len__(self) -> int:
        return len(self._get())

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...

    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        return self._get()[index]

    def __repr__(self) -> str:
        return f"LazyChoices({self._values!r})" if self._values else "LazyChoices(...)"


class LazyText:
    """Help text rendered (once) when a help page is formatted."""

    def __init__(self, render: Callable[[], str]) -> None:
        self._render = render
        self._text: str | None = None

    def __str__(self) -> str:
        if self._text is None:
            self._text = self._render()
        return self._text

    def __mod__(self, params: Any) -> str:  # argparse expands "%(default)s" with %
        expanded: str = str(self) % params  # (mypy types % with an Any operand as Any)
        return expanded

    def strip(self) -> str:
        return str(self).strip()


class LazyHelpFormatter(argparse.HelpFormatter):
    """argparse's formatter, rendering ``LazyText`` descriptions, epilogs and argument help."""

    def _format_text(self, text: str) -> str:
        return super()._format_text(str(text))

    def _format_action(self, action: argparse.Action) -> str:
        if isinstance(action.help, LazyText):
            action = copy.copy(action)
            action.help = str(action.help)
        return super()._format_action(action)
