"""A suite's case files (``tests: file://cases.csv|.jsonl|.json|.yaml``) as raw tests.

CSV: columns are vars, except promptfoo's ``__expected`` / ``__expectedN`` (an assertion in
promptfoo's shorthand: ``contains: Paris``, ``not-icontains: x``, ``regex: ...``,
``similar(0.8): text``, ``llm-rubric: ...``, ``is-json``, a bare value = equals),
``__description``, ``__metadata:KEY`` (``KEY[]``: comma-separated list), ``__threshold``,
``__metric`` and ``__config:__expectedN:threshold``. JSONL: one test object a line. JSON and
YAML: a list of tests (or one). Each test keeps where it was written (``RawTest.src``, line);
the suite builder (suite.py) checks its keys and values.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.evals.assertions import KNOWN_TYPES
from workbench.evals.model import SuiteError
from workbench.evals.yaml_source import Source, load_yaml

__all__ = ["CASE_SUFFIXES", "CODE_SUFFIXES", "RawTest", "read_cases"]

CASE_SUFFIXES = (".csv", ".jsonl", ".json", ".yaml", ".yml")
# files Workbench never runs (promptfoo would: code assertions, prompt functions, providers)
CODE_SUFFIXES = frozenset({".py", ".js", ".mjs", ".cjs", ".ts", ".mts", ".cts", ".rb", ".sh",
                           ".exe", ".bat", ".ps1"})


@dataclass
class RawTest:
    """One test as written (a mapping: vars, assert, ...), where it was written."""

    raw: Any
    src: Source
    line: int | None


def read_cases(content: str, name: str, suffix: str) -> list[RawTest]:
    """The tests in a case file's ``content``; ``name`` names it in messages and ``suffix``
    (one of CASE_SUFFIXES, lower case) says its format. SuiteError with the file's line."""
    if suffix == ".csv":
        return _csv_tests(content, name)
    if suffix == ".jsonl":
        return _jsonl_tests(content, name)
    if suffix == ".json":
        try:
            parsed = json.loads(content)
        except json.JSONDecodeError as err:
            raise SuiteError(f"not JSON: {err.msg}", source=name, line=err.lineno) from None
        fsrc = Source(name, line0=1)
    else:
        parsed, fsrc = load_yaml(content, name)
    if isinstance(parsed, dict):
        parsed = [parsed]
    if not isinstance(parsed, list):
        raise fsrc.error("a case file holds a list of tests", 1)
    out = []
    for i, test in enumerate(parsed):
        where = fsrc.item(parsed, i, 1)
        if not isinstance(test, dict):
            raise fsrc.error("a test is a mapping (vars, assert, ...)", where)
        out.append(RawTest(test, fsrc, fsrc.at(test, where)))
    return out


def _jsonl_tests(content: str, name: str) -> list[RawTest]:
    out = []
    for number, row in enumerate(content.splitlines(), start=1):
        if not row.strip():
            continue
        try:
            test = json.loads(row)
        except json.JSONDecodeError as err:
            raise SuiteError(f"not JSON: {err.msg}", source=name, line=number) from None
        if not isinstance(test, dict):
            raise SuiteError("each line is one test object {vars, assert, ...}",
                             source=name, line=number)
        out.append(RawTest(test, Source(name, line0=number), number))
    return out


def _csv_tests(content: str, name: str) -> list[RawTest]:
    reader = csv.reader(io.StringIO(content, newline=""))
    try:
        header = next(reader, None)
        if header is None:
            raise SuiteError("the CSV file is empty", source=name, line=1)
        header = [h.strip() for h in header]
        for col in header:
            if not col:
                raise SuiteError("a CSV column has no name", source=name, line=1)
            if col.startswith("__") and not _csv_special(col):
                raise SuiteError(f"CSV column {col!r} is not supported; special columns: "
                                 "__expected[N], __description, __metadata:KEY, "
                                 "__threshold, __metric, __config:__expected[N]:threshold",
                                 source=name, line=1)
        dup = next((c for c in header if header.count(c) > 1), None)
        if dup:
            raise SuiteError(f"CSV column {dup!r} appears twice", source=name, line=1)
        out: list[RawTest] = []
        start = reader.line_num + 1
        for row in reader:
            line, start = start, reader.line_num + 1
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise SuiteError(f"this row has {len(row)} cells, the header "
                                 f"{len(header)} columns", source=name, line=line)
            out.append(RawTest(_csv_test(dict(zip(header, row, strict=True)), name, line),
                               Source(name, line0=line), line))
        return out
    except csv.Error as err:
        raise SuiteError(f"CSV error: {err}", source=name, line=reader.line_num) from None


# -- CSV (promptfoo's special columns) -------------------------------------------------------

_CONFIG_COLUMN = re.compile(r"^__config:__expected(\d*):threshold$")


def _csv_special(col: str) -> bool:
    return bool(re.fullmatch(r"__expected\d*", col) or col in (
        "__description", "__threshold", "__metric") or (
        col.startswith("__metadata:") and len(col) > len("__metadata:"))
        or _CONFIG_COLUMN.match(col))


def _csv_test(row: dict[str, str], name: str, line: int) -> dict[str, Any]:
    test: dict[str, Any] = {"vars": {}, "assert": []}
    metadata: dict[str, Any] = {}
    metric: str | None = None
    configs: dict[int, float] = {}
    for col, cell in row.items():
        if re.fullmatch(r"__expected\d*", col):
            if cell.strip():
                test["assert"].append(_shorthand(cell.strip(), name, line))
        elif col == "__description":
            if cell.strip():
                test["description"] = cell
        elif col == "__threshold":
            if cell.strip():
                test["threshold"] = _csv_float(cell, col, name, line)
        elif col == "__metric":
            metric = cell.strip() or None
        elif col.startswith("__metadata:"):
            key = col[len("__metadata:"):]
            if cell.strip() and key.endswith("[]"):
                metadata[key[:-2]] = [part.strip().replace("\\,", ",")
                                      for part in re.split(r"(?<!\\),", cell)]
            elif cell.strip():
                metadata[key] = cell
        elif (match := _CONFIG_COLUMN.match(col)) is not None:
            if cell.strip():
                configs[int(match.group(1) or 1) - 1] = _csv_float(cell, col, name, line)
        else:
            test["vars"][col] = cell
    for index, assertion in enumerate(test["assert"]):
        if metric:
            assertion["metric"] = metric
        if index in configs:
            assertion["threshold"] = configs[index]
    if metadata:
        test["metadata"] = metadata
    return test


def _csv_float(cell: str, col: str, name: str, line: int) -> float:
    try:
        return float(cell)
    except ValueError:
        raise SuiteError(f"{col} must be a number, not {cell!r}", source=name,
                         line=line) from None


_NUMERIC_VALUES = frozenset({"word-count", "length", "cost", "latency"})
_LIST_VALUES = frozenset({"contains-any", "contains-all", "icontains-any", "icontains-all"})
_RAW_VALUES = frozenset({"is-json", "contains-json"})


def _shorthand(text: str, name: str, line: int) -> dict[str, Any]:
    """promptfoo's one-cell assertion (``__expected``): ``TYPE[(THRESHOLD)][:VALUE]`` with an
    optional ``not-`` prefix, ``grade:``/``llm-rubric:`` text, or a bare value (equals)."""
    if text.startswith(("javascript:", "fn:", "eval:", "python:")) or (
            text.startswith("file://") and Path(text[7:].split(":")[0]).suffix.lower()
            in CODE_SUFFIXES):
        return {"type": "python" if text.startswith(("python:", "file://")) else "javascript",
                "value": text}
    for prefix in ("grade:", "llm-rubric:"):
        if text.startswith(prefix):
            return {"type": "llm-rubric", "value": text[len(prefix):].strip()}
    types = "|".join(re.escape(t) for t in sorted(KNOWN_TYPES, key=len, reverse=True))
    match = re.fullmatch(rf"(not-)?({types})(?:\((\d+(?:\.\d+)?)\))?(?::([\s\S]*))?", text)
    if not match:
        return {"type": "equals", "value": text}
    negate, kind, threshold, value = match.groups()
    out: dict[str, Any] = {"type": f"{negate or ''}{kind}"}
    if kind in _LIST_VALUES:
        if value is not None:
            out["value"] = [part.strip() for part in value.split(",")]
    elif kind in _RAW_VALUES:
        if value is not None and value.strip():
            try:
                out["value"] = json.loads(value)
            except json.JSONDecodeError:
                out["value"] = value
    elif value is not None:
        value = value.strip()
        if kind in _NUMERIC_VALUES:
            try:
                out["value"] = json.loads(value)
            except json.JSONDecodeError:
                out["value"] = value
        else:
            out["value"] = value
    if threshold is not None:
        out["threshold"] = float(threshold)
    return out
