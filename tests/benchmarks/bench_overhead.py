"""Overhead proof: does Workbench deliver every token/s llama.cpp can do on this machine?

The same model and settings through
  (a) llama.cpp's own llama-bench, built from the llama.cpp vendored in the installed
      llama-cpp-python (tests/benchmarks/build_llama_bench.sh);
  (b) plain llama-cpp-python: Llama(...).create_completion(stream=True), wall clock;
  (c) `workbench bench` (the worker's llama-bench-style tg) and `workbench run` (a streamed
      answer through the worker, wall clock in the worker: stream_tokens_per_s);
  (d) the GUI chat path, headless: the same answer streamed into the chat widget, wall clock
      between the first and the last text arriving in the widget on the GUI thread.
Generation tok/s as ratios to (a). Run: python tests/benchmarks/bench_overhead.py [--quick]
Writes a Markdown table to stdout (paste into docs/performance.md).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROMPT = "Write a long story about a lighthouse keeper."


def sh(*args: str, env: dict[str, str] | None = None) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True,
                          env=env).stdout


def model_for(preset: str, arch: str, quant: str) -> Path:
    from workbench import paths
    from workbench.synth import synthesize

    out = paths.cache_dir() / "bench-models" / f"{preset}-{quant}.gguf"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        print(f"building {out.name} ...", file=sys.stderr)
        synthesize(out, arch, preset=preset, quant=quant, seed=0)
    return out


def llama_bench(binary: str, model: Path, tg: int, reps: int, threads: int,
                repack: bool) -> float:
    out = sh(binary, "-m", str(model), "-p", "0", "-n", str(tg), "-r", str(reps), "-t",
             str(threads), "-fa", "on", "--repack", "1" if repack else "0", "-o", "json")
    return float(json.loads(out)[0]["avg_ts"])


PLAIN = textwrap.dedent("""
    import json, sys, time
    import llama_cpp, llama_cpp.llama as L
    repack = sys.argv[4] == "1"
    orig = L.llama_cpp.llama_model_default_params
    def params():
        p = orig(); p.use_extra_bufts = repack; return p
    L.llama_cpp.llama_model_default_params = params
    llm = llama_cpp.Llama(sys.argv[1], n_ctx=1024, n_threads=int(sys.argv[3]),
                          n_threads_batch=int(sys.argv[3]), flash_attn=True, verbose=False)
    rates = []
    for rep in range(int(sys.argv[2])):
        llm.reset()
        llama_cpp.llama_perf_context_reset(llm.ctx)
        times = []
        for chunk in llm.create_completion(sys.argv[5], max_tokens=128, stream=True,
                                           temperature=0.8, seed=rep):
            times.append(time.perf_counter())
        perf = llama_cpp.llama_perf_context(llm.ctx)
        n = perf.n_eval + 1
        rates.append((n - 1) / (times[-1] - times[0]))
    print(json.dumps(rates))
""")


def plain_llama_cpp(model: Path, reps: int, threads: int, repack: bool) -> float:
    out = sh(sys.executable, "-c", PLAIN, str(model), str(reps), str(threads),
             "1" if repack else "0", PROMPT)
    return statistics.fmean(json.loads(out))


def workbench_cli(*args: str) -> dict:
    return json.loads(sh(sys.executable, "-m", "workbench", *args))


def workbench_run(model: Path, reps: int, threads: int, repack: bool) -> float:
    rates = []
    for rep in range(reps):
        doc = workbench_cli("run", str(model), PROMPT, "--max-tokens", "128", "--threads",
                            str(threads), "--flash-attn", "on", "--repack",
                            "on" if repack else "off", "--seed", str(rep), "--ctx", "1024",
                            "--json")
        rates.append(doc["stream_tokens_per_s"])
    return statistics.fmean(rates)


def workbench_bench(model: Path, reps: int, threads: int, repack: bool) -> float:
    doc = workbench_cli("bench", str(model), "--prompt-tokens", "0", "--gen-tokens", "128",
                        "--repetitions", str(reps), "--threads", str(threads), "--flash-attn",
                        "on", "--repack", "on" if repack else "off", "--no-store", "--json")
    return float(doc["tg_tokens_per_s"])


def gui_chat(model: Path, reps: int, threads: int, repack: bool) -> float | None:
    script = ROOT / "tests" / "benchmarks" / "gui_stream_rate.py"
    if not script.exists():
        return None
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    try:
        out = sh(sys.executable, str(script), str(model), str(reps), str(threads),
                 "on" if repack else "off", PROMPT, env=env)
    except subprocess.CalledProcessError as err:
        print(f"GUI path failed: {err}\n{err.stderr[-2000:]}", file=sys.stderr)
        return None
    return float(json.loads(out.strip().splitlines()[-1])["tokens_per_s"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="one model, 3 repetitions")
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from workbench.engine.repack_probe import repack_verdict
    from workbench.engine.settings import physical_cores
    from workbench.hardware.cpu import detect_cpu

    binary = sh(str(ROOT / "tests" / "benchmarks" / "build_llama_bench.sh")).strip()
    binary = binary.splitlines()[-1]
    threads = physical_cores()
    reps = 3 if args.quick else args.reps
    models = [("qwen2.5-0.5b", "qwen2", "Q4_K_M")]
    if not args.quick:
        models.append(("llama-3.2-1b", "llama", "Q4_K_M"))
    cpu = detect_cpu()
    print(f"Machine: {cpu.model}, {cpu.physical_cores} physical / {cpu.logical_cores} logical "
          f"cores, {platform.platform()}; threads {threads}; flash attention on; tg128; "
          f"{reps} repetitions\n")
    print("| model | repack | (a) llama-bench | (b) llama-cpp-python | (c) workbench bench | "
          "(c) workbench run | (d) GUI chat |")
    print("|---|---|---|---|---|---|---|")
    for preset, arch, quant in models:
        model = model_for(preset, arch, quant)
        repack = repack_verdict(quant).safe
        a = llama_bench(binary, model, 128, reps, threads, repack)
        b = plain_llama_cpp(model, reps, threads, repack)
        c1 = workbench_bench(model, reps, threads, repack)
        c2 = workbench_run(model, reps, threads, repack)
        print(f"{preset}: a={a:.2f} b={b:.2f} c1={c1:.2f} c2={c2:.2f}", file=sys.stderr)
        d = gui_chat(model, reps, threads, repack)

        def cell(value: float | None, base: float = a) -> str:
            return "n/a" if value is None else f"{value:.2f} ({value / base:.3f}x)"

        print(f"| {preset} {quant} | {'on' if repack else 'off'} | {a:.2f} (1.000x) | "
              f"{cell(b)} | {cell(c1)} | {cell(c2)} | {cell(d)} |", flush=True)


if __name__ == "__main__":
    main()
