#!/usr/bin/env bash
# Every config shipped in configs/ must resolve: no unknown key, no value out of range.
set -uo pipefail
feddiff=$1 dir=$2
n=0 bad=0
for f in "$dir"/*.ini; do
  n=$((n + 1))
  if ! out=$(OMP_NUM_THREADS=1 "$feddiff" config --config "$f" 2>&1 >/dev/null); then
    echo "FAIL: $f: $out"
    bad=$((bad + 1))
  fi
done
[ "$n" -gt 0 ] || { echo "FAIL: no configs in $dir"; exit 1; }
echo "$((n - bad)) of $n configs in $dir resolve"
[ "$bad" -eq 0 ]
