"""The profiled speed preview against real runs: predicted vs measured tok/s, no calibration.

For each model (the real SmolLM2-135M Q4_1, and full-size synthetic models in real
architectures' shapes: Gemma 3 270M, Qwen2.5-0.5B, Llama 3.2 1B):
  1. in a fresh WORKBENCH_HOME, probe weight repacking as a first load would, and time this
     CPU's kernel profile for the weight types the models use (printed: how long it took);
  2. predict generation (tg, an empty context) and prompt processing (pp512) from the GGUF
     header and the profile only (``speed.predict_speed``: the ``profiled`` method);
  3. measure with ``workbench bench`` (pp512 / tg32, the default load settings), the models in
     interleaved rounds; the median of the rounds' means is the measured speed.
Prints a table; --write-doc replaces its section of docs/speed-accuracy.md.
Run: python tests/benchmarks/bench_profile_accuracy.py --rounds 3 --write-doc
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

SYNTHETIC = (("gemma-3-270m", "Q4_K_M"), ("qwen2.5-0.5b", "Q4_K_M"), ("qwen2.5-0.5b", "Q8_0"),
             ("llama-3.2-1b", "Q4_K_M"))
TG_TARGET, PP_TARGET = 0.15, 0.25
START, END = "<!-- profile-accuracy:start -->", "<!-- profile-accuracy:end -->"
DOC = ROOT / "docs" / "speed-accuracy.md"


def synthetic_model(preset: str, quant: str, cache: Path) -> Path:
    from workbench.synth import synthesize

    out = cache / f"{preset}-{quant.lower()}.gguf"
    if not out.exists():
        cache.mkdir(parents=True, exist_ok=True)
        print(f"building {out.name} ...", file=sys.stderr, flush=True)
        synthesize(out, preset=preset, quant=quant, seed=0)
    return out


def bench(model: Path, env: dict[str, str]) -> dict:
    proc = subprocess.run([sys.executable, "-m", "workbench", "bench", str(model),
                           "--prompt-tokens", "512", "--gen-tokens", "32", "--repetitions",
                           "3", "--no-store", "--json"], capture_output=True, text=True,
                          env=env, timeout=900, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"bench failed on {model.name}: {proc.stderr[-500:]}")
    return json.loads(proc.stdout)


def err(predicted: float | None, measured: float) -> float | None:
    return None if predicted is None else predicted / measured - 1


def pct(x: float | None) -> str:
    return "-" if x is None else f"{x:+.1%}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--write-doc", action="store_true")
    parser.add_argument("--models", default=str(Path(tempfile.gettempdir()) / "wb-bench-models"),
                        help="where the synthetic models are built and kept")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="wb-profile-home-"))
    os.environ["WORKBENCH_HOME"] = str(home)  # a first start: nothing measured here yet
    env = {**os.environ}

    from tests.helpers.real_models import fetch as smollm2_path
    from workbench.engine.repack_probe import repack_verdict
    from workbench.gguf import read_header
    from workbench.planner import speed
    from workbench.planner.hparams import model_params

    models = [("SmolLM2-135M-Instruct Q4_1 (real)", "Q4_1", smollm2_path())]
    models += [(f"{p} {q} (synthetic)", q, synthetic_model(p, q, Path(args.models)))
               for p, q in SYNTHETIC]  # labels are unique: they key the results
    started = time.monotonic()
    for _, _, path in models:  # as the first load of each would
        for name in {t.type_name for t in model_params(read_header(path)).tensors}:
            repack_verdict(name)
    probed = time.monotonic() - started
    predictions, profile_s = {}, 0.0
    for label, _, path in models:
        t0 = time.monotonic()
        predictions[label] = speed.predict_speed(read_header(path), profile_missing=True)
        profile_s += time.monotonic() - t0
        print(f"{label}: {predictions[label].method}: {predictions[label].basis}",
              file=sys.stderr, flush=True)
    measured: dict[str, list[dict]] = {label: [] for label, _, _ in models}
    for r in range(args.rounds):
        for label, _, path in models:
            measured[label].append(bench(path, env))
            print(f"round {r + 1}: {label}: tg {measured[label][-1]['tg_tokens_per_s']:.1f}, "
                  f"pp {measured[label][-1]['pp_tokens_per_s']:.1f}", file=sys.stderr,
                  flush=True)
    lines = ["| model | predicted tg | measured tg (rounds) | error | predicted pp512 "
             "| measured pp512 (rounds) | error | repack |", "|---" * 8 + "|"]
    worst_tg = worst_pp = 0.0
    for label, _, _ in models:
        p, runs = predictions[label], measured[label]
        tg = statistics.median(m["tg_tokens_per_s"] for m in runs)
        pp = statistics.median(m["pp_tokens_per_s"] for m in runs)
        e_tg, e_pp = err(p.tg_tokens_per_s, tg), err(p.pp_tokens_per_s, pp)
        worst_tg = max(worst_tg, abs(e_tg or 0))
        worst_pp = max(worst_pp, abs(e_pp or 0))
        tg_all = "/".join(f"{m['tg_tokens_per_s']:.1f}" for m in runs)
        pp_all = "/".join(f"{m['pp_tokens_per_s']:.0f}" for m in runs)
        lines.append(f"| {label} | {p.tg_tokens_per_s or 0:.1f} | {tg:.1f} ({tg_all}) "
                     f"| {pct(e_tg)} | {p.pp_tokens_per_s or 0:.0f} | {pp:.0f} ({pp_all}) | "
                     f"{pct(e_pp)} | {'on' if runs[0]['settings']['repack'] else 'off'} |")
    print("\n".join(lines))
    print(f"worst: generation {worst_tg:.1%} (target {TG_TARGET:.0%}), prompt {worst_pp:.1%} "
          f"(target {PP_TARGET:.0%}); repacking probed in {probed:.0f} s, profile measured in "
          f"{profile_s:.0f} s")
    if args.write_doc:
        write_doc(lines, worst_tg, worst_pp, profile_s, args.rounds)
    return 0


def write_doc(lines: list[str], worst_tg: float, worst_pp: float, profile_s: float,
              rounds: int) -> None:
    from workbench.hardware.cpu import detect_cpu
    from workbench.planner import calibration as cal
    from workbench.planner.machine_profile import cache_path

    cpu = detect_cpu()
    kernels = json.loads(cache_path().read_text())["profiles"][0]["kernels"]
    section = f"""{START}
## The profiled preview: no calibration (issue 16)

Generated by `python tests/benchmarks/bench_profile_accuracy.py --rounds {rounds} --write-doc`
on {cpu.model}, {cpu.physical_cores} physical / {cpu.logical_cores} logical cores, no GPU,
{platform.platform()}, llama-cpp-python {cal.llama_version()}, from a fresh data directory:
the kernel profile for the {len(kernels)} kernels these models use ({', '.join(sorted(kernels))})
took **{profile_s:.0f} s** in all. Predicted: the model's GGUF header and that profile only (no
calibration of any architecture). Measured: `workbench bench` pp512 / tg32, 3 repetitions a
round, the models in {rounds} interleaved rounds, the median round (each round's figures in
brackets); the default load settings (one thread per physical core, weight repacking as the
probe found it safe).

{chr(10).join(lines)}

Worst error: generation **{worst_tg:.1%}** (target {TG_TARGET:.0%}), prompt processing
**{worst_pp:.1%}** (target {PP_TARGET:.0%}).
{END}"""
    text = DOC.read_text(encoding="utf-8")
    if START in text and END in text:
        head, rest = text.split(START, 1)
        text = head + section + rest.split(END, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    DOC.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())
