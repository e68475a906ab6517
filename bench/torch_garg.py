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
    def __init__(self, e, n_head):
        super().__init__()
        self.ln_1 = nn.LayerNorm(e, eps=1e-5)
        self.attn = Attention(e, n_head)
        self.ln_2 = nn.LayerNorm(e, eps=1e-5)
        self.mlp = MLP(e)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class Backbone(nn.Module):
    def __init__(self, n_positions, e, n_layer, n_head):
        super().__init__()
        self.wpe = nn.Embedding(2 * n_positions, e)
        self.h = nn.ModuleList([Block(e, n_head) for _ in range(n_layer)])
        self.ln_f = nn.LayerNorm(e, eps=1e-5)


class GargModel(nn.Module):
    def __init__(self, n_dims, n_positions, n_embd, n_layer, n_head):
        super().__init__()
        self._read_in = nn.Linear(n_dims, n_embd)
        self._backbone = Backbone(n_positions, n_embd, n_layer, n_head)
        self._read_out = nn.Linear(n_embd, 1)

    @staticmethod
    def combine(xs, ys):
        B, n, d = xs.shape
        ys_wide = torch.cat((ys.view(B, n, 1), torch.zeros(B, n, d - 1, dtype=xs.dtype)), dim=2)
        return torch.stack((xs, ys_wide), dim=2).view(B, 2 * n, d)

    def forward(self, xs, ys, schedule=None, loops=1, inject=True, loop_lnf=True):
        """Predictions [loops, B, n] at the x positions after every loop.
        schedule: the body, a list whose entries are block indices or tuples
        of block indices, parallel groups: every member runs on the same
        input and the step outputs the mean of their outputs ([0, (1, 2), 3]
        is iclab's 0,(1|2),3)."""
        bb = self._backbone
        schedule = list(range(len(bb.h))) if schedule is None else schedule
        zs = self.combine(xs, ys)
        T = zs.shape[1]
        P = self._read_in(zs) + bb.wpe.weight[:T]
        Y, preds = None, []
        for t in range(loops):
            if inject:
                inp = P if Y is None else Y + P
            else:
                inp = P if t == 0 else Y
            h = inp
            for s in schedule:
                if isinstance(s, (tuple, list)):
                    h = torch.stack([bb.h[k](h) for k in s]).mean(dim=0)
                else:
                    h = bb.h[s](h)
            f = bb.ln_f(h)
            preds.append(self._read_out(f)[:, ::2, 0])
            Y = f if loop_lnf else h
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


def model_from_state(state, n_head):
    e, d = state["_read_in.weight"].shape
    npos = state["_backbone.wpe.weight"].shape[0] // 2
    n_layer = len({k.split(".")[2] for k in state if k.startswith("_backbone.h.")})
    m = GargModel(d, npos, e, n_layer, n_head)
    sd = {k: torch.from_numpy(v.astype(np.float32)) for k, v in state.items()
          if k in m.state_dict()}
    m.load_state_dict(sd, strict=True)
    return m
