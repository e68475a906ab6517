#!/usr/bin/python3
"""Optional parity test against an independent PyTorch implementation
(bench/torch_garg.py) of Garg et al.'s model: checkpoints written by iclab
load in PyTorch and give the same predictions, and a PyTorch state_dict
saved as safetensors (no metadata, with GPT-2's unused buffers) loads in
iclab and gives the same predictions. Plain, repeated-block, looped and
parallel-group schedules. Skips (exit 0) when python3-torch is not installed."""
import json
import os
import subprocess
import sys
import tempfile

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "bench"))
try:
    import numpy as np
    import torch
    from torch_garg import GargModel, model_from_state, st_load, st_save
except ImportError as e:
    print(f"torch parity: skipped ({e}); install python3-torch python3-numpy to run it")
    sys.exit(0)

ICLAB = os.environ.get("ICLAB_BIN", os.path.join(here, "..", "build", "iclab"))
torch.manual_seed(0)
passed = failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok   {name} {detail}")
    else:
        failed += 1
        print(f"FAIL {name} {detail}")


def run(*args):
    r = subprocess.run([ICLAB, *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"iclab {' '.join(args)} failed: {r.stderr.strip()}")
    return r


with tempfile.TemporaryDirectory() as tmp:
    M, P, O = (os.path.join(tmp, f) for f in ("m.safetensors", "p.safetensors", "o.safetensors"))
    run("init", "--out", M, "--n_dims", "5", "--n_positions", "11", "--n_embd", "32",
        "--n_layer", "3", "--n_head", "4", "--seed", "3")
    run("make-prompts", "--out", P, "--n_dims", "5", "--n_points", "11", "--prompts", "16", "--seed", "4")
    state, meta = st_load(M)
    prompts, _ = st_load(P)
    xs, ys = torch.from_numpy(prompts["xs"]), torch.from_numpy(prompts["ys"])
    model = model_from_state(state, n_head=4).double()
    # iclab -> PyTorch: same predictions under several schedules (torch in float64 as the reference)
    for sched, loops in (("0,1,2", 1), ("0,1,1,2", 1), ("2,0", 1), ("0,1", 4)):
        run("predict", "--model", M, "--prompts", P, "--out", O, "--schedule", sched, "--loops", str(loops))
        ours = st_load(O)[0]["pred"]
        with torch.no_grad():
            ref = model(xs.double(), ys.double(), [int(s) for s in sched.split(",")], loops=loops)[-1].numpy()
        err = float(np.max(np.abs(ours - ref)))
        check(f"iclab->torch schedule {sched} loops {loops}", err < 1e-4 * (1 + np.max(np.abs(ref))), f"max|diff| {err:.2e}")
    # parallel groups, from the schedule stored in the checkpoint ("parallel": 0-based step
    # indices with par 1): iclab -> PyTorch, plain and looped
    for body, loops, inject, loop_lnf in (([0, (1, 2), (2, 2, 0)], 1, True, True),
                                          ([(0, 1), 2], 3, True, True), ([1, (2, 0)], 3, False, False)):
        steps, par = [], []
        for e in body:
            for j, k in enumerate(e if isinstance(e, tuple) else (e,)):
                if j:
                    par.append(len(steps))
                steps.append(k)
        sm = {"steps": steps, "loops": loops, "loss_loops": 1, "grad_loops": 0,
              "inject": inject, "loop_lnf": loop_lnf, "parallel": par}
        MP = os.path.join(tmp, "mp.safetensors")
        st_save(MP, state, dict(meta, iclab_schedule=json.dumps(sm)))
        run("predict", "--model", MP, "--prompts", P, "--out", O)
        ours = st_load(O)[0]["pred"]
        with torch.no_grad():
            ref = model(xs.double(), ys.double(), body, loops=loops, inject=inject, loop_lnf=loop_lnf)[-1].numpy()
        err = float(np.max(np.abs(ours - ref)))
        check(f"iclab->torch parallel schedule {body} loops {loops} inject {inject} loop_lnf {loop_lnf}",
              err < 1e-4 * (1 + np.max(np.abs(ref))), f"max|diff| {err:.2e}")
    # PyTorch -> iclab: a torch state_dict with GPT-2's extra buffers and no metadata
    tm = GargModel(5, 11, 32, 2, 2)
    with torch.no_grad():
        for p in tm.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    sd = {k: v.detach().numpy() for k, v in tm.state_dict().items()}
    sd["_backbone.wte.weight"] = np.zeros((50257 // 1000, 32), np.float32)
    sd["_backbone.h.0.attn.bias"] = np.tril(np.ones((22, 22), np.float32)).reshape(1, 1, 22, 22)
    sd["_backbone.h.0.attn.masked_bias"] = np.array(-1e4, np.float32).reshape(())
    G = os.path.join(tmp, "garg.safetensors")
    st_save(G, sd)
    r = run("predict", "--model", G, "--prompts", P, "--out", O, "--n_head", "2")
    ours = st_load(O)[0]["pred"]
    with torch.no_grad():
        ref = tm.double()(xs.double(), ys.double())[-1].numpy()
    err = float(np.max(np.abs(ours - ref)))
    check("torch->iclab (no metadata, extra buffers)", err < 1e-4 * (1 + np.max(np.abs(ref))), f"max|diff| {err:.2e}")
    check("torch->iclab notice about ignored tensors", "ignored" in r.stderr, r.stderr.strip()[:100])

    # torch.save -> iclab import (tests/import_cli_test.sh covers the committed fixtures;
    # this one is a fresh model in the installed torch's own format), F32 and F16
    for dt in (torch.float32, torch.float16):
        PT, MI = os.path.join(tmp, "tm.pt"), os.path.join(tmp, "mi.safetensors")
        sd = {k: v.to(dt) for k, v in tm.state_dict().items()}
        torch.save({"model_state_dict": sd, "train_step": 7}, PT)
        run("import", PT, "--out", MI, "--n_head", "2")
        run("predict", "--model", MI, "--prompts", P, "--out", O)
        ours = st_load(O)[0]["pred"]
        ref_m = GargModel(5, 11, 32, 2, 2).double()
        ref_m.load_state_dict({k: v.double() for k, v in sd.items()})
        with torch.no_grad():
            ref = ref_m(xs.double(), ys.double())[-1].numpy()
        err = float(np.max(np.abs(ours - ref)))
        check(f"torch.save {dt} -> iclab import", err < 1e-4 * (1 + np.max(np.abs(ref))), f"max|diff| {err:.2e}")

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
