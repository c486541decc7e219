# shellcheck shell=bash
# Shared by the job scripts in jobs/ (sourced, not run): finds feddiff, derives threads per rank
# from the allocation, and launches ranks with mpirun or srun so that a time-limit signal reaches
# feddiff (which then finishes its round, writes a checkpoint and exits with 75).
#
# Environment (all optional):
#   FEDDIFF       the feddiff binary (default: feddiff on PATH)
#   LAUNCH        mpirun (default) or srun
#   MPIRUN_FLAGS  extra mpirun options (default binding: --map-by slot:PE=<threads> --bind-to core)
#   SRUN_MPI      srun's --mpi plugin (default pmix)
#   SRUN_FLAGS    extra srun options

# shellcheck disable=SC2034 # used by the job scripts
fdj_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd) # jobs/

fdj_say() { echo "[$(date '+%F %T')] ${SLURM_JOB_ID:+job $SLURM_JOB_ID${SLURM_ARRAY_TASK_ID:+ task $SLURM_ARRAY_TASK_ID}: }$*"; }
fdj_die() {
  fdj_say "error: $*" >&2
  exit 1
}

FEDDIFF=${FEDDIFF:-$(command -v feddiff || true)}
[ -n "$FEDDIFF" ] && [ -x "$FEDDIFF" ] ||
  fdj_die "feddiff not found: put it on PATH or set FEDDIFF=/path/to/feddiff"
LAUNCH=${LAUNCH:-mpirun}

# A signal before feddiff starts: remembered, and fdj_run then does not start it.
fdj_signalled=
trap 'fdj_signalled=1' USR1 TERM

# Cores = ranks x threads (DESIGN.md section 4): each rank gets the CPUs Slurm gave its task.
fdj_threads=${SLURM_CPUS_PER_TASK:-1}
export OMP_NUM_THREADS=$fdj_threads

# fdj_run RANKS ARG...: run `feddiff ARG...` on RANKS ranks and return its exit code. A USR1 or
# TERM sent to this batch shell (sbatch --signal=B:USR1@SECONDS, or the time limit's TERM) is
# passed on to the ranks as USR1; mpirun and srun both forward USR1 to every rank.
fdj_run() {
  local ranks=$1 launcher pid rc
  shift
  case $LAUNCH in
    mpirun)
      # shellcheck disable=SC2206 # word splitting of the user's flags is intended
      launcher=(mpirun -n "$ranks" ${MPIRUN_FLAGS:---map-by slot:PE=$fdj_threads --bind-to core}) ;;
    srun)
      # Since Slurm 22.05 srun does not inherit --cpus-per-task from sbatch: pass it on.
      # shellcheck disable=SC2206
      launcher=(srun -n "$ranks" --cpus-per-task="$fdj_threads" --mpi="${SRUN_MPI:-pmix}" ${SRUN_FLAGS:-}) ;;
    *) fdj_die "LAUNCH=$LAUNCH: use mpirun or srun" ;;
  esac
  if [ -n "$fdj_signalled" ]; then
    fdj_say "signalled before the start: not starting feddiff"
    return 75
  fi
  fdj_say "${launcher[*]} $FEDDIFF $* (threads per rank: $fdj_threads)"
  "${launcher[@]}" "$FEDDIFF" "$@" &
  pid=$!
  trap 'fdj_say "signal: asking feddiff to checkpoint and stop"; kill -USR1 "$pid" 2>/dev/null' USR1 TERM
  # `wait` returns early (above 128) when a trapped signal arrives: wait again until the launcher
  # is gone, and then once more for its status if it ended while the trap ran.
  while :; do
    rc=0
    wait "$pid" || rc=$?
    [ "$rc" -gt 128 ] || break
    if ! kill -0 "$pid" 2>/dev/null; then
      local late=0
      wait "$pid" 2>/dev/null || late=$?
      [ "$late" -eq 127 ] || rc=$late # 127: its status was already taken
      break
    fi
  done
  trap 'fdj_signalled=1' USR1 TERM
  return "$rc"
}

# fdj_report RC: say what a feddiff exit code means for the job.
fdj_report() {
  case $1 in
    0) fdj_say "feddiff finished" ;;
    75) fdj_say "feddiff was interrupted and saved a checkpoint (exit 75); a successor job with --resume latest continues it" ;;
    *) fdj_say "feddiff failed with exit code $1" ;;
  esac
}
