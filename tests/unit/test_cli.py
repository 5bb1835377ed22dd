"""CLI conventions: help, exit codes 0/1/2, one-line errors, --json is one document."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from workbench import cli


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "workbench", *args], capture_output=True,
                          text=True, timeout=timeout)


def test_help_lists_every_subcommand() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for name in (*cli.COMMAND_MODULES, "gui"):
        assert name in result.stdout


def test_unknown_option_is_exit_2_with_one_line() -> None:
    result = run_cli("run", "--no-such-option")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("workbench: error:")
    assert "Traceback" not in result.stderr


def test_unknown_command_is_exit_2() -> None:
    assert run_cli("frobnicate").returncode == 2


def test_missing_model_file_is_exit_2(tmp_path: Path) -> None:
    result = run_cli("run", str(tmp_path / "absent.gguf"), "hi")
    assert result.returncode == 2
    assert "no such model file" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_value_is_exit_2(tmp_path: Path) -> None:
    result = run_cli("run", str(tmp_path / "x.gguf"), "hi", "--ctx", "-5")
    assert result.returncode == 2
    assert "context length" in result.stderr


def test_unexpected_exception_is_one_line(monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    def boom(_args: object) -> int:
        raise RuntimeError("kaput")

    parser = cli.build_parser()
    subcommands = next(a for a in parser._actions if a.dest == "command")
    subcommands.choices["run"].set_defaults(func=boom)
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    assert cli.main(["run", "m.gguf", "hi"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["workbench: internal error: RuntimeError: kaput (run with --debug for details)"]


def test_json_is_one_document(capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    cli.emit(argparse.Namespace(json=True), {"a": 1, "b": [1, 2]}, lambda: None)
    assert json.loads(capsys.readouterr().out) == {"a": 1, "b": [1, 2]}


def test_offline_mode_guards_every_command() -> None:
    env = {**os.environ, "WORKBENCH_OFFLINE": "1"}
    # 192.0.2.1 is TEST-NET-1: the guard refuses it before any packet is sent
    result = subprocess.run([sys.executable, "-m", "workbench", "inspect",
                             "http://192.0.2.1/model.gguf"], capture_output=True, text=True,
                            timeout=120, env=env)
    assert result.returncode == 1
    assert "offline mode" in result.stderr and "192.0.2.1" in result.stderr
