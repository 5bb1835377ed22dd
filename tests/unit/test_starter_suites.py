"""The starter suites (resources/evals/): they load, they only use assertions that need no judge,
and they can tell a right answer from a wrong one. Every case keeps a correct answer
(``metadata.reference``) that must pass all its assertions and a plausible wrong one
(``metadata.wrong``) that must fail at least one; generic non-answers must fail every case.
Plus ``copy_starter``, which copies a suite for the user to edit without overwriting anything."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from workbench.errors import BadInput
from workbench.evals import starters
from workbench.evals.assertions import MODEL_GRADED, grade, outcome
from workbench.evals.model import Case, Suite
from workbench.evals.starters import Starter, copy_starter, starter_suites
from workbench.evals.suite import load_suite
from workbench.evals.templating import render
from workbench.providers.base import AnswerResult

NAMES = ("classification", "extraction", "summarisation", "qa", "code")
# checks on the answer's text alone: no judge, no embeddings, nothing about the target
TEXT_TYPES = frozenset({"equals", "contains", "icontains", "contains-any", "icontains-any",
                        "contains-all", "icontains-all", "starts-with", "regex", "is-json",
                        "contains-json", "levenshtein", "word-count", "length"})
NON_ANSWERS = ("", "I don't know.", "Sorry, I cannot help with that.", "lorem ipsum dolor")
LABELS = ("positive", "negative", "neutral")


def answer(text: str) -> AnswerResult:
    return AnswerResult(target="local:model.gguf", label="model", provider="local",
                        model="model", destination="this machine", text=text,
                        finish_reason="stop")


def passes(case: Case, text: str) -> bool | None:
    verdicts = grade(case, answer(text), grader=None)
    assert len(verdicts) == len(case.assertions)
    assert all(v.error is None for v in verdicts), [v.error for v in verdicts]
    return outcome(verdicts, case)[0]


def failing(case: Case, text: str) -> list[str]:
    verdicts = grade(case, answer(text), grader=None)
    return [f"{v.type}: {v.reason}" for v in verdicts if not v.passed]


def suite(name: str) -> Suite:
    return load_suite(starters.starters_dir() / f"{name}.yaml")


def all_cases() -> list[tuple[str, Case]]:
    return [(name, case) for name in NAMES for case in suite(name).cases]


CASES = all_cases()
CASE_IDS = [f"{name}-{case.id}" for name, case in CASES]


# -- the list ---------------------------------------------------------------------------------

def test_the_five_task_types_are_listed_in_order() -> None:
    found = starter_suites()
    assert [s.name for s in found] == list(NAMES)
    assert [s.title for s in found] == ["Classification", "Structured extraction",
                                        "Summarisation", "Question answering", "Small code tasks"]
    for starter in found:
        assert starter.path.is_file() and starter.path.parent == starters.starters_dir()
        assert starter.description[:1].isupper() and len(starter.description) > 40
        assert ": " not in starter.description[:len(starter.title) + 2]


@pytest.mark.parametrize("name", NAMES)
def test_a_suite_loads_with_ten_to_twenty_cases(name: str) -> None:
    loaded = suite(name)
    assert 10 <= len(loaded.cases) <= 20
    listed = next(s for s in starter_suites() if s.name == name)
    assert loaded.description.startswith(f"{listed.title}: ")
    assert len({c.id for c in loaded.cases}) == len(loaded.cases)
    assert loaded.targets == ()  # the user picks the targets: nothing machine-specific
    for case in loaded.cases:
        assert case.assertions, f"case {case.id} has no assertion"
        assert case.description and case.tags


@pytest.mark.parametrize("name", NAMES)
def test_only_deterministic_assertions_so_no_judge_is_needed(name: str) -> None:
    types = {a.type for case in suite(name).cases for a in case.assertions}
    assert types <= TEXT_TYPES, types - TEXT_TYPES
    assert not types & MODEL_GRADED


@pytest.mark.parametrize("name", NAMES)
def test_every_prompt_renders_with_its_case_vars(name: str) -> None:
    for case in suite(name).cases:
        rendered = [render(text, case.vars) for _role, text in case.prompt.messages]
        assert rendered[-1].strip()
        assert "{{" not in "".join(rendered)
        for value in case.vars.values():  # every var reaches the model
            assert str(value) in "".join(rendered)


def test_chat_prompts_with_a_system_message_and_a_csv_case_file() -> None:
    with_system = [n for n in NAMES if suite(n).cases[0].prompt.messages[0][0] == "system"]
    assert len(with_system) >= 2
    text = (starters.starters_dir() / "classification.yaml").read_text(encoding="utf-8")
    assert "tests: file://classification_cases.csv" in text
    with (starters.starters_dir() / "classification_cases.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(suite("classification").cases)
    assert all(row["__expected1"].startswith("icontains: ") for row in rows)


# -- right and wrong answers ------------------------------------------------------------------

@pytest.mark.parametrize(("name", "case"), CASES, ids=CASE_IDS)
def test_the_reference_answer_passes_every_assertion(name: str, case: Case) -> None:
    reference = case.metadata.get("reference")
    assert isinstance(reference, str) and reference.strip()
    assert failing(case, reference) == []
    assert passes(case, reference) is True
    assert passes(case, f"\n{reference}\n") is True  # whitespace around it changes nothing


@pytest.mark.parametrize(("name", "case"), CASES, ids=CASE_IDS)
def test_a_plausible_wrong_answer_fails(name: str, case: Case) -> None:
    wrong = case.metadata.get("wrong")
    assert isinstance(wrong, str) and wrong.strip() and wrong != case.metadata["reference"]
    assert passes(case, wrong) is False
    assert failing(case, wrong)


@pytest.mark.parametrize(("name", "case"), CASES, ids=CASE_IDS)
def test_a_non_answer_fails(name: str, case: Case) -> None:
    for text in NON_ANSWERS:
        assert passes(case, text) is False, text


def test_classification_labels_are_balanced_and_each_rejects_the_others() -> None:
    cases = suite("classification").cases
    by_label = {label: [c for c in cases if c.metadata["reference"] == label]
                for label in LABELS}
    assert all(len(found) >= 3 for found in by_label.values())
    assert sum(len(found) for found in by_label.values()) == len(cases)
    for label, found in by_label.items():
        for case in found:
            assert passes(case, label.capitalize() + ".") is True
            for other in LABELS:
                if other != label:
                    assert passes(case, other) is False
                    assert passes(case, f"{label} or {other}") is False  # hedging fails


def test_extraction_references_are_json_and_pii_cases_are_tagged() -> None:
    cases = suite("extraction").cases
    for case in cases:
        assert isinstance(json.loads(case.metadata["reference"]), dict)
        # the same answer inside a code fence is not "JSON only"
        fenced = f"```json\n{case.metadata['reference']}\n```"
        assert passes(case, fenced) is False
    assert sum("pii" in case.tags for case in cases) >= 2


def test_qa_has_unanswerable_questions_that_reject_a_guess() -> None:
    cases = suite("qa").cases
    unanswerable = [c for c in cases if "unanswerable" in c.tags]
    assert 3 <= len(unanswerable) < len(cases) / 2
    for case in unanswerable:
        assert passes(case, "The passage does not say.") is True
        assert passes(case, "It isn't mentioned in the passage.") is True
    for case in cases:
        if "unanswerable" not in case.tags:
            assert passes(case, "The passage does not say.") is False


def test_summaries_over_the_length_limit_fail() -> None:
    for case in suite("summarisation").cases:
        reference = case.metadata["reference"]
        padded = reference + " It was a busy day." * 10
        assert passes(case, padded) is False


# -- copying a starter ------------------------------------------------------------------------

def test_copy_starter_copies_the_suite_and_its_case_file(tmp_path: Path) -> None:
    dest = tmp_path / "my suites"
    copied = copy_starter("classification", dest)
    assert copied == dest / "classification.yaml"
    assert sorted(p.name for p in dest.iterdir()) == ["classification.yaml",
                                                      "classification_cases.csv"]
    original = suite("classification")
    mine = load_suite(copied)
    assert [(c.id, c.vars, c.assertions) for c in mine.cases] == \
        [(c.id, c.vars, c.assertions) for c in original.cases]
    assert mine.sha256 == original.sha256  # byte for byte
    copied.write_text(copied.read_text(encoding="utf-8") + "\n# mine\n", encoding="utf-8")
    assert load_suite(copied).sha256 != original.sha256  # the copy is the user's to edit
    assert load_suite(starters.starters_dir() / "classification.yaml").sha256 == original.sha256


def test_copy_starter_never_overwrites_a_file(tmp_path: Path) -> None:
    (tmp_path / "qa.yaml").write_text("mine", encoding="utf-8")
    (tmp_path / "qa-2.yaml").write_text("mine too", encoding="utf-8")
    copied = copy_starter("qa", tmp_path)
    assert copied.name == "qa-3.yaml"
    assert (tmp_path / "qa.yaml").read_text(encoding="utf-8") == "mine"
    assert (tmp_path / "qa-2.yaml").read_text(encoding="utf-8") == "mine too"
    assert len(load_suite(copied).cases) == len(suite("qa").cases)


def test_a_second_copy_names_its_own_case_file(tmp_path: Path) -> None:
    first = copy_starter("classification", tmp_path)
    (tmp_path / "classification_cases.csv").write_text(
        "review,__expected\nedited by the user,icontains: positive\n", encoding="utf-8")
    second = copy_starter("classification", tmp_path)
    assert second.name == "classification-2.yaml"
    assert (tmp_path / "classification_cases-2.csv").is_file()
    assert "file://classification_cases-2.csv" in second.read_text(encoding="utf-8")
    assert len(load_suite(first).cases) == 1  # the user's edit is untouched
    assert len(load_suite(second).cases) == len(suite("classification").cases)


def test_copy_starter_refuses_an_unknown_name_or_a_file_as_folder(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match=r"no starter suite named '\.\./qa'.*classification"):
        copy_starter("../qa", tmp_path)
    a_file = tmp_path / "a-file"
    a_file.write_text("x", encoding="utf-8")
    with pytest.raises(BadInput):
        copy_starter("qa", a_file)
    assert a_file.read_text(encoding="utf-8") == "x"
    shipped = sorted(p.name for p in starters.starters_dir().iterdir())
    with pytest.raises(BadInput, match="starter suites themselves"):
        copy_starter("qa", starters.starters_dir())
    assert sorted(p.name for p in starters.starters_dir().iterdir()) == shipped


def test_a_folder_of_other_suites(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Titles fall back to the file name; only plain names next to the suite are copied."""
    folder = tmp_path / "evals"
    folder.mkdir()
    (folder / "secret.csv").write_text("x\n", encoding="utf-8")
    (tmp_path / "outside.csv").write_text("x\n", encoding="utf-8")
    (folder / "my_suite.yaml").write_text(
        "description: checks without a colon\nprompts: ['{{x}}']\n"
        "tests: [file://../outside.csv, file://cases.csv]\n", encoding="utf-8")
    (folder / "cases.csv").write_text("x,__expected\nhi,contains: hi\n", encoding="utf-8")
    (folder / "code.yaml").write_text("description: 'Code: small tasks'\n", encoding="utf-8")
    monkeypatch.setattr(starters, "starters_dir", lambda: folder)
    assert starter_suites() == [
        Starter("code", "Code", "Small tasks", folder / "code.yaml"),
        Starter("my_suite", "My suite", "checks without a colon", folder / "my_suite.yaml")]
    dest = tmp_path / "dest"
    copy_starter("my_suite", dest)
    assert sorted(p.name for p in dest.iterdir()) == ["cases.csv", "my_suite.yaml"]
