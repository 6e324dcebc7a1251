#!/usr/bin/env bash
# The full test suite from scratch: installs, builds, runs every test
# (Catch2 units, CLI tests through pytest, a bounded fuzz run) with CTest.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${BUILD_DIR:-$root/build}

"$root/scripts/build.sh"
cd "$build_dir"
ctest --output-on-failure -j 2
