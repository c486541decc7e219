#!/usr/bin/env bash
# Checkpoint write bandwidth: a federated checkpoint of 1,000 clients (default UNet, udec: each
# client keeps temb+enc+mid) written collectively by 2 ranks, against dd writing as many bytes
# to the same folder; both end with fsync. Alternated REPS times (default 5): the best of each,
# and the median of each repetition's checkpoint/dd ratio (the disk's speed drifts between
# repetitions on a shared machine, so a pair measured back to back is the fairer comparison).
# Figures only.
#   [REPS=N] bench/checkpoint.sh [DIR] [CLIENTS] [METHOD]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-runs/bench} clients=${2:-1000} method=${3:-udec}
if [ ! -f build/CMakeCache.txt ]; then cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null; fi
cmake --build build -j "$(nproc)" --target feddiff >/dev/null
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
mkdir -p "$dir"
checkpoint() {
  line=$(mpirun -n 2 --oversubscribe --bind-to none build/feddiff bench checkpoint \
           --clients "$clients" --method "$method" --dir "$dir" --reps 1)
  echo "  $line"
  bytes=$(sed -E 's/.*: ([0-9]+) bytes.*/\1/' <<<"$line")
  ck=$(sed -E 's/.* ([0-9.]+) MB\/s$/\1/' <<<"$line")
}
plain() {
  local count=$(( (bytes + 8388607) / 8388608 )) out
  out=$(dd if=/dev/zero of="$dir/dd.bin" bs=8M count="$count" conv=fsync 2>&1 | tail -1)
  rm -f "$dir/dd.bin"
  dd_mb=$(awk -v b=$((count * 8388608)) -v s="$(sed -E 's/.* copied, ([0-9.]+) s.*/\1/' <<<"$out")" 'BEGIN { printf "%.1f", b / s / 1e6 }')
  echo "  dd: $out ($dd_mb MB/s)"
}
best_ck=0 best_dd=0 bytes=0 ratios=()
for ((rep = 1; rep <= ${REPS:-5}; rep++)); do
  # The order flips every repetition (the first needs the checkpoint's size for dd).
  if ((rep % 2)); then checkpoint; plain; else plain; checkpoint; fi
  best_ck=$(awk -v a="$best_ck" -v b="$ck" 'BEGIN { print (b > a ? b : a) }')
  best_dd=$(awk -v a="$best_dd" -v b="$dd_mb" 'BEGIN { print (b > a ? b : a) }')
  ratios+=("$(awk -v c="$ck" -v d="$dd_mb" 'BEGIN { print c / d }')")
done
median=$(printf "%s\n" "${ratios[@]}" | sort -g | awk '{ r[NR] = $1 } END {
  print (NR % 2 ? r[(NR + 1) / 2] : (r[NR / 2] + r[NR / 2 + 1]) / 2) }')
awk -v c="$best_ck" -v d="$best_dd" -v n="$bytes" -v m="$median" 'BEGIN {
  printf "checkpoint %.1f MB/s, dd %.1f MB/s (%.2f GB): best at %.0f%% of best dd; median pair %.0f%%\n",
         c, d, n / 1e9, 100 * c / d, 100 * m }'
