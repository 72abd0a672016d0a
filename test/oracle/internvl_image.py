"""Oracle for test/internvl-io/image-oracle.test.ts: InternVL's image preprocessing with Pillow and torch.

Written from the algorithm in docs/INTERNVL.md: candidate grids by tile count, closest aspect
ratio with the area tie rule, Pillow bicubic resize (Image.resize's default for RGB), row-major
crops, a thumbnail when there is more than one tile, ToTensor then ImageNet Normalize in float32.

stdin: {"cases": [{"path", "image_size", "min_tiles", "max_tiles", "use_thumbnail"}]}
stdout: {"results": [{"grid": [cols, rows], "tiles": n, "pixels_b64": float32 bytes, "sha256"}]}
"""
import base64
import hashlib
import json
import sys

import numpy as np
import torch
from PIL import Image

MEAN = torch.tensor([0.485, 0.456, 0.406], dtype=torch.float32)[:, None, None]
STD = torch.tensor([0.229, 0.224, 0.225], dtype=torch.float32)[:, None, None]


def pick_grid(width, height, size, lo, hi):
    grids = sorted({(c, r) for n in range(lo, hi + 1) for c in range(1, n + 1) for r in range(1, n + 1) if lo <= c * r <= hi},
                   key=lambda g: g[0] * g[1])
    aspect, area = width / height, width * height
    best, best_diff = (1, 1), float("inf")
    for c, r in grids:
        diff = abs(aspect - c / r)
        if diff < best_diff:
            best, best_diff = (c, r), diff
        elif diff == best_diff and area > 0.5 * size * size * c * r:
            best = (c, r)
    return best


def tiles_of(img, size, lo, hi, thumb):
    cols, rows = pick_grid(img.width, img.height, size, lo, hi)
    big = img.resize((size * cols, size * rows), Image.BICUBIC)
    tiles = [big.crop((c * size, r * size, (c + 1) * size, (r + 1) * size)) for r in range(rows) for c in range(cols)]
    if len(tiles) > 1 and thumb:
        tiles.append(img.resize((size, size), Image.BICUBIC))
    return (cols, rows), tiles


def normalise(tile):
    x = torch.from_numpy(np.asarray(tile, dtype=np.uint8).copy()).permute(2, 0, 1).to(torch.float32).div(255)
    return x.sub(MEAN).div(STD)


def main():
    out = []
    for case in json.load(sys.stdin)["cases"]:
        img = Image.open(case["path"]).convert("RGB")
        grid, tiles = tiles_of(img, case["image_size"], case["min_tiles"], case["max_tiles"], case["use_thumbnail"])
        raw = torch.stack([normalise(t) for t in tiles]).contiguous().numpy().astype("<f4").tobytes()
        res = {"grid": list(grid), "tiles": len(tiles), "sha256": hashlib.sha256(raw).hexdigest()}
        if case.get("return_pixels"):
            res["pixels_b64"] = base64.b64encode(raw).decode("ascii")
        out.append(res)
    print(json.dumps({"results": out}))


main()
