#!/usr/bin/env bash
# surgery_cli_test.sh: end-to-end tests of `iclab surgery` and of the schedule
# language through `iclab eval --schedule` (a surgery label re-run by eval
# gives the same error). Last line: "N passed, M failed".
set -u
. "$(dirname "$0")/lib.sh"

"$BIN" init --out m.safetensors --n_dims 3 --n_positions 7 --n_points 7 --n_embd 16 --n_layer 4 --n_head 2 --seed 3 >/dev/null 2>&1
"$BIN" surgery --model m.safetensors --out s --prompts 64 --bootstrap 50 --shuffles 3 --max_loops 5 >out.txt 2>err.txt; rc=$?
check "surgery exits 0" '[ $rc -eq 0 ]'
for f in skip-each.csv skip-each.json skip-each_k3.svg skip-each_k6.svg skip-each_curves.svg \
    duplicate-each_k6.svg duplicate-block_k6.svg swap-matrix_k3.svg shuffle.csv reverse_k6.svg \
    middle-repeat_k6.svg parallel_K1_k6.svg parallel_K2_k6.svg loops_k6.svg loops.json; do
    check "surgery wrote $f" "[ -s s/$f ]"
done
check "terminal summary names best and worst" 'grep -q "best skip(" out.txt && grep -q "worst" out.txt'
check "progress on stderr" 'grep -q "variants" err.txt'
python3 - <<'PY' 2>perr.txt
import csv, json
j = json.load(open("s/duplicate-block.json"))
assert len(j["variants"]) == 10, len(j["variants"])
assert [a["k"] for a in j["original"]["at_k"]] == [3, 6]
for v in j["variants"]:
    for a in v["at_k"]:
        assert a["ratio_lo90"] <= a["ratio"] + 1e-12 <= a["ratio_hi90"] + 2e-12, v
rows = list(csv.DictReader(open("s/swap-matrix.csv")))
assert rows[0]["variant"] == "original" and float(rows[0]["ratio_k6"]) == 1.0
assert len(rows) == 7
l = json.load(open("s/loops.json"))
assert [v["loops"] for v in l["variants"]] == [1, 2, 3, 4, 5]
assert l["variants"][0]["same_as_original"] is True
PY
check "surgery JSON/CSV contents" '[ $? -eq 0 ]'
[ -s perr.txt ] && cat perr.txt

# Missing values (docs/cli.md): with the position embedding of x token 6
# poisoned, every variant's prediction at k = 6 is NaN, so the error, the ratio
# and its interval there are undefined: null in the JSON (before: -1, a value a
# reader could take for a number, and "" for the best/worst label), empty in
# the CSV (before: nan/-nan), and the curves keep all 7 positions.
poison_rows m.safetensors nan.safetensors _backbone.wpe.weight 12
"$BIN" surgery --model nan.safetensors --out snan --sweep skip-each,loops --max_loops 3 --prompts 32 --bootstrap 20 \
    >out.txt 2>err.txt; rc=$?
check "surgery of a NaN-predicting model exits 0" '[ $rc -eq 0 ]'
python3 - <<'PY' 2>perr.txt
import csv, json, math
for sweep in ("skip-each", "loops"):
    j = json.load(open(f"snan/{sweep}.json"))
    assert "null = undefined" in j["ratio_definition"]
    for r in [j["original"]] + j["variants"]:
        a6 = [a for a in r["at_k"] if a["k"] == 6][0]
        assert a6["err"] is None and a6["ratio"] is None and a6["ratio_lo90"] is None and a6["ratio_hi90"] is None, a6
        for a in r["at_k"]:
            assert all(v is None or (math.isfinite(v) and v >= 0) for v in a.values()), a   # no -1
        for key in ("mean", "lo90", "hi90"):
            c = r["curve"][key]
            assert len(c) == 7 and c[6] is None, (key, c)
        assert r["err_all_positions"] is None
    bw = [b for b in j["best_worst"] if b["k"] == 6][0]
    assert bw == {"k": 6, "best": None, "best_ratio": None, "worst": None, "worst_ratio": None}, bw
    rows = list(csv.DictReader(open(f"snan/{sweep}.csv")))
    assert len(rows) == 1 + len(j["variants"])
    assert rows[0]["variant"] == "original" and rows[0]["row"] == "" and rows[0]["col"] == ""
    for row in rows:
        assert row["err_k6"] == row["ratio_k6"] == row["ratio_lo90_k6"] == row["ratio_hi90_k6"] == row["err_all"] == "", row
        assert row["row"] == ""                      # 1-d sweeps: no heatmap row
        for key, v in row.items():
            assert v == "" or v.lower() not in ("nan", "-nan", "inf", "-inf", "-1"), (key, v)
PY
check "surgery: undefined values are null / empty, curves full length" '[ $? -eq 0 ]'
[ -s perr.txt ] && cat perr.txt

# a variant's label, given to eval --schedule, reproduces its error at k = 6
label=$(python3 -c 'import json; j=json.load(open("s/swap-matrix.json")); print(j["variants"][2]["label"])')
"$BIN" eval --model m.safetensors --out ev --prompts 64 --seed 4242 --bootstrap 0 --schedule "$label" --baselines zero >/dev/null 2>&1
python3 - "$label" <<'PY' 2>perr.txt
import json, sys
e = json.load(open("ev/results.json"))["settings"]["standard"]["transformer"]["mean"][6]
v = [v for v in json.load(open("s/swap-matrix.json"))["variants"] if v["label"] == sys.argv[1]][0]
err = [a for a in v["at_k"] if a["k"] == 6][0]["err"]
assert abs(e - err) <= 1e-6 * err, (e, err)
PY
check "eval --schedule '$label' reproduces the surgery error" '[ $? -eq 0 ]'

# options and errors
"$BIN" surgery --model m.safetensors --out s2 --sweep skip-each --k 1,2,d --prompts 16 --bootstrap 0 >out2.txt 2>&1
check "--k accepts d" 'python3 -c "import json; assert [a[\"k\"] for a in json.load(open(\"s2/skip-each.json\"))[\"original\"][\"at_k\"]] == [1, 2, 3]"'
check "only the requested sweep" '[ ! -e s2/swap-matrix.csv ]'
"$BIN" surgery --model m.safetensors --out s3 --sweep swap >out3.txt 2>&1; rc=$?
check "unknown sweep: usage error listing the sweeps" '[ $rc -eq 2 ] && grep -q "known: skip-each" out3.txt'
"$BIN" surgery --model m.safetensors --out s3 --k 9 >out3.txt 2>&1; rc=$?
check "k past the prompt: usage error" '[ $rc -eq 2 ] && grep -q "not in 0..6" out3.txt'
"$BIN" surgery --model m.safetensors --out s3 --span 0-9 --sweep shuffle >out3.txt 2>&1; rc=$?
check "bad span: usage error" '[ $rc -eq 2 ] && grep -q "span" out3.txt'
"$BIN" surgery --model nope.safetensors --out s3 >out3.txt 2>&1; rc=$?
check "missing model: exit 1 with the path" '[ $rc -eq 1 ] && grep -q "nope.safetensors" out3.txt'
"$BIN" surgery --help >out3.txt 2>&1; rc=$?
check "--help lists the sweeps" '[ $rc -eq 0 ] && grep -q "middle-repeat" out3.txt && grep -q -- "--par_loops" out3.txt'
"$BIN" eval --model m.safetensors --out ev2 --prompts 8 --schedule 'skip(9)' >out4.txt 2>&1; rc=$?
check "eval --schedule with a bad slot names it" '[ $rc -ne 0 ] && grep -q "slot 9" out4.txt'

# compare: the same model twice is exactly ratio 1 and distance 0; another model differs
"$BIN" init --out m2.safetensors --n_dims 3 --n_positions 7 --n_points 7 --n_embd 16 --n_layer 2 --n_head 2 --seed 4 >/dev/null 2>&1
"$BIN" compare --models m.safetensors,m.safetensors,m2.safetensors --labels a,a_again,b --out c --prompts 64 --bootstrap 50 >out5.txt 2>&1; rc=$?
check "compare exits 0" '[ $rc -eq 0 ] && [ -s c/compare.svg ] && [ -s c/compare.csv ]'
python3 - <<'PY' 2>perr.txt
import json
m = json.load(open("c/compare.json"))["models"]
assert [x["label"] for x in m] == ["a", "a_again", "b"]
for a in m[1]["at_k"]:
    assert a["ratio"] == 1.0 and a["dist"] == 0.0 and a["ratio_lo90"] == 1.0, a
for a in m[2]["at_k"]:
    assert a["ratio"] != 1.0 and a["dist"] > 0 and a["ratio_lo90"] <= a["ratio"] <= a["ratio_hi90"], a
PY
check "compare: same model ratio 1, distance 0; another differs" '[ $? -eq 0 ]'
# a model that predicts NaN from some k on is still in compare.json (before:
# json_pack of its NaN error returned NULL and the whole entry vanished), with
# null where its numbers are undefined and full-length curves
"$BIN" compare --models m.safetensors,nan.safetensors --labels ok,poisoned --out cnan --prompts 32 --bootstrap 20 >out5.txt 2>&1; rc=$?
check "compare with a NaN-predicting model exits 0" '[ $rc -eq 0 ]'
python3 - <<'PY' 2>perr.txt
import csv, json
m = json.load(open("cnan/compare.json"))["models"]
assert [x["label"] for x in m] == ["ok", "poisoned"], [x["label"] for x in m]
a6 = [a for a in m[1]["at_k"] if a["k"] == 6][0]
assert a6["err"] is None and a6["ratio"] is None and a6["dist"] is None, a6
assert m[1]["err_all_positions"] is None
for key in ("mean", "lo90", "hi90"):
    assert len(m[1]["curve"][key]) == 7 and m[1]["curve"][key][6] is None
    assert None not in m[0]["curve"][key]
rows = list(csv.DictReader(open("cnan/compare.csv")))
assert rows[1]["label"] == "poisoned" and rows[1]["err_k6"] == rows[1]["ratio_k6"] == rows[1]["err_all"] == "", rows[1]
assert rows[0]["err_k6"] != ""
PY
check "compare: a NaN model keeps its entry, null / empty where undefined" '[ $? -eq 0 ]'
[ -s perr.txt ] && cat perr.txt
"$BIN" init --out m3.safetensors --n_dims 4 --n_positions 7 --n_points 7 --n_embd 16 --n_layer 2 --n_head 2 >/dev/null 2>&1
"$BIN" compare --models m.safetensors,m3.safetensors --out c2 --prompts 8 >out6.txt 2>&1; rc=$?
check "compare: models of another dimension are refused" '[ $rc -eq 1 ] && grep -q "n_dims 3" out6.txt'
"$BIN" compare --models m.safetensors,m2.safetensors --labels x --out c2 >out6.txt 2>&1; rc=$?
check "compare: one label per model" '[ $rc -eq 2 ] && grep -q "one name per model" out6.txt'
# long labels: the CSV grows with them (no fixed-size buffer)
long=$(printf 'L%.0s' $(seq 1 800))
"$BIN" compare --models m.safetensors,m.safetensors,m2.safetensors --labels "a$long,b$long,c$long" --out c3 --prompts 8 --bootstrap 0 >/dev/null 2>&1; rc=$?
check "compare: 800-character labels written whole" '[ $rc -eq 0 ] && [ $(grep -c "$long" c3/compare.csv) -eq 3 ]'
finish
