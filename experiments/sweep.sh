# experiments/sweep.sh: the sweep and report steps shared by the experiments' run.sh (sourced).
# sweep_plan PLAN OUT SEEDS STEPS JOBS: `iclab sweep` of PLAN into OUT with the seeds
# (space-separated), steps and parallel jobs; ONLY (environment, a comma list of config
# names) keeps the names PLAN has, and a plan with none of them is skipped. A failed run
# is reported and the others go on (rerun to retry); MPIRUN prefixes the command.
sweep_plan() {
    local plan=$1 out=$2 seeds=$3 steps=$4 jobs=$5 only=() names
    if [ -n "${ONLY:-}" ]; then
        names=$(tr ',' '\n' <<<"$ONLY" | while read -r n; do if grep -q "\"$n\": {" "$plan"; then echo "$n"; fi; done | paste -sd,)
        [ -z "$names" ] && { echo "ONLY=$ONLY: none of these configs is in $plan; skipped" >&2; return 0; }
        only=(--only "$names")
    fi
    ${MPIRUN:-} build/iclab sweep --plan "$plan" --out "$out" --seeds "$(echo $seeds | tr ' ' ',')" \
        --train_steps "$steps" --jobs "$jobs" "${only[@]}" || echo "some runs failed: see the table above and $out/summary.csv"
}

# sweep_report REPORT OUT ARGS...: after a full run (ONLY unset), the experiment's report
# script REPORT with ARGS (which write OUT/tables.md, results.json and figures/).
sweep_report() {
    local report=$1 out=$2
    shift 2
    if [ -z "${ONLY:-}" ]; then
        python3 "$report" "$@" >/dev/null
        echo "report: $out/tables.md"
    fi
}
