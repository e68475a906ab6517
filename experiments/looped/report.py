#!/usr/bin/env python3
"""Summary table of experiments/looped/run.sh: per architecture (mean ± sd over
seeds) the final training loss, the in-context error at k = 2, d, 2d, the
error after 40 loops and wall time. Standard library only."""
import csv
import json
import math
import os
import sys

root = sys.argv[1] if len(sys.argv) > 1 else "runs/looped"
archs = ["plain6", "looped3x2", "looped3x2_noinject", "looped6x2", "yang1xb"]


def ms(v):
    v = [x for x in v if x is not None and math.isfinite(x)]
    if not v:
        return "n/a"
    m = sum(v) / len(v)
    if len(v) == 1:
        return f"{m:.4g}"
    sd = math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1))
    return f"{m:.4g} ± {sd:.2g}"


print(f"| architecture | seeds | params | final train loss (mean of last 10 logs) | err k=2 | err k=5 (=d) | err k=10 (=2d) | err at 40 loops, all k | wall s |")
print("|---|---|---|---|---|---|---|---|---|")
for a in archs:
    d = os.path.join(root, a)
    if not os.path.isdir(d):
        continue
    loss, e2, e5, e10, l40, wall, seeds, params = [], [], [], [], [], [], 0, "?"
    for s in sorted(os.listdir(d)):
        run = os.path.join(d, s)
        if not os.path.isdir(run):
            continue
        try:
            rows = list(csv.DictReader(open(os.path.join(run, "metrics.csv"))))
            res = json.load(open(os.path.join(run, "eval", "results.json")))
            lp = json.load(open(os.path.join(run, "loops", "loops.json")))
        except (OSError, ValueError):
            continue
        seeds += 1
        c = json.load(open(os.path.join(run, "config.json")))
        e, dd, L = c["n_embd"], c["n_dims"], c["n_layer"]
        params = e * dd + e + 2 * c["n_positions"] * e + L * (12 * e * e + 13 * e) + 2 * e + e + 1
        loss.append(sum(float(r["loss"]) for r in rows[-10:]) / len(rows[-10:]))
        wall.append(float(rows[-1]["wall_s"]))
        t = res["settings"]["standard"]["transformer"]["mean"]
        e2.append(t[2]); e5.append(t[5]); e10.append(t[10])
        l40.append(lp["loops"][-1]["err"])
    if seeds:
        print(f"| {a} | {seeds} | {params} | {ms(loss)} | {ms(e2)} | {ms(e5)} | {ms(e10)} | {ms(l40)} | {ms(wall)} |")

# comparison plots (seed 1 of every architecture) with `iclab plot`
import subprocess

iclab = os.environ.get("ICLAB_BIN", "build/iclab")
plots = os.path.join(root, "plots")
os.makedirs(plots, exist_ok=True)
present = [a for a in archs if os.path.isfile(os.path.join(root, a, "seed1", "metrics.csv"))]


def plot(name, title, rel, xcol, ycol, ylabel, logy=True):
    series = ";".join(f"{a}={os.path.join(root, a, 'seed1', rel)}:{xcol}:{ycol}" for a in present
                      if os.path.isfile(os.path.join(root, a, "seed1", rel)))
    if not series:
        return
    cmd = [iclab, "plot", "--out", os.path.join(plots, name), "--title", title, "--ylabel", ylabel, "--series", series]
    if logy:
        cmd.append("--logy")
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


plot("train_loss.svg", "Training loss (seed 1)", "metrics.csv", "step", "loss", "MSE")
plot("icl_error.svg", "In-context error (seed 1, 1280 prompts)", "eval/standard.csv", "k", "transformer", "squared error / d")
plot("loop_sweep.svg", "Error vs loops run at inference (seed 1)", "loops/loops.csv", "loop", "err_all_positions", "squared error / d")
plot("fixed_point.svg", "|Y(t+1) - Y(t)| / |Y(t)| per loop (seed 1)", "loops/loops.csv", "loop", "fixed_point", "relative change")
print(f"\nplots: {plots}/train_loss.svg, icl_error.svg, loop_sweep.svg, fixed_point.svg")
