#!/usr/bin/env bash
# tests/sweep_test.sh: `iclab sweep` in one process (no MPI needed): a run
# that fails and one whose step fails are reported while the others finish;
# a rerun skips finished runs and retries failed ones; an interrupted sweep
# resumes its runs (train --resume) to the same models as uninterrupted
# runs; plan errors; sweep.json and summary.csv.
SRC=$(cd "$(dirname "$0")/.." && pwd)
source "$SRC/tests/lib.sh"
export OMP_NUM_THREADS=1
cat >plan.json <<'JSON'
{"name": "t",
 "configs": {"tiny": {"n_dims": 5, "n_positions": 11, "n_points": 11, "n_embd": 16, "n_layer": 2, "n_head": 2,
                      "batch_size": 6, "learning_rate": 0.001},
             "bad": {"n_dims": 5, "n_positions": 11, "n_embd": 15, "n_layer": 1, "n_head": 2}},
 "seeds": [1, 2],
 "overrides": {"train_steps": 16, "log_every": 4, "save_every": 4},
 "variants": {"base": {}, "huge": {"n_embd": 60000, "n_layer": 4000}},
 "steps": [{"command": "eval", "args": ["--prompts", "32"]}]}
JSON
# tiny/base: trains and evaluates; tiny/huge: valid, but `iclab train` refuses it (it does not fit
# in memory: a failure of the child process); bad/*: n_embd 15 not divisible by 2 heads (found
# when the plan is read)
"$BIN" sweep --plan plan.json --out sw --threads 1 --jobs 2 >out.txt 2>err.txt
rc=$?
check "exit 1 when a run failed" '[ $rc -eq 1 ]'
check "table" 'grep -q "8 runs: 2 done, 6 failed, 0 pending" out.txt'
check "done runs trained and evaluated" '[ -s sw/tiny/base/seed1/model.safetensors ] && [ -s sw/tiny/base/seed2/eval/results.json ]'
check "a bad config fails with its reason" 'grep -q "bad/base/seed1 .*failed.*divisible" out.txt'
check "a run refused by train fails with its reason" 'grep -q "tiny/huge/seed1 .*failed.*train exited with code 1: iclab train:.*memory" out.txt'
/usr/bin/python3 - <<'PY' && ok || bad "sweep.json"
import json
j = json.load(open("sw/sweep.json"))
assert j["counts"] == {"done": 2, "failed": 6, "pending": 0}, j["counts"]
r = {x["name"]: x for x in j["runs"]}
assert r["tiny/base/seed1"]["status"] == "done" and r["tiny/base/seed1"]["metrics"]["step"] == 16
assert r["tiny/base/seed1"]["dir"] == "tiny/base/seed1" and r["tiny/base/seed1"]["error"] is None
assert r["bad/base/seed2"]["status"] == "failed" and "divisible" in r["bad/base/seed2"]["error"]
assert r["bad/base/seed2"]["metrics"]["loss"] is None
assert j["plan"]["name"] == "t"
PY
check "summary.csv rows" '[ "$(wc -l <sw/summary.csv)" = 9 ]'

# a step that fails (a bad eval argument) fails its run, the run's training is kept
cat >plan2.json <<'JSON'
{"configs": {"tiny": {"n_dims": 5, "n_positions": 11, "n_embd": 16, "n_layer": 2, "n_head": 2, "batch_size": 6}},
 "seeds": [1], "overrides": {"train_steps": 8, "log_every": 4, "save_every": 4},
 "steps": [{"command": "eval", "args": ["--prompts", "lots"]}]}
JSON
"$BIN" sweep --plan plan2.json --out sw2 --threads 1 >out2.txt 2>&1
check "a failing step: exit 1" '[ $? -eq 1 ]'
check "a failing step names the command and its error" 'grep -q "failed.*eval exited with code 2: iclab eval:.*--prompts" out2.txt'
check "its log is kept" '[ -s sw2/tiny/seed1/eval.log ] && [ -s sw2/tiny/seed1/model.safetensors ]'

# rerun: finished runs are skipped (their files untouched), failed ones retried
m1=$(stat -c %Y.%s sw/tiny/base/seed1/model.safetensors)
sleep 1
"$BIN" sweep --plan plan.json --out sw --threads 1 --only tiny >out3.txt 2>err3.txt
check "rerun: done runs skipped" 'grep -q "4 runs (2 already done)" err3.txt && ! grep -q "start tiny/base" err3.txt'
check "rerun: the finished model is untouched" '[ "$(stat -c %Y.%s sw/tiny/base/seed1/model.safetensors)" = "$m1" ]'
check "rerun: failed runs retried" 'grep -q "start tiny/huge/seed1: train" err3.txt'

# an interrupted sweep resumes to the same models as an uninterrupted one
cat >plan3.json <<'JSON'
{"configs": {"tiny": {"n_dims": 5, "n_positions": 11, "n_embd": 16, "n_layer": 2, "n_head": 2, "batch_size": 6}},
 "seeds": [1], "overrides": {"train_steps": 1500, "log_every": 50, "save_every": 50}}
JSON
"$BIN" sweep --plan plan3.json --out full --threads 1 >/dev/null 2>&1 || bad "uninterrupted sweep"
"$BIN" sweep --plan plan3.json --out part --threads 1 >part.txt 2>&1 &
sp=$!
for _ in $(seq 300); do [ -s part/tiny/seed1/state.safetensors ] && [ "$(tail -1 part/tiny/seed1/metrics.csv | cut -d, -f1)" -ge 100 ] 2>/dev/null && break; sleep 0.05; done
kill -INT $sp
wait $sp
rc=$?
check "interrupted sweep: exit 130" '[ $rc -eq 130 ]'
check "interrupted sweep: the run is pending" 'grep -q "tiny/seed1 .*pending" part.txt'
check "interrupted sweep: sweep.json says pending" 'grep -q "\"pending\": 1" part/sweep.json'
check "interrupted sweep: training stopped early" '[ "$(tail -1 part/tiny/seed1/metrics.csv | cut -d, -f1)" -lt 1500 ]'
"$BIN" sweep --plan plan3.json --out part --threads 1 >/dev/null 2>part2.txt || bad "resumed sweep: $(tail -3 part2.txt)"
check "resumed with train --resume" 'grep -q "resuming" part/tiny/seed1/train.log'
check "resumed run equals the uninterrupted one" 'cmp -s full/tiny/seed1/state.safetensors part/tiny/seed1/state.safetensors'

# bad input: one line, exit code, nothing written
expect_plan_error() { # name plan-text message
    printf '%s' "$2" >badplan.json
    "$BIN" sweep --plan badplan.json --out never >o.txt 2>e.txt
    local rc=$?
    if [ $rc -eq 1 ] && grep -q -- "$3" e.txt && [ "$(wc -l <e.txt)" = 1 ] && [ ! -e never ]; then ok
    else bad "$1: rc $rc, $(cat e.txt)"; fi
}
expect_plan_error "not JSON" '{"configs": ' "badplan.json:1"
expect_plan_error "unknown key" '{"configs": {"a": {"n_layers": 2}}}' "unknown config key 'n_layers'"
expect_plan_error "unknown step" '{"configs": {"a": {}}, "steps": [{"command": "train"}]}' "must be one of eval"
"$BIN" sweep --plan plan.json >o.txt 2>e.txt
check "missing --out: usage error" '[ $? -eq 2 ] && grep -q -- "--out" e.txt'
# the recipes' plans read, with their runs and steps
for p in "$SRC"/experiments/*/plan*.json; do
    "$BIN" sweep --plan "$p" --out never --list >o.txt 2>e.txt && grep -q "seed1  pending  iclab train" o.txt &&
        grep -q "^step 1: iclab eval" o.txt && [ ! -e never ] && ok || bad "$p: $(cat e.txt)"
done
"$BIN" sweep --help >o.txt 2>&1 && grep -q "sweep.json" o.txt && ok || bad "sweep --help"
finish
