"""Paired, interleaved overhead run: settles small gaps that single runs on a noisy VM cannot.

Each round runs, in a shuffled order, one llama-bench tg128, one `workbench bench` tg128, one
streamed `workbench run` answer of 128 tokens (with llama.cpp's own decode counter for the same
answer) and one answer streamed into the real chat window (headless), on the same model and
settings, and records the machine's load average. Ratios are taken within a round (so slow
drift of the machine cancels), then summarised by their median and a bootstrap 95% interval.

Run: python tests/benchmarks/bench_overhead_paired.py [--preset llama-3.2-1b] [--rounds 12]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
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

ARCH = {"llama-3.2-1b": "llama", "qwen2.5-0.5b": "qwen2"}


def run_answer(model: Path, threads: int, repack: bool, seed: int) -> tuple[float, float]:
    """One streamed `workbench run` answer: (streamed tok/s, llama.cpp's decode-counter tok/s)."""
    doc = workbench_cli("run", str(model), PROMPT, "--max-tokens", "128", "--threads",
                        str(threads), "--flash-attn", "on", "--repack", "on" if repack else "off",
                        "--seed", str(seed), "--ctx", "1024", "--json")
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
        "GUI chat": lambda: gui_chat(model, 1, threads, repack) or float("nan"),
    }
    seeds = iter(range(10_000))
    cpu = detect_cpu()
    print(f"Machine: {cpu.model}, {cpu.physical_cores} physical cores; threads {threads}; "
          f"{args.preset} {args.quant}; repack {'on' if repack else 'off'}; flash attention on; "
          f"tg128; {args.rounds} rounds\n")
    print("| round | load avg | llama-bench | workbench bench | workbench run (streamed) | "
          "workbench run (llama.cpp decode counter) | GUI chat |")
    print("|---|---|---|---|---|---|---|")
    rng = random.Random(1)
    rows: list[dict[str, float]] = []
    for index in range(args.rounds):
        order = list(runners)
        rng.shuffle(order)
        order.insert(rng.randrange(len(order) + 1), "workbench run")
        row: dict[str, float] = {}
        for name in order:
            if name == "workbench run":
                row[name], row["decode"] = run_answer(model, threads, repack, next(seeds))
            else:
                row[name] = runners[name]()
        row["load"] = os.getloadavg()[0]
        rows.append(row)
        print(f"| {index + 1} | {row['load']:.2f} | {row['llama-bench']:.2f} | "
              f"{row['workbench bench']:.2f} | {row['workbench run']:.2f} | {row['decode']:.2f} | "
              f"{row['GUI chat']:.2f} |",
              flush=True)
    print("\n| ratio | median | 95% interval | mean |")
    print("|---|---|---|---|")
    pairs = [("workbench bench", "llama-bench"), ("workbench run", "llama-bench"),
             ("GUI chat", "llama-bench"), ("decode", "llama-bench"),
             ("workbench run", "decode")]
    labels = {"decode": "run's llama.cpp decode counter"}
    for name, base in pairs:
        ratios = [row[name] / row[base] for row in rows]
        low, high = bootstrap_ci(ratios)
        print(f"| {labels.get(name, name)} / {labels.get(base, base)} | "
              f"{statistics.median(ratios):.3f}x | {low:.3f}-{high:.3f} | "
              f"{statistics.fmean(ratios):.3f}x |")


if __name__ == "__main__":
    main()
