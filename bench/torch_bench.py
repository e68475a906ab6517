#!/usr/bin/python3
"""PyTorch reference timing of one training step (forward + backward + Adam)
of Garg et al.'s model (bench/torch_garg.py), with the same config as
`iclab bench`. Prints one JSON object. Uses Debian's python3-torch."""
import argparse
import json
import resource
import time

import torch

from torch_garg import GargModel

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
def median(t):
    t = sorted(t)
    return t[len(t) // 2] if len(t) % 2 else 0.5 * (t[len(t) // 2 - 1] + t[len(t) // 2])


times.sort()
med = median(times)
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
    extra = {"inference_batch": a.inference, "inference_ms_per_batch": median(ti),
             "inference_prompts_per_s": a.inference / (median(ti) / 1e3)}
print(json.dumps({**extra, "impl": "pytorch " + torch.__version__, "ms_per_step": med, "ms_min": times[0], "ms_max": times[-1],
                  "threads": torch.get_num_threads(),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
                  "blas": torch.__config__.show().split("BLAS_INFO=")[1].split(",")[0] if "BLAS_INFO=" in torch.__config__.show() else "?"}))
