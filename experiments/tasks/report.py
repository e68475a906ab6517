#!/usr/bin/python3
"""Report material of experiment 2 (experiments/tasks/run.sh): plain6 against
looped3x2 and the best structure of experiment 1, k1L6_noinject (plan_best.json,
swept into SWEEP/best), on
sparse linear regression, 2-layer ReLU networks and decision trees at d = 5,
with the surgery profile of every model. Linear regression is the reference
task: its plain6, k3L2 (= looped3x2) and k1L6_noinject models are experiment 1's
(experiments/structure: the same recipe, seeds and data), surgered here with
the same sweeps.

  1. per task and model: error at k = d, 2d (and 4d with 21 points) per seed
     against the task's baselines (iclab eval, 1,280 prompts, seed 4242);
  2. paired ratios to plain6 per seed (iclab compare), pooled over seeds;
  3. the surgery profile: per task, model and sweep, the median and largest
     ratio of the variants at k = 2d and how many variants are significantly
     worse / better (paired 90% interval above / below 1), over all seeds;
  4. figures: each task's error curves (mean over seeds) with its baselines;
     the surgery profile as bars.

Writes OUT/tables.md, OUT/results.json, OUT/figures/ (OUT default
docs/experiments/tasks).
usage: report.py [SWEEP] [STRUCTURE_SWEEP] [OUT]   (defaults runs/tasks runs/structure; env ICLAB_BIN)"""
import csv
import json
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import common as C  # noqa: E402

root = sys.argv[1] if len(sys.argv) > 1 else "runs/tasks"
sroot = sys.argv[2] if len(sys.argv) > 2 else "runs/structure"
out = sys.argv[3] if len(sys.argv) > 3 else "docs/experiments/tasks"
iclab = os.environ.get("ICLAB_BIN", "build/iclab")
here = os.path.dirname(os.path.abspath(__file__))
plan = json.load(open(os.path.join(here, "plan.json")))
surgery_args = next(s["args"] for s in plan["steps"] if s["command"] == "surgery")
D = 5
TASKS = [("linear", "linear regression"), ("sparse", "sparse linear (2 of 5)"), ("relu", "ReLU net (100 hidden)"),
         ("tree", "decision tree (depth 4)")]
SWEEPS = ["skip-each", "duplicate-each", "swap-matrix", "shuffle", "loops"]

# run directories: task -> model -> seed -> dir
runs = {}
best = json.load(open(os.path.join(here, "plan_best.json")))  # swept into SWEEP/best
for name, sub in [(n, root) for n in plan["configs"]] + [(n, os.path.join(root, "best")) for n in best["configs"]]:
    task, model = name.split("_", 1)
    for s in C.seeds_of(sub, name):
        d = os.path.join(sub, name, s)
        if os.path.exists(os.path.join(d, "eval", "results.json")) and os.path.isdir(os.path.join(d, "surgery")):
            runs.setdefault(task, {}).setdefault(model, {})[s] = d
# linear regression: experiment 1's models, surgered here with the same sweeps
best_surgery = next(s["args"] for s in best["steps"] if s["command"] == "surgery")
for model, cfg, sargs in (("plain6", "plain6", surgery_args), ("looped3x2", "k3L2", surgery_args),
                          ("k1L6_noinject", "k1L6_noinject", best_surgery)):
    for s in C.seeds_of(sroot, cfg):
        d = os.path.join(sroot, cfg, s)
        if not os.path.exists(os.path.join(d, "eval", "results.json")):
            continue
        sd = os.path.join(root, "linear_" + model, s, "surgery")
        if not os.path.isdir(sd):
            os.makedirs(os.path.dirname(sd), exist_ok=True)
            subprocess.run([iclab, "surgery", "--model", os.path.join(d, "model.safetensors"), "--out", sd,
                            "--threads", "2"] + sargs, check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        runs.setdefault("linear", {}).setdefault(model, {})[s] = d
        runs["linear"][model][s + ":surgery"] = sd


def surgery_dir(task, model, s):
    return runs[task][model].get(s + ":surgery", os.path.join(runs[task][model][s], "surgery"))


def seeds(task, model):
    return sorted((s for s in runs[task][model] if ":" not in s), key=lambda s: int(s[4:]))


T, results = [], {}
os.makedirs(os.path.join(out, "figures"), exist_ok=True)
for task, title in TASKS:
    if task not in runs:
        continue
    models = [m for m in ("plain6", "looped3x2") if m in runs[task]] + \
             sorted(m for m in runs[task] if m not in ("plain6", "looped3x2"))
    first = runs[task][models[0]][seeds(task, models[0])[0]]
    ev = C.load(os.path.join(first, "eval", "results.json"))
    n = ev["n_points"]
    ks = [k for k in (D, 2 * D, 4 * D) if k < n]
    base = [b for b in ev["settings"]["standard"] if b != "transformer"]
    T.append("\n## %s (%d points, %s)\n" % (title, n, ev["metric"]))
    T.append("| model | " + " | ".join("k=%d (per seed)" % k for k in ks) + " | ratio to plain6 k=%d "
             "[t interval over seeds] | paired below/above 1 |" % (2 * D))
    T.append("|---|" + "---|" * (len(ks) + 2))
    res_t = results.setdefault(task, {"n_points": n, "ks": ks, "models": {}, "baselines": {}})
    curves = {}
    ratios = {}
    for m in models:
        ss = seeds(task, m)
        errs, cur = [], []
        for s in ss:
            mean = C.eval_curve(runs[task][m][s])[0]
            errs.append([mean[k] for k in ks])
            cur.append(mean)
        curves[m] = [statistics.mean(c[i] for c in cur) for i in range(n)]
        # paired: this model against plain6 on the same prompts, per seed
        rr = []
        if m != "plain6" and "plain6" in runs[task]:
            for s in ss:
                if s not in runs[task]["plain6"]:
                    continue
                o = os.path.join(root, "compare", task, m, s)
                r = C.compare(iclab, [os.path.join(runs[task]["plain6"][s], "model.safetensors"),
                                      os.path.join(runs[task][m][s], "model.safetensors")], ["plain6", m], o, ks=[2 * D])
                rr.append(r[m][0])
        p = C.pool([x["ratio"] for x in rr]) if rr else (1.0, None, None)
        below = sum(x["ratio_hi90"] < 1 for x in rr)
        above = sum(x["ratio_lo90"] > 1 for x in rr)
        res_t["models"][m] = dict(seeds=ss, err=errs, ratio_plain_k2d=p, paired=[below, above, len(rr)])
        T.append("| %s | %s | %s | %s |" % (
            m, " | ".join(" / ".join("%.3g" % e[i] for e in errs) for i in range(len(ks))),
            C.fmt_pool(p) if m != "plain6" else "1", "%d / %d of %d" % (below, above, len(rr)) if rr else "-"))
    for b in base:
        bm = ev["settings"]["standard"][b]["mean"]
        res_t["baselines"][b] = [bm[k] for k in ks]
        T.append("| *%s* | %s | | |" % (b, " | ".join("%.3g" % bm[k] for k in ks)))
    # the curves (mean over seeds) and baselines in one CSV, plotted by iclab plot
    cpath = os.path.join(out, "figures", "%s_curves.csv" % task)
    with open(cpath, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["k"] + models + [b.replace(":", "_") for b in base])  # ':' separates a series' fields
        for i in range(n):
            w.writerow([i] + ["%.6g" % curves[m][i] for m in models] +
                       ["%.6g" % ev["settings"]["standard"][b]["mean"][i] for b in base])
    series = ";".join("%s=%s:k:%s" % (c, cpath, c.replace(":", "_")) for c in models + base)
    subprocess.run([iclab, "plot", "--out", os.path.join(out, "figures", "%s_curves.svg" % task), "--logy",
                    "--title", "%s: error against in-context examples (mean over seeds)" % title,
                    "--xlabel", "in-context examples k", "--ylabel", ev["metric"], "--series", series],
                   check=True, stdout=subprocess.DEVNULL)

# ---- surgery profiles ----
T.append("\n## Surgery profile at k = 2d\n")
T.append("Every variant of each sweep applied to each trained model (1,280 prompts, seed 4242; 10 shuffles), all seeds "
         "together: the median and the largest ratio variant / unmodified error at k = 2d, and how many variants "
         "are significantly worse / better (paired bootstrap 90% interval above / below 1). 'Gain lost' makes tasks "
         "comparable: the median over variants of (variant error - model error) / (model error at k = 0 - model "
         "error), at k = 2d: the share of what the model gains from 2d examples that the surgery destroys (100% = "
         "no better than without examples). Identity variants (a swap or shuffle that leaves the schedule unchanged) "
         "are left out.")
T.append("")
T.append("| task | model | " + " | ".join("%s: median, max ratio; gain lost; worse / better of n" % s for s in SWEEPS)
         + " |")
T.append("|---|---|" + "---|" * len(SWEEPS))
bar_rows = []
for task, title in TASKS:
    if task not in runs:
        continue
    for m in runs[task]:
        if ":" in m:
            continue
        cells = []
        for sw in SWEEPS:
            rat, lost, worse, better, nv = [], [], 0, 0, 0
            for s in seeds(task, m):
                j = C.load(os.path.join(surgery_dir(task, m, s), sw + ".json"))
                if not j:
                    continue
                # the in-context gain at k = 2d: the unmodified model's error with no example (k = 0)
                # minus its error at 2d; a variant's loss of it is (its error - the model's) / that gain
                o0 = j["original"]["curve"]["mean"][0]
                o2 = next(x for x in j["original"]["at_k"] if x["k"] == 2 * D)["err"]
                for v in j["variants"]:
                    if v.get("same_as_original"):
                        continue
                    a = next(x for x in v["at_k"] if x["k"] == 2 * D)
                    if a["ratio"] is None:
                        continue
                    nv += 1
                    rat.append(a["ratio"])
                    lost.append((a["err"] - o2) / (o0 - o2))
                    worse += a["ratio_lo90"] > 1
                    better += a["ratio_hi90"] < 1
            if not rat:
                cells.append("-")
                continue
            med = statistics.median(rat)
            results[task]["models"].setdefault(m, {}).setdefault("surgery", {})[sw] = dict(
                median=med, max=max(rat), min=min(rat), gain_lost_median=statistics.median(lost), worse=worse,
                better=better, n=nv)
            cells.append("%.3g, %.3g; %.0f%%; %d / %d of %d" % (med, max(rat), 100 * statistics.median(lost), worse,
                                                               better, nv))
            bar_rows.append(("%s %s %s" % (task, m, sw), med, min(rat), max(rat), task))
        T.append("| %s | %s | %s |" % (task, m, " | ".join(cells)))
if bar_rows:
    C.bars(os.path.join(out, "figures", "surgery_profile.svg"), bar_rows,
           "variant error / unmodified error at k = 2d: median (bar), min..max over variants and seeds (line); log",
           "Surgery profile per task and model")
with open(os.path.join(out, "tables.md"), "w") as f:
    f.write("<!-- written by experiments/tasks/report.py from %s and %s -->\n" % (root, sroot))
    f.write("\n".join(T) + "\n")
with open(os.path.join(out, "results.json"), "w") as f:
    json.dump(results, f, indent=1)
print("\n".join(T))
print("\nwrote %s/tables.md, results.json, figures/" % out)
