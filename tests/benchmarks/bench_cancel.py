"""How fast a cancel stops an answer: the figures the test suite no longer times.

usage: python tests/benchmarks/bench_cancel.py [--reps 10] [--model PATH]

Each repetition starts an endless answer on the tiny synthetic llama (or MODEL), cancels it
once 5 tokens have arrived (as Stop does) and prints one JSON line: the milliseconds from the
cancel to the answer's end, and the tokens the worker still generated after the cancel. The
last line is the summary (median and worst). The target the suite used to assert: under
250 ms from cancel to the end of the answer (tests/integration/test_engine.py checks that the
cancel works, in the same worker, stopping before the next token).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from workbench.cancel import CancelToken  # noqa: E402
from workbench.engine.client import LocalEngine  # noqa: E402
from workbench.engine.defaults import resolve_load_settings  # noqa: E402
from workbench.engine.settings import LoadSettings, Sampling  # noqa: E402

TARGET_MS = 250.0
ENDLESS = Sampling(max_tokens=16000, temperature=1.0, ignore_eos=True)
HELLO = [{"role": "user", "content": "Say hello."}]


def one_cancel(engine: LocalEngine) -> dict[str, float]:
    token = CancelToken()
    cancelled: list[tuple[float, int]] = []

    def on_delta(_text: str, n: int) -> None:
        if n >= 5 and not cancelled:
            cancelled.append((time.perf_counter(), n))
            token.cancel()

    result = engine.chat(HELLO, ENDLESS, on_delta=on_delta, cancel=token)
    ended = time.perf_counter()
    at, n = cancelled[0]
    return {"cancel_ms": round((ended - at) * 1000, 1),
            "tokens_after_cancel": result.metrics.completion_tokens - n,
            "finish_reason": result.finish_reason}  # type: ignore[dict-item]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--model", help="a GGUF file (default: the tiny synthetic llama)")
    args = parser.parse_args()
    if args.model:
        model = args.model
    else:
        from workbench.synth import tiny_model

        model = str(tiny_model("llama", "Q8_0"))
    runs = []
    with LocalEngine() as engine:
        engine.load(*resolve_load_settings(LoadSettings(model, n_ctx=16384)))
        for _ in range(args.reps):
            run = one_cancel(engine)
            runs.append(run)
            print(json.dumps(run), flush=True)
    times = [r["cancel_ms"] for r in runs]
    print(json.dumps({"model": Path(model).name, "reps": len(runs),
                      "median_cancel_ms": statistics.median(times), "worst_cancel_ms": max(times),
                      "target_ms": TARGET_MS, "within_target": max(times) < TARGET_MS}))


if __name__ == "__main__":
    main()
