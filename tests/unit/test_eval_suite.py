"""The suite loader (promptfoo's promptfooconfig.yaml subset) and the prompt templates: every
form it reads, every error with its file and exact line, and hostile input."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
import yaml

from workbench.errors import BadInput
from workbench.evals import suite as suite_mod
from workbench.evals import templating
from workbench.evals.model import Assertion, SuiteError
from workbench.evals.suite import dump_suite, load_suite, map_provider, parse_suite
from workbench.evals.templating import render, variables
from workbench.evals.yaml_source import load_yaml

# A suite as promptfoo's documentation writes them (getting started, "translate" example).
PROMPTFOO = """\
# yaml-language-server: $schema=https://promptfoo.dev/config-schema.json
description: "My eval"

prompts:
  - "Translate the following text to French: {{input}}"
  - "Convert this English text to {{language}}: {{input}}"

providers:
  - openai:gpt-4.1-mini
  - anthropic:messages:claude-sonnet-4-20250514
  - id: openai:chat:qwen2.5-7b-instruct
    label: lm-studio
    config:
      apiBaseUrl: http://127.0.0.1:1234/v1
  - ollama:chat:llama3.2

defaultTest:
  vars:
    language: French
  assert:
    - type: not-icontains
      value: "as an ai"

tests:
  - description: "Greeting"
    vars:
      input: "Hello world"
    assert:
      - type: icontains
        value: bonjour
      - type: llm-rubric
        value: "is a correct French translation"
        weight: 2
        metric: accuracy
    metadata:
      tags: [greeting, short]
  - vars:
      input: "I am a pelican"
      language: Spanish
    assert:
      - type: contains-any
        value: [pelícano, pelicano]
      - type: similar
        value: "Soy un pelícano"
        threshold: 0.7
    threshold: 0.5
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def load(tmp_path: Path, text: str, name: str = "promptfooconfig.yaml"):
    return load_suite(write(tmp_path, name, text))


def error(tmp_path: Path, text: str, **files: str) -> SuiteError:
    for file_name, content in files.items():
        write(tmp_path, file_name.replace("__", "."), content)
    with pytest.raises(SuiteError) as caught:
        load(tmp_path, text)
    return caught.value


MINIMAL = 'prompts: ["Say {{word}}"]\ntests:\n  - vars: {word: hi}\n'


# -- templates ---------------------------------------------------------------------------------

def test_render_fills_vars_and_keeps_text_as_it_is() -> None:
    assert render("Hi {{ name }} & <b>{{name}}</b>!\n", {"name": "Ann"}) == (
        "Hi Ann & <b>Ann</b>!\n")
    assert render("{{ name | upper }} {{ items | join(', ') }} {{ n + 1 }}",
                  {"name": "ann", "items": ["a", "b"], "n": 41}) == "ANN a, b 42"


def test_render_writes_values_the_way_promptfoo_does() -> None:
    values = {"items": [1, "a"], "obj": {"k": "<v>", "n": [True, None]}, "yes": True,
              "none": None, "whole": 2.0, "half": 0.5}
    assert render("{{ items }}|{{ obj }}|{{ yes }}|{{ none }}|{{ whole }}|{{ half }}",
                  values) == '[1, "a"]|{"k": "<v>", "n": [true, null]}|true||2|0.5'
    # loops and filters see the real list; dump is Nunjucks' JSON filter
    assert render("{% for x in items %}[{{ x }}]{% endfor %} {{ obj | dump }}", values) == (
        '[1][a] {"k": "<v>", "n": [true, null]}')


def test_render_errors_are_bad_input_with_a_clear_line() -> None:
    with pytest.raises(BadInput, match="variable that is not set: 'missing' is undefined"):
        render("Hello {{ missing }}", {})
    with pytest.raises(BadInput, match="template syntax error"):
        render("Hello {{ name", {"name": "x"})
    with pytest.raises(BadInput, match="refused by the sandbox"):
        render("{{ ''.__class__.__mro__[1].__subclasses__() }}", {})
    with pytest.raises(BadInput, match="unsupported operand"):
        render("{{ 1 + 'a' }}", {})


@pytest.mark.parametrize("template", [
    "{{ 'x' * 10**9 }}",
    "{{ 'x' | center(1000000000) }}",
    "{{ '%0999999999d' % 1 }}",
    "{{ '{:>999999999}'.format(1) }}",
    "{% set ns = namespace(x='xx') %}{% for i in range(40) %}{% set ns.x = ns.x ~ ns.x %}"
    "{% endfor %}{{ ns.x }}",
    "{% for i in range(99999) %}{{ 'x' * 99 }}{% endfor %}",
])
def test_render_refuses_to_build_huge_text(template) -> None:
    started = time.monotonic()
    with pytest.raises(BadInput, match="refused"):
        render(template, {})
    assert time.monotonic() - started < 5


def test_variables_are_the_ones_a_case_must_set() -> None:
    assert variables("{{ a }} {{ b.c }} {% set d = 1 %}{{ d }} {% for x in e %}{{ x }}"
                     "{% endfor %} {{ range(3) | list }} {{ f | default('z') }}") == {
        "a", "b", "e", "f"}
    with pytest.raises(BadInput, match="syntax"):
        variables("{% for %}")


def test_compiled_templates_are_cached(tmp_path) -> None:
    template = "Unique template for the cache test: {{ q }}"
    before = templating._compile.cache_info()
    for n in range(50):
        assert render(template, {"q": n}) == f"Unique template for the cache test: {n}"
    after = templating._compile.cache_info()
    assert after.misses == before.misses + 1 and after.hits >= before.hits + 49


# -- a real promptfoo suite --------------------------------------------------------------------

def test_a_promptfoo_suite(tmp_path) -> None:
    suite = load(tmp_path, PROMPTFOO)
    assert suite.description == "My eval" and suite.text == PROMPTFOO
    assert suite.path == tmp_path / "promptfooconfig.yaml" and len(suite.sha256) == 64
    assert [(t.spec, t.label, t.line) for t in suite.targets] == [
        ("openai:gpt-4.1-mini", "openai:gpt-4.1-mini", 9),
        ("anthropic:claude-sonnet-4-20250514", "anthropic:messages:claude-sonnet-4-20250514",
         10),
        ("openai:qwen2.5-7b-instruct@http://127.0.0.1:1234/v1", "lm-studio", 11),
        ("profile:ollama/llama3.2", "ollama:chat:llama3.2", 15),
    ]
    labels = ["Translate the following text to French:…",
              "Convert this English text to {{language…"]
    assert [len(label) for label in labels] == [40, 40]
    assert [c.id for c in suite.cases] == [f"{n}/{label}" for n in (1, 2) for label in labels]
    first, _, second, _ = suite.cases
    assert first.prompt.messages == (("user", "Translate the following text to French: "
                                               "{{input}}"),)
    assert first.prompt.line == 5 and first.prompt.label == labels[0]
    assert first.vars == {"language": "French", "input": "Hello world"}
    assert first.description == "Greeting" and first.tags == ("greeting", "short")
    assert first.line == 25 and first.index == 1 and first.threshold is None
    assert first.assertions == (
        Assertion("icontains", negate=True, value="as an ai", line=21),
        Assertion("icontains", value="bonjour", line=29),
        Assertion("llm-rubric", value="is a correct French translation", weight=2.0,
                  metric="accuracy", line=31),
    )
    assert second.vars == {"language": "Spanish", "input": "I am a pelican"}
    assert second.threshold == 0.5 and second.line == 37
    assert [a.written_type for a in second.assertions] == [
        "not-icontains", "contains-any", "similar"]
    assert second.assertions[1].value == ["pelícano", "pelicano"]
    assert second.assertions[2].threshold == 0.7
    assert suite.judge is None


def test_one_prompt_gives_plain_case_ids(tmp_path) -> None:
    suite = load(tmp_path, MINIMAL + "  - vars: {word: bye}\n")
    assert [c.id for c in suite.cases] == ["1", "2"]
    assert suite.targets == ()


# -- prompts -----------------------------------------------------------------------------------

def test_every_prompt_form(tmp_path) -> None:
    write(tmp_path, "prompts/plain.txt", "Answer briefly: {{q}}\n")
    write(tmp_path, "prompts/several.txt", "First {{q}}\n---\nSecond {{q}}\n")
    write(tmp_path, "prompts/chat.json", json.dumps([
        {"role": "system", "content": "You are terse."}, {"role": "user", "content": "{{q}}"}]))
    write(tmp_path, "prompts/chat.yaml", "- role: system\n  content: Be kind.\n"
                                         "- role: user\n  content: '{{q}}'\n")
    suite = load(tmp_path, """\
prompts:
  - file://prompts/plain.txt
  - file://prompts/several.txt
  - id: file://prompts/chat.json
    label: json chat
  - file://prompts/chat.yaml
  - raw: "Raw {{q}}"
    label: raw one
  - '[{"role": "system", "content": "JSON string"}, {"role": "user", "content": "{{q}}"}]'
  - - role: system
      content: Inline system
    - role: assistant
      content: "Earlier answer"
    - role: user
      content: "{{q}}"
tests:
  - vars: {q: why}
""")
    prompts = [c.prompt for c in suite.cases]
    assert [p.label for p in prompts] == [
        "prompts/plain.txt", "First {{q}}", "Second {{q}}", "json chat", "prompts/chat.yaml",
        "raw one", "JSON string / {{q}}", "Inline system / Earlier answer / {{q}}"]
    assert [p.messages for p in prompts] == [
        (("user", "Answer briefly: {{q}}\n"),),
        (("user", "First {{q}}"),),
        (("user", "Second {{q}}\n"),),
        (("system", "You are terse."), ("user", "{{q}}")),
        (("system", "Be kind."), ("user", "{{q}}")),
        (("user", "Raw {{q}}"),),
        (("system", "JSON string"), ("user", "{{q}}")),
        (("system", "Inline system"), ("assistant", "Earlier answer"), ("user", "{{q}}")),
    ]
    assert prompts[-1].line == 10 and prompts[5].line == 7
    assert suite.cases[0].id == "1/prompts/plain.txt"


def test_a_single_chat_prompt_with_a_system_message(tmp_path) -> None:
    suite = load(tmp_path, """\
prompts:
  - role: system
    content: "You answer in {{language}} only."
  - role: user
    content: "{{question}}"
tests:
  - vars: {language: French, question: "Capital of Italy?"}
""")
    [case] = suite.cases
    assert case.id == "1" and case.prompt.line == 2
    assert case.prompt.messages == (("system", "You answer in {{language}} only."),
                                    ("user", "{{question}}"))
    assert [render(text, case.vars) for _, text in case.prompt.messages] == [
        "You answer in French only.", "Capital of Italy?"]


def test_prompt_labels_shortened_and_collisions_numbered(tmp_path) -> None:
    long = "Please summarise the following article in three sentences: {{text}}"
    suite = load(tmp_path, f"""\
prompts:
  - "{long}"
  - "{long} "
  - raw: "Other {{{{text}}}}"
    label: mine
tests:
  - vars: {{text: t}}
""")
    assert [c.prompt.label for c in suite.cases] == ["prompt 1", "prompt 2", "mine"]
    short = suite_mod._short(long)
    assert len(short) <= 40 and short.endswith("…")


def test_the_prompt_map_form(tmp_path) -> None:
    write(tmp_path, "a.txt", "A {{x}}")
    suite = load(tmp_path, "prompts:\n  file://a.txt: Prompt A\n  'B {{x}}': Prompt B\n"
                           "tests:\n  - vars: {x: 1}\n")
    assert [c.id for c in suite.cases] == ["1/Prompt A", "1/Prompt B"]


@pytest.mark.parametrize("text, line, words", [
    ("prompts:\n  - raw: a\n    label: same\n  - raw: b\n    label: same\n", 4,
     "two prompts are labelled 'same'"),
    ("prompts:\n  - - role: robot\n      content: hi\n", 2, "role 'robot' is not supported"),
    ("prompts:\n  - - role: user\n      content: [a, b]\n", 3, "content must be text"),
    ("prompts:\n  - - role: user\n      content: hi\n      name: bob\n", 4,
     "message key 'name' is not supported"),
    ("prompts:\n  - raw: hi\n    config: {}\n", 3, "prompt option 'config' is not supported"),
    ("prompts:\n  - 'Hello {{name'\n", 2, "template syntax error"),
    ("prompts:\n  - '   '\n", 2, "a prompt is empty"),
    ("prompts:\n  - file://x.py:main\n", 2, "does not run code"),
    ("prompts:\n  - file://prompt.js\n", 2, "does not run code"),
    ("prompts: 42\n", 1, "prompts must be a string or a list"),
    ("description: x\nprompts: []\n", 2, "no prompts"),
    ("description: x\n", 1, "no prompts"),
])
def test_prompt_errors_name_the_line(tmp_path, text, line, words) -> None:
    err = error(tmp_path, text + "tests:\n  - vars: {name: n}\n")
    assert err.line == line and words in err.detail, str(err)
    assert err.source == str(tmp_path / "promptfooconfig.yaml")
    assert str(err).startswith(f"{tmp_path / 'promptfooconfig.yaml'}:{line}: ")


def test_prompt_file_errors_point_into_that_file(tmp_path) -> None:
    err = error(tmp_path, "prompts:\n  - file://chat.yaml\ntests:\n  - vars: {}\n",
                chat__yaml="- role: user\n  content: hi\n- role: tool\n  content: x\n")
    assert (err.source, err.line) == (str(tmp_path / "chat.yaml"), 3)
    assert "role 'tool' is not supported" in err.detail
    err = error(tmp_path, "prompts:\n  - file://missing.txt\ntests:\n  - vars: {}\n")
    assert err.line == 2 and "no such file: missing.txt" in err.detail


# -- providers ---------------------------------------------------------------------------------

@pytest.mark.parametrize("entry, spec", [
    ("openai:gpt-4o-mini", "openai:gpt-4o-mini"),
    ("openai:chat:gpt-4o-mini", "openai:gpt-4o-mini"),
    ("openai:ft:gpt-4o-mini:org::abc", "openai:ft:gpt-4o-mini:org::abc"),
    ({"id": "openai:chat:m", "config": {"apiBaseUrl": "http://127.0.0.1:8080/v1/"}},
     "openai:m@http://127.0.0.1:8080/v1"),
    ({"id": "openai:m", "config": {"apiHost": "llm.example.com"}},
     "openai:m@https://llm.example.com/v1"),
    ("anthropic:messages:claude-haiku-4-5", "anthropic:claude-haiku-4-5"),
    ("anthropic:claude-haiku-4-5", "anthropic:claude-haiku-4-5"),
    ("ollama:chat:llama3.2:3b", "profile:ollama/llama3.2:3b"),
    ("ollama:qwen2.5", "profile:ollama/qwen2.5"),
    ({"id": "ollama:chat:qwen2.5", "config": {"apiBaseUrl": "http://gpu:11434"}},
     "openai:qwen2.5@http://gpu:11434/v1"),
    ("google:gemini-2.5-flash", "gemini:gemini-2.5-flash"),
    ("gemini:gemini-2.5-flash", "gemini:gemini-2.5-flash"),
    ("openrouter:meta-llama/llama-3.3-70b-instruct",
     "profile:openrouter/meta-llama/llama-3.3-70b-instruct"),
    ("togetherai:Qwen/Qwen2.5-7B", "profile:together/Qwen/Qwen2.5-7B"),
    ("profile:vllm/Qwen/Qwen2.5-7B-Instruct", "profile:vllm/Qwen/Qwen2.5-7B-Instruct"),
    ({"openai:gpt-4o": {"label": "four"}}, "openai:gpt-4o"),
])
def test_map_provider(entry, spec) -> None:
    target = map_provider(entry, line=7, source="s.yaml")
    assert target.spec == spec and target.line == 7
    expected_label = (entry.get("label") or entry.get("id")) if isinstance(entry, dict) else entry
    if isinstance(entry, dict) and "id" not in entry:
        expected_label = "four"
    assert target.label == expected_label


def test_local_paths_are_relative_to_the_suite_folder(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert map_provider("local:models/m.gguf", line=1, source="s",
                        base_dir=tmp_path).spec == f"local:{tmp_path / 'models' / 'm.gguf'}"
    assert map_provider("local:~/m.gguf", line=1, source="s").spec == (
        f"local:{tmp_path / 'home' / 'm.gguf'}")
    write(tmp_path, "suite/promptfooconfig.yaml", MINIMAL + "providers:\n  - local:q4.gguf\n")
    suite = load_suite(tmp_path / "suite" / "promptfooconfig.yaml")
    assert suite.targets[0].spec == f"local:{tmp_path / 'suite' / 'q4.gguf'}"
    assert suite.targets[0].label == "local:q4.gguf"


@pytest.mark.parametrize("entry, words", [
    ("bedrock:anthropic.claude-v2", "unknown provider 'bedrock:anthropic.claude-v2'; supported:"),
    ("echo", "unknown provider 'echo'"),
    ("python:provider.py", "does not run code"),
    ("file://provider.js", "does not run code"),
    ("exec:./run.sh", "does not run code"),
    ("openai:embedding:text-embedding-3-small", "only chat models"),
    ("openai:chat:", "the model is missing"),
    ({"id": "openai:m", "config": {"temperature": 0}}, "config 'temperature' is not supported"),
    ({"id": "openai:m", "config": {"apiKey": "sk-x"}}, "no keys in a suite file"),
    ({"id": "openai:m", "transform": "output.trim()"}, "provider option 'transform'"),
    ({"id": "anthropic:m", "config": {"apiBaseUrl": "http://x/v1"}}, "openai: and ollama:"),
    ({"id": "openai:m", "config": {"apiBaseUrl": "ftp://x/v1"}}, "must be http"),
    ({"label": "x"}, "needs an id"),
])
def test_unknown_providers_are_errors_with_the_line(entry, words) -> None:
    with pytest.raises(SuiteError) as caught:
        map_provider(entry, line=12, source="suite.yaml")
    assert words in caught.value.detail and caught.value.line == 12
    assert str(caught.value).startswith("suite.yaml:12: ")


def test_provider_errors_in_a_suite_and_the_targets_alias(tmp_path) -> None:
    err = error(tmp_path, MINIMAL + "providers:\n  - openai:gpt-4o\n  - azure:gpt-4o\n")
    assert err.line == 6 and "unknown provider 'azure:gpt-4o'" in err.detail
    err = error(tmp_path, MINIMAL + "providers:\n  - openai:gpt-4o\n  - openai:gpt-4o\n")
    assert err.line == 6 and "two providers are called 'openai:gpt-4o'" in err.detail
    err = error(tmp_path, MINIMAL + "providers: [openai:a]\ntargets: [openai:b]\n")
    assert err.line == 5 and "not both" in err.detail
    suite = load(tmp_path, MINIMAL + "targets:\n  - id: openai:a\n    label: A\n")
    assert [(t.spec, t.label, t.line) for t in suite.targets] == [("openai:a", "A", 5)]
    err = error(tmp_path, MINIMAL + "providers: {}\n")
    assert err.line == 4 and "a provider needs an id" in err.detail


# -- tests from files --------------------------------------------------------------------------

CSV = (
    "question,__expected,__expected2,__description,__metadata:tags,__metadata:langs[],"
    "__threshold\n"
    "Capital of France?,contains: Paris,not-icontains:london,capital,geo,\"fr,en\",0.5\n"
    "\"Two\nlines?\",icontains: x,regex: ^\\d+$,,,,\n"
    "Give JSON,is-json,,,,,\n"
    "Exact?,Yes,\"contains-any: a, b ,c\",,,,\n"
    ",,,,,,\n"
    "Close?,similar(0.7):near,levenshtein(3):near,,,,\n"
    "Rubric?,llm-rubric: is polite,not-starts-with:No,,,,\n"
)


def test_csv_cases_with_promptfoo_special_columns(tmp_path) -> None:
    write(tmp_path, "data/cases.csv", CSV)
    suite = load(tmp_path, "prompts: ['Q: {{question}}']\ntests: file://data/cases.csv\n")
    cases = suite.cases
    assert [c.line for c in cases] == [2, 3, 5, 6, 8, 9]
    first = cases[0]
    assert first.vars == {"question": "Capital of France?"}
    assert first.description == "capital" and first.tags == ("geo",)
    assert first.metadata == {"tags": "geo", "langs": ["fr", "en"]} and first.threshold == 0.5
    assert first.assertions == (Assertion("contains", value="Paris", line=2),
                                Assertion("icontains", negate=True, value="london", line=2))
    assert cases[1].vars == {"question": "Two\nlines?"}
    assert [(a.type, a.value) for a in cases[1].assertions] == [("icontains", "x"),
                                                                ("regex", r"^\d+$")]
    assert [(a.type, a.value) for a in cases[2].assertions] == [("is-json", None)]
    assert [(a.type, a.value) for a in cases[3].assertions] == [
        ("equals", "Yes"), ("contains-any", ["a", "b", "c"])]
    assert [(a.type, a.value, a.threshold) for a in cases[4].assertions] == [
        ("similar", "near", 0.7), ("levenshtein", "near", 3.0)]
    assert [a.written_type for a in cases[5].assertions] == ["llm-rubric", "not-starts-with"]
    assert cases[5].assertions[0].value == "is polite"


def test_csv_metric_config_and_bom(tmp_path) -> None:
    write(tmp_path, "c.csv", "\ufeffq,__expected,__metric,__config:__expected:threshold\n"
                             "a,similar:b,quality,0.9\n")
    [case] = load(tmp_path, "prompts: ['{{q}}']\ntests: [file://c.csv]\n").cases
    assert case.vars == {"q": "a"}
    assert case.assertions == (Assertion("similar", value="b", threshold=0.9, metric="quality",
                                         line=2),)


@pytest.mark.parametrize("content, line, words", [
    ("q,__prefix\na,b\n", 1, "CSV column '__prefix' is not supported"),
    ("q,q\na,b\n", 1, "CSV column 'q' appears twice"),
    ("q,\na,b\n", 1, "a CSV column has no name"),
    ("q,__expected\na,b\nc,d,e\n", 3, "this row has 3 cells, the header 2 columns"),
    ("q,__expected\na,b\n\"x\ny\",javascript: output.length > 3\n", 3,
     "assertion type 'javascript' is not supported: Workbench does not run code"),
    ("q,__expected\na,python: len(output) > 3\n", 2, "'python' is not supported"),
    ("q,__expected\na,b\nc,regex: ([\n", 3, "does not compile"),
    ("q,__threshold\na,high\n", 2, "__threshold must be a number"),
    ("", 1, "the CSV file is empty"),
])
def test_csv_errors_name_the_csv_line(tmp_path, content, line, words) -> None:
    err = error(tmp_path, "prompts: ['{{q}}']\ntests: file://cases.csv\n", cases__csv=content)
    assert (err.source, err.line) == (str(tmp_path / "cases.csv"), line), str(err)
    assert words in err.detail, str(err)


def test_jsonl_cases_and_their_line_numbers(tmp_path) -> None:
    rows = [{"vars": {"q": "one"}, "assert": [{"type": "equals", "value": "1"}]},
            {"vars": {"q": "two"}, "description": "second", "metadata": {"tags": "a, b"}}]
    write(tmp_path, "cases.jsonl", json.dumps(rows[0]) + "\n\n" + json.dumps(rows[1]) + "\n")
    cases = load(tmp_path, "prompts: ['{{q}}']\ntests:\n  - file://cases.jsonl\n"
                           "  - vars: {q: three}\n").cases
    assert [(c.id, c.line, c.vars["q"]) for c in cases] == [
        ("1", 1, "one"), ("2", 3, "two"), ("3", 4, "three")]
    assert cases[0].assertions == (Assertion("equals", value="1", line=1),)
    assert cases[1].tags == ("a", "b") and cases[1].description == "second"


@pytest.mark.parametrize("content, line, words", [
    ('{"vars": {"q": "a"}}\n{"vars": {"q": "b"}, "provider": "openai:x"}\n', 2,
     "test key 'provider' is not supported"),
    ('{"vars": {"q": "a"}}\n\n{"vars": \n', 3, "not JSON"),
    ('[1, 2]\n', 1, "each line is one test object"),
    ('{"vars": {"q": "a"}, "assert": [{"type": "assert-set", "assert": []}]}\n', 1,
     "'assert-set' is not supported"),
])
def test_jsonl_errors(tmp_path, content, line, words) -> None:
    err = error(tmp_path, "prompts: ['{{q}}']\ntests: file://cases.jsonl\n", cases__jsonl=content)
    assert (err.source, err.line) == (str(tmp_path / "cases.jsonl"), line), str(err)
    assert words in err.detail, str(err)


def test_yaml_case_files_keep_their_own_lines(tmp_path) -> None:
    write(tmp_path, "cases.yaml", "- vars: {q: a}\n- vars: {q: b}\n  assert:\n"
                                  "    - type: contains\n      value: b\n")
    cases = load(tmp_path, "prompts: ['{{q}}']\ntests: file://cases.yaml\n").cases
    assert [c.line for c in cases] == [1, 2] and cases[1].assertions[0].line == 4
    write(tmp_path, "cases.yaml", "- vars: {q: a}\n- vars: {q: b}\n  assert:\n"
                                  "    - type: contains\n      value: b\n      weight: -1\n")
    err = error(tmp_path, "prompts: ['{{q}}']\ntests: file://cases.yaml\n")
    assert (err.source, err.line) == (str(tmp_path / "cases.yaml"), 6)
    assert "weight must be a number >= 0" in err.detail


def test_missing_case_files(tmp_path) -> None:
    err = error(tmp_path, "prompts: ['{{q}}']\ntests:\n  - vars: {q: a}\n  - file://nope.csv\n")
    assert err.line == 4 and "no such file: nope.csv" in err.detail
    (tmp_path / "folder.csv").mkdir()
    err = error(tmp_path, "prompts: ['{{q}}']\ntests: file://folder.csv\n")
    assert err.line == 2 and "is a folder" in err.detail
    err = error(tmp_path, "prompts: ['{{q}}']\ntests: file://cases.xlsx\n")
    assert err.line == 2 and "use .csv, .jsonl, .json or .yaml" in err.detail
    err = error(tmp_path, "prompts: ['{{q}}']\ntests: file://gen.py\n")
    assert err.line == 2 and "does not run code" in err.detail


# -- defaultTest, vars, options ----------------------------------------------------------------

def test_default_test_merges_under_each_test(tmp_path) -> None:
    suite = load(tmp_path, """\
prompts: ["{{a}} {{b}}"]
defaultTest:
  vars: {a: A, b: B}
  assert:
    - type: not-contains
      value: sorry
    - type: factuality
      value: "{{a}}"
  metadata: {tags: [all], team: x}
  threshold: 0.8
  options:
    provider: ollama:chat:qwen2.5
tests:
  - vars: {b: own}
    assert:
      - type: equals
        value: A own
  - vars: {a: other}
    metadata: {tags: mine}
    threshold: 0.25
    options:
      provider:
        id: openai:gpt-4o-mini
""")
    assert suite.judge == "profile:ollama/qwen2.5"
    first, second = suite.cases
    assert first.vars == {"a": "A", "b": "own"} and second.vars == {"a": "other", "b": "B"}
    assert [a.written_type for a in first.assertions] == ["not-contains", "factuality", "equals"]
    assert first.assertions[1].provider is None  # the suite's judge applies (Suite.judge)
    assert first.tags == ("all",) and first.metadata == {"tags": ["all"], "team": "x"}
    assert first.threshold == 0.8 and second.threshold == 0.25
    assert second.tags == ("mine",)
    # a test's options.provider judges that test's model-graded assertions only
    assert [(a.type, a.provider) for a in second.assertions] == [
        ("contains", None), ("factuality", "openai:gpt-4o-mini")]


def test_var_files_are_read_as_text(tmp_path) -> None:
    write(tmp_path, "docs/article.txt", "Once upon a time.\n")
    outside = write(tmp_path.parent / f"{tmp_path.name}-other", "shared.md", "# Shared\n")
    suite = load(tmp_path, f"""\
prompts: ["Summarise: {{{{doc}}}} {{{{extra}}}}"]
defaultTest:
  vars: {{extra: "file://{outside}"}}
tests:
  - vars: {{doc: file://docs/article.txt}}
""")
    assert suite.cases[0].vars == {"doc": "Once upon a time.\n", "extra": "# Shared\n"}
    before = suite.sha256
    write(tmp_path, "docs/article.txt", "Changed.\n")
    assert load_suite(tmp_path / "promptfooconfig.yaml").sha256 != before


@pytest.mark.parametrize("value, words", [
    ("file://missing.txt", "no such file: missing.txt"),
    ("file://sub", "is a folder"),
    ("file://code.py", "does not run code"),
    ("file:///dev/null", "is not a regular file"),
    ('"file://a\\0b.txt"', "'a\\x00b.txt'"),  # a NUL: shown escaped, never raw
    ("file://" + "n" * 5000 + ".txt", "cannot read"),
])
def test_var_file_errors(tmp_path, value, words) -> None:
    (tmp_path / "sub").mkdir()
    if value == "file:///dev/null" and not os.path.exists("/dev/null"):
        pytest.skip("no /dev/null here")
    err = error(tmp_path, f"prompts: ['{{{{doc}}}}']\ntests:\n  - description: x\n"
                          f"    vars:\n      doc: {value}\n")
    assert err.line == 4 and words in err.detail, str(err)


def test_list_vars_expand_like_promptfoo(tmp_path) -> None:
    suite = load(tmp_path, """\
prompts: ["{{lang}} {{text}} {{items}}"]
tests:
  - vars:
      lang: [French, German]
      text: [hi, bye]
      items: [{a: 1}]
  - vars: {lang: [Dutch], text: x, items: [x, y]}
    options: {disableVarExpansion: true}
""")
    assert [(c.id, c.vars["lang"], c.vars["text"]) for c in suite.cases] == [
        ("1", "French", "hi"), ("2", "French", "bye"), ("3", "German", "hi"),
        ("4", "German", "bye"), ("5", ["Dutch"], "x")]
    assert suite.cases[0].vars["items"] == [{"a": 1}] and suite.cases[4].vars["items"] == [
        "x", "y"]
    assert {c.line for c in suite.cases[:4]} == {3}


def test_yaml_scalars_read_as_promptfoo_reads_them(tmp_path) -> None:
    suite = load(tmp_path, "prompts: ['{{a}}']\ntests:\n  - vars: {a: no, b: 1:30, c: 012, "
                           "d: true, e: 1e3, f: 0x10, g: ~, h: on, i: 2024-01-02}\n")
    values = suite.cases[0].vars
    assert values["a"] == "no" and values["b"] == "1:30" and values["c"] == 12
    assert values["d"] is True and values["e"] == 1000.0 and values["f"] == 16
    assert values["g"] is None and values["h"] == "on" and str(values["i"]) == "2024-01-02"


# -- the {{var}} check --------------------------------------------------------------------------

def test_a_var_no_case_sets_is_named_with_its_test_and_line(tmp_path) -> None:
    text = ("prompts:\n  - raw: 'Hello {{name}} from {{city}}'\n    label: greet\n"
            "tests:\n  - vars: {name: a, city: b}\n  - vars: {name: a, city: b}\n"
            "  - description: third\n    vars:\n      name: c\n")
    err = error(tmp_path, text)
    assert err.detail == "prompt 'greet' uses {{city}}, which test 3 (line 7) does not set"
    assert err.line == 7 and str(err) == (
        f"{tmp_path / 'promptfooconfig.yaml'}:7: prompt 'greet' uses {{{{city}}}}, which "
        "test 3 (line 7) does not set")


def test_vars_in_system_messages_and_assertions_are_checked_too(tmp_path) -> None:
    err = error(tmp_path, "prompts:\n  - - {role: system, content: 'Speak {{lang}}'}\n"
                          "    - {role: user, content: '{{q}}'}\ntests:\n  - vars: {q: x}\n")
    assert err.line == 5 and "uses {{lang}}, which test 1 (line 5)" in err.detail
    err = error(tmp_path, "prompts: ['{{q}}']\ntests:\n  - vars: {q: x}\n    assert:\n"
                          "      - type: contains\n        value: '{{expected}}'\n")
    assert err.line == 3 and err.detail == (
        "assertion 'contains' (line 5) uses {{expected}}, which test 1 (line 3) does not set")
    err = error(tmp_path, "prompts: ['{{q}}']\ntests: file://c.csv\n", c__csv="other\nx\n")
    assert (err.source, err.line) == (str(tmp_path / "c.csv"), 2)
    assert "uses {{q}}, which test 1" in err.detail


# -- errors with their lines -------------------------------------------------------------------

@pytest.mark.parametrize("text, line, words", [
    ("prompts: ['{{q}}'\ntests: []\n", 2, "YAML error"),
    ("prompts:\n  - a\n\tb\n", 3, "YAML error"),
    (MINIMAL + "scenarios: []\n", 4, "unknown key 'scenarios'"),
    (MINIMAL + "env:\n  OPENAI_API_KEY: sk-x\n", 4, "'env' is not supported"),
    ("prompts: ['{{q}}']\n", 1, "no tests"),
    ("prompts: ['{{q}}']\ntests: []\n", 2, "no tests"),
    ("prompts: ['{{q}}']\ntests:\n  - 42\n", 3, "a test is a mapping"),
    ("- just\n- a list\n", 1, "a suite is a mapping"),
    ("", 1, "the suite is empty"),
    ("prompts: ['{{q}}']\ntests:\n  - vars: {q: a}\n    asert: []\n", 4,
     "test key 'asert' is not supported"),
    ("prompts: ['{{q}}']\ntests:\n  - vars: {q: a}\n    options: {transform: x}\n", 4,
     "test option 'transform' is not supported"),
    ("prompts: ['{{q}}']\ntests:\n  - vars: {q: a}\n    assert:\n      - type: javascript\n"
     "        value: output.length > 2\n", 5,
     "assertion type 'javascript' is not supported: Workbench does not run code from a suite; "
     "supported: contains, contains-all"),
    ("prompts: ['{{q}}']\ntests:\n  - vars: {q: a}\n    assert:\n      - type: not-python\n",
     5, "'not-python' is not supported"),
    ("prompts: ['{{q}}']\ntests:\n  - vars: {q: a}\n    assert:\n      - type: rouge-n\n", 5,
     "unknown assertion type 'rouge-n'; supported:"),
    ("prompts: ['{{q}}']\ntests:\n  - vars: {q: a}\n    assert:\n      - value: x\n", 5,
     "an assertion needs a type"),
    ("prompts: ['{{q}}']\ntests:\n  - vars: {q: a}\n    assert:\n      - type: regex\n"
     "        value: '(['\n", 5, "does not compile"),
    ("prompts: ['{{q}}']\ntests:\n  - vars: {q: a}\n    assert:\n      - type: equals\n"
     "        value: x\n        transform: output.trim()\n", 7, "assertion key 'transform'"),
    ("prompts: ['{{q}}']\ntests:\n  - vars: {q: a}\n    assert:\n      - type: equals\n"
     "        value: x\n        weight: heavy\n", 7, "weight must be a number >= 0"),
    ("prompts: ['{{q}}']\ntests:\n  - vars: {q: a}\n    assert:\n      - type: llm-rubric\n"
     "        value: ok\n        provider: vertex:gemini\n", 7, "unknown provider 'vertex"),
    ("prompts: ['{{q}}']\ntests:\n  - vars: {q: a}\n    vars: {q: b}\n", 4,
     "duplicate key 'vars' (first on line 3)"),
    ("prompts: ['{{q}}']\ntests:\n  - vars: {q: a}\n    threshold: high\n", 4,
     "threshold must be a number"),
    ("prompts: ['{{q}}']\ntests:\n  - vars: {q: a, 7: b}\n", 3, "var name 7 is not a name"),
    ("prompts: ['{{q}}']\ndefaultTest:\n  description: x\ntests:\n  - vars: {q: a}\n", 3,
     "defaultTest key 'description' is not supported"),
    ("prompts: ['{{q}}']\ntests:\n  - vars: {q: a}\n    metadata: {tags: {a: 1}}\n", 4,
     "metadata.tags is a list"),
])
def test_errors_name_the_exact_line(tmp_path, text, line, words) -> None:
    err = error(tmp_path, text)
    assert err.line == line and words in err.detail, str(err)
    assert str(err).startswith(f"{tmp_path / 'promptfooconfig.yaml'}:{line}: ")


def test_parse_suite_names_its_source_and_base_folder(tmp_path) -> None:
    write(tmp_path, "p.txt", "From a file {{q}}")
    suite = parse_suite("prompts: [file://p.txt]\ntests:\n  - vars: {q: a}\n",
                        source="editor", base_dir=tmp_path)
    assert suite.cases[0].prompt.messages == (("user", "From a file {{q}}"),)
    assert suite.path is None
    with pytest.raises(SuiteError, match=r"^editor:3: test key 'x'"):
        parse_suite("prompts: [a]\ntests:\n  - x: 1\n", source="editor")


def test_load_suite_file_errors(tmp_path) -> None:
    with pytest.raises(SuiteError, match="no such suite file"):
        load_suite(tmp_path / "nope.yaml")
    with pytest.raises(SuiteError, match="not a regular file"):
        load_suite(tmp_path)
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(b"prompts: [a]\ndescription: caf\xe9\n")
    with pytest.raises(SuiteError) as caught:
        load_suite(bad)
    assert caught.value.line == 2 and "not UTF-8" in caught.value.detail


# -- hostile input -----------------------------------------------------------------------------

BOMB = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
prompts: [x]
tests: [{vars: {v: *i}}]
"""


def test_a_billion_laughs_is_refused_quickly(tmp_path) -> None:
    started = time.monotonic()
    err = error(tmp_path, BOMB)
    assert "expands to more than 1,000,000 nodes" in err.detail
    assert time.monotonic() - started < 5


def test_aliases_within_limits_still_work(tmp_path) -> None:
    suite = load(tmp_path, "prompts: ['{{q}}']\ndefaultTest:\n  assert: &checks\n"
                 "    - {type: contains, value: a}\ntests:\n"
                 "  - vars: {q: x}\n    assert: *checks\n")
    assert [a.written_type for a in suite.cases[0].assertions] == ["contains", "contains"]


def test_recursive_aliases_and_python_tags_are_refused(tmp_path) -> None:
    err = error(tmp_path, "prompts: &p [*p]\ntests: [{vars: {}}]\n")
    assert "refers to the node that contains it" in err.detail
    err = error(tmp_path, "prompts: ['{{q}}']\ntests:\n  - vars:\n"
                          "      q: !!python/object/apply:os.system ['echo hacked']\n")
    assert err.line == 4 and "YAML error" in err.detail and "python/object" in err.detail
    err = error(tmp_path, "prompts: !!python/name:os.system x\ntests: []\n")
    assert err.line == 1 and "python/name" in err.detail


def test_deep_nesting_is_an_error_not_a_crash(tmp_path) -> None:
    depth = 20_000
    err = error(tmp_path, "prompts: " + "[" * depth + "]" * depth + "\ntests: []\n")
    assert "YAML error" in err.detail


def test_files_over_the_size_limit_are_refused(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(suite_mod, "MAX_FILE_BYTES", 64)
    write(tmp_path, "big.txt", "x" * 65)
    err = error(tmp_path, "prompts: [file://big.txt]\ntests: [{vars: {}}]\n")
    assert err.line == 1 and "larger than" in err.detail
    with pytest.raises(SuiteError, match="larger than"):
        load(tmp_path, "description: " + "y" * 80 + "\n")


def test_untrusted_text_in_messages_is_quoted(tmp_path) -> None:
    err = error(tmp_path, MINIMAL + "evil\x1b]52;c;aGk=\x07: 1\n")  # raw controls: not YAML
    assert err.line == 4 and "character #x001b is not allowed" in err.detail
    err = error(tmp_path, MINIMAL + '"evil\\e]52;c;aGk=\\a": 1\n')  # escapes: a key with ESC
    assert err.line == 4 and "unknown key 'evil\\x1b]52;c;aGk=\\x07'" in err.detail
    assert "\x1b" not in str(err) and "\x07" not in str(err)


# -- saving an edited suite ---------------------------------------------------------------------

def test_dump_suite_round_trips(tmp_path) -> None:
    data = {
        "description": "Edited in the GUI: ünïcode",
        "prompts": [{"raw": "Line one {{q}}\nLine two\n", "label": "two lines"},
                    [{"role": "system", "content": "Be terse."},
                     {"role": "user", "content": "{{q}}"}]],
        "providers": ["openai:gpt-4o-mini", {"id": "ollama:chat:qwen2.5", "label": "q"}],
        "tests": [
            {"vars": {"q": "no", "code": "089", "time": "1:30", "exp": "1e5", "n": 12,
                      "flag": True, "spaces": "a \nb", "lead": "\n  indented", "tail": "x\n\n",
                      "tab": "a\tb\n", "empty": "", "hash": "# not a comment", "null": "null",
                      "column name with spaces": "ok"},
             "description": "tricky scalars",
             "assert": [{"type": "equals", "value": "yes"},
                        {"type": "not-contains", "value": "on", "weight": 0.5}],
             "metadata": {"tags": ["a", "b"]}},
        ],
    }
    text = dump_suite(data)
    assert text.startswith("description: ") and "ünïcode" in text
    assert "Line one {{q}}\n" in text and "|" in text  # multi-line text as a literal block
    assert load_yaml(text, "saved.yaml")[0] == data
    suite = parse_suite(text, source="saved.yaml")
    [first, second] = suite.cases
    assert first.vars == data["tests"][0]["vars"]
    assert first.prompt.messages == (("user", "Line one {{q}}\nLine two\n"),)
    assert second.prompt.messages == (("system", "Be terse."), ("user", "{{q}}"))
    assert [t.spec for t in suite.targets] == ["openai:gpt-4o-mini", "profile:ollama/qwen2.5"]
    # and what PyYAML's own safe loader reads from it is the same data
    assert yaml.safe_load(text) == data
