"""A fast start: building the parser imports no heavy package; lazy choices and help still work."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from workbench.cli import build_parser, main
from workbench.commands.lazy import LazyChoices, LazyText
from workbench.errors import BadInput

HEAVY = ("numpy", "httpx", "openai", "anthropic", "gguf", "huggingface_hub", "PySide6",
         "llama_cpp")


def test_building_the_parser_imports_no_heavy_package() -> None:
    code = textwrap.dedent("""
        import sys
        import workbench.cli
        workbench.cli.build_parser().format_help()
        print(",".join(sorted(m for m in sys.modules if m.split(".")[0] in HEAVY)))
    """).replace("HEAVY", repr(HEAVY))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True).stdout.strip()
    assert out == ""


def test_an_argument_error_imports_no_heavy_package() -> None:
    code = textwrap.dedent("""
        import sys
        import workbench.cli
        code = workbench.cli.main(["recommend", "--kv-type", "q2"])
        print(code, ",".join(sorted(m for m in sys.modules if m.split(".")[0] in HEAVY)))
    """).replace("HEAVY", repr(HEAVY))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True).stdout.strip()
    assert out == "2"


def test_lazy_choices_load_once_and_validate() -> None:
    loads: list[int] = []

    def load() -> tuple[str, ...]:
        loads.append(1)
        return ("a", "b")

    choices = LazyChoices(load)
    assert not loads
    assert "a" in choices and "c" not in choices
    assert list(choices) == ["a", "b"] and len(choices) == 2 and choices[1] == "b"
    assert len(loads) == 1


def test_lazy_choices_reject_a_bad_value_with_the_list() -> None:
    parser = build_parser()
    with pytest.raises(BadInput, match=r"invalid choice: 'nowhere'.*'hf-cache'"):
        parser.parse_args(["ls", "--source", "nowhere"])
    assert parser.parse_args(["ls", "--source", "ollama"]).source == ["ollama"]
    assert parser.parse_args(["search", "q", "--sort", "likes"]).sort == "likes"


def _help(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 0


def test_lazy_help_is_rendered_in_the_commands_help(capsys: pytest.CaptureFixture[str]) -> None:
    from workbench.synth import FAULTS, QUANT_TYPES

    _help(["synth", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    fault = next(iter(FAULTS))
    assert f"{fault}: {' '.join(FAULTS[fault].split())}" in text
    assert "Q4_K_M" in QUANT_TYPES and "Q4_K_M" in text and "Presets:" in text
    _help(["inspect", "--help"])
    assert "(default: 64)" in " ".join(capsys.readouterr().out.split())
    _help(["ls", "--help"])
    assert "lmstudio" in capsys.readouterr().out


def test_lazy_text_renders_once() -> None:
    calls: list[int] = []
    text = LazyText(lambda: calls.append(1) or "width %(default)s")
    assert str(text) == "width %(default)s" and text % {"default": 3} == "width 3"
    assert text.strip() == "width %(default)s"
    assert len(calls) == 1
