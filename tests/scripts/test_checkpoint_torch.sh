#!/usr/bin/env bash
# A checkpoint of the default UNet (with a class table) written by `feddiff train` loads into
# the PyTorch reference model by name, and its backbone has DESIGN.md's 1,623,169 parameters.
set -euo pipefail
feddiff=$1 loader=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$feddiff" train --set data.name=builtin:glyphs --set data.train_size=500 --set data.test_size=50 \
  --set model.classes=true --set fed.rounds=1 --set train.local_steps=1 --set train.batch=2 \
  --set out.samples=0 --set out.dir="$work" >/dev/null
/usr/bin/python3 "$loader" "$work/checkpoint-000001.h5" 1623169
