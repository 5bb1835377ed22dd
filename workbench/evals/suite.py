"""Eval suites: a documented subset of promptfoo's ``promptfooconfig.yaml`` (docs/evals.md).

Top-level keys
    description        text
    prompts            a string, a list, or a map ``{file://x.txt: label}``; each entry is a
                       template string, ``file://x.txt`` (``---`` lines separate several prompts;
                       ``.json``/``.yaml``: a list of {role, content} messages, a chat prompt;
                       ``.jsonl``: one such list a line), ``{raw: ..., label: ...}``,
                       ``{id: file://..., label: ...}``, or a list of {role, content} messages
                       (roles system, user, assistant). A string that is a JSON array of
                       messages is a chat prompt too, as in promptfoo.
    providers          (alias ``targets``) ids or ``{id, label, config}``: see ``map_provider``
    tests              a list of tests, ``file://cases.csv|.jsonl|.json|.yaml`` or such file
                       entries inside the list
    defaultTest        vars (under each test's), assert (before each test's), metadata,
                       threshold, options.provider (the suite's judge: ``Suite.judge``),
                       options.disableVarExpansion
    evaluateOptions, outputPath, sharing   accepted and ignored (Workbench's options are on
                       its command line; nothing is ever shared)
    env                refused: keys and endpoints are set in Workbench, not in a suite file

A test: ``vars`` (values ``file://x.txt`` are read as text), ``assert`` (a list of {type,
value, threshold, weight, metric, provider}, ``not-`` prefix allowed), ``description``,
``metadata`` (``tags``: a list or a comma-separated string), ``threshold`` and ``options``:
``provider`` (the judge of this test's model-graded assertions), ``disableVarExpansion``
(honoured) and ``runSerially`` (ignored). As in promptfoo, a var whose value is a list of
strings makes one test per value (all combinations when there are several), unless
``disableVarExpansion`` is set. Anything else is a ``SuiteError`` naming the file and line:
nothing a suite says is dropped silently.

Case files (CSV with promptfoo's ``__expected`` columns, JSONL, JSON, YAML) are read by
case_files.py; provider ids are mapped by suite_targets.py. YAML is read by yaml_source.py:
safe loading only, YAML 1.2 scalars as promptfoo (js-yaml) reads them (``no`` is the string
"no"), aliases bounded by ``MAX_NODES``, duplicate keys refused; so are files over
``MAX_FILE_BYTES``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.errors import BadInput
from workbench.evals import templating
from workbench.evals.assertions import KNOWN_TYPES, MODEL_GRADED, validate
from workbench.evals.case_files import CASE_SUFFIXES, CODE_SUFFIXES, RawTest, read_cases
from workbench.evals.model import Assertion, Case, ChatTemplate, Suite, SuiteError, SuiteTarget
from workbench.evals.suite_targets import map_provider
from workbench.evals.yaml_source import MAX_FILE_BYTES, MAX_NODES, Source, dump_yaml, load_yaml

__all__ = ["MAX_CASES", "MAX_FILE_BYTES", "MAX_NODES", "dump_suite", "load_suite",
           "map_provider", "parse_suite"]

MAX_CASES = 100_000  # tests x prompts
LABEL_CHARS = 40
ROLES = ("system", "user", "assistant")

TOP_KEYS = ("description", "prompts", "providers", "targets", "tests", "defaultTest",
            "evaluateOptions", "outputPath", "sharing", "env")
IGNORED_TOP_KEYS = frozenset({"evaluateOptions", "outputPath", "sharing"})
TEST_KEYS = ("vars", "assert", "description", "metadata", "threshold", "options")
DEFAULT_TEST_KEYS = ("vars", "assert", "metadata", "threshold", "options")
TEST_OPTIONS = ("provider", "disableVarExpansion", "runSerially")
ASSERTION_KEYS = ("type", "value", "threshold", "weight", "metric", "provider")
CODE_ASSERTIONS = frozenset({"javascript", "python", "webhook", "ruby"})


# -- the builder -----------------------------------------------------------------------------

@dataclass
class _Prompt:
    label: str | None  # as written (None: a default label is made)
    default: str  # the default label
    messages: tuple[tuple[str, str], ...]
    line: int | None
    src: Source


@dataclass
class _Defaults:
    vars: dict[str, Any] = field(default_factory=dict)
    asserts: list[Assertion] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    threshold: float | None = None
    judge: str | None = None
    expand: bool = True


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= LABEL_CHARS else text[:LABEL_CHARS - 1].rstrip() + "…"


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class _Builder:
    def __init__(self, text: str, source: str, base_dir: Path | None) -> None:
        self.text = text
        self.source = source
        self.base_dir = base_dir or Path.cwd()
        self.digest = hashlib.sha256(text.encode("utf-8"))
        self.files: dict[str, str] = {}  # resolved path -> text, each file read (hashed) once

    # -- files -------------------------------------------------------------------------------
    def display(self, written: str) -> str:
        if Path(written).expanduser().is_absolute():
            return written
        parent = os.path.dirname(self.source)
        return os.path.join(parent, written) if parent else written

    def read(self, written: str, src: Source, line: int | None, what: str) -> tuple[str, str]:
        """(text, display name) of the file ``written`` (relative to the suite's folder)."""
        if not written.strip():
            raise src.error(f"{what}: file:// names no file", line)
        shown = written if written.isprintable() else repr(written)
        path = Path(written).expanduser()
        if not path.is_absolute():
            path = self.base_dir / path
        if path.suffix.lower() in CODE_SUFFIXES:
            raise src.error(f"{what} {shown} is not supported: Workbench does not run code "
                            "from a suite", line)
        try:
            exists = path.exists()
            key = str(path.resolve()) if exists else str(path)
            if key in self.files:
                return self.files[key], self.display(written)
            if not exists:
                raise src.error(f"{what}: no such file: {shown}", line)
            if path.is_dir():
                raise src.error(f"{what}: {shown} is a folder, not a file", line)
            if not path.is_file():
                raise src.error(f"{what}: {shown} is not a regular file", line)
            with path.open("rb") as handle:
                data = handle.read(MAX_FILE_BYTES + 1)
        except (OSError, ValueError, RuntimeError) as err:  # a NUL, a loop, a name too long
            reason = getattr(err, "strerror", None) or str(err)
            raise src.error(f"{what}: cannot read {shown}: {reason}", line) from None
        if len(data) > MAX_FILE_BYTES:
            raise src.error(f"{what}: {shown} is larger than {MAX_FILE_BYTES // 2**20} MiB",
                            line)
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise src.error(f"{what}: {shown} is not UTF-8 text", line) from None
        self.digest.update(b"\0%d\0" % len(data))
        self.digest.update(data)
        self.files[key] = text
        return text, self.display(written)

    # -- top level ---------------------------------------------------------------------------
    def build(self) -> Suite:
        data, src = load_yaml(self.text, self.source)
        if data is None:
            raise SuiteError("the suite is empty (it needs prompts and tests)", source=self.source,
                             line=1)
        if not isinstance(data, dict):
            raise src.error("a suite is a mapping with description, prompts, providers and "
                            "tests", src.at(data, 1))
        top = src.at(data, 1)
        for key in data:
            if key not in TOP_KEYS:
                raise src.error(f"unknown key {key!r}; a suite has: {', '.join(TOP_KEYS)}",
                                src.key(data, key))
        if "env" in data:
            raise src.error("'env' is not supported: set API keys with `workbench keys set` "
                            "and endpoints with profiles, not in a suite file",
                            src.key(data, "env"))
        description = data.get("description") or ""
        if not isinstance(description, str):
            raise src.error("description must be text", src.key(data, "description"))
        prompts = self.prompts(data, src, top)
        targets = self.targets(data, src)
        defaults = self.defaults(data, src)
        tests = self.tests(data, src, top)
        cases = self.cases(prompts, tests, defaults)
        return Suite(description=description, cases=tuple(cases), targets=tuple(targets),
                     sha256=self.digest.hexdigest(), text=self.text, judge=defaults.judge)

    # -- prompts -----------------------------------------------------------------------------
    def prompts(self, data: dict[str, Any], src: Source, top: int | None) -> list[ChatTemplate]:
        value = data.get("prompts")
        line = src.key(data, "prompts", top)
        found: list[_Prompt] = []
        if value is None or value == [] or value == {} or value == "":
            raise src.error("no prompts: add `prompts:` with at least one prompt template",
                            line)
        if isinstance(value, str):
            found += self.prompt_entry(value, None, src, line)
        elif isinstance(value, list):
            if all(isinstance(v, dict) and "role" in v for v in value):
                found.append(self.chat(value, None, src, src.at(value, line), "chat"))
            else:
                for i, item in enumerate(value):
                    found += self.prompt_item(item, src, src.item(value, i, line))
        elif isinstance(value, dict):
            if "raw" in value or "id" in value:
                found += self.prompt_item(value, src, src.at(value, line))
            else:  # promptfoo's map form {file://x.txt: label}
                for key, label in value.items():
                    if not isinstance(key, str) or not isinstance(label, str):
                        raise src.error("a prompts map is {prompt: label}",
                                        src.key(value, key, line))
                    found += self.prompt_entry(key, label, src, src.key(value, key, line))
        else:
            raise src.error("prompts must be a string or a list", line)
        return self.label(found)

    def prompt_item(self, item: Any, src: Source, line: int | None) -> list[_Prompt]:
        if isinstance(item, str):
            return self.prompt_entry(item, None, src, line)
        if isinstance(item, list):
            return [self.chat(item, None, src, line, "chat")]
        if isinstance(item, dict):
            unknown = sorted(set(item) - {"raw", "id", "label"}, key=str)
            if unknown:
                raise src.error(f"prompt option {unknown[0]!r} is not supported (a prompt is "
                                "{raw: ..., label: ...} or {id: file://..., label: ...})",
                                src.key(item, unknown[0], line))
            label = item.get("label")
            if label is not None and (not isinstance(label, str) or not label.strip()):
                raise src.error("a prompt label must be a non-empty string",
                                src.key(item, "label", line))
            if "raw" in item and "id" in item:
                raise src.error("a prompt has raw or id, not both", line)
            raw = item.get("raw", item.get("id"))
            if isinstance(raw, list):
                return [self.chat(raw, label, src, line, "chat")]
            if not isinstance(raw, str):
                raise src.error("a prompt's raw/id must be text", line)
            if "raw" in item:
                return [self.prompt_text(raw, label, src, line)]
            return self.prompt_entry(raw, label, src, line)
        raise src.error("a prompt is text, a file://, {raw, label} or a list of messages", line)

    def prompt_entry(self, text: str, label: str | None, src: Source,
                     line: int | None) -> list[_Prompt]:
        if not text.startswith("file://"):
            return [self.prompt_text(text, label, src, line)]
        written = text[len("file://"):]
        if re.search(r"\.(?:py|js|mjs|cjs|ts):\w+$", written):
            raise src.error(f"prompt {text!r} is not supported: Workbench does not run code "
                            "from a suite", line)
        content, name = self.read(written, src, line, "prompt")
        suffix = Path(written).suffix.lower()
        if suffix in (".json", ".yaml", ".yml"):
            if suffix == ".json":
                try:
                    parsed, fsrc = json.loads(content), Source(name, line0=1)
                except json.JSONDecodeError as err:
                    raise SuiteError(f"not JSON: {err.msg}", source=name,
                                     line=err.lineno) from None
            else:
                parsed, fsrc = load_yaml(content, name)
            if isinstance(parsed, str):
                return [self.prompt_text(parsed, label, fsrc, fsrc.at(parsed, 1),
                                         default=written)]
            if not isinstance(parsed, list):
                raise fsrc.error("a prompt file holds a list of {role, content} messages",
                                 fsrc.at(parsed, 1))
            return [self.chat(parsed, label, fsrc, fsrc.at(parsed, 1), written)]
        if suffix == ".jsonl":
            out = []
            for number, row in enumerate(content.splitlines(), start=1):
                if not row.strip():
                    continue
                try:
                    messages = json.loads(row)
                except json.JSONDecodeError as err:
                    raise SuiteError(f"not JSON: {err.msg}", source=name, line=number) from None
                out.append(self.chat(messages, label, Source(name, line0=number), number,
                                     f"{written}:{number}"))
            if not out:
                raise SuiteError("the prompt file holds no prompts", source=name, line=1)
            if len(out) > 1:
                for k, prompt in enumerate(out, start=1):
                    prompt.label = f"{label} {k}" if label else None
            return out
        parts = [p for p in re.split(r"\r?\n---\r?\n", content) if p.strip()]
        if not parts:
            raise src.error(f"prompt file {written} is empty", line)
        fsrc = Source(name, line0=1)
        if len(parts) == 1:
            return [self.prompt_text(parts[0], label, fsrc, 1, default=written, chat_json=False)]
        return [self.prompt_text(part, f"{label} {k}" if label else None, fsrc, 1,
                                 chat_json=False)
                for k, part in enumerate(parts, start=1)]

    def prompt_text(self, text: str, label: str | None, src: Source, line: int | None,
                    *, default: str | None = None, chat_json: bool = True) -> _Prompt:
        stripped = text.strip()
        if chat_json and stripped.startswith("[") and stripped.endswith("]"):
            try:
                parsed = json.loads(stripped)
            except json.JSONDecodeError:
                parsed = None
            if isinstance(parsed, list) and parsed and all(
                    isinstance(m, dict) and "role" in m for m in parsed):
                return self.chat(parsed, label, src, line, default or "chat")
        if not stripped:
            raise src.error("a prompt is empty", line)
        self.check_template(text, src, line)
        return _Prompt(label, default or _short(text), (("user", text),), line, src)

    def chat(self, items: Any, label: str | None, src: Source, line: int | None,
             default: str) -> _Prompt:
        if not isinstance(items, list) or not items:
            raise src.error("a chat prompt is a non-empty list of {role, content} messages", line)
        messages: list[tuple[str, str]] = []
        for i, item in enumerate(items):
            where = src.item(items, i, line)
            if not isinstance(item, dict):
                raise src.error("a chat message is {role, content}", where)
            extra = sorted(set(item) - {"role", "content"}, key=str)
            if extra:
                raise src.error(f"message key {extra[0]!r} is not supported (a message is "
                                "{role, content})", src.key(item, extra[0], where))
            role, content = item.get("role"), item.get("content")
            if role not in ROLES:
                raise src.error(f"message role {role!r} is not supported; use one of "
                                f"{', '.join(ROLES)}", src.key(item, "role", where))
            if _number(content):
                content = str(content)
            if not isinstance(content, str):
                raise src.error("a message's content must be text (images and tool calls are "
                                "not supported)", src.key(item, "content", where))
            self.check_template(content, src, where)
            messages.append((role, content))
        if default == "chat":
            default = _short(" / ".join(text for _, text in messages))
        return _Prompt(label, default, tuple(messages), line, src)

    @staticmethod
    def check_template(text: str, src: Source, line: int | None) -> None:
        try:
            templating.variables(text)
        except BadInput as err:
            raise src.error(str(err), line) from None

    @staticmethod
    def label(found: list[_Prompt]) -> list[ChatTemplate]:
        labels = [p.label if p.label is not None else p.default for p in found]
        counts: dict[str, int] = {}
        for text in labels:
            counts[text] = counts.get(text, 0) + 1
        out: list[ChatTemplate] = []
        seen: dict[str, _Prompt] = {}
        for n, (prompt, text) in enumerate(zip(found, labels, strict=True), start=1):
            if prompt.label is None and (counts[text] > 1 or not text):
                text = f"prompt {n}"
            if text in seen:
                raise prompt.src.error(f"two prompts are labelled {text!r}: give each its own "
                                       "label", prompt.line)
            seen[text] = prompt
            out.append(ChatTemplate(label=text, messages=prompt.messages, line=prompt.line))
        return out

    # -- providers ---------------------------------------------------------------------------
    def targets(self, data: dict[str, Any], src: Source) -> list[SuiteTarget]:
        if "providers" in data and "targets" in data:
            raise src.error("give providers or targets, not both", src.key(data, "targets"))
        key = "targets" if "targets" in data else "providers"
        value = data.get(key)
        line = src.key(data, key)
        if value is None:
            return []
        items = [value] if isinstance(value, str | dict) else value
        if not isinstance(items, list):
            raise src.error(f"{key} must be a list", line)
        found: list[SuiteTarget] = []
        labels: dict[str, int | None] = {}
        for i, item in enumerate(items):
            where = src.item(items, i, line) if items is value else line
            if not isinstance(item, str | dict):
                raise src.error("a provider is an id or {id, label, config}", where)
            target = map_provider(item, line=where, source=src.name, base_dir=self.base_dir)
            if target.label in labels:
                raise src.error(f"two providers are called {target.label!r}: give each a "
                                "label", where)
            labels[target.label] = where
            found.append(target)
        return found

    # -- tests -------------------------------------------------------------------------------
    def defaults(self, data: dict[str, Any], src: Source) -> _Defaults:
        raw = data.get("defaultTest")
        line = src.key(data, "defaultTest")
        if raw is None:
            return _Defaults()
        if not isinstance(raw, dict):
            raise src.error("defaultTest must be a mapping", line)
        for key in raw:
            if key not in DEFAULT_TEST_KEYS:
                raise src.error(f"defaultTest key {key!r} is not supported; use "
                                f"{', '.join(DEFAULT_TEST_KEYS)}", src.key(raw, key, line))
        _, judge, expand = self.options(raw, src, line, "defaultTest")
        vars = self.vars(raw, src, line)
        vars_line = src.key(raw, "vars", line)
        vars = {name: self.var_value(value, src, src.key(raw["vars"], name, vars_line), name)
                for name, value in vars.items()}
        return _Defaults(vars=vars, asserts=self.asserts(raw, src, line),
                         metadata=self.metadata(raw, src, line),
                         threshold=self.threshold(raw, src, line), judge=judge, expand=expand)

    def tests(self, data: dict[str, Any], src: Source, top: int | None) -> list[RawTest]:
        value = data.get("tests")
        line = src.key(data, "tests", top)
        found: list[RawTest] = []
        if isinstance(value, str):
            found += self.case_file(value, src, line)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                where = src.item(value, i, line)
                if isinstance(item, str):
                    found += self.case_file(item, src, where)
                elif isinstance(item, dict):
                    found.append(RawTest(item, src, src.at(item, where)))
                else:
                    raise src.error("a test is a mapping (vars, assert, ...) or a file://",
                                    where)
        elif value is not None:
            raise src.error("tests must be a list or a file://", line)
        if not found:
            raise src.error("no tests: add `tests:` with at least one test (its vars and "
                            "assertions)", line)
        return found

    def case_file(self, text: str, src: Source, line: int | None) -> list[RawTest]:
        if not text.startswith("file://"):
            raise src.error(f"a test is a mapping or a file://, not {_short(text)!r}", line)
        written = text[len("file://"):]
        suffix = Path(written).suffix.lower()
        if suffix not in CASE_SUFFIXES and suffix not in CODE_SUFFIXES:
            raise src.error(f"case file {written!r}: use .csv, .jsonl, .json or .yaml", line)
        content, name = self.read(written, src, line, "case file")
        return read_cases(content, name, suffix)

    def options(self, raw: dict[str, Any], src: Source, line: int | None,
                what: str) -> tuple[dict[str, Any], str | None, bool]:
        options = raw.get("options")
        if options is None:
            return {}, None, True
        where = src.key(raw, "options", line)
        if not isinstance(options, dict):
            raise src.error(f"{what} options must be a mapping", where)
        for key in options:
            if key not in TEST_OPTIONS:
                raise src.error(f"{what} option {key!r} is not supported; supported: "
                                f"{', '.join(TEST_OPTIONS)}", src.key(options, key, where))
        judge = None
        if options.get("provider") is not None:
            provider = options["provider"]
            pline = src.key(options, "provider", where)
            if not isinstance(provider, str | dict):
                raise src.error("options.provider is a provider id or {id, config}", pline)
            judge = map_provider(provider, line=pline, source=src.name,
                                 base_dir=self.base_dir).spec
        disable = options.get("disableVarExpansion", False)
        if not isinstance(disable, bool):
            raise src.error("disableVarExpansion is true or false",
                            src.key(options, "disableVarExpansion", where))
        return options, judge, not disable

    def vars(self, raw: dict[str, Any], src: Source, line: int | None) -> dict[str, Any]:
        value = raw.get("vars")
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise src.error("vars must be a mapping {name: value}", src.key(raw, "vars", line))
        for key in value:
            if not isinstance(key, str) or not key.strip():
                raise src.error(f"var name {key!r} is not a name", src.key(value, key, line))
        return dict(value)

    def metadata(self, raw: dict[str, Any], src: Source, line: int | None) -> dict[str, Any]:
        value = raw.get("metadata")
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise src.error("metadata must be a mapping", src.key(raw, "metadata", line))
        return {str(k): v for k, v in value.items()}

    def threshold(self, raw: dict[str, Any], src: Source, line: int | None) -> float | None:
        value = raw.get("threshold")
        if value is None:
            return None
        if not _number(value):
            raise src.error("threshold must be a number", src.key(raw, "threshold", line))
        return float(value)

    def asserts(self, raw: dict[str, Any], src: Source, line: int | None) -> list[Assertion]:
        value = raw.get("assert")
        if value is None:
            return []
        where = src.key(raw, "assert", line)
        if not isinstance(value, list):
            raise src.error("assert must be a list of {type, value, ...}", where)
        return [self.assertion(item, src, src.item(value, i, where))
                for i, item in enumerate(value)]

    def assertion(self, item: Any, src: Source, line: int | None) -> Assertion:
        if not isinstance(item, dict):
            raise src.error("an assertion is {type, value, threshold, weight, metric}", line)
        line = src.at(item, line)
        kind = item.get("type")
        if not isinstance(kind, str) or not kind.strip():
            raise src.error("an assertion needs a type", line)
        kind = kind.strip()
        negate = kind.startswith("not-")
        base = kind[4:] if negate else kind
        supported = (f"supported: {', '.join(sorted(KNOWN_TYPES))} (each also as not-TYPE)")
        if base in CODE_ASSERTIONS:
            raise src.error(f"assertion type {kind!r} is not supported: Workbench does not run "
                            f"code from a suite; {supported}", line)
        if base == "assert-set":
            raise src.error(f"assertion type {kind!r} is not supported: list its assertions "
                            f"one by one; {supported}", line)
        if base not in KNOWN_TYPES:
            raise src.error(f"unknown assertion type {kind!r}; {supported}", line)
        for key in item:
            if key not in ASSERTION_KEYS:
                raise src.error(f"assertion key {key!r} is not supported; an assertion has "
                                f"{', '.join(ASSERTION_KEYS)}", src.key(item, key, line))
        threshold, weight, metric = item.get("threshold"), item.get("weight", 1), \
            item.get("metric")
        if threshold is not None and not _number(threshold):
            raise src.error("an assertion's threshold must be a number",
                            src.key(item, "threshold", line))
        if weight is None:
            weight = 1
        if not _number(weight) or weight < 0:
            raise src.error("an assertion's weight must be a number >= 0",
                            src.key(item, "weight", line))
        if metric is not None and (not isinstance(metric, str) or not metric.strip()):
            raise src.error("an assertion's metric must be a name",
                            src.key(item, "metric", line))
        provider = item.get("provider")
        spec = None
        if provider is not None:
            pline = src.key(item, "provider", line)
            if not isinstance(provider, str | dict):
                raise src.error("an assertion's provider is a provider id or {id, config}", pline)
            spec = map_provider(provider, line=pline, source=src.name,
                                base_dir=self.base_dir).spec
        assertion = Assertion(type=base, negate=negate, value=item.get("value"),
                              threshold=None if threshold is None else float(threshold),
                              weight=float(weight), metric=metric.strip() if metric else None,
                              line=line, provider=spec)
        for text in _strings(assertion.value):
            if "{{" in text or "{%" in text:
                self.check_template(text, src, line)
        try:
            validate(assertion)
        except SuiteError as err:
            if err.line is not None and err.source is not None:
                raise
            raise src.error(err.detail, err.line if err.line is not None else line) from None
        except BadInput as err:
            raise src.error(str(err), line) from None
        return assertion

    # -- cases -------------------------------------------------------------------------------
    def cases(self, prompts: list[ChatTemplate], tests: list[RawTest],
              defaults: _Defaults) -> list[Case]:
        prompt_vars = [(p, [(text, templating.variables(text)) for _, text in p.messages])
                       for p in prompts]
        cases: list[Case] = []
        number = 0
        for test in tests:
            for vars, parts in self.expand(test, defaults):
                number += 1
                if len(cases) + len(prompts) > MAX_CASES:
                    raise test.src.error(f"more than {MAX_CASES:,} cases (tests x prompts): "
                                         "split the suite", test.line)
                description, metadata, tags, threshold, asserts = parts
                where = f"test {number}" + (f" (line {test.line})" if test.line else "")
                for prompt, templates in prompt_vars:
                    for _, names in templates:
                        missing = sorted(names - set(vars))
                        if missing:
                            raise test.src.error(
                                f"prompt {prompt.label!r} uses {{{{{missing[0]}}}}}, which "
                                f"{where} does not set", test.line)
                for assertion in asserts:
                    for text in _strings(assertion.value):
                        if "{{" not in text and "{%" not in text:
                            continue
                        missing = sorted(templating.variables(text) - set(vars))
                        if missing:
                            raise test.src.error(
                                f"assertion {assertion.written_type!r} (line {assertion.line}) "
                                f"uses {{{{{missing[0]}}}}}, which {where} does not set",
                                test.line)
                for prompt, _ in prompt_vars:
                    case_id = str(number) if len(prompts) == 1 else f"{number}/{prompt.label}"
                    cases.append(Case(id=case_id, index=number, prompt=prompt, vars=dict(vars),
                                      assertions=tuple(asserts), description=description,
                                      metadata=dict(metadata), tags=tags, line=test.line,
                                      threshold=threshold))
        return cases

    def expand(self, test: RawTest, defaults: _Defaults) -> Iterator[
            tuple[dict[str, Any], tuple[str, dict[str, Any], tuple[str, ...], float | None,
                                        list[Assertion]]]]:
        raw, src, line = test.raw, test.src, test.line
        for key in raw:
            if key not in TEST_KEYS:
                raise src.error(f"test key {key!r} is not supported; a test has "
                                f"{', '.join(TEST_KEYS)}", src.key(raw, key, line))
        _, judge, expand = self.options(raw, src, line, "test")
        expand = expand and defaults.expand
        vars = {**defaults.vars, **self.vars(raw, src, line)}
        asserts = defaults.asserts + self.asserts(raw, src, line)
        if judge:
            asserts = [dataclasses.replace(a, provider=a.provider or judge)
                       if a.type in MODEL_GRADED else a for a in asserts]
        metadata = {**defaults.metadata, **self.metadata(raw, src, line)}
        tags = _tags(metadata.get("tags"), src, src.key(raw, "metadata", line))
        threshold = self.threshold(raw, src, line)
        if threshold is None:
            threshold = defaults.threshold
        description = raw.get("description")
        if description is None:
            description = ""
        elif _number(description):
            description = str(description)
        elif not isinstance(description, str):
            raise src.error("a test's description must be text", src.key(raw, "description",
                                                                         line))
        parts = (description, metadata, tags, threshold, asserts)
        names = list(vars)
        choices: list[list[Any]] = []
        total = 1
        for name in names:
            value = vars[name]
            if expand and isinstance(value, list) and value and isinstance(value[0], str):
                choices.append(list(value))
                total *= len(value)
            else:
                choices.append([value])
            if total > MAX_CASES:
                raise src.error(f"the list vars of this test make more than {MAX_CASES:,} "
                                "combinations", line)
        for combination in itertools.product(*choices):
            yield {n: self.var_value(v, src, src.key(raw, "vars", line), n)
                   for n, v in zip(names, combination, strict=True)}, parts

    def var_value(self, value: Any, src: Source, line: int | None, name: str) -> Any:
        if isinstance(value, str) and value.startswith("file://"):
            text, _ = self.read(value[len("file://"):], src, line, f"var {name}")
            return text
        return value


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def _tags(value: Any, src: Source, line: int | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        items: list[Any] = value.split(",")
    elif isinstance(value, list):
        items = value
    else:
        raise src.error("metadata.tags is a list or a comma-separated string", line)
    tags: list[str] = []
    for item in items:
        if not isinstance(item, str | int | float) or isinstance(item, bool):
            raise src.error("each tag is text", line)
        tag = str(item).strip()
        if tag and tag not in tags:
            tags.append(tag)
    return tuple(tags)


# -- public ----------------------------------------------------------------------------------

def parse_suite(text: str, *, source: str = "suite", base_dir: Path | None = None) -> Suite:
    """The suite in ``text`` (YAML); ``source`` names it in messages, ``base_dir`` is where its
    ``file://`` names are found (default: the current folder). SuiteError with FILE:LINE."""
    return _Builder(text, source, base_dir).build()


def load_suite(path: str | Path) -> Suite:
    """The suite in the YAML file ``path`` (its ``file://`` names relative to its folder)."""
    path = Path(path).expanduser()
    name = str(path)
    if not path.exists():
        raise SuiteError("no such suite file", source=name)
    if not path.is_file():
        raise SuiteError("not a regular file", source=name)
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as err:
        raise SuiteError(f"cannot read: {err.strerror or err}", source=name) from None
    if len(data) > MAX_FILE_BYTES:
        raise SuiteError(f"larger than {MAX_FILE_BYTES // 2**20} MiB", source=name)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[:err.start].count(b"\n") + 1
        raise SuiteError("not UTF-8 text", source=name, line=line) from None
    suite = _Builder(text, name, path.parent).build()
    return dataclasses.replace(suite, path=path)


def dump_suite(data: Mapping[str, Any]) -> str:
    """``data`` (a suite as plain dicts and lists) as YAML text that ``parse_suite`` reads
    back to the same data; keys keep their order."""
    return dump_yaml(dict(data))
