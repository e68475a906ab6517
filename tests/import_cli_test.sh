#!/usr/bin/env bash
# import_cli_test.sh: end-to-end tests of `iclab import` on the committed
# fixtures of tests/data/torch (tests/data/torch/make_fixtures.py; torch is not
# needed here). Good checkpoints import and predict what the torch model
# predicted (golden files, ~1e-5); every refused archive fails with exit 1 and
# one stderr line naming the global or entry, writes no output, and its
# payload (which would create iclab_pwned_* in the working directory) never
# ran. Needs bash and python3 (standard library only).
set -u

. "$(dirname "$0")/lib.sh"
FIX=$OLDPWD/tests/data/torch
case $FIX in /*) ;; *) FIX=$PWD/$FIX ;; esac

run() {
    "$BIN" "$@" >out.txt 2>err.txt
    RC=$?
}

# max |a - b| / (1 + max|b|) of tensor "pred" in two safetensors files
# (of tensor $3 in the second, when given)
maxdiff() {
    python3 - "$1" "$2" "${3:-pred}" <<'PY'
import json, struct, sys
def load(p, name="pred"):
    b = open(p, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    t = h[name]
    s, e = t["data_offsets"]
    return struct.unpack("<%df" % ((e - s) // 4), b[8 + n + s:8 + n + e])
a, b = load(sys.argv[1]), load(sys.argv[2], sys.argv[3])
assert len(a) == len(b), (len(a), len(b))
print("%.3g" % (max(abs(x - y) for x, y in zip(a, b)) / (1 + max(abs(y) for y in b))))
PY
}

# import + predict + compare with the torch golden predictions
for f in bare_f32 f16 bf16 f64 strided shared; do
    rm -f m.safetensors pred.safetensors
    run import "$FIX/$f.pt" --out m.safetensors --n_head 2
    check "import $f: exit 0" "[ $RC -eq 0 ]"
    check "import $f: summary" "grep -q 'n_embd=8 n_layer=2 n_head=2' out.txt"
    "$BIN" predict --model m.safetensors --prompts "$FIX/prompts.safetensors" --out pred.safetensors >/dev/null 2>err2.txt
    d=$(maxdiff pred.safetensors "$FIX/$f.golden.safetensors" 2>&1)
    check "import $f: predictions match torch within 1e-5 (got $d)" "python3 -c 'import sys; sys.exit(0 if float(\"$d\") < 1e-5 else 1)' 2>/dev/null"
done
run import "$FIX/bare_f32.pt" --out m.safetensors --n_head 2
check "bare: dropped GPT-2 buffers noticed" "grep -q \"dropped 5 unused GPT-2 tensors\" err.txt"
run import "$FIX/f16.pt" --out m.safetensors --n_head 2
check "f16: source dtype reported" "grep -q 'dtypes=F16' out.txt"

# a tampered golden check must fail: the comparison can see a difference
python3 - "$FIX/bare_f32.golden.safetensors" other.safetensors <<'PY'
import sys
b = bytearray(open(sys.argv[1], "rb").read()); b[-1] ^= 0x40; open(sys.argv[2], "wb").write(b)
PY
"$BIN" import "$FIX/bare_f32.pt" --out m.safetensors --n_head 2 >/dev/null 2>&1
"$BIN" predict --model m.safetensors --prompts "$FIX/prompts.safetensors" --out pred.safetensors >/dev/null 2>&1
d=$(maxdiff pred.safetensors other.safetensors)
check "the golden comparison sees a changed prediction (got $d)" "python3 -c 'import sys; sys.exit(0 if float(\"$d\") > 1e-3 else 1)'"

# Garg et al.'s run directory: n_head and the task from config.yaml next to state.pt
mkdir -p run && cp "$FIX/garg_run/state.pt" "$FIX/garg_run/config.yaml" run/
run import run/state.pt --out g.safetensors
check "garg run dir: exit 0 without --n_head" "[ $RC -eq 0 ]"
check "garg run dir: train_step, layout and task reported" \
    "grep -q 'layout=garg_training_state' out.txt && grep -q 'train_step=1234' out.txt && grep -q 'task=sparse_linear_regression' out.txt"
check "garg run dir: metadata records train_step and the task" \
    "grep -aEq 'train_step.{0,3}:1234' g.safetensors && grep -aq 'sparse_linear_regression' g.safetensors"
"$BIN" predict --model g.safetensors --prompts "$FIX/prompts.safetensors" --out pred.safetensors >/dev/null 2>&1
d=$(maxdiff pred.safetensors "$FIX/garg_run/state.golden.safetensors" 2>&1)
check "garg run dir: predictions match torch (got $d)" "python3 -c 'import sys; sys.exit(0 if float(\"$d\") < 1e-5 else 1)' 2>/dev/null"
run eval --model g.safetensors --out ev --prompts 8 --n_points 3
check "garg run dir: eval uses the imported model (exit 0)" "[ $RC -eq 0 ]"
run import run/state.pt --out g2.safetensors --n_head 4
check "--n_head disagreeing with config.yaml is refused" "[ $RC -eq 1 ] && grep -q 'disagrees' err.txt && [ ! -e g2.safetensors ]"
run import "$FIX/bare_f32.pt" --out g2.safetensors
check "no n_head anywhere: asks for --n_head" "[ $RC -eq 1 ] && grep -q -- '--n_head' err.txt && [ ! -e g2.safetensors ]"
sed 's/n_embd: 8/n_embd: 16/' run/config.yaml >bad.yaml
run import run/state.pt --out g2.safetensors --config bad.yaml
check "config.yaml disagreeing with the tensors is refused" "[ $RC -eq 1 ] && grep -q 'n_embd 16' err.txt && [ ! -e g2.safetensors ]"
sed 's/family: gpt2/family: gpt2_loop/' run/config.yaml >loop.yaml
run import run/state.pt --out g2.safetensors --config loop.yaml
check "a gpt2_loop config over Garg's GPT-2 tensors is refused, saying why" \
    "[ $RC -eq 1 ] && grep -q 'not Yang et al.*nanoGPT' err.txt && [ ! -e g2.safetensors ]"
run import --out g2.safetensors --n_head 2
check "no checkpoint given: usage error" "[ $RC -eq 2 ]"
run import run/state.pt --out g2.safetensors --loops 3
check "--loops on a Garg et al. checkpoint is refused" "[ $RC -eq 1 ] && grep -q -- '--loops is for' err.txt && [ ! -e g2.safetensors ]"

# Yang et al.'s looped model (yang_run: their train.py's state.pt and model_<step>.pt,
# their config.yaml; golden = Yang's forward in torch, loop by loop)
Y=$FIX/yang_run
lt() { python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) < 1e-5 else 1)' "$1" 2>/dev/null; }
mkdir -p yrun && cp "$Y/state.pt" "$Y/config.yaml" yrun/
run import yrun/state.pt --out y.safetensors
check "yang run dir: imports without flags (exit 0)" "[ $RC -eq 0 ]"
check "yang run dir: loops and loss window from config.yaml" \
    "grep -q 'n_embd=16 n_layer=1 n_head=2' out.txt && grep -q 'n_positions=6' out.txt && grep -q 'loops=5 loss_loops=3' out.txt"
check "yang run dir: layout, train_step and task_name reported" \
    "grep -q 'layout=yang_training_state' out.txt && grep -q 'train_step=700' out.txt && grep -q 'task=linear_regression' out.txt"
check "yang run dir: the causal-mask buffer is dropped with a notice" "grep -q 'dropped 1 unused GPT-2 tensor' err.txt"
sched=$(python3 - y.safetensors <<'PY'
import json, struct, sys
b = open(sys.argv[1], "rb").read()
s = json.loads(json.loads(b[8:8 + struct.unpack("<Q", b[:8])[0]])["__metadata__"]["iclab_schedule"])
print(s["steps"], s["loops"], s["loss_loops"], s["grad_loops"], s["inject"], s["loop_lnf"])
PY
)
check "yang run dir: the schedule records loops 5, loss_loops 3, inject and loop_lnf (got $sched)" \
    "[ \"$sched\" = '[0] 5 3 0 True True' ]"
"$BIN" predict --model y.safetensors --prompts "$Y/prompts.safetensors" --out pred.safetensors >out2.txt 2>err2.txt
check "yang: predict runs the recorded 5 loops" "grep -q 'loops=5' out2.txt"
d=$(maxdiff pred.safetensors "$Y/golden.safetensors" 2>&1)
check "yang: last-loop predictions match torch within 1e-5 (got $d)" "lt '$d'"
for t in 1 2 3 4 5; do
    "$BIN" predict --model y.safetensors --prompts "$Y/prompts.safetensors" --out pred.safetensors --loops $t >/dev/null 2>&1
    d=$(maxdiff pred.safetensors "$Y/golden.safetensors" pred_loop$t 2>&1)
    check "yang: loop $t predictions match torch (got $d)" "lt '$d'"
done
d=$(maxdiff pred.safetensors "$Y/golden.safetensors" pred_loop2 2>&1)
check "yang: loop 5 is not loop 2 (the comparison can fail; got $d)" "! lt '$d'"
run loops --model y.safetensors --out yl --max_loops 12 --prompts 16
check "yang: iclab loops runs on the import (trained loops 5)" "[ $RC -eq 0 ] && grep -q 'trained loops 5' out.txt && [ -s yl/loops.csv ]"
run eval --model y.safetensors --out yev --prompts 8
check "yang: iclab eval runs on the import" "[ $RC -eq 0 ]"
mkdir -p ymodel && cp "$Y/model_700.pt" ymodel/
run import ymodel/model_700.pt --out y2.safetensors --config "$Y/config.yaml"
check "yang {'model': sd} with --config: exit 0, layout dict_with_model" "[ $RC -eq 0 ] && grep -q 'layout=dict_with_model' out.txt"
"$BIN" predict --model y2.safetensors --prompts "$Y/prompts.safetensors" --out pred.safetensors >/dev/null 2>&1
d=$(maxdiff pred.safetensors "$Y/golden.safetensors" 2>&1)
check "yang model_700.pt: predictions match torch (got $d)" "lt '$d'"
run import ymodel/model_700.pt --out y3.safetensors --n_head 2
check "yang without a config or --loops: refused, asking for --loops" \
    "[ $RC -eq 1 ] && grep -q -- '--loops N' err.txt && [ ! -e y3.safetensors ]"
run import ymodel/model_700.pt --out y3.safetensors --loops 3 --n_head 2
check "yang with --loops 3 and no config: loops=3" "[ $RC -eq 0 ] && grep -q 'loops=3' out.txt"
"$BIN" predict --model y3.safetensors --prompts "$Y/prompts.safetensors" --out pred.safetensors >/dev/null 2>&1
d=$(maxdiff pred.safetensors "$Y/golden.safetensors" pred_loop3 2>&1)
check "yang --loops 3: predictions are torch's third loop (got $d)" "lt '$d'"
python3 - "$Y/config.yaml" noloops.yaml <<'PY'
import sys
lines = open(sys.argv[1]).read().split("\n")
i = lines.index("    loops:")
open(sys.argv[2], "w").write("\n".join(lines[:i] + lines[i + 5:]))
PY
rm -f y4.safetensors
run import ymodel/model_700.pt --out y4.safetensors --config noloops.yaml
check "yang config without loops.end: refused, asking for --loops" \
    "[ $RC -eq 1 ] && grep -q 'loops.end: pass --loops N' err.txt && [ ! -e y4.safetensors ]"
sed 's/loop_func: z=f(x+z)/loop_func: z=f(x*z)/' "$Y/config.yaml" >mul.yaml
run import ymodel/model_700.pt --out y4.safetensors --config mul.yaml
check "yang loop_func z=f(x*z): refused by name" "[ $RC -eq 1 ] && grep -q \"loop_func 'z=f(x\\*z)'\" err.txt && [ ! -e y4.safetensors ]"
sed 's/family: gpt2_loop/family: gpt2_tying/' "$Y/config.yaml" >tying.yaml
run import ymodel/model_700.pt --out y4.safetensors --config tying.yaml
check "yang gpt2_tying: refused, saying why" "[ $RC -eq 1 ] && grep -q 'gpt2_tying adds wpe' err.txt && [ ! -e y4.safetensors ]"

# refused archives: exit 1, one line naming what, no output, no payload run
refuse() { # NAME FILE REGEX
    rm -f x.safetensors
    run import "$FIX/$2" --out x.safetensors --n_head 2
    check "$1: exit 1" "[ $RC -eq 1 ]"
    check "$1: one line matching '$3'" "[ \$(wc -l <err.txt) -eq 1 ] && grep -Eq \"$3\" err.txt"
    check "$1: no output file" "[ ! -e x.safetensors ]"
    check "$1: payload did not run" "! ls iclab_pwned_* /tmp/iclab_pwned_* >/dev/null 2>&1"
}
refuse "os.system" evil_os_system.pt "refused global 'os system'.*|data.pkl byte 9: refused global 'os system'"
refuse "posix.system" evil_posix_system.pt "data.pkl byte 9: refused global 'posix system'"
refuse "builtins.eval" evil_builtins_eval.pt "data.pkl byte 9: refused global 'builtins eval'"
refuse "subprocess.Popen" evil_subprocess_popen.pt "data.pkl byte 9: refused global 'subprocess Popen'"
refuse "unknown global" evil_unknown_global.pt "data.pkl byte 9: refused global 'mymodule Thing'"
refuse "STACK_GLOBAL os.system" evil_stack_global.pt "data.pkl byte 21: refused global 'os system'"
refuse "REDUCE on a storage type" evil_reduce_storage.pt "data.pkl byte 25: REDUCE on torch FloatStorage refused"
refuse "storage key with a path" evil_storage_key.pt "storage key '\.\./\.\./x'"
refuse "path traversal entry" evil_traversal.pt "zip entry 38 'bare_f32/\.\./\.\./iclab_pwned_traversal'.*traversal"
refuse "absolute entry" evil_absolute.pt "'/tmp/iclab_pwned_abs'.*absolute"
refuse "duplicate entry" evil_duplicate.pt "already exists|appears twice"
refuse "size mismatch" evil_size_mismatch.pt "'bare_f32/data/0' has 92 bytes, but data.pkl byte [0-9]+ declares storage '0' as FloatStorage x 24 = 96"
refuse "bomb by ratio" evil_bomb_ratio.pt "'bare_f32/data/99'.*ratio over 200:1"
refuse "bomb by declared size" evil_bomb_declared.pt "'bare_f32/data/98': declares 4294967280 uncompressed bytes, over the per-entry limit"
refuse "legacy format" legacy.pt "legacy torch.save"
# --dtype: a torch.save checkpoint or an iclab model written with BF16 tensors; the
# same model as F32 rounded, metadata kept; bad values and options refused in one line
run import "$FIX/bare_f32.pt" --out i32.safetensors --n_head 2
run import "$FIX/bare_f32.pt" --out i16.safetensors --n_head 2 --dtype bf16
check "import --dtype bf16 of a .pt: exit 0, BF16 tensors" "[ $RC -eq 0 ] && grep -aq '\"dtype\":\"BF16\"' i16.safetensors && ! grep -aq '\"dtype\":\"F32\"' i16.safetensors"
run import i32.safetensors --out c16.safetensors --dtype bf16
check "import FILE.safetensors --dtype bf16 converts (one line naming the dtype)" "[ $RC -eq 0 ] && grep -q 'dtype=BF16 (from i32.safetensors)' out.txt && cmp -s c16.safetensors i16.safetensors"
run import c16.safetensors --out c32.safetensors --dtype fp32
check "BF16 -> F32 -> BF16 loses nothing more" "[ $RC -eq 0 ] && ! grep -aq BF16 c32.safetensors && $BIN import c32.safetensors --out c16b.safetensors --dtype bf16 >/dev/null && cmp -s c16b.safetensors c16.safetensors"
run import i32.safetensors --out x.safetensors --dtype f16
check "import --dtype f16: one line, exit 2" "[ $RC -eq 2 ] && [ \$(wc -l <err.txt) -eq 1 ] && grep -q \"expected fp32 or bf16, got 'f16'\" err.txt && [ ! -e x.safetensors ]"
run import i32.safetensors --out x.safetensors --dtype bf16 --loops 3
check "import FILE.safetensors --loops: refused" "[ $RC -eq 2 ] && grep -q 'apply to PyTorch checkpoints' err.txt && [ ! -e x.safetensors ]"
head -c 600 i32.safetensors >trunc.safetensors
run import trunc.safetensors --out x.safetensors --dtype bf16
check "import of a truncated model: one line, exit 1" "[ $RC -eq 1 ] && [ \$(wc -l <err.txt) -eq 1 ] && [ ! -e x.safetensors ]"

printf 'not a zip' >junk.pt
run import junk.pt --out x.safetensors --n_head 2
check "not a zip: one line, exit 1" "[ $RC -eq 1 ] && grep -q 'no zip signature' err.txt && [ ! -e x.safetensors ]"

finish
