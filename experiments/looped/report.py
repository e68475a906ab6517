#!/usr/bin/env python3
"""Report material of experiments/looped/run.sh (standard library only).

Prints markdown tables over the training seeds:
  1. per architecture: parameters, block applications per forward, final
     training loss, in-context error at k = 2, d, 2d (mean ± sd over seeds),
     error after 40 loops, wall time;
  2. paired comparisons against plain6 on the same prompts, per seed
     (`iclab compare`: ratio with a paired bootstrap 90% interval);
  3. training loss at several budgets (steps);
  4. loop extrapolation.
and writes comparison plots (with `iclab plot`) to OUT/plots.

usage: report.py [OUT]    (env ICLAB_BIN: the binary, default build/iclab)"""
import csv
import json
import math
import os
import subprocess
import sys

root = sys.argv[1] if len(sys.argv) > 1 else "runs/looped"
iclab = os.environ.get("ICLAB_BIN", "build/iclab")
ALL = ["plain6", "looped3x2", "looped3x2_noinject", "looped6x2", "yang1xb"]
archs = [a for a in ALL if os.path.isdir(os.path.join(root, a))]


def mean_sd(v):
    v = [x for x in v if x is not None and math.isfinite(x)]
    if not v:
        return None, None
    m = sum(v) / len(v)
    sd = math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1)) if len(v) > 1 else None
    return m, sd


def ms(v, nd=4):
    m, sd = mean_sd(v)
    if m is None:
        return "n/a"
    return f"{m:.{nd}g}" if sd is None else f"{m:.{nd}g} ± {sd:.2g}"


def seeds_of(arch):
    d = os.path.join(root, arch)
    out = []
    for s in sorted(os.listdir(d)):
        run = os.path.join(d, s)
        if s.startswith("seed") and all(os.path.isfile(os.path.join(run, f)) for f in
                                        ["metrics.csv", "config.json", "eval/results.json", "loops/loops.json"]):
            out.append(s)
    return out


def params_of(c):
    e, dd, L = c["n_embd"], c["n_dims"], c["n_layer"]
    return e * dd + e + 2 * c["n_positions"] * e + L * (12 * e * e + 13 * e) + 2 * e + e + 1


def loss_near(rows, step, window=500):
    v = [float(r["loss"]) for r in rows if abs(int(r["step"]) - step) <= window // 2]
    return sum(v) / len(v) if v else None


common = None
for a in archs:
    s = set(seeds_of(a))
    common = s if common is None else common & s
common = sorted(common or [])
if not common:
    sys.exit(f"no complete runs under {root}")
cfg0 = json.load(open(os.path.join(root, archs[0], common[0], "config.json")))
d = cfg0["n_dims"]
print(f"Runs under {root}: seeds {', '.join(common)}; d = {d}, {cfg0['n_points']} points, e = {cfg0['n_embd']}, "
      f"{cfg0['train_steps']} steps planned in config (the run may have been given fewer).\n")

# 1. summary
print("| architecture | params | blocks run per forward | steps | final train loss (last 1,000 steps) | err k=2 | "
      f"err k={d} (=d) | err k={2 * d} (=2d) | err after 40 loops | wall s (1 thread) |")
print("|---|---|---|---|---|---|---|---|---|---|")
for a in archs:
    loss, e2, ed, e2d, l40, wall, steps = [], [], [], [], [], [], set()
    c = None
    for s in common:
        run = os.path.join(root, a, s)
        rows = list(csv.DictReader(open(os.path.join(run, "metrics.csv"))))
        c = json.load(open(os.path.join(run, "config.json")))
        res = json.load(open(os.path.join(run, "eval", "results.json")))
        lp = json.load(open(os.path.join(run, "loops", "loops.json")))
        last = int(rows[-1]["step"])
        steps.add(last)
        loss.append(sum(float(r["loss"]) for r in rows if int(r["step"]) > last - 1000) /
                    max(1, sum(1 for r in rows if int(r["step"]) > last - 1000)))
        wall.append(float(rows[-1]["wall_s"]))
        t = res["settings"]["standard"]["transformer"]["mean"]
        e2.append(t[2]); ed.append(t[d]); e2d.append(t[2 * d] if 2 * d < len(t) else None)
        l40.append(lp["loops"][-1]["err"] if len(lp["loops"]) >= 40 else None)
    body = len(str(c.get("schedule", "")).split(",")) if c.get("schedule") else c["n_layer"]
    print(f"| {a} | {params_of(c):,} | {body} × {c['loops']} = {body * c['loops']} | {', '.join(map(str, sorted(steps)))} | "
          f"{ms(loss)} | {ms(e2)} | {ms(ed)} | {ms(e2d)} | {ms(l40)} | {ms(wall, 3)} |")

# 2. paired comparisons (iclab compare on each seed)
print(f"\nPaired comparison with plain6 on the same 1,280 prompts (ratio of mean errors, paired bootstrap 90%), per seed:\n")
print(f"| architecture | " + " | ".join(f"{s}: k={d}" for s in common) + " | " +
      " | ".join(f"{s}: k={2 * d}" for s in common) + " |")
print("|---|" + "---|" * (2 * len(common)))
cmp = {}
for s in common:
    out = os.path.join(root, "compare", s)
    models = ",".join(os.path.join(root, a, s, "model.safetensors") for a in archs)
    if not os.path.isfile(os.path.join(out, "compare.json")):
        subprocess.run([iclab, "compare", "--models", models, "--labels", ",".join(archs), "--out", out, "--threads", "2",
                        "--k", f"{d},{2 * d}"], check=True, stdout=subprocess.DEVNULL)
    cmp[s] = {m["label"]: m for m in json.load(open(os.path.join(out, "compare.json")))["models"]}
for a in archs[1:]:
    cells = []
    for q in (0, 1):
        for s in common:
            x = cmp[s][a]["at_k"][q]
            f3 = lambda v: "n/a" if v is None else f"{v:.3f}"   # iclab writes an undefined number as null
            cells.append(f"{f3(x['ratio'])} [{f3(x['ratio_lo90'])}, {f3(x['ratio_hi90'])}]")
    print(f"| {a} | " + " | ".join(cells) + " |")
for q, k in ((0, d), (1, 2 * d)):
    parts = []
    for a in archs[1:]:
        m, sd = mean_sd([cmp[s][a]["at_k"][q]["ratio"] for s in common])
        parts.append(f"{a} " + ("n/a" if m is None else f"{m:.3f}") + (f" ± {sd:.2f}" if sd is not None else ""))
    print(f"\nMean ratio over seeds at k = {k}: " + "; ".join(parts) + ".")

# 3. budget
budgets = [500, 1000, 2000, 3000, 4000, 5000]
print("\nTraining loss (mean over seeds of the logged loss within ±250 steps; fresh prompts every step, so this "
      "is also a held-out loss) at each budget:\n")
print("| architecture | " + " | ".join(f"step {b}" for b in budgets) + " |")
print("|---|" + "---|" * len(budgets))
for a in archs:
    cells = []
    for b in budgets:
        v = []
        for s in common:
            rows = list(csv.DictReader(open(os.path.join(root, a, s, "metrics.csv"))))
            v.append(loss_near(rows, b))
        cells.append(ms(v, 3))
    print(f"| {a} | " + " | ".join(cells) + " |")

# 4. loop extrapolation
print("\nLoop extrapolation (mean over seeds; error over all positions, 256 prompts; fixed point = "
      "|Y(t+1) - Y(t)| / |Y(t)|):\n")
print("| architecture | trained loops | err at trained | err at 2× | err at 40 | fixed point at 40 |")
print("|---|---|---|---|---|---|")
for a in archs:
    tr, e1, e2x, e40, fp = None, [], [], [], []
    for s in common:
        lp = json.load(open(os.path.join(root, a, s, "loops", "loops.json")))
        tr = lp["trained_loops"]
        L = lp["loops"]
        e1.append(L[tr - 1]["err"])
        e2x.append(L[2 * tr - 1]["err"] if 2 * tr <= len(L) else None)
        e40.append(L[39]["err"] if len(L) >= 40 else None)
        fp.append(L[39]["fixed_point"] if len(L) >= 40 else None)
    print(f"| {a} | {tr} | {ms(e1, 3)} | {ms(e2x, 3)} | {ms(e40, 3)} | {ms(fp, 3)} |")

# plots
plots = os.path.join(root, "plots")
os.makedirs(plots, exist_ok=True)
# mean training loss over seeds, smoothed over 5 logs
agg = os.path.join(plots, "train_loss_mean.csv")
with open(agg, "w") as f:
    series = {}
    for a in archs:
        runs = [list(csv.DictReader(open(os.path.join(root, a, s, "metrics.csv")))) for s in common]
        n = min(len(r) for r in runs)
        series[a] = [(int(runs[0][i]["step"]), sum(float(r[i]["loss"]) for r in runs) / len(runs)) for i in range(n)]
    n = min(len(v) for v in series.values())
    f.write("step," + ",".join(archs) + "\n")
    for i in range(n):
        lo, hi = max(0, i - 2), min(n, i + 3)
        f.write(f"{series[archs[0]][i][0]}," +
                ",".join(f"{sum(series[a][j][1] for j in range(lo, hi)) / (hi - lo):.6g}" for a in archs) + "\n")


def plot(name, title, spec, ylabel, logy=True):
    cmd = [iclab, "plot", "--out", os.path.join(plots, name), "--title", title, "--ylabel", ylabel, "--series", spec]
    if logy:
        cmd.append("--logy")
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


plot("train_loss.svg", f"Training loss, mean over {len(common)} seeds (smoothed over 5 logs)",
     ";".join(f"{a}={agg}:step:{a}" for a in archs), "MSE")
s1 = common[0]
plot("loop_sweep.svg", f"Error vs loops run at inference ({s1})",
     ";".join(f"{a}={os.path.join(root, a, s1, 'loops', 'loops.csv')}:loop:err_all_positions" for a in archs),
     "squared error / d")
plot("fixed_point.svg", f"|Y(t+1) - Y(t)| / |Y(t)| per loop ({s1})",
     ";".join(f"{a}={os.path.join(root, a, s1, 'loops', 'loops.csv')}:loop:fixed_point" for a in archs), "relative change")
print(f"\nplots: {plots}/train_loss.svg, loop_sweep.svg, fixed_point.svg; per-seed error curves with bands: "
      f"{root}/compare/<seed>/compare.svg")
