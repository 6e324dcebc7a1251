#!/usr/bin/env bash
# The GPU check (docs/gpu.md): builds cellscape against a CUDA-enabled
# LibTorch, runs the unit tests with the GPU visible, compares CPU and GPU
# results on the same checkpoint (loss, top Hessian eigenvalue, a surface
# row, gradient variance; float64, tolerances below), and times training
# steps and Hessian-vector products on the GPU. Results go to
# OUT/gpu-check.json and stdout.
#
#   scripts/gpu-check.sh [--no-build] [--build-dir DIR] [--out DIR]
#
# TORCH_PREFIX names the CUDA LibTorch (the unpacked official archive, or
# PyTorch's own CMake package); by default PyTorch's, found through
# `python3 -c 'import torch; print(torch.utils.cmake_prefix_path)'`.
# Without a CUDA device the script runs its CPU part: the reference
# computations, compared against a second CPU run, and says so.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=$root/build-gpu
out=$root/out/gpu-check
build=1
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) build=0 ;;
    --build-dir) build_dir=$2; shift ;;
    --out) out=$2; shift ;;
    *) echo "gpu-check.sh: unknown argument $1 (use --no-build, --build-dir DIR, --out DIR)" >&2; exit 2 ;;
  esac
  shift
done

if [ "$build" = 1 ]; then
  prefix=${TORCH_PREFIX:-$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)' 2>/dev/null || true)}
  cmake -S "$root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release ${prefix:+-DCMAKE_PREFIX_PATH="$prefix"}
  cmake --build "$build_dir"
  # Unit tests only: the CLI tests' timings and the Slurm daemons are not what this checks.
  (cd "$build_dir" && ctest --output-on-failure -j "$(nproc)" -E '^cli_|^plots$|^genotype_parser_fuzz$')
fi

cellscape=$build_dir/tools/cellscape
python=${CELLSCAPE_PYTHON:-$root/.venv/bin/python}
mkdir -p "$out"
"$cellscape" info > "$out/info.json"
if "$python" -c 'import json,sys; sys.exit(0 if json.load(open(sys.argv[1]))["cuda_available"] else 1)' "$out/info.json"; then
  gpu=cuda
else
  gpu=cpu
  echo "gpu-check: no CUDA device in this build or machine: running the CPU part (CPU against CPU)" >&2
fi

# A small trained checkpoint, shared by both devices (kept from an earlier run of the check).
[ -e "$out/train/epoch-0001.h5" ] || "$cellscape" train --cell DARTS_V2 --dataset fashion-mnist --train-size 512 --test-size 256 --batch-size 64 \
  --init-channels 4 --layers 3 --epochs 1 --threads 2 --seed 3 --out "$out/train" > /dev/null
checkpoint=$out/train/epoch-0001.h5
for run in "cpu reference" "$gpu compared"; do
  read -r device role <<< "$run"
  tag=$device-$role
  common=(--checkpoint "$checkpoint" --dtype float64 --device "$device" --threads 2)
  "$cellscape" hessian "${common[@]}" --samples 128 --batch-size 128 --top-k 1 --tol 1e-8 --json \
    > "$out/hessian-$tag.json" 2> /dev/null
  "$cellscape" surface "${common[@]}" --x -1:1:5 --eval test --samples 256 --out "$out/surface-$tag.h5" \
    > /dev/null 2>&1
  "$cellscape" gradvar "${common[@]}" --batches 4 --batch-size 64 --json > "$out/gradvar-$tag.json" 2> /dev/null
done

timing='{}'
if [ "$gpu" = cuda ]; then
  # GPU timings at the benchmarks' size: DARTS_V2, C=16, 8 cells, batch 64; HVPs on 256 samples, float32.
  rm -rf "$out/train-gpu"  # a fresh run each time: its seconds are the timing
  "$cellscape" train --cell DARTS_V2 --dataset fashion-mnist --train-size 6400 --test-size 1000 --batch-size 64 \
    --init-channels 16 --layers 8 --epochs 1 --device cuda --out "$out/train-gpu" --json > "$out/train-gpu.json"
  "$cellscape" hessian --checkpoint "$out/train-gpu/epoch-0001.h5" --device cuda --samples 256 --batch-size 128 \
    --top-k 1 --tol 1e-4 --json > "$out/hessian-gpu-timing.json" 2> /dev/null
  # (100 steps; the epoch's test evaluation is included in the training seconds)
  timing=$("$python" -c 'import json,sys
t = json.load(open(sys.argv[1])); h = json.load(open(sys.argv[2]))
print(json.dumps({"train_seconds_per_step": t["seconds"] / 100, "hvp_seconds": h["seconds"] / h["hvp_count"]}))' \
    "$out/train-gpu.json" "$out/hessian-gpu-timing.json")
fi

"$python" - "$out" "$gpu" "$timing" <<'EOF'
import json, pathlib, sys
import h5py, numpy as np
out, gpu, timing = pathlib.Path(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
first, second = "cpu-reference", f"{gpu}-compared"
def load(kind, tag):
    return json.load(open(out / f"{kind}-{tag}.json"))
# float64 everywhere: the devices differ only in summation order (cuDNN picks
# its own algorithms), so 1e-9 relative for losses and variances; the top
# eigenvalue converges to Spectra's 1e-8 from the same seeded start: 1e-6.
checks = []
def compare(name, a, b, rtol):
    error = abs(a - b) / max(abs(a), 1e-300)
    checks.append({"quantity": name, "cpu": a, gpu: b, "relative_difference": error, "tolerance": rtol,
                   "ok": bool(error <= rtol)})
h1, h2 = load("hessian", first), load("hessian", second)
compare("loss", h1["loss"], h2["loss"], 1e-9)
compare("top eigenvalue", h1["eigenvalues"][0], h2["eigenvalues"][0], 1e-6)
with h5py.File(out / f"surface-{first}.h5") as a, h5py.File(out / f"surface-{second}.h5") as b:
    for x, u, v in zip(a["xcoordinates"][()], a["test_loss"][()], b["test_loss"][()]):
        compare(f"surface test loss at x={x:g}", float(u), float(v), 1e-9)
g1, g2 = load("gradvar", first), load("gradvar", second)
compare("gradient variance", g1["total_variance"], g2["total_variance"], 1e-9)
report = {"device": gpu, "checks": checks, "gpu_timing": timing}
json.dump(report, open(out / "gpu-check.json", "w"), indent=2)
for c in checks:
    print(f"{'ok  ' if c['ok'] else 'FAIL'} {c['quantity']:32} cpu {c['cpu']:.12g}  {gpu} {c[gpu]:.12g}  "
          f"rel. diff {c['relative_difference']:.2e} (tolerance {c['tolerance']:g})")
if timing:
    print(f"GPU: {timing['train_seconds_per_step']:.4f} s per training step (batch 64), "
          f"{timing['hvp_seconds']:.4f} s per HVP (256 samples)")
print(f"results: {out / 'gpu-check.json'}")
sys.exit(0 if all(c["ok"] for c in checks) else 1)
EOF
