"""A PyTorch model with exactly Garg et al.'s state_dict names and layouts
(RESEARCH.md §2), written by hand so it runs on Debian's python3-torch 1.13
without HF transformers. Used as the independent reference in
tests/torch_parity.py and as the PyTorch side of the benchmarks.

Also: a tiny stdlib+numpy safetensors reader/writer (no pip package)."""
import json
import math
import struct

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class Conv1D(nn.Module):
    """GPT-2's Conv1D: weight [in, out], y = x @ W + b."""

    def __init__(self, n_in, n_out):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_in, n_out) * 0.02)
        self.bias = nn.Parameter(torch.zeros(n_out))

    def forward(self, x):
        return torch.addmm(self.bias, x.reshape(-1, x.shape[-1]), self.weight).view(*x.shape[:-1], -1)


class Attention(nn.Module):
    def __init__(self, e, n_head):
        super().__init__()
        self.n_head = n_head
        self.c_attn = Conv1D(e, 3 * e)
        self.c_proj = Conv1D(e, e)

    def forward(self, x):
        B, T, C = x.shape
        H = self.n_head
        q, k, v = self.c_attn(x).split(C, dim=2)
        q = q.view(B, T, H, C // H).transpose(1, 2)
        k = k.view(B, T, H, C // H).transpose(1, 2)
        v = v.view(B, T, H, C // H).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(C // H)
        mask = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
        att = att.masked_fill(~mask, float("-inf")).softmax(dim=-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, C)
        return self.c_proj(y)


class MLP(nn.Module):
    def __init__(self, e):
        super().__init__()
        self.c_fc = Conv1D(e, 4 * e)
        self.c_proj = Conv1D(4 * e, e)

    def forward(self, x):
        return self.c_proj(F.gelu(self.c_fc(x), approximate="tanh"))


class Block(nn.Module):
    """kind "full" (GPT-2), "attn" (attention sublayer only) or "mlp" (MLP
    sublayer only); every kind keeps all the tensors (iclab's block_kinds)."""

    def __init__(self, e, n_head, kind="full"):
        super().__init__()
        self.kind = kind
        self.ln_1 = nn.LayerNorm(e, eps=1e-5)
        self.attn = Attention(e, n_head)
        self.ln_2 = nn.LayerNorm(e, eps=1e-5)
        self.mlp = MLP(e)

    def forward(self, x):
        if self.kind != "mlp":
            x = x + self.attn(self.ln_1(x))
        if self.kind != "attn":
            x = x + self.mlp(self.ln_2(x))
        return x


class Backbone(nn.Module):
    def __init__(self, n_positions, e, n_layer, n_head, kinds=None):
        super().__init__()
        kinds = kinds or ["full"] * n_layer
        self.wpe = nn.Embedding(2 * n_positions, e)
        self.h = nn.ModuleList([Block(e, n_head, kinds[i]) for i in range(n_layer)])
        self.ln_f = nn.LayerNorm(e, eps=1e-5)


def loop_signal(t, C, dtype=torch.float32):
    """iclab's loop signal (src/model.h, ic_loop_signal): sig[2i] = sin(t w_i),
    sig[2i+1] = cos(t w_i), w_i = 10000^(-2i/C), rounded to float32 as iclab adds it."""
    c = torch.arange(C, dtype=torch.float64)
    w = torch.pow(torch.tensor(10000.0, dtype=torch.float64), -(c - c % 2) / C)
    sig = torch.where(c % 2 == 1, torch.cos(t * w), torch.sin(t * w))
    return sig.float().to(dtype)


class GargModel(nn.Module):
    def __init__(self, n_dims, n_positions, n_embd, n_layer, n_head, kinds=None):
        super().__init__()
        self._read_in = nn.Linear(n_dims, n_embd)
        self._backbone = Backbone(n_positions, n_embd, n_layer, n_head, kinds)
        self._read_out = nn.Linear(n_embd, 1)

    @staticmethod
    def combine(xs, ys):
        B, n, d = xs.shape
        ys_wide = torch.cat((ys.view(B, n, 1), torch.zeros(B, n, d - 1, dtype=xs.dtype)), dim=2)
        return torch.stack((xs, ys_wide), dim=2).view(B, 2 * n, d)

    def _steps(self, steps, h):
        bb = self._backbone
        for s in steps:
            if isinstance(s, (tuple, list)):
                h = torch.stack([bb.h[k](h) for k in s]).mean(dim=0)
            else:
                h = bb.h[s](h)
        return h

    def forward(self, xs, ys, schedule=None, loops=1, inject=True, loop_lnf=True, prelude=(), coda=(),
                signal=False, grad_loops=None):
        """Predictions [loops, B, n] at the x positions after every loop.
        schedule: the looped core (the whole body without prelude/coda), a
        list whose entries are block indices or tuples of block indices,
        parallel groups: every member runs on the same input and the step
        outputs the mean of their outputs ([0, (1, 2), 3] is iclab's
        0,(1|2),3). prelude: steps run once on P, whose output E is injected
        into every loop; coda: steps after every loop before ln_f (iclab's
        0,{1,2},3 is prelude [0], schedule [1, 2], coda [3]; a coda feeds the
        core's output back, loop_lnf off). signal: iclab's loop signal added
        to each loop's input. grad_loops: only the last grad_loops loops
        carry gradient (None: all)."""
        bb = self._backbone
        schedule = list(range(len(bb.h))) if schedule is None else schedule
        zs = self.combine(xs, ys)
        T = zs.shape[1]
        P = self._read_in(zs) + bb.wpe.weight[:T]
        E = self._steps(prelude, P)
        Y, preds = None, []
        first_grad = 0 if grad_loops is None else loops - grad_loops
        for t in range(loops):
            if t == first_grad and Y is not None:
                Y = Y.detach()  # truncated backpropagation: no gradient into earlier loops
            with torch.set_grad_enabled(torch.is_grad_enabled() and t >= first_grad):
                Et = E if t >= first_grad else E.detach()
                if inject:
                    inp = Et if Y is None else Y + Et
                else:
                    inp = Et if t == 0 else Y
                if signal:
                    inp = inp + loop_signal(t, inp.shape[-1], inp.dtype)
                h = self._steps(schedule, inp)
                f = bb.ln_f(self._steps(coda, h))
                preds.append(self._read_out(f)[:, ::2, 0])
                Y = f if loop_lnf and not coda else h
        return torch.stack(preds)


# ---- safetensors with the standard library and numpy ----
_DT = {"F32": np.float32, "F64": np.float64, "F16": np.float16, "I64": np.int64, "I32": np.int32}


def st_load(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    out = {}
    for name, e in header.items():
        b, t = e["data_offsets"]
        raw = data[8 + n + b:8 + n + t]
        if e["dtype"] == "BF16":  # numpy has no bfloat16: the upper halves of float32s, widened exactly
            out[name] = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32).reshape(e["shape"])
        else:
            out[name] = np.frombuffer(raw, dtype=_DT[e["dtype"]]).reshape(e["shape"]).copy()
    return out, meta


def st_save(path, tensors, meta=None):
    header, blobs, off = {}, [], 0
    for name, arr in tensors.items():
        arr = np.ascontiguousarray(arr)
        dt = {np.dtype(np.float32): "F32", np.dtype(np.float64): "F64"}[arr.dtype]
        b = arr.tobytes()
        header[name] = {"dtype": dt, "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    if meta:
        header["__metadata__"] = meta
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def model_from_state(state, n_head, meta=None):
    """The model of a state_dict; meta (a safetensors __metadata__, may be
    None) gives iclab's block kinds (iclab_config's block_kinds)."""
    e, d = state["_read_in.weight"].shape
    npos = state["_backbone.wpe.weight"].shape[0] // 2
    n_layer = len({k.split(".")[2] for k in state if k.startswith("_backbone.h.")})
    kinds = json.loads(meta["iclab_config"]).get("block_kinds") if meta and "iclab_config" in meta else None
    m = GargModel(d, npos, e, n_layer, n_head, kinds)
    sd = {k: torch.from_numpy(v.astype(np.float32)) for k, v in state.items()
          if k in m.state_dict()}
    m.load_state_dict(sd, strict=True)
    return m
