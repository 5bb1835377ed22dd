"""The reports of an eval run: one JSON document (docs/evals.md, "The JSON document") and what is
written from it: a self-contained HTML page, JUnit XML for CI systems, Markdown for a pull
request, and the terminal's lines.

Every writer reads only the document, so a stored run (``eval show``/``export``) and a fresh one
give the same reports. Model output and suite text are untrusted: HTML-escaped in HTML (the page
loads nothing from the network: inline CSS and SVG, no script), stripped of characters XML
cannot hold in JUnit, escaped in Markdown cells. Files are written atomically (a temporary file
in the same folder, then ``os.replace``).
"""

from __future__ import annotations

import html
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from workbench.errors import BadInput
from workbench.evals.decision import Decision
from workbench.evals.model import Assertion, Case, CaseResult, Suite, Verdict
from workbench.evals.summary import Summary, percent
from workbench.present.numbers import NA, answer_cost, format_energy, format_ms, money, rate_value
from workbench.providers.local import local_label
from workbench.providers.registry import parse_target
from workbench.store.state_file import write_text_atomic

SCHEMA = "workbench.eval/1"
PASS, FAIL, ERROR, SKIPPED = "PASS", "FAIL", "ERROR", "SKIPPED"
MARKDOWN_FAILING_ROWS = 100
MARKDOWN_CELL_CHARS = 300
HTML_TEXT_CHARS = 20_000
_XML_INVALID = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


# -- the document ------------------------------------------------------------------------------
def _jsonable(value: Any) -> Any:
    """``value`` as plain JSON types (a YAML date in vars becomes its text)."""
    return json.loads(json.dumps(value, default=str))


def _assertion_dict(assertion: Assertion) -> dict[str, Any]:
    return {"type": assertion.written_type, "value": _jsonable(assertion.value),
            "threshold": assertion.threshold, "weight": assertion.weight,
            "metric": assertion.metric, "line": assertion.line}


def _verdict_dict(verdict: Verdict) -> dict[str, Any]:
    return {"type": verdict.type, "pass": verdict.passed, "score": verdict.score,
            "reason": verdict.reason, "weight": verdict.weight, "metric": verdict.metric,
            "error": verdict.error, "judge": _jsonable(verdict.judge)}


def _result_dict(result: CaseResult) -> dict[str, Any]:
    a = result.answer
    return {"target": result.target, "repeat": result.repeat, "pass": result.passed,
            "score": result.score, "text": a.text, "error": result.error,
            "error_kind": a.error_kind, "finish_reason": a.finish_reason,
            "assertions": [_verdict_dict(v) for v in result.verdicts],
            "ttft_ms": a.ttft_ms, "total_ms": a.total_ms, "prompt_tokens": a.prompt_tokens,
            "completion_tokens": a.completion_tokens, "gen_tokens_per_s": a.gen_tokens_per_s,
            "cost_usd": a.cost_usd, "cost_note": a.cost_note, "energy_j": a.energy_j,
            "model": a.model, "destination": a.destination}


def _case_dict(case: Case | None, case_id: str) -> dict[str, Any]:
    if case is None:  # a stored result of a case the suite no longer has
        return {"id": case_id, "index": None, "description": "", "vars": {}, "tags": [],
                "prompt": None, "assertions": [], "results": []}
    return {"id": case.id, "index": case.index, "description": case.description,
            "vars": _jsonable(case.vars), "tags": list(case.tags), "prompt": case.prompt.label,
            "assertions": [_assertion_dict(a) for a in case.assertions], "results": []}


def build_document(*, run_id: int, suite: Suite, targets: Sequence[str],
                   results: Sequence[CaseResult], summary: Summary, decision: Decision | None,
                   skipped: Mapping[str, str], judge: str | None,
                   judge_usage: Mapping[str, Any], complete: bool) -> dict[str, Any]:
    """The run as one JSON-ready document (every field: docs/evals.md)."""
    entries = []
    for target in summary.targets:
        entry = target.to_dict()
        entry["skipped"] = target.target in skipped
        entry["reason"] = skipped.get(target.target)
        entries.append(entry)
    named = {t.target for t in summary.targets}
    for name, reason in skipped.items():
        if name not in named:
            entries.append({"target": name, "skipped": True, "reason": reason, "passed": 0,
                            "failed": 0, "errors": 0, "pass_rate": None, "pass_rate_ci": None,
                            "cost_usd": None})
    cases = {case.id: _case_dict(case, case.id) for case in suite.cases}
    for result in results:
        if result.case_id not in cases:
            cases[result.case_id] = _case_dict(None, result.case_id)
        cases[result.case_id]["results"].append(_result_dict(result))
    return {
        "schema": SCHEMA,
        "run": {"id": run_id, "suite": str(suite.path) if suite.path else None,
                "description": suite.description, "sha256": suite.sha256,
                "complete": complete, "judge": judge, "judge_usage": _jsonable(dict(judge_usage)),
                "targets": list(targets), "cases": len(suite.cases),
                "repeats": summary.repeats},
        "targets": entries,
        "cases": list(cases.values()),
        "comparisons": [c.to_dict() for c in summary.comparisons],
        "tags": list(summary.tags),
        "decision": decision.to_dict() if decision is not None else None,
    }


def outcome_word(passed: bool | None) -> str:
    return ERROR if passed is None else (PASS if passed else FAIL)


def _reasons(result: Mapping[str, Any]) -> list[str]:
    """What went wrong in one result: its error, else its failing assertions' reasons."""
    if result.get("error") and result.get("pass") is None:
        lines = [str(result["error"])]
        lines += [f"{v['type']}: {v['error']}" for v in result.get("assertions") or []
                  if v.get("error") and v.get("error") != result["error"]]
        return lines
    return [f"{v['type']}: {v.get('reason') or 'failed'}"
            for v in result.get("assertions") or [] if not v.get("pass")]


def _ci_text(entry: Mapping[str, Any]) -> str:
    ci = entry.get("pass_rate_ci")
    return f"{percent(ci[0])}-{percent(ci[1])}" if ci else NA


def _title(document: Mapping[str, Any]) -> str:
    run = document["run"]
    return f"Eval run {run['id']}" + (f": {run['description']}" if run.get("description")
                                      else "")


def _scope(document: Mapping[str, Any]) -> str:
    run = document["run"]
    cases = "case" if run["cases"] == 1 else "cases"
    repeats = f" x {run['repeats']} repeats" if run.get("repeats", 1) > 1 else ""
    state = "complete" if run["complete"] else "incomplete"
    judge = f"; judge {run['judge']}" if run.get("judge") else ""
    return f"{run['cases']} {cases}{repeats}, {state}{judge}"


_COLUMNS = ("target", "pass rate", "95% CI", "passed", "failed", "errors", "latency p50",
            "latency p95", "TTFT p50", "tok/s", "cost/case", "per 1,000 cases", "energy/case")


_TERMINAL_COLUMNS = ("target", "pass rate", "95% CI", "passed", "failed", "errors",
                     "latency p50", "tok/s", "cost/case")


def _row(entry: Mapping[str, Any]) -> list[str]:
    if entry.get("skipped") and not entry.get("trials"):
        return [str(entry["target"]), SKIPPED] + [""] * (len(_COLUMNS) - 2)
    return [str(entry["target"]), percent(entry.get("pass_rate")), _ci_text(entry),
            str(entry.get("passed", 0)), str(entry.get("failed", 0)),
            str(entry.get("errors", 0)), format_ms(entry.get("total_ms_p50")),
            format_ms(entry.get("total_ms_p95")), format_ms(entry.get("ttft_ms_p50")),
            rate_value(entry.get("gen_tokens_per_s_median")),
            answer_cost(entry.get("cost_per_case")), money(entry.get("cost_per_1000")),
            format_energy(entry.get("energy_j_per_case"))]


def comparison_texts(document: Mapping[str, Any]) -> list[str]:
    """The paired differences' sentences, each followed by its LoRA adapter's sentence where
    the two targets are one model with and without adapters."""
    texts = []
    for comparison in document["comparisons"]:
        texts.append(str(comparison["text"]))
        adapter = comparison.get("adapter")
        if adapter:
            texts.append(str(adapter["text"]))
    return texts


def _decision_lines(document: Mapping[str, Any]) -> list[str]:
    decision = document.get("decision")
    return list(decision.get("lines") or []) if decision else []


def short_target(target: str) -> str:
    """A target as a person reads it: ``local:`` and the file's name, not its whole path (its
    LoRA adapters' too: ``local:model.gguf+lora:adapter.gguf@0.8``)."""
    if target.startswith("local:"):
        try:
            spec = parse_target(target)
        except BadInput:
            return "local:" + Path(target[len("local:"):]).name
        return "local:" + local_label(spec.model, spec.loras)
    return target


def shortened(lines: list[str], document: Mapping[str, Any]) -> list[str]:
    """``lines`` with every local target's path cut to its file name (when that stays
    unambiguous: two files of one name in different folders keep their paths)."""
    names = [str(t["target"]) for t in document["targets"]]
    short = {n: short_target(n) for n in names}
    if len(set(short.values())) != len(short):
        return lines
    pairs = sorted(((n, s) for n, s in short.items() if n != s), key=lambda p: -len(p[0]))
    out = []
    for line in lines:
        for name, replacement in pairs:
            line = line.replace(name, replacement)
        out.append(line)
    return out


def text_lines(document: Mapping[str, Any]) -> list[str]:
    """The run for the terminal: a table per target, the comparisons, the decision (plain text:
    the caller makes it terminal-safe); local targets by their file names."""
    names = {str(t["target"]): short_target(str(t["target"])) for t in document["targets"]}
    if len(set(names.values())) == len(names):  # the table's widths follow the short names
        document = {**document, "targets": [{**t, "target": names[str(t["target"])]}
                                            for t in document["targets"]]}
        return shortened(_text_lines(document), {"targets": [{"target": n} for n in names]})
    return _text_lines(document)


def _text_lines(document: Mapping[str, Any]) -> list[str]:
    keep = [_COLUMNS.index(c) for c in _TERMINAL_COLUMNS]
    rows = [[row[i] for i in keep] for row in
            [list(_COLUMNS)] + [_row(e) for e in document["targets"]]]
    widths = [max(len(row[i]) for row in rows) for i in range(len(keep))]
    lines = [_title(document), _scope(document), ""]
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
              for row in rows]
    skipped = [e for e in document["targets"] if e.get("skipped")]
    lines += [f"skipped {e['target']}: {e.get('reason')}" for e in skipped]
    if document["comparisons"]:
        lines += ["", "Paired differences:"] + [f"  {text}" for text in
                                                  comparison_texts(document)]
    decision = _decision_lines(document)
    if decision:
        lines += ["", "Decision:"] + [f"  {line}" for line in decision]
    lines += ["", f"all figures: workbench eval show {document['run']['id']} --json"]
    return lines


def write_json(document: Mapping[str, Any], path: Path) -> Path:
    """The document as JSON (atomic)."""
    text = json.dumps(document, indent=1, ensure_ascii=False, default=str) + "\n"
    return write_text_atomic(Path(path), text)


# -- HTML --------------------------------------------------------------------------------------
def _e(value: Any) -> str:
    """Untrusted text as HTML text or attribute (control characters dropped)."""
    return html.escape(_x(value), quote=True)


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:1.5rem;color:#1b1b1b;
background:#fff}h1{font-size:1.4rem}h2{font-size:1.15rem;margin-top:2rem}
table{border-collapse:collapse;margin:.5rem 0}th,td{border:1px solid #ccc;padding:.25rem .5rem;
text-align:left;vertical-align:top}th{background:#f2f2f2}td.num{text-align:right}
.PASS{background:#d8f0d8;color:#0b4d0b}.FAIL{background:#f7d4d4;color:#7a0d0d}
.ERROR{background:#fbe8c0;color:#6b4600}.SKIPPED{background:#e8e8e8;color:#444}
summary{cursor:pointer;font-weight:600}pre{white-space:pre-wrap;word-break:break-word;
background:#f7f7f7;padding:.4rem;max-width:60rem}ul.verdicts{margin:.3rem 0;padding-left:1.2rem}
.muted{color:#555}svg text{font-size:12px;font-family:inherit}
"""


def _chart(targets: Sequence[Mapping[str, Any]]) -> str:
    """Horizontal bars of the pass rates with their 95% intervals as whiskers (inline SVG)."""
    rated = [t for t in targets if t.get("pass_rate") is not None]
    if not rated:
        return "<p class='muted'>No pass rate to chart.</p>"
    label_w, bar_w, row_h = 220, 420, 26
    height = row_h * len(rated) + 30
    parts = [f"<svg role='img' aria-label='pass rates with 95% intervals' width='"
             f"{label_w + bar_w + 80}' height='{height}' viewBox='0 0 {label_w + bar_w + 80} "
             f"{height}'>"]
    for tick in range(0, 101, 20):
        x = label_w + bar_w * tick / 100
        parts.append(f"<line x1='{x:.1f}' y1='0' x2='{x:.1f}' y2='{height - 20}' "
                     "stroke='#ddd'/>")
        parts.append(f"<text x='{x:.1f}' y='{height - 6}' text-anchor='middle'>{tick}%</text>")
    for i, target in enumerate(rated):
        y = i * row_h + 4
        width = bar_w * float(target["pass_rate"])
        name = str(target["target"])
        short = name if len(name) <= 32 else name[:31] + "…"
        parts.append(f"<text x='{label_w - 6}' y='{y + 14}' text-anchor='end'>"
                     f"<title>{_e(name)}</title>{_e(short)}</text>")
        parts.append(f"<rect x='{label_w}' y='{y}' width='{width:.1f}' height='18' "
                     "fill='#5b8fd6'/>")
        ci = target.get("pass_rate_ci")
        if ci:
            low, high = label_w + bar_w * ci[0], label_w + bar_w * ci[1]
            mid = y + 9
            parts.append(f"<line x1='{low:.1f}' y1='{mid}' x2='{high:.1f}' y2='{mid}' "
                         "stroke='#1b1b1b' stroke-width='1.5'/>")
            for x in (low, high):
                parts.append(f"<line x1='{x:.1f}' y1='{mid - 5}' x2='{x:.1f}' y2='{mid + 5}' "
                             "stroke='#1b1b1b' stroke-width='1.5'/>")
        parts.append(f"<text x='{label_w + bar_w + 6}' y='{y + 14}'>"
                     f"{_e(percent(target['pass_rate']))}</text>")
    parts.append("</svg>")
    return "".join(parts)


def _summary_table(targets: Sequence[Mapping[str, Any]]) -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in _COLUMNS)
    rows = []
    for entry in targets:
        cells = _row(entry)
        first = f"<td>{_e(cells[0])}</td>"
        if entry.get("skipped") and not entry.get("trials"):
            rows.append(f"<tr>{first}<td class='SKIPPED' colspan='{len(_COLUMNS) - 1}'>"
                        f"SKIPPED: {_e(entry.get('reason'))}</td></tr>")
            continue
        rest = "".join(f"<td class='num'>{_e(c)}</td>" for c in cells[1:])
        rows.append(f"<tr>{first}{rest}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _answer_details(result: Mapping[str, Any], repeats: int) -> str:
    word = outcome_word(result.get("pass"))
    label = word + (f" (repeat {result['repeat'] + 1})" if repeats > 1 else "")
    verdicts = "".join(
        f"<li class='{outcome_word(None if v.get('error') else v.get('pass'))}'>"
        f"{_e(v.get('type'))}: {_e(outcome_word(None if v.get('error') else v.get('pass')))}"
        f" (score {_e(round(float(v.get('score') or 0.0), 3))}) {_e(v.get('reason'))}"
        + (f" [error: {_e(v.get('error'))}]" if v.get("error") else "") + "</li>"
        for v in result.get("assertions") or [])
    error = (f"<p class='ERROR'>error: {_e(result.get('error'))}</p>"
             if result.get("error") else "")
    text = str(result.get("text") or "")
    if len(text) > HTML_TEXT_CHARS:
        text = text[:HTML_TEXT_CHARS] + f"… ({len(text) - HTML_TEXT_CHARS:,} more characters)"
    figures = (f"latency {format_ms(result.get('total_ms'))}, TTFT "
               f"{format_ms(result.get('ttft_ms'))}, cost {answer_cost(result.get('cost_usd'))}")
    return (f"<details><summary class='{word}'>{_e(label)}</summary>{error}"
            f"<pre>{_e(text)}</pre><p class='muted'>{_e(figures)}</p>"
            f"<ul class='verdicts'>{verdicts}</ul></details>")


def _matrix(document: Mapping[str, Any]) -> str:
    targets = [str(t) for t in document["run"]["targets"]]
    extra = sorted({r["target"] for c in document["cases"] for r in c["results"]} - set(targets))
    targets += extra
    repeats = int(document["run"].get("repeats") or 1)
    skipped = {e["target"] for e in document["targets"] if e.get("skipped")}
    head = "<th>case</th>" + "".join(f"<th>{_e(t)}</th>" for t in targets)
    rows = []
    for case in document["cases"]:
        description = (f"<br><span class='muted'>{_e(case['description'])}</span>"
                       if case.get("description") else "")
        tags = (f"<br><span class='muted'>tags: {_e(', '.join(case['tags']))}</span>"
                if case.get("tags") else "")
        vars_text = json.dumps(case.get("vars") or {}, indent=1, ensure_ascii=False)
        first = (f"<td><details><summary>{_e(case['id'])}</summary><pre>{_e(vars_text)}</pre>"
                 f"</details>{description}{tags}</td>")
        cells = []
        for target in targets:
            mine = sorted((r for r in case["results"] if r["target"] == target),
                          key=lambda r: r["repeat"])
            if not mine:
                word = SKIPPED if target in skipped else "not run"
                cells.append(f"<td class='{SKIPPED}'>{_e(word)}</td>")
                continue
            words = {outcome_word(r.get("pass")) for r in mine}
            tone = words.pop() if len(words) == 1 else ""
            cells.append(f"<td class='{tone}'>"
                         + "".join(_answer_details(r, repeats) for r in mine) + "</td>")
        rows.append(f"<tr>{first}{''.join(cells)}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def render_html(document: Mapping[str, Any]) -> str:
    """The report as one self-contained HTML page (no script, nothing loaded from elsewhere)."""
    run = document["run"]
    comparisons = "".join(f"<li>{_e(text)}</li>" for text in comparison_texts(document))
    decision = "".join(f"<li>{_e(line)}</li>" for line in _decision_lines(document))
    suite = (f"<p class='muted'>suite {_e(run.get('suite') or '(stored text)')}, sha256 "
             f"{_e(run.get('sha256') or NA)}</p>")
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{_e(_title(document))}</title><style>{_CSS}</style></head><body>"
        f"<h1>{_e(_title(document))}</h1><p>{_e(_scope(document))}</p>{suite}"
        f"<h2>Pass rates (95% intervals)</h2>{_chart(document['targets'])}"
        f"<h2>Summary</h2>{_summary_table(document['targets'])}"
        + (f"<h2>Paired differences</h2><ul>{comparisons}</ul>" if comparisons else "")
        + (f"<h2>Decision</h2><ul>{decision}</ul>" if decision else "")
        + "<h2>Cases</h2><p class='muted'>Click a result for the answer and its verdicts.</p>"
        f"{_matrix(document)}</body></html>\n")


def write_html(document: Mapping[str, Any], path: Path) -> Path:
    return write_text_atomic(Path(path), render_html(document))


# -- JUnit XML ---------------------------------------------------------------------------------
def _x(value: Any) -> str:
    """Text XML 1.0 can hold (control characters from a model's output are dropped)."""
    return _XML_INVALID.sub("", "" if value is None else str(value))


def _seconds(ms: Any) -> str:
    return f"{(float(ms) if ms else 0.0) / 1000:.3f}"


def _testcase(suite_el: ET.Element, case: Mapping[str, Any], result: Mapping[str, Any] | None,
              target: str, repeats: int, skipped: str = "skipped") -> str:
    """One <testcase>; ``result`` None: the target was skipped (``skipped``: why)."""
    name = f"case {case['id']}" + (f": {case['description']}" if case.get("description") else "")
    if result is not None and repeats > 1:
        name += f" (repeat {result['repeat'] + 1})"
    element = ET.SubElement(suite_el, "testcase", {
        "name": _x(name), "classname": _x(f"workbench.eval.{target}"),
        "time": _seconds(result.get("total_ms") if result else None)})
    if result is None:
        ET.SubElement(element, "skipped", {"message": _x(skipped)})
        return SKIPPED
    word = outcome_word(result.get("pass"))
    reasons = _reasons(result)
    if word != PASS:
        tag, kind = ("failure", "assertion") if word == FAIL else (
            "error", str(result.get("error_kind") or "error"))
        problem = ET.SubElement(element, tag, {"message": _x(reasons[0] if reasons else word),
                                               "type": _x(kind)})
        problem.text = _x("\n".join(reasons))
    ET.SubElement(element, "system-out").text = _x(result.get("text") or "")
    return word


def _testsuite(root: ET.Element, document: Mapping[str, Any], target: str,
               entry: Mapping[str, Any]) -> dict[str, float]:
    suite_el = ET.SubElement(root, "testsuite", {"name": _x(target)})
    props = ET.SubElement(suite_el, "properties")
    for key in ("model", "provider", "destination", "pass_rate"):
        if entry.get(key) is not None:
            ET.SubElement(props, "property", {"name": key, "value": _x(entry[key])})
    repeats = int(document["run"].get("repeats") or 1)
    counts = {PASS: 0, FAIL: 0, ERROR: 0, SKIPPED: 0}
    seconds = 0.0
    for case in document["cases"]:
        mine = sorted((r for r in case["results"] if r["target"] == target),
                      key=lambda r: r["repeat"])
        if not mine and entry.get("skipped"):
            counts[_testcase(suite_el, case, None, target, repeats,
                             str(entry.get("reason") or "skipped"))] += 1
        for result in mine:
            counts[_testcase(suite_el, case, result, target, repeats)] += 1
            seconds += float(result.get("total_ms") or 0.0) / 1000
    totals = {"tests": float(sum(counts.values())), "failures": float(counts[FAIL]),
              "errors": float(counts[ERROR]), "skipped": float(counts[SKIPPED]),
              "time": seconds}
    _set_counts(suite_el, totals)
    return totals


def _set_counts(element: ET.Element, totals: Mapping[str, float]) -> None:
    element.attrib.update({name: str(int(totals[name]))
                           for name in ("tests", "failures", "errors", "skipped")})
    element.set("time", f"{totals['time']:.3f}")


def junit_tree(document: Mapping[str, Any]) -> ET.ElementTree:
    """One <testsuite> per target, one <testcase> per case and repeat (JUnit XML as CI
    systems read it: failures for failed assertions, errors for errors)."""
    run = document["run"]
    root = ET.Element("testsuites", {"name": _x(_title(document))})
    by_name = {str(e["target"]): e for e in document["targets"]}
    names = [str(t) for t in run["targets"]]
    names += [t for t in by_name if t not in names]
    totals = {"tests": 0.0, "failures": 0.0, "errors": 0.0, "skipped": 0.0, "time": 0.0}
    for target in names:
        for key, value in _testsuite(root, document, target, by_name.get(target, {})).items():
            totals[key] += value
    _set_counts(root, totals)
    return ET.ElementTree(root)


def render_junit(document: Mapping[str, Any]) -> str:
    root = junit_tree(document).getroot()
    assert root is not None
    ET.indent(root, space=" ")
    body: str = ET.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"


def write_junit(document: Mapping[str, Any], path: Path) -> Path:
    return write_text_atomic(Path(path), render_junit(document))


# -- Markdown ----------------------------------------------------------------------------------
def _no_markup(text: str) -> str:
    """``&`` and ``<`` as entities: no HTML tag or entity of the text's own survives."""
    return text.replace("&", "&amp;").replace("<", "&lt;")


def md_cell(value: Any, limit: int = MARKDOWN_CELL_CHARS) -> str:
    """Text safe in a Markdown table cell: no HTML, ``|`` escaped, newlines as <br>."""
    text = "" if value is None else str(value)
    if len(text) > limit:
        text = text[:limit] + "…"
    text = _no_markup(text).replace("\\", "\\\\").replace("|", "\\|")
    return re.sub(r"\r\n|\r|\n", "<br>", text)


def md_text(value: Any) -> str:
    """Text safe as a Markdown line: no HTML, on one line."""
    return re.sub(r"\s*[\r\n]+\s*", " ", _no_markup("" if value is None else str(value)))


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(md_cell(h) for h in header) + " |",
             "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in rows]
    return lines


def render_markdown(document: Mapping[str, Any]) -> str:
    run = document["run"]
    lines = [f"# {md_text(_title(document))}", "", md_text(_scope(document)) + ".", ""]
    if run.get("suite"):
        lines += [f"Suite: {md_text(run['suite'])} (sha256 {md_text(run.get('sha256'))})", ""]
    lines += ["## Targets", ""]
    lines += _md_table(_COLUMNS, [_row(e) for e in document["targets"]])
    for entry in document["targets"]:
        if entry.get("skipped"):
            lines += ["", f"- skipped {md_text(entry['target'])}: {md_text(entry.get('reason'))}"]
    if document["comparisons"]:
        lines += ["", "## Paired differences", ""]
        lines += [f"- {md_text(text)}" for text in comparison_texts(document)]
    decision = _decision_lines(document)
    if decision:
        lines += ["", "## Decision", ""] + [f"- {md_text(line)}" for line in decision]
    failing = [(case, r) for case in document["cases"] for r in case["results"]
               if r.get("pass") is not True]
    lines += ["", "## Failing cases", ""]
    if not failing:
        lines.append("None: every answer passed.")
    else:
        rows = [[str(case["id"]), str(case.get("description") or ""), str(r["target"]),
                 str(r["repeat"] + 1), outcome_word(r.get("pass")), "\n".join(_reasons(r))]
                for case, r in failing[:MARKDOWN_FAILING_ROWS]]
        lines += _md_table(("case", "description", "target", "repeat", "result", "why"), rows)
        if len(failing) > MARKDOWN_FAILING_ROWS:
            lines += ["", f"... and {len(failing) - MARKDOWN_FAILING_ROWS} more (the JSON or "
                      "HTML report has them all)."]
    return "\n".join(lines) + "\n"


def write_markdown(document: Mapping[str, Any], path: Path) -> Path:
    return write_text_atomic(Path(path), render_markdown(document))
