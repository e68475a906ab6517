#!/usr/bin/python3
"""Report material of experiment 3 (experiments/scale/run.sh): plain6 against
looped3x2 at d = 10 and d = 20 with the compressed curriculum.

  1. per d, model and seed: error / d at k = d/2, d, 2d (iclab eval, 1,280
     prompts, seed 4242), least squares, whether the run left the plateau,
     training time;
  2. looped3x2 / plain6 on the same prompts per seed (iclab compare), pooled;
  3. figures: training loss / active dimensions against steps (the curriculum's
     stages visible), the error curves of the last model against least squares.

Writes OUT/tables.md, OUT/results.json, OUT/figures/ (OUT default docs/experiments/scale).
usage: report.py [SWEEP] [OUT]   (default runs/scale; env ICLAB_BIN: the binary, default build/iclab)"""
import csv
import json
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import common as C  # noqa: E402

root = sys.argv[1] if len(sys.argv) > 1 else "runs/scale"
out = sys.argv[2] if len(sys.argv) > 2 else "docs/experiments/scale"
iclab = os.environ.get("ICLAB_BIN", "build/iclab")
here = os.path.dirname(os.path.abspath(__file__))
plan = json.load(open(os.path.join(here, "plan.json")))
MODELS = ("plain6", "looped3x2")
os.makedirs(os.path.join(out, "figures"), exist_ok=True)


def metrics(run):
    return list(csv.DictReader(open(os.path.join(run, "metrics.csv"))))


T, results = [], {}
T.append("| d | points | curriculum | model | parameters | seed | training s | err/d k=d/2 | err/d k=d | err/d k=2d | "
         "left the plateau |")
T.append("|---|---|---|---|---|---|---|---|---|---|---|")
for dim in (10, 20):
    res = results.setdefault("d%d" % dim, {"models": {}})
    runs = {m: {s: os.path.join(root, "d%d_%s" % (dim, m), s) for s in C.seeds_of(root, "d%d_%s" % (dim, m))
                if C.eval_curve(os.path.join(root, "d%d_%s" % (dim, m), s))} for m in MODELS}
    if not any(runs.values()):
        continue
    cfg = plan["configs"]["d%d_plain6" % dim]
    ks = (dim // 2, dim, 2 * dim)
    ls = None
    for m in MODELS:
        for s, rd in sorted(runs[m].items(), key=lambda x: int(x[0][4:])):
            ev = C.load(os.path.join(rd, "eval", "results.json"))
            mean = ev["settings"]["standard"]["transformer"]["mean"]
            ls = ev["settings"]["standard"]["least_squares"]["mean"]
            zero = 1.0  # the zero estimator's error / d for w ~ N(0, I), x ~ N(0, I)
            left = mean[2 * dim] < C.PLATEAU * zero
            wall = float(metrics(rd)[-1]["wall_s"])
            res["models"].setdefault(m, {})[s] = dict(err=[mean[k] for k in ks], left_plateau=left, wall_s=wall)
            T.append("| %d | %d | dims 5 -> %d, points 11 -> %d, every %d steps | %s | %s | %s | %.0f | %.3g | %.3g | "
                     "%.3g | %s |" % (dim, cfg["n_points"], dim, cfg["n_points"], cfg["curriculum_dims_interval"], m,
                                      format(C.n_params(os.path.join(rd, "model.safetensors")), ","), s, wall,
                                      *[mean[k] for k in ks], "yes" if left else "no"))
    if ls:
        T.append("| %d | | | *least squares* | | | | %.3g | %.3g | %.3g | |" % (dim, *[ls[k] for k in ks]))
        res["least_squares"] = [ls[k] for k in ks]
    # paired: looped3x2 / plain6 per seed
    rr = []
    for s in sorted(set(runs["plain6"]) & set(runs["looped3x2"]), key=lambda x: int(x[4:])):
        o = os.path.join(root, "compare", "d%d" % dim, s)
        r = C.compare(iclab, [os.path.join(runs[m][s], "model.safetensors") for m in MODELS], list(MODELS), o,
                      ks=[dim, 2 * dim])
        rr.append((s, r["looped3x2"]))
    res["ratio_looped_plain"] = {s: r for s, r in rr}
    res["pooled_k2d"] = C.pool([r[1]["ratio"] for _, r in rr])
    res["pooled_kd"] = C.pool([r[0]["ratio"] for _, r in rr])
    # figure: training loss per active dimension, every run
    series = []
    for m in MODELS:
        for s, rd in sorted(runs[m].items()):
            rows = metrics(rd)
            p = os.path.join(out, "figures", "d%d_%s_%s_loss.csv" % (dim, m, s))
            with open(p, "w", newline="") as f:
                w = csv.writer(f)
                w.writerow(["step", "loss_per_dim"])
                for r in rows:
                    w.writerow([r["step"], "%.6g" % (float(r["loss"]) / int(r["n_dims"]))])
            series.append("%s %s=%s:step:loss_per_dim" % (m, s, p))
    subprocess.run([iclab, "plot", "--out", os.path.join(out, "figures", "d%d_loss.svg" % dim), "--logy", "--title",
                    "d = %d: training loss / active dims (+1 dim every %d steps)" %
                    (dim, cfg["curriculum_dims_interval"]), "--xlabel", "step", "--ylabel", "loss / active dims",
                    "--series", ";".join(series)], check=True, stdout=subprocess.DEVNULL)

T.append("")
T.append("Paired ratio looped3x2 / plain6 on the same 1,280 prompts (per seed: ratio [paired bootstrap 90%]; pooled: "
         "geometric mean [t interval over seeds]):")
T.append("")
T.append("| d | k | " + " | ".join("seed %d" % s for s in (1, 2)) + " | pooled |")
T.append("|---|---|---|---|---|")
for dim in (10, 20):
    res = results.get("d%d" % dim)
    if not res or not res.get("ratio_looped_plain"):
        continue
    for j, k in enumerate((dim, 2 * dim)):
        cells = ["%.3g [%.3g, %.3g]" % (r[j]["ratio"], r[j]["ratio_lo90"], r[j]["ratio_hi90"])
                 for r in res["ratio_looped_plain"].values()]
        T.append("| %d | %d | %s | %s |" % (dim, k, " | ".join(cells), C.fmt_pool(res["pooled_kd" if j == 0 else "pooled_k2d"])))
with open(os.path.join(out, "tables.md"), "w") as f:
    f.write("<!-- written by experiments/scale/report.py from %s -->\n\n" % root)
    f.write("\n".join(T) + "\n")
with open(os.path.join(out, "results.json"), "w") as f:
    json.dump(results, f, indent=1)
print("\n".join(T))
print("\nwrote %s/tables.md, results.json, figures/" % out)
