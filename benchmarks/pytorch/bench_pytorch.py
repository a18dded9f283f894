#!/usr/bin/env python3
"""PyTorch's side of vit4j's benchmarks: the same ViT, the same training step, the same ops.

Two measurements, written as one JSON file (read by benchmarks/side_by_side.py):

1. Training throughput: vit4j's ViT rebuilt in PyTorch (timm's layout and names, as
   src/test/python/golden_vit.py specifies it: Conv2d patch embedding, class token,
   position embedding, pre-norm blocks with LayerNorm eps 1e-6, packed qkv, exact GELU,
   class-token or mean pooling, an MLP or LayerNorm + Linear head), trained on synthetic
   batches of the preset's data set shape at the same batch size as `vit4j bench train`:
   forward, cross-entropy (the preset's label smoothing), backward, Adam / AdamW (decay on
   weight matrices only, as vit4j and timm), the loss read back with .item() each step as
   vit4j's Trainer does. Eager, and torch.compile'd where this torch has it. After warm-up
   steps: median ms per step and images/s over the timed steps.

2. Ops at the kernel runner's shapes (VIT_SHAPES below mirrors org.vit4j.bench.VitShape;
   VitShapeTest checks that they agree): LayerNorm, GELU, softmax, attention (scaled_dot_
   product_attention from the packed qkv, timm's reshape and permute included, forward,
   backward and both), the qkv Linear, the patch embedding as a strided conv2d, cross-entropy,
   the residual add and one AdamW step over a flat parameter tensor. Each op is timed as the
   kernel runner times it: warm-up, then many runs, each after flushing the L2 cache (writing
   a buffer twice its size), each between two CUDA events; median, p10, p90 in microseconds.
   Forward ops run with autograd on (what a training forward does: the statistics and
   log-sum-exp a backward needs are saved); backward ops are torch.autograd.grad on a graph
   built once (retain_graph). On the CPU the timer is time.perf_counter and there is no flush.

Only torch and the standard library are needed. On torch older than 2.0 (Debian's 1.13)
there is no torch.compile (that mode is skipped, with the reason in the JSON) and no
F.scaled_dot_product_attention: attention falls back to softmax(Q K^T / sqrt(d)) V written
out, and the JSON says so.

    python3 benchmarks/pytorch/bench_pytorch.py --device cuda --json out/pytorch-cuda.json
    /usr/bin/python3 benchmarks/pytorch/bench_pytorch.py --device cpu --models mnist-tutorial --no-ops
"""

import argparse
import datetime
import json
import math
import os
import platform
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

LN_EPS = 1e-6

# org.vit4j.train.Presets, the fields a training step depends on.
# arch: timm, vit-pytorch or tutorial-2020 (org.vit4j.nn.ViTConfig.Arch); image: the resized side, else the data's.
PRESETS = {
    "mnist-tutorial": dict(dataset="mnist", arch="tutorial-2020", patch=7, dim=64, depth=6, heads=8, mlp=128,
                           pool="cls", head="mlp", batch=100, lr=3e-3, weight_decay=0.0, label_smoothing=0.0),
    "mnist-timm": dict(dataset="mnist", arch="timm", patch=7, dim=64, depth=6, heads=8, mlp=128, pool="cls",
                       head="mlp", batch=100, lr=3e-3, weight_decay=0.0, label_smoothing=0.0),
    "mnist-vit-pytorch": dict(dataset="mnist", arch="vit-pytorch", dim_head=64, patch=7, dim=64, depth=6, heads=8,
                              mlp=128, pool="cls", head="linear", batch=100, lr=3e-3, weight_decay=0.0,
                              label_smoothing=0.0),
    "cifar10-vit": dict(dataset="cifar10", arch="timm", patch=4, dim=384, depth=7, heads=12, mlp=384, pool="cls",
                        head="linear", batch=128, lr=1e-3, weight_decay=5e-5, label_smoothing=0.1),
    "vit-base-patch16-224": dict(dataset="cifar10", arch="timm", image=224, patch=16, dim=768, depth=12, heads=12,
                                 mlp=3072, pool="cls", head="linear", dropout=0.1, emb_dropout=0.1, batch=64, lr=1e-4,
                                 weight_decay=0.0, label_smoothing=0.0),
}

# Image side, channels and classes of each data set (org.vit4j.bench.TrainBench.DataShape).
DATASETS = {"mnist": (28, 1, 10), "fashion-mnist": (28, 1, 10), "cifar10": (32, 3, 10)}

# The kernel runner's shapes: org.vit4j.bench.VitShape (VitShapeTest parses this table).
VIT_SHAPES = {
    "mnist-tutorial": dict(batch=100, image=28, patch=7, channels=1, dim=64, heads=8, mlp=128, classes=10,
                           depth=6, head="mlp"),
    "cifar10-vit": dict(batch=128, image=32, patch=4, channels=3, dim=384, heads=12, mlp=384, classes=10,
                        depth=7, head="linear"),
    "cifar10-vit-tiny": dict(batch=128, image=32, patch=4, channels=3, dim=192, heads=3, mlp=768, classes=10,
                             depth=12, head="linear"),
    "vit-tiny-224": dict(batch=128, image=224, patch=16, channels=3, dim=192, heads=3, mlp=768, classes=1000,
                         depth=12, head="linear"),
    "vit-base-224": dict(batch=64, image=224, patch=16, channels=3, dim=768, heads=12, mlp=3072, classes=1000,
                         depth=12, head="linear"),
    "vit-base-384": dict(batch=32, image=384, patch=16, channels=3, dim=768, heads=12, mlp=3072, classes=1000,
                         depth=12, head="linear"),
}

# The large set: memory-bound ops on 64M elements (org.vit4j.bench.KernelBench), attention at vit-base-384.
LARGE_ROWS, LARGE_COLS, LARGE_CLASSES = 65536, 1024, 1000
LARGE = "large"

HAS_SDPA = hasattr(F, "scaled_dot_product_attention")
HAS_COMPILE = hasattr(torch, "compile")


# --------------------------------------------------------------------------
# The model (vit4j's ViT, timm's names)
# --------------------------------------------------------------------------

def _sdpa_takes_scale():
    """torch 2.1 added the scale argument."""
    try:
        F.scaled_dot_product_attention(*(torch.zeros(1, 1, 1, 1),) * 3, scale=1.0)
        return True
    except TypeError:
        return False


HAS_SDPA_SCALE = HAS_SDPA and _sdpa_takes_scale()


def attend(q, k, v, scale=None):
    """softmax(q k^T * scale) v over [B, H, N, hd] (scale 1/sqrt(hd) by default): PyTorch's fused kernel where it has one."""
    if HAS_SDPA and (scale is None or HAS_SDPA_SCALE):
        return F.scaled_dot_product_attention(q, k, v) if scale is None else F.scaled_dot_product_attention(
            q, k, v, scale=scale)
    s = (q @ k.transpose(-2, -1)) * (q.shape[-1] ** -0.5 if scale is None else scale)
    return s.softmax(dim=-1) @ v


def attention_from_qkv(qkv, heads, scale=None):
    """qkv [B, N, 3D] (timm's layout: Q | K | V, each heads x hd) -> [B, N, D], as timm's Attention."""
    b, n, d3 = qkv.shape
    d = d3 // 3
    q, k, v = qkv.reshape(b, n, 3, heads, d // heads).permute(2, 0, 3, 1, 4).unbind(0)
    return attend(q, k, v, scale).transpose(1, 2).reshape(b, n, d)


class Attention(nn.Module):
    """timm's; the 2020 tutorial's (no qkv bias, scale dim^-0.5); vit-pytorch's (no qkv bias, heads x dim_head)."""

    def __init__(self, dim, heads, arch="timm", dim_head=None, dropout=0.0):
        super().__init__()
        inner = heads * (dim_head or dim // heads)
        self.heads = heads
        self.scale = dim ** -0.5 if arch == "tutorial-2020" else None
        self.qkv = nn.Linear(dim, 3 * inner, bias=arch == "timm")
        self.proj = nn.Linear(inner, dim) if not (arch == "vit-pytorch" and heads == 1 and inner == dim) else nn.Identity()
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        return self.drop(self.proj(attention_from_qkv(self.qkv(x), self.heads, self.scale)))


class Mlp(nn.Module):
    def __init__(self, dim, hidden, out, dropout=0.0):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, out)
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        return self.drop(self.fc2(self.drop(F.gelu(self.fc1(x)))))


class Block(nn.Module):
    def __init__(self, dim, heads, mlp, arch="timm", dim_head=None, dropout=0.0):
        super().__init__()
        eps = LN_EPS if arch == "timm" else 1e-5
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = Attention(dim, heads, arch, dim_head, dropout)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = Mlp(dim, mlp, dim, dropout)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self, channels, patch, dim, norms=False):
        super().__init__()
        self.patch = patch
        self.norms = norms
        if norms:   # vit-pytorch: LayerNorm(patch_dim), Linear, LayerNorm(dim) on flattened patches
            self.pre_norm = nn.LayerNorm(channels * patch * patch)
            self.proj = nn.Linear(channels * patch * patch, dim)
            self.post_norm = nn.LayerNorm(dim)
        else:
            self.proj = nn.Conv2d(channels, dim, patch, stride=patch)

    def forward(self, x):
        if not self.norms:
            return self.proj(x).flatten(2).transpose(1, 2)   # [B, P, D], patches in row-major grid order
        b, c, h, w = x.shape
        p = self.patch
        x = x.reshape(b, c, h // p, p, w // p, p).permute(0, 2, 4, 3, 5, 1).reshape(b, -1, p * p * c)
        return self.post_norm(self.proj(self.pre_norm(x)))


class VisionTransformer(nn.Module):
    def __init__(self, image, patch, channels, classes, dim, depth, heads, mlp, pool="cls", head="mlp", arch="timm",
                 dim_head=None, dropout=0.0, emb_dropout=0.0):
        super().__init__()
        self.arch = arch
        self.cls = not (arch == "vit-pytorch" and pool == "mean")   # vit-pytorch mean-pools without a class token
        n = (image // patch) ** 2 + (1 if self.cls else 0)
        self.pool = pool
        self.patch_embed = PatchEmbed(channels, patch, dim, norms=arch == "vit-pytorch")
        self.cls_token = nn.Parameter(torch.zeros(dim)) if self.cls else None
        self.pos_embed = nn.Parameter(torch.zeros(n, dim))
        self.pos_drop = nn.Dropout(emb_dropout)
        self.blocks = nn.ModuleList([Block(dim, heads, mlp, arch, dim_head, dropout) for _ in range(depth)])
        if head == "mlp":
            self.norm = None
            self.head = Mlp(dim, mlp, classes)
        else:
            self.norm = nn.LayerNorm(dim, eps=LN_EPS if arch == "timm" else 1e-5)
            self.head = nn.Linear(dim, classes)
        for name, p in self.named_parameters():   # timm's initialisation, as vit4j's (the others': speed only)
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif "norm" in name:
                nn.init.ones_(p)
            else:
                nn.init.trunc_normal_(p, std=0.02, a=-0.04, b=0.04)

    def forward(self, images):
        x = self.patch_embed(images)
        if self.cls:
            x = torch.cat([self.cls_token.expand(x.shape[0], 1, -1), x], dim=1)
        x = self.pos_drop(x + self.pos_embed)
        for block in self.blocks:
            x = block(x)
        if self.arch == "vit-pytorch":   # LayerNorm on every token, then pool
            x = self.norm(x)
            return self.head(x[:, 0] if self.pool == "cls" else x.mean(dim=1))
        pooled = x[:, 0] if self.pool == "cls" else x[:, 1:].mean(dim=1)
        return self.head(pooled if self.norm is None else self.norm(pooled))


def build_model(preset_name):
    p = PRESETS[preset_name]
    image, channels, classes = DATASETS[p["dataset"]]
    image = p.get("image", image)
    model = VisionTransformer(image, p["patch"], channels, classes, p["dim"], p["depth"], p["heads"], p["mlp"],
                              p["pool"], p["head"], p["arch"], p.get("dim_head"), p.get("dropout", 0.0),
                              p.get("emb_dropout", 0.0))
    return model, (image, channels, classes)


def make_optimizer(model, p):
    """Adam when the preset has no weight decay, else AdamW decaying weight matrices only (vit4j, timm)."""
    if p["weight_decay"] == 0:
        return torch.optim.Adam(model.parameters(), lr=p["lr"])
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        (decay if param.ndim >= 2 and name not in ("pos_embed", "cls_token") else no_decay).append(param)
    return torch.optim.AdamW([{"params": decay, "weight_decay": p["weight_decay"]},
                              {"params": no_decay, "weight_decay": 0.0}], lr=p["lr"])


# --------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------

def summary(samples):
    s = sorted(samples)

    def pct(q):
        pos = q / 100 * (len(s) - 1)
        lo = int(math.floor(pos))
        hi = min(lo + 1, len(s) - 1)
        return s[lo] + (pos - lo) * (s[hi] - s[lo])

    return {"median": pct(50), "p10": pct(10), "p90": pct(90), "min": s[0], "runs": len(s)}


class Timer:
    """Times a callable as the kernel runner does: L2 flush and CUDA events on the GPU, perf_counter on the CPU."""

    def __init__(self, device):
        self.device = device
        self.flush = None
        if device.type == "cuda":
            l2 = getattr(torch.cuda.get_device_properties(device), "L2_cache_size", 0) or (64 << 20)
            self.flush = torch.empty(2 * l2 // 4, dtype=torch.float32, device=device)

    def sync(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def time_us(self, fn, warmup, runs, prepare=None):
        for _ in range(warmup):
            if prepare:
                prepare()
            self._flush()
            fn()
        if self.device.type == "cuda":
            starts = [torch.cuda.Event(enable_timing=True) for _ in range(runs)]
            stops = [torch.cuda.Event(enable_timing=True) for _ in range(runs)]
            for i in range(runs):
                if prepare:
                    prepare()
                self._flush()
                starts[i].record()
                fn()
                stops[i].record()
            torch.cuda.synchronize(self.device)
            return summary([a.elapsed_time(b) * 1000.0 for a, b in zip(starts, stops)])
        samples = []
        for _ in range(runs):
            if prepare:
                prepare()
            t0 = time.perf_counter()
            fn()
            samples.append((time.perf_counter() - t0) * 1e6)
        return summary(samples)

    def _flush(self):
        if self.flush is not None:
            self.flush.fill_(1.0)


# --------------------------------------------------------------------------
# Training step
# --------------------------------------------------------------------------

def bench_train(preset_name, batch, mode, device, warmup, steps, seed):
    p = PRESETS[preset_name]
    torch.manual_seed(seed)
    model, (image, channels, classes) = build_model(preset_name)
    model = model.to(device).train()
    opt = make_optimizer(model, p)
    forward = model
    if mode == "compile":
        forward = torch.compile(model)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    batches = [(torch.randn(batch, channels, image, image, generator=gen).to(device),
                torch.randint(classes, (batch,), generator=gen).to(device)) for _ in range(4)]
    smoothing = p["label_smoothing"]

    def step(i):
        images, labels = batches[i % len(batches)]
        loss = F.cross_entropy(forward(images), labels, label_smoothing=smoothing)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.item()   # vit4j's Trainer reads the loss back every step too

    first = step(0)
    for i in range(1, warmup):
        step(i)
    times = []
    start = time.perf_counter()
    last = first
    for i in range(steps):
        t0 = time.perf_counter()
        last = step(warmup + i)
        times.append((time.perf_counter() - t0) * 1e3)
    total = time.perf_counter() - start
    return {"model": preset_name, "batchSize": batch, "mode": mode, "imagesPerSecond": batch * steps / total,
            "msPerStep": summary(times), "warmupSteps": warmup, "steps": steps, "firstLoss": first, "lastLoss": last,
            "parameters": sum(t.numel() for t in model.parameters())}


# --------------------------------------------------------------------------
# Ops at the kernel runner's shapes
# --------------------------------------------------------------------------

def bench_ops(shape_names, device, timer, warmup, runs, seed, only=None):
    gen = torch.Generator(device="cpu").manual_seed(seed)
    results = []

    def randn(*dims, grad=False):
        t = torch.randn(*dims, generator=gen).to(device)
        return t.requires_grad_(grad)

    def record(op, shape, dims, fn, prepare=None, impl="torch"):
        if only and not any(o in op for o in only):
            return
        try:
            stats = timer.time_us(fn, warmup, runs, prepare)
            r = {"op": op, "shape": shape, "dims": dims, "impl": impl}
            r.update({k + "Us" if k != "runs" else k: v for k, v in stats.items()})
        except Exception as e:   # out of memory and the like: reported, the rest still runs
            r = {"op": op, "shape": shape, "dims": dims, "impl": impl, "error": str(e).splitlines()[0]}
        results.append(r)
        print("  %-28s %-22s %12s us  %s" % (op, shape, "%.2f" % r["medianUs"] if "medianUs" in r else "failed",
                                             impl), flush=True)

    def layer_norm(shape, rows, d):
        x, w, b = randn(rows, d, grad=True), randn(d, grad=True), randn(d, grad=True)
        dims = "R=%d D=%d" % (rows, d)
        record("layernorm.forward", shape, dims, lambda: F.layer_norm(x, (d,), w, b, LN_EPS))
        y = F.layer_norm(x, (d,), w, b, LN_EPS)
        dy = randn(rows, d)
        record("layernorm.backward", shape, dims, lambda: torch.autograd.grad(y, (x, w, b), dy, retain_graph=True))

    def gelu(shape, rows, m, dims):
        x = randn(rows, m, grad=True)
        record("gelu.forward", shape, dims, lambda: F.gelu(x))
        y = F.gelu(x)
        dy = randn(rows, m)
        record("gelu.backward", shape, dims, lambda: torch.autograd.grad(y, x, dy, retain_graph=True))

    def softmax(shape, rows, cols, dims):
        x = randn(rows, cols, grad=True)
        record("softmax.forward", shape, dims, lambda: torch.softmax(x, dim=-1))
        y = torch.softmax(x, dim=-1)
        dy = randn(rows, cols)
        record("softmax.backward", shape, dims, lambda: torch.autograd.grad(y, x, dy, retain_graph=True))

    def attention(shape, s):
        b, d, h = s["batch"], s["dim"], s["heads"]
        n = (s["image"] // s["patch"]) ** 2 + 1
        dims = "B=%d N=%d D=%d H=%d" % (b, n, d, h)
        impl = "F.scaled_dot_product_attention" if HAS_SDPA else "softmax(QK^T)V (no sdpa in torch %s)" % torch.__version__
        qkv = randn(b, n, 3 * d, grad=True)
        dout = randn(b, n, d)
        record("attention.forward", shape, dims, lambda: attention_from_qkv(qkv, h), impl=impl)
        out = attention_from_qkv(qkv, h)
        record("attention.backward", shape, dims, lambda: torch.autograd.grad(out, qkv, dout, retain_graph=True),
               impl=impl)
        record("attention.forward+backward", shape, dims,
               lambda: torch.autograd.grad(attention_from_qkv(qkv, h), qkv, dout), impl=impl)

    def linear(shape, rows, d):
        x, w, bias = randn(rows, d, grad=True), randn(3 * d, d, grad=True), randn(3 * d, grad=True)
        dims = "R=%d D=%d -> 3D" % (rows, d)
        record("linear.forward", shape, dims, lambda: F.linear(x, w, bias))
        y = F.linear(x, w, bias)
        dy = randn(rows, 3 * d)
        record("linear.backward", shape, dims, lambda: torch.autograd.grad(y, (x, w, bias), dy, retain_graph=True))

    def patch_embed(shape, s):
        b, c, size, p, d = s["batch"], s["channels"], s["image"], s["patch"], s["dim"]
        images, w, bias = randn(b, c, size, size), randn(d, c, p, p, grad=True), randn(d, grad=True)
        record("patch_embed.forward", shape, "B=%d %dx%dx%d p=%d D=%d" % (b, size, size, c, p, d),
               lambda: F.conv2d(images, w, bias, stride=p).flatten(2).transpose(1, 2), impl="conv2d")

    def cross_entropy(shape, batch, classes):
        logits = randn(batch, classes, grad=True)
        labels = torch.randint(classes, (batch,), generator=gen).to(device)
        dims = "B=%d C=%d" % (batch, classes)
        record("cross_entropy.forward", shape, dims,
               lambda: F.cross_entropy(logits, labels, reduction="none", label_smoothing=0.1))
        losses = F.cross_entropy(logits, labels, reduction="none", label_smoothing=0.1)
        scale = torch.full((batch,), 1.0 / batch, device=device)
        record("cross_entropy.backward", shape, dims,
               lambda: torch.autograd.grad(losses, logits, scale, retain_graph=True))

    def residual_add(shape, rows, cols, dims):
        a, b2, out = randn(rows, cols), randn(rows, cols), torch.empty(rows, cols, device=device)
        record("residual_add", shape, dims, lambda: torch.add(a, b2, out=out))

    def adamw(shape, params):
        p = randn(params, grad=True)
        g0 = randn(params)
        p.grad = torch.empty_like(p)
        opt = torch.optim.AdamW([p], lr=1e-3, weight_decay=0.05)
        record("adamw.step", shape, "P=%d" % params, opt.step, prepare=lambda: p.grad.copy_(g0),
               impl="torch.optim.AdamW (default implementation)")

    def parameters(s):
        d, m, c, k = s["dim"], s["mlp"], s["classes"], s["channels"] * s["patch"] ** 2
        n = (s["image"] // s["patch"]) ** 2 + 1
        block = 2 * d + (3 * d * d + 3 * d) + (d * d + d) + 2 * d + (m * d + m) + (d * m + d)
        head = (m * d + m) + (c * m + c) if s["head"] == "mlp" else 2 * d + c * d + c
        return k * d + d + d + n * d + s["depth"] * block + head

    for name in shape_names:
        print("# ops at %s" % name, flush=True)
        if name == LARGE:
            rows, cols = LARGE_ROWS, LARGE_COLS
            n_dims = "n=%d" % (rows * cols)
            layer_norm(name, rows, cols)
            gelu(name, rows, cols, n_dims)
            softmax(name, rows, cols, "rows=%d cols=%d" % (rows, cols))
            residual_add(name, rows, cols, n_dims)
            adamw(name, rows * cols)
            cross_entropy(name, rows, LARGE_CLASSES)
            attention(LARGE + " vit-base-384", VIT_SHAPES["vit-base-384"])
        else:
            s = VIT_SHAPES[name]
            b, d, h, m = s["batch"], s["dim"], s["heads"], s["mlp"]
            n = (s["image"] // s["patch"]) ** 2 + 1
            rows = b * n
            layer_norm(name, rows, d)
            gelu(name, rows, m, "R=%d M=%d" % (rows, m))
            attention(name, s)
            softmax(name, b * h * n, n, "rows=B*H*N=%d cols=N=%d" % (b * h * n, n))
            linear(name, rows, d)
            patch_embed(name, s)
            cross_entropy(name, b, s["classes"])
            residual_add(name, rows, d, "R=%d D=%d" % (rows, d))
            adamw(name, parameters(s))
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return results


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------

def device_name(device):
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "cpu"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", choices=["cpu", "cuda"])
    ap.add_argument("--models", nargs="+", default=list(PRESETS), choices=list(PRESETS))
    ap.add_argument("--batch-size", type=int, help="images per step (default: each preset's)")
    ap.add_argument("--modes", nargs="+", default=["eager", "compile"], choices=["eager", "compile"])
    ap.add_argument("--warmup", type=int, default=5, help="untimed training steps (default 5)")
    ap.add_argument("--steps", type=int, default=20, help="timed training steps (default 20)")
    ap.add_argument("--no-train", action="store_true", help="skip the training-step measurement")
    ap.add_argument("--no-ops", action="store_true", help="skip the op measurements")
    ap.add_argument("--shapes", nargs="+", help="op shape sets (default: all and large on the GPU, "
                                                "mnist-tutorial and cifar10-vit on the CPU)")
    ap.add_argument("--ops", nargs="+", help="only ops whose name contains one of these")
    ap.add_argument("--op-warmup", type=int, default=None, help="untimed runs per op (default 10 GPU, 2 CPU)")
    ap.add_argument("--op-runs", type=int, default=None, help="timed runs per op (default 50 GPU, 10 CPU)")
    ap.add_argument("--threads", type=int, help="torch.set_num_threads (default on the CPU: every core, as vit4j's "
                                                "CPU backend uses; torch alone may pick fewer)")
    ap.add_argument("--tf32", action="store_true", help="allow TF32 in matmuls and cuDNN (default: exact FP32, as vit4j)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="write the results to this file")
    args = ap.parse_args(argv)

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("bench_pytorch.py: --device cuda, but torch %s sees no GPU" % torch.__version__)
    threads = args.threads or (os.cpu_count() if device.type == "cpu" else None)
    if threads:
        torch.set_num_threads(threads)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = args.tf32
        torch.backends.cudnn.allow_tf32 = args.tf32
        torch.backends.cudnn.benchmark = True
    notes = []
    if not HAS_SDPA:
        notes.append("torch %s has no F.scaled_dot_product_attention: attention is softmax(Q K^T / sqrt(d)) V "
                     "written out" % torch.__version__)
    out = {
        "tool": "pytorch", "date": datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat(),
        "torch": torch.__version__, "python": platform.python_version(), "device": args.device,
        "deviceName": device_name(device), "threads": torch.get_num_threads(), "tf32": args.tf32,
        "cuda": torch.version.cuda if device.type == "cuda" else None,
        "cudnn": torch.backends.cudnn.version() if device.type == "cuda" else None,
        "attention": "F.scaled_dot_product_attention" if HAS_SDPA else "manual softmax(QK^T)V",
        "notes": notes, "train": [], "ops": [],
    }
    print("# torch %s on %s (%s), %d threads%s" % (torch.__version__, args.device, out["deviceName"],
                                                   out["threads"], "; " + "; ".join(notes) if notes else ""),
          flush=True)

    if not args.no_train:
        for name in args.models:
            batch = args.batch_size or PRESETS[name]["batch"]
            for mode in args.modes:
                if mode == "compile" and not HAS_COMPILE:
                    r = {"model": name, "batchSize": batch, "mode": mode,
                         "skipped": "torch %s has no torch.compile (needs 2.0+)" % torch.__version__}
                else:
                    try:
                        r = bench_train(name, batch, mode, device, args.warmup, args.steps, args.seed)
                    except Exception as e:   # a compile toolchain missing, out of memory: say so, go on
                        r = {"model": name, "batchSize": batch, "mode": mode,
                             "skipped": "%s: %s" % (type(e).__name__, (str(e).strip().splitlines() or [""])[0][:300])}
                out["train"].append(r)
                if "skipped" in r:
                    print("train %-16s batch %-4d %-8s skipped: %s" % (name, batch, mode, r["skipped"]), flush=True)
                else:
                    print("train %-16s batch %-4d %-8s %9.2f ms/step (median)  %9.1f images/s" % (
                        name, batch, mode, r["msPerStep"]["median"], r["imagesPerSecond"]), flush=True)

    if not args.no_ops:
        cuda = device.type == "cuda"
        shapes = args.shapes or (list(k for k in VIT_SHAPES if k != "vit-base-384") + [LARGE] if cuda
                                 else ["mnist-tutorial", "cifar10-vit"])
        for s in shapes:
            if s != LARGE and s not in VIT_SHAPES:
                sys.exit("bench_pytorch.py: unknown shape %r; known: %s" % (s, ", ".join(list(VIT_SHAPES) + [LARGE])))
        warmup = args.op_warmup if args.op_warmup is not None else (10 if cuda else 2)
        runs = args.op_runs if args.op_runs is not None else (50 if cuda else 10)
        timer = Timer(device)
        out["opSettings"] = {"warmup": warmup, "runs": runs, "shapes": shapes,
                             "l2FlushBytes": timer.flush.numel() * 4 if cuda else 0}
        out["ops"] = bench_ops(shapes, device, timer, warmup, runs, args.seed, args.ops)

    if args.json:
        folder = os.path.dirname(os.path.abspath(args.json))
        os.makedirs(folder, exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
        print("wrote %s" % args.json)
    return out


if __name__ == "__main__":
    main()
