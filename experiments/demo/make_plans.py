#!/usr/bin/python3
"""Writes one sweep plan per candidate recipe of the demo's search (docs/demo.md,
'The recipe, chosen by measurement'): both models x seeds 1-4, eval on 1,280 prompts."""
import json, sys

BASE = {"task": "linear_regression", "n_dims": 5, "n_positions": 11, "n_points": 11,
        "n_embd": 32, "n_head": 2, "lr_schedule": "cosine", "min_lr_ratio": 0.05,
        "log_every": 50, "save_every": 100000}
MODELS = {"plain6": {"n_layer": 6, "loops": 1, "grad_loops": 1},
          "looped3x2": {"n_layer": 3, "loops": 2, "grad_loops": 2}}
CANDIDATES = {
    "b32_lr2e-3_8k": {"batch_size": 32, "learning_rate": 2e-3, "warmup_steps": 200, "train_steps": 8000},
    # wider models leave the plateau in fewer steps (docs/experiments/looped: e = 64 by step ~2,000)
    "e64_b64_lr1e-3_2500": {"n_embd": 64, "n_head": 4, "batch_size": 64, "learning_rate": 1e-3, "warmup_steps": 250,
                            "train_steps": 2500},
    "e64_b64_lr2e-3_2500": {"n_embd": 64, "n_head": 4, "batch_size": 64, "learning_rate": 2e-3, "warmup_steps": 250,
                            "train_steps": 2500},
    # the looped experiment's recipe (configs/looped/*.json) at its 5,000 steps: affordable once the
    # products ran on oneDNN (25 ms a step on one core); the demo's recipe
    "e64_b64_lr1e-3_w500_5000": {"n_embd": 64, "n_head": 4, "batch_size": 64, "learning_rate": 1e-3,
                                 "warmup_steps": 500, "train_steps": 5000},
}

for name in (sys.argv[1:] or CANDIDATES):
    plan = {"name": "demo-search-" + name,
            "configs": {m: dict(BASE, **keys) for m, keys in MODELS.items()},
            "seeds": [1, 2, 3, 4],
            "overrides": dict(CANDIDATES[name], threads=1),
            "steps": [{"command": "eval", "args": ["--seed", "4242", "--prompts", "1280"]}]}
    with open("search_%s.json" % name, "w") as f:
        json.dump(plan, f, indent=1)
        f.write("\n")
