#!/usr/bin/env bash
# feddiff partition: the table, the HDF5 file (every sample of the split exactly once, per-client
# histograms that add up), and one-line errors for a bad key and an impossible split.
set -euo pipefail
feddiff=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

common=(--set data.name=builtin:glyphs --set data.train_size=3000 --set fed.clients=40
        --set partition.method=dirichlet --set partition.alpha=0.1 --set partition.unseen_clients=4)
"$feddiff" partition "${common[@]}" --out "$work/p.h5" --rows 0 >"$work/table.txt"
grep -q "40 clients (36 seen + 4 unseen)" "$work/table.txt" || fail "header: $(head -1 "$work/table.txt")"
[ "$(grep -cE '^ +[0-9]+  (seen|unseen) ' "$work/table.txt")" -eq 40 ] || fail "expected 40 client rows"
[ "$(grep -cE '^ +[0-9]+  unseen ' "$work/table.txt")" -eq 4 ] || fail "expected 4 unseen rows"

/usr/bin/python3 - "$work/p.h5" <<'PY' || fail "partition file check"
import sys, h5py, numpy as np
g = h5py.File(sys.argv[1], "r")["partition"]
idx = np.concatenate([g["train_index"][...], g["test_index"][...]])
assert np.array_equal(np.sort(idx), np.arange(3000)), "samples not assigned exactly once"
for part in ("train", "test"):
    off, hist = g[part + "_offset"][...], g[part + "_hist"][...]
    assert off.shape == (41,) and hist.shape == (40, 10), (off.shape, hist.shape)
    assert np.array_equal(np.diff(off), hist.sum(axis=1)), part + " histograms do not add up"
assert int(g["unseen"][...].sum()) == 4
PY

# The same config gives the same file contents.
"$feddiff" partition "${common[@]}" --out "$work/q.h5" >/dev/null
cmp <(h5dump -d /partition/train_index "$work/p.h5" | tail -n +2) \
    <(h5dump -d /partition/train_index "$work/q.h5" | tail -n +2) || fail "not deterministic"

# Errors: one line naming the key, non-zero exit, no file written.
if "$feddiff" partition --set partition.alpah=0.1 --out "$work/bad.h5" 2>"$work/err"; then fail "unknown key accepted"; fi
grep -q "partition.alpah.*partition.alpha" "$work/err" || fail "unknown key message: $(cat "$work/err")"
if "$feddiff" partition "${common[@]}" --set partition.min_samples=1000 --out "$work/bad.h5" 2>"$work/err"; then
  fail "impossible min_samples accepted"
fi
grep -q "min_samples" "$work/err" || fail "min_samples message: $(cat "$work/err")"
[ ! -e "$work/bad.h5" ] || fail "a file was written on error"
echo "partition command: ok"
