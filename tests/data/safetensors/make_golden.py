#!/usr/bin/env python3
"""Writes golden.safetensors next to this script, using only struct and json
(deliberately NOT iclab's writer), so tests/test_safetensors.c can check our
reader against an independently produced file.

Run once; the output is committed. Hand check (little endian):
  weight F32 [2,3]  = 1.0 -2.5 0.5 3.25 0.0 -0.125   data bytes [0, 24)
  ids    I32 [4]    = 1 2 3 -4                        data bytes [24, 40)
  bias   F16 [3]    = 1.0 -2.0 0.5  (0x3C00 0xC000 0x3800)   [40, 46)
  bf     BF16 [2]   = 1.0 -0.5      (0x3F80 0xBF00)          [46, 50)
  empty  F32 [2,0]  = (no data)                              [50, 50)
  scale  F64 []     = 3.5                                    [50, 58)
The header lists the tensors in a different order from their data, and is
padded with spaces to a multiple of 8 bytes.
"""
import json
import os
import struct

data = b"".join([
    struct.pack("<6f", 1.0, -2.5, 0.5, 3.25, 0.0, -0.125),
    struct.pack("<4i", 1, 2, 3, -4),
    struct.pack("<3e", 1.0, -2.0, 0.5),
    struct.pack("<2H", 0x3F80, 0xBF00),
    struct.pack("<d", 3.5),
])
assert len(data) == 58

header = {
    "__metadata__": {"format": "pt", "note": "golden \u00e9"},
    "scale": {"dtype": "F64", "shape": [], "data_offsets": [50, 58]},
    "bias": {"dtype": "F16", "shape": [3], "data_offsets": [40, 46]},
    "weight": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
    "empty": {"dtype": "F32", "shape": [2, 0], "data_offsets": [50, 50]},
    "ids": {"dtype": "I32", "shape": [4], "data_offsets": [24, 40]},
    "bf": {"dtype": "BF16", "shape": [2], "data_offsets": [46, 50]},
}
h = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
h += b" " * (-len(h) % 8)

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden.safetensors")
with open(out, "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + data)
print(out, 8 + len(h) + len(data), "bytes; header", len(h))
