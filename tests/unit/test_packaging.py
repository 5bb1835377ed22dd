"""What a wheel ships and what CI runs: every file in resources/ is in pyproject's data-files,
and .ci/run runs the README's test command word for word."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

ROOT = Path(__file__).resolve().parents[2]
FENCED = re.compile(r"```\n(.+?)\n```", re.DOTALL)


def test_every_resource_file_is_in_the_wheels_data_files() -> None:
    data_files = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "data-files"]
    globs = [pattern for patterns in data_files.values() for pattern in patterns]
    shipped = {path for pattern in globs for path in ROOT.glob(pattern) if path.is_file()}
    resources = {path for path in (ROOT / "resources").rglob("*") if path.is_file()}
    assert resources - shipped == set()
    assert ROOT / "resources" / "fonts" / "JetBrainsMono-Regular.ttf" in shipped
    assert ROOT / "resources" / "fonts" / "OFL.txt" in shipped


def test_ci_runs_the_readmes_test_command_word_for_word() -> None:
    install_and_start, install_and_test = FENCED.findall((ROOT / "README.md").read_text())[:2]
    assert install_and_start.endswith(".venv/bin/workbench")
    assert install_and_test.startswith("python3 -m venv .venv && ")  # works under PEP 668
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert install_and_test in ci
