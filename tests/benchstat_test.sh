#!/usr/bin/env bash
# benchstat_test.sh: bench/run.sh refuses to print a speed-up measured while
# other processes used the machine (bench/benchstat.py: the CPU time others
# used during each run, recorded by `benchstat.py measure`) or between
# different kernel sets; on a quiet machine it prints the ratio with the
# range of both sides' quartiles, and flags a side whose own steps spread as
# noisy instead of refusing (the old rule refused those, and so refused every
# ratio when PyTorch's own threads made its steps spread). The series below
# are step times (ms) of the small model on the shared Zen 5 machine: quiet
# ones as measured while nothing else ran, noisy ones as measured while
# colleagues built. Last line: "N passed, M failed".
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
quiet_m = {"others_cores": 0.02, "wall_s": 3.0}   # what `measure` records on a quiet machine
busy_m = {"others_cores": 1.07, "wall_s": 3.1}    # one other process on a core (measured here)
def q(times, machine=quiet_m):
    return dict(s(times), machine=machine)
# a side's own variance: an outlier among quiet steps is not noise; spread or disagreeing runs are
assert bs.noisy_reason([s(quiet1), s(quiet2)]) is None, bs.noisy_reason([s(quiet1), s(quiet2)])
why = bs.noisy_reason([s(quiet1), s(noisy)])
assert why and "run 2" in why and "spread" in why, why
slow = [x * 1.3 for x in quiet2]
why = bs.noisy_reason([s(quiet1), s(slow)])
assert why and "differ" in why, why
assert bs.noisy_reason([s(noisy)], max_spread=2.0) is None
# quiet machine, steady sides: the ratio of the medians, its quartile range, no flag
r, rng, why = bs.speedup([q(quiet1), q(quiet2)], [q(pt1), q(pt2)], "Haswell", "Haswell")
m_ic, m_pt = (bs.median(quiet1) + bs.median(quiet2)) / 2, (bs.median(pt1) + bs.median(pt2)) / 2
assert r is not None and abs(r - m_pt / m_ic) < 1e-9 and why == "", (r, why)
lo = min(bs.quantile(pt1, .25), bs.quantile(pt2, .25)) / max(bs.quantile(quiet1, .75), bs.quantile(quiet2, .75))
hi = max(bs.quantile(pt1, .75), bs.quantile(pt2, .75)) / min(bs.quantile(quiet1, .25), bs.quantile(quiet2, .25))
assert abs(rng[0] - lo) < 1e-9 and abs(rng[1] - hi) < 1e-9 and rng[0] < r < rng[1], (rng, lo, hi)
# quiet machine, a side with its own spread (the old rule refused this): printed, flagged, wider range
r, rng, why = bs.speedup([q(quiet1), q(quiet2)], [q(pt1), q(noisy)])
assert r is not None and "PyTorch noisy (its own variance" in why and "iclab" not in why, (r, why)
assert rng[0] < r < rng[1]
r, rng, why = bs.speedup([q(quiet1), q(slow)], [q(pt1), q(pt2)])
assert r is not None and "iclab noisy" in why and "differ" in why, (r, why)
# busy machine: refused with the busy line, however steady both sides look
r, rng, why = bs.speedup([q(quiet1), q(quiet2)], [q(pt1), q(pt2, busy_m)], "Haswell", "Haswell")
assert r is None and why.startswith("machine busy: other processes used 1.07 cores during PyTorch run 2"), why
r, rng, why = bs.speedup([q(quiet1, dict(quiet_m, others_cores=0.16)), q(quiet2)], [q(pt1), q(pt2)])
assert r is None and "0.16 cores during iclab run 1" in why, why
r, rng, why = bs.speedup([q(quiet1, dict(quiet_m, others_cores=0.14)), q(quiet2)], [q(pt1), q(pt2)])
assert r is not None, why
assert bs.speedup([q(quiet1), q(quiet2)], [q(pt1), q(pt2, busy_m)], max_others=2.0)[0] is not None
# a run without a load record: refused (unknown load), different kernels: refused
r, rng, why = bs.speedup([q(quiet1), s(quiet2)], [q(pt1), q(pt2)])
assert r is None and "load unknown" in why and "iclab run 2" in why, why
r, rng, why = bs.speedup([q(quiet1), q(quiet2)], [q(pt1), q(pt2)], "Haswell", "Prescott")
assert r is None and "kernels differ" in why, why
PY
check "decision function: a busy machine refuses, a noisy side is flagged, a quiet one prints the ratio and its range" '[ $? -eq 0 ]'
[ -s perr.txt ] && cat perr.txt

# the command line run.sh calls, on JSON files like iclab bench's and torch_bench.py's under measure
mk() { # file median q1 q3 kernels [others_cores]
    printf '{"ms_per_step": %s, "ms_q1": %s, "ms_q3": %s, "flops_per_step": 2.569e9, "peak_rss_mb": 57, "blas_kernels": "%s", "machine": {"wall_s": 3.0, "others_cores": %s}}\n' \
        "$2" "$3" "$4" "$5" "${6:-0.02}" >"$1"
}
mk ic1.json 20.6 20.45 20.8 Haswell
mk ic2.json 21.0 20.85 21.1 Haswell
mk pt1.json 239.5 239.0 240.2 Haswell
mk pt2.json 241.0 240.1 242.0 Haswell
mk ptnoisy.json 116.0 83.4 149.3 Haswell
mk ptbusy.json 241.0 240.1 242.0 Haswell 1.34
$PY "$STAT" train small 430 ic1.json ic2.json pt1.json pt2.json >row.txt 2>&1
check "quiet: the speed-up 240.25 / 20.8 = 11.55x and its range [239.0/21.1, 242.0/20.45]" 'grep -q "| 11.55x \[11.33-11.83\] |$" row.txt'
check "quiet: both runs' medians are shown" 'grep -q "| 20.6 / 21.0 |" row.txt'
$PY "$STAT" train small 430 ic1.json ic2.json pt1.json ptnoisy.json >row.txt 2>&1
check "quiet machine, PyTorch's own spread: the ratio, flagged noisy (the old rule refused it)" \
    'grep -qF "| 8.55x [3.95-11.75]; PyTorch noisy (its own variance: run 2'"'"'s steps spread 57% (IQR / median) > 10%) |" row.txt'
$PY "$STAT" train small 430 ic1.json ic2.json pt1.json ptbusy.json >row.txt 2>&1
check "busy machine: refused with the busy line" \
    'grep -q "refused (machine busy: other processes used 1.34 cores during PyTorch run 2" row.txt && ! grep -q "[0-9]x " row.txt'
$PY "$STAT" loads small ic1.json ic2.json pt1.json ptbusy.json >row.txt 2>&1
check "loads: what the others used in each run" 'grep -q "small: other processes used 0.02 / 0.02 cores during the iclab runs, 0.02 / 1.34 during the PyTorch runs" row.txt'
$PY "$STAT" train small 430 ic1.json ic2.json >row.txt 2>&1
check "without PyTorch: n/a" 'grep -q "n/a (PyTorch not installed)" row.txt'
$PY "$STAT" train small 430 ic1.json >row.txt 2>&1
check "wrong arguments: non-zero exit and the usage" '[ $? -ne 0 ] && grep -q usage row.txt'
# measure: a command's JSON plus the machine record; its own CPU time is not counted as others'
$PY "$STAT" measure -- $PY -c '
import json, time
t = time.process_time()
while time.process_time() - t < 0.5: pass
print(json.dumps({"ms_per_step": 1}))' >m.json 2>err.txt
check "measure: adds the machine record, own CPU time counted as its own" \
    "$PY -c 'import json,sys; m = json.load(open(\"m.json\"))[\"machine\"]; sys.exit(0 if m[\"own_cpu_s\"] >= 0.5 and m[\"others_cores\"] >= 0 and m[\"wall_s\"] >= 0.5 else 1)'"
# the arithmetic, on a stat file the command itself advances by 3.00 s of busy CPU time (of
# which 0.20 s steal): others = 3.00 s - its own CPU time
echo "cpu  1000 50 200 9000 10 0 5 20 0 0" >stat.txt
BENCH_PROC_STAT=stat.txt $PY "$STAT" measure -- $PY -c '
import json, time
t = time.process_time()
while time.process_time() - t < 0.5: pass
open("stat.txt", "w").write("cpu  1200 50 260 9100 10 10 15 40 0 0\n")
print(json.dumps({"ms_per_step": 1}))' >m.json 2>err.txt
check "measure: others = the machine's busy time - the run's own CPU time" \
    "$PY -c 'import json,sys; m = json.load(open(\"m.json\"))[\"machine\"]; sys.exit(0 if abs(m[\"others_cpu_s\"] + m[\"own_cpu_s\"] - 3.0) < 1e-6 and m[\"own_cpu_s\"] >= 0.5 and abs(m[\"steal_s\"] - 0.2) < 1e-9 and abs(m[\"others_cores\"] - m[\"others_cpu_s\"] / m[\"wall_s\"]) < 1e-9 else 1)'"
$PY "$STAT" measure -- false >m.json 2>err.txt
check "measure: a failing command's status is passed on" '[ $? -eq 1 ]'
finish
