#!/usr/bin/python3
"""Golden fixtures for vit4j's Vision Transformer, computed with PyTorch.

This script builds vit4j's ViT in plain PyTorch (written from the model
specification, independently of the Java code) and writes, for each fixture,
a safetensors file holding:

    input.images        F32 [B, C, H, W]   a random (already "normalised") batch
    input.labels        I32 [B]            class labels in 0..numClasses-1
    param.<name>        F32                every initial parameter
    out.logits          F32 [B, numClasses]
    out.loss            F32 [1]            mean cross-entropy (with label smoothing)
    grad.<name>         F32                d loss / d parameter, same shape as param
    __metadata__        config (JSON string), labelSmoothing, torch, generator

Parameter names and shapes (timm-style):

    patch_embed.proj.weight [dim, C*p*p]   patch_embed.proj.bias [dim]
    cls_token [dim]                        pos_embed [numPatches+1, dim]
    blocks.{i}.norm1.weight/bias [dim]
    blocks.{i}.attn.qkv.weight [3*dim, dim]  blocks.{i}.attn.qkv.bias [3*dim]
    blocks.{i}.attn.proj.weight [dim, dim]   blocks.{i}.attn.proj.bias [dim]
    blocks.{i}.norm2.weight/bias [dim]
    blocks.{i}.mlp.fc1.weight [mlpDim, dim]  blocks.{i}.mlp.fc1.bias [mlpDim]
    blocks.{i}.mlp.fc2.weight [dim, mlpDim]  blocks.{i}.mlp.fc2.bias [dim]
    head=mlp:    head.fc1.weight [mlpDim, dim], head.fc1.bias [mlpDim],
                 head.fc2.weight [numClasses, mlpDim], head.fc2.bias [numClasses]
    head=linear: norm.weight/bias [dim],
                 head.weight [numClasses, dim], head.bias [numClasses]

Architectures (cfg "arch", absent for the timm-style fixtures):

    timm           the model below
    tutorial-2020  the ViT the 2020 MNIST tutorials print (vit-pytorch's first
                   version): no qkv bias (no blocks.{i}.attn.qkv.bias), attention
                   scores scaled by dim^-0.5 (dim the model width, not the head
                   width), LayerNorm eps 1e-5, MLP head on the class token,
                   trained with F.nll_loss(F.log_softmax(logits)) (out.logits
                   holds the logits before the log-softmax)

Model: patches (row-major grid, each flattened in (channel, row, column)
order) -> Linear -> prepend cls_token -> + pos_embed -> depth pre-norm blocks
(x += proj(attn(norm1(x))); x += fc2(gelu(fc1(norm2(x))))), LayerNorm eps 1e-6,
exact (erf) GELU, timm's qkv layout (B, N, 3, heads, headDim) -> pooling
(cls: token 0; mean: mean of the patch tokens 1..N-1, cls token excluded) ->
head. No final LayerNorm over all tokens; head=linear applies LayerNorm "norm"
to the pooled vector only.

Initial weights are deliberately NOT timm's (which zeroes biases and makes
logits tiny): weight matrices ~ N(0, 1/fan_in), embeddings ~ N(0, 0.5^2),
biases ~ N(0, 0.05^2), LayerNorm weights 1 + N(0, 0.1^2), LayerNorm biases
N(0, 0.05^2); everything non-zero and logits O(1).

Everything is computed in float32 on the CPU with a fixed seed. Before writing,
the script checks itself (and aborts on failure):
  * the manual patchify + linear equals F.conv2d with the reshaped weight;
  * the manual attention equals torch's F.multi_head_attention_forward;
  * the whole forward equals a model assembled from torch.nn modules
    (nn.Conv2d, pre-norm nn.TransformerEncoderLayer, nn.GELU, nn.LayerNorm);
    for tutorial-2020, the tutorial's own module structure (Residual, PreNorm,
    Attention with to_qkv and to_out, FeedForward, mlp_head) instead, and
    log-softmax + NLL equals cross-entropy;
  * on a float64 copy of the model, autograd gradients of the loss match
    central finite differences for randomly chosen entries of every parameter
    tensor (and the float32 gradients match the float64 ones);
  * the written file reads back bit-exactly.

Run from the repository root (regenerates the fixtures in place):

    /usr/bin/python3 src/test/python/golden_vit.py

Only torch and the Python standard library are needed (Debian's python3-torch
is enough; the safetensors file is written by hand with struct + json).
"""

import json
import math
import os
import struct
import sys
from collections import OrderedDict

import torch
import torch.nn.functional as F

GENERATOR = "src/test/python/golden_vit.py"
OUT_DIR = os.path.join("src", "test", "resources", "golden")
BATCH = 8
LN_EPS = 1e-6

BASE_CONFIG = OrderedDict([
    ("imageSize", 28), ("patchSize", 7), ("channels", 1), ("numClasses", 10),
    ("dim", 64), ("depth", 6), ("heads", 8), ("mlpDim", 128), ("dropout", 0.0),
])

FIXTURES = [
    # (file name, pool, head, label smoothing, seed, arch)
    ("mnist-tutorial", "cls", "mlp", 0.0, 1234, "timm"),
    ("mnist-linear-mean", "mean", "linear", 0.1, 5678, "timm"),
    ("mnist-tutorial-2020", "cls", "mlp", 0.0, 2020, "tutorial-2020"),
]


def arch(cfg):
    return cfg.get("arch", "timm")


def ln_eps(cfg):
    """timm's 1e-6; PyTorch's default 1e-5 in the 2020 tutorial ViT."""
    return LN_EPS if arch(cfg) == "timm" else 1e-5


def attention_scale(cfg):
    """(dim/heads)^-0.5 in timm; dim^-0.5 in the 2020 tutorial ViT."""
    d = cfg["dim"]
    return (d // cfg["heads"]) ** -0.5 if arch(cfg) == "timm" else d ** -0.5


# --------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------

def param_shapes(cfg):
    """Ordered (name, shape, kind) for every parameter of the model."""
    d, m, c, p = cfg["dim"], cfg["mlpDim"], cfg["channels"], cfg["patchSize"]
    n_patches = (cfg["imageSize"] // p) ** 2
    out = [
        ("patch_embed.proj.weight", [d, c * p * p], "weight"),
        ("patch_embed.proj.bias", [d], "bias"),
        ("cls_token", [d], "embed"),
        ("pos_embed", [n_patches + 1, d], "embed"),
    ]
    for i in range(cfg["depth"]):
        b = "blocks.%d." % i
        out += [
            (b + "norm1.weight", [d], "ln_weight"),
            (b + "norm1.bias", [d], "ln_bias"),
            (b + "attn.qkv.weight", [3 * d, d], "weight"),
        ]
        if arch(cfg) == "timm":
            out += [(b + "attn.qkv.bias", [3 * d], "bias")]
        out += [
            (b + "attn.proj.weight", [d, d], "weight"),
            (b + "attn.proj.bias", [d], "bias"),
            (b + "norm2.weight", [d], "ln_weight"),
            (b + "norm2.bias", [d], "ln_bias"),
            (b + "mlp.fc1.weight", [m, d], "weight"),
            (b + "mlp.fc1.bias", [m], "bias"),
            (b + "mlp.fc2.weight", [d, m], "weight"),
            (b + "mlp.fc2.bias", [d], "bias"),
        ]
    if cfg["head"] == "mlp":
        out += [
            ("head.fc1.weight", [m, d], "weight"),
            ("head.fc1.bias", [m], "bias"),
            ("head.fc2.weight", [cfg["numClasses"], m], "weight"),
            ("head.fc2.bias", [cfg["numClasses"]], "bias"),
        ]
    elif cfg["head"] == "linear":
        out += [
            ("norm.weight", [d], "ln_weight"),
            ("norm.bias", [d], "ln_bias"),
            ("head.weight", [cfg["numClasses"], d], "weight"),
            ("head.bias", [cfg["numClasses"]], "bias"),
        ]
    else:
        raise ValueError(cfg["head"])
    return out


def init_params(cfg, gen):
    """Non-trivial initial parameters (see module docstring), float32."""
    params = OrderedDict()
    for name, shape, kind in param_shapes(cfg):
        z = torch.randn(shape, generator=gen, dtype=torch.float32)
        while torch.any(z == 0):  # an exact 0.0 draw is rare but possible: redraw
            z = torch.randn(shape, generator=gen, dtype=torch.float32)
        if kind == "weight":
            t = z / math.sqrt(shape[1])          # std = 1/sqrt(fan_in)
        elif kind == "embed":
            t = z * 0.5
        elif kind == "bias":
            t = z * 0.05
        elif kind == "ln_weight":
            t = 1.0 + z * 0.1
        elif kind == "ln_bias":
            t = z * 0.05
        else:
            raise ValueError(kind)
        assert torch.all(t != 0), name
        params[name] = t.contiguous()
    return params


# --------------------------------------------------------------------------
# Model (functional: params is a dict name -> tensor)
# --------------------------------------------------------------------------

def patchify(x, p):
    """[B,C,H,W] -> [B, gh*gw, C*p*p]; patch index gy*gw+gx, (c, row, col) order."""
    b, c, h, w = x.shape
    gh, gw = h // p, w // p
    x = x.reshape(b, c, gh, p, gw, p)          # b c gy r gx s
    x = x.permute(0, 2, 4, 1, 3, 5)            # b gy gx c r s
    return x.reshape(b, gh * gw, c * p * p)


def layer_norm(x, w, b, eps=LN_EPS):
    return F.layer_norm(x, (x.shape[-1],), w, b, eps)


def gelu(x):
    return F.gelu(x)  # exact erf form (torch's default)


def attention(x, qkv_w, qkv_b, proj_w, proj_b, heads, scale=None):
    b, n, d = x.shape
    hd = d // heads
    qkv = F.linear(x, qkv_w, qkv_b)                        # [B,N,3d]
    qkv = qkv.reshape(b, n, 3, heads, hd).permute(2, 0, 3, 1, 4)  # 3,B,h,N,hd
    q, k, v = qkv[0], qkv[1], qkv[2]
    if scale is None:
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(hd)  # [B,h,N,N]
    else:
        scores = (q @ k.transpose(-2, -1)) * scale
    attn = scores.softmax(dim=-1)
    o = attn @ v                                           # [B,h,N,hd]
    o = o.transpose(1, 2).reshape(b, n, d)                 # head-major concat
    return F.linear(o, proj_w, proj_b)


def forward(params, x, cfg):
    p = cfg["patchSize"]
    tokens = F.linear(patchify(x, p), params["patch_embed.proj.weight"],
                      params["patch_embed.proj.bias"])      # [B,P,d]
    b = tokens.shape[0]
    cls = params["cls_token"].reshape(1, 1, -1).expand(b, 1, -1)
    h = torch.cat([cls, tokens], dim=1) + params["pos_embed"].unsqueeze(0)
    eps = ln_eps(cfg)
    scale = None if arch(cfg) == "timm" else attention_scale(cfg)
    for i in range(cfg["depth"]):
        pre = "blocks.%d." % i
        y = layer_norm(h, params[pre + "norm1.weight"], params[pre + "norm1.bias"], eps)
        h = h + attention(y, params[pre + "attn.qkv.weight"], params.get(pre + "attn.qkv.bias"),
                          params[pre + "attn.proj.weight"], params[pre + "attn.proj.bias"],
                          cfg["heads"], scale)
        y = layer_norm(h, params[pre + "norm2.weight"], params[pre + "norm2.bias"], eps)
        y = gelu(F.linear(y, params[pre + "mlp.fc1.weight"], params[pre + "mlp.fc1.bias"]))
        h = h + F.linear(y, params[pre + "mlp.fc2.weight"], params[pre + "mlp.fc2.bias"])
    if cfg["pool"] == "cls":
        pooled = h[:, 0]
    elif cfg["pool"] == "mean":
        pooled = h[:, 1:].mean(dim=1)
    else:
        raise ValueError(cfg["pool"])
    if cfg["head"] == "mlp":
        z = gelu(F.linear(pooled, params["head.fc1.weight"], params["head.fc1.bias"]))
        return F.linear(z, params["head.fc2.weight"], params["head.fc2.bias"])
    z = layer_norm(pooled, params["norm.weight"], params["norm.bias"])
    return F.linear(z, params["head.weight"], params["head.bias"])


def loss_fn(logits, labels, smoothing, cfg=None):
    if cfg is not None and arch(cfg) == "tutorial-2020":
        assert smoothing == 0.0, "the tutorial trains with NLL, no label smoothing"
        return F.nll_loss(F.log_softmax(logits, dim=1), labels)   # the tutorial's loss
    return F.cross_entropy(logits, labels, reduction="mean", label_smoothing=smoothing)


# --------------------------------------------------------------------------
# Self-checks
# --------------------------------------------------------------------------

def check_patch_embed(params, x, cfg):
    p, c, d = cfg["patchSize"], cfg["channels"], cfg["dim"]
    w = params["patch_embed.proj.weight"].double()
    bias = params["patch_embed.proj.bias"].double()
    xd = x.double()
    manual = F.linear(patchify(xd, p), w, bias)
    conv = F.conv2d(xd, w.reshape(d, c, p, p), bias, stride=p)   # [B,d,gh,gw]
    conv = conv.flatten(2).transpose(1, 2)                       # [B,gh*gw,d]
    err = (manual - conv).abs().max().item()
    assert err < 1e-12, "patchify+linear != conv2d: %g" % err
    return err


def check_attention(params, x, cfg):
    """Manual attention vs torch's own multi-head attention (same qkv layout)."""
    d = cfg["dim"]
    gen = torch.Generator().manual_seed(7)
    h = torch.randn(x.shape[0], 17, d, generator=gen, dtype=torch.float64)
    pre = "blocks.0."
    w_qkv = params[pre + "attn.qkv.weight"].double()
    b_qkv = params[pre + "attn.qkv.bias"].double()
    w_o = params[pre + "attn.proj.weight"].double()
    b_o = params[pre + "attn.proj.bias"].double()
    mine = attention(h, w_qkv, b_qkv, w_o, b_o, cfg["heads"])
    hs = h.transpose(0, 1)  # (N, B, d)
    ref, _ = F.multi_head_attention_forward(
        hs, hs, hs, d, cfg["heads"], w_qkv, b_qkv, None, None, False, 0.0,
        w_o, b_o, training=False, need_weights=False)
    err = (mine - ref.transpose(0, 1)).abs().max().item()
    assert err < 1e-12, "attention != F.multi_head_attention_forward: %g" % err
    return err


def check_against_nn_modules(params, x, cfg):
    """Whole forward pass vs one built from torch.nn modules (float64).

    The blocks become nn.TransformerEncoderLayer(norm_first=True, exact GELU,
    eps 1e-6), whose attention uses the same [Q;K;V] in_proj layout as timm's
    qkv; patch embedding is an nn.Conv2d.
    """
    d, p, c = cfg["dim"], cfg["patchSize"], cfg["channels"]
    pd = OrderedDict((k, v.double()) for k, v in params.items())
    conv = torch.nn.Conv2d(c, d, p, stride=p).double()
    layers = [torch.nn.TransformerEncoderLayer(
        d, cfg["heads"], cfg["mlpDim"], dropout=0.0, activation="gelu",
        layer_norm_eps=LN_EPS, batch_first=True, norm_first=True).double()
        for _ in range(cfg["depth"])]
    with torch.no_grad():
        conv.weight.copy_(pd["patch_embed.proj.weight"].reshape(d, c, p, p))
        conv.bias.copy_(pd["patch_embed.proj.bias"])
        for i, layer in enumerate(layers):
            pre = "blocks.%d." % i
            layer.norm1.weight.copy_(pd[pre + "norm1.weight"])
            layer.norm1.bias.copy_(pd[pre + "norm1.bias"])
            layer.self_attn.in_proj_weight.copy_(pd[pre + "attn.qkv.weight"])
            layer.self_attn.in_proj_bias.copy_(pd[pre + "attn.qkv.bias"])
            layer.self_attn.out_proj.weight.copy_(pd[pre + "attn.proj.weight"])
            layer.self_attn.out_proj.bias.copy_(pd[pre + "attn.proj.bias"])
            layer.norm2.weight.copy_(pd[pre + "norm2.weight"])
            layer.norm2.bias.copy_(pd[pre + "norm2.bias"])
            layer.linear1.weight.copy_(pd[pre + "mlp.fc1.weight"])
            layer.linear1.bias.copy_(pd[pre + "mlp.fc1.bias"])
            layer.linear2.weight.copy_(pd[pre + "mlp.fc2.weight"])
            layer.linear2.bias.copy_(pd[pre + "mlp.fc2.bias"])
        xd = x.double()
        h = conv(xd).flatten(2).transpose(1, 2)
        cls = pd["cls_token"].reshape(1, 1, d).expand(h.shape[0], 1, d)
        h = torch.cat([cls, h], dim=1) + pd["pos_embed"]
        for layer in layers:
            layer.train()  # dropout is 0; train() keeps torch off its fused fast path
            h = layer(h)
        pooled = h[:, 0] if cfg["pool"] == "cls" else h[:, 1:].mean(dim=1)
        if cfg["head"] == "mlp":
            ref = torch.nn.Sequential(torch.nn.Linear(d, cfg["mlpDim"]), torch.nn.GELU(),
                                      torch.nn.Linear(cfg["mlpDim"], cfg["numClasses"])).double()
            ref[0].weight.copy_(pd["head.fc1.weight"]); ref[0].bias.copy_(pd["head.fc1.bias"])
            ref[2].weight.copy_(pd["head.fc2.weight"]); ref[2].bias.copy_(pd["head.fc2.bias"])
        else:
            ref = torch.nn.Sequential(torch.nn.LayerNorm(d, eps=LN_EPS),
                                      torch.nn.Linear(d, cfg["numClasses"])).double()
            ref[0].weight.copy_(pd["norm.weight"]); ref[0].bias.copy_(pd["norm.bias"])
            ref[1].weight.copy_(pd["head.weight"]); ref[1].bias.copy_(pd["head.bias"])
        expect = ref(pooled)
        mine = forward(pd, xd, cfg)
    err = (mine - expect).abs().max().item()
    assert err < 1e-10, "forward != nn-module forward: %g" % err
    return err


class Tutorial2020:
    """The 2020 tutorial ViT's module structure (written from its published description):

        patch_to_embedding = Linear(patch_dim, dim) on 'b c (h p1) (w p2) -> b (h w) (p1 p2 c)'
        cls_token, pos_embedding        (torch.randn in the tutorial)
        transformer: depth x [Residual(PreNorm(dim, Attention(dim, heads))),
                              Residual(PreNorm(dim, FeedForward(dim, mlp_dim)))]
        Attention: to_qkv = Linear(dim, 3*dim, bias=False), scale = dim ** -0.5,
                   heads split dim into dim/heads, to_out = Linear(dim, dim)
        FeedForward: Linear(dim, mlp_dim), GELU, Linear(mlp_dim, dim)
        mlp_head = Linear(dim, mlp_dim), GELU, Linear(mlp_dim, num_classes) on x[:, 0]

    Built from torch.nn modules; its weights are copied from the functional params (the patch
    projection's columns reordered from vit4j's (c p1 p2) to the tutorial's (p1 p2 c)).
    """

    def __init__(self, pd, cfg):
        nn = torch.nn
        d, m, c, p, heads = cfg["dim"], cfg["mlpDim"], cfg["channels"], cfg["patchSize"], cfg["heads"]
        self.cfg = cfg
        self.patch_to_embedding = nn.Linear(c * p * p, d).double()
        self.layers = []
        for _ in range(cfg["depth"]):
            self.layers.append(OrderedDict([
                ("norm1", nn.LayerNorm(d).double()),               # PyTorch's default eps 1e-5
                ("to_qkv", nn.Linear(d, 3 * d, bias=False).double()),
                ("to_out", nn.Linear(d, d).double()),
                ("norm2", nn.LayerNorm(d).double()),
                ("ff", nn.Sequential(nn.Linear(d, m), nn.GELU(), nn.Linear(m, d)).double()),
            ]))
        self.mlp_head = nn.Sequential(nn.Linear(d, m), nn.GELU(), nn.Linear(m, cfg["numClasses"])).double()
        with torch.no_grad():
            # vit4j's feature f = ch*p*p + y*p + x is the tutorial's (y*p + x)*c + ch
            w = pd["patch_embed.proj.weight"].reshape(d, c, p * p).permute(0, 2, 1).reshape(d, c * p * p)
            self.patch_to_embedding.weight.copy_(w)
            self.patch_to_embedding.bias.copy_(pd["patch_embed.proj.bias"])
            self.cls_token = pd["cls_token"].reshape(1, 1, d)
            self.pos_embedding = pd["pos_embed"].reshape(1, -1, d)
            for i, layer in enumerate(self.layers):
                pre = "blocks.%d." % i
                layer["norm1"].weight.copy_(pd[pre + "norm1.weight"]); layer["norm1"].bias.copy_(pd[pre + "norm1.bias"])
                layer["to_qkv"].weight.copy_(pd[pre + "attn.qkv.weight"])
                layer["to_out"].weight.copy_(pd[pre + "attn.proj.weight"]); layer["to_out"].bias.copy_(pd[pre + "attn.proj.bias"])
                layer["norm2"].weight.copy_(pd[pre + "norm2.weight"]); layer["norm2"].bias.copy_(pd[pre + "norm2.bias"])
                layer["ff"][0].weight.copy_(pd[pre + "mlp.fc1.weight"]); layer["ff"][0].bias.copy_(pd[pre + "mlp.fc1.bias"])
                layer["ff"][2].weight.copy_(pd[pre + "mlp.fc2.weight"]); layer["ff"][2].bias.copy_(pd[pre + "mlp.fc2.bias"])
            self.mlp_head[0].weight.copy_(pd["head.fc1.weight"]); self.mlp_head[0].bias.copy_(pd["head.fc1.bias"])
            self.mlp_head[2].weight.copy_(pd["head.fc2.weight"]); self.mlp_head[2].bias.copy_(pd["head.fc2.bias"])

    def attention(self, layer, x):
        b, n, _ = x.shape
        h = self.cfg["heads"]
        qkv = layer["to_qkv"](x)
        q, k, v = [t.reshape(b, n, h, -1).permute(0, 2, 1, 3) for t in qkv.chunk(3, dim=-1)]  # b h n d
        dots = torch.einsum("bhid,bhjd->bhij", q, k) * (self.cfg["dim"] ** -0.5)
        out = torch.einsum("bhij,bhjd->bhid", dots.softmax(dim=-1), v)
        return layer["to_out"](out.permute(0, 2, 1, 3).reshape(b, n, -1))

    def __call__(self, img):
        p = self.cfg["patchSize"]
        b, c, hh, ww = img.shape
        x = img.reshape(b, c, hh // p, p, ww // p, p).permute(0, 2, 4, 3, 5, 1).reshape(b, -1, p * p * c)
        x = self.patch_to_embedding(x)
        x = torch.cat((self.cls_token.expand(b, -1, -1), x), dim=1) + self.pos_embedding
        for layer in self.layers:
            x = x + self.attention(layer, layer["norm1"](x))      # Residual(PreNorm(Attention))
            x = x + layer["ff"](layer["norm2"](x))                # Residual(PreNorm(FeedForward))
        return self.mlp_head(x[:, 0])


def check_against_tutorial_module(params, x, labels, cfg):
    """The 2020 model's functional forward vs the tutorial's module structure (float64), and the
    tutorial's loss (log-softmax + NLL) vs cross-entropy."""
    pd = OrderedDict((k, v.double()) for k, v in params.items())
    with torch.no_grad():
        expect = Tutorial2020(pd, cfg)(x.double())
        mine = forward(pd, x.double(), cfg)
    err = (mine - expect).abs().max().item()
    assert err < 1e-10, "forward != the tutorial's module structure: %g" % err
    nll = F.nll_loss(F.log_softmax(mine, dim=1), labels)
    ce = F.cross_entropy(mine, labels)
    assert abs(nll.item() - ce.item()) < 1e-12, "log-softmax + NLL != cross-entropy"
    return err


def check_finite_differences(params32, grads32, x, labels, cfg, smoothing, seed,
                             extra=24, eps=1e-6):
    """float64 autograd vs central differences on random entries of every tensor."""
    p64 = OrderedDict((k, v.detach().double().requires_grad_(True)) for k, v in params32.items())
    x64 = x.double()
    loss = loss_fn(forward(p64, x64, cfg), labels, smoothing, cfg)
    g64 = torch.autograd.grad(loss, list(p64.values()))
    g64 = OrderedDict(zip(p64.keys(), g64))

    # float32 gradients should agree with float64 ones to float32-ish accuracy
    worst32 = 0.0
    for k in p64:
        scale = g64[k].abs().max().item() + 1e-6
        worst32 = max(worst32, (grads32[k].double() - g64[k]).abs().max().item() / scale)
    assert worst32 < 1e-3, "float32 vs float64 gradients differ: %g" % worst32

    gen = torch.Generator().manual_seed(seed + 1)
    names = list(p64.keys())
    picks = []
    for k in names:                       # one random entry from every tensor ...
        picks.append((k, torch.randint(p64[k].numel(), (1,), generator=gen).item()))
    for _ in range(extra):                # ... plus some more anywhere
        k = names[torch.randint(len(names), (1,), generator=gen).item()]
        picks.append((k, torch.randint(p64[k].numel(), (1,), generator=gen).item()))

    worst = 0.0
    with torch.no_grad():
        base = OrderedDict((k, v.detach().clone()) for k, v in p64.items())
        for k, idx in picks:
            flat = base[k].view(-1)
            orig = flat[idx].item()
            flat[idx] = orig + eps
            lp = loss_fn(forward(base, x64, cfg), labels, smoothing, cfg).item()
            flat[idx] = orig - eps
            lm = loss_fn(forward(base, x64, cfg), labels, smoothing, cfg).item()
            flat[idx] = orig
            fd = (lp - lm) / (2 * eps)
            an = g64[k].view(-1)[idx].item()
            err = abs(fd - an) / max(1e-4, abs(an), abs(fd))
            worst = max(worst, err)
            assert err < 1e-5, "finite differences: %s[%d] autograd %.10g fd %.10g" % (k, idx, an, fd)
    return len(picks), worst, worst32


# --------------------------------------------------------------------------
# safetensors (hand-written)
# --------------------------------------------------------------------------

_DT = {torch.float32: ("F32", "<f"), torch.int32: ("I32", "<i")}


def write_safetensors(path, tensors, metadata):
    header = OrderedDict()
    blobs = []
    offset = 0
    for name, t in tensors.items():
        dtype, fmt = _DT[t.dtype]
        t = t.detach().contiguous()
        data = struct.pack("<%d%s" % (t.numel(), fmt[1]), *t.reshape(-1).tolist())
        header[name] = OrderedDict([("dtype", dtype), ("shape", list(t.shape)),
                                    ("data_offsets", [offset, offset + len(data)])])
        blobs.append(data)
        offset += len(data)
    header["__metadata__"] = OrderedDict((k, str(v)) for k, v in metadata.items())
    hb = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hb += b" " * ((-len(hb)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for data in blobs:
            f.write(data)


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n].decode("utf-8"), object_pairs_hook=OrderedDict)
    meta = header.pop("__metadata__", {})
    data = raw[8 + n:]
    out = OrderedDict()
    expect = 0
    for name, h in header.items():
        b, e = h["data_offsets"]
        assert b == expect, "non-contiguous tensor " + name
        expect = e
        fmt = {"F32": "f", "I32": "i"}[h["dtype"]]
        count = (e - b) // 4
        vals = struct.unpack("<%d%s" % (count, fmt), data[b:e])
        dt = torch.float32 if fmt == "f" else torch.int32
        out[name] = torch.tensor(vals, dtype=dt).reshape(h["shape"])
    assert expect == len(data), "trailing bytes"
    return out, meta


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------

def make_fixture(name, pool, head, smoothing, seed, architecture):
    cfg = OrderedDict(BASE_CONFIG)
    cfg["pool"] = pool
    cfg["head"] = head
    if architecture != "timm":
        cfg["arch"] = architecture          # vit4j's ViTConfig reads a config without it as timm
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)

    params = init_params(cfg, gen)
    c, s = cfg["channels"], cfg["imageSize"]
    images = torch.randn(BATCH, c, s, s, generator=gen, dtype=torch.float32)
    labels = torch.randint(cfg["numClasses"], (BATCH,), generator=gen)
    assert len(set(labels.tolist())) >= 5, "too few distinct classes"

    leaf = OrderedDict((k, v.clone().requires_grad_(True)) for k, v in params.items())
    logits = forward(leaf, images, cfg)
    loss = loss_fn(logits, labels, smoothing, cfg)
    grads = OrderedDict(zip(leaf.keys(), torch.autograd.grad(loss, list(leaf.values()))))
    logits = logits.detach()

    # sanity: logits O(1), not saturated; all gradients finite and non-zero
    lstd = logits.std().item()
    assert 0.2 < lstd < 5.0, "logits std %g" % lstd
    assert torch.isfinite(loss) and all(torch.isfinite(g).all() for g in grads.values())
    assert all(g.abs().max() > 0 for g in grads.values()), "zero gradient tensor"

    e_patch = check_patch_embed(params, images, cfg)
    if arch(cfg) == "timm":
        e_attn = check_attention(params, images, cfg)
        e_nn = check_against_nn_modules(params, images, cfg)
    else:
        e_attn = None
        e_nn = check_against_tutorial_module(params, images, labels, cfg)
    n_fd, e_fd, e_32 = check_finite_differences(params, grads, images, labels, cfg,
                                                smoothing, seed)

    tensors = OrderedDict()
    tensors["input.images"] = images
    tensors["input.labels"] = labels.to(torch.int32)
    for k, v in params.items():
        tensors["param." + k] = v
    tensors["out.logits"] = logits
    tensors["out.loss"] = loss.detach().reshape(1)
    for k, g in grads.items():
        tensors["grad." + k] = g
    meta = OrderedDict([
        ("config", json.dumps(cfg, separators=(",", ":"))),
        ("labelSmoothing", repr(float(smoothing))),
        ("torch", torch.__version__),
        ("generator", GENERATOR),
    ])
    path = os.path.join(OUT_DIR, name + ".safetensors")
    write_safetensors(path, tensors, meta)
    back, back_meta = read_safetensors(path)
    assert list(back.keys()) == list(tensors.keys()) and back_meta == meta
    for k, t in tensors.items():
        assert back[k].shape == t.shape and torch.equal(back[k], t), "round trip " + k

    print("== %s  (arch=%s, pool=%s, head=%s, labelSmoothing=%s, seed=%d)" % (name, architecture, pool, head,
                                                                          smoothing, seed))
    print("   file %s: %d bytes, %d tensors" % (path, os.path.getsize(path), len(tensors)))
    print("   labels %s" % labels.tolist())
    print("   loss %.7f   logits std %.4f  min %.4f  max %.4f" % (
        loss.item(), lstd, logits.min().item(), logits.max().item()))
    groups = OrderedDict()
    for k, g in grads.items():
        grp = "blocks.*." + k.split(".", 2)[2] if k.startswith("blocks.") else k
        groups[grp] = max(groups.get(grp, 0.0), g.abs().max().item())
    for grp, m in groups.items():
        print("   max|grad| %-28s %.3e" % (grp, m))
    print("   check patchify+linear vs conv2d: max err %.2e" % e_patch)
    if e_attn is not None:
        print("   check attention vs F.multi_head_attention_forward: max err %.2e" % e_attn)
        print("   check logits vs nn.Conv2d + nn.TransformerEncoderLayer model: max err %.2e" % e_nn)
    else:
        print("   check logits vs the 2020 tutorial's module structure: max err %.2e" % e_nn)
    print("   check float64 autograd vs central differences: %d entries, worst rel err %.2e" % (n_fd, e_fd))
    print("   check float32 vs float64 gradients: worst err / max|grad| %.2e" % e_32)
    return loss.item()


def main():
    torch.set_num_threads(1)
    if not os.path.isdir(os.path.join("src", "test")):
        sys.exit("run from the repository root: /usr/bin/python3 " + GENERATOR)
    os.makedirs(OUT_DIR, exist_ok=True)
    print("torch", torch.__version__)
    for fx in FIXTURES:
        make_fixture(*fx)
    print("all self-checks passed")


if __name__ == "__main__":
    main()
