#!/usr/bin/env bash
# benchstat_test.sh: bench/run.sh refuses to print a speed-up measured on a
# busy machine or between different kernel sets (bench/benchstat.py), and
# prints it when both sides were quiet. The series below are step times (ms)
# of the small model on the shared Zen 5 machine: quiet ones as measured
# while nothing else ran, noisy ones as measured while colleagues built.
# Last line: "N passed, M failed".
set -u
. "$(dirname "$0")/lib.sh"
STAT=$OLDPWD/bench/benchstat.py
PY=/usr/bin/python3
if [ ! -x $PY ]; then
    echo "no $PY: skipped"
    finish
    exit
fi

$PY - "$STAT" <<'PY' 2>perr.txt
import importlib.util, sys
spec = importlib.util.spec_from_file_location("benchstat", sys.argv[1])
bs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bs)

# quantiles as numpy / ic_bench_quantile compute them
assert bs.quantile([4, 1, 3, 2], 0.5) == 2.5 and bs.quantile([1, 2, 3, 4, 5], 0.25) == 2.0
assert abs(bs.quantile([1, 2, 3, 4], 0.25) - 1.75) < 1e-12 and bs.quantile([7], 0.75) == 7

quiet1 = [20.6, 20.4, 20.9, 20.5, 20.3, 20.8, 21.0, 20.6, 20.7, 20.2, 42.2, 20.5, 20.6, 20.4, 20.9, 20.6, 20.5, 20.7, 20.8, 20.4]
quiet2 = [20.9, 21.1, 20.7, 21.0, 20.8, 21.2, 20.9, 21.4, 20.8, 21.0, 21.1, 20.6, 20.9, 21.0, 21.3, 20.9, 20.8, 21.1, 21.0, 20.9]
noisy = [36.9, 41.3, 79.9, 38.2, 52.4, 41.0, 39.7, 61.8, 37.5, 44.9, 70.1, 40.2, 38.8, 58.3, 42.6, 37.2, 49.9, 66.0, 41.7, 39.0]
pt1 = [239.1, 240.3, 238.2, 241.0, 239.8, 238.7, 240.9, 239.4, 240.1, 239.0] * 2
pt2 = [x * 1.02 for x in pt1]
s = bs.summary
# one quiet series, one noisy; an outlier among quiet steps does not make a run busy
assert bs.busy_reason([s(quiet1), s(quiet2)]) is None, bs.busy_reason([s(quiet1), s(quiet2)])
why = bs.busy_reason([s(quiet1), s(noisy)])
assert why and "run 2" in why and "spread" in why, why
# two quiet runs that disagree (one ran while something else did)
slow = [x * 1.3 for x in quiet2]
why = bs.busy_reason([s(quiet1), s(slow)])
assert why and "differ" in why, why
# the speed-up: printed when both sides are quiet, refused otherwise
r, why = bs.speedup([s(quiet1), s(quiet2)], [s(pt1), s(pt2)], "Haswell", "Haswell")
m_ic, m_pt = (bs.median(quiet1) + bs.median(quiet2)) / 2, (bs.median(pt1) + bs.median(pt2)) / 2
assert r is not None and abs(r - m_pt / m_ic) < 1e-9, (r, why)
r, why = bs.speedup([s(quiet1), s(noisy)], [s(pt1), s(pt2)], "Haswell", "Haswell")
assert r is None and "busy" in why and "iclab" in why, why
r, why = bs.speedup([s(quiet1), s(quiet2)], [s(pt1), s(noisy)])
assert r is None and "busy" in why and "PyTorch" in why, why
r, why = bs.speedup([s(quiet1), s(quiet2)], [s(pt1), s(pt2)], "Haswell", "Prescott")
assert r is None and "kernels differ" in why, why
# a looser threshold (BENCH_MAX_SPREAD) lets the noisy run through
assert bs.busy_reason([s(noisy)], max_spread=2.0) is None
PY
check "decision function: quiet series pass, noisy/disagreeing ones and different kernels are refused" '[ $? -eq 0 ]'
[ -s perr.txt ] && cat perr.txt

# the command line run.sh calls, on JSON files like iclab bench's and torch_bench.py's
mk() { # file median q1 q3 kernels
    printf '{"ms_per_step": %s, "ms_q1": %s, "ms_q3": %s, "flops_per_step": 2.569e9, "peak_rss_mb": 57, "blas_kernels": "%s"}\n' \
        "$2" "$3" "$4" "$5" >"$1"
}
mk ic1.json 20.6 20.45 20.8 Haswell
mk ic2.json 21.0 20.85 21.1 Haswell
mk pt1.json 239.5 239.0 240.2 Haswell
mk pt2.json 241.0 240.1 242.0 Haswell
mk busy.json 44.5 38.2 61.8 Haswell
$PY "$STAT" train small 430 ic1.json ic2.json pt1.json pt2.json >row.txt 2>&1
check "quiet: the row has the speed-up (240.25 / 20.8 = 11.55x)" 'grep -q "| 11.55x |$" row.txt'
check "quiet: both runs' medians are shown" 'grep -q "| 20.6 / 21.0 |" row.txt'
$PY "$STAT" train small 430 ic1.json busy.json pt1.json pt2.json >row.txt 2>&1
check "busy: no speed-up, the reason instead" 'grep -q "refused (machine busy: iclab run 2" row.txt && ! grep -q "[0-9]x |" row.txt'
$PY "$STAT" train small 430 ic1.json ic2.json >row.txt 2>&1
check "without PyTorch: n/a" 'grep -q "n/a (PyTorch not installed)" row.txt'
$PY "$STAT" train small 430 ic1.json >row.txt 2>&1
check "wrong arguments: non-zero exit and the usage" '[ $? -ne 0 ] && grep -q usage row.txt'
finish
