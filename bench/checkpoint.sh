#!/usr/bin/env bash
# Checkpoint write bandwidth: a federated checkpoint of 1,000 clients (default UNet, udec: each
# client keeps temb+enc+mid) written collectively by 2 ranks, against dd writing as many bytes
# to the same folder; both end with fsync. Alternated three times; best of each. Figures only.
#   bench/checkpoint.sh [DIR] [CLIENTS] [METHOD]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-runs/bench} clients=${2:-1000} method=${3:-udec}
if [ ! -f build/CMakeCache.txt ]; then cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null; fi
cmake --build build -j "$(nproc)" --target feddiff >/dev/null
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
mkdir -p "$dir"
best_ck=0 best_dd=0 bytes=0
for rep in 1 2 3; do
  line=$(mpirun -n 2 --oversubscribe --bind-to none build/feddiff bench checkpoint \
           --clients "$clients" --method "$method" --dir "$dir" --reps 1)
  echo "  $line"
  bytes=$(sed -E 's/.*: ([0-9]+) bytes.*/\1/' <<<"$line")
  ck=$(sed -E 's/.* ([0-9.]+) MB\/s$/\1/' <<<"$line")
  count=$(( (bytes + 8388607) / 8388608 ))
  dd=$(dd if=/dev/zero of="$dir/dd.bin" bs=8M count="$count" conv=fsync 2>&1 | tail -1)
  rm -f "$dir/dd.bin"
  dd_mb=$(awk -v b=$((count * 8388608)) -v s="$(sed -E 's/.* copied, ([0-9.]+) s.*/\1/' <<<"$dd")" 'BEGIN { printf "%.1f", b / s / 1e6 }')
  echo "  dd: $dd ($dd_mb MB/s)"
  best_ck=$(awk -v a="$best_ck" -v b="$ck" 'BEGIN { print (b > a ? b : a) }')
  best_dd=$(awk -v a="$best_dd" -v b="$dd_mb" 'BEGIN { print (b > a ? b : a) }')
done
awk -v c="$best_ck" -v d="$best_dd" -v n="$bytes" 'BEGIN {
  printf "checkpoint %.1f MB/s, dd %.1f MB/s (%.2f GB): checkpoint at %.0f%% of dd\n", c, d, n / 1e9, 100 * c / d }'
