"""Start time of the frozen bundle against the pip install, paired and interleaved.

    python tests/benchmarks/bench_bundle_start.py [dist/workbench] [--rounds 9]

Each round runs the same command once with each binary (the order alternating), in one fresh
WORKBENCH_HOME, offline: ``--version`` (the interpreter and the CLI's imports) and ``hw --json``
(the hardware probes). Prints the median and the range of each, and the frozen/pip ratio of
the medians (docs/packaging.md).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = (("--version",), ("hw", "--json"))


def timed(binary: Path, args: tuple[str, ...], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([str(binary), *args], env=env, capture_output=True, check=True, timeout=120)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", nargs="?", type=Path, default=ROOT / "dist" / "workbench")
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    binaries = {"frozen": args.bundle / "workbench",
                "pip": Path(sys.executable).with_name("workbench")}
    with tempfile.TemporaryDirectory() as home:
        env = {key: value for key, value in os.environ.items()
               if not key.startswith(("PYTHON", "WORKBENCH_"))}
        env.update(WORKBENCH_HOME=home, WORKBENCH_OFFLINE="1")
        for command in COMMANDS:
            times: dict[str, list[float]] = {name: [] for name in binaries}
            for binary in binaries.values():  # a warm-up each: the page cache
                timed(binary, command, env)
            for round_ in range(args.rounds):
                order = list(binaries) if round_ % 2 == 0 else list(binaries)[::-1]
                for name in order:
                    times[name].append(timed(binaries[name], command, env))
            medians = {name: statistics.median(values) for name, values in times.items()}
            for name, values in times.items():
                print(f"{' '.join(command):12} {name:6} median {medians[name]:.3f} s "
                      f"(range {min(values):.3f}-{max(values):.3f}, n={len(values)})")
            print(f"{' '.join(command):12} frozen/pip {medians['frozen'] / medians['pip']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
