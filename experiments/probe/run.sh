#!/usr/bin/env bash
# The probing recipe (issue 7): every `iclab probe` analysis on the plain and
# looped models of the looped recipe (experiments/probe/plan.json: plain6
# and looped3x2, the looped recipe's runs and run directories, with a probe
# step; `iclab sweep` trains what is missing and skips what is done) and on
# the 20,000-step d = 5 model in docs/experiments/d5_small, then the report
# tables (experiments/probe/report.py).
#
# usage: bash experiments/probe/run.sh [RUNS] [OUT] [SEEDS] [JOBS]
#   RUNS  the looped recipe's run root (default runs/looped)
#   OUT   where the report reads the probe outputs (default runs/probe): the
#         d5_small probe, and one link per run to RUNS/<arch>/seed<S>/probe
#   SEEDS seeds (default "1 2 3"); JOBS runs in parallel (default 1)
# environment: MPIRUN, as in experiments/looped/run.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${1:-runs/looped}
OUT=${2:-runs/probe}
SEEDS=${3:-"1 2 3"}
JOBS=${4:-1}
make -s build/iclab
mkdir -p "$OUT"
${MPIRUN:-} build/iclab sweep --plan experiments/probe/plan.json --out "$RUNS" --seeds "$(echo $SEEDS | tr ' ' ',')" \
    --jobs "$JOBS" || echo "some runs failed: see the table above and $RUNS/summary.csv"
if [ ! -e "$OUT/d5_small/sime_best.csv" ]; then
    build/iclab probe --model docs/experiments/d5_small/model.safetensors --out "$OUT/d5_small" --prompts 512 \
        --train_prompts 2048 --seed 1234 --threads 2 >"$OUT/d5_small.txt" 2>"$OUT/d5_small.log"
fi
for arch in plain6 looped3x2; do
    for dir in "$RUNS/$arch"/seed*; do
        [ -e "$dir/probe/sime_best.csv" ] && ln -sfn "$(cd "$dir/probe" && pwd)" "$OUT/$arch.$(basename "$dir")"
    done
done
python3 experiments/probe/report.py "$OUT"
