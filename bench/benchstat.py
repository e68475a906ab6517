#!/usr/bin/python3
"""bench/benchstat.py: the statistics of bench/run.sh, and its refusal to
print a speed-up measured on a busy machine.

Each side (iclab, PyTorch) is run twice, interleaved (iclab, PyTorch, iclab,
PyTorch), each run under `benchstat.py measure`, which records how much CPU
time the machine's OTHER processes used while it ran: the busy time of all
CPUs over the run (/proc/stat: user, nice, system, irq, softirq and steal,
i.e. also what the hypervisor took) minus the CPU time of the run's own
process tree (wait4's rusage: every thread, every waited-for child),
divided by the run's wall time: "other processes used X cores". That is
the machine's load during exactly that run, whatever the benchmarked
program's own behaviour; /proc/loadavg is not: a one-minute exponential
average of runnable threads, which counts the run's own threads, cannot
tell 2 busy threads of ours from 2 of someone else's, and lags a run of a
few seconds by a minute. Processes that start and end within the run (a
compiler) are counted too, which walking /proc/<pid> would miss.

The ratio is refused when another process used more than MAX_OTHERS cores
on average during any run of either side ("machine busy: ..."), or when the
sides ran different BLAS kernels. Otherwise it is printed as the ratio of
the medians of the two runs' medians (for a pair: their mean), with the
range the quartiles of all four runs allow: min(PyTorch q1) / max(iclab q3)
to max(PyTorch q3) / min(iclab q1).
A side whose own steps spread (IQR / median above MAX_SPREAD) or whose two
runs disagree (by more than MAX_PAIR) is flagged "noisy (its own
variance)": on a quiet machine that spread is the program's (PyTorch's
OpenMP and OpenBLAS threads sharing two cores), not the machine's, and it
is what the range shows. `python3 bench/benchstat.py --help` for the
command line run.sh uses; tests/benchstat_test.sh feeds it quiet, noisy
and busy runs.
"""
import json
import os
import subprocess
import sys
import time

# Thresholds, overridable from the environment (BENCH_MAX_SPREAD,
# BENCH_MAX_PAIR) for a machine whose quiet runs spread more. On the shared
# Zen 5 machine of docs/performance.md a quiet small-model run's fastest
# step was 1.7% below its median, while runs taken under a load average of
# 13 spread 12-53% (IQR / median) and runs of one binary differed by up to
# 43%.
MAX_SPREAD = float(os.environ.get("BENCH_MAX_SPREAD", "0.10"))
MAX_PAIR = float(os.environ.get("BENCH_MAX_PAIR", "0.10"))
# Cores the other processes may use, on average over a run, before its ratio
# is refused (BENCH_MAX_OTHERS). 0.15 of a core: a sleeping desktop or an ssh
# session stays far below it; one build job or training process (a whole
# core) is far above. /proc/stat counts in ticks (1/100 s per CPU), so over a
# run of a few seconds on 2 CPUs the measurement itself is good to ~0.01 core.
MAX_OTHERS = float(os.environ.get("BENCH_MAX_OTHERS", "0.15"))


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


def noisy_reason(runs, max_spread=None, max_pair=None):
    """None when the runs (dicts with median, q1, q3) of one program are
    steady, else one line saying how they are not: a run's steps spread,
    or its runs disagree. Not a refusal: the program's own variance."""
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


def busy_reason(sides, max_others=None):
    """None when no other process used more than max_others cores during any
    run, else the one line of the refusal. sides: (name, runs), each run a
    dict whose "machine" is what `measure` recorded (absent: refused, the
    load is unknown)."""
    max_others = MAX_OTHERS if max_others is None else max_others
    worst = None
    for name, runs in sides:
        for k, r in enumerate(runs):
            m = r.get("machine")
            if not m or "others_cores" not in m:
                return f"machine load unknown: {name} run {k + 1} was not run under benchstat.py measure"
            if worst is None or m["others_cores"] > worst[0]:
                worst = (m["others_cores"], name, k + 1, m.get("wall_s", 0.0))
    if worst and worst[0] > max_others:
        return (f"machine busy: other processes used {worst[0]:.2f} cores during {worst[1]} run {worst[2]} "
                f"({worst[3]:.1f} s; limit {max_others:.2f})")
    return None


def speedup(ic_runs, pt_runs, ic_kernels=None, pt_kernels=None, max_spread=None, max_pair=None, max_others=None):
    """(ratio, range, notes) or (None, None, why): PyTorch's time over iclab's
    (median of each side's run medians), the range its quartiles allow
    (min PyTorch q1 / max iclab q3, max PyTorch q3 / min iclab q1) and the
    sides flagged noisy; or None with the reason it is refused."""
    if ic_kernels is not None and pt_kernels is not None and ic_kernels.lower() != pt_kernels.lower():
        return None, None, f"kernels differ (iclab {ic_kernels}, PyTorch {pt_kernels})"
    why = busy_reason((("iclab", ic_runs), ("PyTorch", pt_runs)), max_others)
    if why:
        return None, None, why
    notes = []
    for name, runs in (("iclab", ic_runs), ("PyTorch", pt_runs)):
        n = noisy_reason(runs, max_spread, max_pair)
        if n:
            notes.append(f"{name} noisy (its own variance: {n})")
    ratio = median([r["median"] for r in pt_runs]) / median([r["median"] for r in ic_runs])
    lo = min(r["q1"] for r in pt_runs) / max(r["q3"] for r in ic_runs)
    hi = max(r["q3"] for r in pt_runs) / min(r["q1"] for r in ic_runs)
    return ratio, (lo, hi), "; ".join(notes)


def speedup_cell(ratio, rng, why):
    """The table cell: "5.21x [3.90-7.10]" (+ "; PyTorch noisy (...)"), or the refusal."""
    if ratio is None:
        return f"refused ({why})"
    return f"{ratio:.2f}x [{rng[0]:.2f}-{rng[1]:.2f}]" + (f"; {why}" if why else "")


def _runs(objs, med, q1, q3):
    return [{"median": o[med], "q1": o[q1], "q3": o[q3], "machine": o.get("machine")} for o in objs]


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
        cells += [_fmt_runs(ptr), f"{flops / (ptm * 1e6):.1f}", f"{max(o['peak_rss_mb'] for o in pt):.0f}",
                  speedup_cell(*speedup(icr, ptr, ic[0].get("blas_kernels"), pt[0].get("blas_kernels")))]
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
        cells += [" / ".join(f"{batch / (r['median'] / 1e3):.0f}" for r in ptr),
                  speedup_cell(*speedup(icr, ptr, ic[0].get("blas_kernels"), pt[0].get("blas_kernels")))]
    else:
        cells += ["n/a", "n/a (PyTorch not installed)"]
    return "| " + " | ".join(cells) + " |"


def cpu_busy_s():
    """(busy seconds of all CPUs since boot, of which steal): /proc/stat's
    first line, user + nice + system + irq + softirq + steal (guest time is
    inside user; idle and iowait are not busy). BENCH_PROC_STAT names another
    file in that format (tests/benchstat_test.sh)."""
    with open(os.environ.get("BENCH_PROC_STAT", "/proc/stat")) as f:
        v = [int(x) for x in f.readline().split()[1:]] + [0] * 8
    hz = os.sysconf("SC_CLK_TCK")
    user, nice, system, _idle, _iowait, irq, softirq, steal = v[:8]
    return (user + nice + system + irq + softirq + steal) / hz, steal / hz


def measure(cmd):
    """Runs cmd (its stdout: one JSON object), adds "machine": the run's wall
    time, its own CPU time (the process tree, all threads), the CPU time of
    everything else and that as cores on average ("others_cores"; steal
    included, and shown on its own), prints the object; returns cmd's exit
    status."""
    busy0, steal0 = cpu_busy_s()
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE)
    out = p.stdout.read()
    p.stdout.close()
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    busy1, steal1 = cpu_busy_s()
    p.returncode = rc = os.waitstatus_to_exitcode(status)
    if rc != 0:
        sys.stdout.buffer.write(out)
        return rc
    own = ru.ru_utime + ru.ru_stime
    others = max(0.0, (busy1 - busy0) - own)
    o = json.loads(out)
    o["machine"] = {"wall_s": wall, "own_cpu_s": own, "others_cpu_s": others, "others_cores": others / wall,
                    "steal_s": steal1 - steal0, "cpus": os.cpu_count()}
    print(json.dumps(o))
    return 0


def loads_line(name, ic, pt):
    """NAME: what the other processes used during each run (cores)."""
    def side(objs):
        return " / ".join(f"{o['machine']['others_cores']:.2f}" if o.get("machine") else "?" for o in objs)
    line = f"{name}: other processes used {side(ic)} cores during the iclab runs"
    if pt and all(pt):
        line += f", {side(pt)} during the PyTorch runs"
    return line


USAGE = """usage: benchstat.py train NAME CEILING IC1.json IC2.json [PT1.json PT2.json]
       benchstat.py inference NAME IC1.json IC2.json [PT1.json PT2.json]
       benchstat.py loads NAME IC1.json IC2.json [PT1.json PT2.json]
       benchstat.py measure -- COMMAND [ARGS...]
train/inference print one markdown row; the speed-up cell is refused when other
processes used more than BENCH_MAX_OTHERS cores (default 0.15) during a run, and
a side whose own steps spread more than BENCH_MAX_SPREAD (IQR / median, 0.10) or
whose runs differ by more than BENCH_MAX_PAIR (0.10) is flagged noisy.
loads prints what the other processes used during each run.
measure runs COMMAND (which prints one JSON object) and adds "machine": the CPU
time other processes used while it ran."""


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(USAGE)
        return 0 if len(argv) >= 2 else 2

    def load(paths):
        return [json.load(open(p)) for p in paths]

    if argv[1] == "measure":
        cmd = argv[3:] if len(argv) > 2 and argv[2] == "--" else argv[2:]
        if not cmd:
            print(USAGE, file=sys.stderr)
            return 2
        try:
            return measure(cmd)
        except (OSError, ValueError) as e:
            print(f"benchstat.py measure: {cmd[0]}: {e}", file=sys.stderr)
            return 1
    try:
        if argv[1] == "loads" and len(argv) in (5, 7):
            print(loads_line(argv[2], load(argv[3:5]), load(argv[5:7])))
        elif argv[1] == "train" and len(argv) in (6, 8):
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
