"""Path (d) of the overhead benchmark: an answer streamed into the real chat window, headless.

usage: QT_QPA_PLATFORM=offscreen python gui_stream_rate.py MODEL REPS THREADS on|off PROMPT
Prints one JSON line: tokens_per_s = (tokens - 1) / (last text on the GUI thread - first text),
the rate at which text reaches the chat widget, batched flushes and rendering included; and
window_cpu_ms_per_token: the CPU time (user + system, all threads) of this window process
from the question sent to the answer's end, per generated token (the model runs in its own
process, so this is the window's own cost).
With WORKBENCH_PROFILE=FILE the last answer runs under cProfile, written to FILE.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from PySide6.QtCore import QEventLoop, QSettings, QTimer
from PySide6.QtWidgets import QApplication

from workbench.engine.settings import LoadSettings
from workbench.ui.main_window import MainWindow


def wait_for(signal, timeout_s: float = 600) -> list:  # type: ignore[no-untyped-def]
    loop = QEventLoop()
    got: list = []

    def done(*args: object) -> None:
        got.extend(args)
        loop.quit()

    signal.connect(done)
    QTimer.singleShot(int(timeout_s * 1000), loop.quit)
    loop.exec()
    signal.disconnect(done)
    return got


def main() -> None:
    model, reps, threads, repack, prompt = sys.argv[1:6]
    app = QApplication.instance() or QApplication(sys.argv[:1])
    ini = Path(tempfile.mkdtemp()) / "bench.ini"
    window = MainWindow(settings=QSettings(str(ini), QSettings.Format.IniFormat))
    window.show()
    chat, bridge = window.chat, window.bridge
    panel = chat.settings_panel
    panel.max_tokens.setValue(128)
    panel.threads.setValue(int(threads))
    settings = LoadSettings(model, n_ctx=1024, threads=int(threads), flash_attn="on",
                            repack=repack == "on")
    bridge.load(settings)
    wait_for(bridge.loaded)
    rates, cpu = [], []
    profile_to = os.environ.get("WORKBENCH_PROFILE")
    for rep in range(int(reps)):
        panel.seed.setValue(rep)
        arrivals: list[float] = []
        bridge.textArrived.connect(lambda _t, a=arrivals: a.append(time.perf_counter()))
        chat.new_chat()
        profiler = None
        if profile_to and rep == int(reps) - 1:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        started = time.process_time()
        chat.send_prompt(prompt)
        (result,) = wait_for(bridge.answerFinished)
        used = time.process_time() - started
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(profile_to)
        bridge.textArrived.disconnect()
        n = result.metrics.completion_tokens
        rates.append((n - 1) / (arrivals[-1] - arrivals[0]))
        cpu.append(used * 1000.0 / n)
    print(json.dumps({"tokens_per_s": statistics.fmean(rates), "samples": rates,
                      "window_cpu_ms_per_token": statistics.median(cpu),
                      "window_cpu_samples": cpu}), flush=True)
    bridge.shutdown()
    window.close()
    app.processEvents()
    os._exit(0)  # the figures are out; skip Qt's teardown of background page threads


if __name__ == "__main__":
    main()
