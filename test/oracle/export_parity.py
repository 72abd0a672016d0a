"""Runner for test/objectives/export-torch.test.ts: import the modules that
ag.exportTorch wrote and run each exported function on the given batches,
in the given dtype, returning loss, torch-autograd gradients with respect to
every log-prob input, and metrics.

stdin:  {"modules": {"<module name>": "<python source>"},
         "runs": [{"module", "dtype": "float64"|"float32", "batch": {snake_field: [numbers]}}]}
stdout: {"runs": [{"loss", "grads": {snake_field: [numbers]}, "metrics": {name: number}} | {"error": text}]}
Lengths are passed as int64 tensors, as TRL counts them. Non-finite numbers
travel as the strings "nan", "inf", "-inf".
"""
import importlib
import json
import math
import os
import sys
import tempfile

import torch

LENGTHS = ("chosen_lengths", "rejected_lengths")
NAMED = ("policy_chosen_logps", "policy_rejected_logps", "ref_chosen_logps", "ref_rejected_logps") + LENGTHS


def num(x):
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def run(fn, dtype, batch):
    args = {}
    for k, v in batch.items():
        if k in LENGTHS:
            args[k] = torch.tensor(v, dtype=torch.int64)
        else:
            args[k] = torch.tensor(v, dtype=torch.float64).to(dtype).requires_grad_(True)
    named = {k: args.pop(k) for k in NAMED if k in args}
    loss, metrics = fn(**named, **args)
    if loss.dtype != dtype:
        raise TypeError(f"loss dtype {loss.dtype}, expected {dtype}")
    leaves = {k: v for k, v in {**named, **args}.items() if k not in LENGTHS}
    grads = torch.autograd.grad(loss, list(leaves.values()), allow_unused=True)
    return {
        "loss": num(loss),
        "grads": {k: [num(x) for x in (g if g is not None else torch.zeros_like(leaves[k])).tolist()] for k, g in zip(leaves, grads)},
        "metrics": {k: num(v) for k, v in metrics.items()},
    }


def main():
    payload = json.load(sys.stdin)
    folder = tempfile.mkdtemp(prefix="ag-export-")
    for name, source in payload["modules"].items():
        with open(os.path.join(folder, name + ".py"), "w") as f:
            f.write(source)
    sys.path.insert(0, folder)
    fns = {name: getattr(importlib.import_module(name), name) for name in payload["modules"]}
    out = []
    for r in payload["runs"]:
        dtype = {"float64": torch.float64, "float32": torch.float32}[r["dtype"]]
        try:
            out.append(run(fns[r["module"]], dtype, r["batch"]))
        except Exception as e:  # reported per run, so one bad export names itself
            out.append({"error": f"{type(e).__name__}: {e}"})
    json.dump({"runs": out}, sys.stdout)


if __name__ == "__main__":
    main()
