"""What the eval machinery costs: a 50-case suite run by `EvalRunner` against the same 50
prompts answered back to back in one loaded model (no suite, no grading, no database).

Each round runs both, in a shuffled order, on the real SmolLM2-135M-Instruct at temperature 0
(the same answers both ways); both times include loading the model. The ratio eval / baseline is
taken within a round, then summarised by its median and range. Memory: the resident size of
this process and the model worker, sampled after every case of the eval run; the figure is the
growth from case 5 to case 50 and the least-squares slope per case (flat means ~0).

Run: python tests/benchmarks/bench_evals.py [--rounds 5] [--cases 50] [--max-tokens 32]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

COUNTRIES = (
    "France", "Italy", "Spain", "Germany", "Japan", "Egypt", "Canada", "Peru", "Chile", "Kenya",
    "Norway", "Sweden", "Poland", "Greece", "Turkey", "India", "China", "Brazil", "Mexico",
    "Cuba", "Ireland", "Portugal", "Austria", "Hungary", "Finland", "Denmark", "Belgium",
    "Nepal", "Iran", "Iraq", "Syria", "Jordan", "Israel", "Ghana", "Mali", "Chad", "Niger",
    "Sudan", "Libya", "Tunisia", "Morocco", "Algeria", "Nigeria", "Angola", "Zambia", "Kuwait",
    "Qatar", "Oman", "Yemen", "Laos", "Vietnam", "Thailand")


def suite_text(cases: int) -> str:
    tests = "\n".join(f"  - vars: {{country: {c}}}\n    assert:\n      - type: icontains\n"
                      f"        value: capital\n      - type: word-count\n        value: 60"
                      for c in COUNTRIES[:cases])
    prompt = "prompts: ['Name the capital of {{country}}.']"
    return f"description: bench\n{prompt}\ntests:\n{tests}\n"


def rss_mib() -> tuple[float, float]:
    """Resident MiB of this process and of its children (the model worker)."""
    import psutil

    me = psutil.Process()
    children = 0
    for child in me.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            children += child.memory_info().rss
    return me.memory_info().rss / (1 << 20), children / (1 << 20)


def baseline(model: Path, cases: int, max_tokens: int) -> tuple[float, list[tuple[float, float]]]:
    """The same prompts, back to back, in one loaded model: wall seconds (load included) and
    the resident sizes after each answer."""
    from workbench.engine.client import LocalEngine
    from workbench.engine.defaults import resolve_load_settings
    from workbench.engine.settings import LoadSettings, Sampling

    memory: list[tuple[float, float]] = []
    started = time.perf_counter()
    engine = LocalEngine()
    try:
        engine.load(*resolve_load_settings(LoadSettings(str(model))))
        sampling = Sampling(temperature=0.0, max_tokens=max_tokens)
        for country in COUNTRIES[:cases]:
            engine.chat([{"role": "user", "content": f"Name the capital of {country}."}],
                        sampling)
            memory.append(rss_mib())
    finally:
        engine.close()
    return time.perf_counter() - started, memory


def eval_run(model: Path, suite_path: Path,
             max_tokens: int) -> tuple[float, list[tuple[float, float]], int]:
    """The suite through EvalRunner: wall seconds, RSS after each case, cases passed."""
    from workbench.evals.runner import EvalRunner, RunOptions
    from workbench.evals.suite import load_suite

    memory: list[tuple[float, float]] = []

    def on_event(event: object) -> None:
        if getattr(event, "kind", "") == "result":
            memory.append(rss_mib())

    started = time.perf_counter()
    suite = load_suite(suite_path)
    outcome = EvalRunner(suite, RunOptions(targets=(f"local:{model}",), temperature=0.0,
                                           max_tokens=max_tokens), on_event=on_event).run()
    elapsed = time.perf_counter() - started
    return elapsed, memory, sum(1 for r in outcome.results if r.passed)


def slope(values: list[float]) -> float:
    n = len(values)
    mean_x, mean_y = (n - 1) / 2, statistics.fmean(values)
    num = sum((i - mean_x) * (v - mean_y) for i, v in enumerate(values))
    den = sum((i - mean_x) ** 2 for i in range(n))
    return num / den if den else 0.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cases", type=int, default=50)
    parser.add_argument("--max-tokens", type=int, default=32)
    args = parser.parse_args()
    from tests.helpers.real_models import SMOLLM2, fetch

    model = fetch(SMOLLM2)
    home = tempfile.mkdtemp(prefix="bench-evals-")
    os.environ["WORKBENCH_HOME"] = home
    suite_path = Path(home) / "suite.yaml"
    suite_path.write_text(suite_text(args.cases), encoding="utf-8")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"model: {SMOLLM2.name}; {args.cases} cases, max_tokens {args.max_tokens}")
    rng = random.Random(1)
    ratios: list[float] = []
    for round_no in range(1, args.rounds + 1):
        order = ["eval", "baseline"]
        rng.shuffle(order)
        times: dict[str, float] = {}
        memory: dict[str, list[tuple[float, float]]] = {}
        passed = 0
        for kind in order:
            if kind == "eval":
                times["eval"], memory["eval"], passed = eval_run(model, suite_path,
                                                                 args.max_tokens)
            else:
                times["baseline"], memory["baseline"] = baseline(model, args.cases,
                                                                 args.max_tokens)
        ratio = times["eval"] / times["baseline"]
        ratios.append(ratio)
        print(f"round {round_no} ({' then '.join(order)}): eval {times['eval']:.2f} s, "
              f"baseline {times['baseline']:.2f} s, ratio {ratio:.3f}; passed {passed}/"
              f"{args.cases}")
        for kind in ("eval", "baseline"):
            for name, index in (("this process", 0), ("model worker", 1)):
                series = [m[index] for m in memory[kind]]
                print(f"  {kind} RSS, {name}: {series[0]:.0f} -> {series[-1]:.0f} MiB; case 5 -> "
                      f"{len(series)}: {series[-1] - series[4]:+.1f} MiB, slope "
                      f"{slope(series[4:]):+.3f} MiB/case")
    print(f"ratio eval/baseline: median {statistics.median(ratios):.3f}, range "
          f"{min(ratios):.3f}-{max(ratios):.3f} over {len(ratios)} rounds")


if __name__ == "__main__":
    main()
