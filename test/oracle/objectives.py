"""Oracle for test/objectives: every preference objective and sequenceLogps,
written independently in PyTorch (float64) from docs/OBJECTIVES.md and TRL's
formulas, with gradients from torch.autograd.

stdin:  {"objectives": [{"name", "options", "batch": {field: [numbers]}}],
         "sequences": [{"logits": wire, "labels": wire, "mask": wire, "weights": [B]}]}
stdout: {"objectives": [{"loss": number, "grads": {field: [numbers]}}],
         "sequences": [{"sum": [B], "count": [B], "grad": wire}]}
"""
import json
import math
import sys

import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)

LOGPS = ["policyChosenLogps", "policyRejectedLogps", "refChosenLogps", "refRejectedLogps",
         "policyChosenLogpsNoImage", "refChosenLogpsNoImage"]


def ell(z):
    """-log sigmoid(z)"""
    return -F.logsigmoid(z)


def smoothed(z, eps):
    return (1 - eps) * ell(z) + eps * ell(-z)


class Pairs:
    """The batch seen by an objective: S (or S/L), and r = S - S_ref (or S when reference-free)."""

    def __init__(self, b, length_normalize, reference_free):
        self.lc, self.lr = b["chosenLengths"], b["rejectedLengths"]
        n = (lambda x, l: x / l) if length_normalize else (lambda x, l: x)
        self.sc, self.sr = n(b["policyChosenLogps"], self.lc), n(b["policyRejectedLogps"], self.lr)
        self.ref_c = 0 if reference_free else n(b["refChosenLogps"], self.lc)
        self.ref_r = 0 if reference_free else n(b["refRejectedLogps"], self.lr)
        self.rc, self.rr = self.sc - self.ref_c, self.sr - self.ref_r
        self.sc_noimg = n(b["policyChosenLogpsNoImage"], self.lc)
        self.ref_c_noimg = 0 if reference_free else n(b["refChosenLogpsNoImage"], self.lc)


def with_defaults(options, **defaults):
    unknown = set(options) - set(defaults)
    if unknown:
        raise ValueError("unknown options %s" % unknown)
    return {**defaults, **options}


FAMILY = dict(beta=0.1, lengthNormalize=False, referenceFree=False)


def family(options, **extra):
    o = with_defaults(options, **{**FAMILY, **extra})
    return o, Pairs(BATCH, o["lengthNormalize"], o["referenceFree"])


def dpo(options):
    o, p = family(options, labelSmoothing=0.0)
    return smoothed(o["beta"] * (p.rc - p.rr), o["labelSmoothing"])


def robust(options):
    o, p = family(options, labelSmoothing=0.0)
    z, e = o["beta"] * (p.rc - p.rr), o["labelSmoothing"]
    return ((1 - e) * ell(z) - e * ell(-z)) / (1 - 2 * e)


def hinge(options):
    o, p = family(options)
    return torch.relu(1 - o["beta"] * (p.rc - p.rr))


def ipo(options):
    o, p = family(options, lengthNormalize=True)
    return ((p.rc - p.rr) - 1 / (2 * o["beta"])) ** 2


def exo_pair(options):
    o, p = family(options, labelSmoothing=1e-3)
    z, e = o["beta"] * (p.rc - p.rr), o["labelSmoothing"]
    return torch.sigmoid(z) * (F.logsigmoid(z) - math.log(1 - e)) + torch.sigmoid(-z) * (F.logsigmoid(-z) - math.log(e))


def nca_pair(options):
    o, p = family(options)
    c, r = o["beta"] * p.rc, o["beta"] * p.rr
    return -F.logsigmoid(c) - 0.5 * F.logsigmoid(-c) - 0.5 * F.logsigmoid(-r)


def bco_pair(options):
    o, p = family(options, delta=0.0)
    return ell(o["beta"] * p.rc - o["delta"]) + ell(-(o["beta"] * p.rr - o["delta"]))


def sppo_hard(options):
    o, p = family(options)
    return (p.rc - 0.5 / o["beta"]) ** 2 + (p.rr + 0.5 / o["beta"]) ** 2


def apo_zero(options):
    o, p = family(options)
    return 1 - torch.sigmoid(o["beta"] * p.rc) + torch.sigmoid(o["beta"] * p.rr)


def apo_down(options):
    o, p = family(options)
    return torch.sigmoid(o["beta"] * p.rc) + 1 - torch.sigmoid(o["beta"] * (p.rc - p.rr))


def discopop(options):
    o, p = family(options, tau=0.05)
    z = o["beta"] * (p.rc - p.rr)
    m = torch.sigmoid(z / o["tau"])
    return (1 - m) * ell(z) + m * torch.exp(-z)


def dpop(options):
    o, p = family(options, **{"lambda": 50.0})
    penalty = torch.clamp(p.ref_c - p.sc, min=0)
    return ell(o["beta"] * ((p.rc - p.rr) - o["lambda"] * penalty))


def sft(options):
    o = with_defaults(options, lengthNormalize=True)
    return -Pairs(BATCH, o["lengthNormalize"], True).sc


def simpo(options):
    o = with_defaults(options, beta=2.0, gamma=0.5, labelSmoothing=0.0, lengthNormalize=True)
    p = Pairs(BATCH, o["lengthNormalize"], True)
    return smoothed(o["beta"] * (p.sc - p.sr) - o["gamma"], o["labelSmoothing"])


def cpo(options):
    o = with_defaults(options, beta=0.1, labelSmoothing=0.0, lengthNormalize=False)
    p = Pairs(BATCH, o["lengthNormalize"], True)
    return smoothed(o["beta"] * (p.sc - p.sr), o["labelSmoothing"])


def orpo(options):
    o = with_defaults(options, **{"lambda": 0.1})
    p = Pairs(BATCH, True, True)
    log_odds = (p.sc - p.sr) - (torch.log1p(-torch.exp(p.sc)) - torch.log1p(-torch.exp(p.sr)))
    return -p.sc - o["lambda"] * F.logsigmoid(log_odds)


def mdpo(options):
    o, p = family(options)
    b = o["beta"]
    image = (p.sc - p.sc_noimg) - (p.ref_c - p.ref_c_noimg)
    return ell(b * (p.rc - p.rr)) + ell(b * image) + ell(b * p.rc)


def acpo(options):
    o, p = family(options, delta=0.01, target="batch", clip=[0.0, 1.0], symmetric=False)
    b = o["beta"]
    with torch.no_grad():
        rc, rr = b * p.rc, b * p.rr
        tau = o["delta"] * (p.lc + p.lr)
        if o["target"] == "batch":
            tau = tau.mean().expand_as(tau)
        active = (rc - rr >= tau) & (rr < 0)
        ratio = (rc - tau) / torch.where(active, rr, -torch.ones_like(rr))
        alpha = torch.where(active, ratio.clamp(o["clip"][0], o["clip"][1]), torch.ones_like(rr))
    if o["symmetric"]:
        return ell(b * alpha * (p.rc - p.rr))
    return ell(b * (p.rc - alpha * p.rr))


def mean(f):
    return lambda options: f(options).mean()


OBJECTIVES = {
    "dpo": mean(dpo), "robust": mean(robust), "hinge": mean(hinge), "ipo": mean(ipo), "exoPair": mean(exo_pair),
    "ncaPair": mean(nca_pair), "bcoPair": mean(bco_pair), "sppoHard": mean(sppo_hard), "apoZero": mean(apo_zero),
    "apoDown": mean(apo_down), "discopop": mean(discopop), "dpop": mean(dpop), "sft": mean(sft), "simpo": mean(simpo),
    "cpo": mean(cpo), "orpo": mean(orpo), "mdpo": mean(mdpo), "acpo": mean(acpo),
    "mpo": lambda o: 0.8 * dpo({}).mean() + 0.2 * bco_pair({}).mean() + sft({}).mean(),
    "acpo+sft": lambda o: acpo(o).mean() + sft({}).mean(),
}

BATCH = None


def objective_case(case):
    global BATCH
    BATCH = {k: torch.tensor(v, requires_grad=k in LOGPS) for k, v in case["batch"].items()}
    loss = OBJECTIVES[case["name"]](case["options"])
    leaves = [BATCH[k] for k in LOGPS]
    grads = torch.autograd.grad(loss, leaves, allow_unused=True)
    return {
        "loss": loss.item(),
        "grads": {k: (g if g is not None else torch.zeros_like(x)).tolist() for k, g, x in zip(LOGPS, grads, leaves)},
    }


def to_t(w, dtype=torch.float64):
    return torch.tensor(w["data"], dtype=dtype).reshape(w["shape"])


def sequence_case(case):
    logits = to_t(case["logits"]).requires_grad_(True)
    labels = to_t(case["labels"], torch.int64)
    mask = to_t(case["mask"])
    logp = torch.log_softmax(logits[:, :-1, :], dim=-1)
    targets = labels[:, 1:].clamp(min=0)
    picked = logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    m = mask[:, 1:]
    total = (picked * m).sum(-1)
    (grad,) = torch.autograd.grad((total * torch.tensor(case["weights"])).sum(), logits)
    return {"sum": total.tolist(), "count": m.sum(-1).tolist(),
            "grad": {"shape": list(grad.shape), "data": grad.reshape(-1).tolist()}}


payload = json.load(sys.stdin)
json.dump({
    "objectives": [objective_case(c) for c in payload["objectives"]],
    "sequences": [sequence_case(c) for c in payload["sequences"]],
}, sys.stdout)
