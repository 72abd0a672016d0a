"""PyTorch oracle for the op table (test/core/op-table.ts).

Reads {"cases": [...]} as JSON on stdin. Each case holds a row's Python
expression, its inputs ({kind, shape, data}), params and, for differentiable
rows, an output cotangent. For each case it evaluates the expression in
float64 and, given a cotangent, the VJP of every float input with
torch.autograd.grad. Writes {"results": [...]} (one per case, in order) to
stdout. Non-finite numbers cross as the strings "nan", "inf", "-inf".

The helpers below give NumPy semantics where PyTorch's differ (an empty axis
list reduces nothing, take/scatter-add along one axis with any index shape,
split into a number of equal parts) and write the composites the way PyTorch
users do.
"""
import json
import math
import sys

import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)

DT = {
    "float64": torch.float64, "float32": torch.float32, "float16": torch.float16,
    "bfloat16": torch.bfloat16, "int32": torch.int32, "bool": torch.bool,
}


def tdims(x, axis):
    """NumPy axis argument -> list of dims (None: all of them)."""
    if axis is None:
        return list(range(x.dim()))
    return [axis] if isinstance(axis, int) else list(axis)


def _reduce(fn, x, axis, keepdim):
    dims = tdims(x, axis)
    return fn(x, dim=dims, keepdim=keepdim) if dims else x


def tsum(x, axis, keepdim):
    return _reduce(torch.sum, x, axis, keepdim)


def tmean(x, axis, keepdim):
    return _reduce(torch.mean, x, axis, keepdim)


def tamax(x, axis, keepdim):
    return _reduce(torch.amax, x, axis, keepdim)


def tamin(x, axis, keepdim):
    return _reduce(torch.amin, x, axis, keepdim)


def tpermute(x, perm):
    if perm is None:
        return x.permute(*reversed(range(x.dim())))
    return x.permute(*[a % x.dim() for a in perm])


def tslice(x, starts, ends):
    return x[tuple(slice(s, e) for s, e in zip(starts, ends))]


def tpad(x, widths):
    flat = [w for pair in reversed(widths) for w in pair]
    return F.pad(x, flat)


def ttake(x, idx, axis):
    axis %= x.dim()
    picked = torch.index_select(x, axis, idx.reshape(-1))
    return picked.reshape(x.shape[:axis] + idx.shape + x.shape[axis + 1:])


def tscatter_add(u, idx, axis, shape):
    axis %= len(shape)
    src = u.reshape(list(shape[:axis]) + [idx.numel()] + list(shape[axis + 1:]))
    return torch.zeros(shape, dtype=u.dtype).index_add(axis, idx.reshape(-1), src)


def tsplit_weighted(x, parts, axis):
    if isinstance(parts, int):
        parts = [x.shape[axis] // parts] * parts
    pieces = torch.split(x, parts, dim=axis)
    return torch.cat([t * (i + 1) for i, t in enumerate(pieces)], dim=axis)


def tsqueeze(x, axis):
    if axis is None:
        return x.squeeze()
    for a in sorted({a % x.dim() for a in tdims(x, axis)}, reverse=True):
        x = x.squeeze(a)
    return x


def trms_norm(x, weight, eps):
    y = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)
    return y if weight is None else y * weight


def tnorm_grad(x, h, eps, center):
    """The input VJP of layer_norm (center) or rms_norm without affine, at x for cotangent h."""
    xc = x - x.mean(-1, keepdim=True) if center else x
    r = torch.rsqrt((xc * xc).mean(-1, keepdim=True) + eps)
    xh = xc * r
    hc = h - h.mean(-1, keepdim=True) if center else h
    return r * (hc - xh * (h * xh).mean(-1, keepdim=True))


def tcausal_attention(x, wq, wk, wv, wo, heads):
    b, t, d = x.shape
    dh = d // heads

    def to_heads(z):
        return z.view(b, t, heads, dh).transpose(1, 2)

    q, k, v = to_heads(x @ wq), to_heads(x @ wk), to_heads(x @ wv)
    scores = q @ k.transpose(-2, -1) / math.sqrt(dh)
    future = torch.ones(t, t, dtype=torch.bool).triu(1)
    probs = torch.softmax(scores.masked_fill(future, float("-inf")), dim=-1)
    return (probs @ v).transpose(1, 2).reshape(b, t, d) @ wo


HELPERS = {f.__name__: f for f in (
    tdims, tsum, tmean, tamax, tamin, tpermute, tslice, tpad, ttake, tscatter_add,
    tsplit_weighted, tsqueeze, trms_norm, tnorm_grad, tcausal_attention,
)}


def to_torch(spec, requires_grad):
    kind = spec["kind"]
    dtype = torch.float64 if kind == "float" else torch.int64 if kind == "int32" else torch.bool
    t = torch.tensor(spec["data"], dtype=dtype).reshape(spec["shape"])
    return t.requires_grad_(requires_grad and kind == "float")


def encode(t):
    flat = t.detach().to(torch.float64).reshape(-1).tolist()
    data = [v if math.isfinite(v) else ("nan" if v != v else "inf" if v > 0 else "-inf") for v in flat]
    return {"shape": list(t.shape), "dtype": str(t.dtype).replace("torch.", ""), "data": data}


def run(case):
    want_grad = case.get("ct") is not None
    xs = [to_torch(s, want_grad) for s in case["inputs"]]
    scope = {"torch": torch, "F": F, "math": math, "p": case["params"], "xs": xs, "DT": DT}
    scope.update({f"x{i}": x for i, x in enumerate(xs)})
    scope.update(HELPERS)
    out = eval(case["torch"], scope)
    result = {"value": encode(out)}
    if want_grad:
        floats = [x for x in xs if x.requires_grad]
        ct = torch.tensor(case["ct"]["data"], dtype=torch.float64).reshape(case["ct"]["shape"]).to(out.dtype)
        grads = torch.autograd.grad(out, floats, ct, allow_unused=True) if out.requires_grad else [None] * len(floats)
        result["grads"] = [encode(g if g is not None else torch.zeros_like(x)) for g, x in zip(grads, floats)]
    return result


def main():
    cases = json.load(sys.stdin)["cases"]
    results = []
    for case in cases:
        try:
            results.append(run(case))
        except Exception as e:  # reported per case, so one bad row does not hide the others
            results.append({"error": f"{type(e).__name__}: {e}"})
    json.dump({"results": results}, sys.stdout)


if __name__ == "__main__":
    main()
