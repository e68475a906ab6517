#!/usr/bin/env python3
"""Summary of experiments/surgery/run.sh over training seeds (standard library
only): per sweep, the best variant of each seed with its paired 90% interval,
how many variants beat / lose to the original significantly, variants that
beat it in every seed, and per-slot fragility (skip-each, duplicate-each).

usage: report.py [OUT] [K]   (K: the position ranked, default the last k)"""
import json
import math
import os
import statistics
import sys

root = sys.argv[1] if len(sys.argv) > 1 else "runs/surgery"
want_k = int(sys.argv[2]) if len(sys.argv) > 2 else None
sweeps = ["skip-each", "duplicate-each", "duplicate-block", "swap-matrix", "shuffle", "reverse",
          "middle-repeat", "parallel", "loops"]
base = os.path.join(root, "plain6")
# every trained model with surgery results (seed1, seed2, ...; other models may be linked in)
seeds = sorted(s for s in os.listdir(base) if os.path.isdir(os.path.join(base, s, "surgery")))
if not seeds:
    sys.exit(f"no surgery results under {base}/seed*/surgery")


def load(seed, sweep):
    p = os.path.join(base, seed, "surgery", sweep + ".json")
    if not os.path.isfile(p):
        return None
    j = json.load(open(p))
    # an undefined number is null; files from before that policy wrote -1 (no error, ratio or
    # distance is negative), so read those as null too
    for e in [j["original"]] + j["variants"]:
        for a in e["at_k"]:
            for key, v in a.items():
                if key != "k" and v is not None and v < 0:
                    a[key] = None
    return j


def at(entry, k):
    for a in entry["at_k"]:
        if a["k"] == k:
            return a
    return None


def fmt(x, nd=3):
    # iclab writes an undefined number (a ratio to a zero error, a diverged variant) as null
    return "n/a" if x is None or not math.isfinite(x) else f"{x:.{nd}g}"


def mean_or_none(v):
    v = [x for x in v if x is not None]
    return statistics.mean(v) if v else None


first = load(seeds[0], "skip-each")
ks = [a["k"] for a in first["original"]["at_k"]]
K = want_k if want_k is not None else ks[-1]
print(f"Models: {', '.join(seeds)}; prompts {first['prompts']}, {first['n_points']} points; ranked at k = {K}; "
      f"ratio = variant error / original error on the same prompts, [paired bootstrap 90%].\n")
print("Original model, error at k: " + "; ".join(
    f"{s}: " + ", ".join(f"k={a['k']} {fmt(a['err'], 3)}" for a in load(s, 'skip-each')["original"]["at_k"]) for s in seeds))
print()
print("Variants that run exactly the original schedule (loops=1 of a plain model, a shuffle drawing the identity) are left out.\n")
print("| sweep | variants | best variant per seed: ratio [90%] | significantly better (hi < 1), per seed | "
      "significantly worse (lo > 1), per seed | median ratio, per seed | better in every seed |")
print("|---|---|---|---|---|---|---|")
for sw in sweeps:
    per = [load(s, sw) for s in seeds]
    if any(p is None for p in per):
        continue
    nv = len(per[0]["variants"])
    best, better, worse, med = [], [], [], []
    sig_sets = []
    for p in per:
        vs = [(v["label"], at(v, K)) for v in p["variants"] if not v.get("same_as_original")]
        vs = [(l, a) for l, a in vs if a and a["ratio"] is not None]
        if not vs:
            best.append("n/a"); better.append("0"); worse.append("0"); med.append("n/a"); sig_sets.append(set())
            continue
        b = min(vs, key=lambda t: t[1]["ratio"])
        f3 = lambda x: "n/a" if x is None else f"{x:.3f}"
        best.append(f"{b[0]} {f3(b[1]['ratio'])} [{f3(b[1]['ratio_lo90'])}, {f3(b[1]['ratio_hi90'])}]")
        sig = {l for l, a in vs if a["ratio_hi90"] is not None and a["ratio_hi90"] < 1}
        sig_sets.append(sig)
        better.append(str(len(sig)))
        worse.append(str(sum(1 for l, a in vs if a["ratio_lo90"] is not None and a["ratio_lo90"] > 1)))
        med.append(f"{statistics.median(a['ratio'] for l, a in vs):.3g}")
    every = set.intersection(*sig_sets) if sig_sets else set()
    print(f"| {sw} | {nv} | {'; '.join(best)} | {', '.join(better)} | {', '.join(worse)} | {', '.join(med)} | "
          f"{', '.join(sorted(every)) if every else 'none'} |")

for sw in ["skip-each", "duplicate-each"]:
    per = [load(s, sw) for s in seeds]
    if any(p is None for p in per):
        continue
    print(f"\n{sw}: error ratio per slot at each k (mean over seeds; per-seed values in brackets)\n")
    print("| variant | " + " | ".join(f"k = {k}" for k in ks) + " |")
    print("|---|" + "---|" * len(ks))
    for i, v in enumerate(per[0]["variants"]):
        cells = []
        for k in ks:
            r = [at(p["variants"][i], k)["ratio"] for p in per]
            cells.append(f"{fmt(mean_or_none(r))} ({', '.join(fmt(x) for x in r)})")
        print(f"| {v['label']} | " + " | ".join(cells) + " |")

per = [load(s, "loops") for s in seeds]
if all(p is not None for p in per):
    print(f"\nloops: the whole 6-block body run L times, error ratio at k = {K} (mean over seeds)\n")
    print("| L | " + " | ".join(str(v["loops"]) for v in per[0]["variants"][:8]) + " |")
    print("|---|" + "---|" * min(8, len(per[0]["variants"])))
    print("| ratio | " + " | ".join(
        fmt(mean_or_none(at(p['variants'][i], K)['ratio'] for p in per)) for i in range(min(8, len(per[0]['variants'])))) + " |")
