"""Oracle for test/optim: run torch.optim.AdamW / SGD in float64 for a few steps.

stdin: {"cases": [{"kind": "adamw"|"sgd", "hparams": {...}, "params": [wire],
                   "grads": [[wire per param] per step], "lrs": [lr per step]}]}
stdout: {"results": [[[wire per param] after each step] per case]}
The gradients are given (not computed) so the optimizer alone is compared.
"""
import json
import sys

import torch


def to_t(w):
    return torch.tensor(w["data"], dtype=torch.float64).reshape(w["shape"])


def to_w(t):
    return {"shape": list(t.shape), "data": t.detach().reshape(-1).tolist()}


def run(case):
    params = [torch.nn.Parameter(to_t(w)) for w in case["params"]]
    h = case["hparams"]
    if case["kind"] == "adamw":
        opt = torch.optim.AdamW(params, lr=case["lrs"][0], betas=(h["beta1"], h["beta2"]), eps=h["eps"], weight_decay=h["weightDecay"])
    else:
        opt = torch.optim.SGD(params, lr=case["lrs"][0], momentum=h["momentum"], dampening=h["dampening"], weight_decay=h["weightDecay"], nesterov=h["nesterov"])
    out = []
    for grads, lr in zip(case["grads"], case["lrs"]):
        for group in opt.param_groups:
            group["lr"] = lr
        for p, g in zip(params, grads):
            p.grad = to_t(g)
        opt.step()
        out.append([to_w(p) for p in params])
    return out


payload = json.load(sys.stdin)
json.dump({"results": [run(c) for c in payload["cases"]]}, sys.stdout)
