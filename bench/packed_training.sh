#!/usr/bin/env bash
# Replicates per hour of training, packed against unpacked, with the
# cellscape command as a user runs it (docs/performance.md, "Packed
# replicates"). For each pack size K it trains the same 16 replicates
# (seeds 1-16) of one cell:
#   jobs2:  two `cellscape train --seed N --threads 1` at a time (what
#           `cellscape study --jobs 2` with threads = 1 does), 8 rounds;
#   packK:  `cellscape train --seeds ...` of K seeds at a time with
#           --threads 2 (the pack takes both cores), 16/K rounds;
#   packK x2: two packs of K side by side, each --threads 1.
# Prints one line per way: wall seconds for the 16 and replicates per hour.
# Usage: bench/packed_training.sh CELLSCAPE OUT_DIR [network: C LAYERS] [epochs] [cell]
set -euo pipefail
cellscape=${1:?the cellscape binary}
out=${2:?a scratch directory}
channels=${3:-8}
layers=${4:-5}
epochs=${5:-2}
cell=${6:-DARTS_V2}
# The powered study's replicate settings (data/studies/powered.toml).
settings=(--cell "$cell" --dataset fashion-mnist --train-size 2000 --test-size 500 --epochs "$epochs"
          --batch-size 64 --lr 0.05 --init-channels "$channels" --layers "$layers")
rm -rf "$out"
mkdir -p "$out"
rate() { python3 -c "import sys; s=float(sys.argv[1]); print(f'{s:8.1f} s for 16 replicates, {16*3600/s:7.1f} replicates/hour')" "$1"; }
now() { date +%s.%N; }

start=$(now)
for round in $(seq 1 2 16); do
  "$cellscape" train "${settings[@]}" --seed "$round" --threads 1 --out "$out/jobs2/seed-$round" > /dev/null 2>&1 &
  first=$!
  "$cellscape" train "${settings[@]}" --seed $((round + 1)) --threads 1 --out "$out/jobs2/seed-$((round + 1))" > /dev/null 2>&1
  wait "$first"
done
echo "jobs2 (K=1, 2 processes x 1 thread): $(rate "$(python3 -c "print($(now) - $start)")")"

for pack in 2 4 8; do
  start=$(now)
  for first in $(seq 1 "$pack" 16); do
    seeds=$(seq -s, "$first" $((first + pack - 1)))
    "$cellscape" train "${settings[@]}" --seeds "$seeds" --threads 2 --out "$out/pack$pack" > /dev/null 2>&1
  done
  echo "pack $pack (1 process x 2 threads):   $(rate "$(python3 -c "print($(now) - $start)")")"
  start=$(now)
  for first in $(seq 1 $((2 * pack)) 16); do
    seeds=$(seq -s, "$first" $((first + pack - 1)))
    "$cellscape" train "${settings[@]}" --seeds "$seeds" --threads 1 --out "$out/pack${pack}x2" > /dev/null 2>&1 &
    other=$!
    seeds=$(seq -s, $((first + pack)) $((first + 2 * pack - 1)))
    "$cellscape" train "${settings[@]}" --seeds "$seeds" --threads 1 --out "$out/pack${pack}x2" > /dev/null 2>&1
    wait "$other"
  done
  echo "pack $pack x2 (2 processes x 1 thread): $(rate "$(python3 -c "print($(now) - $start)")")"
done
