#!/usr/bin/env bash
# inputs_cli_test.sh: up-front checks of what users hand to iclab (issue 20):
# outputs that would replace inputs, long file names, 64-bit seeds through
# config.json / checkpoints / --seed, strict JSON and flag values, non-finite
# prompts, baseline limits, ragged CSVs, configurations that cannot fit.
# Last line: "N passed, M failed"; exit status non-zero if any failed.
set -u
. "$(dirname "$0")/lib.sh"

TINY="--n_layer 1 --n_embd 8 --n_head 1 --n_dims 3 --n_points 6 --n_positions 6 --batch_size 8 --train_steps 2 --threads 1"
# shellcheck disable=SC2086
"$BIN" init --out m.safetensors $TINY >/dev/null 2>&1
"$BIN" make-prompts --out p.safetensors --n_dims 3 --n_points 6 --prompts 8 --seed 1 >/dev/null 2>&1
check "setup: a tiny model and prompts" '[ -s m.safetensors ] && [ -s p.safetensors ]'

# ---------------------------------------------------------------- output = input
cp p.safetensors q.safetensors
sum_q=$(cksum <q.safetensors)
"$BIN" predict --model m.safetensors --prompts q.safetensors --out q.safetensors >out.txt 2>err.txt; rc=$?
check "predict --out = --prompts is refused (exit 1)" '[ $rc -eq 1 ] && grep -q "same file as --prompts" err.txt'
check "  and the prompts are intact" '[ "$(cksum <q.safetensors)" = "$sum_q" ]'
ln -s q.safetensors qlink
"$BIN" predict --model m.safetensors --prompts qlink --out ./q.safetensors >out.txt 2>err.txt; rc=$?
check "predict: the same file through a link and ./ is refused" '[ $rc -eq 1 ] && [ "$(cksum <q.safetensors)" = "$sum_q" ]'
cp m.safetensors m2.safetensors
sum_m=$(cksum <m2.safetensors)
"$BIN" predict --model m2.safetensors --prompts p.safetensors --out m2.safetensors >out.txt 2>err.txt; rc=$?
check "predict --out = --model is refused" '[ $rc -eq 1 ] && grep -q "same file as --model" err.txt && [ "$(cksum <m2.safetensors)" = "$sum_m" ]'
"$BIN" predict --model m.safetensors --prompts p.safetensors --out pred.safetensors >out.txt 2>err.txt; rc=$?
check "predict to another file still works" '[ $rc -eq 0 ] && [ -s pred.safetensors ]'
mkdir -p ev
cp p.safetensors ev/standard.csv
"$BIN" eval --model m.safetensors --prompt_file ev/standard.csv --out ev --bootstrap 0 >out.txt 2>err.txt; rc=$?
check "eval: a prompt file named like an output in --out is refused" '[ $rc -eq 1 ] && grep -q "lies in --out ev" err.txt && cmp -s ev/standard.csv p.safetensors'
printf 'a,b\n1,2\n3,4\n' >c.csv
cp c.csv c_orig.csv
"$BIN" plot --out c.csv --series "x=c.csv:a:b" >out.txt 2>err.txt; rc=$?
check "plot --out = a series file is refused" '[ $rc -eq 1 ] && grep -q "same file as --series" err.txt && cmp -s c.csv c_orig.csv'
echo '{"n_dims": 3}' >cfg.json
# shellcheck disable=SC2086
"$BIN" init --config cfg.json --out cfg.json $TINY >out.txt 2>err.txt; rc=$?
check "init --out = --config is refused" '[ $rc -eq 1 ] && grep -q "same file as --config" err.txt && grep -q n_dims cfg.json'
mkdir -p run1 && echo '{"n_dims": 3}' >run1/config.json
# shellcheck disable=SC2086
"$BIN" train --config run1/config.json --out run1 $TINY >out.txt 2>err.txt; rc=$?
check "train: --config DIR/config.json with --out DIR is refused" '[ $rc -eq 1 ] && grep -q "lies in --out run1" err.txt && [ ! -e run1/state.safetensors ]'
"$BIN" probe --model m2.safetensors --out pr --dump m2.safetensors --what lens >out.txt 2>err.txt; rc=$?
check "probe --dump = --model is refused" '[ $rc -eq 1 ] && [ "$(cksum <m2.safetensors)" = "$sum_m" ]'
"$BIN" loops --model m2.safetensors --out m2.safetensors >out.txt 2>err.txt; rc=$?
check "loops --out = --model is refused" '[ $rc -eq 1 ] && [ "$(cksum <m2.safetensors)" = "$sum_m" ]'
mkdir -p cmp && cp m.safetensors cmp/compare.json
"$BIN" compare --models m.safetensors,cmp/compare.json --out cmp --prompts 8 >out.txt 2>err.txt; rc=$?
check "compare: a model named like an output in --out is refused" '[ $rc -eq 1 ] && cmp -s cmp/compare.json m.safetensors'

# ---------------------------------------------------------------- long file names
long=$(printf 'n%.0s' $(seq 1 250))
"$BIN" predict --model m.safetensors --prompts p.safetensors --out "$long" >out.txt 2>err.txt; rc=$?
check "an output name of 250 characters is written" '[ $rc -eq 0 ] && [ -s "$long" ]'
check "  and no temporary file is left" '[ -z "$(ls -A | grep "\.tmp")" ]'
long255=$(printf 'z%.0s' $(seq 1 255))
"$BIN" make-prompts --out "$long255" --n_dims 2 --n_points 2 --prompts 2 >out.txt 2>err.txt; rc=$?
check "an output name of 255 characters is written" '[ $rc -eq 0 ] && [ -s "$long255" ]'

# ---------------------------------------------------------------- non-finite prompts
python3 - <<'PY'
import json, struct
def write(path, xs, ys, B, n, d):
    hx = {"dtype": "F32", "shape": [B, n, d], "data_offsets": [0, 4 * B * n * d]}
    hy = {"dtype": "F32", "shape": [B, n], "data_offsets": [4 * B * n * d, 4 * (B * n * d + B * n)]}
    h = json.dumps({"xs": hx, "ys": hy}).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + struct.pack("<%df" % len(xs), *xs) + struct.pack("<%df" % len(ys), *ys))
B, n, d = 4, 6, 3
xs = [0.1 * (i % 7) - 0.3 for i in range(B * n * d)]
ys = [0.2 * (i % 5) for i in range(B * n)]
bad = list(xs); bad[(2 * n + 3) * d + 1] = float("nan"); write("nan_x.safetensors", bad, ys, B, n, d)
bad = list(ys); bad[1 * n + 4] = float("inf"); write("inf_y.safetensors", xs, bad, B, n, d)
PY
"$BIN" predict --model m.safetensors --prompts nan_x.safetensors --out px.safetensors >out.txt 2>err.txt; rc=$?
check "predict refuses NaN in xs, naming prompt, point and coordinate" '[ $rc -eq 1 ] && grep -q "xs\[2,3,1\]" err.txt && [ ! -e px.safetensors ]'
"$BIN" predict --baseline least_squares --prompts inf_y.safetensors --out py.safetensors >out.txt 2>err.txt; rc=$?
check "predict --baseline refuses Inf in ys" '[ $rc -eq 1 ] && grep -q "ys\[1,4\]" err.txt'
"$BIN" eval --model m.safetensors --prompt_file nan_x.safetensors --out evn --bootstrap 0 >out.txt 2>err.txt; rc=$?
check "eval refuses NaN prompts (was: LAPACK dgelsd failed)" '[ $rc -eq 1 ] && grep -q "xs\[2,3,1\]" err.txt && ! grep -q LAPACK err.txt'

# ---------------------------------------------------------------- baselines
timeout 60 "$BIN" predict --baseline gd:1000000000 --prompts p.safetensors --out g.safetensors >out.txt 2>err.txt; rc=$?
check "gd:1000000000 is refused at once (was: hours)" '[ $rc -eq 2 ] && grep -q "0..100000" err.txt'
timeout 60 "$BIN" eval --model m.safetensors --out evg --prompts 8 --baselines relu_net:10:1000000 >out.txt 2>err.txt; rc=$?
check "relu_net epochs beyond the maximum are refused" '[ $rc -eq 2 ] && grep -q "epochs" err.txt'

# ---------------------------------------------------------------- ragged CSVs
printf 'step,loss\n1,2\n2,3,4\n3,4\n' >ragged.csv
"$BIN" plot --out ragged.svg --series "r=ragged.csv:step:loss" >out.txt 2>err.txt; rc=$?
check "plot refuses a row with more fields than the header, with file:line" '[ $rc -eq 1 ] && grep -q "ragged.csv:3:" err.txt && [ ! -e ragged.svg ]'
printf 'step,loss,x\r\n1,2,3\r\n2,3\r\n' >short.csv
"$BIN" plot --out short.svg --series "r=short.csv:step:loss" >out.txt 2>err.txt; rc=$?
check "plot refuses a short row (CRLF file)" '[ $rc -eq 1 ] && grep -q "short.csv:3: 2 fields, but the header has 3" err.txt'
printf 'step,loss,x\r\n1,,3\r\n2,3,\r\n' >gaps.csv
"$BIN" plot --out gaps.svg --series "r=gaps.csv:step:loss" >out.txt 2>err.txt; rc=$?
check "empty cells are gaps, not ragged rows" '[ $rc -eq 0 ] && [ -s gaps.svg ]'

# ---------------------------------------------------------------- seeds and strict values
# shellcheck disable=SC2086
"$BIN" train $TINY --seed 10000000000000000000 --task sparse_linear_regression --sparsity 2 --out big >out.txt 2>err.txt; rc=$?
check "train with a seed >= 2^63" '[ $rc -eq 0 ] && grep -q "\"seed\": \"10000000000000000000\"" big/config.json'
"$BIN" train --resume big --train_steps 4 >out.txt 2>err.txt; rc=$?
check "  resumes (was: negative seed in config.json, resume refused)" '[ $rc -eq 0 ] && grep -q "4 steps" out.txt'
"$BIN" eval --model big/model.safetensors --out big/ev --prompts 8 --bootstrap 0 --seed 18446744073709551615 >out.txt 2>err.txt; rc=$?
check "  eval uses the recorded task (was: the default task)" '[ $rc -eq 0 ] && grep -q "sparse_linear_regression" out.txt'
check "  results.json records the eval seed exactly" 'grep -q "\"seed\": \"18446744073709551615\"" big/ev/results.json'
echo '{"seed": 10000000000000000000}' >bigseed.json
# shellcheck disable=SC2086
"$BIN" init --config bigseed.json --out bs.safetensors $TINY >out.txt 2>err.txt; rc=$?
check "a config file may write a seed >= 2^63 as a bare integer" '[ $rc -eq 0 ] && grep -q "seed=10000000000000000000" out.txt'
echo '{"inject": "yes"}' >yes.json
# shellcheck disable=SC2086
"$BIN" init --config yes.json --out y.safetensors $TINY >out.txt 2>err.txt; rc=$?
check "\"inject\": \"yes\" is refused" '[ $rc -eq 1 ] && grep -q "yes.json: inject" err.txt && [ ! -e y.safetensors ]'
# shellcheck disable=SC2086
"$BIN" init --out y.safetensors $TINY --inject yes >out.txt 2>err.txt; rc=$?
check "--inject yes is refused (true/false/1/0 only)" '[ $rc -eq 2 ] && grep -q "true, false, 1 or 0" err.txt'
echo '{"schedule": [0, 4294967297]}' >wrap.json
# shellcheck disable=SC2086
"$BIN" init --config wrap.json --out w.safetensors --n_layer 2 --n_embd 8 --n_head 1 --n_dims 3 --n_positions 6 >out.txt 2>err.txt; rc=$?
check "schedule [0, 4294967297] is refused (was: 0,1)" '[ $rc -eq 1 ] && grep -q "element 2 is 4294967297, outside 0..4095" err.txt'

# ---------------------------------------------------------------- configurations that cannot fit
"$BIN" train --out unfit1 --batch_size 1048576 --train_steps 1 --threads 1 >out.txt 2>err.txt; rc=$?
check "train --batch_size 1048576 (standard model) is refused up front" '[ $rc -eq 1 ] && grep -q "training needs .* TB of memory but .* is available" err.txt'
check "  and leaves no run directory" '[ ! -e unfit1 ]'
"$BIN" train --out unfit2 --loops 100000 --loss_loops 100000 --train_steps 1 --threads 1 >out.txt 2>err.txt; rc=$?
check "train --loops 100000 --loss_loops 100000 is refused, no directory" '[ $rc -eq 1 ] && grep -q "training needs" err.txt && [ ! -e unfit2 ]'
"$BIN" bench --batch_size 1048576 --steps 1 --warmup 0 >out.txt 2>err.txt; rc=$?
check "bench --batch_size 1048576 is refused" '[ $rc -eq 1 ] && grep -q "training needs" err.txt'
"$BIN" init --out wide.safetensors --n_positions 100000 --n_embd 8 --n_head 8 --n_layer 1 --n_dims 1 >/dev/null 2>&1
for c in eval loops probe surgery; do
    timeout 120 "$BIN" $c --model wide.safetensors --out unfit_$c --n_points 100000 --prompts 64 >out.txt 2>err.txt; rc=$?
    check "$c with 100000 points is refused up front (no output directory)" '[ $rc -eq 1 ] && grep -q "$c needs .* of memory but" err.txt && [ ! -e unfit_$c ]'
done
timeout 120 "$BIN" compare --models wide.safetensors --out unfit_cmp --n_points 100000 --prompts 64 >out.txt 2>err.txt; rc=$?
check "compare with 100000 points is refused" '[ $rc -eq 1 ] && grep -q "compare needs" err.txt && [ ! -e unfit_cmp ]'
"$BIN" make-prompts --out pw.safetensors --n_dims 1 --n_points 100000 --prompts 2 >/dev/null 2>&1
timeout 120 "$BIN" predict --model wide.safetensors --prompts pw.safetensors --out pw_pred.safetensors --batch_size 1 >out.txt 2>err.txt; rc=$?
check "predict of one 100000-point prompt (1.3 TB) is refused" '[ $rc -eq 1 ] && grep -q "predict needs .* TB" err.txt && [ ! -e pw_pred.safetensors ]'

# ---------------------------------------------------------------- nothing silently skipped
"$BIN" eval --model m.safetensors --out evs --prompts 8 --settings , >out.txt 2>err.txt; rc=$?
check "eval --settings with no setting is a usage error (was: an empty results.json, exit 0)" '[ $rc -eq 2 ] && [ ! -e evs/results.json ]'
many=$(printf 'scale_x:%s,' $(seq 1 65))
"$BIN" eval --model m.safetensors --out evs --prompts 8 --settings "${many%,}" >out.txt 2>err.txt; rc=$?
check "eval with 65 settings is refused (was: the 65th dropped)" '[ $rc -eq 2 ] && grep -q "1..64" err.txt'

finish
