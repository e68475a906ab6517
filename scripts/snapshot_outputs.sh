#!/usr/bin/env bash
# Writes the outputs of eval, surgery, probe, loops and compare on fixed models into DIR, so that a
# refactor can be checked byte for byte: run it before and after, then `diff -r before after`.
# Usage: scripts/snapshot_outputs.sh DIR [ICLAB]   (ICLAB defaults to build/iclab)
# Compare: diff -r -I '"seconds"' -I '"prompts_per_s"' before after   (timings are the only
# fields that differ between two runs of the same binary; paths are relative to DIR)
set -euo pipefail
out=${1:?usage: scripts/snapshot_outputs.sh DIR [ICLAB]}
ic=$(realpath "${2:-build/iclab}")
rm -rf "$out"; mkdir -p "$out/models"
cd "$out"
out=.
m=models
common=(--n_dims 5 --n_positions 11 --n_points 11 --n_embd 32 --n_head 2 --threads 1)
"$ic" init --out "$m/plain.safetensors" "${common[@]}" --n_layer 4 --seed 7 >/dev/null
"$ic" init --out "$m/looped.safetensors" "${common[@]}" --n_layer 2 --loops 3 --seed 8 >/dev/null
"$ic" init --out "$m/other.safetensors" "${common[@]}" --n_layer 4 --seed 9 >/dev/null
"$ic" eval --model "$m/plain.safetensors" --out "$out/eval" --prompts 64 --bootstrap 50 \
  --settings standard,noisy:0.5,scale_x:2 --threads 1 >/dev/null
"$ic" eval --model "$m/plain.safetensors" --out "$out/eval_sched" --prompts 32 --bootstrap 20 \
  --schedule 'dup(1)' --threads 1 >/dev/null
"$ic" surgery --model "$m/plain.safetensors" --out "$out/surgery" --prompts 32 --bootstrap 20 \
  --shuffles 3 --max_loops 4 --threads 1 >/dev/null
"$ic" probe --model "$m/plain.safetensors" --out "$out/probe" --what all --prompts 32 \
  --train_prompts 64 --gd_steps 1,2,5 --newton_steps 0-3 --threads 1 >/dev/null
"$ic" loops --model "$m/looped.safetensors" --out "$out/loops" --max_loops 6 --prompts 32 --threads 1 >/dev/null
"$ic" compare --models "$m/plain.safetensors,$m/other.safetensors,$m/looped.safetensors" \
  --out "$out/compare" --prompts 32 --bootstrap 20 --threads 1 >/dev/null
echo "snapshot written to ${1}"
