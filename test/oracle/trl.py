"""Oracle for test/objectives/trl.test.ts: the loss arithmetic of TRL's
DPOTrainer, CPOTrainer and ORPOTrainer, transcribed from TRL's source at
v0.25.1 (commit 1cf8d56c) and main (commit f2cd577), restricted to the
per-sequence quantities that fromTrl sees:

  S_c, S_r     policy log-probs summed over completion tokens (leaves, grads wanted)
  R_c, R_r     reference log-probs (constants, as under TRL's torch.no_grad)
  L_c, L_r     completion token counts
  P_c, M_c     ORPO: chosen prompt tokens' log-prob sum (a leaf) and count

A token-level cross entropy over the chosen completion (TRL's nll_loss) is
-sum(S_c) / sum(L_c) in these terms; ORPO's, over prompt and completion,
-(sum(P_c) + sum(S_c)) / (sum(M_c) + sum(L_c)).

As in a TRL run, torch's default dtype stays float32 (TRL builds some
constants with torch.tensor(python_float)); the batch is float64.

stdin:  {"cases": [{"config": {...TRL fields, "trainer", "version"}, "batches": [{field: [numbers]}]}]}
stdout: {"cases": [[{"loss", "grads": {field: [numbers]}, "metrics": {name: number}}, ...per batch]]}
Non-finite numbers travel as the strings "nan", "inf", "-inf".
"""
import json
import math
import sys

import torch
import torch.nn.functional as F

F64 = torch.float64


def sort(x):
    return torch.sort(x, dim=0)[0]


class RunningMoments:
    """trl.trainer.utils.RunningMoments (v0.25.1), single process."""

    def __init__(self):
        self.mean, self.std, self.var, self.count = 0, 1, 1, 1e-24

    @torch.no_grad()
    def update(self, xs):
        xs_count = xs.numel()
        xs_var, xs_mean = torch.var_mean(xs, unbiased=False)
        xs_mean, xs_var = xs_mean.float(), xs_var.float()
        delta = xs_mean - self.mean
        tot_count = self.count + xs_count
        new_sum = xs_var * xs_count
        old_sum = self.var * self.count + delta**2 * self.count * xs_count / tot_count
        tot_sum = old_sum + new_sum
        self.mean += (delta * xs_count / tot_count).item()
        new_var = tot_sum / tot_count
        self.std = (new_var * tot_count / (tot_count - 1)).float().sqrt().item()
        self.var = new_var.item()
        self.count = tot_count


def smoothed(z, eps):
    return -F.logsigmoid(z) * (1 - eps) - F.logsigmoid(-z) * eps


def completion_nll(b):
    return -b["S_c"].sum() / b["L_c"].sum()


class DPO025:
    """DPOTrainer.dpo_loss and get_batch_loss_metrics at v0.25.1."""

    def __init__(self, c):
        lt = c.get("loss_type", "sigmoid")
        self.loss_type = lt if isinstance(lt, list) else [lt]
        self.loss_weights = c.get("loss_weights")
        self.beta = c.get("beta", 0.1)
        self.label_smoothing = c.get("label_smoothing", 0.0)
        self.reference_free = c.get("reference_free", False)
        self.rpo_alpha = c.get("rpo_alpha")
        self.discopop_tau = c.get("discopop_tau", 0.05)
        if "bco_pair" in self.loss_type:
            self.running = RunningMoments()

    def dpo_loss(self, chosen_logps, rejected_logps, ref_chosen_logps, ref_rejected_logps, loss_type, nll):
        beta, rf = self.beta, self.reference_free
        chosen_logratios = chosen_logps - (not rf) * ref_chosen_logps
        rejected_logratios = rejected_logps - (not rf) * ref_rejected_logps
        logratios = chosen_logps - rejected_logps
        ref_logratios = torch.tensor([0], dtype=logratios.dtype) if rf else ref_chosen_logps - ref_rejected_logps
        logits = logratios - ref_logratios
        if loss_type == "sigmoid":
            losses = smoothed(beta * logits, self.label_smoothing)
        elif loss_type == "robust":
            e = self.label_smoothing
            losses = (-F.logsigmoid(beta * logits) * (1 - e) + F.logsigmoid(-beta * logits) * e) / (1 - 2 * e)
        elif loss_type == "exo_pair":
            if self.label_smoothing == 0:
                self.label_smoothing = 1e-3
            e = self.label_smoothing
            losses = (beta * logits).sigmoid() * (F.logsigmoid(beta * logits) - math.log(1 - e)) + (
                -beta * logits
            ).sigmoid() * (F.logsigmoid(-beta * logits) - math.log(e))
        elif loss_type == "hinge":
            losses = torch.relu(1 - beta * logits)
        elif loss_type == "ipo":
            losses = (logits - 1 / (2 * beta)) ** 2
        elif loss_type == "bco_pair":
            clr = chosen_logps - ref_chosen_logps
            rlr = rejected_logps - ref_rejected_logps
            rewards = torch.cat((beta * clr, beta * rlr), 0).mean().detach()
            self.running.update(rewards)
            delta = self.running.mean
            losses = -F.logsigmoid((beta * clr) - delta) - F.logsigmoid(-(beta * rlr - delta))
        elif loss_type == "sppo_hard":
            a = chosen_logps - ref_chosen_logps
            b = rejected_logps - ref_rejected_logps
            losses = (a - 0.5 / beta) ** 2 + (b + 0.5 / beta) ** 2
        elif loss_type == "nca_pair":
            cr = (chosen_logps - ref_chosen_logps) * beta
            rr = (rejected_logps - ref_rejected_logps) * beta
            losses = -F.logsigmoid(cr) - 0.5 * F.logsigmoid(-cr) - 0.5 * F.logsigmoid(-rr)
        elif loss_type == "aot_pair":
            delta = sort(chosen_logps - ref_chosen_logps) - sort(rejected_logps - ref_rejected_logps)
            losses = smoothed(beta * delta, self.label_smoothing)
        elif loss_type == "aot":
            delta = sort(chosen_logps - rejected_logps) - sort(ref_chosen_logps - ref_rejected_logps)
            losses = smoothed(beta * delta, self.label_smoothing)
        elif loss_type == "apo_zero":
            losses = (1 - F.sigmoid(beta * chosen_logratios)) + F.sigmoid(beta * rejected_logratios)
        elif loss_type == "apo_down":
            losses = F.sigmoid(beta * chosen_logratios) + (1 - F.sigmoid(beta * (chosen_logratios - rejected_logratios)))
        elif loss_type == "discopop":
            logits = ((chosen_logps - rejected_logps) - (ref_chosen_logps - ref_rejected_logps)) * beta
            m = torch.sigmoid(logits / self.discopop_tau)
            losses = -F.logsigmoid(logits) * (1 - m) + torch.exp(-logits) * m
        elif loss_type == "sft":
            losses = nll.expand(chosen_logps.shape[0])
        else:
            raise ValueError(loss_type)
        chosen_rewards = beta * (chosen_logps - ref_chosen_logps).detach()
        rejected_rewards = beta * (rejected_logps - ref_rejected_logps).detach()
        return losses, chosen_rewards, rejected_rewards

    def step(self, b):
        S_c, S_r, R_c, R_r = b["S_c"], b["S_r"], b["R_c"], b["R_r"]
        if "ipo" in self.loss_type:
            S_c, S_r, R_c, R_r = S_c / b["L_c"], S_r / b["L_r"], R_c / b["L_c"], R_r / b["L_r"]
        wants_nll = self.rpo_alpha is not None or "sft" in self.loss_type
        nll = completion_nll(b) if wants_nll else None
        losses, chosen_rewards, rejected_rewards = 0, 0, 0
        for idx, loss_type in enumerate(self.loss_type):
            l, c, r = self.dpo_loss(S_c, S_r, R_c, R_r, loss_type, nll)
            weight = self.loss_weights[idx] if self.loss_weights else 1.0
            losses = losses + l * weight
            chosen_rewards = chosen_rewards + c * weight
            rejected_rewards = rejected_rewards + r * weight
        reward_accuracies = (chosen_rewards > rejected_rewards).float()
        if self.rpo_alpha is not None:
            losses = losses + self.rpo_alpha * nll
        m = {
            "rewards/chosen": chosen_rewards.mean(),
            "rewards/rejected": rejected_rewards.mean(),
            "rewards/accuracies": reward_accuracies.mean(),
            "rewards/margins": (chosen_rewards - rejected_rewards).mean(),
            "logps/chosen": S_c.detach().mean(),
            "logps/rejected": S_r.detach().mean(),
        }
        if wants_nll:
            m["nll_loss"] = nll.detach().mean()
        return losses.mean(), m


class DPO1:
    """DPOTrainer._compute_loss on main (f2cd577)."""

    def __init__(self, c):
        lt = c.get("loss_type", ["sigmoid"])
        self.loss_types = [lt] if isinstance(lt, str) else lt
        self.loss_weights = c.get("loss_weights") or [1.0] * len(self.loss_types)
        self.beta = c.get("beta", 0.1)
        self.label_smoothing = c.get("label_smoothing", 0.0)
        self.discopop_tau = c.get("discopop_tau", 0.05)

    def step(self, b):
        beta = self.beta
        chosen_logps, rejected_logps, ref_chosen_logps, ref_rejected_logps = b["S_c"], b["S_r"], b["R_c"], b["R_r"]
        chosen_logratios = chosen_logps - ref_chosen_logps
        rejected_logratios = rejected_logps - ref_rejected_logps
        chosen_scores, rejected_scores = chosen_logratios, rejected_logratios
        delta_score = chosen_scores - rejected_scores
        loss = 0.0
        for loss_type, loss_weight in zip(self.loss_types, self.loss_weights):
            if loss_type == "sigmoid":
                per = -F.logsigmoid(beta * delta_score)
            elif loss_type == "hinge":
                per = torch.relu(1 - beta * delta_score)
            elif loss_type in ("ipo", "sigmoid_norm"):
                d = chosen_scores / b["L_c"].clamp(min=1.0) - rejected_scores / b["L_r"].clamp(min=1.0)
                per = (d - 1 / (2 * beta)) ** 2 if loss_type == "ipo" else -F.logsigmoid(beta * d)
            elif loss_type == "exo_pair":
                epsilon = torch.tensor(self.label_smoothing)  # float32, TRL's default dtype
                qw = torch.sigmoid(beta * delta_score)
                log_qw = F.logsigmoid(beta * delta_score)
                ql = torch.sigmoid(-beta * delta_score)
                log_ql = F.logsigmoid(-beta * delta_score)
                per = qw * (log_qw - torch.log1p(-epsilon)) + ql * (log_ql - torch.log(epsilon))
            elif loss_type == "nca_pair":
                cr, rr = beta * chosen_scores, beta * rejected_scores
                per = -F.logsigmoid(cr) - 0.5 * F.logsigmoid(-cr) - 0.5 * F.logsigmoid(-rr)
            elif loss_type == "robust":
                e = self.label_smoothing
                clean = -(1 - e) * F.logsigmoid(beta * delta_score)
                flipped = -e * F.logsigmoid(-beta * delta_score)
                per = (clean - flipped) / (1 - 2 * e)
            elif loss_type == "bco_pair":
                per = -F.logsigmoid(beta * chosen_scores) - F.logsigmoid(-(beta * rejected_scores))
            elif loss_type == "sppo_hard":
                per = (chosen_scores - 0.5 / beta) ** 2 + (rejected_scores + 0.5 / beta) ** 2
            elif loss_type == "aot":
                delta = sort(chosen_logps - rejected_logps) - sort(ref_chosen_logps - ref_rejected_logps)
                per = smoothed(beta * delta, self.label_smoothing)
            elif loss_type == "aot_unpaired":
                delta = sort(chosen_logratios) - sort(rejected_logratios)
                per = smoothed(beta * delta, self.label_smoothing)
            elif loss_type == "apo_zero":
                per = (1 - torch.sigmoid(beta * chosen_logratios)) + torch.sigmoid(beta * rejected_logratios)
            elif loss_type == "apo_down":
                per = torch.sigmoid(beta * chosen_logratios) + (1 - torch.sigmoid(beta * delta_score))
            elif loss_type == "discopop":
                logits = delta_score * beta
                m = torch.sigmoid(logits / self.discopop_tau)
                per = -F.logsigmoid(logits) * (1 - m) + torch.exp(-logits) * m
            elif loss_type == "sft":
                per = completion_nll(b).expand(chosen_logps.size(0))
            else:
                raise ValueError(loss_type)
            loss += per.mean() * loss_weight
        chosen_rewards = beta * chosen_logratios.detach()
        rejected_rewards = beta * rejected_logratios.detach()
        return loss, {
            "rewards/chosen": chosen_rewards.mean(),
            "rewards/rejected": rejected_rewards.mean(),
            "rewards/accuracies": (chosen_rewards > rejected_rewards).float().mean(),
            "rewards/margins": (chosen_rewards - rejected_rewards).mean(),
            "logps/chosen": chosen_logps.detach().mean(),
            "logps/rejected": rejected_logps.detach().mean(),
        }


class CPO:
    """CPOTrainer.cpo_loss and get_batch_loss_metrics (the same at v0.25.1 and main)."""

    def __init__(self, c):
        lt = c.get("loss_type", "sigmoid")
        self.loss_type = lt[0] if isinstance(lt, list) else lt
        self.beta = c.get("beta", 0.1)
        self.label_smoothing = c.get("label_smoothing", 0.0)
        self.cpo_alpha = c.get("cpo_alpha", 1.0)
        self.simpo_gamma = c.get("simpo_gamma", 0.5)
        self.alpha = c.get("alpha", 0.0)
        if self.loss_type == "alphapo":
            self.loss_type, self.cpo_alpha = "simpo", 0.0

    def step(self, b):
        beta, e = self.beta, self.label_smoothing
        nll = torch.tensor(0.0) if self.cpo_alpha == 0 else completion_nll(b)
        c, r = b["S_c"], b["S_r"]
        if self.loss_type in ["ipo", "simpo"]:
            c, r = c / b["L_c"], r / b["L_r"]
        if self.alpha != 0.0:
            pc = (1 - torch.exp(c).pow(-self.alpha)) / self.alpha
            pr = (1 - torch.exp(r).pow(-self.alpha)) / self.alpha
            logits = pc - pr
        else:
            logits = c - r
        if self.loss_type == "simpo":
            logits = logits - self.simpo_gamma / beta
            losses = smoothed(beta * logits, e)
        elif self.loss_type == "sigmoid":
            losses = smoothed(beta * logits, e)
        elif self.loss_type == "hinge":
            losses = torch.relu(1 - beta * logits)
        elif self.loss_type == "ipo":
            losses = (logits - 1 / (2 * beta)) ** 2
        else:
            raise ValueError(self.loss_type)
        cr = beta * (pc if self.alpha != 0.0 else c).detach()
        rr = beta * (pr if self.alpha != 0.0 else r).detach()
        loss = losses.mean() + self.cpo_alpha * nll
        return loss, {
            "rewards/chosen": cr.mean(),
            "rewards/rejected": rr.mean(),
            "rewards/accuracies": (cr > rr).float().mean(),
            "rewards/margins": (cr - rr).mean(),
            "logps/rejected": r.detach().mean(),
            "logps/chosen": c.detach().mean(),
            "nll_loss": nll.detach().mean(),
        }


def log1mexp(x):
    """trl/experimental/orpo/orpo_trainer.py on main."""
    t = -0.6931471805599453
    return torch.where(x < t, torch.log1p(-torch.exp(x)), torch.log(-torch.expm1(x)))


class ORPO:
    """ORPOTrainer.odds_ratio_loss and get_batch_loss_metrics; main casts the log-probs to float32 first."""

    def __init__(self, c, version):
        self.beta = c.get("beta", 0.1)
        self.main = version == "1"

    def step(self, b):
        if "P_c" in b:
            nll = -(b["P_c"].sum() + b["S_c"].sum()) / (b["M_c"].sum() + b["L_c"].sum())
        else:
            nll = completion_nll(b)
        lc, lr = b["S_c"] / b["L_c"], b["S_r"] / b["L_r"]
        pc, pr = (lc.float(), lr.float()) if self.main else (lc, lr)
        if self.main:
            log_odds = (pc - pr) - (log1mexp(pc) - log1mexp(pr))
        else:
            log_odds = (pc - pr) - (torch.log1p(-torch.exp(pc)) - torch.log1p(-torch.exp(pr)))
        ratio = F.logsigmoid(log_odds)
        losses = self.beta * ratio
        cr, rr = self.beta * pc.detach(), self.beta * pr.detach()
        loss = nll - losses.mean()
        return loss, {
            "rewards/chosen": cr.mean(),
            "rewards/rejected": rr.mean(),
            "rewards/accuracies": (cr > rr).float().mean(),
            "rewards/margins": (cr - rr).mean(),
            "logps/rejected": lr.detach().mean(),
            "logps/chosen": lc.detach().mean(),
            "nll_loss": nll.detach().mean(),
            "log_odds_ratio": torch.mean(ratio).detach(),
            "log_odds_chosen": torch.mean(log_odds).detach(),
        }


def trainer(config):
    t, v = config["trainer"], config.get("version", "1")
    c = {k: x for k, x in config.items() if k not in ("trainer", "version")}
    if t == "dpo":
        return DPO025(c) if v == "0.25" else DPO1(c)
    return CPO(c) if t == "cpo" else ORPO(c, v)


LEAVES = ["S_c", "S_r", "P_c"]


def num(x):
    return x if math.isfinite(x) else ("nan" if math.isnan(x) else ("inf" if x > 0 else "-inf"))


def run_case(case):
    tr = trainer(case["config"])
    out = []
    for raw in case["batches"]:
        b = {k: torch.tensor(v, dtype=F64, requires_grad=k in LEAVES) for k, v in raw.items()}
        loss, metrics = tr.step(b)
        leaves = [k for k in LEAVES if k in b]
        grads = torch.autograd.grad(loss, [b[k] for k in leaves], allow_unused=True)
        out.append({
            "loss": num(loss.item()),
            "grads": {k: [num(v) for v in (g if g is not None else torch.zeros_like(b[k])).tolist()] for k, g in zip(leaves, grads)},
            "metrics": {k: num(v.item()) for k, v in metrics.items()},
        })
    return out


payload = json.load(sys.stdin)
json.dump({"cases": [run_case(c) for c in payload["cases"]]}, sys.stdout)
