"""Oracle for test/internvl: an independent PyTorch forward pass of a whole
InternVL model, written from docs/INTERNVL.md (not from our TypeScript).

It reads the model directory itself: config.json in either layout (original:
llm_config; "-hf": text_config) and model.safetensors, parsed here from the
format (8-byte little-endian header length, JSON header, raw data).
Everything runs in float64.

stdin:  {"cases": [{"dir": str, "imageTokenId": int, "inputIds": [[int]], "pixelValues": wire}]}
stdout: {"results": [{"logits": wire}]}
"""
import json
import math
import struct
import sys

import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)

DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "F64": torch.float64}


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n].decode("utf8"))
    data = raw[8 + n:]
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        begin, end = meta["data_offsets"]
        buf = bytearray(data[begin:end])
        t = torch.frombuffer(buf, dtype=DTYPES[meta["dtype"]]) if end > begin else torch.empty(0, dtype=DTYPES[meta["dtype"]])
        out[name] = t.reshape(meta["shape"]).to(torch.float64)
    return out


class Names:
    """Checkpoint tensor names of one layout."""

    def __init__(self, layout, tensors):
        self.layout = layout
        self.t = tensors

    def get(self, name):
        return self.t[name]

    # vision
    def vis(self, key):
        o = {"cls": "vision_model.embeddings.class_embedding", "pos": "vision_model.embeddings.position_embedding",
             "patch": "vision_model.embeddings.patch_embedding"}
        h = {"cls": "model.vision_tower.embeddings.cls_token", "pos": "model.vision_tower.embeddings.position_embeddings",
             "patch": "model.vision_tower.embeddings.patch_embeddings.projection"}
        return (o if self.layout == "original" else h)[key]

    def vlayer(self, i, key):
        if self.layout == "original":
            return f"vision_model.encoder.layers.{i}." + {"norm1": "norm1", "norm2": "norm2", "proj": "attn.proj", "fc1": "mlp.fc1",
                                                          "fc2": "mlp.fc2", "ls1": "ls1", "ls2": "ls2"}[key]
        return f"model.vision_tower.encoder.layer.{i}." + {"norm1": "layernorm_before", "norm2": "layernorm_after",
                                                           "proj": "attention.projection_layer", "fc1": "mlp.fc1", "fc2": "mlp.fc2",
                                                           "ls1": "lambda_1", "ls2": "lambda_2"}[key]

    def qkv(self, i, part):
        if self.layout == "original":
            return self.t[f"vision_model.encoder.layers.{i}.attn.qkv.{part}"]
        return torch.cat([self.t[f"model.vision_tower.encoder.layer.{i}.attention.{n}_proj.{part}"] for n in "qkv"], 0)

    def mlp1(self, k):
        return {0: "mlp1.0", 1: "mlp1.1", 3: "mlp1.3"}[k] if self.layout == "original" else \
            {0: "model.multi_modal_projector.layer_norm", 1: "model.multi_modal_projector.linear_1", 3: "model.multi_modal_projector.linear_2"}[k]

    def lm(self, rest):
        return ("language_model.model." if self.layout == "original" else "model.language_model.") + rest

    def lm_head(self):
        name = "language_model.lm_head.weight" if self.layout == "original" else "lm_head.weight"
        return self.t.get(name)


def lin(x, W, name, bias=True):
    y = x @ W.get(name + ".weight").T
    return y + W.get(name + ".bias") if bias else y


def vision(cfg, W, px):
    v = cfg["vision"]
    D, H, p = v["hidden_size"], v["num_attention_heads"], v["patch_size"]
    hd = D // H
    N, _, Hpx, Wpx = px.shape
    gh, gw = Hpx // p, Wpx // p
    x = F.conv2d(px, W.get(W.vis("patch") + ".weight"), W.get(W.vis("patch") + ".bias"), stride=p)  # [N, D, gh, gw]
    x = x.flatten(2).transpose(1, 2)  # token = row * gw + col
    x = torch.cat([W.get(W.vis("cls")).expand(N, 1, D), x], 1)
    pos = W.get(W.vis("pos"))
    g = int(round(math.sqrt(pos.shape[1] - 1)))
    if (g, g) != (gh, gw):
        grid = pos[:, 1:].reshape(1, g, g, D).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, size=(gh, gw), mode="bicubic", align_corners=False)
        pos = torch.cat([pos[:, :1], grid.permute(0, 2, 3, 1).reshape(1, gh * gw, D)], 1)
    x = x + pos
    L = v["num_hidden_layers"]
    depth = L + 1 + cfg["select_layer"] if cfg["select_layer"] < 0 else cfg["select_layer"]
    eps = v["layer_norm_eps"]
    for i in range(depth):
        n1 = W.vlayer(i, "norm1")
        h = F.layer_norm(x, (D,), W.get(n1 + ".weight"), W.get(n1 + ".bias"), eps)
        qkv = h @ W.qkv(i, "weight").T
        if v["qkv_bias"]:
            qkv = qkv + W.qkv(i, "bias")
        q, k, vv = [t.reshape(N, -1, H, hd).transpose(1, 2) for t in qkv.split(D, -1)]
        a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd), -1) @ vv
        a = lin(a.transpose(1, 2).reshape(N, -1, D), W, W.vlayer(i, "proj"))
        x = x + W.get(W.vlayer(i, "ls1")) * a
        n2 = W.vlayer(i, "norm2")
        h = F.layer_norm(x, (D,), W.get(n2 + ".weight"), W.get(n2 + ".bias"), eps)
        h = lin(F.gelu(lin(h, W, W.vlayer(i, "fc1"))), W, W.vlayer(i, "fc2"))
        x = x + W.get(W.vlayer(i, "ls2")) * h
    feats = x[:, 1:].reshape(N, gh, gw, D)
    # pixel shuffle v2, straight from the formula:
    # token t = (row//2)*(gw/2) + col//2, channel = (row%2)*2D + (col%2)*D + c
    out = torch.zeros(N, (gh // 2) * (gw // 2), 4 * D)
    for r in range(gh):
        for c in range(gw):
            t = (r // 2) * (gw // 2) + c // 2
            off = (r % 2) * 2 * D + (c % 2) * D
            out[:, t, off:off + D] = feats[:, r, c, :]
    ln = W.mlp1(0)
    h = F.layer_norm(out, (4 * D,), W.get(ln + ".weight"), W.get(ln + ".bias"), 1e-5)
    return lin(F.gelu(lin(h, W, W.mlp1(1))), W, W.mlp1(3))


def rms(x, w, eps):
    return x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps) * w


def rotate_half(x):
    d = x.shape[-1] // 2
    return torch.cat([-x[..., d:], x[..., :d]], -1)


def language(cfg, W, ids, feats, image_token_id):
    t = cfg["text"]
    d, H, KV = t["hidden_size"], t["num_attention_heads"], t["num_key_value_heads"]
    hd = t.get("head_dim") or d // H
    qwen3 = t["model_type"] == "qwen3" or "Qwen3ForCausalLM" in t.get("architectures", [])
    eps = t["rms_norm_eps"]
    E = W.get(W.lm("embed_tokens.weight"))
    x = E[ids].clone()
    if feats is not None:
        x[ids == image_token_id] = feats.reshape(-1, d)
    B, T = ids.shape
    inv = 1.0 / (t["rope_theta"] ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
    ang = torch.arange(T, dtype=torch.float64)[:, None] * inv[None, :]
    cos, sin = torch.cat([ang.cos()] * 2, -1), torch.cat([ang.sin()] * 2, -1)
    causal = torch.full((T, T), float("-inf")).triu(1)
    bias = not qwen3 or t.get("attention_bias", False)
    for i in range(t["num_hidden_layers"]):
        pre = W.lm(f"layers.{i}.")
        h = rms(x, W.get(pre + "input_layernorm.weight"), eps)
        q = lin(h, W, pre + "self_attn.q_proj", bias).reshape(B, T, H, hd)
        k = lin(h, W, pre + "self_attn.k_proj", bias).reshape(B, T, KV, hd)
        v = lin(h, W, pre + "self_attn.v_proj", bias).reshape(B, T, KV, hd)
        if qwen3:
            q = rms(q, W.get(pre + "self_attn.q_norm.weight"), eps)
            k = rms(k, W.get(pre + "self_attn.k_norm.weight"), eps)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(H // KV, dim=1)
        v = v.repeat_interleave(H // KV, dim=1)
        a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd) + causal, -1) @ v
        x = x + a.transpose(1, 2).reshape(B, T, H * hd) @ W.get(pre + "self_attn.o_proj.weight").T
        h = rms(x, W.get(pre + "post_attention_layernorm.weight"), eps)
        g = h @ W.get(pre + "mlp.gate_proj.weight").T
        u = h @ W.get(pre + "mlp.up_proj.weight").T
        x = x + (F.silu(g) * u) @ W.get(pre + "mlp.down_proj.weight").T
    x = rms(x, W.get(W.lm("norm.weight")), eps)
    head = W.lm_head()
    return x @ (head if head is not None else E).T


def read_config(d):
    with open(d + "/config.json") as f:
        raw = json.load(f)
    if "llm_config" in raw:
        v = raw["vision_config"]
        return "original", {"vision": {**v, "qkv_bias": v.get("qkv_bias", True)}, "text": raw["llm_config"], "select_layer": raw.get("select_layer", -1)}
    v = dict(raw["vision_config"])
    v["patch_size"] = v["patch_size"][0] if isinstance(v["patch_size"], list) else v["patch_size"]
    v["qkv_bias"] = v.get("attention_bias", False)
    return "hf", {"vision": v, "text": raw["text_config"], "select_layer": raw.get("vision_feature_layer", -1)}


def run(case):
    layout, cfg = read_config(case["dir"])
    W = Names(layout, read_safetensors(case["dir"] + "/model.safetensors"))
    ids = torch.tensor(case["inputIds"], dtype=torch.long)
    pv = case.get("pixelValues")
    feats = vision(cfg, W, torch.tensor(pv["data"]).reshape(pv["shape"])) if pv else None
    logits = language(cfg, W, ids, feats, case["imageTokenId"])
    return {"logits": {"shape": list(logits.shape), "data": logits.reshape(-1).tolist()}}


def main():
    payload = json.load(sys.stdin)
    json.dump({"results": [run(c) for c in payload["cases"]]}, sys.stdout)


if __name__ == "__main__":
    main()
