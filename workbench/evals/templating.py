"""Prompt templates: ``{{ var }}`` and filters, Nunjucks-like (promptfoo's templating), rendered
in Jinja2's sandbox.

- Undefined variables are errors (StrictUndefined), never an empty string; a trailing newline is
  kept; nothing is HTML-escaped (a prompt is not markup).
- A value that is not a string renders the way promptfoo (JavaScript) writes it: lists and
  dicts as JSON, ``true``/``false``, ``null`` as nothing, ``1.0`` as ``1``. Loops and filters
  still see the real list or dict (``{% for x in items %}``, ``{{ items | join(", ") }}``).
- Nunjucks' ``dump`` filter (JSON) is there too.
- A suite is text from somewhere else: besides the sandbox (no attribute tricks), every way to
  build a large value (``*``, ``**``, ``+``, ``%``, ``~``, integer arguments of calls and
  filters, the output itself) is held to ``MAX_CHARS`` and refused before it is built. Time is
  not bounded (the sandbox caps ``range`` at 100,000 items; nested loops can still be slow).

A template error or a refusal is ``BadInput`` with one clear line; the suite loader adds the file
and line. Compiled templates are cached, so rendering many cases of one prompt is cheap.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import jinja2
from jinja2 import StrictUndefined, meta
from jinja2.compiler import CodeGenerator, Frame
from jinja2.nodes import Concat
from jinja2.sandbox import SandboxedEnvironment

from workbench.errors import BadInput

__all__ = ["MAX_CHARS", "render", "variables"]

MAX_CHARS = 1_000_000  # ~250k tokens: more than any context window, small in memory
_MAX_POWER_BITS = 1 << 16
_PERCENT_WIDTH = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\d*)(?:\.(\d*))?")
_BRACE_WIDTH = re.compile(r"\{[^{}:]*:[^{}]*?(\d+)(?:\.(\d+))?[^{}]*\}")


class _TooLarge(Exception):
    pass


def _js_text(value: Any) -> str:
    """``value`` as a JavaScript template engine would write it."""
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, jinja2.Undefined):
        return "" if value is None else str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return str(int(value))
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def _dump(value: Any, indent: int | None = None) -> str:
    """Nunjucks' ``dump``: JSON (not HTML-escaped, unlike Jinja's ``tojson``)."""
    return json.dumps(value, ensure_ascii=False, indent=indent, default=str)


class _CodeGenerator(CodeGenerator):
    """Jinja's code generator, with ``~`` concatenation checked by the environment."""

    def visit_Concat(self, node: Concat, frame: Frame) -> None:
        self.write("environment.bounded_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class _Environment(SandboxedEnvironment):
    """The sandbox with every way to build a large value checked (see the module)."""

    code_generator_class = _CodeGenerator
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self) -> None:
        super().__init__(autoescape=False, undefined=StrictUndefined,
                         keep_trailing_newline=True, finalize=_js_text)
        self.filters["dump"] = _dump
        for name, function in list(self.filters.items()):
            self.filters[name] = self._guarded(function)

    @staticmethod
    def _too_large(size: int) -> None:
        if size > MAX_CHARS:
            raise _TooLarge(f"it would build {size:,} characters (at most {MAX_CHARS:,})")

    def _check_arguments(self, args: Iterable[Any]) -> None:
        for value in args:
            if isinstance(value, int) and not isinstance(value, bool):
                self._too_large(abs(value))

    def _check_widths(self, text: str, pattern: re.Pattern[str]) -> None:
        """A format string's widths and precisions (``'%0999999999d'``, ``'{:>999999999}'``)
        are the size of what it builds."""
        for match in pattern.finditer(text):
            self._check_arguments(int(n) for n in match.groups() if n)

    def _check_result(self, value: Any) -> Any:
        if isinstance(value, str | list | tuple | dict):
            self._too_large(len(value))
        return value

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(times, int):
                    self._too_large(len(seq) * max(times, 0))
            if isinstance(left, int) and isinstance(right, int):
                self._too_large((left.bit_length() + right.bit_length()) // 3)
        elif operator == "**" and isinstance(left, int) and isinstance(right, int):
            if right > 0 and right * max(left.bit_length(), 1) > _MAX_POWER_BITS:
                raise _TooLarge(f"{left} ** {right} is too large a number")
        elif operator == "+" and isinstance(left, str | list | tuple) and \
                isinstance(right, str | list | tuple):
            self._too_large(len(left) + len(right))
        elif operator == "%" and isinstance(left, str):
            self._check_widths(left, _PERCENT_WIDTH)
        return self._check_result(super().call_binop(context, operator, left, right))

    def call(self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        self._check_arguments([*args, *kwargs.values()])
        return self._check_result(super().call(__context, __obj, *args, **kwargs))

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """``'{:>N}'.format`` and ``format_map`` (the sandbox wraps them): widths checked."""
        wrapped = super().wrap_str_format(value)
        if wrapped is not None:
            self._check_widths(value.__self__, _BRACE_WIDTH)
        return wrapped

    def bounded_concat(self, parts: Iterable[Any]) -> str:
        texts = [str(part) for part in parts]
        self._too_large(sum(len(t) for t in texts))
        return "".join(texts)

    def _guarded(self, function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)  # keeps pass_context & co.
        def checked(*args: Any, **kwargs: Any) -> Any:
            self._check_arguments([*args, *kwargs.values()])
            return self._check_result(function(*args, **kwargs))

        return checked


_ENV = _Environment()


def _bounded_output(chunks: Iterable[str]) -> str:
    out: list[str] = []
    total = 0
    for chunk in chunks:
        total += len(chunk)
        _Environment._too_large(total)
        out.append(chunk)
    return "".join(out)


def _describe(err: Exception) -> str:
    if isinstance(err, jinja2.TemplateSyntaxError):
        where = f" (template line {err.lineno})" if err.lineno and err.lineno > 1 else ""
        return f"template syntax error{where}: {err.message}"
    if isinstance(err, jinja2.UndefinedError):
        return f"template uses a variable that is not set: {err.message}"
    if isinstance(err, jinja2.exceptions.SecurityError):
        return f"template refused by the sandbox: {err}"
    if isinstance(err, _TooLarge):
        return f"template refused: {err}"
    return f"template error: {type(err).__name__}: {err}"


@functools.lru_cache(maxsize=512)
def _compile(template: str) -> jinja2.Template:
    try:
        return _ENV.from_string(template)
    except jinja2.TemplateSyntaxError as err:
        raise BadInput(_describe(err)) from None


@functools.lru_cache(maxsize=512)
def _variables(template: str) -> frozenset[str]:
    try:
        found = meta.find_undeclared_variables(_ENV.parse(template))
        return frozenset(found - set(_ENV.globals))  # range, namespace, dict ...
    except jinja2.TemplateSyntaxError as err:
        raise BadInput(_describe(err)) from None


def render(template: str, vars: Mapping[str, Any]) -> str:
    """``template`` with ``vars`` filled in; BadInput for a syntax error, a variable that is not
    set, something the sandbox refuses or a value too large to build."""
    compiled = _compile(template)
    try:
        context = compiled.new_context(dict(vars))
        return _bounded_output(compiled.root_render_func(context))
    except (jinja2.TemplateError, _TooLarge, ArithmeticError, TypeError, ValueError,
            KeyError, IndexError, AttributeError) as err:
        raise BadInput(_describe(err)) from None
    except RecursionError:
        raise BadInput("template error: it nests too deeply") from None


def variables(template: str) -> set[str]:
    """The variables ``template`` reads and does not set itself (``{% set %}``, loop names, and
    the sandbox's own ``range``, ``namespace``, ``dict`` ... are not counted)."""
    return set(_variables(template))
