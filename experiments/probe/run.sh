#!/usr/bin/env bash
# The probing recipe (issue 7): runs every `iclab probe` analysis on the plain
# and looped models the looped recipe trains (experiments/looped/run.sh:
# plain6 and looped3x2, every seed found) and on the 20,000-step d = 5 model
# in docs/experiments/d5_small, then writes the report tables
# (experiments/probe/report.py).
#
# usage: bash experiments/probe/run.sh [RUNS] [OUT]
#   RUNS  the looped recipe's run root (default runs/looped)
#   OUT   where the probe outputs go (default runs/probe)
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${1:-runs/looped}
OUT=${2:-runs/probe}
make -s build/iclab
mkdir -p "$OUT"
probe() { # name model
    [ -e "$OUT/$1/sime_best.csv" ] && return 0
    build/iclab probe --model "$2" --out "$OUT/$1" --prompts 512 --train_prompts 2048 --seed 1234 --threads 2 \
        >"$OUT/$1.txt" 2>"$OUT/$1.log"
    echo "probed $1"
}
probe d5_small docs/experiments/d5_small/model.safetensors
for arch in plain6 looped3x2; do
    for dir in "$RUNS/$arch"/seed*; do
        # only finished runs (the looped recipe evaluates a model once its training is done)
        [ -e "$dir/eval/results.json" ] || continue
        probe "$arch.$(basename "$dir")" "$dir/model.safetensors"
    done
done
python3 experiments/probe/report.py "$OUT"
