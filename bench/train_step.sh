#!/usr/bin/env bash
# Training-step throughput of feddiff against PyTorch: `feddiff bench train-step` and
# bench/peer_torch.py (the same UNet, step and optimizer settings), run alternately REPS times
# at each batch size on the same thread count, then one table: the best images/s of each (the
# machine is shared, and interference only ever slows a run down), their ratio, and the peak
# RSS of each. Figures only: it never fails on speed, only when a run itself fails.
#   bench/train_step.sh                   # batch 16 and 64, 2 threads, 3 repetitions
#   REPS=5 STEPS=20 BATCHES="64" THREADS=1 bench/train_step.sh
# The runs use OMP_WAIT_POLICY=passive unless it is set: on a shared machine a spinning team
# loses whole time slices whenever another process holds one of its cores (see bench/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."

REPS=${REPS:-3}
STEPS=${STEPS:-10}
WARMUP=${WARMUP:-2}
THREADS=${THREADS:-2}
BATCHES=${BATCHES:-"16 64"}
export OMP_NUM_THREADS=$THREADS
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
PYTHON=/usr/bin/python3 # Debian's, with torch

if [ ! -f build/CMakeCache.txt ]; then
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build build -j "$(nproc)" --target feddiff >/dev/null

# PyTorch gets feddiff's own train.* defaults.
setting() { build/feddiff config | awk -v key="$1" '/^\[/{s=$0} s=="[train]" && $1==key {print $3}'; }
LR=$(setting lr)
CLIP=$(setting grad_clip)
WD=$(setting weight_decay)

log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT

# field NAME FILE: the value of NAME=... on the RESULT line of a run's output
field() { sed -n "s/^RESULT.* $1=\([^ ]*\).*/\1/p" "$2"; }

run_feddiff() {
  build/feddiff bench train-step --batch "$1" --steps "$STEPS" --warmup "$WARMUP" >"$2"
}
run_torch() {
  "$PYTHON" bench/peer_torch.py --batch "$1" --steps "$STEPS" --warmup "$WARMUP" \
    --threads "$THREADS" --lr "$LR" --weight-decay "$WD" --clip "$CLIP" >"$2"
}

echo "train step, default UNet: $REPS alternating repetitions of $WARMUP warm-up + $STEPS timed" \
  "steps, $THREADS thread(s), OMP_WAIT_POLICY=$OMP_WAIT_POLICY; AdamW lr $LR, weight decay $WD," \
  "clip $CLIP"
for B in $BATCHES; do
  for r in $(seq 1 "$REPS"); do
    # Alternate which one goes first, so that a slow phase of the machine hits both alike.
    if [ $((r % 2)) -eq 1 ]; then order="feddiff torch"; else order="torch feddiff"; fi
    for who in $order; do
      out="$log/$who.$B.$r"
      "run_$who" "$B" "$out"
      printf '  batch %3s rep %s %-8s %8s images/s %8s ms CPU/step %8s MB peak RSS\n' "$B" "$r" \
        "$who" "$(field images_per_s "$out")" "$(field cpu_ms_per_step "$out")" \
        "$(field peak_rss_mb "$out")"
    done
  done
done

# best COLUMN WHO B: of the run with the most images/s, column 1 (images/s) or 2 (peak RSS)
best() { for f in "$log/$2.$3".*; do echo "$(field images_per_s "$f") $(field peak_rss_mb "$f")"; done |
  sort -g -r | head -1 | cut -d' ' -f"$1"; }
# least_cpu WHO B: the least CPU time per step over the runs
least_cpu() { for f in "$log/$1.$2".*; do field cpu_ms_per_step "$f"; done | sort -g | head -1; }

echo
grep -m1 '^GFLOP per image' "$log/feddiff.${BATCHES%% *}.1"
echo "img/s: best of $REPS runs each, ratio = feddiff / torch; CPU: least CPU time per step (all"
echo "threads) of the runs, ratio = torch / feddiff; RSS: peak resident set (ru_maxrss) of the best run"
printf '%5s %13s %11s %6s %11s %9s %6s %15s %11s %9s\n' batch "feddiff img/s" "torch img/s" ratio \
  "feddiff CPU" "torch CPU" ratio "feddiff GFLOP/s" "feddiff RSS" "torch RSS"
printf '%5s %13s %11s %6s %11s %9s %6s %15s %11s %9s\n' "" "" "" "" ms ms "" "(of peak)" MB MB
for B in $BATCHES; do
  fi=$(best 1 feddiff "$B")
  ti=$(best 1 torch "$B")
  fc=$(least_cpu feddiff "$B")
  tc=$(least_cpu torch "$B")
  # The achieved GFLOP/s and peak fraction of the best feddiff run.
  bestf=$(for f in "$log/feddiff.$B".*; do echo "$(field images_per_s "$f") $f"; done |
    sort -g -r | head -1 | cut -d' ' -f2)
  gf="$(field gflops "$bestf") ($(awk -v p="$(field peak_fraction "$bestf")" 'BEGIN{printf "%.0f%%", 100*p}'))"
  printf '%5s %13s %11s %5.2fx %11.0f %9.0f %5.2fx %15s %11s %9s\n' "$B" "$fi" "$ti" \
    "$(awk -v a="$fi" -v b="$ti" 'BEGIN{print a/b}')" "$fc" "$tc" \
    "$(awk -v a="$tc" -v b="$fc" 'BEGIN{print a/b}')" "$gf" "$(best 2 feddiff "$B")" \
    "$(best 2 torch "$B")"
done
