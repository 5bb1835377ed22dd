#!/usr/bin/env bash
# Both accuracy benchmarks of the planner in one command: memory (estimated vs llama.cpp's
# reported buffers) and speed (predicted vs measured generation tok/s). Results are printed and
# written to docs/memory-accuracy.md and docs/speed-accuracy.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
python3 tests/benchmarks/bench_memory_accuracy.py "$@"
python3 tests/benchmarks/bench_speed_accuracy.py --write-doc
