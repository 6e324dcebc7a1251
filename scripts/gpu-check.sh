#!/usr/bin/env bash
# The GPU check (docs/gpu.md): one prepared command for a GPU machine where
# nothing can be downloaded and PyTorch is preinstalled in its python3.
#
#   scripts/gpu-check.sh [--bundle DIR] [--python PYTHON] [--build-dir DIR] [--out DIR]
#                        [--jobs N] [--no-build]
#
#   --bundle DIR     the folder scripts/gpu-bundle.sh made on a Debian 12
#                    machine: headers, CMake packages and libraries of every
#                    dependency but LibTorch, and a Fashion-MNIST subset
#                    (default: gpu-bundle/)
#   --python PYTHON  the interpreter whose PyTorch provides LibTorch, and
#                    which runs the comparison (default: python3)
#   --build-dir DIR  where to build (default: build-gpu/)
#   --out DIR        results (default: out/gpu-check/): gpu-check.json, log,
#                    the result files of each device under results/
#   --jobs N         build and test jobs (default: all cores)
#   --no-build       use the build already in --build-dir
#
# It builds cellscape against that PyTorch with the bundle (CUDA compiled
# in), runs the unit tests with the GPU visible and the CUDA unit tests
# ([cuda]), computes the same float64 quantities on the CPU and the GPU from
# one small checkpoint (loss and top Hessian eigenvalue, gradient variance
# with per-tensor gradient norms, a 5-point surface row), compares them with
# scripts/gpu_check_compare.py, and times a training step, an HVP and a
# surface point on both devices. Exit status: 0 when every check passed,
# 1 when one failed, 2 for bad arguments, 3 when no GPU is visible.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bundle=$root/gpu-bundle
python=python3
build_dir=$root/build-gpu
out=$root/out/gpu-check
jobs=$(nproc)
build=1

usage_error() {
  echo "gpu-check.sh: $1 (see scripts/gpu-check.sh --help)" >&2
  exit 2
}
while [ $# -gt 0 ]; do
  case "$1" in
    --bundle|--python|--build-dir|--out|--jobs)
      [ $# -ge 2 ] && [ -n "$2" ] || usage_error "$1 needs a value"
      case "$1" in
        --bundle) bundle=$2 ;;
        --python) python=$2 ;;
        --build-dir) build_dir=$2 ;;
        --out) out=$2 ;;
        --jobs) jobs=$2 ;;
      esac
      shift ;;
    --no-build) build=0 ;;
    -h|--help) sed -n '2,29p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) usage_error "unknown argument '$1'" ;;
  esac
  shift
done
[[ "$jobs" =~ ^[1-9][0-9]*$ ]] || usage_error "--jobs must be a positive number, not '$jobs'"
[ -f "$bundle/MANIFEST" ] ||
  usage_error "no bundle at '$bundle': make one with scripts/gpu-bundle.sh on a Debian 12 machine and carry it along"
bundle=$(cd "$bundle" && pwd)
# A bundle made by an older gpu-bundle.sh can lack what this build links (it
# once lacked tcmalloc, and the build stopped on the GPU machine).
grep -q "^# script sha256 $(sha256sum "$root/scripts/gpu-bundle.sh" | cut -d' ' -f1)\$" "$bundle/MANIFEST" ||
  usage_error "the bundle at '$bundle' was made by another version of scripts/gpu-bundle.sh: make it again there"
torch_prefix=$("$python" -c 'import torch; print(torch.utils.cmake_prefix_path)' 2>/dev/null) ||
  usage_error "'$python' cannot import torch: give the interpreter that holds PyTorch with --python"

mkdir -p "$out"
out=$(cd "$out" && pwd)
log=$out/log
: > "$log"
say() { echo "gpu-check: $*" | tee -a "$log"; }
stage_start=$(date +%s)
stage() { say "[$(( $(date +%s) - stage_start )) s] $*"; }

lib=$bundle/lib/x86_64-linux-gnu
export LD_LIBRARY_PATH=$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export CELLSCAPE_PYTHON=$python

if [ "$build" = 1 ]; then
  stage "configure against PyTorch in $torch_prefix and the bundle $bundle"
  cmake -S "$root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCELLSCAPE_PYTHON="$(command -v "$python")" \
    -DCMAKE_PREFIX_PATH="$bundle;$torch_prefix" -DHDF5_ROOT="$bundle" -DCELLSCAPE_EXPECT_CUDA=ON \
    -DCELLSCAPE_TCMALLOC_LIBRARY="$lib/libtcmalloc_minimal.so" \
    -DCMAKE_EXE_LINKER_FLAGS="-Wl,-rpath-link,$lib" >> "$log" 2>&1 || { say "configuration failed; see $log"; exit 1; }
  stage "build ($jobs jobs)"
  cmake --build "$build_dir" -j "$jobs" >> "$log" 2>&1 || { say "build failed; see $log"; exit 1; }
fi
cellscape=$build_dir/tools/cellscape
"$cellscape" info > "$out/info.json"
say "$(tr -d '\n ' < "$out/info.json")"
if ! "$python" -c 'import json,sys; sys.exit(0 if json.load(open(sys.argv[1]))["cuda_devices"] > 0 else 1)' \
     "$out/info.json"; then
  say "no GPU visible to this build (cuda_devices 0): the CPU-against-GPU check needs one"
  exit 3
fi

failed=0
# The program's std::filesystem calls must bind to libstdc++, not to the copies
# libtorch.so exports (libanalysis/cmake/torch.cmake; on this image's compiler
# they once did, and remove_all crashed). CI's test of this runs on Debian only.
stage "where the program's std::filesystem calls bind"
binary=$(readlink -f "$cellscape")
bindings=$(LD_BIND_NOW=1 LD_DEBUG=bindings "$binary" info 2>&1 >/dev/null |
           grep -F "binding file $binary " | grep -F '`_ZNSt10filesystem' || true)
if [ -z "$bindings" ]; then
  say "LD_DEBUG listed no std::filesystem binding of $binary: cannot check"; failed=1
elif grep -v -F '/libstdc++.so.6 ' <<< "$bindings" | grep -q .; then
  say "std::filesystem calls bind outside libstdc++:"; grep -v -F '/libstdc++.so.6 ' <<< "$bindings" | head -3 | tee -a "$log"
  failed=1
else
  say "all $(wc -l <<< "$bindings") std::filesystem bindings go to libstdc++.so.6"
fi
stage "unit tests with the GPU visible"
# Left to CI, which has what they need and a GPU machine lacks: the command-line
# and plotting tests (Debian's Python packages, Slurm), the tests that read
# Debian's full Fashion-MNIST, and those that run Graphviz. The installed
# package's consumer finds the dependencies in the bundle, as the build did.
unit_tests_elsewhere='^cli_|^plots$|^genotype_parser_fuzz$|^Fashion-MNIST from Debian|^seeded subsets and per-channel'
unit_tests_elsewhere+='|^an Objective from a training checkpoint|^render_dot '
(cd "$build_dir" && CMAKE_PREFIX_PATH="$bundle:$torch_prefix" HDF5_ROOT="$bundle" \
   ctest -j "$jobs" --output-on-failure -E "$unit_tests_elsewhere") >> "$log" 2>&1 ||
  { say "unit tests FAILED (see $log)"; failed=1; }
stage "CUDA unit tests ([cuda])"
"$build_dir/tests/test_analysis" "[cuda]" > "$out/cuda-tests.txt" 2>&1 || { say "CUDA unit tests FAILED"; failed=1; }
grep -q 'All tests passed' "$out/cuda-tests.txt" || { say "CUDA unit tests did not all pass"; failed=1; }
tail -n 2 "$out/cuda-tests.txt" | tee -a "$log"

data="fashion-mnist:$bundle/data/fashion-mnist"
checkpoint=$out/train-small/epoch-0001.h5
[ -e "$checkpoint" ] || { stage "a small checkpoint (CPU)"
  "$cellscape" train --cell DARTS_V2 --dataset "$data" --train-size 512 --test-size 256 --batch-size 64 \
    --init-channels 4 --layers 3 --epochs 1 --threads 4 --seed 3 --out "$out/train-small" > /dev/null 2>> "$log"; }

for device in cpu cuda; do
  stage "float64 results on $device"
  results=$out/results/$device
  rm -rf "$results"; mkdir -p "$results"
  common=(--checkpoint "$checkpoint" --dtype float64 --device "$device" --threads 4)
  "$cellscape" hessian "${common[@]}" --samples 128 --batch-size 128 --top-k 1 --tol 1e-8 --json \
    > "$results/hessian.json" 2>> "$log"
  "$cellscape" gradvar "${common[@]}" --batches 4 --batch-size 64 --out "$results/gradvar.h5" > /dev/null 2>> "$log"
  "$cellscape" surface "${common[@]}" --x -1:1:5 --eval test --samples 256 --out "$results/surface.h5" \
    > /dev/null 2>> "$log"
done
stage "compare CPU and GPU"
"$python" "$root/scripts/gpu_check_compare.py" "$out/results/cpu" "$out/results/cuda" --names cpu,cuda \
  --report "$out/comparison.json" | tee -a "$log" || failed=1

# Timings at the benchmarks' size: DARTS_V2, C=16, 8 cells, Fashion-MNIST.
for device in cpu cuda; do
  stage "timings on $device"
  timing=$out/timing/$device
  rm -rf "$timing"; mkdir -p "$timing"
  # 100 steps of batch 64; the epoch's seconds include one test batch of 64.
  "$cellscape" train --cell DARTS_V2 --dataset "$data" --train-size 6400 --test-size 64 --batch-size 64 \
    --init-channels 16 --layers 8 --epochs 1 --device "$device" --out "$timing/train" --json \
    > "$timing/train.json" 2>> "$log"
  "$cellscape" hessian --checkpoint "$timing/train/epoch-0001.h5" --device "$device" \
    --samples 256 --batch-size 128 --top-k 1 --tol 1e-2 --ncv 10 --json > "$timing/hessian.json" 2>> "$log"
  "$cellscape" surface --checkpoint "$timing/train/epoch-0001.h5" --device "$device" \
    --x -1:1:3 --y -1:1:3 --eval train --samples 1000 --out "$timing/surface.h5" --json > "$timing/surface.json" \
    2>> "$log"
done

stage "report"
"$python" - "$out" "$failed" <<'EOF' | tee -a "$log"
import json, pathlib, sys
import h5py
out, failed = pathlib.Path(sys.argv[1]), sys.argv[2] == "1"
def timing(device):
    base = out / "timing" / device
    with h5py.File(base / "train" / "epoch-0001.h5") as f:
        epoch_seconds = float(f["history/epoch/seconds"][0])
    hessian = json.load(open(base / "hessian.json"))
    surface = json.load(open(base / "surface.json"))
    return {"training_step_seconds": epoch_seconds / 100, "hvp_seconds": hessian["seconds"] / hessian["hvp_count"],
            "surface_point_seconds": surface["seconds_per_point"]}
comparison = json.load(open(out / "comparison.json"))
report = {"info": json.load(open(out / "info.json")), "unit_tests_passed": not failed,
          "comparison": comparison, "timing": {d: timing(d) for d in ("cpu", "cuda")}}
json.dump(report, open(out / "gpu-check.json", "w"), indent=2)
t = report["timing"]
for key, label in (("training_step_seconds", "training step (batch 64)"), ("hvp_seconds", "HVP (256 samples)"),
                   ("surface_point_seconds", "surface point (1000 images)")):
    print(f"{label:30} cpu {t['cpu'][key]:9.4f} s   cuda {t['cuda'][key]:9.4f} s   "
          f"speed-up {t['cpu'][key] / t['cuda'][key]:6.1f}x")
print(f"results: {out / 'gpu-check.json'}")
EOF
if [ "$failed" = 0 ] && "$python" -c 'import json,sys; sys.exit(0 if json.load(open(sys.argv[1]))["ok"] else 1)' \
     "$out/comparison.json"; then
  stage "every check passed"
  exit 0
fi
stage "a check FAILED (see $log)"
exit 1
