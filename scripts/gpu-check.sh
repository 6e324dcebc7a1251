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

# Timings. Each is one command's own measure, one-time costs (cuDNN's first
# calls) included. time_work NAME DEVICE POLICY DATASET C LAYERS TRAIN BATCH
# HVP_SAMPLES [TRAIN FLAGS]: TRAIN/BATCH training steps (the epoch's seconds
# include one test batch), a Lanczos run to 1e-2 with HVPs on HVP_SAMPLES
# samples, and 3 surface points on 1000 training images (or all TRAIN), under
# --cuda-float32 POLICY.
time_work() {
  local name=$1 device=$2 policy=$3 dataset=$4 channels=$5 layers=$6 train=$7 batch=$8 hvp_samples=$9
  shift 9
  local surface_samples=$(( train < 1000 ? train : 1000 ))
  stage "timings: $name ($device, $policy, C=$channels, $layers cells)"
  local timing=$out/timing/$name
  rm -rf "$timing"; mkdir -p "$timing"
  printf '{"steps": %d, "batch": %d, "hvp_samples": %d, "surface_samples": %d, "channels": %d, "layers": %d, '\
'"device": "%s", "cuda_float32": "%s"}\n' $((train / batch)) "$batch" "$hvp_samples" "$surface_samples" "$channels" \
    "$layers" "$device" "$policy" > "$timing/work.json"
  "$cellscape" train --cell DARTS_V2 --dataset "$dataset" --train-size "$train" --test-size "$batch" \
    --batch-size "$batch" --init-channels "$channels" --layers "$layers" --epochs 1 --device "$device" \
    --cuda-float32 "$policy" "$@" --out "$timing/train" --json > "$timing/train.json" 2>> "$log" || return 1
  "$cellscape" hessian --checkpoint "$timing/train/epoch-0001.h5" --device "$device" --cuda-float32 "$policy" \
    --samples "$hvp_samples" --batch-size "$hvp_samples" --top-k 1 --tol 1e-2 --ncv 10 --json \
    > "$timing/hessian.json" 2>> "$log" || return 1
  "$cellscape" surface --checkpoint "$timing/train/epoch-0001.h5" --device "$device" --cuda-float32 "$policy" \
    --x -1:1:3 --eval train --samples "$surface_samples" --batch-size 500 --out "$timing/surface.h5" --json \
    > "$timing/surface.json" 2>> "$log" || return 1
}
# The benchmarks' size: DARTS_V2, C=16, 8 cells, Fashion-MNIST, 100 steps of 64.
benchmark_size=("$data" 16 8 6400 64 256)
time_work cpu cpu ieee "${benchmark_size[@]}" || failed=1
time_work cuda cuda ieee "${benchmark_size[@]}" || failed=1
time_work cuda-tf32 cuda tf32 "${benchmark_size[@]}" || failed=1
# The paper's network (C=36, 20 cells, 32x32 colour images, batch 80 with crop
# and flip) on random images in CIFAR-10's binary layout (timing needs no real
# data): 12 steps, HVPs on 500 samples. On the GPU only: on the CPU it would
# take most of the lease.
cifar=$build_dir/cifar10-random  # not among the results: 6 MB of noise
"$python" - "$cifar" <<'EOF_CIFAR'
import pathlib, sys
import numpy as np
target = pathlib.Path(sys.argv[1])
target.mkdir(parents=True, exist_ok=True)
rng = np.random.default_rng(0)
def records(count):  # each: 1 label byte, then 3x32x32 pixel bytes
    data = rng.integers(0, 256, size=(count, 1 + 3 * 32 * 32), dtype=np.uint8)
    data[:, 0] %= 10
    return data.tobytes()
for i in range(1, 6):
    (target / f"data_batch_{i}.bin").write_bytes(records(400))
(target / "test_batch.bin").write_bytes(records(200))
EOF_CIFAR
paper_size=("cifar10:$cifar" 36 20 960 80 500 --crop-padding 4 --flip)
time_work paper-cuda cuda ieee "${paper_size[@]}" || failed=1
time_work paper-cuda-tf32 cuda tf32 "${paper_size[@]}" || failed=1

# Packed replicates (cellscape train --seeds, docs/training.md) at the evidence
# study's replicate settings (DARTS_V2, C=8, 5 cells, 2000 training images,
# batch 64): one epoch of K seeds as one network, K = 1, 4, 16, 32, on the GPU
# (and K = 1, 4 on the CPU for reference). On 2 CPU cores packing did not pay
# (docs/performance.md); on a GPU one such network leaves the device waiting.
time_pack() {
  local device=$1 pack=$2
  local timing=$out/packs/$device-$pack
  rm -rf "$timing"; mkdir -p "$timing"
  stage "packed training: $pack seeds as one network on $device"
  "$cellscape" train --cell DARTS_V2 --dataset "$data" --train-size 2000 --test-size 500 --batch-size 64 \
    --lr 0.05 --init-channels 8 --layers 5 --epochs 1 --device "$device" --seeds "$(seq -s, 1 "$pack")" \
    --out "$timing/train" --json > "$timing/train.json" 2>> "$log" || return 1
}
for pack in 1 4; do time_pack cpu "$pack" || failed=1; done
for pack in 1 4 16 32; do time_pack cuda "$pack" || failed=1; done

stage "report"
"$python" - "$out" "$failed" <<'EOF' | tee -a "$log"
import json, pathlib, sys
import h5py
out, failed = pathlib.Path(sys.argv[1]), sys.argv[2] == "1"
def timing(name):
    base = out / "timing" / name
    work = json.load(open(base / "work.json"))
    try:
        with h5py.File(base / "train" / "epoch-0001.h5") as f:
            epoch_seconds = float(f["history/epoch/seconds"][0])
        hessian = json.load(open(base / "hessian.json"))
        surface = json.load(open(base / "surface.json"))
    except (OSError, KeyError, ValueError) as error:
        return {**work, "error": str(error)}
    return {**work, "training_step_seconds": epoch_seconds / work["steps"],
            "hvp_seconds": hessian["seconds"] / hessian["hvp_count"],
            "surface_point_seconds": surface["seconds_per_point"]}
def packs():
    result = {}
    for run in sorted((out / "packs").iterdir()) if (out / "packs").exists() else []:
        try:
            members = json.load(open(run / "train.json"))
            with h5py.File(pathlib.Path(members[0]["out_dir"]) / "epoch-0001.h5") as f:
                epoch = float(f["history/epoch/seconds"][0])
        except (OSError, KeyError, ValueError, IndexError) as error:
            result[run.name] = {"error": str(error)}
            continue
        result[run.name] = {"members": len(members), "epoch_seconds": epoch,
                            "seconds_per_replicate_epoch": epoch / len(members),
                            "final_test_accuracy": [m["final_test_accuracy"] for m in members]}
    return result
runs = [p.name for p in sorted((out / "timing").iterdir()) if (p / "work.json").exists()]
comparison = json.load(open(out / "comparison.json"))
report = {"info": json.load(open(out / "info.json")), "checks_passed": not failed,
          "comparison": comparison, "timing": {name: timing(name) for name in runs}, "packs": packs()}
json.dump(report, open(out / "gpu-check.json", "w"), indent=2)
print(f"{'run':16} {'training step':>14} {'HVP':>10} {'surface point':>14}   (seconds)")
for name, t in report["timing"].items():
    if "error" in t:
        print(f"{name:16} incomplete: {t['error']}")
        continue
    print(f"{name:16} {t['training_step_seconds']:14.4f} {t['hvp_seconds']:10.4f} {t['surface_point_seconds']:14.4f}"
          f"   batch {t['batch']}, HVPs on {t['hvp_samples']}, points on {t['surface_samples']}, "
          f"C={t['channels']}, {t['layers']} cells")
for name, p in report["packs"].items():
    print(f"pack {name:12} " + (f"incomplete: {p['error']}" if "error" in p else
          f"{p['members']} replicates, epoch {p['epoch_seconds']:.2f} s, "
          f"{p['seconds_per_replicate_epoch']:.3f} s per replicate-epoch"))
print(f"results: {out / 'gpu-check.json'}")
EOF
if [ "$failed" = 0 ] && "$python" -c 'import json,sys; sys.exit(0 if json.load(open(sys.argv[1]))["ok"] else 1)' \
     "$out/comparison.json"; then
  stage "every check passed"
  exit 0
fi
stage "a check FAILED (see $log)"
exit 1
