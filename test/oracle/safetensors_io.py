"""Oracle for test/io/oracle.test.ts: torch's bf16/f16 rounding and an independent safetensors reader/writer.

stdin: {"ours": path written by anchorgrad, "theirs": path to write, "bits": [float32 bit patterns]}
stdout: {"ours": {name: {dtype, shape, bits}}, "torch_bits": {"BF16": [...], "F16": [...]},
         "theirs": {name: {dtype, shape, f32_bits}}, "header_len": int, "aligned": bool}
16-bit results are returned as unsigned bit patterns, so NaN and infinities survive JSON.
"""
import json
import struct
import sys

import numpy as np
import torch

TORCH = {"BF16": torch.bfloat16, "F16": torch.float16, "F32": torch.float32, "F64": torch.float64,
         "I32": torch.int32, "I64": torch.int64, "BOOL": torch.bool}
WIDTH = {"BF16": 2, "F16": 2, "F32": 4, "F64": 8, "I32": 4, "I64": 8, "BOOL": 1}


def read_file(path):
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    data = raw[8 + n:]
    out, aligned = {}, True
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        aligned &= (8 + n + b) % WIDTH[e["dtype"]] == 0
        t = torch.frombuffer(bytearray(data[b:end]), dtype=TORCH[e["dtype"]]) if end > b else torch.zeros(0, dtype=TORCH[e["dtype"]])
        if e["dtype"] in ("BF16", "F16"):
            bits = (t.view(torch.int16).to(torch.int32) & 0xFFFF).tolist()
        elif e["dtype"] == "F32":
            bits = (t.view(torch.int32).to(torch.int64) & 0xFFFFFFFF).tolist()
        else:
            bits = t.to(torch.int64).tolist()
        out[name] = {"dtype": e["dtype"], "shape": e["shape"], "bits": bits}
    return out, n, aligned


def to16_bits(x, dtype):
    return (x.to(dtype).view(torch.int16).to(torch.int32) & 0xFFFF).tolist()


def f32_bits(t):
    return (t.to(torch.float32).reshape(-1).view(torch.int32).to(torch.int64) & 0xFFFFFFFF).tolist()


def write_file(path, tensors):
    """A writer independent of anchorgrad's: widest dtype first, then name; header padded to 8."""
    order = sorted(tensors.items(), key=lambda kv: (-WIDTH[kv[1][0]], kv[0]))
    header, blobs, offset = {"__metadata__": {"writer": "oracle"}}, [], 0
    for name, (dt, t) in order:
        blob = t.contiguous().numpy().tobytes() if dt not in ("BF16",) else t.view(torch.int16).numpy().tobytes()
        header[name] = {"dtype": dt, "shape": list(t.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    h = json.dumps(header).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def main():
    req = json.load(sys.stdin)
    x = torch.from_numpy(np.array(req["bits"], dtype=np.uint32).view(np.float32).copy())
    ours, header_len, aligned = read_file(req["ours"])
    torch_bits = {"BF16": to16_bits(x, torch.bfloat16), "F16": to16_bits(x, torch.float16)}
    m = x[torch.isfinite(x)][:64].reshape(8, 8)
    theirs = {
        "w.bf16": ("BF16", m.to(torch.bfloat16)),
        "w.f16": ("F16", m.to(torch.float16)),
        "w.f64": ("F64", m.to(torch.float64)),
        "ids": ("I64", torch.tensor([0, -5, 2**31 - 1, -2**31], dtype=torch.int64)),
        "mask": ("BOOL", torch.tensor([True, False, True])),
    }
    write_file(req["theirs"], theirs)
    expected = {k: {"dtype": dt, "shape": list(t.shape),
                    "f32_bits": f32_bits(t) if t.is_floating_point() else t.to(torch.int64).tolist()}
                for k, (dt, t) in theirs.items()}
    print(json.dumps({"ours": ours, "torch_bits": torch_bits, "theirs": expected,
                      "header_len": header_len, "aligned": bool(aligned)}))


main()
