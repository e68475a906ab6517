#!/usr/bin/python3
"""Optional parity test against an independent PyTorch implementation
(bench/torch_garg.py) of Garg et al.'s model: checkpoints written by iclab
load in PyTorch and give the same predictions, and a PyTorch state_dict
saved as safetensors (no metadata, with GPT-2's unused buffers) loads in
iclab and gives the same predictions. Plain, repeated-block, looped and
parallel-group schedules; prelude/core/coda bodies, the loop signal and
attention-only / MLP-only blocks forward and backward (iclab predict --grads
against torch autograd); a BF16 checkpoint read with torch.bfloat16. Skips (exit 0) when python3-torch is not installed."""
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
    # a BF16 checkpoint (import --dtype bf16, what checkpoint_dtype bf16 writes): its bits are
    # torch's own float32 -> bfloat16 rounding of the F32 weights, torch.bfloat16 reads them as
    # st_load widens them, and the model in PyTorch predicts what iclab predicts from the file
    M16 = os.path.join(tmp, "m16.safetensors")
    run("import", M, "--out", M16, "--dtype", "bf16")
    state16, meta16 = st_load(M16)
    with open(M16, "rb") as f:
        raw16 = f.read()
    (hl,) = np.frombuffer(raw16[:8], dtype="<u8")
    head16 = json.loads(raw16[8:8 + int(hl)])
    same_bits = same_widen = True
    for name, t in head16.items():
        if name == "__metadata__":
            continue
        a, b = t["data_offsets"]
        ours16 = torch.frombuffer(bytearray(raw16[8 + int(hl) + a:8 + int(hl) + b]), dtype=torch.bfloat16)
        theirs16 = torch.from_numpy(state[name].reshape(-1).copy()).to(torch.bfloat16)
        same_bits &= t["dtype"] == "BF16" and bool(torch.equal(ours16.view(torch.int16), theirs16.view(torch.int16)))
        same_widen &= bool(torch.equal(ours16.float(), torch.from_numpy(state16[name].reshape(-1))))
    check("BF16 file = torch's bfloat16 rounding of the F32 weights, bit for bit", same_bits)
    check("BF16 file: torch.bfloat16 and st_load widen it alike", same_widen)
    model16 = model_from_state(state16, n_head=4, meta=meta16).double()
    run("predict", "--model", M16, "--prompts", P, "--out", O)
    ours = st_load(O)[0]["pred"]
    with torch.no_grad():
        ref = model16(xs.double(), ys.double())[-1].numpy()
        ref32 = model(xs.double(), ys.double())[-1].numpy()
    err, err32 = float(np.max(np.abs(ours - ref))), float(np.max(np.abs(ours - ref32)))
    check("iclab BF16 checkpoint -> torch: same predictions (and not the F32 model's)",
          err < 1e-5 * (1 + np.max(np.abs(ref))) and err32 > 10 * err, f"max|diff| {err:.2e} (F32 model: {err32:.2e})")
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
    # prelude / looped core / coda, the loop signal, attention-only and MLP-only blocks: forward
    # (predictions after every loop) and backward (iclab predict --grads against torch autograd
    # in float64), each on a model iclab made (the kinds from the checkpoint's metadata)
    def nested(text):
        """iclab's body text (no operations) into torch lists: 0,(1|2) -> [0, (1, 2)]."""
        return [tuple(int(k) for k in e.strip("()").split("|")) if "(" in e else int(e)
                for e in text.split(",") if e]
    for name, prelude, core, coda, kinds, loops, loss_loops, grad_loops, inject, lnf, signal in (
            ("prelude/core/coda 1+2xL+1", "0", "1,2", "3", "", 3, 2, 3, True, False, False),
            ("prelude/coda truncated, tied, group", "0", "1,0", "(2|3),1", "", 4, 1, 2, True, False, False),
            ("prelude only, no injection", "3,2", "1", "", "", 3, 1, 3, False, True, False),
            ("loop signal", "", "0,1", "", "", 3, 3, 3, True, True, True),
            ("attn-only and mlp-only blocks", "", "0,1,2,3", "", "attn,mlp,full,attn", 1, 1, 1, True, True, False),
            ("kinds + prelude/coda + signal", "1", "0,3", "2", "mlp,attn,attn,full", 3, 2, 3, True, False, True)):
        MS, G = os.path.join(tmp, "ms.safetensors"), os.path.join(tmp, "g.safetensors")
        text = ",".join(x for x in (prelude, "{" + core + "}" if prelude or coda else core, coda) if x)
        args = ["init", "--out", MS, "--n_dims", "5", "--n_positions", "11", "--n_embd", "16", "--n_layer", "4",
                "--n_head", "2", "--seed", "5", "--schedule", text, "--loops", str(loops), "--loss_loops",
                str(loss_loops), "--grad_loops", str(grad_loops), "--inject", str(inject).lower(),
                "--loop_lnf", str(lnf).lower(), "--loop_signal", str(signal).lower()]
        if kinds:
            args += ["--block_kinds", kinds]
        run(*args)
        st_, mt = st_load(MS)
        rng = np.random.default_rng(6)  # larger weights than GPT-2's init, so every path carries gradient
        st_ = {k: (v + rng.normal(0, 0.3, v.shape)).astype(np.float32) for k, v in st_.items()}
        st_save(MS, st_, {k: v for k, v in mt.items() if k != "iclab_crc32"})
        run("predict", "--model", MS, "--prompts", P, "--out", O, "--grads", G)
        ours, g_ours = st_load(O)[0]["pred"], st_load(G)[0]
        tm_ = model_from_state(st_, n_head=2, meta=mt).double()
        ref = tm_(xs.double(), ys.double(), nested(core), loops=loops, inject=inject, loop_lnf=lnf,
                  prelude=nested(prelude), coda=nested(coda), signal=signal, grad_loops=grad_loops)
        loss = ((ref[loops - loss_loops:] - ys.double()) ** 2).mean()
        loss.backward()
        err = float(np.max(np.abs(ours - ref[-1].detach().numpy())))
        check(f"iclab->torch forward: {name} ({text})", err < 1e-4 * (1 + float(ref.abs().max())), f"max|diff| {err:.2e}")
        gmax, worst, zero_ok = 0.0, 0.0, True
        for k, prm in tm_.state_dict(keep_vars=True).items():
            gt = prm.grad.numpy() if prm.grad is not None else np.zeros(prm.shape)
            gmax = max(gmax, float(np.abs(gt).max()))
            worst = max(worst, float(np.abs(g_ours[k] - gt).max()))
            zero_ok &= bool(np.any(gt != 0) or not np.any(g_ours[k] != 0))  # no gradient where torch has none
        check(f"iclab->torch backward: {name}", gmax > 1e-3 and worst < 1e-4 * gmax + 1e-6 and zero_ok,
              f"max|grad diff| {worst:.2e} of max|grad| {gmax:.2e}")
        if kinds:  # the sublayer a kind leaves out gets no gradient in either
            k0 = kinds.split(",")
            blk = k0.index("attn")
            check(f"attn-only block {blk}: no MLP gradient", not np.any(g_ours[f"_backbone.h.{blk}.mlp.c_fc.weight"]))
            blk = k0.index("mlp")
            check(f"mlp-only block {blk}: no attention gradient", not np.any(g_ours[f"_backbone.h.{blk}.attn.c_attn.weight"]))

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
