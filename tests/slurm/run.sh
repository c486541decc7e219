#!/usr/bin/env bash
# The job scripts of jobs/ on a real Slurm: a private one-host cluster (munged, slurmctld,
# slurmd; tests/slurm/cluster.sh) runs them on tests/fed/tiny.ini, and their HDF5 output is
# checked:
#   sweep    jobs/sweep.sbatch as an array over 2 methods x 2 seeds (srun, 2 threads per rank):
#            every task's run file has its method, seed and rounds; a task outside the
#            combinations fails with a message
#   scaling  jobs/scaling.sbatch on 1 and 2 ranks: scaling.csv, a run file per rank count, the
#            compare.py table
#   chain    jobs/submit-chain of jobs/pretrain.sbatch (mpirun, 2 ranks) with a one-minute time
#            limit whose warning signal (--signal=B:USR1@20) interrupts each job: the first one
#            checkpoints and exits with 75, successors resume until one finishes (exit 0), the
#            rest of the chain is cancelled, the run file holds every round once, and the final
#            checkpoint is bitwise that of an uninterrupted run.
# Fails (never skips) when Slurm cannot start. About three minutes.
#   run.sh FEDDIFF
set -euo pipefail
feddiff=$(realpath "$1")
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
tiny=$src/tests/fed/tiny.ini
py=/usr/bin/python3
work=$(mktemp -d /tmp/feddiff-slurm.XXXXXX)
# shellcheck source=tests/slurm/cluster.sh
source "$here/cluster.sh"
ref_pid=
cleanup() {
  [ -n "$ref_pid" ] && kill "$ref_pid" 2>/dev/null
  cluster_stop
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  for log in "$work"/logs/*.out; do
    [ -e "$log" ] && { echo "--- $log" >&2; tail -n 15 "$log" >&2; }
  done
  exit 1
}
t0=$(date +%s)
elapsed() { echo "$(($(date +%s) - t0)) s"; }

cluster_start "$work/cluster" || fail "Slurm did not start (see the messages above)"
echo "slurm: node up after $(elapsed)"
mkdir -p "$work/logs"
export FEDDIFF=$feddiff OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMP_WAIT_POLICY=passive
submit() { sbatch --parsable --chdir="$work" "$@"; }
job_field() { # JOBID FIELD: a field of `scontrol show job`
  scontrol show job "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p" | sed -n 1p
}
wait_jobs() { # SECONDS JOBID...: until none of them is pending, running or completing
  local deadline=$(($(date +%s) + $1)) left
  shift
  while :; do
    left=$(squeue -h -j "$(
      IFS=,
      echo "$*"
    )" -o %i 2>/dev/null | wc -l)
    [ "$left" -eq 0 ] && return 0
    [ "$(date +%s)" -lt "$deadline" ] || fail "jobs $* still queued or running after $(elapsed)"
    sleep 1
  done
}
h5check() { "$py" - "$@" || fail "HDF5 output check failed: $*"; }

# ---- calibration: the chain's run must outlast the time-limit signal (at most 40 s) ----------
mpirun -n 2 "$feddiff" train --config "$tiny" \
  --set out.dir="$work/calib" --set fed.rounds=6 --set out.samples=0 >"$work/logs/calib.log" 2>&1 ||
  fail "calibration run failed: $(tail -n 3 "$work/logs/calib.log")"
rounds=$("$py" - "$work/calib/run.h5" <<'PY'
import sys, h5py, math
s = h5py.File(sys.argv[1], "r")["rounds/seconds"][1:].mean()
print(min(600, max(40, math.ceil(60.0 / s))))  # about 60 s of rounds
PY
)
echo "chain: $rounds rounds (about 60 s at the measured speed)"
chain_opts=(--set fed.rounds="$rounds" --set out.checkpoint_every=10 --set out.samples=0)

# ---- submissions: sweep, scaling, the chain (the node runs them as CPUs allow) ---------------
sweep=$(METHODS="full udec" SEEDS="1 2" LAUNCH=srun OUT=sweep submit --array=0-4 --ntasks=1 \
  --cpus-per-task=2 --time=10 --output="$work/logs/sweep-%a.out" "$src/jobs/sweep.sbatch" "$tiny")
scaling=$(PYTHON=$py OUT=scaling submit --ntasks=2 --cpus-per-task=1 --time=10 \
  --output="$work/logs/scaling.out" "$src/jobs/scaling.sbatch" "$tiny" \
  --set fed.rounds=2)
mapfile -t chain < <(OUT=chain "$src/jobs/submit-chain" 6 --chdir="$work" --ntasks=2 \
  --cpus-per-task=1 --time=1 --signal=B:USR1@20 --output="$work/logs/chain-%j.out" -- \
  "$src/jobs/pretrain.sbatch" "$tiny" "${chain_opts[@]}")
[ ${#chain[@]} -eq 6 ] || fail "submit-chain printed ${#chain[@]} job ids, expected 6"
echo "submitted: sweep $sweep, scaling $scaling, chain ${chain[*]}"

# The uninterrupted reference of the chain, beside it (same ranks: bitwise comparable).
mpirun -n 2 --oversubscribe "$feddiff" train --config "$tiny" --set out.dir="$work/reference" \
  "${chain_opts[@]}" >"$work/logs/reference.log" 2>&1 &
ref_pid=$!

# ---- sweep -----------------------------------------------------------------------------------
wait_jobs 300 "$sweep"
echo "sweep done after $(elapsed)"
for i in 0 1 2 3; do
  [ "$(job_field "${sweep}_$i" ExitCode)" = 0:0 ] || fail "sweep task $i: exit $(job_field "${sweep}_$i" ExitCode)"
done
[ "$(job_field "${sweep}_4" ExitCode)" = 1:0 ] ||
  fail "sweep task 4 (out of range) did not fail with exit 1:" \
    "$(job_field "${sweep}_4" JobState), exit $(job_field "${sweep}_4" ExitCode)"
grep -q "METHODS x SEEDS has only 4 combinations: submit with --array=0-3" "$work/logs/sweep-4.out" ||
  fail "sweep task 4: no message about the array range"
grep -q "srun -n 1 --cpus-per-task=2" "$work/logs/sweep-0.out" || fail "sweep: not launched with srun"
grep -q "layout: 1 rank(s) x 2 thread(s)" "$work/logs/sweep-0.out" ||
  fail "sweep: threads per rank not taken from --cpus-per-task=2"
! grep -q "warning.*thread" "$work"/logs/sweep-*.out || fail "sweep: a warning about threads"
h5check "$work/sweep" <<'PY'
import sys, h5py, numpy as np
losses = {}
for method in ("full", "udec"):
    for seed in (1, 2):
        with h5py.File(f"{sys.argv[1]}/{method}-seed{seed}/run.h5", "r") as f:
            assert f.attrs["method"].decode() == method, (method, f.attrs["method"])
            assert f"seed = {seed}\n" in f.attrs["config"].decode(), (method, seed)
            assert np.array_equal(f["rounds/round"][()], [1, 2, 3, 4]), f["rounds/round"][()]
            losses[method, seed] = f["rounds/loss"][()]
for method in ("full", "udec"):
    assert not np.array_equal(losses[method, 1], losses[method, 2]), f"{method}: seeds agree"
PY

# ---- scaling ---------------------------------------------------------------------------------
wait_jobs 300 "$scaling"
echo "scaling done after $(elapsed)"
[ "$(job_field "$scaling" ExitCode)" = 0:0 ] || fail "scaling: exit $(job_field "$scaling" ExitCode)"
h5check "$work/scaling" <<'PY'
import csv, os, sys, h5py, numpy as np
d = sys.argv[1]
rows = list(csv.DictReader(open(f"{d}/scaling.csv")))
assert [(r["mode"], r["ranks"], r["threads"], r["exit_code"]) for r in rows] == \
    [("strong", "1", "1", "0"), ("strong", "2", "1", "0")], rows
assert all(float(r["wall_seconds"]) > 0 for r in rows), rows
for r in (1, 2):
    with h5py.File(f"{d}/strong-r{r}/run.h5", "r") as f:
        assert np.array_equal(f["rounds/round"][()], [1, 2])
    assert not os.path.exists(f"{d}/strong-r{r}/samples.h5"), "scaling runs draw no samples"
table = open(f"{d}/compare.md").read()
assert "| strong-r1 |" in table and "| strong-r2 |" in table, table
PY
grep -q "layout: 2 rank(s) x 1 thread(s)" "$work/logs/scaling.out" || fail "scaling: no 2-rank run"

# ---- chain -----------------------------------------------------------------------------------
wait_jobs 420 "${chain[@]}"
echo "chain done after $(elapsed)"
wait "$ref_pid" || fail "reference run failed: $(tail -n 3 "$work/logs/reference.log")"
ref_pid=
finished=
for ((i = 0; i < ${#chain[@]}; i++)); do
  id=${chain[i]} log=$work/logs/chain-${chain[i]}.out
  state=$(job_field "$id" JobState) code=$(job_field "$id" ExitCode)
  echo "  job $id: $state, exit code $code;$(grep -h -o -e "resumed from .* after round [0-9]*" \
    -e "starting fresh" -e "interrupted by a signal after round [0-9]*" -e "feddiff finished" \
    "$log" 2>/dev/null | sed 's/^/ /' | tr '\n' ';')"
  if [ -n "$finished" ]; then
    [ "$state" = CANCELLED ] && [ ! -e "$log" ] || fail "job $id ran after the run had finished"
  elif [ "$code" = 0:0 ]; then
    finished=$id
    [ "$i" -gt 0 ] || fail "the first job was not interrupted: it ran all $rounds rounds ($state); the time-limit signal did not reach feddiff, or the machine ran faster than calibrated"
    grep -q "feddiff finished" "$log" || fail "job $id: no 'feddiff finished'"
  else
    [ "$code" = 75:0 ] || fail "job $id ended with exit code $code, expected 75 (interrupted)"
    grep -q "signal: asking feddiff to checkpoint and stop" "$log" || fail "job $id: no signal line"
    grep -q "interrupted by a signal after round" "$log" || fail "job $id: feddiff did not say it was interrupted"
  fi
  if [ "$i" -eq 0 ]; then
    grep -q "no checkpoint in .* yet, starting fresh" "$log" || fail "job $id did not start fresh"
  elif [ -e "$log" ]; then
    prev=$(sed -n 's/.*interrupted by a signal after round \([0-9]*\).*/\1/p' "$work/logs/chain-${chain[i - 1]}.out")
    grep -q "resumed from .*checkpoint-$(printf %06d "$prev").h5 after round $prev" "$log" ||
      fail "job $id did not resume from the round-$prev checkpoint of job ${chain[i - 1]}"
  fi
done
[ -n "$finished" ] || fail "no job of the chain finished the run"
ckpt=checkpoint-$(printf %06d "$rounds").h5
h5check "$work/chain/run.h5" "$rounds" <<'PY'
import sys, h5py, numpy as np
r = h5py.File(sys.argv[1], "r")["rounds/round"][()]
assert np.array_equal(r, np.arange(1, int(sys.argv[2]) + 1)), r
PY
"$py" "$src/tests/fed/compare_checkpoints.py" "$work/reference/$ckpt" "$work/chain/$ckpt" --exact ||
  fail "the chain's final checkpoint differs from the uninterrupted run's"
echo "PASS: slurm jobs (sweep, scaling, a chain of $(grep -l . "$work"/logs/chain-*.out | wc -l) jobs over $rounds rounds) in $(elapsed)"
