"""The two architecture rules: Qt only in workbench.ui, llama_cpp only in the worker process."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_import_contracts_hold() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command;"
         " sys.argv=['lint-imports']; lint_imports_command()"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert "0 broken" in result.stdout, result.stdout + result.stderr
    assert result.returncode == 0


@pytest.mark.parametrize("module", ["workbench.cli", "workbench.engine.client",
                                    "workbench.commands.run"])
def test_core_modules_import_neither_qt_nor_llama(module: str) -> None:
    code = textwrap.dedent(f"""
        import sys, importlib
        importlib.import_module({module!r})
        bad = sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'llama_cpp'))
        print(','.join(bad))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True).stdout.strip()
    assert out == ""


def test_ruff_clean() -> None:
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "workbench", "tests",
                             "packaging"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
