#!/usr/bin/python3
"""Table of the looped-structure search (experiments/structure/plan.json) from
its sweep directory: per config, the unique blocks, the error / d at k = d and
k = 2d (iclab eval, mean over seeds and each seed), the error over all the
prompt's positions (iclab loops: err_all_positions) at the trained depth, at
the best depth of 1..40 and at 40 loops, and adaptive depth at tol 1e-3 (mean loops used, error at halting).
usage: summarize.py SWEEP_DIR   (SWEEP_DIR/CONFIG/seedS, as `iclab sweep` writes)"""
import json, os, statistics, sys

root = sys.argv[1]
plan = json.load(open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "plan.json")))
print("| config | blocks | loops | seeds | err/d k=d | err/d k=2d (each seed) | err over all positions: trained depth -> best depth (at) -> 40 loops | halting at tol 1e-3: mean loops, err |")
print("|---|---|---|---|---|---|---|---|")
for name in plan["configs"]:
    cdir = os.path.join(root, name)
    if not os.path.isdir(cdir):
        continue
    rows = []
    for s in sorted(os.listdir(cdir)):
        r = os.path.join(cdir, s)
        try:
            cfg = json.load(open(os.path.join(r, "config.json")))
            ev = json.load(open(os.path.join(r, "eval", "results.json")))
            lp = json.load(open(os.path.join(r, "loops", "loops.json")))
            lh = json.load(open(os.path.join(r, "loops_halt", "loops.json")))["halting"]
        except (OSError, KeyError, ValueError):
            continue
        d = ev["n_dims"]
        mean = ev["settings"]["standard"]["transformer"]["mean"]
        errs = [x["err"] for x in lp["loops"]]
        L = lp["trained_loops"]
        best = min(range(len(errs)), key=lambda i: errs[i])
        rows.append(dict(s=s, layers=cfg.get("n_layer"), L=L, e1=mean[d], e2=mean[2 * d], tr=errs[L - 1],
                         best=errs[best], at=best + 1, last=errs[-1], hl=lh["mean_loops"], he=lh["err_at_halt"]))
    if not rows:
        continue
    m = lambda k: statistics.mean(x[k] for x in rows)
    print("| %s | %s | %s | %d | %.3g | %.3g (%s) | %.3g -> %.3g (%s) -> %.3g | %.1f, %.3g |" % (
        name, rows[0]["layers"], rows[0]["L"], len(rows), m("e1"), m("e2"), ", ".join("%.3g" % x["e2"] for x in rows),
        m("tr"), m("best"), "/".join(str(x["at"]) for x in rows), m("last"), m("hl"), m("he")))
