#!/usr/bin/env bash
# Each kernel output, perturbed by at most 1e-3 relative (tests/mutation/mutants.c), must make
# its unit test (gradient check / naive twin) fail, and the PyTorch reference test fail wherever
# the UNet uses that output. Exit 1 if any mutant survives or an unmutated run fails.
#   run.sh BUILD/tests COMPARE_UNET.PY
set -uo pipefail
bin=$1 compare=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# mutant                               unit test     reference
mutants="
silu_forward.out                       activation    yes
silu_backward.dinp                     activation    yes
attention_forward.out                  attention     yes
attention_forward.att                  attention     yes
attention_backward.dqkv                attention     yes
conv2d_forward.out                     conv2d        yes
conv2d_backward.dinp                   conv2d        yes
conv2d_backward.dweight                conv2d        yes
conv2d_backward.dbias                  conv2d        yes
accumulate.dst                         elementwise   yes
add_channel_bias_forward.h             elementwise   yes
add_channel_bias_backward.dbias        elementwise   yes
timestep_embedding_forward.out         embedding     yes
timestep_embedding_backward.dt         embedding     no
embedding_forward.out                  embedding     yes
embedding_backward.dtable              embedding     yes
groupnorm_forward.out                  groupnorm     yes
groupnorm_forward.rstd                 groupnorm     yes
groupnorm_backward.dinp                groupnorm     yes
groupnorm_backward.dgamma              groupnorm     yes
groupnorm_backward.dbeta               groupnorm     yes
linear_forward.out                     linear        yes
linear_backward.dinp                   linear        yes
linear_backward.dweight                linear        yes
linear_backward.dbias                  linear        yes
mse_forward.loss                       loss          yes
mse_backward.dpred                     loss          yes
upsample2x_forward.out                 resample      yes
upsample2x_backward.dinp               resample      yes
concat_forward.out                     resample      yes
concat_backward.da                     resample      yes
concat_backward.db                     resample      yes
relu_forward.out                       activation    no
relu_backward.dinp                     activation    no
maxpool2x2_forward.out                 pool          no
maxpool2x2_backward.dinp               pool          no
softmax_xent_forward.loss              loss          no
softmax_xent_forward.probs             loss          no
softmax_xent_backward.dlogits          loss          no
"
# timestep_embedding_backward: the UNet never needs d loss / d t (t is not learned).
# relu, maxpool2x2 and softmax_xent serve the evaluation classifier, not the UNet.

failures=0
report() { printf '%-34s %-12s %s\n' "$1" "$2" "$3"; }
unit() { "$bin/test_$1_mutant" >"$work/out" 2>&1; }
reference() { /usr/bin/python3 "$compare" "$bin/export_unet_mutant" "$work/ref" >"$work/out" 2>&1; }

# Unmutated, every program passes: a failure below is the mutant's doing.
for t in $(awk 'NF {print $2}' <<<"$mutants" | sort -u); do
  unset FEDDIFF_MUTANT
  unit "$t" || { report "(none)" "$t" "FAILS UNMUTATED"; tail -5 "$work/out"; exit 1; }
done
reference || { report "(none)" reference "FAILS UNMUTATED"; tail -5 "$work/out"; exit 1; }

report mutant test result
while read -r m t ref; do
  [ -n "$m" ] || continue
  export FEDDIFF_MUTANT=$m
  if unit "$t"; then report "$m" "$t" "SURVIVED"; failures=$((failures + 1))
  else report "$m" "$t" killed; fi
  if [ "$ref" = yes ]; then
    if reference; then report "$m" reference "SURVIVED"; failures=$((failures + 1))
    else report "$m" reference "killed ($(grep -m1 -oE '^FAIL: .*' "$work/out" || echo failed))"; fi
  fi
done <<<"$mutants"
echo "$failures mutant(s) survived"
[ "$failures" -eq 0 ]
