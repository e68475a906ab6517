#!/usr/bin/env python3
"""Tables for the probing report from experiments/probe/run.sh outputs
(standard library only). usage: report.py [OUT]"""
import csv
import math
import os
import sys

root = sys.argv[1] if len(sys.argv) > 1 else "runs/probe"
models = sorted(d for d in os.listdir(root) if os.path.isfile(os.path.join(root, d, "sime_best.csv")))


def rows(m, f):
    return list(csv.DictReader(open(os.path.join(root, m, f))))


def fmt(x):
    return "" if x is None or math.isnan(x) else f"{x:.3g}"


def num(s):
    """a CSV number field; iclab leaves an undefined value (NaN, Inf) empty"""
    return float(s) if s not in ("", None) else math.nan


def f(s, spec):
    """a CSV field formatted with spec, '' where it is undefined"""
    x = num(s)
    return "" if math.isnan(x) else format(x, spec)


def fit(xs, ys):
    """least-squares line y = a + b x and its R^2"""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    b = sxy / sxx if sxx else 0.0
    a = my - b * mx
    ss = sum((y - my) ** 2 for y in ys)
    res = sum((y - a - b * x) ** 2 for x, y in zip(xs, ys))
    return a, b, (1 - res / ss) if ss else float("nan")


for m in models:
    sb = rows(m, "sime_best.csv")
    lens = {r["label"]: r for r in rows(m, "lens.csv")}
    pr = {}
    for r in rows(m, "probes.csv"):
        pr.setdefault(r["label"], {})[r["target"]] = r
    geo = {r["label"]: r for r in rows(m, "geometry_states.csv")}
    abl = {}
    for r in rows(m, "ablation.csv"):
        abl.setdefault(r["label"], {})[int(r["rank"])] = num(r["err_all"])
    ks = [c for c in rows(m, "lens.csv")[0] if c.startswith("err_k")]
    print(f"\n### {m}\n")
    print(f"| state | lens err (all k) | lens {ks[-1].replace('err_', '')} | best Newton k (SimE) | best GD k (SimE) | "
          f"SimE least squares | probe R² y (shuffled) | probe R² w | probe R² Xᵀy/i | probe R² ŵ | block influence | "
          f"err, top-1 direction removed | err, whole update removed |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in sb:
        l = r["label"]
        p = pr.get(l, {})
        a = abl.get(l, {})
        full = a[max(a)] if a else None
        g = geo.get(l, {})
        print(f"| {l} | {f(lens[l]['err_all'], '.3g')} | {f(lens[l][ks[-1]], '.3g')} | {r['best_newton_steps']} "
              f"({f(r['sime_newton'], '.2f')}) | {r['best_gd_steps']} ({f(r['sime_gd'], '.2f')}) | "
              f"{f(r['sime_least_squares'], '.2f')} | "
              f"{f(p['y']['r2'], '.2f')} ({f(p['y']['r2_shuffled'], '.2f')}) | {f(p['w']['r2'], '.2f')} | "
              f"{f(p['xty']['r2'], '.2f')} | {f(p['lsq']['r2'], '.2f')} | "
              f"{f(g.get('influence_all'), '.3f')} | "
              f"{fmt(a.get(1))} | {fmt(full)} |")
    # growth of the matched step with depth (block states only, after the first block, where SimE is informative)
    st = [(i, r) for i, r in enumerate(sb) if ":" in r["label"]]
    if len(st) >= 3:
        xs = list(range(1, len(st) + 1))
        nk = [float(r["best_newton_steps"]) for _, r in st]
        gk = [float(r["best_gd_steps"]) for _, r in st]
        lg = lambda v: [math.log10(max(1.0, x)) for x in v]
        _, b1, r1 = fit(xs, nk)
        _, _, r1l = fit(xs, lg(nk))
        _, b2, r2 = fit(xs, lg(gk))
        _, _, r2l = fit(xs, gk)
        print(f"\nMatched step vs depth (block applications 1..{len(st)}): Newton k: linear fit {b1:+.2f} per block, "
              f"R² {r1:.2f} (exponential fit R² {r1l:.2f}); GD k: exponential fit ×{10 ** b2:.2f} per block, R² {r2:.2f} "
              f"(linear fit R² {r2l:.2f}). Newton k per state: {', '.join(str(int(x)) for x in nk)}; "
              f"GD k: {', '.join(str(int(x)) for x in gk)}.")
    print(f"\nIntact final error (all positions): {abl[next(iter(abl))][0]:.4g}" if abl else "")
