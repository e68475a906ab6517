#!/usr/bin/env bash
# The layer-surgery recipe (issue 5), a thin wrapper of `iclab sweep` over
# experiments/surgery/plan.json: trains plain 6-block transformers on
# in-context linear regression (configs/looped/plain6.json: d = 5, 11 points,
# e = 64, 4 heads; the same models the looped recipe uses as its baseline,
# in the same run directories), evaluates them, then runs every surgery
# sweep on each (iclab surgery), and writes a report table
# (experiments/surgery/report.py).
#
# usage: bash experiments/surgery/run.sh [OUT] [SEEDS] [STEPS] [JOBS]
#   OUT   run root (default runs/surgery); trained runs are resumed/reused, so
#         `bash experiments/surgery/run.sh runs/looped` reuses the looped
#         recipe's plain6 models
#   SEEDS training seeds (default "1 2 3")
#   STEPS training steps (default 5000, as in docs/experiments/surgery: about
#         25 minutes for three seeds on 2 cores, the sweeps 3-5 minutes per
#         model; the config's 20000 take about 80 minutes)
#   JOBS  runs in parallel (default 2)
# environment: MPIRUN, as in experiments/looped/run.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-runs/surgery}
SEEDS=${2:-"1 2 3"}
STEPS=${3:-5000}
JOBS=${4:-2}
make -s build/iclab
${MPIRUN:-} build/iclab sweep --plan experiments/surgery/plan.json --out "$OUT" --seeds "$(echo $SEEDS | tr ' ' ',')" \
    --train_steps "$STEPS" --jobs "$JOBS" || echo "some runs failed: see the table above and $OUT/summary.csv"
python3 experiments/surgery/report.py "$OUT"
