#!/usr/bin/env bash
# Builds the genotype-parser fuzz target with clang and fuzzes it for a
# bounded time. Usage: run-fuzz.sh BUILD_DIR SECONDS
# The seed corpus is the zoo plus a few malformed genotypes and inputs that
# once crashed the parser (seeds/regression-*); new inputs the
# fuzzer finds go to BUILD_DIR/corpus, so repeated runs build on each other.
set -euo pipefail
build_dir=${1:?usage: run-fuzz.sh BUILD_DIR SECONDS}
seconds=${2:?usage: run-fuzz.sh BUILD_DIR SECONDS}
here=$(cd "$(dirname "$0")" && pwd)

cmake -S "$here" -B "$build_dir" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build_dir" >/dev/null

corpus="$build_dir/corpus"
mkdir -p "$corpus"
# One seed per zoo genotype line, plus the hand-written seeds.
grep '= Genotype' "$here/../../data/zoo/genotypes.txt" | split -l 1 - "$corpus/zoo-"
cp "$here"/seeds/* "$corpus/"
# Very long lines (a std::regex once overflowed the stack on them): one of
# 150 KB of letters, and a statement whose name and padding are as long.
head -c 150000 /dev/zero | tr '\0' 'A' > "$corpus/long-line"
{ printf 'X'; head -c 150000 /dev/zero | tr '\0' 'x'; printf ' = Genotype(normal=[]'; head -c 1000 /dev/zero | tr '\0' ' '; echo ')'; } \
  > "$corpus/long-statement"

"$build_dir/genotype_parser_fuzz" -max_total_time="$seconds" -timeout=5 -rss_limit_mb=2048 -max_len=262144 \
  -artifact_prefix="$build_dir/" \
  -print_final_stats=1 "$corpus" 2>&1 | tail -n 25
echo "fuzzed the genotype parser for ${seconds}s without a failure"
