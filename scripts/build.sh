#!/usr/bin/env bash
# Installs the Debian packages (as root) and builds cellscape in BUILD_DIR
# (default: build/). With target names as arguments it builds only those
# (main-job.sh builds the `cellscape` program and nothing else); without,
# everything, tests included (test.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${BUILD_DIR:-$root/build}

"$root/scripts/install-deps.sh"
cmake -S "$root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release
if [ $# -gt 0 ]; then
  cmake --build "$build_dir" --target "$@"
else
  cmake --build "$build_dir"
fi
