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
maxdiff() {
    python3 - "$1" "$2" <<'PY'
import json, struct, sys
def load(p):
    b = open(p, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    t = h["pred"]
    s, e = t["data_offsets"]
    return struct.unpack("<%df" % ((e - s) // 4), b[8 + n + s:8 + n + e])
a, b = load(sys.argv[1]), load(sys.argv[2])
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
check "a Yang et al. looped config is refused, saying why" "[ $RC -eq 1 ] && grep -q 'Yang et al' err.txt"
run import --out g2.safetensors --n_head 2
check "no checkpoint given: usage error" "[ $RC -eq 2 ]"

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
printf 'not a zip' >junk.pt
run import junk.pt --out x.safetensors --n_head 2
check "not a zip: one line, exit 1" "[ $RC -eq 1 ] && grep -q 'no zip signature' err.txt && [ ! -e x.safetensors ]"

finish
