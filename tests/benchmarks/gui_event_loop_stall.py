"""Does the window stay responsive while a model streams at full speed?

A heartbeat QTimer (5 ms, precise) runs on the GUI thread of the real main window (offscreen)
while an answer streams into the chat page, through the end of the answer (the final Markdown
render included) and 300 ms beyond. The longest gap between beats is the longest the event
loop stalled. Also counted: widget text updates per second (target <= 60) and, separately, the
time to render a long finished answer full of code (Markdown + highlighting).

Run: QT_QPA_PLATFORM=offscreen python tests/benchmarks/gui_event_loop_stall.py
Prints a Markdown table (paste into docs/performance.md).
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from gui_stream_rate import wait_for  # noqa: E402
from PySide6.QtCore import QEventLoop, QSettings, Qt, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from workbench.engine.settings import LoadSettings  # noqa: E402
from workbench.ui.main_window import MainWindow  # noqa: E402
from workbench.ui.message_widget import ASSISTANT, MessageWidget  # noqa: E402

BEAT_MS = 5


class Heartbeat:
    def __init__(self) -> None:
        self.gaps: list[float] = []
        self.long: list[tuple[float, float]] = []  # (when it ended, gap ms) for gaps > 50 ms
        self._last = time.perf_counter()
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(BEAT_MS)
        self.timer.timeout.connect(self._beat)

    def _beat(self) -> None:
        now = time.perf_counter()
        gap = (now - self._last) * 1000
        self.gaps.append(gap)
        if gap > 50:
            self.long.append((now, gap))
        self._last = now

    def start(self) -> None:
        self.gaps.clear()
        self.long.clear()
        self._last = time.perf_counter()
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()


def settle(ms: int) -> None:
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def stream_case(window: MainWindow, model: Path, max_tokens: int, beat: Heartbeat,
                threads: int | None = None) -> dict:
    chat, bridge = window.chat, window.bridge
    panel = chat.settings_panel
    bridge.load(LoadSettings(str(model), n_ctx=max(4096, max_tokens + 256), threads=threads))
    wait_for(bridge.loaded)
    panel.max_tokens.setValue(max_tokens)
    panel.temperature.setValue(0.0)
    panel.seed.setValue(1)
    chat.new_chat()
    settle(200)
    first: list[float] = []

    def arrived(_text: str) -> None:
        if not first:
            first.append(time.perf_counter())

    bridge.textArrived.connect(arrived)
    beat.start()
    started = time.perf_counter()
    chat.send_prompt("Tell me a long story about a lighthouse keeper.")
    answer = chat.pending
    (result,) = wait_for(bridge.answerFinished)
    ended = time.perf_counter()
    bridge.textArrived.disconnect(arrived)
    settle(300)
    beat.stop()
    gaps = sorted(beat.gaps)
    seconds = ended - started
    return {
        "model": model.name + ("" if threads is None else f", {threads} thread(s)"),
        "tokens": result.metrics.completion_tokens,
        "tok_s": result.metrics.completion_tokens / seconds,
        "seconds": seconds,
        "updates_per_s": answer.text_updates / seconds if answer is not None else 0.0,
        "max_gap": gaps[-1],
        "p99_gap": gaps[int(0.99 * (len(gaps) - 1))],
        "median_gap": statistics.median(gaps),
        "over_50": sum(1 for g in gaps if g > 50),
        "beats": len(gaps),
        "where": ", ".join(
            f"{gap:.0f} ms " + ("before the first token" if first and at < first[0] else
                               "while streaming" if at <= ended else "after the answer")
            for at, gap in beat.long) or "-",
    }


def code_answer(lines: int = 400) -> str:
    body = "\n".join(f"    total += values[{i}] * {i}  # step {i}" for i in range(lines))
    return ("Here is the function:\n\n```python\ndef weighted(values):\n    total = 0\n"
            f"{body}\n    return total\n```\n\nIt sums the weighted values.")


def render_case(window: MainWindow, beat: Heartbeat) -> tuple[float, float, float]:
    """A finished 400-line Python answer: (ms in finish() itself, ms until every colour is
    applied, the longest heartbeat gap meanwhile)."""
    from workbench.engine.metrics import AnswerMetrics

    text = code_answer()
    widget = MessageWidget(ASSISTANT, title="Assistant")
    window.chat.view.add(widget)
    widget.append_text(text)
    settle(100)
    beat.start()
    started = time.perf_counter()
    widget.finish(text, "stop", AnswerMetrics(
        ttft_ms=50.0, prompt_tokens=20, prompt_eval_tokens=20, prompt_ms=40.0,
        prompt_tokens_per_s=500.0, completion_tokens=4000, gen_eval_tokens=4000,
        gen_ms=100_000.0, gen_tokens_per_s=40.0, total_ms=100_050.0))
    returned = time.perf_counter()
    while widget.body.highlight_pending:
        QApplication.processEvents(QEventLoop.ProcessEventsFlag.WaitForMoreEvents)
    coloured = time.perf_counter()
    settle(100)
    beat.stop()
    return (returned - started) * 1000, (coloured - started) * 1000, max(beat.gaps)


def main() -> None:
    from bench_overhead import model_for

    from workbench.hardware.cpu import detect_cpu
    from workbench.synth import tiny_model

    app = QApplication.instance() or QApplication(sys.argv[:1])
    ini = Path(tempfile.mkdtemp()) / "stall.ini"
    window = MainWindow(settings=QSettings(str(ini), QSettings.Format.IniFormat))
    window.resize(1280, 800)
    window.show()
    window.show_page("chat")
    beat = Heartbeat()
    qwen = model_for("qwen2.5-0.5b", "qwen2", "Q4_K_M")
    cores = detect_cpu().physical_cores
    tiny = tiny_model("llama", "Q8_0")
    cases = [(tiny, 3000, None), (qwen, 256, None)]
    if cores and cores > 1:  # llama.cpp leaving a core to the window: its own stalls alone
        cases += [(tiny, 3000, cores - 1), (qwen, 256, cores - 1)]
    cpu = detect_cpu()
    print(f"Machine: {cpu.model}, {cpu.physical_cores} cores, {platform.platform()}, Qt "
          f"offscreen, window 1280x800, heartbeat {BEAT_MS} ms\n")
    print("| model | tokens | tok/s | text updates/s | longest stall (max gap) | p99 gap | "
          "median gap | gaps > 50 ms | when |")
    print("|---|---|---|---|---|---|---|---|---|")
    for model, max_tokens, threads in cases:
        row = stream_case(window, model, max_tokens, beat, threads)
        print(f"| {row['model']} | {row['tokens']} | {row['tok_s']:.0f} | "
              f"{row['updates_per_s']:.1f} | {row['max_gap']:.1f} ms | {row['p99_gap']:.1f} ms | "
              f"{row['median_gap']:.1f} ms | {row['over_50']} of {row['beats']} | {row['where']} |",
              flush=True)
    in_call, until_coloured, gap = render_case(window, beat)
    print(f"\nA finished 400-line Python answer (Markdown, then Pygments colours in slices): "
          f"finish() returns after {in_call:.0f} ms, colours complete after "
          f"{until_coloured:.0f} ms, longest heartbeat gap meanwhile {gap:.1f} ms.")
    window.bridge.shutdown()
    window.close()
    app.processEvents()
    os._exit(0)


if __name__ == "__main__":
    main()
