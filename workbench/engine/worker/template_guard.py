"""Chat templates rendered with bounds: a GGUF's template is untrusted code.

llama-cpp-python renders templates in Jinja's sandbox, which stops attribute tricks but not
work: nested loops can run for hours and ``'x' * N`` allocates without limit. A
``GuardedChatFormatter`` renders the same template with the same variables, and

- **time**: a watchdog raises ``TemplateTimeout`` in the rendering thread after
  ``max_seconds`` (at the next Python instruction: every Jinja loop is Python code);
- **size**: ``*``, ``**``, ``+`` and ``%``, the ``~`` concatenation, every call and filter (no
  integer argument or format width above ``max_chars``), and the output as it is produced are
  held to ``max_chars``, checked *before* anything that large is built.

Either limit gives ``TemplateLimitError`` (a ``ValueError``), naming the template, when the
formatter is called (a template refused while it is compiled is refused then too, so a model
with such a template still loads and runs with a built-in chat format).

How to call it (the worker host): build it like ``Jinja2ChatFormatter`` plus a ``name`` for
messages, and call it as before::

    formatter = GuardedChatFormatter(template=..., eos_token=..., bos_token=..., name="...")
    formatted = formatter(messages=messages)  # raises TemplateLimitError
"""

from __future__ import annotations

import ctypes
import functools
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from jinja2.compiler import CodeGenerator, Frame
from jinja2.nodes import Concat
from jinja2.sandbox import ImmutableSandboxedEnvironment
from llama_cpp.llama_chat_format import ChatFormatterResponse, Jinja2ChatFormatter

MAX_SECONDS = 2.0
MAX_CHARS = 4_000_000  # ~1M tokens: more than any context, small in memory
MAX_POWER_BITS = 1 << 16
_BIG_WIDTH = re.compile(r"\d{7,}")  # a format width of a million or more


@dataclass(frozen=True)
class TemplateLimits:
    max_seconds: float = MAX_SECONDS
    max_chars: int = MAX_CHARS


class TemplateLimitError(ValueError):
    """A chat template ran too long or built too much text."""


class TemplateTimeout(BaseException):
    """Raised inside the rendering thread by the watchdog (a BaseException, so that no
    ``except Exception`` on the way swallows it)."""


class _TooLarge(Exception):
    pass


class _GuardedCodeGenerator(CodeGenerator):
    """Jinja's code generator, with ``~`` concatenation checked by the environment."""

    def visit_Concat(self, node: Concat, frame: Frame) -> None:
        self.write("environment.guarded_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class GuardedEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox llama-cpp-python uses, with every way to build large values checked."""

    code_generator_class = _GuardedCodeGenerator
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, limits: TemplateLimits, **options: Any) -> None:
        super().__init__(**options)
        self.limits = limits

    # -- checks ------------------------------------------------------------------------------
    def _too_large(self, size: int) -> None:
        if size > self.limits.max_chars:
            raise _TooLarge(f"it would build {size:,} characters (at most "
                            f"{self.limits.max_chars:,})")

    def _check_arguments(self, args: Iterable[Any]) -> None:
        for value in args:
            if isinstance(value, bool):
                continue
            if isinstance(value, int):
                self._too_large(abs(value))
            elif isinstance(value, str) and ("%" in value or "{" in value) and \
                    _BIG_WIDTH.search(value):
                raise _TooLarge("a format width of a million characters or more")

    def _check_result(self, value: Any) -> Any:
        if isinstance(value, str | list | tuple | dict):
            self._too_large(len(value))
        return value

    # -- the sandbox's hooks -----------------------------------------------------------------
    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(times, int):
                    self._too_large(len(seq) * max(times, 0))
            if isinstance(left, int) and isinstance(right, int):
                self._too_large((left.bit_length() + right.bit_length()) // 3)
        elif operator == "**" and isinstance(left, int) and isinstance(right, int):
            if right > 0 and right * max(left.bit_length(), 1) > MAX_POWER_BITS:
                raise _TooLarge(f"{left} ** {right} is too large a number")
        elif operator == "+" and isinstance(left, str | list | tuple) and \
                isinstance(right, str | list | tuple):
            self._too_large(len(left) + len(right))
        elif operator == "%" and isinstance(left, str):
            self._check_arguments([left])
        return self._check_result(super().call_binop(context, operator, left, right))

    def call(self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        self._check_arguments([*args, *kwargs.values()])
        return self._check_result(super().call(__context, __obj, *args, **kwargs))

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """``'{:>N}'.format`` (the sandbox wraps every str.format): the string is checked."""
        wrapped = super().wrap_str_format(value)
        if wrapped is not None:
            self._check_arguments([value.__self__])
        return wrapped

    def guarded_concat(self, parts: Iterable[Any]) -> str:
        """``a ~ b ~ ...``, refused before a string above ``max_chars`` is built."""
        texts = [str(part) for part in parts]
        self._too_large(sum(len(t) for t in texts))
        return "".join(texts)

    def bounded_output(self, chunks: Iterable[str]) -> str:
        """The template's output, refused as soon as it passes ``max_chars``."""
        out: list[str] = []
        total = 0
        for chunk in chunks:
            total += len(chunk)
            self._too_large(total)
            out.append(chunk)
        return "".join(out)

    def guard_filters(self) -> None:
        """Every filter checked like a call (filters are called directly, not through
        ``call``)."""
        for name, function in list(self.filters.items()):
            self.filters[name] = self._guarded(function)

    def _guarded(self, function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)  # keeps jinja_pass_arg (pass_context & co.)
        def checked(*args: Any, **kwargs: Any) -> Any:
            self._check_arguments([*args, *kwargs.values()])
            return self._check_result(function(*args, **kwargs))

        return checked


class GuardedChatFormatter(Jinja2ChatFormatter):
    """``Jinja2ChatFormatter`` rendering its template within ``limits`` (see the module)."""

    def __init__(self, template: str, *args: Any, name: str = "the model",
                 limits: TemplateLimits | None = None, **kwargs: Any) -> None:
        # the parent compiles an empty template only: compiling the real one in its unguarded
        # environment would fold constants such as 'x'|center(10**9) at compile time
        super().__init__("", *args, **kwargs)
        self.template = template
        self.name = name
        self.limits = limits or TemplateLimits()
        original = self._environment.environment
        environment = GuardedEnvironment(
            self.limits, loader=original.loader, trim_blocks=original.trim_blocks,
            lstrip_blocks=original.lstrip_blocks,
            extensions=[type(e) for e in original.extensions.values()])
        environment.filters.update(original.filters)  # tojson as Transformers renders it
        environment.guard_filters()
        environment.concat = environment.bounded_output  # type: ignore[method-assign]
        self._refusal: str | None = None  # a template refused while compiling: said on use
        try:
            self._environment = within_time(lambda: environment.from_string(template),
                                            self.limits.max_seconds)
        except TemplateTimeout:
            self._refusal = (f"the chat template of {name} took longer than "
                             f"{self.limits.max_seconds:g} s to compile")
        except _TooLarge as err:
            self._refusal = f"the chat template of {name} was refused: {err}"

    def __call__(self, **kwargs: Any) -> ChatFormatterResponse:
        what = f"the chat template of {self.name}"
        if self._refusal:
            raise TemplateLimitError(f"{self._refusal} (choose a built-in chat format)")
        try:
            return within_time(lambda: Jinja2ChatFormatter.__call__(self, **kwargs),
                               self.limits.max_seconds)
        except TemplateTimeout:
            raise TemplateLimitError(f"{what} ran longer than {self.limits.max_seconds:g} s "
                                     "and was stopped (choose a built-in chat format)") from None
        except _TooLarge as err:
            raise TemplateLimitError(f"{what} was stopped: {err} (choose a built-in chat "
                                     "format)") from None


def within_time(work: Callable[[], Any], seconds: float) -> Any:
    """``work()`` in this thread; ``TemplateTimeout`` is raised in it after ``seconds``.

    A scheduled timeout is never cleared (``PyThreadState_SetAsyncExc(id, NULL)``): on CPython
    3.11 that leaves the thread's eval breaker set with nothing to raise, and a profiled or
    traced thread then spins forever. One that fired as ``work`` returned is taken here instead.
    """
    thread_id = threading.get_ident()
    lock = threading.Lock()
    state = {"done": False, "fired": False}

    def expire() -> None:
        with lock:
            if not state["done"]:
                state["fired"] = True
                _raise_in(thread_id, TemplateTimeout)

    timer = threading.Timer(seconds, expire)
    timer.daemon = True
    timer.start()
    delivered = False
    try:
        return work()
    except TemplateTimeout:
        delivered = True
        raise
    finally:
        with lock:
            state["done"] = True
            timer.cancel()
        if state["fired"] and not delivered:
            try:  # noqa: SIM105 - suppress()'s own __enter__ could take the timeout outside it
                _take_pending_timeout()
            except TemplateTimeout:
                pass


def _take_pending_timeout() -> None:
    """Run bytecode until the scheduled ``TemplateTimeout`` is raised (at the first check)."""
    for _ in range(100_000):
        pass


def _raise_in(thread_id: int, exception: type[BaseException]) -> None:
    """Schedule ``exception`` in the thread (raised at its next bytecode check)."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id),
                                               ctypes.py_object(exception))
