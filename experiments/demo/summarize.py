#!/usr/bin/python3
"""Table of a demo recipe search (docs/demo.md): for each candidate's sweep
directory, each model's squared error / d at k = d and k = 2d per seed (iclab eval,
1,280 prompts, seed 4242), its training wall time, and how many runs stayed on the
loss plateau (error at k = 2d above 0.5).
usage: summarize.py SEARCH_DIR [CANDIDATE ...]   (SEARCH_DIR/CANDIDATE/MODEL/seedS)"""
import json, os, sys

D = 5
root = sys.argv[1]
cands = sys.argv[2:] or sorted(os.listdir(root))
print("| candidate | model | " + " | ".join("seed %d: k=5 / k=10" % s for s in (1, 2, 3, 4)) +
      " | on the plateau | wall s per run |")
print("|---|---|" + "---|" * 6)
for c in cands:
    cdir = os.path.join(root, c)
    if not os.path.isdir(cdir):
        continue
    for m in ("plain6", "looped3x2"):
        cells, stuck, walls = [], 0, []
        for s in (1, 2, 3, 4):
            rdir = os.path.join(cdir, m, "seed%d" % s)
            try:
                r = json.load(open(os.path.join(rdir, "eval", "results.json")))
                mean = r["settings"]["standard"]["transformer"]["mean"]
                e5, e10 = mean[D], mean[2 * D]
                stuck += e10 > 0.5
                cells.append("%.3g / %.3g%s" % (e5, e10, " (plateau)" if e10 > 0.5 else ""))
                rows = open(os.path.join(rdir, "metrics.csv")).read().split("\n")
                walls.append(float(rows[-2].split(",")[-1]) if rows[-1] == "" else float(rows[-1].split(",")[-1]))
            except (OSError, KeyError, ValueError, IndexError):
                cells.append("not run")
        done = sum(x != "not run" for x in cells)
        print("| %s | %s | %s | %d of %d | %s |" % (c, m, " | ".join(cells), stuck, done,
                                                   "%.0f" % (sum(walls) / len(walls)) if walls else "-"))
