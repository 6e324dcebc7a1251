#!/usr/bin/env bash
# Builds the benchmarks (bench/) in build-bench/ and runs them; results go to
# stdout and bench-results/ as JSON. Record them in docs/performance.md with
# the machine, threads and date.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${BUILD_DIR:-$root/build-bench}
"$root/scripts/install-deps.sh"
cmake -S "$root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCELLSCAPE_BUILD_BENCHMARKS=ON \
  -DCELLSCAPE_BUILD_TESTS=OFF
cmake --build "$build_dir"
mkdir -p "$root/bench-results"
for program in "$build_dir"/bench/bench_*; do
  name=$(basename "$program")
  "$program" --benchmark_out="$root/bench-results/$name.json" --benchmark_out_format=json "$@"
done
