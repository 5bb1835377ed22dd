"""Reading a request body strictly: JSON objects only, every field's type and range checked,
and every field the server does not know refused by name (an ignored field would make an
answer silently differ from what was asked)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from starlette.requests import Request

from workbench.server.errors import APIError, bad_request

# A UTF-16 surrogate on its own: JSON may escape one ("\ud800") but it is no character; text
# holding it cannot be encoded as UTF-8 (for the model, or for an error that quotes it).
_SURROGATE = re.compile("[\ud800-\udfff]")
_ESCAPED_SURROGATE = re.compile(rb"\\u[dD][89abcdefABCDEF]")  # UTF-8 itself cannot hold one
JSON_KINDS = {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
              list: "an array", dict: "an object", type(None): "null"}


def kind(value: object) -> str:
    return JSON_KINDS.get(type(value), type(value).__name__)


def _no_constants(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


async def read_json(request: Request, limit: int) -> dict[str, Any]:
    """The body as a JSON object; 413 above ``limit`` bytes (read no further), 400 otherwise."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise bad_request("the Content-Length header is not a number") from None
        if size > limit:
            raise APIError(413, f"the request body is {size} bytes, the limit is {limit}",
                           code="body_too_large")
    chunks: list[bytes] = []
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise APIError(413, f"the request body is over the limit of {limit} bytes",
                           code="body_too_large")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        raise bad_request("the request has no body: send a JSON object", code="invalid_json")
    try:
        data = json.loads(raw, parse_constant=_no_constants)
    except (ValueError, RecursionError) as err:  # UnicodeDecodeError is a ValueError
        raise bad_request(f"the body is not valid JSON: {str(err)[:200]}",
                          code="invalid_json") from None
    if not isinstance(data, dict):
        raise bad_request(f"the body must be a JSON object, not {kind(data)}",
                          code="invalid_json")
    found = _lone_surrogate(data) if _ESCAPED_SURROGATE.search(raw) else None
    if found is not None:
        what, param = found
        raise bad_request(f"{what} holds a lone UTF-16 surrogate (an escape like \\ud800 "
                          "without its pair): that is not text", param)
    return data


def _lone_surrogate(data: dict[str, Any]) -> tuple[str, str | None] | None:
    """Where a string or a field name of ``data`` holds a lone surrogate: (what to say, the
    param), None: nowhere. Iterative: the body may nest as deep as the JSON parser allows."""
    stack: list[tuple[str, dict[str, Any] | list[Any]]] = [("", data)]
    while stack:
        where, value = stack.pop()
        items: Iterable[tuple[str | int, Any]] = (
            value.items() if isinstance(value, dict) else enumerate(value))
        for key, item in items:
            if isinstance(key, str) and _SURROGATE.search(key):
                return f"a field name in {where or 'the body'}", where or None
            if isinstance(item, str):
                if _SURROGATE.search(item):
                    return _path(where, key), _path(where, key)
            elif isinstance(item, dict | list):
                stack.append((_path(where, key), item))
    return None


def _path(where: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{where}[{key}]"[:200]
    return (f"{where}.{key}" if where else key)[:200]


class Fields:
    """One JSON object's fields, read one by one; ``finish()`` refuses the ones not read."""

    def __init__(self, data: Mapping[str, Any], where: str = "") -> None:
        self.data = data
        self.where = where
        self.read: set[str] = set()

    def param(self, name: str) -> str:
        return f"{self.where}.{name}" if self.where else name

    def has(self, name: str) -> bool:
        return self.data.get(name) is not None

    def raw(self, name: str) -> Any:
        self.read.add(name)
        return self.data.get(name)

    def _fail(self, name: str, expected: str, value: object) -> APIError:
        return bad_request(f"{self.param(name)} must be {expected}, not {kind(value)}",
                           self.param(name))

    def string(self, name: str, *, required: bool = False) -> str | None:
        value = self.raw(name)
        if value is None:
            if required:
                raise bad_request(f"{self.param(name)} is required", self.param(name),
                                  code="missing_required_parameter")
            return None
        if not isinstance(value, str):
            raise self._fail(name, "a string", value)
        return value

    def boolean(self, name: str, default: bool = False) -> bool:
        value = self.raw(name)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self._fail(name, "true or false", value)
        return value

    def integer(self, name: str, *, minimum: int | None = None, maximum: int | None = None,
                required: bool = False) -> int | None:
        value = self.raw(name)
        if value is None:
            if required:
                raise bad_request(f"{self.param(name)} is required", self.param(name),
                                  code="missing_required_parameter")
            return None
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise self._fail(name, "an integer", value)
        if (minimum is not None and value < minimum) or (maximum is not None
                                                          and value > maximum):
            raise bad_request(f"{self.param(name)} must be {_range(minimum, maximum)}, "
                              f"not {value}", self.param(name))
        return value

    def number(self, name: str, *, minimum: float | None = None,
               maximum: float | None = None) -> float | None:
        value = self.raw(name)
        if value is None:
            return None
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise self._fail(name, "a number", value)
        number = float(value)
        if not math.isfinite(number) or (minimum is not None and number < minimum) or (
                maximum is not None and number > maximum):
            raise bad_request(f"{self.param(name)} must be {_range(minimum, maximum)}, "
                              f"not {value}", self.param(name))
        return number

    def obj(self, name: str) -> Fields | None:
        value = self.raw(name)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self._fail(name, "an object", value)
        return Fields(value, self.param(name))

    def array(self, name: str) -> list[Any] | None:
        value = self.raw(name)
        if value is None:
            return None
        if not isinstance(value, list):
            raise self._fail(name, "an array", value)
        return value

    def only(self, name: str, allowed: Iterable[object], why: str) -> None:
        """A field accepted only with a harmless value (absent, null or one of ``allowed``)."""
        value = self.raw(name)
        if value is None:
            return
        for ok in allowed:
            if value == ok and type(value) is type(ok):
                return
        raise bad_request(f"{self.param(name)}={json.dumps(value)[:80]} is not supported: "
                          f"{why}", self.param(name), code="unsupported_parameter")

    def unsupported(self, name: str, why: str) -> None:
        """A known field the server cannot honour: refused whenever it is given."""
        self.only(name, (), why)

    def ignore(self, *names: str) -> None:
        """Fields accepted and deliberately without effect (docs/serve.md lists them)."""
        self.read.update(names)

    def finish(self) -> None:
        unknown = sorted(set(self.data) - self.read)
        if unknown:
            listed = ", ".join(self.param(name)[:60] for name in unknown[:10])
            raise bad_request(f"unknown field{'s' if len(unknown) > 1 else ''}: {listed} "
                              "(docs/serve.md lists the fields this server takes)",
                              self.param(unknown[0])[:60], code="unknown_parameter")


def _range(minimum: float | None, maximum: float | None) -> str:
    if minimum is not None and maximum is not None:
        return f"between {_num(minimum)} and {_num(maximum)}"
    if minimum is not None:
        return f"at least {_num(minimum)}"
    return f"at most {_num(maximum)}"


def _num(value: float | None) -> str:
    return str(int(value)) if value is not None and float(value).is_integer() else str(value)
