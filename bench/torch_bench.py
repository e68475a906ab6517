#!/usr/bin/python3
"""PyTorch reference timing of one training step (forward + backward + Adam)
of Garg et al.'s model (bench/torch_garg.py), with the same config as
`iclab bench`. Prints one JSON object, with the quartiles of the steps
(bench/benchstat.py) and the kernels PyTorch ran: the OpenBLAS kernel set it
loaded (openblas_get_corename of the libopenblas in this process, which
reads OPENBLAS_CORETYPE when it loads: bench/run.sh sets it to iclab's) and
ATen's own vector ISA. Uses Debian's python3-torch."""
import argparse
import ctypes
import json
import os
import resource
import time

import torch

from benchstat import quantile
from torch_garg import GargModel


def openblas_info():
    """(corename, config, threads) of the OpenBLAS loaded in this process,
    or ("?", reason, 0) when none is."""
    paths = sorted({line.split()[-1] for line in open("/proc/self/maps") if "libopenblas" in line})
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
            lib.openblas_get_corename.restype = ctypes.c_char_p
            lib.openblas_get_config.restype = ctypes.c_char_p
            return (lib.openblas_get_corename().decode(), lib.openblas_get_config().decode(),
                    lib.openblas_get_num_threads())
        except (OSError, AttributeError):
            continue
    return "?", "no OpenBLAS loaded (BLAS: " + blas_info() + ")", 0


def blas_info():
    show = torch.__config__.show()
    return show.split("BLAS_INFO=")[1].split(",")[0] if "BLAS_INFO=" in show else "?"


def cpu_capability():
    for line in torch.__config__.show().splitlines():
        if "CPU capability usage:" in line:
            return line.split(":", 1)[1].strip()
    return "?"

p = argparse.ArgumentParser()
for k, v in dict(n_dims=20, n_positions=101, n_embd=256, n_layer=12, n_head=8, n_points=41, batch_size=64,
                 steps=5, warmup=1, threads=2, inference=0).items():
    p.add_argument("--" + k, type=int, default=v)
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)
m = GargModel(a.n_dims, a.n_positions, a.n_embd, a.n_layer, a.n_head)
opt = torch.optim.Adam(m.parameters(), lr=1e-4)
xs = torch.randn(a.batch_size, a.n_points, a.n_dims)
w = torch.randn(a.batch_size, a.n_dims, 1)
ys = (xs @ w)[:, :, 0]
times = []
for i in range(a.warmup + a.steps):
    t0 = time.perf_counter()
    opt.zero_grad()
    loss = ((m(xs, ys)[-1] - ys) ** 2).mean()
    loss.backward()
    opt.step()
    dt = (time.perf_counter() - t0) * 1e3
    if i >= a.warmup:
        times.append(dt)
times.sort()
med = quantile(times, 0.5)
extra = {}
if a.inference:
    # forward passes alone on `inference` prompts, no autograd
    xi = torch.randn(a.inference, a.n_points, a.n_dims)
    yi = (xi @ torch.randn(a.inference, a.n_dims, 1))[:, :, 0]
    ti = []
    with torch.no_grad():
        for i in range(1 + a.steps):
            t0 = time.perf_counter()
            m(xi, yi)
            if i >= 1:
                ti.append((time.perf_counter() - t0) * 1e3)
    mi = quantile(ti, 0.5)
    extra = {"inference_batch": a.inference, "inference_ms_per_batch": mi, "inference_ms_q1": quantile(ti, 0.25),
             "inference_ms_q3": quantile(ti, 0.75), "inference_prompts_per_s": a.inference / (mi / 1e3)}
core, config, blas_threads = openblas_info()
print(json.dumps({**extra, "impl": "pytorch " + torch.__version__, "ms_per_step": med, "ms_q1": quantile(times, 0.25),
                  "ms_q3": quantile(times, 0.75), "ms_min": times[0], "ms_max": times[-1],
                  "threads": torch.get_num_threads(),
                  "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "default"),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
                  "blas": blas_info(), "blas_kernels": core, "blas_config": config, "blas_threads": blas_threads,
                  "cpu_capability": cpu_capability()}))
