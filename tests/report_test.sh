#!/usr/bin/env bash
# report_test.sh: `iclab report` on every kind of result directory (train,
# eval, surgery, probe, loops, compare, sweep, demo), checked twice:
#  - in the file: self-contained (no script, stylesheet, image or frame is
#    loaded; the only URL is the SVG namespace), every figure labelled for
#    screen readers and keyboards, text from files escaped, an SVG with a
#    script or an event handler never inlined;
#  - in a real browser (headless Chromium): a copy of each page with a
#    checker script appended (an error hook first, then a script that
#    measures every figure's SVG box, counts what it draws, looks for the
#    expected headings and for horizontal overflow at phone width, and
#    writes its verdict into the DOM) is loaded with --dump-dom, the verdict
#    read back, and Chromium's own log searched for console errors; a
#    screenshot of each page is taken. The checker is first shown to fail on
#    a page with a broken script and an empty figure. Without Chromium the
#    browser half is skipped with one line.
# ICLAB_REPORT_SHOTS=DIR keeps the screenshots (docs/report/ holds them).
# Last line: "N passed, M failed".
set -u
SRC=$(cd "$(dirname "$0")/.." && pwd)
. "$(dirname "$0")/lib.sh"

TINY=(--n_dims 3 --n_positions 7 --n_points 7 --n_embd 16 --n_head 2 --threads 1)

# ---- one directory of each kind ----
"$BIN" train --out train "${TINY[@]}" --n_layer 2 --train_steps 30 --warmup_steps 5 --log_every 5 --save_every 10 \
    --learning_rate 3e-3 >/dev/null 2>&1; rc=$?
check "train exits 0" '[ $rc -eq 0 ]'
check "train keeps report.html in its run directory" '[ -s train/report.html ] && grep -q "Step 30 of 30" train/report.html'
check "a finished run's page does not reload itself" '! grep -q "http-equiv=\"refresh\"" train/report.html'
# a run stopped half way: the page says so
"$BIN" train --out half "${TINY[@]}" --n_layer 2 --train_steps 1000000 --save_every 1000000 --log_every 1 >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 400); do [ -s half/report.html ] && grep -q "Step [1-9]" half/report.html && break; sleep 0.05; done
check "a running run's page shows its progress and reloads itself" \
    'grep -q "training is running" half/report.html && grep -q "http-equiv=\"refresh\"" half/report.html'
kill -INT $pid; wait $pid
check "after Ctrl-C the page says how to resume" 'grep -q "resume with iclab train --resume" half/report.html'

"$BIN" init --out m.safetensors "${TINY[@]}" --n_layer 4 --seed 3 >/dev/null 2>&1
"$BIN" init --out looped.safetensors "${TINY[@]}" --n_layer 2 --loops 2 --seed 4 >/dev/null 2>&1
"$BIN" eval --model m.safetensors --out eval --prompts 48 --bootstrap 30 --settings standard,scale_x:2 >/dev/null 2>&1
"$BIN" surgery --model m.safetensors --out surgery --prompts 32 --bootstrap 20 --shuffles 2 --max_loops 3 >/dev/null 2>&1
"$BIN" probe --model m.safetensors --out probe --what lens,probes --prompts 32 --train_prompts 48 >/dev/null 2>&1
"$BIN" loops --model looped.safetensors --out loops --max_loops 5 --prompts 32 >/dev/null 2>&1
"$BIN" compare --models m.safetensors,looped.safetensors --labels plain,looped --out compare --prompts 32 --bootstrap 20 \
    >/dev/null 2>&1
cp -r "$SRC/tests/data/report/sweep" sweep
"$BIN" train --out sweep/runs/lr0.001_L2 "${TINY[@]}" --n_layer 2 --train_steps 10 --log_every 5 >/dev/null 2>&1
"$BIN" demo --out demo --seeds 1,2 --train_steps 20 --warmup_steps 5 --prompts 40 --n_embd 16 --threads 1 >demo_out.txt 2>&1; rc=$?
check "demo exits 0" '[ $rc -eq 0 ]'

KINDS=(train eval surgery probe loops compare sweep demo)
for k in "${KINDS[@]}"; do
    if [ "$k" != train ] && [ "$k" != demo ]; then
        "$BIN" report "$k" >out.txt 2>err.txt; rc=$?
        check "report $k exits 0 and names the kind" '[ $rc -eq 0 ] && grep -q "($k page)" out.txt'
    fi
    p=$k/report.html
    check "$k: page written" "[ -s $p ]"
    check "$k: kind recorded" "grep -q '<meta name=\"iclab-kind\" content=\"$k\">' $p"
    check "$k: nothing loaded from elsewhere" "! grep -Eiq '<script|<link|<img|<iframe|<object|<embed| src=|@import|url\\([^#]' $p"
    check "$k: the only URL is the SVG namespace" "[ -z \"\$(grep -Eo 'https?://[^\"]*' $p | grep -v '^http://www.w3.org/2000/svg\$')\" ]"
    check "$k: responsive, printable, dark-mode aware" \
        "grep -q 'name=\"viewport\"' $p && grep -q '@media print' $p && grep -q 'prefers-color-scheme:dark' $p"
    nsvg=$(grep -o '<svg ' "$p" | wc -l)
    nlab=$(grep -o '<svg role="img" tabindex="0" aria-labelledby="fig[0-9]*-t"' "$p" | wc -l)
    check "$k: every figure labelled and focusable ($nlab of $nsvg)" '[ "$nsvg" -eq "$nlab" ]'
done
for k in eval surgery probe loops compare demo train; do
    check "$k: has figures" "grep -q '<figure' $k/report.html"
done
check "sweep: links each run's page" 'grep -q "href=\"./runs/lr0.001_L2/report.html\"" sweep/report.html'
check "sweep: a run dir outside the sweep gets no link" '! grep -q "href=\"./../outside" sweep/report.html'
check "sweep: names and errors from files are escaped" \
    'grep -q "&lt;script&gt;alert(&#39;name&#39;)" sweep/report.html && grep -q "&lt;b&gt;lower" sweep/report.html'
check "sweep: counts the runs by status" 'grep -q "3 runs: 1 done, 1 failed, 1 pending." sweep/report.html'
check "demo: links the pages of its parts" \
    'for s in plain6/seed1 looped3x2/seed2 select eval compare/seed1 compare/seed2 surgery; do grep -q "href=\"./$s/report.html\"" demo/report.html || exit 1; [ -s demo/$s/report.html ] || exit 1; done'
check "demo: prints its findings in plain words" \
    'grep -q "In-context learning" demo_out.txt && grep -q "Looping over the 2 seeds, k = 5" demo_out.txt && grep -q "Surgery on" demo_out.txt'
check "compare: states a conclusion with the paired interval" 'grep -q "looped&#39;s error is .* × plain&#39;s" compare/report.html'

# an SVG that could run code is linked, not inlined; its ids do not collide
cp -r surgery evil
printf '<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect width="9" height="9"/></svg>\n' >evil/a_onload.svg
printf '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>\n' >evil/b_script.svg
"$BIN" report evil >/dev/null 2>&1
check "an SVG with an event handler or a script is not inlined" \
    '! grep -qi "onload=\|<script" evil/report.html && [ "$(grep -c "Figure not inlined" evil/report.html)" -eq 2 ]'
check "figure ids are prefixed per figure" '! grep -q "id=\"plotarea\"" evil/report.html && grep -q "url(#f[0-9]*-plotarea)" evil/report.html'
"$BIN" report nowhere >out.txt 2>err.txt; rc=$?
check "a missing directory: one line, exit 1" '[ $rc -eq 1 ] && [ $(wc -l <err.txt) -eq 1 ] && grep -q "nowhere does not exist" err.txt'
mkdir empty
"$BIN" report empty >out.txt 2>err.txt; rc=$?
check "a directory without results: one line naming what was looked for" '[ $rc -eq 1 ] && grep -q "holds no iclab results" err.txt'
"$BIN" report >out.txt 2>err.txt; rc=$?
check "no directory: usage error" '[ $rc -eq 2 ]'

# ---- the browser ----
CHROME=$(command -v chromium || command -v chromium-browser || true)
CHROME_FLAGS=(--headless --disable-gpu --no-first-run --disable-extensions --hide-scrollbars
    --user-data-dir="$TMP/chrome-profile" --enable-logging=stderr --v=0)
# Chromium's sandbox cannot run as root: only then is it turned off
[ "$(id -u)" -eq 0 ] && CHROME_FLAGS+=(--no-sandbox)

# checked PAGE OUT EXPECT_FIGS HEADINGS...: a copy of PAGE with the checker
checked() {
    local page=$1 out=$2 figs=$3
    shift 3
    local heads=""
    for h in "$@"; do heads="$heads\"$h\","; done
    {
        sed 's|<head>|<head>\n<script>window.__errs=[];window.addEventListener("error",function(e){__errs.push(String(e.message))});(function(){var ce=console.error;console.error=function(){__errs.push("console.error: "+[].join.call(arguments," "));ce.apply(console,arguments)}})();</script>|' "$page" |
            sed 's|</body>||; s|</html>||'
        cat <<EOF
<script>
(function(){
  var v=[], figs=document.querySelectorAll("figure"), expectFigs=$figs;
  if (expectFigs && !figs.length) v.push("no figures");
  figs.forEach(function(f,i){
    var s=f.querySelector("svg");
    if(!s){v.push("figure "+i+" has no svg");return;}
    var r=s.getBoundingClientRect();
    if(!(r.width>50&&r.height>30)) v.push("figure "+i+" has an empty box "+Math.round(r.width)+"x"+Math.round(r.height));
    if(s.querySelectorAll("path,line,rect,circle,text,polyline").length<3) v.push("figure "+i+" draws nothing");
    if(s.getAttribute("role")!=="img"||s.tabIndex<0) v.push("figure "+i+" is not an img in the tab order");
    var t=s.querySelector("title"); if(!t||!t.textContent.trim()) v.push("figure "+i+" has no title");
  });
  var hs=[].map.call(document.querySelectorAll("h1,h2"),function(h){return h.textContent.trim()});
  [$heads].forEach(function(h){ if(!hs.some(function(x){return x.indexOf(h)===0})) v.push("missing heading "+h); });
  if (document.documentElement.scrollWidth>window.innerWidth+1) v.push("wider than the window: "+document.documentElement.scrollWidth+" > "+window.innerWidth);
  __errs.forEach(function(e){v.push("error: "+e)});
  var p=document.createElement("pre"); p.id="iclab-verdict";
  p.textContent="VERDICT "+(v.length?"FAIL":"OK")+" "+figs.length+" figures"+(v.length?": "+v.join("; "):"");
  document.body.appendChild(p);
})();
</script>
</body></html>
EOF
    } >"$out"
}
# verdict PAGE WIDTH SHOT: loads PAGE at WIDTH px (headless Chromium widens less than 500 to 500), saves a screenshot to SHOT and prints the
# checker's line, then any console error Chromium logged (one Chromium start per page: each
# costs seconds)
verdict() {
    timeout 120 "$CHROME" "${CHROME_FLAGS[@]}" --window-size="$2",900 --screenshot="$PWD/$3" --dump-dom \
        "file://$PWD/$1" >dom.txt 2>chrome_err.txt
    grep -o '<pre id="iclab-verdict">[^<]*' dom.txt | sed 's/^<pre id="iclab-verdict">//' | head -1
    grep -E 'CONSOLE|Uncaught' chrome_err.txt | head -3
}

if [ -z "$CHROME" ]; then
    echo "SKIP: the browser checks (Chromium is not installed: bash scripts/install-deps.sh installs it)"
else
    # the checker can fail: a broken script, an empty figure, a missing heading, a page wider than a
    # phone (this first page also tells whether Chromium starts at all)
    sed 's|</body>|<div style="width:2000px">wide</div><script>undefinedFunction();</script></body>|' compare/report.html |
        perl -0pe 's|<svg role="img".*?</svg>|<svg role="img" tabindex="0" aria-labelledby="x"><title>x</title></svg>|s' >compare/broken.html
    checked compare/broken.html compare/broken.check.html true "Comparison" "Conclusions" "No such heading"
    v=$(verdict compare/broken.check.html 390 broken.png)
    if [ -z "$v" ]; then
        echo "SKIP: the browser checks (Chromium does not start here: $(grep -m1 -i error chrome_err.txt))"
    else
        check "the checker fails a page with a script error ($v)" 'grep -q "FAIL" <<<"$v" && grep -q "undefinedFunction" <<<"$v"'
        check "... an empty figure" 'grep -q "figure 0 draws nothing" <<<"$v"'
        check "... a missing heading" 'grep -q "missing heading No such heading" <<<"$v"'
        check "... and a page wider than a phone" 'grep -q "wider than the window" <<<"$v"'
        check "Chromium's own log shows the console error too" 'grep -q "Uncaught ReferenceError" chrome_err.txt'
        declare -A H1=([train]="Training run" [eval]="Evaluation" [surgery]="Layer surgery" [probe]="Probes"
            [loops]="Loops" [compare]="Comparison" [sweep]="Sweep" [demo]="iclab demo")
        for k in "${KINDS[@]}"; do
            figs=true
            [ "$k" = sweep ] && figs=false
            extra=()
            [ "$k" = demo ] && extra=("Parts")
            checked "$k/report.html" "$k/report.check.html" $figs "${H1[$k]}" Conclusions Setup Results Figures "Data files" "${extra[@]}"
            v=$(verdict "$k/report.check.html" 390 "$k.png")
            check "$k: renders at phone width, every figure drawn, no error ($v)" 'grep -q "^VERDICT OK" <<<"$v" && [ $(wc -l <<<"$v") -eq 1 ]'
            check "$k: screenshot taken" "[ -s $k.png ]"
            # (the demo's screenshot in docs/ comes from a full iclab demo, not this short one)
            if [ -n "${ICLAB_REPORT_SHOTS:-}" ] && [ "$k" != demo ]; then
                timeout 120 "$CHROME" "${CHROME_FLAGS[@]}" --window-size=1100,1500 --screenshot="$ICLAB_REPORT_SHOTS/$k.png" \
                    "file://$PWD/$k/report.html" >/dev/null 2>&1
            fi
        done
    fi
fi

finish
