#!/usr/bin/env bash
# git tracks no build output and no fetched or generated data (they are ignored: .gitignore).
# (Fast or finite-only math cannot slip into the build: include/feddiff/error.h stops it.)
# Exit 77 (skipped) outside a git checkout.
#   test_repo_hygiene.sh SOURCE_DIR
set -euo pipefail
src=$1
git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1 || { echo "not a git checkout"; exit 77; }
tracked=$(git -C "$src" ls-files | grep -E '^(build[^/]*|data|runs)/|\.(h5|tgz|o|a|so)$|-ubyte(\.gz)?$' || true)
if [ -n "$tracked" ]; then
  echo "FAIL: git tracks build output or data: $(tr '\n' ' ' <<<"$tracked")" >&2
  exit 1
fi
echo "PASS: git tracks no build output or data"
