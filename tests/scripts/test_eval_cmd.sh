#!/usr/bin/env bash
# feddiff evaluator and feddiff eval on a small glyph set: the classifier file (accuracy,
# contents, determinism); the baselines (training images score a small fid_cls, KID near 0 and
# faithful labels; noise a large one); per-client rows; evaluation during training into the run
# file (also after a resume); eval of a checkpoint and of a samples file; one-line errors.
set -euo pipefail
feddiff=$1
mpiexec=${2:-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
py() { /usr/bin/python3 - "$@"; }

data=(--set data.name=builtin:glyphs --set data.train_size=3000 --set data.test_size=1000
      --set run.seed=3 --set run.threads=1)

# ---- the classifier ------------------------------------------------------------------------------
"$feddiff" evaluator "${data[@]}" --set classifier.epochs=2 --out "$work/cls.h5" >"$work/ev.txt"
grep -q "^epoch   2/2" "$work/ev.txt" || fail "no progress lines: $(cat "$work/ev.txt")"
py "$work/cls.h5" <<'PY' || fail "classifier file"
import sys, h5py
f = h5py.File(sys.argv[1], "r")
a = {k: v.decode() if isinstance(v, bytes) else v for k, v in f.attrs.items()}
assert a["format"] == "feddiff-classifier" and a["dataset"] == "builtin:glyphs", a
assert a["feature_dim"] == 128 and a["test_accuracy"] >= 0.95, (a["feature_dim"], a["test_accuracy"])
assert "[classifier]" in a["config"] and "description" in a
w = f["weights"]
assert w["conv1.weight"].shape == (16, 1, 3, 3) and w["fc1.weight"].shape == (128, 7 * 7 * 32)
assert w["fc2.bias"].shape == (10,) and w.attrs["feature_scale"] > 0
assert all("meaning" in w[k].attrs for k in w), "a weight without its meaning"
PY
# grep reads a file, not a pipe: grep -q leaving early would kill feddiff with SIGPIPE (pipefail).
"$feddiff" info "$work/cls.h5" >"$work/info.txt"
grep -q "evaluation classifier of builtin:glyphs" "$work/info.txt" || fail "feddiff info"
"$feddiff" evaluator "${data[@]}" --set classifier.epochs=2 --out "$work/cls2.h5" >/dev/null
py "$work/cls.h5" "$work/cls2.h5" <<'PY' || fail "the classifier is not deterministic"
import sys, h5py, numpy as np
a, b = (h5py.File(p, "r")["weights"] for p in sys.argv[1:])
assert all(np.array_equal(a[k][()], b[k][()]) for k in a)
PY

# ---- baselines: training images against the test split, and noise ------------------------------
"$feddiff" eval --real --n 1000 "${data[@]}" --classifier "$work/cls.h5" --out "$work/real.h5" >"$work/real.txt"
"$feddiff" eval --noise --n 1000 "${data[@]}" --classifier "$work/cls.h5" --out "$work/noise.h5" >/dev/null
grep -qE "^test split +1000 +1000 " "$work/real.txt" || fail "table: $(cat "$work/real.txt")"
py "$work/real.h5" "$work/noise.h5" <<'PY' || fail "baselines"
import sys, h5py, numpy as np
real, noise = (h5py.File(p, "r")["all"] for p in sys.argv[1:])
r = {k: real[k][()] for k in real}
n = {k: noise[k][()] for k in noise}
print("real: fid %.4f kid %.5f +- %.5f tv %.4f acc %.4f; noise: fid %.4f kid %.5f tv %.4f"
      % (r["fid_cls"], r["kid_cls_mean"], r["kid_cls_std"], r["label_tv"], r["cond_acc"],
         n["fid_cls"], n["kid_cls_mean"], n["label_tv"]))
assert r["fid_cls"] < 1.0 and n["fid_cls"] > 20 * r["fid_cls"], "FID does not separate"
assert abs(r["kid_cls_mean"]) < 0.01 and n["kid_cls_mean"] > 100 * abs(r["kid_cls_mean"]), "KID"
assert r["label_tv"] < 0.05 and r["cond_acc"] > 0.95 and n["label_tv"] > 0.3, "labels"
assert np.isnan(n["cond_acc"]) and real["class_fid"].shape == (10,)
PY

# ---- per client: each client's training images against its held-out data ------------------------
clients=(--set fed.clients=4 --set partition.method=dirichlet --set partition.alpha=0.3
         --set eval.client_samples=200)
"$feddiff" eval --real --clients "${data[@]}" "${clients[@]}" --classifier "$work/cls.h5" \
  --out "$work/clients.h5" >"$work/clients.txt"
[ "$(sed -n '/^client /,$p' "$work/clients.txt" | grep -cE '^[0-9]+ ')" -eq 4 ] ||
  fail "client rows: $(cat "$work/clients.txt")"
py "$work/clients.h5" <<'PY' || fail "per-client file"
import sys, h5py, numpy as np
g = h5py.File(sys.argv[1], "r")["clients"]
assert list(g["client"][()]) == [0, 1, 2, 3] and g["class_fid"].shape == (4, 10)
assert np.all(g["n_gen"][()] <= 200) and np.all(g["label_tv"][()] < 0.2), g["label_tv"][()]
PY

# ---- evaluation during training, and after a resume ---------------------------------------------
train=(--config /dev/null "${data[@]}" --set model.width=16 --set model.mults=1,2
       --set model.res_blocks=1 --set model.attention=0 --set model.classes=true
       --set train.batch=16 --set train.local_steps=10 --set fed.rounds=2
       --set out.dir="$work/run" --set out.checkpoint_every=1 --set out.samples=20
       --set eval.every=1 --set eval.classifier="$work/cls.h5" --set eval.samples=40
       --set eval.sample_steps=4 --set eval.kid_subsets=5)
"$feddiff" train "${train[@]}" >"$work/train.txt"
[ "$(grep -c '^eval ' "$work/train.txt")" -eq 2 ] || fail "eval lines: $(cat "$work/train.txt")"
"$feddiff" train "${train[@]}" --resume "$work/run/checkpoint-000001.h5" >/dev/null
"$feddiff" info "$work/run/run.h5" >"$work/info.txt"
grep -q "fid_cls: .* at the last evaluation" "$work/info.txt" || fail "info of the run"
py "$work/run/run.h5" <<'PY' || fail "the run file's /eval"
import sys, h5py, numpy as np
g = h5py.File(sys.argv[1], "r")["eval"]
assert list(g["round"][()]) == [1, 2], g["round"][()]
assert np.all(np.isfinite(g["fid_cls"][()])) and np.all(g["n_gen"][()] == 40)
assert "description" in g["kid_cls_mean"].attrs and g.attrs["kid_subsets"] == 5
PY

# ---- federated: the global model on the root, every round; none for a method with own parts --
if [ -n "$mpiexec" ]; then
  fed=("${train[@]}" --set fed.method=full --set fed.clients=4 --set fed.clients_per_round=4
       --set partition.method=dirichlet --set partition.alpha=0.3 --set out.dir="$work/fed")
  "$mpiexec" -n 2 "$feddiff" train "${fed[@]}" >"$work/fed.txt"
  [ "$(grep -c '^eval ' "$work/fed.txt")" -eq 2 ] || fail "federated eval lines: $(cat "$work/fed.txt")"
  py "$work/fed/run.h5" <<'PY' || fail "the federated run file's /eval"
import sys, h5py, numpy as np
g = h5py.File(sys.argv[1], "r")["eval"]
assert list(g["round"][()]) == [1, 2] and np.all(np.isfinite(g["fid_cls"][()]))
PY
  # Scoring never touches training: the same run without evaluation ends bitwise equal, and a
  # resume may change what only samples and evaluations read.
  "$mpiexec" -n 2 "$feddiff" train "${fed[@]}" --set eval.every=0 --set out.dir="$work/fed0" \
    >/dev/null
  /usr/bin/python3 "$(dirname "$0")/../fed/compare_checkpoints.py" --exact \
    "$work/fed/checkpoint-000002.h5" "$work/fed0/checkpoint-000002.h5" ||
    fail "evaluation during training changed the training"
  "$mpiexec" -n 2 "$feddiff" train "${fed[@]}" --set fed.rounds=3 --set eval.every=3 \
    --set diffusion.sampler=ancestral --set diffusion.sample_steps=6 --resume latest \
    >"$work/fed3.txt" || fail "resume with another sampler and evaluation schedule"
  grep -q '^eval     3 ' "$work/fed3.txt" || fail "no evaluation after the resume: $(cat "$work/fed3.txt")"
  "$mpiexec" -n 2 "$feddiff" train "${fed[@]}" --set fed.method=udec --set out.dir="$work/fedu" \
    >"$work/fedu.txt" 2>"$work/fedu.err"
  grep -q "eval.every: the clients of method udec keep parts" "$work/fedu.err" ||
    fail "no warning for udec: $(cat "$work/fedu.err")"
  ! grep -q '^eval ' "$work/fedu.txt" || fail "udec evaluated a global model"
fi

# ---- a checkpoint and a samples file --------------------------------------------------------------
"$feddiff" eval --checkpoint "$work/run/checkpoint-000002.h5" --classifier "$work/cls.h5" \
  --n 40 --steps 4 --set eval.kid_subsets=5 >"$work/ck.txt" 2>/dev/null
[ -f "$work/run/checkpoint-000002-eval.h5" ] || fail "no results file next to the checkpoint"
grep -q "round 2, step 20" "$work/ck.txt" || fail "checkpoint table: $(cat "$work/ck.txt")"
"$feddiff" eval --samples "$work/run/samples.h5" --classifier "$work/cls.h5" \
  --out "$work/s.h5" >/dev/null
py "$work/s.h5" <<'PY' || fail "samples results"
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
assert f["all/n_gen"][()] == 20 and 0 <= f["all/cond_acc"][()] <= 1
assert f.attrs["format"] in ("feddiff-eval", b"feddiff-eval")
PY

# ---- errors: one line, non-zero exit ------------------------------------------------------------
if "$feddiff" eval --checkpoint "$work/none.h5" --classifier "$work/cls.h5" 2>"$work/err"; then
  fail "a missing checkpoint was accepted"; fi
[ "$(wc -l <"$work/err")" -eq 1 ] && grep -q "none.h5" "$work/err" || fail "message: $(cat "$work/err")"
if "$feddiff" eval --real "${data[@]}" --classifier "$work/run/checkpoint-000002.h5" 2>"$work/err"; then
  fail "a checkpoint was accepted as classifier"; fi
grep -q "not a feddiff classifier file" "$work/err" || fail "message: $(cat "$work/err")"
if "$feddiff" eval --real "${data[@]}" 2>"$work/err"; then fail "no classifier accepted"; fi
grep -q "eval.classifier" "$work/err" || fail "message: $(cat "$work/err")"
if "$feddiff" eval --real --set data.name=builtin:gmm --classifier "$work/cls.h5" 2>"$work/err"; then
  fail "vector data accepted"; fi
grep -q "builtin:gmm" "$work/err" || fail "message: $(cat "$work/err")"
echo "evaluator and eval: ok"
