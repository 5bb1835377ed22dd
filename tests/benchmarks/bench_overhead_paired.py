"""Paired, interleaved overhead run: settles small gaps that single runs on a noisy VM cannot.

Each round runs, in a shuffled order, one llama-bench tg128, one `workbench bench` tg128, one
streamed `workbench run` answer of 128 tokens (with llama.cpp's own decode counter for the same
answer) and one answer streamed into the real chat window (headless), on the same model and
settings, and records the machine's load average. Ratios are taken within a round (so slow
drift of the machine cancels), then summarised by their median and a bootstrap 95% interval.

With ``--before DIR`` (a checkout of other Workbench code, e.g. ``git worktree add DIR REV``)
each round also runs that code's `workbench run`, and the table shows the two paired.

Run: python tests/benchmarks/bench_overhead_paired.py [--preset gemma-3-270m] [--rounds 12]
     [--before DIR] [--no-gui]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_overhead import (
    PROMPT,
    ROOT,
    gui_chat,
    llama_bench,
    model_for,
    sh,
    workbench_bench,
    workbench_cli,
)

ARCH = {"llama-3.2-1b": "llama", "qwen2.5-0.5b": "qwen2", "gemma-3-270m": "gemma3",
        "gemma-3-1b": "gemma3"}  # the Gemma 3 shapes have a 262,144-token vocabulary


def run_answer(model: Path, threads: int, repack: bool, seed: int,
               code: Path | None = None) -> tuple[float, float]:
    """One streamed `workbench run` answer (of the code in ``code``, default this checkout):
    (streamed tok/s, llama.cpp's decode-counter tok/s)."""
    args = ("run", str(model), PROMPT, "--max-tokens", "128", "--threads",
            str(threads), "--flash-attn", "on", "--repack", "on" if repack else "off",
            "--seed", str(seed), "--ctx", "1024", "--json")
    if code is None:
        doc = workbench_cli(*args)
    else:
        # run from inside ``code``: `python -m` puts the working folder first on sys.path
        env = {**os.environ, "PYTHONPATH": str(code)}
        doc = json.loads(subprocess.run([sys.executable, "-m", "workbench", *args], check=True,
                                        capture_output=True, text=True, env=env,
                                        cwd=code).stdout)
    return doc["stream_tokens_per_s"], doc["gen_tokens_per_s"]


def bootstrap_ci(values: list[float], draws: int = 5000, seed: int = 0) -> tuple[float, float]:
    rng = random.Random(seed)
    medians = sorted(statistics.median(rng.choices(values, k=len(values)))
                     for _ in range(draws))
    return medians[int(0.025 * draws)], medians[int(0.975 * draws) - 1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="llama-3.2-1b", choices=sorted(ARCH))
    parser.add_argument("--quant", default="Q4_K_M")
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--threads", type=int, default=0,
                        help="llama.cpp threads (default: one per physical core)")
    parser.add_argument("--before", type=Path, help="a checkout of other Workbench code whose "
                        "`workbench run` each round also runs")
    parser.add_argument("--no-gui", action="store_true", help="leave out the GUI chat path")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from workbench.engine.repack_probe import repack_verdict
    from workbench.engine.settings import physical_cores
    from workbench.hardware.cpu import detect_cpu

    binary = sh(str(ROOT / "tests" / "benchmarks" / "build_llama_bench.sh")).strip()
    binary = binary.splitlines()[-1]
    threads = args.threads or physical_cores()
    model = model_for(args.preset, ARCH[args.preset], args.quant)
    repack = repack_verdict(args.quant).safe
    runners = {
        "llama-bench": lambda: llama_bench(binary, model, 128, 1, threads, repack),
        "workbench bench": lambda: workbench_bench(model, 1, threads, repack),
    }
    if not args.no_gui:
        runners["GUI chat"] = lambda: gui_chat(model, 1, threads, repack) or float("nan")
    before: Path | None = args.before
    seeds = iter(range(10_000))
    cpu = detect_cpu()
    print(f"Machine: {cpu.model}, {cpu.physical_cores} physical cores; threads {threads}; "
          f"{args.preset} {args.quant}; repack {'on' if repack else 'off'}; flash attention on; "
          f"tg128; {args.rounds} rounds\n")
    columns = ["llama-bench", "workbench bench", "workbench run", "decode"]
    headers = ["llama-bench", "workbench bench", "workbench run (streamed)",
               "workbench run (llama.cpp decode counter)"]
    if before is not None:
        columns += ["before run", "before decode"]
        headers += ["before: run (streamed)", "before: run (decode counter)"]
    if "GUI chat" in runners:
        columns.append("GUI chat")
        headers.append("GUI chat")
    print("| round | load avg | " + " | ".join(headers) + " |")
    print("|---|---|" + "---|" * len(headers))
    rng = random.Random(1)
    rows: list[dict[str, float]] = []
    for index in range(args.rounds):
        order = list(runners)
        order.append("workbench run")
        if before is not None:
            order.append("before run")
        rng.shuffle(order)
        row: dict[str, float] = {}
        seed = next(seeds)  # the two runs of a round answer the same
        for name in order:
            if name == "workbench run":
                row[name], row["decode"] = run_answer(model, threads, repack, seed)
            elif name == "before run":
                row[name], row["before decode"] = run_answer(model, threads, repack, seed,
                                                             before)
            else:
                row[name] = runners[name]()
        row["load"] = os.getloadavg()[0]
        rows.append(row)
        print(f"| {index + 1} | {row['load']:.2f} | "
              + " | ".join(f"{row[c]:.2f}" for c in columns) + " |", flush=True)
    print("\n| ratio | median | 95% interval | mean |")
    print("|---|---|---|---|")
    pairs = [("workbench bench", "llama-bench"), ("workbench run", "llama-bench"),
             ("decode", "llama-bench"), ("workbench run", "decode")]
    if "GUI chat" in runners:
        pairs.append(("GUI chat", "llama-bench"))
    if before is not None:
        pairs += [("before run", "llama-bench"), ("before run", "before decode"),
                  ("workbench run", "before run")]
    labels = {"decode": "run's llama.cpp decode counter", "before run": "before: run",
              "before decode": "before: its decode counter"}
    for name, base in pairs:
        ratios = [row[name] / row[base] for row in rows]
        low, high = bootstrap_ci(ratios)
        print(f"| {labels.get(name, name)} / {labels.get(base, base)} | "
              f"{statistics.median(ratios):.3f}x | {low:.3f}-{high:.3f} | "
              f"{statistics.fmean(ratios):.3f}x |")


if __name__ == "__main__":
    main()
