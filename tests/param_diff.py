#!/usr/bin/env python3
"""Largest absolute difference between the tensors of two safetensors files
(the same names and shapes), printed as a number; exits 2 when the files do
not hold the same tensors. Standard library only (struct), so it runs
wherever the tests run.

usage: param_diff.py A.safetensors B.safetensors"""
import json
import struct
import sys


def tensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        head = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, t in head.items():
        if name == "__metadata__":
            continue
        a, b = t["data_offsets"]
        if t["dtype"] == "F32":
            out[name] = struct.unpack(f"<{(b - a) // 4}f", data[a:b])
        elif t["dtype"] == "BF16":  # the upper halves of float32s (checkpoint_dtype bf16), widened exactly
            out[name] = struct.unpack(f"<{(b - a) // 2}f", b"".join(b"\0\0" + data[i:i + 2] for i in range(a, b, 2)))
        else:
            sys.exit(f"{path}: {name} is {t['dtype']}, not F32 or BF16")
    return out


x, y = tensors(sys.argv[1]), tensors(sys.argv[2])
if x.keys() != y.keys() or any(len(x[k]) != len(y[k]) for k in x):
    print("the files hold different tensors", file=sys.stderr)
    sys.exit(2)
print("%.3g" % max(abs(p - q) for k in x for p, q in zip(x[k], y[k])))
