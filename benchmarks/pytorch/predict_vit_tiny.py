#!/usr/bin/env python3
"""Inference throughput of timm's vit_tiny_patch16_224 in PyTorch, to put beside `vit4j predict`.

timm is not installed on the project's machines, so the model is timm's VisionTransformer
(as timm 1.0 runs it on PyTorch 1.13, where there is no scaled_dot_product_attention: the
explicit q @ k^T, softmax, @ v path) written out as torch modules over torch.nn.functional,
with the weights read from a safetensors file whose header is parsed by hand (8-byte
little-endian length, then JSON), so neither timm nor the `safetensors` package is needed.

The weights file may be a plain timm export (`cls_token`, `blocks.0.attn.qkv.weight`, ...) or
one of the project's golden fixtures (`param.cls_token`, ..., plus `input.images` and
`out.logits`): `--export FILE` writes the fixture's parameters under timm's own names, the file
`vit4j predict --weights` takes.

Measures, in eval mode under torch.inference_mode(), with torch.set_num_threads(--threads):

- model alone: forward passes over already-preprocessed [B, 3, 224, 224] float32 tensors
  (the images of --images, preprocessed once beforehand, or random ones), one untimed warm-up
  batch first, then --images-total images timed; images/s = images / seconds;
- end to end (with --images): decode (PIL), preprocess as timm evaluates (shorter side
  bicubic to 248, centre crop 224, ImageNet mean/std) and forward, in one process, batch by
  batch, no warm-up.

With --images and --probs FILE it also writes each image's top-5 softmax probabilities as JSON
lines ({"path", "indices", "probabilities"}, as `vit4j predict --json`), to check that both run
the same model. One JSON object with the results goes to stdout (--json) or a short text
report.

    /usr/bin/python3 benchmarks/pytorch/predict_vit_tiny.py \
        --weights /work/shared/golden/timm/vit_tiny_patch16_224.safetensors \
        --images /tmp/i13p/images --batch-size 32 --threads 2 --images-total 1024
"""
import argparse
import json
import math
import os
import platform
import struct
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

DTYPES = {"F32": torch.float32, "F16": torch.float16, "F64": torch.float64, "BF16": torch.bfloat16}
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def read_safetensors(path):
    """Returns ({name: tensor}, metadata) of a safetensors file, tensors in their stored dtype."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, v in header.items():
        if name == "__metadata__":
            continue
        b, e = v["data_offsets"]
        out[name] = torch.frombuffer(bytearray(data[b:e]), dtype=DTYPES[v["dtype"]]).reshape(v["shape"])
    return out, header.get("__metadata__", {})


def write_safetensors(path, tensors, metadata=None):
    names = sorted(tensors)
    inverse = {v: k for k, v in DTYPES.items()}
    header, blobs, offset = {}, [], 0
    for name in names:
        t = tensors[name].contiguous()
        blob = t.view(torch.uint8).numpy().tobytes() if t.numel() else b""
        header[name] = {"dtype": inverse[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for blob in blobs:
            f.write(blob)


def timm_params(tensors):
    """The parameters under timm's names: a golden fixture's `param.` prefix removed."""
    if any(k.startswith("param.") for k in tensors):
        return {k[len("param."):]: v for k, v in tensors.items() if k.startswith("param.")}
    return dict(tensors)


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        a = (q * self.scale) @ k.transpose(-2, -1)
        x = (a.softmax(dim=-1) @ v).transpose(1, 2).reshape(B, N, C)
        return self.proj(x)


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim, heads, hidden):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, hidden)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self, patch, channels, dim):
        super().__init__()
        self.proj = nn.Conv2d(channels, dim, patch, stride=patch)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


class VisionTransformer(nn.Module):
    """timm's VisionTransformer (class token, learned position embedding, pre-norm blocks,
    final norm, head on the class token), for the shapes the weights give."""

    def __init__(self, p, heads):
        super().__init__()
        dim, channels, patch = p["patch_embed.proj.weight"].shape[:3]
        depth = 1 + max(int(k.split(".")[1]) for k in p if k.startswith("blocks."))
        hidden = p["blocks.0.mlp.fc1.weight"].shape[0]
        self.patch_embed = PatchEmbed(patch, channels, dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(p["pos_embed"].shape))
        self.blocks = nn.Sequential(*[Block(dim, heads, hidden) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, p["head.weight"].shape[0])

    def forward(self, x):
        x = self.patch_embed(x)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        x = self.norm(self.blocks(x))
        return self.head(x[:, 0])


def build(path, heads):
    tensors, meta = read_safetensors(path)
    p = {k: v.float() for k, v in timm_params(tensors).items()}
    if heads is None:
        heads = p["patch_embed.proj.weight"].shape[0] // 64  # timm's tiny/small/base: head width 64
    model = VisionTransformer(p, heads)
    missing, unexpected = model.load_state_dict(p, strict=False)
    if missing or unexpected:
        raise SystemExit("weights do not fit the model: missing %s, unexpected %s" % (missing, unexpected))
    return model.eval(), tensors, meta


def list_images(d):
    out = []
    for root, _, files in os.walk(d):
        out += [os.path.join(root, f) for f in files if f.lower().endswith((".png", ".jpg", ".jpeg"))]
    return sorted(out)


def preprocess(path, size=224, resize=248):
    """timm's eval transform: shorter side to `resize` (bicubic, as torchvision's Resize(int)),
    centre crop `size`, to [0, 1], ImageNet mean and std. Returns [3, size, size] float32."""
    from PIL import Image
    import numpy as np
    with Image.open(path) as im:
        im = im.convert("RGB")
        w, h = im.size
        if w <= h:
            ow, oh = resize, int(resize * h / w)
        else:
            ow, oh = int(resize * w / h), resize
        im = im.resize((ow, oh), Image.BICUBIC)
        top, left = int(round((oh - size) / 2.0)), int(round((ow - size) / 2.0))
        im = im.crop((left, top, left + size, top + size))
        a = np.asarray(im, dtype=np.float32) / 255.0
    a = (a - np.array(MEAN, dtype=np.float32)) / np.array(STD, dtype=np.float32)
    return torch.from_numpy(a.transpose(2, 0, 1).copy())


def model_alone(model, pool, batch, total):
    """images/s of forward passes over `total` images taken in turn from `pool` [M, 3, H, W]."""
    m = pool.shape[0]
    batches = [pool[(i * batch) % m:(i * batch) % m + batch] for i in range(max(1, math.ceil(total / batch)))]
    batches = [b if b.shape[0] == batch else torch.cat([b, pool[:batch - b.shape[0]]]) for b in batches]
    with torch.inference_mode():
        model(batches[0])  # warm-up, untimed
        t0 = time.perf_counter()
        n = 0
        for b in batches:
            model(b)
            n += b.shape[0]
        s = time.perf_counter() - t0
    return n / s, s, n


def end_to_end(model, files, batch):
    with torch.inference_mode():
        t0 = time.perf_counter()
        for i in range(0, len(files), batch):
            x = torch.stack([preprocess(f) for f in files[i:i + batch]])
            model(x).softmax(-1).topk(1)
        s = time.perf_counter() - t0
    return len(files) / s, s


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weights", required=True, help="timm ViT in safetensors, or a golden fixture (param.*)")
    ap.add_argument("--export", metavar="FILE", help="write the parameters under timm's names to FILE and exit")
    ap.add_argument("--heads", type=int, help="attention heads (default: embedding width / 64, as timm's)")
    ap.add_argument("--images", help="directory of PNG/JPEG images (searched recursively)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    ap.add_argument("--images-total", type=int, default=1024, help="images timed in the model-alone run")
    ap.add_argument("--end-to-end", action="store_true", help="also time decode + preprocess + forward")
    ap.add_argument("--end-to-end-repeat", type=int, default=1, help="times the image list is run end to end")
    ap.add_argument("--probs", metavar="FILE", help="write each image's top-5 probabilities as JSON lines")
    ap.add_argument("--check-fixture", action="store_true", help="compare with a golden fixture's out.logits")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    a = ap.parse_args()

    if a.export:
        tensors, meta = read_safetensors(a.weights)
        write_safetensors(a.export, timm_params(tensors), {"model": meta.get("model", "?")} if meta else None)
        print("wrote", a.export, file=sys.stderr)
        return 0

    torch.set_num_threads(a.threads)
    model, tensors, meta = build(a.weights, a.heads)
    result = {"torch": torch.__version__, "threads": torch.get_num_threads(), "batch": a.batch_size,
              "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "(default)"), "python": platform.python_version(),
              "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    if a.check_fixture and "input.images" in tensors:
        with torch.inference_mode():
            got = model(tensors["input.images"].float())
        ref = tensors["out.logits"].float().reshape(got.shape)
        result["fixture_max_abs_diff"] = (got - ref).abs().max().item()

    files = list_images(a.images) if a.images else []
    if files:
        pool = torch.stack([preprocess(f) for f in files])
    else:
        pool = torch.randn(max(a.batch_size, 64), 3, 224, 224, generator=torch.Generator().manual_seed(0))
    ips, s, n = model_alone(model, pool, a.batch_size, a.images_total)
    result.update(model_alone_images_per_s=ips, model_alone_seconds=s, model_alone_images=n)

    if files and a.probs:
        with torch.inference_mode(), open(a.probs, "w") as out:
            for i in range(0, len(files), a.batch_size):
                pr = model(pool[i:i + a.batch_size]).softmax(-1)
                v, idx = pr.topk(5, dim=-1)
                for j in range(pr.shape[0]):
                    out.write(json.dumps({"path": files[i + j], "indices": idx[j].tolist(),
                                          "probabilities": v[j].tolist()}) + "\n")
    if files and a.end_to_end:
        e2e, s = end_to_end(model, files * a.end_to_end_repeat, a.batch_size)
        result.update(end_to_end_images_per_s=e2e, end_to_end_seconds=s,
                      end_to_end_images=len(files) * a.end_to_end_repeat)

    if a.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print("%-26s %s" % (k, "%.1f" % v if isinstance(v, float) and "diff" not in k else v))
    return 0


if __name__ == "__main__":
    sys.exit(main())
