#!/usr/bin/env bash
# The main job: installs, builds, prints the genotype zoo with each cell's
# width and depth and draws every zoo cell into out/zoo/. (The full study of
# later issues will replace this.)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${BUILD_DIR:-$root/build}
out_dir=${OUT_DIR:-$root/out/zoo}

"$root/scripts/build.sh"
mkdir -p "$out_dir"
"$build_dir/tools/cellscape" cell --list
"$build_dir/tools/cellscape" cell --list --render "$out_dir/{name}.svg"
"$build_dir/tools/cellscape" cell --list --json > "$out_dir/zoo.json"
echo "cell diagrams and zoo.json are in $out_dir"
