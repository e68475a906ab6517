#!/usr/bin/python3
"""Report material of experiment 1 (experiments/structure/run.sh): the looped
structure at equal compute. From the sweep directory (default runs/structure):

  1. per config and seed: error / d at k = d and 2d (iclab eval, 1,280 prompts,
     seed 4242), whether the run stayed on the loss plateau, parameters;
  2. paired comparisons on the same prompts (iclab compare, per seed): every
     config against plain6 and against k3L2 (looped3x2); random-depth configs
     run at their mean depth (6 block applications, as every other config);
     pooled over seeds (geometric mean, t interval: experiments/common.py);
  3. depth: error at the trained depth, the best depth of 1..40, twice the
     trained depth and 40 loops (iclab loops, 256 prompts), and halting;
  4. figures: the Pareto fronts of error against parameters and against
     compute (block applications per forward, over the loops sweep's depths),
     the pooled ratios, the depth curves of a few configs.

Writes OUT/tables.md, OUT/results.json and OUT/figures/*.svg (OUT default
docs/experiments/structure); compare outputs go to SWEEP/compare/.
usage: report.py [SWEEP] [OUT]   (env ICLAB_BIN: the binary, default build/iclab)"""
import csv
import json
import math
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import common as C  # noqa: E402

root = sys.argv[1] if len(sys.argv) > 1 else "runs/structure"
out = sys.argv[2] if len(sys.argv) > 2 else "docs/experiments/structure"
iclab = os.environ.get("ICLAB_BIN", "build/iclab")
here = os.path.dirname(os.path.abspath(__file__))
plan = json.load(open(os.path.join(here, "plan.json")))
D = 5
KS = (D, 2 * D)


def shape(cfg):
    """(prelude, core, coda, trained loops, eval loops at equal compute, family)."""
    sch = cfg.get("schedule", "")
    p = c = 0
    k = cfg["n_layer"]
    if "{" in sch:
        pre, rest = sch.split("{")
        core, post = rest.split("}")
        p = len([x for x in pre.split(",") if x.strip()])
        k = len(core.split(","))
        c = len([x for x in post.split(",") if x.strip()])
    L = cfg.get("loops", 1)
    rand = cfg.get("loops_sampling") == "poisson"
    Leval = int(cfg["loops_mean"]) if rand else L
    return p, k, c, L, Leval, rand


def family(name):
    if name == "plain6":
        return "plain"
    if name.startswith("p1"):
        return "prelude/core/coda"
    return "core of %s" % name[1]


configs = {}
for name, cfg in plan["configs"].items():
    p, k, c, L, Leval, rand = shape(cfg)
    runs = {}
    for s in C.seeds_of(root, name):
        rd = os.path.join(root, name, s)
        ev = C.eval_curve(rd)
        lp = os.path.join(rd, "loops", "loops.csv")
        lh = C.load(os.path.join(rd, "loops_halt", "loops.json"))
        if not ev or not os.path.exists(lp) or not lh:
            continue
        rows = list(csv.DictReader(open(lp)))
        runs[s] = dict(dir=rd, e=[ev[0][k_] for k_ in KS],
                       loops=[{kk: float(v) if v not in ("", None) else None for kk, v in r.items()} for r in rows],
                       halt=lh["halting"], params=C.n_params(os.path.join(rd, "model.safetensors")))
    if runs:
        configs[name] = dict(cfg=cfg, p=p, k=k, c=c, L=L, Leval=Leval, rand=rand, fam=family(name), runs=runs,
                             compute=p + k * Leval + c)

names = list(configs)
seeds = sorted({s for n in names for s in configs[n]["runs"]}, key=lambda s: int(s[4:]))


def plateau(e2):
    return e2 > C.PLATEAU


# ---- paired comparisons per seed (groups of at most 16 models: IC_COMPARE_MAX) ----
def compare_all(ref):
    """{config: {seed: [at_k for k = d, 2d]}} against ref, every config at its eval depth."""
    res = {}
    others = [n for n in names if n != ref]
    groups = [others[i:i + 12] for i in range(0, len(others), 12)]
    for s in seeds:
        if s not in configs[ref]["runs"]:
            continue
        for gi, g in enumerate(groups):
            g = [n for n in g if s in configs[n]["runs"]]
            models = [ref] + g
            paths = [os.path.join(configs[n]["runs"][s]["dir"], "model.safetensors") for n in models]
            loops = [configs[n]["Leval"] if configs[n]["rand"] else 0 for n in models]
            o = os.path.join(root, "compare", "vs_" + ref, "%s_g%d" % (s, gi))
            r = C.compare(iclab, paths, models, o, loops=loops, ks=KS)
            for n in g:
                res.setdefault(n, {})[s] = r[n]
    return res


vs_plain = compare_all("plain6")
vs_looped = compare_all("k3L2") if "k3L2" in configs else {}


def pooled(res, n, j):
    return C.pool([res[n][s][j]["ratio"] for s in res.get(n, {})])


def seed_wins(res, n, j):
    """(paired intervals below 1, above 1, seeds)."""
    xs = list(res.get(n, {}).values())
    return (sum(x[j]["ratio_hi90"] < 1 for x in xs), sum(x[j]["ratio_lo90"] > 1 for x in xs), len(xs))


# ---- tables ----
T = []
T.append("## Setup\n")
T.append("| config | family | unique blocks | parameters | prelude + core x loops + coda (training) | "
         "block applications at evaluation | injection | gradient loops | loss loops | depth | loop signal |")
T.append("|---|---|---|---|---|---|---|---|---|---|---|")
for n in names:
    c = configs[n]
    cfg = c["cfg"]
    par = next(iter(c["runs"].values()))["params"]
    depth = ("Poisson, mean %d, at most %d" % (c["Leval"], c["L"])) if c["rand"] else "fixed %d" % c["L"]
    T.append("| %s | %s | %d | %s | %d + %d x %d + %d | %d | %s | %s | %s | %s | %s |" % (
        n, c["fam"], cfg["n_layer"], format(par, ","), c["p"], c["k"], c["Leval"], c["c"], c["compute"],
        "yes" if cfg.get("inject", True) and cfg.get("loops", 1) > 1 else "no" if cfg.get("loops", 1) > 1 else "-",
        cfg.get("grad_loops", "-") if cfg.get("grad_loops", 0) else ("-" if cfg.get("loops", 1) == 1 else cfg.get("loops")),
        cfg.get("loss_loops", 1), depth, "yes" if cfg.get("loop_signal") else "no"))

T.append("\n## Error at k = d and 2d, and the paired ratio to plain6\n")
T.append("Squared error / d on 1,280 test prompts (seed 4242); each seed's value, 'P' marks a run "
         "that stayed on the loss plateau (error at k = 2d above %.1f). Ratio: this config's error / plain6's on the "
         "same prompts, geometric mean over the seeds [90%% t interval over seeds]; 'paired' counts the seeds whose "
         "paired bootstrap interval lies below / above 1." % C.PLATEAU)
T.append("")
T.append("| config | err/d k=d (per seed) | err/d k=2d (per seed) | median k=2d | on plateau | ratio to plain6 k=d | "
         "ratio to plain6 k=2d | paired below/above 1 (k=2d) | ratio to k3L2 k=2d |")
T.append("|---|---|---|---|---|---|---|---|---|")
summary = {}
for n in names:
    c = configs[n]
    rs = [c["runs"][s] for s in seeds if s in c["runs"]]
    e1 = [r["e"][0] for r in rs]
    e2 = [r["e"][1] for r in rs]
    stuck = sum(plateau(x) for x in e2)
    pk1, pk2 = (pooled(vs_plain, n, 0), pooled(vs_plain, n, 1)) if n != "plain6" else ((1, None, None),) * 2
    pl = pooled(vs_looped, n, 1) if n != "k3L2" else (1, None, None)
    w = seed_wins(vs_plain, n, 1)
    summary[n] = dict(err_kd=e1, err_k2d=e2, median_k2d=statistics.median(e2), plateau=stuck, seeds=len(rs),
                      params=rs[0]["params"], compute=c["compute"],
                      ratio_plain_kd=pk1, ratio_plain_k2d=pk2, ratio_looped_k2d=pl, paired_plain_k2d=w)
    cell = lambda v: " / ".join("%.3g%s" % (x, "P" if plateau(y) else "") for x, y in zip(v, e2))
    T.append("| %s | %s | %s | %.3g | %d of %d | %s | %s | %s | %s |" % (
        n, cell(e1), cell(e2), statistics.median(e2), stuck, len(rs),
        C.fmt_pool(pk1) if n != "plain6" else "1", C.fmt_pool(pk2) if n != "plain6" else "1",
        "%d / %d of %d" % w if n != "plain6" else "-", C.fmt_pool(pl) if n != "k3L2" else "1"))

T.append("\n## Depth: extrapolation past the trained depth, and halting\n")
T.append("Error / d at k = 2d on the loops sweep's 256 prompts (median over seeds) at the trained depth (random "
         "depth: the mean), at the best depth of 1..40 (and which), at twice the trained depth and at 40 loops; "
         "the fixed-point measure |Y_{t+1} - Y_t| / |Y_t| at 40 loops; halting at tol 1e-3 (mean loops used, error "
         "over all positions at halting, median over seeds).")
T.append("")
T.append("| config | trained depth | at trained depth | best depth (at) | at 2x trained | at 40 | fixed point at 40 | "
         "halting: loops, err |")
T.append("|---|---|---|---|---|---|---|---|")
for n in names:
    c = configs[n]
    if c["L"] == 1 and n != "plain6":
        continue
    rs = [c["runs"][s] for s in seeds if s in c["runs"]]
    Lt = c["Leval"]
    col = "err_k%d" % (2 * D)
    at = lambda t: statistics.median(r["loops"][t - 1][col] for r in rs)
    curve = [at(t) for t in range(1, 41)]
    b = min(range(40), key=lambda i: curve[i])
    fp = statistics.median(r["loops"][39]["fixed_point"] for r in rs)
    hl = statistics.median(r["halt"]["mean_loops"] for r in rs)
    he = statistics.median(r["halt"]["err_at_halt"] for r in rs)
    summary[n].update(depth_curve_k2d=curve, best_depth=b + 1)
    T.append("| %s | %d | %.3g | %.3g (%d) | %.3g | %.3g | %.2g | %.1f, %.3g |" % (
        n, Lt, curve[Lt - 1], curve[b], b + 1, curve[min(2 * Lt, 40) - 1], curve[39], fp, hl, he))

os.makedirs(os.path.join(out, "figures"), exist_ok=True)
with open(os.path.join(out, "tables.md"), "w") as f:
    f.write("<!-- written by experiments/structure/report.py from %s; seeds: %s -->\n\n" % (root, ", ".join(seeds)))
    f.write("\n".join(T) + "\n")
with open(os.path.join(out, "results.json"), "w") as f:
    json.dump({"sweep": root, "seeds": seeds, "configs": summary}, f, indent=1)

# ---- figures ----
F = os.path.join(out, "figures")
for j, k in enumerate(KS):
    pts = [(n, summary[n]["params"], statistics.median(summary[n]["err_kd" if j == 0 else "err_k2d"]),
            configs[n]["fam"]) for n in names]
    C.scatter(os.path.join(F, "pareto_params_k%d.svg" % k), pts, "parameters (log)",
              "error / d at k = %d (median over seeds, log)" % k,
              "Error against parameters at equal compute (6 block applications), k = %d; dashed: Pareto front" % k)
# error against compute: every config at every depth t of the loops sweep (block applications p + k t + c)
pts = []
for n in names:
    c = configs[n]
    if "depth_curve_k2d" not in summary[n]:
        continue
    for t in range(1, 41):
        comp = c["p"] + c["k"] * t + c["c"] if n != "plain6" else 6 * t
        if comp <= 24:
            pts.append(("%s@%d" % (n, t), comp, summary[n]["depth_curve_k2d"][t - 1], c["fam"]))
front, best = [], float("inf")
for p_ in sorted(pts, key=lambda p: (p[1], p[2])):
    if p_[2] < best:
        best = p_[2]
        front.append(p_)
C.scatter(os.path.join(F, "pareto_compute_k10.svg"), front, "block applications per forward",
          "error / d at k = 10 (median over seeds, log)",
          "Pareto front of error against compute over every config and depth (loops sweep)", logx=False)
rows = [(n, summary[n]["ratio_plain_k2d"][0], summary[n]["ratio_plain_k2d"][1], summary[n]["ratio_plain_k2d"][2],
         configs[n]["fam"]) for n in names if n != "plain6"]
C.bars(os.path.join(F, "ratio_to_plain6_k10.svg"), rows, "error / plain6's error at k = 10 (geometric mean over seeds, "
       "90% t interval; log)", "Each structure against plain6 on the same prompts, k = 2d")
print("\n".join(T))
print("\nwrote %s/tables.md, results.json, figures/" % out)
