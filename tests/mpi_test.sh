#!/usr/bin/env bash
# tests/mpi_test.sh: data-parallel training and sweeps under mpirun (2 and 3
# ranks on this machine, --oversubscribe). Skipped, with one line, only where
# mpicc or mpirun is absent (scripts/install-deps.sh installs OpenMPI).
#
# The tolerance of "the same parameters": the ranks sum the batch's gradient
# in another order than one process does (float rounding, ~1e-7 relative),
# and Adam divides by sqrt(v): a coordinate whose gradient is near zero can
# take a step of up to about the learning rate in another direction. So two
# correct runs may differ by up to ~lr per parameter after a few steps
# (measured: 6e-5 with 2 and 3 ranks at lr 1e-3), while a wrong weighting of
# the ranks (each rank's mean weighted 1/N instead of B_r/B, with N not
# dividing B = 7) changes every gradient by O(1/B) and the parameters by
# ~2e-2 after 20 steps. TOL = lr = 1e-3 separates the two by >10x on each
# side; the test checks both (ICLAB_TEST_EQUAL_WEIGHTS=1 is that wrong
# weighting, and must fail the comparison).
if ! command -v mpirun >/dev/null 2>&1 || ! command -v mpicc >/dev/null 2>&1; then
    echo "mpi_test.sh: skipped: mpicc/mpirun not found (scripts/install-deps.sh installs OpenMPI)"
    exit 0
fi
SRC=$(cd "$(dirname "$0")/.." && pwd)
source "$SRC/tests/lib.sh"
export OMP_NUM_THREADS=1
MPIRUN=(mpirun --oversubscribe --allow-run-as-root)
# under sanitizers: Open MPI's own allocations that live until exit are not
# ours (tests/lsan-openmpi.supp names its libraries only; the slow unwinder
# gives those reports full stacks through libmpi, which the fast one loses
# in plugins that MPI_Finalize has unloaded)
if [ -n "${ICLAB_SAN:-}" ]; then
    export LSAN_OPTIONS="suppressions=$SRC/tests/lsan-openmpi.supp:print_suppressions=0:fast_unwind_on_malloc=0"
    MPIRUN+=(-x LSAN_OPTIONS -x ASAN_OPTIONS -x UBSAN_OPTIONS)
fi
TOL=1e-3
diffp() { /usr/bin/python3 "$SRC/tests/param_diff.py" "$1" "$2"; }
# below X Y / above X Y: numeric comparisons that fail when X is not a number
below() { /usr/bin/python3 -c "import sys; sys.exit(0 if float('$1') < float('$2') else 1)" 2>/dev/null; }
above() { /usr/bin/python3 -c "import sys; sys.exit(0 if float('$1') > float('$2') else 1)" 2>/dev/null; }
TINY=(--n_dims 5 --n_positions 11 --n_points 11 --n_embd 16 --n_layer 2 --n_head 2 --batch_size 7
      --learning_rate 1e-3 --train_steps 20 --log_every 5 --save_every 10 --threads 1 --checksum_every 1)

# ---- 1 vs 2 vs 3 ranks: the same parameters after 20 steps
"$BIN" train "${TINY[@]}" --out r1 >r1.log 2>&1 || bad "1 rank: $(tail -2 r1.log)"
"${MPIRUN[@]}" -np 2 "$BIN" train "${TINY[@]}" --out r2 >r2.log 2>&1 || bad "2 ranks: $(tail -3 r2.log)"
"${MPIRUN[@]}" -np 3 "$BIN" train "${TINY[@]}" --out r3 >r3.log 2>&1 || bad "3 ranks: $(tail -3 r3.log)"
for n in 2 3; do
    d=$(diffp r1/model.safetensors r$n/model.safetensors)
    below "$d" $TOL && ok || bad "$n ranks: parameters differ from 1 rank's by $d (tolerance $TOL)"
    grep -q "\"mpi_ranks\": $n" r$n/config.json && ok || bad "$n ranks: config.json does not record mpi_ranks $n"
    grep -q "train ($n ranks)" r$n.log && ok || bad "$n ranks: the progress does not show the rank count"
    check "$n ranks: metrics rows" '[ "$(cut -d, -f1 r$n/metrics.csv)" = "$(cut -d, -f1 r1/metrics.csv)" ]'
done
grep -q '"mpi_ranks": 1' r1/config.json && ok || bad "1 rank: config.json does not record mpi_ranks 1"
# the wrong weighting must fail the same comparison (the test can fail)
for n in 2 3; do
    ICLAB_TEST_EQUAL_WEIGHTS=1 "${MPIRUN[@]}" -x ICLAB_TEST_EQUAL_WEIGHTS -np $n "$BIN" train "${TINY[@]}" --out w$n \
        >w$n.log 2>&1 || bad "unweighted $n ranks did not run: $(tail -2 w$n.log)"
    d=$(diffp r1/model.safetensors w$n/model.safetensors)
    above "$d" $TOL && ok || bad "an unweighted mean over $n ranks passes the comparison (difference '$d', tolerance $TOL)"
done

# ---- resume from 2 ranks on 3: equals the uninterrupted run
ICLAB_STOP_AFTER=10 "${MPIRUN[@]}" -x ICLAB_STOP_AFTER -np 2 "$BIN" train "${TINY[@]}" --out rs >rs.log 2>&1
check "stop at 10 on 2 ranks" '[ "$(tail -1 rs/metrics.csv | cut -d, -f1)" = 10 ]'
"${MPIRUN[@]}" -np 3 "$BIN" train --resume rs >rs2.log 2>&1 || bad "resume on 3 ranks: $(tail -3 rs2.log)"
grep -q "resuming rs at step 10" rs2.log && ok || bad "resume on 3 ranks did not start at step 10: $(head -3 rs2.log)"
d=$(diffp r1/model.safetensors rs/model.safetensors)
below "$d" $TOL && ok || bad "2 then 3 ranks: parameters differ from 1 rank's by $d"
grep -q '"mpi_ranks": 3' rs/config.json && ok || bad "resumed on 3 ranks: config.json does not say so"
check "resumed metrics rows" '[ "$(cut -d, -f1 rs/metrics.csv | tr "\n" " ")" = "step 5 10 15 20 " ]'

# ---- a killed rank ends the job with a message within seconds; the checkpoint resumes
"${MPIRUN[@]}" -np 2 "$BIN" train "${TINY[@]}" --train_steps 100000000 --save_every 20 --out rk >rk.log 2>&1 &
mp=$!
for _ in $(seq 200); do [ -s rk/state.safetensors ] && [ "$(tail -1 rk/metrics.csv | cut -d, -f1)" -ge 40 ] 2>/dev/null && break; sleep 0.1; done
victim=""
for p in $(pgrep -f -- "--out rk"); do
    tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx OMPI_COMM_WORLD_RANK=1 && victim=$p
done
if [ -z "$victim" ]; then
    bad "no rank 1 process found to kill"
    kill "$mp" 2>/dev/null
else
    kill -9 "$victim"
    t0=$(date +%s%N)
    for _ in $(seq 300); do kill -0 "$mp" 2>/dev/null || break; sleep 0.1; done
    secs=$((($(date +%s%N) - t0) / 1000000000))
    if kill -0 "$mp" 2>/dev/null; then
        bad "the job still runs 30 s after rank 1 was killed"
        kill -9 "$mp"
    else
        [ "$secs" -le 15 ] && ok || bad "the job took $secs s to end after rank 1 was killed"
    fi
    wait "$mp"
    rc=$?
    check "killed rank: non-zero exit" '[ $rc -ne 0 ]'
    grep -q "rank 1 .*exited on signal 9" rk.log && ok || bad "killed rank: no message naming it: $(tail -5 rk.log)"
    last=$(/usr/bin/python3 -c "
import json,struct,sys
b=open('rk/state.safetensors','rb').read(); n=struct.unpack('<Q',b[:8])[0]
print(json.loads(json.loads(b[8:8+n])['__metadata__']['iclab_train_state'])['step'])")
    "$BIN" train --resume rk --train_steps $((last + 20)) >rk2.log 2>&1 && ok || bad "resume after the kill: $(tail -2 rk2.log)"
    check "resumed after the kill" '[ "$(tail -1 rk/metrics.csv | cut -d, -f1)" = $((last + 20)) ]'
fi
pgrep -f -- "--out rk" >/dev/null && bad "processes of the killed job are still running" || ok

# ---- a sweep of 6 runs over 2 ranks equals the runs done one by one
cat >plan.json <<'JSON'
{"name": "mpi-test",
 "configs": {"a": {"n_dims": 5, "n_positions": 11, "n_points": 11, "n_embd": 16, "n_layer": 2, "n_head": 2,
                   "batch_size": 6, "learning_rate": 0.001},
             "b": {"n_dims": 5, "n_positions": 11, "n_points": 11, "n_embd": 16, "n_layer": 1, "n_head": 4,
                   "batch_size": 5, "learning_rate": 0.002}},
 "seeds": [1, 2, 3],
 "data_seed_offset": 100,
 "overrides": {"train_steps": 12, "log_every": 4, "save_every": 4},
 "steps": [{"command": "eval", "args": ["--prompts", "32", "--seed", "7"]}]}
JSON
"${MPIRUN[@]}" -np 2 "$BIN" sweep --plan plan.json --out sw --threads 1 >sw.log 2>&1 || bad "sweep over 2 ranks: $(tail -5 sw.log)"
grep -q "rank 1 of 2: 3 runs here" sw.log && ok || bad "the sweep did not give rank 1 three runs: $(head -4 sw.log)"
A=(--n_dims 5 --n_positions 11 --n_points 11 --n_embd 16 --n_layer 2 --n_head 2 --batch_size 6 --learning_rate 0.001)
B=(--n_dims 5 --n_positions 11 --n_points 11 --n_embd 16 --n_layer 1 --n_head 4 --batch_size 5 --learning_rate 0.002)
for c in a b; do
    for s in 1 2 3; do
        if [ $c = a ]; then k=("${A[@]}"); else k=("${B[@]}"); fi
        "$BIN" train "${k[@]}" --train_steps 12 --log_every 4 --save_every 4 --seed $s --data_seed $((100 + s)) \
            --threads 1 --out one/$c/seed$s >/dev/null 2>&1 || bad "one by one: $c seed $s"
        "$BIN" eval --model one/$c/seed$s/model.safetensors --out one/$c/seed$s/eval --threads 1 --prompts 32 --seed 7 \
            >/dev/null 2>&1 || bad "one by one: eval $c seed $s"
        cmp -s sw/$c/seed$s/model.safetensors one/$c/seed$s/model.safetensors && ok ||
            bad "sweep run $c/seed$s differs from the same run alone"
        cmp -s sw/$c/seed$s/eval/standard.csv one/$c/seed$s/eval/standard.csv && ok ||
            bad "sweep run $c/seed$s: its eval differs from the same eval alone"
    done
done
/usr/bin/python3 - <<'PY' && ok || bad "sweep.json/summary.csv"
import csv, json
j = json.load(open("sw/sweep.json"))
assert j["plan"]["name"] == "mpi-test" and j["counts"] == {"done": 6, "failed": 0, "pending": 0}, j["counts"]
assert [r["name"] for r in j["runs"]] == [f"{c}/seed{s}" for c in "ab" for s in (1, 2, 3)]
assert all(r["status"] == "done" and r["error"] is None and r["metrics"]["step"] == 12 for r in j["runs"])
rows = list(csv.DictReader(open("sw/summary.csv")))
assert len(rows) == 6 and all(r["status"] == "done" and r["step"] == "12" for r in rows)
PY
# rank 0 cannot take the sweep's lock: the job ends with its message instead of the other rank waiting
mkdir -p locked
flock locked/sweep.lock sleep 30 &
holder=$!
sleep 0.3
start=$(date +%s)
timeout 60 "${MPIRUN[@]}" -np 2 "$BIN" sweep --plan plan.json --out locked --threads 1 >lk.log 2>&1
rc=$?
check "a locked sweep directory under 2 ranks: exit non-zero, not a hang" '[ $rc -ne 0 ] && [ $rc -ne 124 ] && [ $(($(date +%s) - start)) -le 20 ]'
grep -q "iclab sweep: .*locked" lk.log && ok || bad "locked sweep: no message: $(head -3 lk.log)"
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null
finish
