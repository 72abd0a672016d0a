"""PyTorch (CPU, OpenBLAS) timings for the anchorgrad bench: one process, its own loop.

Reads {"threads": n, "cases": [{"id", "spec", "iterations", "warmup"}]} as JSON on
stdin and writes {"torch": version, "results": {id: {"ms": median} | {"error": text}}}.
Inputs are random; only the timings are compared. bench/peers/torch.ts starts one
process per configuration (threads, OMP_WAIT_POLICY, glibc malloc thresholds: the
environment only counts when set before torch loads) and keeps the fastest per case.
"""
import json
import math
import statistics
import sys
import time

import torch
import torch.nn.functional as F


def make(spec):
    k = spec["kind"]
    r = torch.randn
    if k == "matmul":
        n = spec["n"]; a, b = r(n, n), r(n, n)
        return lambda: a @ b
    if k == "bmm":
        a, b = r(spec["b"], spec["m"], spec["k"]), r(spec["b"], spec["k"], spec["n"])
        return lambda: a @ b
    if k == "softmax":
        x = r(spec["rows"], spec["cols"])
        return lambda: torch.softmax(x, -1)
    if k == "layerNorm":
        c = spec["cols"]; x, w, b = r(spec["rows"], c), r(c), r(c)
        return lambda: F.layer_norm(x, (c,), w, b, 1e-5)
    if k == "attention":
        H, T, D = spec["H"], spec["T"], spec["D"]
        q, kk, v = (r(H, T, D, requires_grad=True) for _ in range(3))
        mask = torch.ones(T, T, dtype=torch.bool).tril()

        def run():
            s = (q @ kk.transpose(1, 2)) / math.sqrt(D)
            out = (torch.softmax(s.masked_fill(~mask, -math.inf), -1) @ v).sum()
            return torch.autograd.grad(out, (q, kk, v))
        return run
    if k == "conv":
        x = r(spec["N"], spec["C"], spec["HW"], spec["HW"])
        w, b = r(spec["O"], spec["C"], spec["P"], spec["P"]), r(spec["O"])
        return lambda: F.conv2d(x, w, b, stride=spec["P"])
    if k == "sequenceLogps":
        B, T, V = spec["B"], spec["T"], spec["V"]
        logits = r(B, T, V, requires_grad=True)
        labels = torch.randint(0, V, (B, T - 1, 1))

        def run():
            lp = torch.log_softmax(logits[:, :-1], -1).gather(-1, labels).sum()
            return torch.autograd.grad(lp, logits)
        return run
    raise ValueError(f"unknown case kind {k}")


def main():
    job = json.load(sys.stdin)
    torch.set_num_threads(job["threads"])
    # the process's first products start OpenBLAS's threads and allocator: without this the
    # first case (matmul 256³) measured anywhere from 8 to 200 GFLOP/s from run to run
    warm = torch.randn(512, 512)
    for _ in range(20):
        warm @ warm
    results = {}
    for case in job["cases"]:
        try:
            fn = make(case["spec"])
            for _ in range(case["warmup"]):
                fn()
            times = []
            for _ in range(case["iterations"]):
                t0 = time.perf_counter()
                fn()
                times.append((time.perf_counter() - t0) * 1e3)
            results[case["id"]] = {"ms": statistics.median(times)}
        except Exception as e:  # report, keep going
            results[case["id"]] = {"error": f"{type(e).__name__}: {e}"[:160]}
    json.dump({"torch": torch.__version__, "threads": torch.get_num_threads(), "results": results}, sys.stdout)


if __name__ == "__main__":
    main()
