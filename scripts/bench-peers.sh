#!/usr/bin/env bash
# cellscape against its peers on one workload (bench/peers/peer_bench.py):
# PyHessian's top eigenvalue and a loss-landscape-style surface loop on a
# PyTorch twin of the network, cellscape's `hessian` and `surface`, cellscape's
# `hessian` on a TorchScript export of the twin (`--torchscript --data`), and
# a tight ARPACK reference eigenvalue, all on the same checkpoint, weights and
# images. The workload: DARTS_V2, 16 initial channels, 8 cells, trained by
# cellscape for a few SGD steps on Fashion-MNIST (1 epoch of 960 samples in
# batches of 96: 10 steps), the first 256 training samples in one batch of
# 256, 2 threads. Writes bench-results/peers/peers-<workload>.json (and
# prints it).
#
#   bash scripts/bench-peers.sh
#   CELLSCAPE=build/tools/cellscape INIT_CHANNELS=4 LAYERS=3 SAMPLES=16 BATCH_SIZE=16 bash scripts/bench-peers.sh
#
# Without CELLSCAPE it installs the dependencies and builds build/ first
# (scripts/build.sh). Every setting below can be overridden from the
# environment (SKIP: peer_bench.py's --skip, e.g. SKIP=torchscript,surface-loop);
# the checkpoint is trained once per setting and reused.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
python=${CELLSCAPE_PYTHON:-$root/.venv/bin/python}
cell=${CELL:-DARTS_V2}
init_channels=${INIT_CHANNELS:-16}
layers=${LAYERS:-8}
train_size=${TRAIN_SIZE:-960}
train_batch=${TRAIN_BATCH_SIZE:-96}
seed=${SEED:-0}
samples=${SAMPLES:-256}
batch_size=${BATCH_SIZE:-256}
threads=${THREADS:-2}
grid=${GRID:-3x3}
out_dir=${OUT_DIR:-$root/bench-results/peers}
skip=${SKIP:-}

if [ -z "${CELLSCAPE:-}" ]; then
  "$root/scripts/build.sh"
  CELLSCAPE=$root/build/tools/cellscape
fi
[ -x "$CELLSCAPE" ] || { echo "bench-peers.sh: $CELLSCAPE is not an executable cellscape" >&2; exit 1; }
"$python" -c 'import pyhessian' 2>/dev/null ||
  { echo "bench-peers.sh: pyhessian is missing from $python; run scripts/install-deps.sh" >&2; exit 1; }

run=$out_dir/$cell-c$init_channels-l$layers-n$train_size-b$train_batch-s$seed
checkpoint=$run/epoch-0001.h5
if [ ! -f "$checkpoint" ]; then
  rm -rf "$run"
  "$CELLSCAPE" train --cell "$cell" --dataset fashion-mnist --train-size "$train_size" --test-size 100 \
    --batch-size "$train_batch" --init-channels "$init_channels" --layers "$layers" --epochs 1 \
    --threads "$threads" --seed "$seed" --out "$run"
else
  echo "bench-peers.sh: reusing $checkpoint" >&2
fi

"$python" "$root/bench/peers/peer_bench.py" "$checkpoint" --samples "$samples" --batch-size "$batch_size" \
  --threads "$threads" --grid "$grid" --cellscape "$CELLSCAPE" --seed "$seed" --reference --skip "$skip" \
  --out "$out_dir/peers-$cell-c$init_channels-l$layers-n$samples-b$batch_size-t$threads.json"
