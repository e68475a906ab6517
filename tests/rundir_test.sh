#!/usr/bin/env bash
# rundir_test.sh: fault injection on training run directories (issue 20).
# A process killed at every rename and every fsync of a short run (strace's
# syscall injection) leaves a directory that resumes to a model
# byte-identical to an uninterrupted run's; two processes on one directory
# (the second gets the lock message); a full disk under metrics.csv; a
# corrupted state, a hand-edited config.json, a state step out of range; the
# misleading-message reproductions. Last line: "N passed, M failed"; exit
# status non-zero if any failed.
set -u
. "$(dirname "$0")/lib.sh"

TINY=(--n_layer 2 --n_embd 32 --n_head 2 --n_dims 5 --n_points 11 --n_positions 11 --batch_size 16 --threads 1)
SHORT=(--train_steps 6 --save_every 2 --log_every 1)

# the uninterrupted reference
"$BIN" train --out ref "${TINY[@]}" "${SHORT[@]}" >out.txt 2>err.txt; rc=$?
check "reference run exits 0" '[ $rc -eq 0 ] && [ -s ref/model.safetensors ]'
check "the lock file is gone after a run" '[ ! -e ref/iclab.lock ]'

# same model, same losses as ref; no temporary file left; steps 1..N in order, 10 fields each
same_as_ref() { cmp -s ref/model.safetensors "$1/model.safetensors" &&
    diff <(cut -d, -f1-5 ref/metrics.csv) <(cut -d, -f1-5 "$1/metrics.csv") >/dev/null; }
no_temps() { ! ls -A "$1" | grep -q '\.tmp'; }
metrics_ok() { awk -F, 'NR > 1 && (NF != 10 || $1 != NR - 1) { bad = 1 } END { exit bad }' "$1/metrics.csv"; }

# kill_at SYSCALL N ARGS...: runs iclab ARGS, SIGKILLed on entering its Nth SYSCALL;
# succeeds if it was killed (strace ends itself with its tracee's signal: 137)
kill_at() {
    local sc=$1 n=$2
    shift 2
    (strace -f -qq -o /dev/null -e trace="$sc" -e inject="$sc":signal=SIGKILL:when="$n" "$BIN" "$@" >/dev/null 2>&1
     [ $? -eq 137 ]) 2>/dev/null
}

# after a kill: resume (or, killed before config.json, start again); must reproduce ref
recover_and_compare() {
    local d=$1 what=$2 rc
    if [ -e "$d/config.json" ]; then
        "$BIN" train --resume "$d" >out.txt 2>err.txt; rc=$?
    else
        # nothing committed: no run to resume, and --out may start it afresh
        "$BIN" train --resume "$d" >out.txt 2>err.txt
        grep -q "holds no run to resume" err.txt || { bad "$what: resume of an uncommitted start explains itself"; cat err.txt; }
        "$BIN" train --out "$d" "${TINY[@]}" "${SHORT[@]}" >out.txt 2>err.txt; rc=$?
    fi
    if [ $rc -ne 0 ]; then bad "$what: recovery exits 0 (rc $rc: $(tail -1 err.txt))"; return; fi
    if same_as_ref "$d" && no_temps "$d" && metrics_ok "$d"; then ok; else bad "$what: recovered run equals the uninterrupted one"; fi
}

if ! command -v strace >/dev/null 2>&1 || ! strace -f -qq -o /dev/null true 2>/dev/null; then
    echo "SKIP: strace is missing or cannot trace here (scripts/install-deps.sh installs it): no kill-at-syscall tests"
else
    # reproduction 1: killed right after the step-0 checkpoint (the 4th rename) of a 50-step run
    kill_at rename 4 train --out r1 "${TINY[@]}" --train_steps 50; rc=$?
    check "repro 1: killed at the 4th rename, leaving a config.json" '[ $rc -eq 0 ] && [ -s r1/config.json ]'
    "$BIN" train --resume r1 >out.txt 2>err.txt; rc=$?
    check "repro 1: --resume succeeds" '[ $rc -eq 0 ]'
    check "repro 1: the killed writer's temp file is removed" 'grep -q "removed 1 temporary file" err.txt && no_temps r1'
    "$BIN" train --out r1ref "${TINY[@]}" --train_steps 50 >/dev/null 2>&1
    check "repro 1: resumed model is byte-identical" 'cmp -s r1/model.safetensors r1ref/model.safetensors'

    # a kill at every rename of a new run
    n_ren=$(strace -f -qq -o /dev/stdout -e trace=rename "$BIN" train --out count "${TINY[@]}" "${SHORT[@]}" 2>/dev/null | grep -c 'rename(')
    check "the short run renames 17 times (config, metrics, 3 checkpoints of 3 files + report.html, step 0 + report.html)" '[ "$n_ren" -eq 17 ]'
    killed=0
    for n in $(seq 1 "$n_ren"); do
        kill_at rename "$n" train --out k$n "${TINY[@]}" "${SHORT[@]}" && killed=$((killed + 1))
        recover_and_compare k$n "kill at rename $n"
    done
    check "every rename kill interrupted the run" '[ $killed -eq $n_ren ]'

    # a kill at every rename of a resume (interrupted at step 3, between checkpoints)
    ICLAB_STOP_AFTER=3 "$BIN" train --out base "${TINY[@]}" "${SHORT[@]}" >/dev/null 2>&1
    n_ren=$(cp -r base count2 && strace -f -qq -o /dev/stdout -e trace=rename "$BIN" train --resume count2 2>/dev/null | grep -c 'rename(')
    check "resuming at step 3 renames 8 times (2 checkpoints of 4 files)" '[ "$n_ren" -eq 8 ]'
    killed=0
    for n in $(seq 1 "$n_ren"); do
        rm -rf rk$n && cp -r base rk$n
        kill_at rename "$n" train --resume rk$n && killed=$((killed + 1))
        recover_and_compare rk$n "kill at rename $n of a resume"
    done
    check "every rename kill interrupted the resume" '[ $killed -eq $n_ren ]'

    # a kill at every fsync of a new 2-step run: each file before its rename, its directory
    # after, metrics.csv before the final checkpoint
    RUN2=(--train_steps 2 --save_every 2 --log_every 1)
    "$BIN" train --out ref2 "${TINY[@]}" "${RUN2[@]}" >/dev/null 2>&1
    n_sync=$(strace -f -qq -o /dev/stdout -e trace=fsync "$BIN" train --out count3 "${TINY[@]}" "${RUN2[@]}" 2>/dev/null | grep -c 'fsync(')
    check "the 2-step run fsyncs 19 times (9 files and their directory, metrics once)" '[ "$n_sync" -eq 19 ]'
    fails=0
    for n in $(seq 1 "$n_sync"); do
        kill_at fsync "$n" train --out f$n "${TINY[@]}" "${RUN2[@]}" || fails=$((fails + 1))
        if [ -e f$n/config.json ]; then "$BIN" train --resume f$n >/dev/null 2>&1; rc=$?
        else "$BIN" train --out f$n "${TINY[@]}" "${RUN2[@]}" >/dev/null 2>&1; rc=$?; fi
        [ $rc -eq 0 ] && cmp -s ref2/model.safetensors f$n/model.safetensors && no_temps f$n && metrics_ok f$n ||
            { fails=$((fails + 1)); echo "kill at fsync $n: recovery rc $rc or a different model"; }
    done
    check "a kill at any of $n_sync fsyncs recovers to the identical model" '[ $fails -eq 0 ]'
fi

# two processes on one directory: the second is refused by name, the first is unharmed
"$BIN" train --out two "${TINY[@]}" --train_steps 1000000 --save_every 1000000 --log_every 1 >/dev/null 2>two_err.txt &
pid=$!
for _ in $(seq 1 200); do [ -s two/metrics.csv ] && [ "$(wc -l <two/metrics.csv)" -gt 3 ] && break; sleep 0.05; done
"$BIN" train --out two "${TINY[@]}" --train_steps 50 >out.txt 2>err.txt; rc=$?
check "a second --out on a busy directory fails" '[ $rc -eq 1 ]'
check "... naming the holder" 'grep -q "two is locked by pid $pid on host $(hostname)" err.txt'
"$BIN" train --resume two --train_steps 200 >out.txt 2>err.txt; rc=$?
check "a --resume of a busy directory fails with the lock message" '[ $rc -eq 1 ] && grep -q "locked by pid $pid" err.txt'
mkdir -p dtwo/plain6 && ln -s ../../two dtwo/plain6/seed1 # the demo's first run directory is the busy one
"$BIN" demo --out dtwo --seeds 1 --train_steps 6 --prompts 20 >out.txt 2>err.txt; rc=$?
check "a demo on a busy directory fails with the lock message" '[ $rc -eq 1 ] && grep -q "locked by pid $pid" err.txt'
kill -INT $pid
wait $pid; rc=$?
check "the first run stops cleanly (130)" '[ $rc -eq 130 ]'
check "its metrics are whole and in order" 'metrics_ok two'
steps=$(($(wc -l <two/metrics.csv) - 1))
"$BIN" train --resume two --train_steps $((steps + 3)) >out.txt 2>err.txt; rc=$?
check "... and it resumes and finishes" '[ $rc -eq 0 ] && metrics_ok two && [ $(wc -l <two/metrics.csv) -eq $((steps + 4)) ]'
# a stale lock file (its holder died) does not block; a live flock(1) holder does
printf 'pid 999999\nhost %s\n' "$(hostname)" >two/iclab.lock
"$BIN" train --resume two --train_steps $((steps + 4)) >out.txt 2>err.txt; rc=$?
check "a stale lock file does not block" '[ $rc -eq 0 ]'
if command -v flock >/dev/null 2>&1; then
    flock two/iclab.lock sleep 3 &
    fpid=$!
    sleep 0.3
    "$BIN" train --resume two --train_steps $((steps + 5)) >out.txt 2>err.txt; rc=$?
    check "a directory locked by another process is refused" '[ $rc -eq 1 ] && grep -q "is locked by another process" err.txt'
    kill $fpid 2>/dev/null
    wait $fpid 2>/dev/null
fi

# a full disk under metrics.csv (file-size limit; SIGXFSZ ignored so writes fail with EFBIG)
SMALL=(--n_layer 1 --n_embd 8 --n_head 1 --n_dims 5 --n_points 11 --n_positions 11 --batch_size 4 --threads 1
       --log_every 1 --save_every 100 --train_steps 400)
"$BIN" train --out fullref "${SMALL[@]}" >/dev/null 2>&1
(trap '' XFSZ; ulimit -f 16; "$BIN" train --out full "${SMALL[@]}" 2>&1 >/dev/null | tail -1 >err.txt; exit "${PIPESTATUS[0]}"); rc=$?
check "a failed metrics write stops the run (exit 1)" '[ $rc -eq 1 ]'
check "... saying what failed and what is kept" 'grep -q "metrics.csv: cannot write" err.txt && grep -q "last good checkpoint (step 200) is kept" err.txt'
"$BIN" train --resume full >out.txt 2>err.txt; rc=$?
check "after the disk is freed it resumes" '[ $rc -eq 0 ]'
check "... dropping the half-written row" 'grep -q "dropped 1 malformed" err.txt'
check "... to the identical model and whole, ordered metrics" 'cmp -s fullref/model.safetensors full/model.safetensors && metrics_ok full && [ $(wc -l <full/metrics.csv) -eq 401 ]'
# a start that cannot write anything leaves no directory
(trap '' XFSZ; ulimit -f 0; "$BIN" train --out nospace "${SMALL[@]}" >/dev/null 2>err.txt); rc=$?
check "a start that cannot write fails and leaves nothing" '[ $rc -eq 1 ] && [ ! -e nospace ]'

# corrupted state and edited config: refused by name, nothing changed
cp -r ref c1
size=$(stat -c %s c1/state.safetensors)
flip_byte() { local b; b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' '); printf "$(printf '\\%03o' $((b ^ 1)))" |
    dd of="$1" bs=1 seek="$2" conv=notrunc status=none; }
flip_byte c1/state.safetensors $((size - 100)) # inside adam_v, the last tensor
"$BIN" train --resume c1 --train_steps 8 >out.txt 2>err.txt; rc=$?
check "a bit flip in the state is refused, naming the tensor" '[ $rc -eq 1 ] && grep -q "tensor .adam_v. fails its checksum" err.txt'
cp ref/model.safetensors m.safetensors
flip_byte m.safetensors 20000
"$BIN" loops --model m.safetensors --out lp --max_loops 2 --prompts 10 >out.txt 2>err.txt; rc=$?
check "a bit flip in a model is refused when it is loaded (iclab loops)" '[ $rc -ne 0 ] && grep -q "fails its checksum" err.txt'
cp -r ref c2
sed -i 's/"learning_rate": 0.0001/"learning_rate": 0.01/' c2/config.json
"$BIN" train --resume c2 --train_steps 8 >out.txt 2>err.txt; rc=$?
check "a hand-edited config.json is refused, naming the key and both values" \
    '[ $rc -eq 1 ] && grep -q "learning_rate is 0.01 in the run config but 0.0001 in the state" err.txt'
cp -r ref c3
LC_ALL=C sed -i 's/\\"step\\":6,\\"adam_step\\":6,/\\"step\\":9,\\"adam_step\\":9,/' c3/state.safetensors
"$BIN" train --resume c3 --train_steps 20 >out.txt 2>err.txt; rc=$?
check "a state step past its run is refused" '[ $rc -eq 1 ] && grep -q "step 9 is outside the run.s 0..6" err.txt'
cp -r ref c4
LC_ALL=C sed -i 's/\\"adam_step\\":6,/\\"adam_step\\":5,/' c4/state.safetensors
"$BIN" train --resume c4 >out.txt 2>err.txt; rc=$?
check "adam_step != step is refused" '[ $rc -eq 1 ] && grep -q "adam_step 5 differs from step 6" err.txt'
cp -r ref c5
LC_ALL=C sed -i 's/iclab-train-state-2/iclab-train-state-7/' c5/state.safetensors
"$BIN" train --resume c5 >out.txt 2>err.txt; rc=$?
check "an unknown state format is refused" '[ $rc -eq 1 ] && grep -q "unknown training-state format" err.txt'
check "refusals change nothing" 'cmp -s ref/model.safetensors c2/model.safetensors && cmp -s ref/metrics.csv c3/metrics.csv'

# misleading-message reproductions
mkdir emptydir
"$BIN" train --resume emptydir >out.txt 2>err.txt; rc=$?
check "--resume on an empty directory says it holds no run" '[ $rc -eq 1 ] && grep -q "holds no run to resume" err.txt && grep -q -- "--out emptydir" err.txt'
cp -r ref ref_before
"$BIN" train --resume ref >out.txt 2>err.txt; rc=$?
check "--resume of a finished run says it is complete" '[ $rc -eq 0 ] && grep -q "already complete at step 6 of 6" out.txt && ! grep -q "final loss 0," out.txt'
check "... and leaves it as it was" 'diff -r ref ref_before >/dev/null'
"$BIN" train --resume ref --train_steps 3 >out.txt 2>err.txt; rc=$?
check "--resume --train_steps below the run's step fails" '[ $rc -eq 1 ] && grep -q "at step 6, past train_steps 3" err.txt'
cp -r ref nostate && rm nostate/state.safetensors
"$BIN" train --out nostate "${TINY[@]}" "${SHORT[@]}" >out.txt 2>err.txt; rc=$?
check "--out refuses a finished run whose state was deleted" '[ $rc -eq 1 ] && grep -q "already holds a run" err.txt && cmp -s ref/model.safetensors nostate/model.safetensors'
"$BIN" train --resume nostate >out.txt 2>err.txt; rc=$?
check "... and --resume cannot restart it from scratch" '[ $rc -eq 1 ] && grep -q "no state.safetensors but holds a trained model" err.txt'
mkdir onlycsv && echo "step,loss" >onlycsv/metrics.csv
"$BIN" train --out onlycsv "${TINY[@]}" "${SHORT[@]}" >out.txt 2>err.txt; rc=$?
check "--out refuses a directory with any run file" '[ $rc -eq 1 ] && grep -q "already holds a run (metrics.csv)" err.txt'

# demo: a second demo in the same directory may not change the run
"$BIN" demo --out dm --seeds 1 --train_steps 6 --warmup_steps 2 --prompts 20 --threads 1 >out.txt 2>err.txt; rc=$?
check "demo exits 0" '[ $rc -eq 0 ]'
"$BIN" demo --out dm --seeds 1 --train_steps 6 --warmup_steps 2 --prompts 20 --threads 1 --learning_rate 0.01 >out.txt 2>err.txt; rc=$?
check "demo refuses to resume with another learning rate" '[ $rc -eq 1 ] && grep -q "learning_rate is 0.01 here but 0.001" err.txt'
"$BIN" demo --out dm --seeds 1 --train_steps 6 --warmup_steps 2 --prompts 20 --threads 1 --batch_size 8 >out.txt 2>err.txt; rc=$?
check "demo refuses to resume with another batch size" '[ $rc -eq 1 ] && grep -q "batch_size is 8 here but 64" err.txt'
"$BIN" demo --out dm --seeds 1 --train_steps 6 --warmup_steps 2 --prompts 20 --threads 1 >out.txt 2>err.txt; rc=$?
check "a finished demo is only re-evaluated" '[ $rc -eq 0 ] && grep -q "already trained: 6 steps" out.txt'

finish
