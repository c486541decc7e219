#!/usr/bin/env bash
# feddiff sample and feddiff info on the files `feddiff train` writes: samples of the requested
# shape and class, per-client samples of a personalised (udec) checkpoint (asked for the
# client's own classes), and one-line errors for a missing client, a bad class and a corrupt
# checkpoint.
#   test_sample_info.sh FEDDIFF MPIEXEC TINY_INI
set -euo pipefail
feddiff=$1 mpiexec=$2 tiny=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$feddiff" train --config "$tiny" --set fed.method=central --set fed.rounds=1 \
  --set out.dir="$work/c" >"$work/c.log" 2>&1 || { cat "$work/c.log"; fail "central train"; }
"$mpiexec" -n 2 --oversubscribe "$feddiff" train --config "$tiny" --set fed.rounds=1 \
  --set out.dir="$work/u" >"$work/u.log" 2>&1 || { cat "$work/u.log"; fail "udec train"; }
# Strong label skew: each client's grid row asks only for classes it has, in proportion.
"$mpiexec" -n 2 --oversubscribe "$feddiff" train --config "$tiny" --set fed.rounds=1 \
  --set partition.alpha=0.05 --set out.samples=20 --set out.dir="$work/skew" >"$work/skew.log" \
  2>&1 || { cat "$work/skew.log"; fail "skewed udec train"; }
/usr/bin/python3 - "$work/skew/samples.h5" "$work/skew/partition.h5" <<'PY' || fail "client rows"
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r") as s, h5py.File(sys.argv[2], "r") as p:
    labels, clients = s["labels"][()].reshape(2, 10), s["clients"][()].reshape(2, 10)
    hist = p["partition/train_hist"][()]
    for row, client in zip(labels, clients[:, 0]):
        h = hist[client]
        want = np.floor(h * 10 / h.sum())  # at least the floor of each class's share
        got = np.bincount(row, minlength=len(h))
        assert np.all(got[h == 0] == 0), (client, h, row)
        assert np.all(got >= want) and got.sum() == 10 and np.all(np.diff(row) >= 0), (h, row)
PY

"$feddiff" sample --checkpoint "$work/c/checkpoint-000001.h5" --n 6 --class 7 --steps 4 \
  --out "$work/s7" >"$work/s.log" 2>&1 || { cat "$work/s.log"; fail "sample"; }
"$feddiff" sample --checkpoint "$work/u/checkpoint-000001.h5" --n 3 --client 5 --steps 4 \
  --out "$work/u5" >>"$work/s.log" 2>&1 || { cat "$work/s.log"; fail "sample --client"; }
# Without --class, a client of the skewed run is asked for the classes of its own data.
"$feddiff" sample --checkpoint "$work/skew/checkpoint-000001.h5" --n 10 --client 3 --steps 2 \
  --out "$work/k3" >>"$work/s.log" 2>&1 || { cat "$work/s.log"; fail "sample --client (skewed)"; }
/usr/bin/python3 - "$work/k3.h5" "$work/skew/partition.h5" <<'PY' || fail "sample --client classes"
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r") as s, h5py.File(sys.argv[2], "r") as p:
    labels, h = s["labels"][()], p["partition/train_hist"][()][3]
    got = np.bincount(labels, minlength=len(h))
    assert (h == 0).any(), h  # the check needs a class the client lacks
    assert np.all(got[h == 0] == 0) and np.all(got >= np.floor(h * 10 / h.sum())), (h, labels)
PY
[ -s "$work/s7.png" ] && [ -s "$work/u5.png" ] || fail "no PNG grid"
/usr/bin/python3 - "$work/s7.h5" "$work/u5.h5" <<'PY' || fail "sample files"
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r") as f:
    x = f["samples"][()]
    assert x.shape == (6, 28, 28, 1), x.shape
    assert np.isfinite(x).all() and np.abs(x).max() <= 1.0 + 1e-6
    assert (f["labels"][()] == 7).all()
with h5py.File(sys.argv[2], "r") as f:
    assert f["samples"].shape == (3, 28, 28, 1)
    assert (f["clients"][()] == 5).all()
PY

expect_error() { # what pattern command...
  local what=$1 pattern=$2; shift 2
  if "$@" >"$work/err.log" 2>&1; then fail "$what was accepted"; fi
  [ "$(grep -c 'feddiff: error' "$work/err.log")" -eq 1 ] && grep -q "$pattern" "$work/err.log" ||
    { cat "$work/err.log"; fail "$what: expected one error line matching '$pattern'"; }
}
expect_error "udec without --client" "choose one with --client" \
  "$feddiff" sample --checkpoint "$work/u/checkpoint-000001.h5" --n 2
expect_error "client 99" "client 99 is missing" \
  "$feddiff" sample --checkpoint "$work/u/checkpoint-000001.h5" --n 2 --client 99
expect_error "class 12" "class 12: the model has 10 class embeddings" \
  "$feddiff" sample --checkpoint "$work/c/checkpoint-000001.h5" --n 2 --class 12
head -c 3000 "$work/c/checkpoint-000001.h5" >"$work/bad.h5"
expect_error "a truncated checkpoint" "bad.h5" "$feddiff" sample --checkpoint "$work/bad.h5"

"$feddiff" info "$work/u/checkpoint-000001.h5" "$work/u/run.h5" "$work/s7.h5" >"$work/info.log" ||
  fail "info"
grep -q "checkpoint: method udec, after round 1" "$work/info.log" || fail "info: checkpoint line"
grep -q "/clients/params, /clients/ema: \[12x" "$work/info.log" || fail "info: client state"
grep -q "run file: method udec, 12 client(s), 1 round(s)" "$work/info.log" || fail "info: run"
grep -q "/samples: \[6x28x28x1\]" "$work/info.log" || fail "info: samples"
if "$feddiff" info "$work/bad.h5" >/dev/null 2>&1; then fail "info accepted a truncated file"; fi
echo "PASS: sample and info"
