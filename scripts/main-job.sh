#!/usr/bin/env bash
# The main job (README command 1): installs, builds, runs the default study
# (data/studies/quick.toml: DARTS_V2 and its variants from 1c to 4c wide on
# Fashion-MNIST) into out/quick, draws its figures, and prints the summary
# table and where the figures are. Rerunning it resumes or reuses finished work.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${BUILD_DIR:-$root/build}
out_dir=${OUT_DIR:-$root/out/quick}
config=${STUDY_CONFIG:-$root/data/studies/quick.toml}

"$root/scripts/build.sh" cellscape
start=$(date +%s)
"$build_dir/tools/cellscape" study "$config" --out "$out_dir"
"${VENV_DIR:-$root/.venv}/bin/python" -m cellscape_plots study "$out_dir" > /dev/null
echo "study run and figures took $(( $(date +%s) - start )) s"
echo "figures: $out_dir/figures/ (cells, loss-curves, loss-contours, loss-contours-linear, gradient-variance-surfaces when computed, hessian, scatter; PNG and PDF)"
