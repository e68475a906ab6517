#!/usr/bin/env bash
# The looped-transformer recipe (issue 6), a thin wrapper of `iclab sweep`
# over experiments/looped/plan.json: trains, with equal steps, data and seeds,
#   plain6              6 independent blocks
#   looped3x2           3 blocks looped twice (equal compute, half the parameters), injection
#   looped3x2_noinject  the same without input injection
#   looped6x2           6 blocks looped twice (equal parameters, double compute)
#   yang1xb             1 block looped 8..12 times (Yang et al.)
# then evaluates each on the same prompts and sweeps its loop count (the
# plan's steps), and writes a summary table. Configs: configs/looped/*.json.
# The plan trains on the prompt stream (data_scheme stream), as the runs in
# docs/experiments/looped were, so it reproduces them.
#
# usage: bash experiments/looped/run.sh [OUT] [SEEDS] [STEPS] [JOBS]
#   OUT   run root (default runs/looped); finished runs are skipped, interrupted
#         ones resumed (OUT/sweep.json and OUT/summary.csv say which is which)
#   SEEDS training seeds (default "1 2 3")
#   STEPS training steps per run (default 5000, as in docs/experiments/looped;
#         about 2 hours for 3 seeds x 5 architectures on 2 cores; the configs
#         say 20000)
#   JOBS  runs in parallel, one thread each (default 2)
# environment: ARCHS (default all five), CONFIG_DIR (default configs/looped;
# configs/looped/d10 uses plan_d10.json: plain6 and looped3x2 at d = 10),
# MPIRUN (e.g. "mpirun -np 8 --hostfile hosts": the runs spread over its
# ranks, JOBS at once on each; docs/distributed.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-runs/looped}
SEEDS=${2:-"1 2 3"}
STEPS=${3:-5000}
JOBS=${4:-2}
PLAN=experiments/looped/plan.json
[ "${CONFIG_DIR:-configs/looped}" = configs/looped/d10 ] && PLAN=experiments/looped/plan_d10.json
only=()
[ -n "${ARCHS:-}" ] && only=(--only "$(echo $ARCHS | tr ' ' ',')")
make -s build/iclab
# (each child runs /proc/self/exe: rebuilding build/iclab meanwhile does not change the runs)
${MPIRUN:-} build/iclab sweep --plan "$PLAN" --out "$OUT" --seeds "$(echo $SEEDS | tr ' ' ',')" \
    --train_steps "$STEPS" --jobs "$JOBS" "${only[@]}" || echo "some runs failed: see the table above and $OUT/summary.csv"
python3 experiments/looped/report.py "$OUT"
