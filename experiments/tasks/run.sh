#!/usr/bin/env bash
# Experiment 2 of issue 19 (docs/experiments/tasks): plain6 against looped3x2 (and the
# best structure of experiments/structure) on three of Garg et al.'s tasks at d = 5,
# then a surgery profile of each trained model. A thin wrapper of `iclab sweep` (two plans):
#   sparse_*  sparse linear regression, 2 of 5 coordinates non-zero
#   relu_*    2-layer ReLU networks (100 hidden units)
#   tree_*    depth-4 decision trees
# all with 11 points per prompt, as linear regression in experiments/structure
# each with plain6 (6 blocks) and looped3x2 (3 blocks x 2 loops, injection) (plan.json), and
# the best structure of experiments/structure, k1L6_noinject (1 block x 6 loops, no
# injection; plan_best.json, into OUT/best: its one-block core has no skip, swap or
# shuffle, so its surgery is duplication and the loop count); 3 seeds, 5,000 steps (the looped
# experiment's recipe); then eval (the task's baselines) and surgery (skip, duplicate,
# swap, 10 shuffles; 1,280 prompts). Budget: experiments/tasks/README.md; report:
# /usr/bin/python3 experiments/tasks/report.py (docs/experiments/tasks).
#
# usage: bash experiments/tasks/run.sh [OUT] [SEEDS] [STEPS] [JOBS]
#   OUT   run root (default runs/tasks); rerun to resume
#   SEEDS training seeds (default "1 2 3")
#   STEPS training steps per run (default 5000)
#   JOBS  runs in parallel, one thread each (default 2)
# environment: ONLY (a comma list of config names, default all)
set -euo pipefail
cd "$(dirname "$0")/../.."
. experiments/sweep.sh
OUT=${1:-runs/tasks}
SEEDS=${2:-"1 2 3"}
STEPS=${3:-5000}
JOBS=${4:-2}
make -s build/iclab
sweep_plan experiments/tasks/plan.json "$OUT" "$SEEDS" "$STEPS" "$JOBS"
sweep_plan experiments/tasks/plan_best.json "$OUT/best" "$SEEDS" "$STEPS" "$JOBS"
# the report of a full run (not of an ONLY subset) into OUT/report: tables.md, results.json, figures/
sweep_report experiments/tasks/report.py "$OUT/report" "$OUT" "${STRUCTURE:-runs/structure}" "$OUT/report"
