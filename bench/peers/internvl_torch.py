"""The whole-model PyTorch peer: InternVL in transformers' "-hf" layout, one DPO step.

An independent implementation for the bench (bench/models.ts) and its loss check
(test/bench/internvl-torch.test.ts), written from the public model code of
transformers' InternVLForConditionalGeneration (models/internvl) and
Qwen2ForCausalLM (models/qwen2), not from anchorgrad's TypeScript:

- vision tower (InternViT): 2-D conv patch embedding, a class token, absolute
  position embeddings; per layer x += lambda_1 * attn(LN(x)), x += lambda_2 *
  mlp(LN(x)) with bidirectional attention over split q/k/v projections and the
  exact (erf) GELU; a final LayerNorm only when use_mean_pooling is false;
- connector: drop the class token, pixel shuffle by downsample_ratio, then
  LayerNorm (eps 1e-5) -> Linear -> GELU -> Linear;
- Qwen2 decoder: token embeddings with the image features scattered over the
  image-token positions in order, RMSNorm, rotate-half RoPE over positions
  0..T-1, grouped-query causal attention (q/k/v bias, none on o), SwiGLU MLP,
  final RMSNorm and an lm_head (tied to the embeddings when the file has none).

It reads the model directory that `anchorgrad init-model --layout hf` writes
(config.json and model.safetensors, parsed here by hand: Debian's python3-torch
comes without the safetensors package).

Job on stdin (JSON):
  {"threads": n,
   "cases": [{"id", "dir", "pairs", "chosen": [[ids]], "rejected": [[ids]],
              "mask": [[0/1]] (optional, completion tokens; default all),
              "pixels": {"shape": [P, 3, S, S], "data": [...]},
              "hp": {"lr", "beta", "weight_decay", "betas": [b1, b2], "eps"},
              "check_steps": 3, "iterations", "warmup", "budget_ms",
              "time": true}]}
Output on stdout:
  {"torch": version, "threads": n,
   "results": {id: {"losses": [...], "chosen": [[...]], "rejected": [[...]],
                    "forward_ms", "step_ms", "adamw": "for-loop" | "foreach",
                    "runs": [forward, step]} | {"error": text}}}

A step is what a DPO trainer does with one batch: chosen and rejected run as
one forward of 2P sequences (each with the pair's image), sums of the
completion tokens' log-probs, the sigmoid DPO loss against reference sums
(the initial model's, computed once), backward, torch.optim.AdamW. The
first check_steps steps run from the loaded parameters and report their
losses and sums (the bench's loss check), then the timing continues from there.
"""
import json
import math
import statistics
import struct
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

# --- safetensors, by hand ----------------------------------------------------

_DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "F64": torch.float64}


def read_safetensors(path):
    """name -> float32 tensor: an 8-byte little-endian header length, a JSON header, then the raw data."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8 : 8 + n])
    body = memoryview(blob)[8 + n :]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = _DTYPES.get(info["dtype"])
        if dtype is None:
            raise ValueError(f"{path}: {name} has dtype {info['dtype']}, expected a float type")
        start, end = info["data_offsets"]
        # bytearray: frombuffer needs a writable buffer to share without a warning
        flat = torch.frombuffer(bytearray(body[start:end]), dtype=dtype) if end > start else torch.empty(0, dtype=dtype)
        out[name] = flat.reshape(info["shape"]).to(torch.float32)
    return out


def hf_names(weights):
    """Older "-hf" files drop the leading "model." of the vision tower, projector and language model."""
    fixed = {}
    for k, v in weights.items():
        if k.startswith(("vision_tower.", "multi_modal_projector.", "language_model.")):
            k = "model." + k
        fixed[k] = v
    return fixed


def pair(v):
    return v[0] if isinstance(v, (list, tuple)) else v


# --- vision tower ------------------------------------------------------------


class VisionAttention(nn.Module):
    def __init__(self, vc):
        super().__init__()
        d = vc["hidden_size"]
        self.heads = vc["num_attention_heads"]
        self.head_dim = d // self.heads
        bias = vc.get("attention_bias", True)
        self.q_proj = nn.Linear(d, d, bias=bias)
        self.k_proj = nn.Linear(d, d, bias=bias)
        self.v_proj = nn.Linear(d, d, bias=bias)
        self.projection_layer = nn.Linear(d, d)
        if vc.get("use_qk_norm", False):
            raise ValueError("use_qk_norm vision towers are not implemented by this peer")

    def forward(self, x):
        B, N, D = x.shape
        split = lambda t: t.view(B, N, self.heads, self.head_dim).transpose(1, 2)
        q, k, v = split(self.q_proj(x)), split(self.k_proj(x)), split(self.v_proj(x))
        w = torch.softmax((q @ k.transpose(-1, -2)) * self.head_dim**-0.5, dim=-1)
        return self.projection_layer((w @ v).transpose(1, 2).reshape(B, N, D))


class VisionMLP(nn.Module):
    def __init__(self, vc):
        super().__init__()
        self.fc1 = nn.Linear(vc["hidden_size"], vc["intermediate_size"])
        self.fc2 = nn.Linear(vc["intermediate_size"], vc["hidden_size"])

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class VisionLayer(nn.Module):
    def __init__(self, vc):
        super().__init__()
        d, eps = vc["hidden_size"], vc["layer_norm_eps"]
        if vc.get("norm_type", "layer_norm") != "layer_norm":
            raise ValueError(f"vision norm_type {vc['norm_type']} is not implemented by this peer")
        self.attention = VisionAttention(vc)
        self.mlp = VisionMLP(vc)
        self.layernorm_before = nn.LayerNorm(d, eps=eps)
        self.layernorm_after = nn.LayerNorm(d, eps=eps)
        self.lambda_1 = nn.Parameter(torch.ones(d))
        self.lambda_2 = nn.Parameter(torch.ones(d))

    def forward(self, x):
        x = x + self.lambda_1 * self.attention(self.layernorm_before(x))
        return x + self.lambda_2 * self.mlp(self.layernorm_after(x))


class PatchEmbeddings(nn.Module):
    def __init__(self, vc):
        super().__init__()
        p = pair(vc["patch_size"])
        self.projection = nn.Conv2d(vc["num_channels"], vc["hidden_size"], kernel_size=p, stride=p)


class VisionEmbeddings(nn.Module):
    def __init__(self, vc):
        super().__init__()
        d = vc["hidden_size"]
        grid = pair(vc["image_size"]) // pair(vc["patch_size"])
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.patch_embeddings = PatchEmbeddings(vc)
        self.position_embeddings = nn.Parameter(torch.zeros(1, grid * grid + 1, d))

    def forward(self, pixels):
        patches = self.patch_embeddings.projection(pixels).flatten(2).transpose(1, 2)  # row-major patches
        if patches.shape[1] + 1 != self.position_embeddings.shape[1]:
            raise ValueError("this peer runs tiles of the configured image_size only (no position interpolation)")
        cls = self.cls_token.expand(patches.shape[0], -1, -1)
        return torch.cat([cls, patches], dim=1) + self.position_embeddings


class VisionEncoder(nn.Module):
    def __init__(self, vc):
        super().__init__()
        self.layer = nn.ModuleList(VisionLayer(vc) for _ in range(vc["num_hidden_layers"]))


class VisionTower(nn.Module):
    def __init__(self, vc):
        super().__init__()
        self.embeddings = VisionEmbeddings(vc)
        self.encoder = VisionEncoder(vc)
        self.layernorm = None if vc.get("use_mean_pooling", True) else nn.LayerNorm(vc["hidden_size"], eps=vc["layer_norm_eps"])

    def forward(self, pixels):
        x = self.embeddings(pixels)
        for layer in self.encoder.layer:
            x = layer(x)
        return x if self.layernorm is None else self.layernorm(x)


class Projector(nn.Module):
    def __init__(self, vision_width, text_width, ratio):
        super().__init__()
        wide = vision_width * round(1 / ratio) ** 2
        self.layer_norm = nn.LayerNorm(wide)  # torch's default eps 1e-5, as transformers' projector
        self.linear_1 = nn.Linear(wide, text_width)
        self.linear_2 = nn.Linear(text_width, text_width)

    def forward(self, x):
        return self.linear_2(F.gelu(self.linear_1(self.layer_norm(x))))


def pixel_shuffle(x, ratio):
    """[B, W, H, C] -> [B, W*r, H*r, C/r^2]: transformers' two view/permute passes (ps_version v2)."""
    B, W, H, C = x.shape
    x = x.view(B, W, int(H * ratio), int(C / ratio)).permute(0, 2, 1, 3).contiguous()
    x = x.view(B, int(H * ratio), int(W * ratio), int(C / ratio**2)).permute(0, 2, 1, 3).contiguous()
    return x


# --- Qwen2 decoder -----------------------------------------------------------


class RMSNorm(nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))


def rotate_half(x):
    a, b = x.chunk(2, dim=-1)
    return torch.cat([-b, a], dim=-1)


class TextAttention(nn.Module):
    def __init__(self, tc):
        super().__init__()
        d = tc["hidden_size"]
        self.heads, self.kv_heads = tc["num_attention_heads"], tc["num_key_value_heads"]
        self.head_dim = tc.get("head_dim") or d // self.heads
        self.q_proj = nn.Linear(d, self.heads * self.head_dim, bias=True)
        self.k_proj = nn.Linear(d, self.kv_heads * self.head_dim, bias=True)
        self.v_proj = nn.Linear(d, self.kv_heads * self.head_dim, bias=True)
        self.o_proj = nn.Linear(self.heads * self.head_dim, d, bias=False)

    def forward(self, x, cos, sin, causal):
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, self.heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(B, T, self.kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(B, T, self.kv_heads, self.head_dim).transpose(1, 2)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        groups = self.heads // self.kv_heads
        k, v = k.repeat_interleave(groups, dim=1), v.repeat_interleave(groups, dim=1)
        s = (q @ k.transpose(-1, -2)) * self.head_dim**-0.5
        w = torch.softmax(s.masked_fill(~causal, float("-inf")), dim=-1)
        return self.o_proj((w @ v).transpose(1, 2).reshape(B, T, -1))


class TextMLP(nn.Module):
    def __init__(self, tc):
        super().__init__()
        d, m = tc["hidden_size"], tc["intermediate_size"]
        self.gate_proj = nn.Linear(d, m, bias=False)
        self.up_proj = nn.Linear(d, m, bias=False)
        self.down_proj = nn.Linear(m, d, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    def __init__(self, tc):
        super().__init__()
        self.self_attn = TextAttention(tc)
        self.mlp = TextMLP(tc)
        self.input_layernorm = RMSNorm(tc["hidden_size"], tc["rms_norm_eps"])
        self.post_attention_layernorm = RMSNorm(tc["hidden_size"], tc["rms_norm_eps"])

    def forward(self, x, cos, sin, causal):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, causal)
        return x + self.mlp(self.post_attention_layernorm(x))


class Qwen2(nn.Module):
    def __init__(self, tc):
        super().__init__()
        if tc.get("model_type", "qwen2") != "qwen2":
            raise ValueError(f"text model_type {tc.get('model_type')}: this peer implements qwen2 only")
        self.embed_tokens = nn.Embedding(tc["vocab_size"], tc["hidden_size"])
        self.layers = nn.ModuleList(DecoderLayer(tc) for _ in range(tc["num_hidden_layers"]))
        self.norm = RMSNorm(tc["hidden_size"], tc["rms_norm_eps"])
        hd = tc.get("head_dim") or tc["hidden_size"] // tc["num_attention_heads"]
        self.register_buffer("inv_freq", 1.0 / tc["rope_theta"] ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd), persistent=False)

    def forward(self, embeds):
        T = embeds.shape[1]
        angles = torch.outer(torch.arange(T, dtype=torch.float32), self.inv_freq)
        angles = torch.cat([angles, angles], dim=-1)
        cos, sin = angles.cos(), angles.sin()
        causal = torch.ones(T, T, dtype=torch.bool).tril()
        x = embeds
        for layer in self.layers:
            x = layer(x, cos, sin, causal)
        return self.norm(x)


# --- the whole model ---------------------------------------------------------


class InternVLModel(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        vc, tc = cfg["vision_config"], cfg["text_config"]
        self.vision_tower = VisionTower(vc)
        self.multi_modal_projector = Projector(vc["hidden_size"], tc["hidden_size"], cfg["downsample_ratio"])
        self.language_model = Qwen2(tc)


class InternVLForConditionalGeneration(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        if cfg.get("vision_feature_layer", -1) != -1 or cfg.get("vision_feature_select_strategy", "default") != "default":
            raise ValueError("this peer takes the last vision layer without its class token only")
        self.cfg = cfg
        self.model = InternVLModel(cfg)
        tc = cfg["text_config"]
        self.lm_head = nn.Linear(tc["hidden_size"], tc["vocab_size"], bias=False)

    @classmethod
    def from_dir(cls, path):
        with open(f"{path}/config.json") as f:
            cfg = json.load(f)
        if cfg.get("model_type") != "internvl":
            raise ValueError(f"{path}/config.json: model_type {cfg.get('model_type')}, expected internvl (the -hf layout)")
        model = cls(cfg)
        weights = hf_names(read_safetensors(f"{path}/model.safetensors"))
        tied = "lm_head.weight" not in weights
        if tied:
            weights["lm_head.weight"] = weights["model.language_model.embed_tokens.weight"]
        model.load_state_dict(weights, strict=True)  # every name and shape must match
        if tied:
            model.lm_head.weight = model.model.language_model.embed_tokens.weight
        return model

    def image_features(self, pixels):
        x = self.model.vision_tower(pixels)[:, 1:, :]
        side = int(round(x.shape[1] ** 0.5))
        x = pixel_shuffle(x.reshape(x.shape[0], side, side, -1), self.cfg["downsample_ratio"])
        return self.model.multi_modal_projector(x.reshape(x.shape[0], -1, x.shape[-1]))

    def forward(self, input_ids, pixels):
        embeds = self.model.language_model.embed_tokens(input_ids)
        feats = self.image_features(pixels)
        slots = (input_ids == self.cfg["image_token_id"]).unsqueeze(-1).expand_as(embeds)
        if int(slots[..., 0].sum()) != feats.shape[0] * feats.shape[1]:
            raise ValueError(f"{int(slots[..., 0].sum())} image tokens for {feats.shape[0] * feats.shape[1]} image features")
        embeds = embeds.masked_scatter(slots, feats)
        return self.lm_head(self.model.language_model(embeds))


# --- DPO ---------------------------------------------------------------------


def sequence_logps(logits, ids, mask):
    """Sum over positions 1..T-1 of log p(token | prefix), weighted by the completion mask."""
    lp = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, ids[:, 1:, None]).squeeze(-1)
    return (lp * mask[:, 1:]).sum(-1)


def dpo_loss(pc, pr, rc, rr, beta):
    return -F.logsigmoid(beta * ((pc - rc) - (pr - rr))).mean()


class DpoRun:
    """One case: the model, its batch, the frozen reference sums and an AdamW optimiser."""

    def __init__(self, case):
        self.model = InternVLForConditionalGeneration.from_dir(case["dir"])
        self.P = case["pairs"]
        self.ids = torch.tensor(case["chosen"] + case["rejected"], dtype=torch.long)
        mask = case.get("mask") or [[1] * self.ids.shape[1]] * self.ids.shape[0]
        self.mask = torch.tensor(mask, dtype=torch.float32)
        px = torch.tensor(case["pixels"]["data"], dtype=torch.float32).reshape(case["pixels"]["shape"])
        self.pixels = torch.cat([px, px])  # each rejected sequence sees its pair's image
        hp = case["hp"]
        self.beta = hp["beta"]
        with torch.no_grad():
            ref = sequence_logps(self.model(self.ids, self.pixels), self.ids, self.mask)
        self.ref_c, self.ref_r = ref[: self.P], ref[self.P :]
        self.hp = hp
        self.use_adamw(False)

    def use_adamw(self, foreach):
        """A fresh AdamW: torch 1.13's default loops over the parameters one by one; foreach=True batches them."""
        hp = self.hp
        self.opt = torch.optim.AdamW(
            self.model.parameters(), lr=hp["lr"], betas=tuple(hp["betas"]), eps=hp["eps"], weight_decay=hp["weight_decay"], foreach=foreach
        )

    def forward(self):
        with torch.no_grad():
            return self.model(self.ids, self.pixels)

    def step(self):
        self.opt.zero_grad(set_to_none=True)
        s = sequence_logps(self.model(self.ids, self.pixels), self.ids, self.mask)
        pc, pr = s[: self.P], s[self.P :]
        loss = dpo_loss(pc, pr, self.ref_c, self.ref_r, self.beta)
        loss.backward()
        self.opt.step()
        return loss.item(), pc.tolist(), pr.tolist()


def median_ms(fn, iterations, warmup, budget_ms):
    for _ in range(warmup):
        fn()
    times = []
    start = time.perf_counter()
    while len(times) < iterations and (len(times) < 3 or (time.perf_counter() - start) * 1e3 < budget_ms):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times), len(times)


def run_case(case):
    run = DpoRun(case)
    out = {"losses": [], "chosen": [], "rejected": []}
    for _ in range(case.get("check_steps", 3)):
        loss, pc, pr = run.step()
        out["losses"].append(loss)
        out["chosen"].append(pc)
        out["rejected"].append(pr)
    if case.get("time", True):
        plan = (case["iterations"], case["warmup"], case["budget_ms"])
        out["forward_ms"], nf = median_ms(run.forward, *plan)
        # both of torch's AdamW loops, the faster counts (the state restarts: only the time matters here)
        steps = {}
        for name, foreach in (("for-loop", False), ("foreach", True)):
            run.use_adamw(foreach)
            steps[name] = median_ms(run.step, *plan)
        out["adamw"] = min(steps, key=lambda k: steps[k][0])
        out["step_ms"], ns = steps[out["adamw"]]
        out["runs"] = [nf, ns]
    return out


def main():
    job = json.load(sys.stdin)
    torch.set_num_threads(job["threads"])
    torch.manual_seed(0)
    results = {}
    for case in job["cases"]:
        try:
            results[case["id"]] = run_case(case)
        except Exception as e:  # report, keep going
            results[case["id"]] = {"error": f"{type(e).__name__}: {e}"[:300]}
    json.dump({"torch": torch.__version__, "threads": torch.get_num_threads(), "results": results}, sys.stdout)


if __name__ == "__main__":
    main()
