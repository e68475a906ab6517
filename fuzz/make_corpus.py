#!/usr/bin/env python3
"""Writes the fuzzer's seed corpus into fuzz/corpus/ (stdlib only). A few
valid files (every dtype, metadata, scalars, zero-size tensors, misaligned
data, padded headers) and a few near misses of the rules in RESEARCH.md §6.
Run once from anywhere; the output is committed."""
import json
import os
import struct

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
SIZES = {"BOOL": 1, "U8": 1, "I8": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2, "I32": 4,
         "U32": 4, "F32": 4, "F64": 8, "I64": 8, "U64": 8, "F8_E4M3": 1, "F8_E5M2": 1}


def build(tensors, meta=None, pad=8, raw_header=None):
    """tensors: list of (name, dtype, shape, data bytes) laid out in order."""
    if raw_header is not None:
        h = raw_header.encode("utf-8") if isinstance(raw_header, str) else raw_header
        return struct.pack("<Q", len(h)) + h
    hdr, data = {}, b""
    if meta is not None:
        hdr["__metadata__"] = meta
    for name, dtype, shape, blob in tensors:
        hdr[name] = {"dtype": dtype, "shape": shape,
                     "data_offsets": [len(data), len(data) + len(blob)]}
        data += blob
    h = json.dumps(hdr, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    if pad:
        h += b" " * (-len(h) % pad)
    return struct.pack("<Q", len(h)) + h + data


def main():
    os.makedirs(HERE, exist_ok=True)
    files = {}
    files["ok_f32"] = build([("w", "F32", [2, 3], struct.pack("<6f", 1, 2, 3, 4, 5, 6))])
    files["ok_mixed_meta"] = build(
        [("a", "F16", [2], struct.pack("<2e", 1.5, -2)),
         ("b", "BF16", [1, 2], struct.pack("<2H", 0x3F80, 0x7F80)),
         ("c", "F64", [], struct.pack("<d", 0.1)),
         ("d", "I64", [2], struct.pack("<2q", -1, 7)),
         ("e", "U8", [0, 4], b"")],
        meta={"format": "pt", "k\u00e9y": "v"})
    files["ok_all_dtypes"] = build(
        [(d.lower() + "_t", d, [3], bytes(range(3 * s))) for d, s in SIZES.items()])
    files["ok_misaligned"] = build([("x", "F32", [3], struct.pack("<3f", 0.5, -1, 1e-40))],
                                   pad=0)
    files["ok_empty"] = build([])
    files["ok_meta_only"] = build([], meta={"a": "b", "": ""})
    files["ok_8dims"] = build([("t", "F32", [1, 1, 1, 1, 1, 1, 1, 2], struct.pack("<2f", 1, 2))])
    files["bad_gap"] = build([], raw_header='{"a":{"dtype":"F32","shape":[1],'
                             '"data_offsets":[4,8]}}') + bytes(8)
    files["bad_overlap"] = build([], raw_header='{"a":{"dtype":"U8","shape":[4],'
                                 '"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[4],'
                                 '"data_offsets":[2,6]}}') + bytes(6)
    files["bad_dup"] = build([], raw_header='{"a":{"dtype":"U8","shape":[0],'
                             '"data_offsets":[0,0]},"a":{"dtype":"U8","shape":[0],'
                             '"data_offsets":[0,0]}}')
    files["bad_size"] = build([], raw_header='{"a":{"dtype":"F32","shape":[2,3],'
                              '"data_offsets":[0,12]}}') + bytes(12)
    files["bad_trailing"] = build([("w", "U8", [2], b"ab")]) + b"zz"
    files["bad_meta"] = build([], raw_header='{"__metadata__":{"n":1}}')
    files["bad_shape"] = build([], raw_header='{"a":{"dtype":"U8","shape":[-1,2.5],'
                               '"data_offsets":[0,0]}}')
    files["bad_utf8"] = build([], raw_header=b'{"\xc3(":{}}')
    files["bad_hlen"] = struct.pack("<Q", 1 << 40) + b"{}"
    for name, blob in files.items():
        with open(os.path.join(HERE, name + ".safetensors"), "wb") as f:
            f.write(blob)
    print(len(files), "files in", HERE)


if __name__ == "__main__":
    main()
