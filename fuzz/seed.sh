#!/usr/bin/env bash
# Fills fuzz/corpus/<target> with seeds: the bundled models and arrays of models/ and
# tests/data, and the small hand-made seeds of fuzz/seeds/. Run from anywhere.
set -euo pipefail
fuzz="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$fuzz")"
c="$fuzz/corpus"
mkdir -p "$c"/{model_profile,model_mutate,npy,budget_toml,post}
# model_profile: every bundled model up to 128 KiB (the run's -max_len)
find "$root/models" "$root/tests/data" -name '*.onnx' -size -129k -print0 |
  while IFS= read -r -d '' f; do cp "$f" "$c/model_profile/$(echo "$f" | sed "s|$root/||; s|/|_|g")"; done
# npy: every bundled array up to 16 KiB
find "$root/models" "$root/tests/data" -name '*.npy' -size -17k -print0 |
  while IFS= read -r -d '' f; do cp "$f" "$c/npy/$(echo "$f" | sed "s|$root/||; s|/|_|g")"; done
# budget_toml: the bundled budget and the hand-made ones
cp "$root/models/budget.toml" "$c/budget_toml/models_budget.toml"
cp "$fuzz"/seeds/budget_toml/* "$c/budget_toml/"
# post and model_mutate read choices from their bytes: hand-made scripts
cp "$fuzz"/seeds/post/* "$c/post/"
cp "$fuzz"/seeds/model_mutate/* "$c/model_mutate/"
for t in model_profile model_mutate npy budget_toml post; do
  echo "$t: $(ls "$c/$t" | wc -l) seeds"
done
