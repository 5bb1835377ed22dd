#!/usr/bin/env bash
# Build llama.cpp's own llama-bench from the llama.cpp source vendored in the INSTALLED
# llama-cpp-python version, with the same CMake defaults its wheel build uses, so the overhead
# benchmark compares like with like. Prints the path of the binary on its last line.
#   usage: tests/benchmarks/build_llama_bench.sh [WORKDIR]   (default: ~/.cache/workbench/llama-bench)
set -euo pipefail
version=$(python3 -c "import importlib.metadata as m; print(m.version('llama-cpp-python'))")
work=${1:-"${XDG_CACHE_HOME:-$HOME/.cache}/workbench/llama-bench"}
bin="$work/build-$version/bin/llama-bench"
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi
mkdir -p "$work"
src="$work/llama_cpp_python-$version"
if [ ! -d "$src" ]; then
    python3 -m pip download --no-deps --no-binary :all: -d "$work" "llama-cpp-python==$version" >&2
    tar -xzf "$work/llama_cpp_python-$version.tar.gz" -C "$work"
fi
cmake -S "$src/vendor/llama.cpp" -B "$work/build-$version" -DCMAKE_BUILD_TYPE=Release \
    -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF \
    -DBUILD_SHARED_LIBS=OFF ${CMAKE_ARGS:-} >&2
cmake --build "$work/build-$version" --target llama-bench -j "$(nproc)" >&2
echo "$bin"
