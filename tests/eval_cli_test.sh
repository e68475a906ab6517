#!/usr/bin/env bash
# eval_cli_test.sh: end-to-end tests of `iclab eval` and `iclab predict --baseline`.
# Last line: "N passed, M failed"; exit status non-zero if any failed.
set -u
. "$(dirname "$0")/lib.sh"

"$BIN" init --out m.safetensors --n_dims 4 --n_positions 9 --n_points 9 --n_embd 16 --n_layer 2 --n_head 2 >/dev/null 2>&1
"$BIN" eval --model m.safetensors --out ev --prompts 64 --bootstrap 50 \
    --settings standard,scale_x:2,skewed,orthogonal_query,overlapping_query,random_quadrants,noisy:0.5 \
    --baselines least_squares,averaging,knn:3,ridge:0.1,gd:20,newton:3,lasso:0.01,tree:3 >out.txt 2>err.txt; rc=$?
check "eval exits 0" '[ $rc -eq 0 ]'
for f in results.json standard.csv standard.svg standard_log.svg skewed.csv orthogonal_query.svg; do
    check "eval wrote $f" "[ -s ev/$f ]"
done
check "table has k = d/2, d, 2d" 'grep -q "k=2 " out.txt && grep -q "k=4 " out.txt && grep -q "k=8 " out.txt'
python3 - <<'PY' 2>err.txt
import json
r = json.load(open("ev/results.json"))
s = r["settings"]
assert set(s) == {"standard", "scale_x:2", "skewed", "orthogonal_query", "overlapping_query", "random_quadrants", "noisy:0.5"}, s.keys()
for name, preds in s.items():
    assert "transformer" in preds and "least_squares" in preds, name
    for p in preds.values():
        assert len(p["mean"]) == 9 and all(lo <= m + 1e-12 and m <= hi + 1e-12 for m, lo, hi in zip(p["mean"], p["lo90"], p["hi90"]))
        assert p["mean"][0] >= 0
ls = s["standard"]["least_squares"]["mean"]
assert max(ls[4:]) < 1e-6, ls          # exact once k >= d (noiseless)
assert abs(s["standard"]["least_squares"]["mean"][0] - s["standard"]["averaging"]["mean"][0]) < 1e-9  # both predict 0 at k = 0
assert max(s["overlapping_query"]["least_squares"]["mean"][1:]) < 1e-6
PY
check "results.json is consistent (paired k=0, least squares exact for k>=d)" '[ $? -eq 0 ]'
check "csv has a row per position" '[ $(wc -l <ev/standard.csv) -eq 10 ]'

# Missing values (docs/cli.md): a model whose position embedding of x token 6
# is NaN predicts NaN from some k <= 6 on (NaN times a masked attention weight
# of 0 is still NaN, so where it starts depends on the kernel's blocking), and
# gradient descent with a step too large for the bigger prompts diverges (Inf,
# then NaN) at the larger k. Every array keeps its full length with null at
# exactly those positions, and the CSV has empty fields there. (Before:
# json_real of NaN/Inf was dropped, leaving the transformer's arrays 4 of 9
# entries long and gd's 5 (mean) or 7 (lo90), and the CSV said nan/-nan/inf.)
poison_rows m.safetensors nan.safetensors _backbone.wpe.weight 12
"$BIN" eval --model nan.safetensors --out evnan --prompts 64 --bootstrap 50 --baselines least_squares,gd:1000:0.1 \
    >out.txt 2>err.txt; rc=$?
check "eval of a NaN-predicting model exits 0" '[ $rc -eq 0 ]'
python3 - <<'PY' 2>err.txt
import csv, json, math
r = json.load(open("evnan/results.json"))          # strict JSON: no NaN/Infinity tokens
p = r["settings"]["standard"]
assert set(p) == {"transformer", "least_squares", "gd:1000:0.1"}, p.keys()
rows = list(csv.DictReader(open("evnan/standard.csv")))
assert len(rows) == 9
for name, c in p.items():
    for key, col in (("mean", name), ("lo90", name + "_lo90"), ("hi90", name + "_hi90")):
        assert len(c[key]) == 9, (name, key, c[key])
        assert all(v is None or math.isfinite(v) for v in c[key])
        # the CSV is empty exactly where the JSON is null, and equal elsewhere: nothing moved
        for row, v in zip(rows, c[key]):
            assert (row[col] == "") == (v is None), (name, key, row["k"])
            assert v is None or abs(float(row[col]) - v) <= 1e-5 * abs(v), (name, key, row["k"])
nulls = lambda v: [k for k, x in enumerate(v) if x is None]
def undefined_from_some_k(v):
    z = nulls(v)
    return z and z == list(range(z[0], 9)) and z[0] > 0    # finite up to where it breaks, then undefined
t = p["transformer"]
assert undefined_from_some_k(t["mean"]) and nulls(t["mean"]) == nulls(t["lo90"]) == nulls(t["hi90"]), t
assert nulls(t["mean"])[0] <= 6, t
assert not nulls(p["least_squares"]["mean"])
assert undefined_from_some_k(p["gd:1000:0.1"]["mean"]), p["gd:1000:0.1"]
PY
check "results.json: full-length arrays, null where undefined; CSV empty there" '[ $? -eq 0 ]'
check "eval CSV never says nan or inf" '! tail -n +2 evnan/standard.csv | grep -qi "nan\|inf"'

# adaptive depth: --halt_tol 0 is the fixed-depth eval; a huge tolerance stops every prediction after 2 loops
"$BIN" eval --model m.safetensors --out evh0 --prompts 32 --bootstrap 0 --baselines least_squares --loops 5 >/dev/null 2>&1
"$BIN" eval --model m.safetensors --out evh1 --prompts 32 --bootstrap 0 --baselines least_squares --loops 5 --halt_tol 0 >/dev/null 2>&1
"$BIN" eval --model m.safetensors --out evh2 --prompts 32 --bootstrap 0 --baselines least_squares --loops 5 --halt_tol 1e20 \
    --settings standard,orthogonal_query >out.txt 2>&1; rc=$?
/usr/bin/python3 - <<'PY' 2>perr.txt
import json
a, b, c = (json.load(open(f"{d}/results.json")) for d in ("evh0", "evh1", "evh2"))
ta, tb = a["settings"]["standard"]["transformer"], b["settings"]["standard"]["transformer"]
assert ta["mean"] == tb["mean"] and "loops_used" not in tb, "halt_tol 0 is the fixed-depth run"
for s, per in (("standard", 32), ("orthogonal_query", 32 * 9)):
    u = c["settings"][s]["transformer"]["loops_used"]
    assert u["min"] == u["max"] == 2 and u["distribution"] == [{"loops": 2, "predictions": per}], (s, u)
assert "loops_used" not in c["settings"]["standard"]["least_squares"]
PY
check "eval --halt_tol: 0 is fixed depth; 1e20 stops every prediction at 2 loops (results.json loops_used)" \
    '[ $rc -eq 0 ] && [ -z "$(cat perr.txt)" ] && grep -q "used 2.00 loops on average" out.txt || { cat perr.txt; false; }'
"$BIN" eval --model m.safetensors --out ev2 --settings sideways >out.txt 2>err.txt; rc=$?
check "unknown setting is a usage error naming it" '[ $rc -eq 2 ] && grep -q sideways err.txt'
"$BIN" eval --model m.safetensors --out ev2 --baselines magic >out.txt 2>err.txt; rc=$?
check "unknown baseline is a usage error" '[ $rc -eq 2 ] && grep -q magic err.txt'
"$BIN" eval --model m.safetensors --out ev2 --n_points 50 >out.txt 2>err.txt; rc=$?
check "n_points beyond the position table fails" '[ $rc -eq 1 ] && grep -q n_positions err.txt'

# a user's own prompt file replaces sampled prompts; predict --baseline scores it
"$BIN" make-prompts --out p.safetensors --n_dims 4 --n_points 9 --prompts 32 --seed 5 >/dev/null 2>&1
"$BIN" eval --model m.safetensors --out ev3 --prompt_file p.safetensors --bootstrap 0 >out.txt 2>err.txt; rc=$?
check "eval on a prompt file" '[ $rc -eq 0 ] && [ -s ev3/file.csv ]'
"$BIN" predict --baseline least_squares --prompts p.safetensors --out ls.safetensors >out.txt 2>err.txt; rc=$?
check "predict --baseline exits 0" '[ $rc -eq 0 ]'
check "predict --baseline least squares is exact-ish overall" 'grep -q "mse/d" out.txt'
"$BIN" predict --baseline least_squares --model m.safetensors --prompts p.safetensors --out x.safetensors >out.txt 2>err.txt; rc=$?
check "predict refuses --model with --baseline" '[ $rc -eq 2 ]'
"$BIN" predict --baseline cubic --prompts p.safetensors --out x.safetensors >out.txt 2>err.txt; rc=$?
check "predict --baseline with an unknown name" '[ $rc -eq 2 ] && [ ! -e x.safetensors ]'

# plot: columns of CSV files on one set of axes
"$BIN" plot --out cmp.svg --logy --series "std=ev/standard.csv:k:transformer;ls=ev/standard.csv:k:least_squares" >out.txt 2>err.txt; rc=$?
check "plot writes an SVG with both labels" '[ $rc -eq 0 ] && grep -q ">std<" cmp.svg && grep -q ">ls<" cmp.svg'
"$BIN" plot --out cmp2.svg --series "x=ev/standard.csv:k:nosuchcol" >out.txt 2>err.txt; rc=$?
check "plot names a missing column" '[ $rc -eq 1 ] && grep -q nosuchcol err.txt && [ ! -e cmp2.svg ]'
"$BIN" plot --out cmp3.svg --series "garbage" >out.txt 2>err.txt; rc=$?
check "plot rejects a malformed series" '[ $rc -eq 2 ]'
# compare --loops: a model run at 5 loops in compare is the model of `eval --loops 5` (same prompts)
"$BIN" eval --model m.safetensors --out evl5 --prompts 32 --bootstrap 0 --baselines least_squares --loops 5 --seed 77 >/dev/null 2>&1
"$BIN" compare --models m.safetensors,m.safetensors --loops 0,5 --k 4 --out cmpl --prompts 32 --bootstrap 0 --seed 77 >/dev/null 2>err.txt; rc=$?
/usr/bin/python3 - <<'PY' 2>perr.txt
import json
c = json.load(open("cmpl/compare.json"))["models"]
e = json.load(open("evl5/results.json"))["settings"]["standard"]["transformer"]["mean"]
assert [m["loops"] for m in c] == [1, 5], c
assert abs(c[1]["at_k"][0]["err"] - e[4]) <= 1e-6 * abs(e[4]), (c[1]["at_k"][0]["err"], e[4])
assert c[1]["at_k"][0]["err"] != c[0]["at_k"][0]["err"]
PY
check "compare --loops 0,5: the second model is eval --loops 5's (same prompts); compare.json records the loops" \
    '[ $rc -eq 0 ] && [ ! -s perr.txt ] || { cat perr.txt err.txt; false; }'
"$BIN" compare --models m.safetensors,m.safetensors --loops 5 --out cmpl2 --prompts 8 >/dev/null 2>err.txt; rc=$?
check "compare --loops with a count missing is a usage error" '[ $rc -eq 2 ] && grep -q "one count per model" err.txt && [ ! -e cmpl2 ]'

finish
