"""What the router costs a request: the sensitive-data detector and the whole decision on a
4,000-token prompt (16,000 characters at 4 characters a token), the figures docs/serve.md
quotes (the tests check what the detector finds, never how fast).

usage: python tests/benchmarks/bench_router.py [--rounds 200]

Four prompts of 16,000 characters: English prose, Python code, a server log (digits, times, IP
addresses), and the prose with one e-mail address, card number and IBAN planted in the middle.
For each: ``detect()`` alone and ``Router.route()`` (reading the messages, the detector, the
rules), median and 95th percentile over ``--rounds`` calls after a warm-up, one JSON line each,
then the worst median.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from workbench.routing.policy import Match, Rule  # noqa: E402
from workbench.routing.router import Router  # noqa: E402
from workbench.routing.sensitive import detect  # noqa: E402

CHARS = 16_000

PROSE = ("The committee met on Tuesday to review the plan for the new library wing. Members "
         "agreed that the reading room needs more light, that the budget of last year was too "
         "small for the repairs, and that the work should start before the winter. ")
CODE = ("def merge(left, right):\n    out, i, j = [], 0, 0\n    while i < len(left) and j < "
        "len(right):\n        if left[i] <= right[j]:\n            out.append(left[i]); i += 1\n"
        "        else:\n            out.append(right[j]); j += 1\n    return out + left[i:] + "
        "right[j:]  # 2024-05-01 v1.2.3 x[::2]\n")
LOG = ("2026-12-03T10:15:42.123Z INFO  worker[4821] request 7f3a9c21 from 10.0.12.7:51544 "
       "GET /v1/models 200 12.4 ms bytes=1832 fe80::1ff:fe23:4567:890a\n")
PLANTED = " Reply to jane.doe@example.org, card 4111 1111 1111 1111, IBAN GB82WEST12345698765432. "


def fill(unit: str, planted: str = "") -> str:
    text = (unit * (CHARS // len(unit) + 1))[:CHARS]
    if planted:
        middle = CHARS // 2
        text = (text[:middle] + planted + text[middle:])[:CHARS]
    return text


def measure(call: Callable[[], object], rounds: int) -> dict[str, float]:
    for _ in range(10):
        call()
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return {"median_ms": round(statistics.median(times), 3),
            "p95_ms": round(times[int(len(times) * 0.95) - 1], 3)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    router = Router("local:/models/model.gguf", "openai:gpt-4o-mini", default="cloud",
                    keywords=["Project Falcon"], patterns=[r"\bEMP-\d{6}\b"],
                    rules=[Rule(Match(min_tokens=8000), "cloud"),
                           Rule(Match(keywords=("prove", "derive")), "cloud"),
                           Rule(Match(tags=("code",)), "cloud")])
    prompts = {"prose": fill(PROSE), "code": fill(CODE), "log": fill(LOG),
               "prose+pii": fill(PROSE, PLANTED)}
    medians = []
    print(json.dumps({"machine": platform.processor() or platform.machine(),
                      "cpus": os.cpu_count(), "python": platform.python_version(),
                      "chars": CHARS, "rounds": args.rounds}))
    for name, text in prompts.items():
        messages = [{"role": "system", "content": "You are helpful."},
                    {"role": "user", "content": text}]
        found = sorted({f.kind for f in detect(text)})
        detector = measure(lambda text=text: detect(text), args.rounds)
        decision = router.route(messages)
        routed = measure(lambda messages=messages: router.route(messages), args.rounds)
        medians.append(routed["median_ms"])
        print(json.dumps({"prompt": name, "found": found, "route": decision.reason,
                          "detect": detector, "route_total": routed}))
    print(json.dumps({"worst_median_route_ms": max(medians)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
