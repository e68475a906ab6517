#!/usr/bin/python3
"""The walk-through of docs/python.md, end to end: train a small model with
the CLI, load it in Python, predict, compare with least squares, edit the
schedule (layer surgery), capture the residual stream and fit a ridge probe
in numpy. Usage: walkthrough.py [WORKDIR] (default: a new temporary
directory). ICLAB_BIN: the CLI (default build/iclab); ICLAB_WALK_STEPS: the
training steps (default 1500)."""
import os
import subprocess
import sys
import tempfile

import numpy as np

import iclab

root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ICLAB = os.environ.get("ICLAB_BIN", os.path.join(root, "build", "iclab"))
work = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="iclab_walk.")
steps = int(os.environ.get("ICLAB_WALK_STEPS", "1500"))
np.set_printoptions(precision=4, suppress=True)

# 1. train a small model with the CLI (d = 5, 4 blocks, 11 points per prompt)
run = os.path.join(work, "run")
subprocess.run([ICLAB, "train", "--out", run, "--n_dims", "5", "--n_positions", "11", "--n_points", "11",
                "--n_embd", "64", "--n_layer", "4", "--n_head", "2", "--batch_size", "64",
                "--learning_rate", "1e-3", "--train_steps", str(steps), "--seed", "1", "--threads", "2"],
               check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

# 2. load it and draw held-out prompts of the task it was trained on
m = iclab.Model.load(os.path.join(run, "model.safetensors"))
print(m)
xs, ys, w = iclab.make_prompts("linear_regression", 512, 11, m.n_dims, seed=123)
print("xs", xs.shape, "ys", ys.shape, "w", w.shape)


def err(pred):  # squared error per position, divided by d (Garg et al.)
    return ((pred - ys) ** 2).mean(axis=0) / m.n_dims


# 3. predict, next to least squares
pred = m.predict(xs, ys)
print("model         ", err(pred))
print("least_squares ", err(iclab.baseline("least_squares", xs, ys)))

# 4. layer surgery through the schedule language
for sched in ["0,1,1,2,3", "dup(1)", "skip(2)", "reverse(1-2)"]:
    print(f"{sched:14s} mse/d {err(m.predict(xs, ys, schedule=sched)).mean():.4f}"
          f"  (model {err(pred).mean():.4f})")

# 5. the residual stream at every state, and a ridge probe (numpy) from the last x token to its y
cap = m.capture(xs, ys)
print(cap)
assert np.array_equal(cap.lens[-1], pred)  # ln_f + read_out of the last state is the prediction
train, test = slice(0, 384), slice(384, 512)
for k, label in enumerate(cap.labels):
    X = cap.x_tokens(k)[:, -1, :].astype(np.float64)  # the last x token of each prompt [B, C]
    mu, Y = X[train].mean(0), ys[:, -1:].astype(np.float64)
    A = X[train] - mu
    lam = 1e-2 * np.trace(A.T @ A) / A.shape[1]
    W = np.linalg.solve(A.T @ A + lam * np.eye(A.shape[1]), A.T @ (Y[train] - Y[train].mean(0)))
    P = (X[test] - mu) @ W + Y[train].mean(0)
    r2 = 1 - ((P - Y[test]) ** 2).sum() / ((Y[test] - Y[test].mean(0)) ** 2).sum()
    print(f"state {label:6s} |h| {np.linalg.norm(X, axis=1).mean():7.3f}  probe R^2 for y_n {r2:6.3f}")
