#!/usr/bin/env bash
# The layer-surgery recipe (issue 5): trains plain 6-block transformers on
# in-context linear regression (configs/looped/plain6.json: d = 5, 11 points,
# e = 64, 4 heads; the same models the looped recipe uses as its baseline),
# then runs every surgery sweep on each (iclab surgery), and writes a report
# table (experiments/surgery/report.py).
#
# usage: bash experiments/surgery/run.sh [OUT] [SEEDS] [STEPS] [JOBS]
#   OUT   run root (default runs/surgery); trained runs are resumed/reused, so
#         `bash experiments/surgery/run.sh runs/looped` reuses the looped
#         recipe's plain6 models
#   SEEDS training seeds (default "1 2 3")
#   STEPS training steps (default 5000, as in docs/experiments/surgery: about
#         25 minutes for three seeds on 2 cores, the sweeps 3-5 minutes per
#         model; the config's 20000 take about 80 minutes)
#   JOBS  trainings in parallel, one thread each (default 2)
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-runs/surgery}
SEEDS=${2:-"1 2 3"}
STEPS=${3:-5000}
JOBS=${4:-2}
# training and the standard evaluation: the looped recipe's machinery
ARCHS=plain6 bash experiments/looped/run.sh "$OUT" "$SEEDS" "$STEPS" "$JOBS" >/dev/null
for seed in $SEEDS; do
    dir=$OUT/plain6/seed$seed
    "$OUT/iclab" surgery --model "$dir/model.safetensors" --out "$dir/surgery" --sweep all \
        --prompts 1280 --seed 4242 --threads 2 >"$dir.surgery.log" 2>&1
    echo "surgery done: seed $seed"
done
python3 experiments/surgery/report.py "$OUT"
