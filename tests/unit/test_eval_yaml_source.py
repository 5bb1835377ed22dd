"""yaml_source: the safe YAML reader behind suites, case files and schema strings."""

from __future__ import annotations

import pytest

from workbench.evals.model import SuiteError
from workbench.evals.yaml_source import MAX_NODES, Source, dump_yaml, load_yaml


def test_lines_of_mappings_keys_and_items() -> None:
    text = "top: 1\nlist:\n  - a\n  - {k: v,\n     j: w}\nlast:\n  x: 1\n"
    data, src = load_yaml(text, "s.yaml")
    assert isinstance(src, Source) and src.name == "s.yaml"
    assert data == {"top": 1, "list": ["a", {"k": "v", "j": "w"}], "last": {"x": 1}}
    assert src.at(data) == 1
    assert src.key(data, "list") == 2 and src.key(data, "last") == 6
    assert src.item(data["list"], 0) == 3 and src.item(data["list"], 1) == 4
    assert src.key(data["list"][1], "j") == 5
    assert src.key(data, "absent", 99) == 1  # an unknown key: the mapping's line
    assert src.item(data["list"], 7) == 3  # past the end: the list's line
    err = src.error("bad", src.key(data, "last"))
    assert str(err) == "s.yaml:6: bad" and err.line == 6


def test_an_empty_document_is_none() -> None:
    data, src = load_yaml("# only a comment\n", "e.yaml")
    assert data is None and src.at(data, 1) == 1


def test_yaml_1_2_scalars() -> None:
    data, _ = load_yaml("a: no\nb: yes\nc: on\nd: 1:30\ne: 012\nf: true\ng: 0x1f\n"
                        "h: 1e3\ni: .inf\nj: ~\n", "s")
    assert data["a"] == "no" and data["b"] == "yes" and data["c"] == "on"
    assert data["d"] == "1:30" and data["e"] == 12 and data["f"] is True and data["g"] == 31
    assert data["h"] == 1000.0 and data["i"] == float("inf") and data["j"] is None


def test_an_alias_bomb_is_refused() -> None:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for n in range(1, 9):
        refs = ", ".join([f"*a{n - 1}"] * 10)
        lines.append(f"a{n}: &a{n} [{refs}]")
    with pytest.raises(SuiteError, match=f"more than {MAX_NODES:,} nodes") as caught:
        load_yaml("\n".join(lines) + "\n", "bomb.yaml")
    assert caught.value.source == "bomb.yaml"


def test_small_aliases_are_fine_and_merge_keys_work() -> None:
    data, _ = load_yaml("base: &b {x: 1, y: 2}\nuse: {<<: *b, y: 3}\nagain: *b\n", "s")
    assert data["use"] == {"x": 1, "y": 3} and data["again"] == {"x": 1, "y": 2}


def test_duplicate_keys_are_refused_with_both_lines() -> None:
    with pytest.raises(SuiteError, match=r"duplicate key 'k' \(first on line 2\)") as caught:
        load_yaml("top: 0\nk: 1\nother: 2\nk: 3\n", "d.yaml")
    assert caught.value.line == 4 and str(caught.value).startswith("d.yaml:4: ")


def test_unsafe_tags_and_bad_yaml_name_the_line() -> None:
    with pytest.raises(SuiteError, match="python/object") as caught:
        load_yaml("ok: 1\nx: !!python/object/apply:os.system ['echo hacked']\n", "t.yaml")
    assert caught.value.line == 2
    with pytest.raises(SuiteError, match="YAML error") as caught:
        load_yaml("a: [1, 2\nb: 3\n", "t.yaml")
    assert caught.value.line is not None


def test_dump_round_trips() -> None:
    data = {"text": "line one\nline two\n", "no": "no", "code": "089", "time": "1:30",
            "exp": "1e5", "n": 12, "x": 1.5, "flag": False, "none": None,
            "list": ["a", {"nested": "ü"}], "tuple": ("p", "q")}
    text = dump_yaml(data)
    assert text.startswith("text: |")  # keys keep their order; multi-line text as a block
    assert "ü" in text
    back, _ = load_yaml(text, "dumped.yaml")
    assert back == {**data, "tuple": ["p", "q"]}


def test_schema_strings_in_assertions_are_read_the_same_way() -> None:
    """is-json / contains-json schemas given as text go through load_yaml too."""
    from workbench.evals.assertions import validate
    from workbench.evals.model import Assertion

    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{n}: &{n} [{', '.join([f'*{p}'] * 10)}]\n"
        for p, n in zip("abcdefgh", "bcdefghi", strict=True))
    with pytest.raises(SuiteError, match=f"the schema text: .*more than {MAX_NODES:,} nodes"):
        validate(Assertion("is-json", value=bomb))
    with pytest.raises(SuiteError, match=r"duplicate key 'type' .*\(line 2\)"):
        validate(Assertion("is-json", value="type: object\ntype: array\n"))
    validate(Assertion("is-json", value='{"type": "object", "required": ["no"]}'))
