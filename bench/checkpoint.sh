#!/usr/bin/env bash
# Checkpoint write bandwidth: a federated checkpoint of 1,000 clients (default UNet, udec: each
# client keeps temb+enc+mid) written collectively by 2 ranks, against the same bytes written
# with plain POSIX writes by the same 2 ranks from the same memory (both end with fsync),
# alternated REPS times (default 5) inside one `feddiff bench checkpoint` after one untimed
# write (the first large write after the disk has idled is slow, dd's too): every pair, the
# median of the pairs' ratios (the disk's speed drifts from one minute to the next on a shared
# machine, so a pair measured back to back is the fair comparison) and best against best.
# Then dd from /dev/zero writing as many bytes, REPS times: a writer that holds none of the
# data in memory (on this VM that alone makes writing 5 GB faster), best against best.
# Figures only.
#   [REPS=N] bench/checkpoint.sh [DIR] [CLIENTS] [METHOD]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-runs/bench} clients=${2:-1000} method=${3:-udec} reps=${REPS:-5}
if [ ! -f build/CMakeCache.txt ]; then cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null; fi
cmake --build build -j "$(nproc)" --target feddiff >/dev/null
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
mkdir -p "$dir"
out=$(mpirun -n 2 --oversubscribe --bind-to none build/feddiff bench checkpoint \
        --clients "$clients" --method "$method" --dir "$dir" --reps "$reps")
echo "$out"
gb=$(sed -nE 's/.* ([0-9.]+) GB: .*/\1/p' <<<"$out")
best_ck=$(sed -nE 's/.*best ([0-9.]+) MB\/s against.*/\1/p' <<<"$out")
count=$(awk -v g="$gb" 'BEGIN { printf "%d", g * 1e9 / 8388608 + 1 }')
best_dd=0
for ((rep = 1; rep <= reps; rep++)); do
  line=$(dd if=/dev/zero of="$dir/dd.bin" bs=8M count="$count" conv=fsync 2>&1 | tail -1)
  rm -f "$dir/dd.bin"
  mb=$(awk -v b=$((count * 8388608)) -v s="$(sed -E 's/.* copied, ([0-9.]+) s.*/\1/' <<<"$line")" \
         'BEGIN { printf "%.1f", b / s / 1e6 }')
  echo "  dd $rep: $mb MB/s"
  best_dd=$(awk -v a="$best_dd" -v b="$mb" 'BEGIN { print (b > a ? b : a) }')
done
awk -v c="$best_ck" -v d="$best_dd" 'BEGIN {
  printf "dd from /dev/zero: best %.1f MB/s; the best checkpoint is %.0f%% of it\n", d, 100 * c / d }'
