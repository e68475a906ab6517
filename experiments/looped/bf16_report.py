#!/usr/bin/env python3
"""bf16 against fp32 on the looped3x2 recipe (experiments/looped/plan_bf16.json;
docs/performance.md, "oneDNN and bf16"). Standard library only.

Prints a markdown table per precision over the seeds: steps, training loss
(mean of the last 1,000 steps), in-context error at k = d and k = 2d (mean
± sd; from each run's eval/results.json), wall time; then the bf16/fp32
ratio of the mean error at k = 2d. Writes OUT/loss_bf16_fp32.svg (every
run's training loss, with `iclab plot`).

usage: bf16_report.py [OUT] [SVG]   (OUT: the sweep directory, default
runs/looped-bf16; env ICLAB_BIN: the binary, default build/iclab)"""
import csv
import json
import math
import os
import subprocess
import sys

root = sys.argv[1] if len(sys.argv) > 1 else "runs/looped-bf16"
svg = sys.argv[2] if len(sys.argv) > 2 else os.path.join(root, "loss_bf16_fp32.svg")
iclab = os.environ.get("ICLAB_BIN", "build/iclab")
arch = "looped3x2"


def mean_sd(v):
    v = [x for x in v if x is not None and math.isfinite(x)]
    if not v:
        return None, None
    m = sum(v) / len(v)
    return m, (math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1)) if len(v) > 1 else None)


def fmt(v, nd=3):
    m, sd = mean_sd(v)
    if m is None:
        return "n/a"
    return f"{m:.{nd}g}" if sd is None else f"{m:.{nd}g} ± {sd:.2g}"


series, err2d = [], {}
print("| precision | seeds | steps | loss (last 1,000 steps) | err k = d | err k = 2d | wall s per run |")
print("|---|---|---|---|---|---|---|")
for prec in ["fp32", "bf16"]:
    d0 = os.path.join(root, arch, prec)
    if not os.path.isdir(d0):
        continue
    seeds = sorted(s for s in os.listdir(d0) if s.startswith("seed"))
    loss, ed, e2d, wall, steps = [], [], [], [], set()
    for s in seeds:
        run = os.path.join(d0, s)
        mpath = os.path.join(run, "metrics.csv")
        if not os.path.isfile(mpath):
            continue
        rows = list(csv.DictReader(open(mpath)))
        if not rows:
            continue
        series.append(f"{prec} {s}={mpath}:step:loss")
        last = int(rows[-1]["step"])
        steps.add(last)
        tail = [float(r["loss"]) for r in rows if int(r["step"]) > last - 1000]
        loss.append(sum(tail) / len(tail))
        wall.append(float(rows[-1]["wall_s"]))
        rpath = os.path.join(run, "eval", "results.json")
        if os.path.isfile(rpath):
            c = json.load(open(os.path.join(run, "config.json")))
            d = c["n_dims"]
            t = json.load(open(rpath))["settings"]["standard"]["transformer"]["mean"]
            ed.append(t[d])
            e2d.append(t[2 * d] if 2 * d < len(t) else None)
    err2d[prec] = e2d
    print(f"| {prec} | {len(seeds)} | {', '.join(map(str, sorted(steps)))} | {fmt(loss)} | {fmt(ed)} | {fmt(e2d)} | "
          f"{fmt(wall)} |")
mf, _ = mean_sd(err2d.get("fp32", []))
mb, _ = mean_sd(err2d.get("bf16", []))
if mf and mb:
    print(f"\nmean error at k = 2d: bf16 {mb:.4g} / fp32 {mf:.4g} = {mb / mf:.3f} "
          f"({'within' if abs(mb / mf - 1) <= 0.2 else 'NOT within'} 20%)")
if series:
    subprocess.run([iclab, "plot", "--out", svg, "--logy", "--title", f"{arch}: training loss, fp32 and bf16 products",
                    "--series", ";".join(series)], check=True)
    print(f"\nloss curves: {svg}")
