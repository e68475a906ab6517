"""Shared helpers of the experiment report scripts (standard library only):
reading sweep directories, the pooled-over-seeds ratio, `iclab compare`, and
two small SVG figures `iclab plot` does not draw (a labelled scatter with its
Pareto front, horizontal bars with intervals on a log axis).

The pooled ratio is the definition of src/page.c's ic_page_pool_seeds (the
demo's pooled line): geometric mean of the per-seed paired ratios with a
Student-t 90% interval over the seeds, on the log scale."""
import json
import math
import os
import struct
import subprocess

PLATEAU = 0.5  # error / d at k = 2d above this: the run stayed on the loss plateau (zero estimator ~0.95)
T90 = {1: 6.314, 2: 2.920, 3: 2.353, 4: 2.132, 5: 2.015, 6: 1.943, 7: 1.895, 8: 1.860, 9: 1.833}
OKABE_ITO = ["#E69F00", "#56B4E9", "#009E73", "#0072B2", "#D55E00", "#CC79A7", "#F0E442", "#000000"]


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def seeds_of(root, config):
    """The seed directories (seedS) of CONFIG in a sweep directory, sorted by S."""
    cdir = os.path.join(root, config)
    if not os.path.isdir(cdir):
        return []
    return sorted((s for s in os.listdir(cdir) if s.startswith("seed")), key=lambda s: int(s[4:]))


def eval_curve(run_dir, predictor="transformer", setting="standard"):
    """(mean, lo90, hi90) lists of iclab eval's results.json, or None."""
    r = load(os.path.join(run_dir, "eval", "results.json"))
    if not r:
        return None
    p = r["settings"][setting].get(predictor)
    return (p["mean"], p["lo90"], p["hi90"]) if p else None


def n_params(checkpoint):
    """Parameter count of a safetensors checkpoint (its header's shapes)."""
    with open(checkpoint, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        h = json.loads(f.read(n))
    return sum(math.prod(t["shape"]) for k, t in h.items() if k != "__metadata__")


def pool(ratios):
    """(geometric mean, lo, hi) over seeds; lo = hi = None with one seed."""
    r = [x for x in ratios if x is not None and x > 0 and math.isfinite(x)]
    if not r:
        return None, None, None
    logs = [math.log(x) for x in r]
    m = sum(logs) / len(logs)
    if len(r) < 2:
        return math.exp(m), None, None
    sd = math.sqrt(sum((x - m) ** 2 for x in logs) / (len(r) - 1))
    half = T90.get(len(r) - 1, 1.645) * sd / math.sqrt(len(r))
    return math.exp(m), math.exp(m - half), math.exp(m + half)


def fmt_pool(p, nd=3):
    v, lo, hi = p
    if v is None:
        return "n/a"
    return ("%.*g" % (nd, v)) + ("" if lo is None else " [%.*g, %.*g]" % (nd, lo, nd, hi))


def compare(iclab, models, labels, out, loops=None, ks=None, prompts=1280, seed=4242, threads=1):
    """Runs `iclab compare` once (skipped when OUT/compare.json has these labels) and
    returns {label: [{"k", "err", "ratio", "ratio_lo90", "ratio_hi90"}, ...]}."""
    path = os.path.join(out, "compare.json")
    c = load(path)
    if not c or [m["label"] for m in c["models"]] != list(labels):  # none yet, or of other models: (re)run
        cmd = [iclab, "compare", "--models", ",".join(models), "--labels", ",".join(labels), "--out", out,
               "--prompts", str(prompts), "--seed", str(seed), "--threads", str(threads)]
        if loops:
            cmd += ["--loops", ",".join(str(x) for x in loops)]
        if ks:
            cmd += ["--k", ",".join(str(k) for k in ks)]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        c = load(path)
    return {m["label"]: m["at_k"] for m in c["models"]}


def _esc(s):
    return str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _log_ticks(lo, hi):
    ticks = []
    e = math.floor(math.log10(lo))
    while 10 ** e <= hi * 1.0001:
        for m in (1, 2, 5):
            v = m * 10 ** e
            if lo <= v <= hi:
                ticks.append(v)
        e += 1
    return ticks


def _lin_ticks(lo, hi, n=6):
    step = 10 ** math.floor(math.log10((hi - lo) / n))
    for m in (1, 2, 5, 10):
        if (hi - lo) / (m * step) <= n:
            step *= m
            break
    v = math.ceil(lo / step) * step
    out = []
    while v <= hi + 1e-12:
        out.append(round(v, 12))
        v += step
    return out


def _axis(lo, hi, log):
    if log:
        return lo / 1.3, hi * 1.3
    pad = (hi - lo) * 0.08 or 1.0
    return lo - pad, hi + pad


def _fmt_tick(v):
    return ("%g" % v) if abs(v) >= 1e-3 else "%.0e" % v


def _groups(keys):
    """The distinct keys in their first-seen order (a legend's order)."""
    return list(dict.fromkeys(keys))


def _svg_open(W, H, title_x, title):
    """The opening lines of a W x H figure: white background, the title at title_x."""
    return ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="11">' % (W, H),
            '<rect width="100%" height="100%" fill="white"/>',
            '<text x="%d" y="22" font-size="14">%s</text>' % (title_x, _esc(title))]


def scatter(path, points, xlabel, ylabel, title, logx=True, logy=True, front=True):
    """points: [(label, x, y, group)]; draws each point with its label, a colour
    per group, and (front) the Pareto front (lower y at no more x) as a line."""
    W, H, L, R, T, B = 900, 480, 70, 170, 40, 55  # the legend goes in the right margin
    pts = [p for p in points if p[1] and p[2] and math.isfinite(p[1]) and math.isfinite(p[2])]
    xs, ys = [p[1] for p in pts], [p[2] for p in pts]
    x0, x1 = _axis(min(xs), max(xs), logx)
    y0, y1 = _axis(min(ys), max(ys), logy)

    def sx(x):
        f = (math.log(x) - math.log(x0)) / (math.log(x1) - math.log(x0)) if logx else (x - x0) / (x1 - x0)
        return L + f * (W - L - R)

    def sy(y):
        f = (math.log(y) - math.log(y0)) / (math.log(y1) - math.log(y0)) if logy else (y - y0) / (y1 - y0)
        return H - B - f * (H - T - B)

    groups = _groups(p[3] for p in pts)
    o = _svg_open(W, H, L, title)
    for v in (_log_ticks(x0, x1) if logx else _lin_ticks(x0, x1)):
        o.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>' % (sx(v), T, sx(v), H - B))
        o.append('<text x="%.1f" y="%d" text-anchor="middle">%s</text>' % (sx(v), H - B + 15, _fmt_tick(v)))
    for v in (_log_ticks(y0, y1) if logy else _lin_ticks(y0, y1)):
        o.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>' % (L, sy(v), W - R, sy(v)))
        o.append('<text x="%d" y="%.1f" text-anchor="end">%s</text>' % (L - 5, sy(v) + 4, _fmt_tick(v)))
    o.append('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#333"/>' % (L, T, W - L - R, H - T - B))
    o.append('<text x="%d" y="%d" text-anchor="middle">%s</text>' % ((L + W - R) // 2, H - 15, _esc(xlabel)))
    o.append('<text transform="translate(16,%d) rotate(-90)" text-anchor="middle">%s</text>' % ((T + H - B) // 2, _esc(ylabel)))
    if front:
        f, best = [], float("inf")
        for p in sorted(pts, key=lambda p: (p[1], p[2])):
            if p[2] < best:
                best = p[2]
                f.append(p)
        o.append('<polyline fill="none" stroke="#999" stroke-dasharray="5,4" points="%s"/>' %
                 " ".join("%.1f,%.1f" % (sx(p[1]), sy(p[2])) for p in f))
    for p in pts:
        c = OKABE_ITO[groups.index(p[3]) % len(OKABE_ITO)]
        o.append('<circle cx="%.1f" cy="%.1f" r="4" fill="%s"/>' % (sx(p[1]), sy(p[2]), c))
        o.append('<text x="%.1f" y="%.1f" fill="%s">%s</text>' % (sx(p[1]) + 6, sy(p[2]) + 4, c, _esc(p[0])))
    for i, g in enumerate(groups):
        c = OKABE_ITO[i % len(OKABE_ITO)]
        o.append('<circle cx="%d" cy="%d" r="4" fill="%s"/><text x="%d" y="%d">%s</text>' %
                 (W - R + 14, T + 14 + 15 * i, c, W - R + 22, T + 18 + 15 * i, _esc(g)))
    o.append("</svg>")
    _write(path, o)


def bars(path, rows, xlabel, title, ref=1.0):
    """rows: [(label, value, lo, hi, group)] drawn as horizontal bars on a log
    axis from ref, with interval whiskers (lo/hi may be None)."""
    W, L, R, T, B, rowh = 800, 240, 30, 40, 50, 18
    H = T + B + rowh * len(rows)
    vals = [v for r in rows for v in (r[1], r[2], r[3]) if v]
    x0, x1 = min(vals + [ref]) / 1.25, max(vals + [ref]) * 1.25

    def sx(x):
        return L + (math.log(x) - math.log(x0)) / (math.log(x1) - math.log(x0)) * (W - L - R)

    groups = _groups(r[4] for r in rows)
    o = _svg_open(W, H, 10, title)
    for v in _log_ticks(x0, x1):
        o.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>' % (sx(v), T, sx(v), H - B))
        o.append('<text x="%.1f" y="%d" text-anchor="middle">%s</text>' % (sx(v), H - B + 15, _fmt_tick(v)))
    for i, (label, v, lo, hi, g) in enumerate(rows):
        y = T + i * rowh
        c = OKABE_ITO[groups.index(g) % len(OKABE_ITO)]
        o.append('<text x="%d" y="%d" text-anchor="end">%s</text>' % (L - 6, y + 13, _esc(label)))
        if v:
            a, b = sorted((sx(ref), sx(v)))
            o.append('<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s"/>' % (a, y + 3, max(b - a, 1), rowh - 6, c))
        if lo and hi:
            o.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#000"/>' % (sx(lo), y + rowh // 2, sx(hi), y + rowh // 2))
    o.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#000" stroke-dasharray="4,3"/>' % (sx(ref), T, sx(ref), H - B))
    o.append('<text x="%d" y="%d" text-anchor="middle">%s</text>' % ((L + W - R) // 2, H - 15, _esc(xlabel)))
    o.append("</svg>")
    _write(path, o)


def _write(path, lines):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(tmp, path)
