#!/usr/bin/env bash
# Faults in the middle of a federated run lose nothing already written:
#   killed-rank  SIGKILL to one of two ranks after round 3: the run fails, every checkpoint it
#                wrote is bitwise the uninterrupted run's, a resume finishes identical to it, and
#                the incomplete checkpoint a killed write leaves behind is deleted.
#   disk-full    on a small tmpfs: a checkpoint that does not fit is one error line naming it
#                and the reason, leaves no partial file, and the checkpoint before it, the run
#                file and partition.h5 stay intact; once there is room, the run resumes to the
#                uninterrupted result. Needs root (a private mount namespace): exit 77 (ctest:
#                skipped, not passed) without it.
#   test_faults.sh killed-rank|disk-full FEDDIFF MPIEXEC
set -euo pipefail
mode=$1 feddiff=$2 mpiexec=$3
here=$(cd "$(dirname "$0")" && pwd)
fail() { echo "FAIL: $*" >&2; exit 1; }

if [ "$mode" = disk-full ] && [ -z "${FD_FAULTS_IN_NAMESPACE:-}" ]; then
  # The tmpfs lives in a mount namespace of its own: it vanishes with the test, whatever happens.
  if [ "$(id -u)" -ne 0 ] || ! unshare -m --propagation private true 2>/dev/null; then
    echo "SKIP: disk-full needs root to mount a small tmpfs in a private mount namespace"
    exit 77
  fi
  exec env FD_FAULTS_IN_NAMESPACE=1 unshare -m --propagation private "$0" "$@"
fi

work=$(mktemp -d)
trap 'umount "$work/disk" 2>/dev/null || true; rm -rf "$work"' EXIT
train() { # dir [args...]
  local dir=$1; shift
  "$mpiexec" -n 2 --oversubscribe "$feddiff" train --config "$here/tiny.ini" \
    --set out.dir="$dir" --set out.keep=10 --set train.local_steps=10 "$@"
}
ckpt() { printf '%s/checkpoint-%06d.h5' "$1" "$2"; }
same() { /usr/bin/python3 "$here/compare_checkpoints.py" "$1" "$2" --exact >/dev/null; }
rounds_in() { # run.h5 -> the rounds it records, space-separated
  /usr/bin/python3 -c 'import sys, h5py; print(*h5py.File(sys.argv[1], "r")["rounds/round"][()].astype(int))' "$1"
}
errors() { grep -c '^feddiff: error:' "$1" || true; }

case $mode in
killed-rank)
  train "$work/ref" --set out.checkpoint_every=1 --set fed.rounds=6 >"$work/ref.log" 2>&1 ||
    { cat "$work/ref.log"; fail "reference run"; }
  run=$work/run
  train "$run" --set out.checkpoint_every=1 --set fed.rounds=6 >"$work/run.log" 2>&1 &
  launcher=$!
  for _ in $(seq 600); do grep -q "^round    3/" "$work/run.log" && break; sleep 0.05; done
  grep -q "^round    3/" "$work/run.log" || fail "the run did not reach round 3"
  victim=$(pgrep -f "^$feddiff train --config $here/tiny.ini --set out.dir=$run " | sort -n | tail -1)
  [ -n "$victim" ] || fail "no rank to kill"
  kill -KILL "$victim"
  rc=0; wait $launcher || rc=$?
  [ $rc -ne 0 ] || fail "the run succeeded although a rank was killed"
  n=0
  for f in "$run"/checkpoint-*.h5; do
    [ -e "$f" ] || continue
    same "$(ckpt "$work/ref" "$(basename "$f" .h5 | sed 's/^checkpoint-0*//')")" "$f" ||
      fail "$f differs from the uninterrupted run's"
    n=$((n + 1))
  done
  [ $n -ge 2 ] || fail "only $n checkpoint(s) before the kill"
  # What a rank killed while writing leaves behind (made sure of: the kill may miss the write).
  head -c 100000 "$(ckpt "$work/ref" 1)" >"$run/checkpoint-000099.h5.tmp"
  train "$run" --set out.checkpoint_every=1 --set fed.rounds=6 --resume latest \
    >"$work/resume.log" 2>&1 || { cat "$work/resume.log"; fail "resume after the kill"; }
  grep -q "resumed from .*checkpoint-00000[2-9].h5" "$work/resume.log" || fail "no resume line"
  same "$(ckpt "$work/ref" 6)" "$(ckpt "$run" 6)" || fail "the resumed run differs"
  grep -q "removed .*checkpoint-000099.h5.tmp, an incomplete checkpoint" "$work/resume.log" ||
    fail "the incomplete checkpoint was not reported removed"
  ! ls "$run"/*.tmp >/dev/null 2>&1 || fail "temporaries left: $(ls "$run"/*.tmp)"
  [ "$(rounds_in "$run/run.h5")" = "1 2 3 4 5 6" ] || fail "run file rounds: $(rounds_in "$run/run.h5")"
  ;;
disk-full)
  train "$work/ref" --set out.checkpoint_every=1 --set fed.rounds=4 >"$work/ref.log" 2>&1 ||
    { cat "$work/ref.log"; fail "reference run"; }
  disk=$work/disk
  mkdir "$disk"
  # Room for two checkpoints (5 MB each: one being written beside the last) and the small files.
  mount -t tmpfs -o size=12m tmpfs "$disk" || { echo "SKIP: cannot mount a tmpfs"; exit 77; }
  run=$disk/run
  train "$run" --set out.checkpoint_every=2 --set fed.rounds=2 >"$work/a.log" 2>&1 ||
    { cat "$work/a.log"; fail "first two rounds"; }
  same "$(ckpt "$work/ref" 2)" "$(ckpt "$run" 2)" || fail "round 2 differs from the reference"
  (cd "$run" && md5sum checkpoint-000002.h5) >"$work/before.md5"
  fill() { # leave about $1 KiB free
    rm -f "$disk/filler"
    local avail; avail=$(df -k --output=avail "$disk" | tail -1)
    [ "$avail" -le "$1" ] || head -c "$(((avail - $1) * 1024))" /dev/zero >"$disk/filler" 2>/dev/null || true
  }

  # 1 MiB free: round 3 trains, its checkpoint does not fit.
  fill 1024
  if train "$run" --set out.checkpoint_every=1 --set fed.rounds=4 --resume latest \
    >"$work/b.log" 2>&1; then fail "a checkpoint was written to a full disk"; fi
  [ "$(errors "$work/b.log")" -eq 1 ] || { cat "$work/b.log"; fail "not one error line"; }
  grep -q "^feddiff: error: $run/checkpoint-000003.h5: writing the checkpoint failed (No space left on device)" \
    "$work/b.log" || { cat "$work/b.log"; fail "the error does not name the checkpoint and the reason"; }
  ! ls "$run"/checkpoint-000003* >/dev/null 2>&1 || fail "a partial checkpoint is left: $(ls "$run"/checkpoint-000003*)"
  (cd "$run" && md5sum -c --quiet "$work/before.md5") || fail "files written before the failure changed"
  [ "$(rounds_in "$run/run.h5")" = "1 2 3" ] || fail "run file rounds: $(rounds_in "$run/run.h5")"

  # No room at all: the new partition.h5 cannot be written; the old one stays, no temporary.
  (cd "$run" && md5sum checkpoint-000002.h5 partition.h5 run.h5) >"$work/before.md5"
  fill 0
  if train "$run" --set out.checkpoint_every=1 --set fed.rounds=4 --resume latest \
    >"$work/c.log" 2>&1; then fail "a run started on a full disk"; fi
  [ "$(errors "$work/c.log")" -ge 1 ] || { cat "$work/c.log"; fail "no error line"; }
  grep -q "^feddiff: error: $run/partition.h5.tmp: .*No space left on device" "$work/c.log" ||
    { cat "$work/c.log"; fail "the error does not name partition.h5 and the reason"; }
  ! ls "$run"/*.tmp >/dev/null 2>&1 || fail "temporaries left: $(ls "$run"/*.tmp)"
  (cd "$run" && md5sum -c --quiet "$work/before.md5") || fail "files written before the failure changed"

  # Room again: the run resumes from round 2 and ends as if nothing had happened.
  rm -f "$disk/filler"
  train "$run" --set out.checkpoint_every=1 --set fed.rounds=4 --resume latest --set out.keep=1 \
    >"$work/d.log" 2>&1 || { cat "$work/d.log"; fail "resume once there is room"; }
  grep -q "resumed from .*checkpoint-000002.h5 after round 2" "$work/d.log" || fail "no resume line"
  same "$(ckpt "$work/ref" 4)" "$(ckpt "$run" 4)" || fail "the resumed run differs"
  [ "$(rounds_in "$run/run.h5")" = "1 2 3 4" ] || fail "run file rounds: $(rounds_in "$run/run.h5")"
  ;;
*) fail "unknown mode $mode" ;;
esac
echo "PASS: $mode"
