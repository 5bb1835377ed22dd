"""What ``workbench serve`` costs an answer, the figures docs/serve.md quotes.

usage: python tests/benchmarks/bench_serve.py [--model PATH] [--rounds 7] [--tokens 200]

The model (default: the real SmolLM2-135M-Instruct Q4_1 the tests use) is answered greedily
(temperature 0, the same tokens every time) in interleaved rounds, three ways:

- direct: a ``LocalEngine`` in this process, the way ``workbench run`` answers (the same worker,
  the same resolved settings);
- served: ``/v1/chat/completions`` streamed with the openai SDK from ``workbench serve`` running
  as its own process, naming the model;
- auto: the same request to model ``auto`` (``--cloud`` to a loopback stand-in); the prompt holds
  an e-mail address, so the router keeps it local: the detector and the decision are in its path.

For each: generation tokens/s as the client sees it ((tokens - 1) / (last text - first text)) and
the client's TTFT (request to first text). Then 4 concurrent streams against 1 stream: the
aggregate tokens/s (all tokens / wall time). One JSON line per measurement, then a summary with
medians and the ratios (served / direct, auto / direct) and the TTFT the server and the router
add (median of the paired differences within each round).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import openai  # noqa: E402

from tests.fakes import openai_faults  # noqa: E402
from workbench.engine.client import LocalEngine  # noqa: E402
from workbench.engine.defaults import resolve_load_settings  # noqa: E402
from workbench.engine.settings import LoadSettings, Sampling  # noqa: E402

CTX = 2048
PROMPT = ("Write a long story about a lighthouse keeper and a storm, for my editor at "
          "jane.doe@example.org. Make it at least five paragraphs.")
MESSAGES = [{"role": "user", "content": PROMPT}]


def stream_rate(stamps: list[float], tokens: int) -> float | None:
    if tokens < 2 or len(stamps) < 2 or stamps[-1] <= stamps[0]:
        return None
    return (tokens - 1) / (stamps[-1] - stamps[0])


def direct(engine: LocalEngine, tokens: int) -> dict[str, Any]:
    stamps: list[float] = []
    start = time.perf_counter()
    result = engine.chat(MESSAGES, Sampling(temperature=0.0, max_tokens=tokens, seed=1),
                         on_delta=lambda _text, _n: stamps.append(time.perf_counter()))
    n = result.metrics.completion_tokens
    return {"way": "direct", "tokens": n, "tok_s": stream_rate(stamps, n),
            "ttft_ms": (stamps[0] - start) * 1000 if stamps else None}


def served(client: openai.OpenAI, model: str, tokens: int, way: str) -> dict[str, Any]:
    stamps: list[float] = []
    usage = None
    start = time.perf_counter()
    for chunk in client.chat.completions.create(
            model=model, messages=MESSAGES, max_tokens=tokens, temperature=0, seed=1,
            stream=True, stream_options={"include_usage": True}):
        if chunk.choices and chunk.choices[0].delta.content:
            stamps.append(time.perf_counter())
        if chunk.usage is not None:
            usage = chunk.usage
    n = usage.completion_tokens if usage is not None else len(stamps)
    return {"way": way, "tokens": n, "tok_s": stream_rate(stamps, n),
            "ttft_ms": (stamps[0] - start) * 1000 if stamps else None}


def concurrent(client: openai.OpenAI, model: str, tokens: int, streams: int) -> dict[str, Any]:
    results: list[dict[str, Any]] = []
    start = time.perf_counter()
    threads = [threading.Thread(target=lambda: results.append(
        served(client, model, tokens, "concurrent"))) for _ in range(streams)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    total = sum(r["tokens"] for r in results)
    return {"way": f"{streams} streams", "streams": streams, "tokens": total,
            "aggregate_tok_s": total / wall, "wall_s": wall}


def start_server(model: Path, cloud_url: str) -> tuple[subprocess.Popen[str], str]:
    home = tempfile.mkdtemp(prefix="bench-serve-")  # its route log is not the user's
    env = {**os.environ, "WORKBENCH_HOME": home, "OPENAI_BASE_URL": cloud_url + "/v1",
           "OPENAI_API_KEY": "sk-bench-serve-0123456789", "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "workbench", "serve", "--model", str(model), "--no-library",
         "--port", "0", "--ctx", str(CTX), "--cloud", "openai:gpt-4o-mini", "--quiet",
         "--max-queue", "16"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env=env, start_new_session=True)
    assert process.stdout is not None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        found = re.search(r"listening on (http://\S+/v1)", line)
        if found:
            return process, found.group(1)
        if not line and process.poll() is not None:
            break
    process.kill()
    raise SystemExit("workbench serve did not start")


def median(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--tokens", type=int, default=200)
    args = parser.parse_args()
    if args.model is None:
        from tests.helpers.real_models import SMOLLM2, fetch

        args.model = fetch(SMOLLM2)
    cloud = openai_faults.server(openai_faults.ok(["cloud"]))
    with cloud:
        process, base_url = start_server(args.model, cloud.url)
        try:
            client = openai.OpenAI(base_url=base_url, api_key="none", max_retries=0,
                                   timeout=600)
            name = args.model.name
            settings, _ = resolve_load_settings(LoadSettings(str(args.model), n_ctx=CTX))
            rows: list[dict[str, Any]] = []
            with LocalEngine() as engine:
                engine.load(settings)
                direct(engine, 8)  # warm-ups
                served(client, name, 8, "warm-up")
                served(client, "auto", 8, "warm-up")
                for round_no in range(args.rounds):
                    order = [lambda: direct(engine, args.tokens),
                             lambda: served(client, name, args.tokens, "served"),
                             lambda: served(client, "auto", args.tokens, "auto")]
                    if round_no % 2:
                        order.reverse()
                    for measure in order:
                        row = {**measure(), "round": round_no}
                        rows.append(row)
                        print(json.dumps(row), flush=True)
            assert not [r for r in cloud.requests if r.path.endswith("/chat/completions")], \
                "the e-mail prompt reached the cloud stand-in"
            parallel = []
            for round_no in range(max(2, args.rounds // 2)):
                for streams in ((1, 4) if round_no % 2 == 0 else (4, 1)):
                    row = {**concurrent(client, name, args.tokens, streams), "round": round_no}
                    parallel.append(row)
                    print(json.dumps(row), flush=True)
        finally:
            os.killpg(process.pid, signal.SIGINT)
            process.wait(timeout=60)

    def of(way: str, key: str) -> list[float]:
        return [r[key] for r in rows if r["way"] == way and r[key] is not None]

    def paired(way: str, key: str) -> list[float]:
        out = []
        for round_no in range(args.rounds):
            here = {r["way"]: r[key] for r in rows if r["round"] == round_no}
            if here.get(way) is not None and here.get("direct") is not None:
                out.append(here[way] / here["direct"] if key == "tok_s"
                           else here[way] - here["direct"])
        return out

    one = [r["aggregate_tok_s"] for r in parallel if r["streams"] == 1]
    four = [r["aggregate_tok_s"] for r in parallel if r["streams"] == 4]
    summary = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "model": args.model.name, "tokens": args.tokens, "rounds": args.rounds,
        "tok_s": {way: median(of(way, "tok_s")) for way in ("direct", "served", "auto")},
        "ttft_ms": {way: median(of(way, "ttft_ms")) for way in ("direct", "served", "auto")},
        "served/direct tok_s (median of paired ratios)": median(paired("served", "tok_s")),
        "served/direct range": [min(paired("served", "tok_s")), max(paired("served", "tok_s"))],
        "auto/direct tok_s": median(paired("auto", "tok_s")),
        "TTFT added by the server, ms (median paired)": median(paired("served", "ttft_ms")),
        "TTFT added by server + router, ms": median(paired("auto", "ttft_ms")),
        "aggregate tok/s, 1 stream": median(one), "aggregate tok/s, 4 streams": median(four),
        "4 streams / 1 stream": (median(four) or 0) / (median(one) or 1),
    }
    print(json.dumps({"summary": summary}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
