#!/usr/bin/env bash
# git tracks no build output and no fetched or generated data (they are ignored: .gitignore):
# no build tree, dataset, run, HDF5 file, npm tarball, object file or IDX file, nothing under
# docs/figures/ (figures made from runs), and no binary file at all (sources, scripts and docs
# are text; images, weights and archives are made or fetched).
# (Fast or finite-only math cannot slip into the build: include/feddiff/error.h stops it.)
# Exit 77 (skipped) outside a git checkout.
#   test_repo_hygiene.sh SOURCE_DIR
set -euo pipefail
src=$1
git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1 || { echo "not a git checkout"; exit 77; }
cd "$(git -C "$src" rev-parse --show-toplevel)"
tracked=$(git ls-files | grep -E '^(build[^/]*|data|runs|docs/figures)/|\.(h5|tgz|o|a|so)$|-ubyte(\.gz)?$' || true)
# Tracked files that git itself takes for binary (-I), empty files aside.
binary=$(comm -23 <(git ls-files | sort) <(git grep -I -l -e '' -- . | sort) |
         while read -r f; do [ -s "$f" ] && echo "$f"; done || true)
if [ -n "$tracked$binary" ]; then
  echo "FAIL: git tracks build output, data or binary files: $(tr '\n' ' ' <<<"$tracked $binary")" >&2
  exit 1
fi
echo "PASS: git tracks no build output, data or binary file ($(git ls-files | wc -l) files)"
