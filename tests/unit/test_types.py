"""The Qt-free core type-checks: mypy with the [tool.mypy] configuration in pyproject.toml
(strict, relaxed only where the worker and the offline guard call untyped functions;
workbench.ui is not checked)."""

from __future__ import annotations

from pathlib import Path

import pytest
from mypy import api

ROOT = Path(__file__).resolve().parents[2]


def _cache_dir(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """mypy's incremental cache: kept in pytest's cache between runs when there is one (a cold
    run takes tens of seconds, a warm one a few), else a fresh temporary directory."""
    cache = getattr(request.config, "cache", None)
    if cache is not None:
        return Path(cache.mkdir("mypy"))
    return tmp_path / "mypy_cache"


def test_core_type_checks(request: pytest.FixtureRequest, tmp_path: Path,
                          monkeypatch: pytest.MonkeyPatch) -> None:
    pyproject = ROOT / "pyproject.toml"
    if not (ROOT / "workbench").is_dir() or not pyproject.is_file():
        pytest.skip("needs the source checkout (pyproject.toml and workbench/)")
    monkeypatch.chdir(ROOT)  # the configuration's `files` and `exclude` are relative to it
    monkeypatch.setenv("MYPY_CONFIG_FILE_DIR", str(ROOT))  # mypy sets it; undone afterwards
    stdout, stderr, status = api.run([
        "--config-file", str(pyproject),
        "--cache-dir", str(_cache_dir(request, tmp_path)),
    ])
    report = (stdout + stderr).strip()
    assert status == 0, f"mypy found type errors in the Qt-free core:\n{report}"
    assert "error:" not in stdout, report
