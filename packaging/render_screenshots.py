#!/usr/bin/env python3
"""Render the main window offscreen to PNG files (docs/screenshots), so people can look at it.

    QT_QPA_PLATFORM=offscreen python3 packaging/render_screenshots.py [--out DIR] [--model GGUF]

Shots: the empty window, a finished answer (a tiny synthetic model with random weights, so the
text is gibberish, but the layout, streaming, Markdown and metrics are real), the crash banner
(a synthetic model whose load aborts llama.cpp), the Hardware page (this machine, real
detection), Discover and Downloads (on the test suite's loopback Hub), the Library (with
the synthetic models), the Compare page (two tiny synthetic
models side by side), the Costs page and the Settings page. Data goes to a temporary
WORKBENCH_HOME unless one is set.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ROOT = Path(__file__).resolve().parents[1]
SIZE = (1100, 720)
PROMPT = "In two short paragraphs, what is a KV cache and why does it use memory?"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--model", help="a GGUF file to chat with (default: a tiny synthetic "
                                        "llama)")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds per step")
    args = parser.parse_args(argv)
    if not os.environ.get("WORKBENCH_HOME"):
        os.environ["WORKBENCH_HOME"] = tempfile.mkdtemp(prefix="workbench-shots-")
    sys.path.insert(0, str(ROOT))

    from PySide6.QtCore import QEventLoop, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from workbench.synth import tiny_model
    from workbench.ui.app import configure_application
    from workbench.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    configure_application(app)
    app.setStyle("Fusion")
    args.out.mkdir(parents=True, exist_ok=True)
    timeout_ms = int(args.timeout * 1000)

    def wait_for(*signals: object) -> list[object]:
        """Run the event loop until one of ``signals`` fires (or the timeout); its arguments."""
        loop, got = QEventLoop(), []

        def fired(*values: object) -> None:
            got.append(values)
            loop.quit()

        for signal in signals:
            signal.connect(fired)  # type: ignore[attr-defined]
        QTimer.singleShot(timeout_ms, loop.quit)
        loop.exec()
        for signal in signals:
            signal.disconnect(fired)  # type: ignore[attr-defined]
        if not got:
            page = window.pages.currentWidget()
            state = getattr(page, "state_label", None)
            where = f" ({state.text()})" if state is not None else ""
            raise SystemExit(f"timed out after {args.timeout:.0f} s{where}")
        return list(got[0])

    def settle() -> None:
        for _ in range(5):
            app.processEvents()

    def shoot(window: MainWindow, name: str) -> None:
        settle()
        path = args.out / f"{name}.png"
        if not window.grab().save(str(path)):
            raise SystemExit(f"could not write {path}")
        print(f"wrote {path}")

    settings_file = Path(os.environ["WORKBENCH_HOME"]) / "screenshots.ini"
    settings_file.unlink(missing_ok=True)  # always the first-start look
    from workbench.hub import scan_library
    from workbench.synth.build import synth_cache_dir

    # the Library shows this machine's models plus the synthetic ones the shots use
    window = MainWindow(settings=QSettings(str(settings_file), QSettings.Format.IniFormat),
                        library_scanner=lambda: scan_library(extra_folders=[synth_cache_dir()]))
    window.resize(*SIZE)
    window.show()
    shoot(window, "chat-empty")

    model = args.model or str(tiny_model("llama"))
    window.chat.settings_panel.system_prompt.setPlainText("You are a concise assistant.")
    window.chat.settings_panel.max_tokens.setValue(120)
    window.chat.settings_panel.seed.setValue(7)
    window.open_model(model)
    wait_for(window.bridge.loaded, window.bridge.loadFailed, window.bridge.crashed)
    window.chat.send_prompt(PROMPT)
    wait_for(window.bridge.answerFinished, window.bridge.answerFailed, window.bridge.crashed)
    shoot(window, "chat-answer")

    window.open_model(str(tiny_model("llama", fault="duplicate-vocab")))
    wait_for(window.bridge.crashed, window.bridge.loaded)
    window.chat.banner.details_toggle.setChecked(True)
    shoot(window, "chat-crash")

    window.show_page("hardware")
    if window.hardware.report is None:
        wait_for(window.hardware.detected)
    shoot(window, "hardware")

    # Discover and Downloads against the loopback Hub of the test suite, serving two of the
    # synthetic models (no machine here reaches huggingface.co)
    from tests.hub_server import FakeHub

    hub = FakeHub()
    hub.add_repo("workbench-synthetic/llama-tiny-GGUF", {
        "llama-tiny-Q8_0.gguf": tiny_model("llama", "Q8_0"),
        "llama-tiny-Q4_K_M.gguf": tiny_model("llama", "Q4_K_M")}, license="apache-2.0")
    os.environ["HF_ENDPOINT"] = hub.endpoint
    os.environ["HF_HOME"] = str(Path(os.environ["WORKBENCH_HOME"]) / "hf-home")
    window.show_page("discover")
    window.discover.query.setText("llama-tiny")
    window.discover.search()
    wait_for(window.discover.searched)
    window.discover.repos.selectRow(0)
    wait_for(window.discover.planned)
    window.discover.variant_table.selectRow(0)
    shoot(window, "discover")
    hub.throttle(None, 1_000_000)
    window.discover.download_selected()
    window.show_page("downloads")
    wait_for(window.downloads.jobsChanged)
    shoot(window, "downloads")
    while not any(j.state == "done" for j in window.downloads.jobs):
        wait_for(window.downloads.jobsChanged)
    hub.close()

    window.show_page("library")
    if not window.library.scanned_once:
        wait_for(window.library.scanned)
    shoot(window, "library")

    window.show_page("compare")
    compare = window.compare
    compare.pickers[0].set_target("local", str(tiny_model("llama")))
    compare.pickers[1].set_target("local", str(tiny_model("qwen2")))
    compare.system.setText("You are a concise assistant.")
    compare.prompt.setPlainText(PROMPT)
    compare.max_tokens.setValue(120)
    compare.run()
    wait_for(compare.runFinished)
    shoot(window, "compare")

    window.show_page("costs")
    window.costs.seed_throughput()  # the comparison just stored a measured local speed
    window.costs.monthly.setText("200M")
    window.costs.hosting.setValue(0.35)
    shoot(window, "costs")

    window.show_page("settings")
    shoot(window, "settings")

    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
