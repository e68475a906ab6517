#!/usr/bin/python3
"""bench/benchstat.py: the statistics of bench/run.sh, and its refusal to
print a speed-up measured on a busy machine.

Each side (iclab, PyTorch) is run twice, interleaved (iclab, PyTorch, iclab,
PyTorch), and each run reports the median and quartiles of its repeated
steps. A machine whose other processes take cores away shows it in two ways:
the steps of one run spread (a step that lost its core for a while takes
twice as long), or two runs of the same program disagree (one of them ran
while something else did). So a run counts as quiet when its interquartile
range is at most MAX_SPREAD of its median, and a side as quiet when each of
its runs is and their medians agree within MAX_PAIR; the speed-up is printed
only when both sides are quiet and ran the same BLAS kernels, as the ratio of
the medians of the two runs' medians (for a pair: their mean). Otherwise the
cell says why it was refused. `python3 bench/benchstat.py --help` for the
command line run.sh uses; tests/benchstat_test.sh feeds it noisy and quiet
series.
"""
import json
import os
import sys

# Thresholds, overridable from the environment (BENCH_MAX_SPREAD,
# BENCH_MAX_PAIR) for a machine whose quiet runs spread more. On the shared
# Zen 5 machine of docs/performance.md a quiet small-model run's fastest
# step was 1.7% below its median, while runs taken under a load average of
# 13 spread 12-53% (IQR / median) and runs of one binary differed by up to
# 43%.
MAX_SPREAD = float(os.environ.get("BENCH_MAX_SPREAD", "0.10"))
MAX_PAIR = float(os.environ.get("BENCH_MAX_PAIR", "0.10"))


def quantile(values, q):
    """The q-quantile of values, linear between neighbours (numpy's default,
    and src/bench.c's ic_bench_quantile)."""
    v = sorted(values)
    if not v:
        raise ValueError("no values")
    pos = q * (len(v) - 1)
    i = int(pos)
    if i >= len(v) - 1:
        return v[-1]
    return v[i] + (pos - i) * (v[i + 1] - v[i])


def summary(times):
    """median, quartiles, min and max of a series of step times (ms)."""
    return {"median": quantile(times, 0.5), "q1": quantile(times, 0.25), "q3": quantile(times, 0.75),
            "min": min(times), "max": max(times)}


def median(values):
    return quantile(values, 0.5)


def busy_reason(runs, max_spread=None, max_pair=None):
    """None when the runs (dicts with median, q1, q3) of one program look
    quiet, else one line saying why not."""
    max_spread = MAX_SPREAD if max_spread is None else max_spread
    max_pair = MAX_PAIR if max_pair is None else max_pair
    if not runs:
        return "no runs"
    for k, r in enumerate(runs):
        if not (r["median"] > 0):
            return f"run {k + 1} has no median"
        spread = (r["q3"] - r["q1"]) / r["median"]
        if spread > max_spread:
            return f"run {k + 1}'s steps spread {100 * spread:.0f}% (IQR / median) > {100 * max_spread:.0f}%"
    meds = [r["median"] for r in runs]
    pair = max(meds) / min(meds) - 1
    if pair > max_pair:
        return f"its runs' medians differ by {100 * pair:.0f}% > {100 * max_pair:.0f}%"
    return None


def speedup(ic_runs, pt_runs, ic_kernels=None, pt_kernels=None, max_spread=None, max_pair=None):
    """(ratio or None, why): PyTorch's time over iclab's (median of each
    side's run medians), or None with the reason it is refused."""
    if ic_kernels is not None and pt_kernels is not None and ic_kernels.lower() != pt_kernels.lower():
        return None, f"kernels differ (iclab {ic_kernels}, PyTorch {pt_kernels})"
    for name, runs in (("iclab", ic_runs), ("PyTorch", pt_runs)):
        why = busy_reason(runs, max_spread, max_pair)
        if why:
            return None, f"machine busy: {name} {why}"
    return median([r["median"] for r in pt_runs]) / median([r["median"] for r in ic_runs]), "quiet"


def _runs(objs, med, q1, q3):
    return [{"median": o[med], "q1": o[q1], "q3": o[q3]} for o in objs]


def _fmt_runs(runs, fmt="{:.1f}"):
    return " / ".join(fmt.format(r["median"]) for r in runs)


def train_row(name, ceil, ic, pt):
    """One markdown row of the training table from the JSON objects of the
    iclab runs and PyTorch runs (None entries: PyTorch not installed)."""
    icr = _runs(ic, "ms_per_step", "ms_q1", "ms_q3")
    icm = median([r["median"] for r in icr])
    flops = ic[0]["flops_per_step"]
    cells = [name, _fmt_runs(icr), f"{flops / (icm * 1e6):.1f}", f"{100 * flops / (icm * 1e6) / ceil:.0f}%",
             f"{max(o['peak_rss_mb'] for o in ic):.0f}"]
    if pt and all(pt):
        ptr = _runs(pt, "ms_per_step", "ms_q1", "ms_q3")
        ptm = median([r["median"] for r in ptr])
        ratio, why = speedup(icr, ptr, ic[0].get("blas_kernels"), pt[0].get("blas_kernels"))
        cells += [_fmt_runs(ptr), f"{flops / (ptm * 1e6):.1f}", f"{max(o['peak_rss_mb'] for o in pt):.0f}",
                  f"{ratio:.2f}x" if ratio is not None else f"refused ({why})"]
    else:
        cells += ["n/a", "n/a", "n/a", "n/a (PyTorch not installed)"]
    return "| " + " | ".join(cells) + " |"


def inference_row(name, ic, pt):
    """One markdown row of the inference table (prompts per second; the
    busy check runs on the times per batch)."""
    icr = _runs(ic, "inference_ms_per_batch", "inference_ms_q1", "inference_ms_q3")
    batch = ic[0]["inference_batch"]
    cells = [name, " / ".join(f"{batch / (r['median'] / 1e3):.0f}" for r in icr)]
    if pt and all(pt):
        ptr = _runs(pt, "inference_ms_per_batch", "inference_ms_q1", "inference_ms_q3")
        ratio, why = speedup(icr, ptr, ic[0].get("blas_kernels"), pt[0].get("blas_kernels"))
        cells += [" / ".join(f"{batch / (r['median'] / 1e3):.0f}" for r in ptr),
                  f"{ratio:.2f}x" if ratio is not None else f"refused ({why})"]
    else:
        cells += ["n/a", "n/a (PyTorch not installed)"]
    return "| " + " | ".join(cells) + " |"


USAGE = """usage: benchstat.py train NAME CEILING IC1.json IC2.json [PT1.json PT2.json]
       benchstat.py inference NAME IC1.json IC2.json [PT1.json PT2.json]
Prints one markdown row; the speed-up cell is refused on a busy machine
(thresholds: BENCH_MAX_SPREAD, BENCH_MAX_PAIR in the environment)."""


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(USAGE)
        return 0 if len(argv) >= 2 else 2

    def load(paths):
        return [json.load(open(p)) for p in paths]

    try:
        if argv[1] == "train" and len(argv) in (6, 8):
            ic, pt = load(argv[4:6]), load(argv[6:8])
            print(train_row(argv[2], float(argv[3]), ic, pt))
        elif argv[1] == "inference" and len(argv) in (5, 7):
            ic, pt = load(argv[3:5]), load(argv[5:7])
            print(inference_row(argv[2], ic, pt))
        else:
            print(USAGE, file=sys.stderr)
            return 2
    except (OSError, ValueError, KeyError) as e:
        print(f"benchstat.py: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
