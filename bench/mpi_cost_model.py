#!/usr/bin/env python3
"""The cost of more nodes for data-parallel training (docs/distributed.md).

Per step each rank computes the forward and backward of its slice of the
batch (ceil(B/N) of B prompts), then the gradient (4 bytes per parameter, plus
8 for the loss) is summed with one MPI_Allreduce, which a ring algorithm does
by sending and receiving 2 (N-1)/N of the buffer on every link, in 2 (N-1)
messages. Communication is not overlapped with the backward (iclab reduces
after it), so
    t(N) = t1 * ceil(B/N) / B  +  2 (N-1)/N * S / BW  +  2 (N-1) * alpha
with t1 the measured step on one node, S the bytes reduced, BW the link's
bandwidth and alpha its per-message latency. A config stops scaling at the
first N where the communication takes as long as the compute (from there
each added node buys less than half its worth), or at N = B (a rank needs a
prompt), whichever comes first. Also printed: the N with the shortest step.

usage: mpi_cost_model.py NAME PARAMS FLOPS_PER_STEP MS_PER_STEP_ONE_NODE [BATCH] ...
       (groups of four or five arguments, one per config)"""
import math
import sys

LINKS = [("10 Gb/s (TCP, alpha 25 us)", 10e9 / 8, 25e-6), ("100 Gb/s (RDMA, alpha 2 us)", 100e9 / 8, 2e-6)]


def step(t1, B, N, S, bw, alpha):
    comp = t1 * math.ceil(B / N) / B
    comm = 2 * (N - 1) / N * S / bw + 2 * (N - 1) * alpha if N > 1 else 0.0
    return comp, comm


args = sys.argv[1:]
configs = []
while args:
    name, params, flops, ms = args[0], int(args[1]), float(args[2]), float(args[3])
    B = 64
    args = args[4:]
    if args and args[0].isdigit():
        B = int(args[0])
        args = args[1:]
    configs.append((name, params, flops, ms / 1e3, B))

print("| config | params | bytes all-reduced per step | compute per step | one node (measured) | link | "
      "comm at N=2 | stops scaling at N | fastest step at N (speed-up) |")
print("|---|---|---|---|---|---|---|---|---|")
for name, P, F, t1, B in configs:
    S = 4 * P + 8
    for link, bw, alpha in LINKS:
        stop = B
        for N in range(2, B + 1):
            comp, comm = step(t1, B, N, S, bw, alpha)
            if comm >= comp:
                stop = N
                break
        times = [(sum(step(t1, B, N, S, bw, alpha)), N) for N in range(1, B + 1)]
        best, bn = min(times)
        c2 = step(t1, B, 2, S, bw, alpha)[1]
        print(f"| {name} | {P:,} | {S / 1e6:.2f} MB | {F / 1e9:.2f} GFLOP | {t1 * 1e3:.0f} ms | {link} | "
              f"{c2 * 1e3:.2f} ms | {stop}{' (= batch)' if stop == B else ''} | {bn} ({t1 / best:.1f}x) |")
