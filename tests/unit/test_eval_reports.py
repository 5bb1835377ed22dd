"""The reports of an eval run, each written and read back: the JSON document's fields, the HTML
page (self-contained, every untrusted string escaped), JUnit XML (parses, the schema's basic
structure), Markdown (cells escaped) and the terminal's lines."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from tests.unit.test_eval_summary import cloud_results, local_results, make_result, make_suite
from workbench.evals import reports
from workbench.evals.decision import decide
from workbench.evals.model import Verdict
from workbench.evals.summary import summarize
from workbench.store.settings import AppSettings

HOSTILE = "<script>alert(1)</script><img src=http://evil.example/x.png>"
TARGETS = ["local:q4", "openai:x", "local:missing"]


def build() -> dict[str, Any]:
    suite = make_suite(4, {1: ("pii",), 2: ("code",)})
    results = local_results("local:q4", "PPFE")
    results[0] = make_result(1, "local:q4", True, text=HOSTILE + "\x1b[31m\x00 tail",
                             verdicts=[Verdict("contains", True, 1.0, "found 'alert'")])
    results[2] = make_result(3, "local:q4", False, text="line one\nline | two",
                             verdicts=[Verdict("equals", False, 0.0, "expected a | b\nnot c"),
                                       Verdict("contains", True, 1.0, "ok")])
    results += cloud_results("openai:x", "PPPP")
    results += [make_result(2, "openai:x", r == 0, repeat=r, local=False) for r in (1,)]
    summary = summarize(suite, results, TARGETS)
    decision = decide(summary, bar=0.7, monthly_requests=10_000, private=False,
                      settings=AppSettings(electricity_usd_per_kwh=0.2))
    return reports.build_document(
        run_id=7, suite=suite, targets=TARGETS, results=results, summary=summary,
        decision=decision, skipped={"local:missing": "needs 9.1 GiB of RAM, 2.0 GiB is free"},
        judge="local:judge.gguf", judge_usage={"calls": 3, "completion_tokens": 40},
        complete=False)


def test_the_json_document(tmp_path: Path) -> None:
    path = reports.write_json(build(), tmp_path / "run.json")
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["schema"] == reports.SCHEMA
    run = document["run"]
    assert {"id", "suite", "description", "sha256", "complete", "judge", "judge_usage"} <= set(run)
    assert (run["id"], run["complete"], run["judge"]) == (7, False, "local:judge.gguf")
    assert run["judge_usage"] == {"calls": 3, "completion_tokens": 40} and run["repeats"] == 2
    targets = {t["target"]: t for t in document["targets"]}
    assert list(targets) == TARGETS
    local = targets["local:q4"]
    assert {"passed", "failed", "errors", "pass_rate", "pass_rate_ci", "cost_usd",
            "ttft_ms_p50", "total_ms_p95", "cost_per_1000", "energy_j_per_case", "tags",
            "metrics", "repeat_agreement"} <= set(local)
    assert (local["passed"], local["failed"], local["errors"]) == (2, 1, 1)
    assert local["pass_rate"] == pytest.approx(2 / 3) and len(local["pass_rate_ci"]) == 2
    assert targets["local:missing"]["skipped"] is True
    assert targets["local:missing"]["reason"].startswith("needs 9.1 GiB")
    assert local["skipped"] is False
    cases = document["cases"]
    assert [c["id"] for c in cases] == ["1", "2", "3", "4"]
    assert {"id", "description", "vars", "tags", "results"} <= set(cases[0])
    assert cases[0]["vars"] == {"q": "question 1"} and cases[0]["tags"] == ["pii"]
    first = cases[0]["results"][0]
    assert {"target", "repeat", "pass", "score", "text", "error", "assertions", "ttft_ms",
            "total_ms", "cost_usd"} <= set(first)
    assert first["text"].startswith(HOSTILE)
    assert first["assertions"] == [{"type": "contains", "pass": True, "score": 1.0,
                                    "reason": "found 'alert'", "weight": 1.0, "metric": None,
                                    "error": None, "judge": None}]
    errored = cases[3]["results"][0]
    assert errored["pass"] is None and errored["error"] == "server error"
    assert len(cases[1]["results"]) == 3  # local, the cloud's two repeats
    assert document["comparisons"][0]["a"] == "local:q4"
    assert {"diff", "low", "high", "p_value", "n", "significant", "text"} <= set(
        document["comparisons"][0])
    assert document["decision"]["choice"] == "openai:x" and document["decision"]["lines"]


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.style = ""
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.style += data


def test_the_html_page_is_self_contained_and_escaped(tmp_path: Path) -> None:
    page = reports.write_html(build(), tmp_path / "run.html").read_text(encoding="utf-8")
    assert "<script" not in page and "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    parser = _Tags()
    parser.feed(page)
    names = {tag for tag, _attrs in parser.tags}
    assert not names & {"script", "link", "img", "iframe", "object", "embed"}
    for tag, attrs in parser.tags:  # no attribute points anywhere (src, href, ...)
        for name, value in attrs:
            assert name not in ("src", "href") and "http" not in (value or ""), (tag, name)
    assert "url(" not in parser.style and "@import" not in parser.style
    assert {"svg", "details", "summary", "table", "rect", "line"} <= names
    for word in ("PASS", "FAIL", "ERROR", "SKIPPED"):
        assert f">{word}" in page
    assert "class='FAIL'" in page and "expected a | b\nnot c" in page
    assert "needs 9.1 GiB of RAM" in page


def test_junit_parses_and_has_the_schemas_structure(tmp_path: Path) -> None:
    path = reports.write_junit(build(), tmp_path / "junit.xml")
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == TARGETS
    for suite in suites:
        assert {"name", "tests", "failures", "errors", "skipped", "time"} <= set(suite.attrib)
        cases = suite.findall("testcase")
        assert int(suite.get("tests", "")) == len(cases)
        for case in cases:
            assert {"name", "classname", "time"} <= set(case.attrib)
            float(case.get("time", ""))
    local, cloud, missing = suites
    assert (local.get("tests"), local.get("failures"), local.get("errors")) == ("4", "1", "1")
    failure = local.find("testcase/failure")
    assert failure is not None and failure.get("type") == "assertion"
    assert failure.get("message") == "equals: expected a | b\nnot c"
    assert "contains: ok" not in (failure.text or "")  # only the failing verdicts
    error = local.find("testcase/error")
    assert error is not None and error.get("message") == "server error"
    out = local.find("testcase/system-out")
    assert out is not None and (out.text or "").startswith(HOSTILE)
    assert "\x1b" not in (out.text or "") and "\x00" not in (out.text or "")
    assert cloud.get("tests") == "5" and "(repeat 2)" in ET.tostring(cloud, encoding="unicode")
    assert missing.get("skipped") == "4"
    skipped = missing.find("testcase/skipped")
    assert skipped is not None and "9.1 GiB" in (skipped.get("message") or "")
    assert root.get("tests") == "13" and root.get("failures") == "2"


def test_markdown_cells_are_escaped(tmp_path: Path) -> None:
    text = reports.write_markdown(build(), tmp_path / "run.md").read_text(encoding="utf-8")
    assert text.startswith("# Eval run 7: hand-built\n")
    assert "## Targets" in text and "## Decision" in text and "## Failing cases" in text
    rows = [line for line in text.splitlines() if line.startswith("| 3 |")]
    assert len(rows) == 1
    row = rows[0]
    assert "expected a \\| b<br>not c" in row
    assert len(re.findall(r"(?<!\\)\|", row)) == 7  # six columns: seven unescaped pipes
    assert "<script>" not in text
    header = next(line for line in text.splitlines() if line.startswith("| target |"))
    table_rows = [line for line in text.splitlines() if line.startswith("| local:q4 |")]
    assert table_rows and all(len(re.findall(r"(?<!\\)\|", r)) == header.count("|")
                              for r in table_rows)
    assert reports.md_cell("a|b\r\nc") == "a\\|b<br>c"
    assert reports.md_cell("<b>x</b> &amp;") == "&lt;b>x&lt;/b> &amp;amp;"
    assert "tag pii -> local:q4" in text  # no HTML, but arrows stay readable


def test_terminal_lines() -> None:
    lines = reports.text_lines(build())
    assert lines[0] == "Eval run 7: hand-built"
    assert lines[1] == "4 cases x 2 repeats, incomplete; judge local:judge.gguf"
    table = "\n".join(lines)
    assert "local:q4" in table and "66.7%" in table and "SKIPPED" in table
    assert "skipped local:missing: needs 9.1 GiB of RAM, 2.0 GiB is free" in lines
    assert "Decision:" in lines and "Paired differences:" in lines


def test_writes_are_atomic(tmp_path: Path) -> None:
    target = tmp_path / "report.md"
    target.write_text("old", encoding="utf-8")
    document = build()
    for writer in (reports.write_markdown, reports.write_html, reports.write_junit,
                   reports.write_json):
        writer(document, target)
        assert target.read_text(encoding="utf-8") != "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.md"]  # no temporary file left
