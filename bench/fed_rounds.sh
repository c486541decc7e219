#!/usr/bin/env bash
# Federated round time, broken down (broadcast, local training, waiting for the slowest rank,
# reduction, server update), for 16, 64 and 256 clients of the default UNet on 2 ranks x 1
# thread, every client in every round; then the peak memory of 1,000 simulated clients for each
# method. Figures only, never pass/fail. Read from the runs' run.h5 (the last round of each).
#   bench/fed_rounds.sh [CLIENTS...]      (default: 16 64 256)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f build/CMakeCache.txt ]; then cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null; fi
cmake --build build -j "$(nproc)" --target feddiff >/dev/null
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mpi=(mpirun -n 2 --oversubscribe --bind-to none)

# The default UNet (unconditional), builtin glyphs, iid; 2 local steps of batch 8 per client.
common=(--set data.name=builtin:glyphs --set data.train_size=20000 --set data.test_size=100
        --set partition.method=iid --set train.batch=8 --set train.local_steps=2
        --set fed.clients_per_round=1.0 --set out.samples=0 --set out.checkpoint_every=0)

echo "round time on 2 ranks x 1 thread (default UNet, every client every round, 2 steps of batch 8):"
printf "  %7s %8s %8s %8s %8s %8s %8s %9s\n" clients "round s" train wait reduce bcast server "comm+wait"
for n in "${@:-16 64 256}"; do
  for clients in $n; do
    "${mpi[@]}" build/feddiff train "${common[@]}" --set fed.method=full --set fed.clients="$clients" \
      --set fed.rounds=2 --set out.dir="$work/r$clients" >"$work/r$clients.log" 2>&1 ||
      { cat "$work/r$clients.log"; exit 1; }
    /usr/bin/python3 - "$work/r$clients/run.h5" "$clients" <<'PY'
import sys, h5py
r = h5py.File(sys.argv[1], "r")["rounds"]
last = {k: float(r[k][-1]) for k in ("seconds", "t_train", "t_wait", "t_reduce", "t_bcast", "t_server")}
s = last["seconds"]
pct = lambda k: 100.0 * last[k] / s
comm = pct("t_wait") + pct("t_reduce") + pct("t_bcast")
print(f"  {sys.argv[2]:>7} {s:8.2f} {pct('t_train'):7.1f}% {pct('t_wait'):7.2f}% {pct('t_reduce'):7.2f}%"
      f" {pct('t_bcast'):7.2f}% {pct('t_server'):7.2f}% {comm:8.2f}%")
PY
  done
done

echo
echo "peak memory, 1,000 clients of MNIST-sized data, default UNet, 2 ranks (1 round of 10 clients):"
for method in full udec ulatdec usplit local; do
  "${mpi[@]}" build/feddiff train "${common[@]}" --set data.train_size=60000 --set fed.method="$method" \
    --set fed.clients=1000 --set fed.clients_per_round=10 --set train.local_steps=1 \
    --set fed.rounds=1 --set out.dir="$work/m$method" >"$work/m$method.log" 2>&1 ||
    { cat "$work/m$method.log"; exit 1; }
  state=$(grep -o "state per client [0-9.]* MB" "$work/m$method.log")
  peak=$(grep -o "peak memory: .*" "$work/m$method.log")
  printf "  %-8s %-26s %s\n" "$method" "$state" "$peak"
  rm -rf "$work/m$method"
done
