#!/usr/bin/env bash
# `feddiff config --doc` documents every key `feddiff config` resolves: each section.key has a
# row in its section with a meaning, and the doc has no row for a key that does not exist.
# (The reference is not kept in docs/: the build writes it to build/docs/config-keys.md.)
#   check_config_doc.sh FEDDIFF
set -euo pipefail
feddiff=$1
export OMP_NUM_THREADS=1
# section.key of every resolved key, and of every documented key with a non-empty meaning.
resolved=$("$feddiff" config | awk '/^\[/ { s = substr($1, 2, length($1) - 2); next }
                                     NF { print s "." $1 }' | sort)
documented=$("$feddiff" config --doc | awk -F'|' '/^## \[/ { s = substr($0, 5, length($0) - 5); next }
  /^\| `/ { k = $2; gsub(/[ `]/, "", k); m = $4; gsub(/^ +| +$/, "", m); if (m != "") print s "." k }' | sort)
[ -n "$resolved" ] || { echo "FAIL: feddiff config printed no keys"; exit 1; }
if ! diff <(echo "$resolved") <(echo "$documented"); then
  echo "FAIL: keys resolved (<) and keys documented with a meaning (>) differ"
  exit 1
fi
echo "feddiff config --doc documents all $(wc -l <<<"$resolved") keys"
