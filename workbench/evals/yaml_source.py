"""YAML read safely, with line numbers and limits, as promptfoo (js-yaml) reads it.

``load_yaml(text, name)`` returns the data and a ``Source`` that knows the line of each
mapping, key and list item (for "FILE:LINE" messages). Only safe loading; YAML 1.2 scalars:
only true/false are booleans (``no`` is the string "no"), ``1:30`` is a string, ``012`` is 12.
Aliases are allowed but a document that expands to more than ``MAX_NODES`` nodes (a "billion
laughs") or refers to itself is refused; so are duplicate keys. Every problem is a
``SuiteError`` naming the text's name and line. ``dump_yaml(data)`` writes YAML that
``load_yaml`` reads back to the same data (multi-line text as ``|`` blocks).

``MAX_FILE_BYTES`` is the most a suite, or a file it names, may hold (its readers check it).
"""

from __future__ import annotations

import re
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import yaml

from workbench.evals.model import SuiteError

__all__ = ["MAX_FILE_BYTES", "MAX_NODES", "Source", "dump_yaml", "load_yaml"]

MAX_FILE_BYTES = 32 * 1024 * 1024
MAX_NODES = 1_000_000  # YAML nodes after alias expansion


if TYPE_CHECKING:
    from yaml import SafeLoader as _Base
else:  # libyaml's parser when there is one: faster, and it bounds the nesting depth
    _Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MERGE_TAG = "tag:yaml.org,2002:merge"


class _Loader(_Base):  # type: ignore[misc, unused-ignore]  # yaml may have no stubs
    """Safe loading that records where each mapping, key and list item starts."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.lines: dict[int, int] = {}
        self.key_lines: dict[int, dict[Any, int]] = {}
        self.item_lines: dict[int, list[int]] = {}
        self.keep: list[Any] = []  # what the tables point at stays alive (ids stay unique)

    def construct_yaml_map(self, node: yaml.MappingNode) -> Generator[dict[Any, Any], None, None]:
        data: dict[Any, Any] = {}
        self.keep.append(data)
        self.lines[id(data)] = node.start_mark.line + 1
        yield data
        data.update(self.construct_mapping(node))
        self.key_lines[id(data)] = {
            self._key(k): k.start_mark.line + 1 for k, _ in node.value
            if isinstance(k, yaml.ScalarNode)}

    def _key(self, node: yaml.ScalarNode) -> Any:
        try:
            return self.construct_object(node)
        except yaml.YAMLError:
            return node.value

    def construct_yaml_seq(self, node: yaml.SequenceNode) -> Generator[list[Any], None, None]:
        data: list[Any] = []
        self.keep.append(data)
        self.lines[id(data)] = node.start_mark.line + 1
        self.item_lines[id(data)] = [item.start_mark.line + 1 for item in node.value]
        yield data
        data.extend(self.construct_sequence(node))

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[str, int] = {}
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != _MERGE_TAG:
                if key_node.value in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key_node.value!r} (first on line "
                        f"{seen[key_node.value]})", key_node.start_mark)
                seen[key_node.value] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)  # type: ignore[no-any-return, unused-ignore]

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        text = str(self.construct_scalar(node)).replace("_", "")
        sign = -1 if text.startswith("-") else 1
        digits = text.lstrip("+-")
        if digits[:2].lower() == "0x":
            return sign * int(digits[2:], 16)
        if digits[:2].lower() == "0o":
            return sign * int(digits[2:], 8)
        return sign * int(digits, 10)


_Loader.add_constructor("tag:yaml.org,2002:map", _Loader.construct_yaml_map)
_Loader.add_constructor("tag:yaml.org,2002:seq", _Loader.construct_yaml_seq)
_Loader.add_constructor("tag:yaml.org,2002:int", _Loader.construct_yaml_int)
# YAML 1.2's core schema for plain scalars (what js-yaml and so promptfoo read), keeping the
# merge key and timestamps that js-yaml keeps too
_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers
            if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:int",
                           "tag:yaml.org,2002:float", "tag:yaml.org,2002:value")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_CORE_RESOLVERS = (
    ("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
     list("tTfF")),
    ("tag:yaml.org,2002:int", re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"),
     list("-+0123456789")),
    ("tag:yaml.org,2002:float",
     re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
                r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
     list("-+.0123456789")),
)
for _tag, _regexp, _first in _CORE_RESOLVERS:
    _Loader.add_implicit_resolver(_tag, _regexp, _first)


def _expanded_size(root: yaml.Node) -> int:
    """How many nodes ``root`` stands for once every alias is expanded; SuiteError-free:
    raises ValueError for a node that contains itself."""
    sizes: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    open_nodes: set[int] = set()
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            open_nodes.discard(key)
            children = _children(node)
            sizes[key] = min(1 + sum(sizes[id(c)] for c in children), MAX_NODES + 1)
            continue
        if key in sizes:
            continue
        if key in open_nodes:
            raise ValueError("an alias refers to the node that contains it")
        open_nodes.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in open_nodes:
                raise ValueError("an alias refers to the node that contains it")
            if id(child) not in sizes:
                stack.append((child, False))
    return sizes[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


@dataclass
class Source:
    """Where parsed data came from: a file's name for messages and the lines of its YAML
    nodes; ``line0``: the one line everything is on (a JSONL line, a CSV row)."""

    name: str
    lines: dict[int, int] = field(default_factory=dict)
    key_lines: dict[int, dict[Any, int]] = field(default_factory=dict)
    item_lines: dict[int, list[int]] = field(default_factory=dict)
    line0: int | None = None
    keep: list[Any] = field(default_factory=list)

    def at(self, obj: Any, default: int | None = None) -> int | None:
        """The line where the mapping or list ``obj`` starts (``default`` if unknown)."""
        return self.line0 if self.line0 is not None else self.lines.get(id(obj), default)

    def key(self, mapping: Any, key: Any, default: int | None = None) -> int | None:
        """The line of ``key`` in ``mapping`` (else the mapping's line, else ``default``)."""
        if self.line0 is not None:
            return self.line0
        return self.key_lines.get(id(mapping), {}).get(key, self.lines.get(id(mapping), default))

    def item(self, seq: Any, index: int, default: int | None = None) -> int | None:
        """The line of ``seq[index]`` (else the list's line, else ``default``)."""
        if self.line0 is not None:
            return self.line0
        lines = self.item_lines.get(id(seq))
        if lines and index < len(lines):
            return lines[index]
        return self.lines.get(id(seq), default)

    def error(self, message: str, line: int | None) -> SuiteError:
        """A SuiteError for ``message`` at ``line`` of this source."""
        return SuiteError(message, source=self.name, line=line)


def load_yaml(text: str, name: str) -> tuple[Any, Source]:
    """The data in the YAML ``text`` (None for an empty document) and where each part of it
    is; ``name`` names the text in messages. SuiteError (with the line where known) for bad
    YAML, a tag that is not safe, a duplicate key, or aliases that expand too far."""
    try:
        loader = _Loader(text)  # the pure-Python reader checks the characters here
        try:
            node = loader.get_single_node()
            if node is None:
                return None, Source(name)
            try:
                size = _expanded_size(node)
            except ValueError as err:
                raise SuiteError(f"{err}: refused", source=name, line=None) from None
            if size > MAX_NODES:
                raise SuiteError(f"the YAML expands to more than {MAX_NODES:,} nodes (aliases "
                                 "that repeat aliases?): refused", source=name, line=None)
            data = loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        problem = " ".join(filter(None, [err.context, err.problem])) or "bad YAML"
        raise SuiteError(f"YAML error: {problem}", source=name,
                         line=mark.line + 1 if mark else None) from None
    except yaml.reader.ReaderError as err:
        line = text.count("\n", 0, err.position) + 1 if isinstance(err.position, int) else None
        code = err.character if isinstance(err.character, int) else ord(str(err.character)[:1])
        raise SuiteError(f"YAML error: character #x{code:04x} is not allowed ({err.reason})",
                         source=name, line=line) from None
    except yaml.YAMLError as err:
        raise SuiteError(f"YAML error: {err}", source=name) from None
    except RecursionError:
        raise SuiteError("YAML error: the document nests too deeply", source=name) from None
    return data, Source(name, loader.lines, loader.key_lines, loader.item_lines, keep=loader.keep)


class _Dumper(yaml.SafeDumper):  # type: ignore[misc, unused-ignore]
    """Multi-line text as literal blocks (``|``), which is how people write prompts."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)
_Dumper.add_representer(tuple, yaml.SafeDumper.represent_list)
# text that the loader's YAML 1.2 scalars would read as a number ("089", "1e5") is quoted
for _tag, _regexp, _first in _CORE_RESOLVERS:
    _Dumper.add_implicit_resolver(_tag, _regexp, _first)


def dump_yaml(data: Any) -> str:
    """``data`` (plain dicts, lists, text, numbers) as YAML text that ``load_yaml`` reads back
    to the same data; keys keep their order, multi-line text is a literal block."""
    text: str = yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True,
                          default_flow_style=False, width=100)
    return text
