"""The GUI section of ``workbench doctor``: can the desktop app start here (``check_gui``), and
what Qt reports once started in a child process (``workbench.ui.gui_probe``): its version, the
platform plugin, the bundled code font and the app's icons.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from workbench.hardware.doctor import Finding
from workbench.hardware.gui_check import CLI_HINT, GuiCheck, check_gui
from workbench.hardware.model import JsonMixin

PROBE_MODULE = "workbench.ui.gui_probe"
PROBE_TIMEOUT_S = 30
STDERR_TAIL = 400


def run_probe(env: Mapping[str, str]) -> tuple[dict[str, Any] | None, str]:
    """(the probe's JSON, "") or (None, why it failed: Qt's last words or the timeout)."""
    try:
        done = subprocess.run([sys.executable, "-m", PROBE_MODULE], env=dict(env),
                              capture_output=True, text=True, timeout=PROBE_TIMEOUT_S,
                              check=False)
    except subprocess.TimeoutExpired:
        return None, f"no answer within {PROBE_TIMEOUT_S} s"
    except OSError as err:
        return None, str(err)
    try:
        answer = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        answer = None
    if isinstance(answer, dict) and "failed" in answer:  # Qt's own words, without its abort
        return None, "Qt said: " + " / ".join(answer["failed"])
    if done.returncode == 0 and isinstance(answer, dict):
        return answer, ""
    tail = " ".join(done.stderr.split())[-STDERR_TAIL:]
    return None, f"exit status {done.returncode}: {tail}" if tail else \
        f"exit status {done.returncode}"


def platform_label(check: GuiCheck) -> str:
    """``xcb platform on display :0``: the platform the GUI would start on."""
    chosen = next(p for p in check.platforms if p.name == check.platform)
    return f"{chosen.name} platform" + (f" on display {chosen.display}" if chosen.display else "")


def check_findings(check: GuiCheck) -> list[Finding]:
    """Whether the GUI can start, and each platform plugin's trouble."""
    if not check.ok:
        return [Finding("error", "gui-cannot-start", "The desktop app cannot start here",
                        "; ".join(check.problems) + ". " + CLI_HINT, " ".join(check.fixes))]
    chosen = next(p for p in check.platforms if p.name == check.platform)
    findings = [Finding("ok", "gui-platform",
                        f"The desktop app can start: Qt's {platform_label(check)}",
                        chosen.plugin or "")]
    for other in check.platforms:
        if other.problems and other is not chosen:
            findings.append(Finding("info", "gui-platform-fallback",
                                    f"Qt's {other.name} platform would not start",
                                    "; ".join(other.problems), " ".join(check.fixes) or None))
    return findings


def probe_findings(probe: dict[str, Any], platform_note: str) -> list[Finding]:
    """Qt's version and platform, the bundled code font, the app's icons."""
    findings = [Finding("info", "gui-qt", f"Qt {probe['qt_version']} (PySide6 "
                                          f"{probe['pyside_version']}), platform plugin "
                                          f"{probe['platform']}{platform_note}")]
    font = probe["code_font"]
    if font["bundled_family"] in font["registered"] and font["resolved"] == \
            font["bundled_family"] and font["fixed_pitch"]:
        findings.append(Finding("ok", "gui-code-font", f"Code font: {font['resolved']} "
                                f"(bundled: {', '.join(font['styles'])})"))
    else:
        findings.append(Finding(
            "warning", "gui-code-font",
            f"The bundled code font {font['bundled_family']} is not in use",
            f"registered: {', '.join(font['registered']) or 'none'}; code resolves to "
            f"{font['resolved']} (fixed pitch: {font['fixed_pitch']})",
            "reinstall Workbench: resources/fonts/ is missing from this installation"))
    icons = probe["icons"]
    if not icons["blank"]:
        findings.append(Finding("ok", "gui-icons",
                                f"Icons: Material Design Icons (qtawesome {icons['library']})",
                                "drawn in the theme's colours"))
    else:
        findings.append(Finding(
            "warning", "gui-icons", f"{len(icons['blank'])} of the app's icons do not draw",
            icons["error"] or f"blank: {', '.join(icons['blank'])}",
            "reinstall Workbench (pip install --force-reinstall qtawesome): its icon font is "
            "missing or broken"))
    return findings


@dataclass
class GuiSection(JsonMixin):
    """``workbench doctor``'s GUI section: findings, the pre-Qt check, the Qt probe's answer."""

    findings: list[Finding]
    check: GuiCheck
    qt: dict[str, Any] | None = None


def gui_section(env: Mapping[str, str] | None = None) -> GuiSection:
    """Check the GUI's prerequisites, then start Qt in a child process to read the rest
    (offscreen where the real platform cannot start)."""
    env = dict(os.environ if env is None else env)
    check = check_gui(env)
    section = GuiSection(check_findings(check), check)
    if check.platforms and check.platforms[0].name == "qt":  # PySide6 is not installed
        return section
    offscreen = {**env, "QT_QPA_PLATFORM": "offscreen"}
    note = "" if check.ok else " (read offscreen)"
    section.qt, failure = run_probe(env if check.ok else offscreen)
    if section.qt is None and check.ok:  # e.g. a DISPLAY no X server answers any more
        section.findings = [f for f in section.findings if f.code != "gui-platform"]
        section.findings.insert(0, Finding(
            "error", "gui-qt-failed", f"Qt could not start its {platform_label(check)}", failure,
            "log in to the desktop again (an old `ssh -X` session's DISPLAY is gone), or use "
            "the command line: `workbench --help`"))
        note = " (read offscreen)"
        section.qt, failure = run_probe(offscreen)
    if section.qt is None:
        section.findings.append(Finding("warning", "gui-probe", "Qt could not be started to "
                                        "read its version, font and icons", failure))
    else:
        section.findings += probe_findings(section.qt, note)
    return section
