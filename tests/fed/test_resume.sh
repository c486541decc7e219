#!/usr/bin/env bash
# Restartable runs: a resumed run is bitwise identical to an uninterrupted one (2 ranks, and on
# 1 rank from a 2-rank checkpoint; federated and central); --resume latest falls back past a
# truncated checkpoint; a named corrupt checkpoint or another configuration is a one-line error;
# SIGTERM mid-run saves, exits with 75, and the resumed run finishes identical, with a run file
# that holds every round once.
#   test_resume.sh FEDDIFF MPIEXEC
set -euo pipefail
feddiff=$1 mpiexec=$2
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
compare() { /usr/bin/python3 "$here/compare_checkpoints.py" "$@"; }
train() { # ranks dir [args...]
  local ranks=$1 dir=$2; shift 2
  "$mpiexec" -n "$ranks" --oversubscribe "$feddiff" train --config "$here/tiny.ini" \
    --set out.dir="$work/$dir" --set out.checkpoint_every=1 --set out.keep=10 "$@"
}
ckpt() { printf '%s/%s/checkpoint-%06d.h5' "$work" "$1" "$2"; }

# Uninterrupted references.
train 2 full >"$work/full.log" 2>&1 || { cat "$work/full.log"; fail "reference run"; }
train 1 central --set fed.method=central >"$work/central.log" 2>&1 || fail "central reference"

# A fresh start into a folder that holds a run is refused and touches nothing; --overwrite
# deletes that run (checkpoints, temporaries, run file) and starts afresh.
cp -r "$work/full" "$work/ow"
touch "$work/ow/checkpoint-000009.h5.tmp"
(cd "$work/ow" && md5sum -- *) >"$work/ow.md5"
if train 2 ow >"$work/ow.log" 2>&1; then fail "a fresh run overwrote an earlier one"; fi
grep -q "^feddiff: error: $work/ow already holds a run (run.h5, 4 checkpoint(s), the newest checkpoint-000004.h5): continue it with --resume latest, start afresh with --overwrite" \
  "$work/ow.log" || { cat "$work/ow.log"; fail "no error naming the folder and the ways on"; }
(cd "$work/ow" && md5sum -c --quiet "$work/ow.md5") || fail "the refused run changed files"
train 2 ow --set fed.rounds=1 --overwrite >"$work/ow2.log" 2>&1 || { cat "$work/ow2.log"; fail "--overwrite"; }
grep -q "^--overwrite: deleted the earlier run in $work/ow (run.h5, 4 checkpoint(s))" "$work/ow2.log" ||
  fail "no line about the deleted run"
[ "$(cd "$work/ow" && ls checkpoint-*)" = "checkpoint-000001.h5" ] || fail "left: $(ls "$work/ow")"
compare "$(ckpt full 1)" "$(ckpt ow 1)" --exact || fail "the run after --overwrite differs"
if train 2 ow --overwrite --resume latest >"$work/ow3.log" 2>&1; then fail "--overwrite with --resume"; fi

# Resume from round 2 on 2 ranks, on 1 rank, and centrally.
for case in b:2 one:1; do
  dir=${case%:*} ranks=${case#*:}
  mkdir -p "$work/$dir" && cp "$(ckpt full 2)" "$work/$dir/"
  train "$ranks" "$dir" --resume latest >"$work/$dir.log" 2>&1 || { cat "$work/$dir.log"; fail "resume $dir"; }
  grep -q "resumed from .*checkpoint-000002.h5 after round 2" "$work/$dir.log" || fail "$dir: no resume line"
done
compare "$(ckpt full 4)" "$(ckpt b 4)" --exact || fail "resumed on 2 ranks differs"
compare "$(ckpt full 4)" "$(ckpt one 4)" --rtol 1e-5 || fail "resumed on 1 rank differs"
mkdir -p "$work/c2" && cp "$(ckpt central 2)" "$work/c2/"
train 1 c2 --set fed.method=central --resume latest >"$work/c2.log" 2>&1 || { cat "$work/c2.log"; fail "central resume"; }
compare "$(ckpt central 4)" "$(ckpt c2 4)" --exact || fail "resumed central run differs"

# A truncated newest checkpoint: latest warns about it and falls back to the one before.
mkdir -p "$work/d" && cp "$(ckpt full 2)" "$work/d/"
head -c 4000 "$(ckpt full 3)" >"$(ckpt d 3)"
train 2 d --resume latest >"$work/d.log" 2>&1 || { cat "$work/d.log"; fail "fallback run"; }
grep -q "warning: .*checkpoint-000003.h5.*trying an older checkpoint" "$work/d.log" || fail "no fallback warning"
compare "$(ckpt full 4)" "$(ckpt d 4)" --exact || fail "fallback run differs"

# An unreadable run file (a rank killed while appending): kept aside, a new one from round 3.
mkdir -p "$work/r" && cp "$(ckpt full 2)" "$work/r/"
head -c 3000 "$work/full/run.h5" >"$work/r/run.h5"
cp "$work/r/run.h5" "$work/r.bad"
train 2 r --resume latest >"$work/r.log" 2>&1 || { cat "$work/r.log"; fail "resume with a bad run file"; }
grep -q "warning: $work/r/run.h5: .*; kept it as $work/r/run-unusable-000002.h5 and started a new run file" \
  "$work/r.log" || { cat "$work/r.log"; fail "no warning naming the kept run file"; }
cmp -s "$work/r.bad" "$work/r/run-unusable-000002.h5" || fail "the unreadable run file was not kept as it was"
/usr/bin/python3 - "$work/r/run.h5" <<'PY' || fail "new run file"
import sys, h5py, numpy as np
r = h5py.File(sys.argv[1], "r")["rounds/round"][()]
assert np.array_equal(r, [3, 4]), r
PY

# Named corrupt checkpoint, other configuration: one-line errors naming the file or key.
head -c 4000 "$(ckpt full 3)" >"$work/bad.h5"
if train 1 e --resume "$work/bad.h5" >"$work/e.log" 2>&1; then fail "a corrupt checkpoint was accepted"; fi
grep -q "error: .*bad.h5" "$work/e.log" || { cat "$work/e.log"; fail "error does not name the file"; }
mkdir -p "$work/f" && cp "$(ckpt full 2)" "$work/f/"
if train 1 f --resume latest --set model.width=16 >"$work/f.log" 2>&1; then fail "another config was accepted"; fi
grep -q "error: .*model.width = 8, not 16" "$work/f.log" || { cat "$work/f.log"; fail "error does not name the key"; }

# The same configuration on changed data (another split): refused with a one-line error.
/usr/bin/python3 - "$work/dataA/mnist" "$work/dataB/mnist" <<'PY'
import os, struct, sys
import numpy as np
rng = np.random.default_rng(0)
labels = (np.arange(1200) % 10).astype(np.uint8)
for out, lab in ((sys.argv[1], labels), (sys.argv[2], rng.permutation(labels))):
    os.makedirs(out)
    for split, n in (("train", 1200), ("t10k", 200)):
        img = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        with open(f"{out}/{split}-images-idx3-ubyte", "wb") as f:
            f.write(struct.pack(">IIII", 2051, n, 28, 28) + img.tobytes())
        with open(f"{out}/{split}-labels-idx1-ubyte", "wb") as f:
            f.write(struct.pack(">II", 2049, n) + (lab if n == 1200 else lab[:n]).tobytes())
PY
train 1 g --set data.name=mnist --set data.dir="$work/dataA" --set fed.rounds=1 >"$work/g.log" 2>&1 ||
  { cat "$work/g.log"; fail "run on the fake dataset"; }
if train 1 g --set data.name=mnist --set data.dir="$work/dataB" --set fed.rounds=2 --resume latest \
  >"$work/g2.log" 2>&1; then fail "a checkpoint of another split was accepted"; fi
grep -q "error: .*another split of the data" "$work/g2.log" || { cat "$work/g2.log"; fail "no split error"; }

# SIGTERM to the ranks in the middle of a longer run: checkpoint, exit 75, resume to the end.
long=(--set fed.rounds=12 --set train.local_steps=10)
train 2 long "${long[@]}" >"$work/long.log" 2>&1 || fail "long reference"
train 2 sig "${long[@]}" >"$work/sig.log" 2>&1 &
pid=$!
for _ in $(seq 600); do grep -q "^round    3/" "$work/sig.log" && break; sleep 0.1; done
pkill -TERM -f "^$feddiff train --config $here/tiny.ini --set out.dir=$work/sig " || fail "no rank to signal"
rc=0; wait $pid || rc=$?
[ $rc -eq 75 ] || { cat "$work/sig.log"; fail "exit code $rc after SIGTERM, expected 75"; }
grep -q "interrupted by a signal after round" "$work/sig.log" || fail "no interruption line"
train 2 sig "${long[@]}" --resume latest >"$work/sig2.log" 2>&1 || { cat "$work/sig2.log"; fail "resume after SIGTERM"; }
compare "$(ckpt long 12)" "$(ckpt sig 12)" --exact || fail "the interrupted run differs"
/usr/bin/python3 - "$work/sig/run.h5" <<'PY' || fail "run file after resume"
import sys, h5py, numpy as np
r = h5py.File(sys.argv[1], "r")["rounds/round"][()]
assert np.array_equal(r, np.arange(1, 13)), r
PY
echo "PASS: resume"
