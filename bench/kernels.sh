#!/usr/bin/env bash
# Kernel benchmark: sgemm peak on 1 and 2 threads, then every convolution of the default UNet
# (batch 16 and 64, forward and backward) as GFLOP/s and fraction of that peak. Figures only,
# never pass/fail. Builds the Release tree in build/ first if needed.
#   bench/kernels.sh
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -f build/CMakeCache.txt ]; then
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build build -j "$(nproc)" --target feddiff >/dev/null
OMP_NUM_THREADS=2 exec build/feddiff bench kernels
