#!/usr/bin/env python3
"""Golden fixtures from timm itself: the same weights and input give the same logits in vit4j.

For each model below this script creates the timm model with random weights (pretrained=False:
the machines that run it have no internet), perturbs every parameter so that no bias is zero and
no LayerNorm is the identity (timm's init would leave those untested), rounds the weights to
float16 for a small file, loads the rounded weights back into the model, and writes
src/test/resources/golden/timm/<model>.safetensors holding

    param.<timm name>   F16   every tensor of model.state_dict(), timm's names and shapes
    input.images        F32   [2, 3, 224, 224], a random (already normalised) batch
    out.logits          F32   [2, 1000], the model's eval-mode output in float32
    out.logits64        F32   [2, 1000], the same in float64 (model.double()), rounded to F32
    out.head, out.head_dist   F32 (distilled models only): each head's logits, float64
    __metadata__        model, timm and torch versions, generator

vit4j's TimmGoldenTest (unit tier, CPU) and the native tier's CudaTimmGoldenTest load each file
through TimmWeights (config inferred from the shapes) and compare the logits.

Run from the repository root on a machine with timm (the GPU machine has timm and PyTorch 2.11):

    python3 src/test/python/golden_timm.py

It needs timm, torch and the Python standard library (the file is written with struct + json).
Everything runs on the CPU; a run takes well under a minute.
"""

import json
import os
import struct
import sys
from collections import OrderedDict

import torch

import timm

GENERATOR = "src/test/python/golden_timm.py"
OUT_DIR = os.path.join("src", "test", "resources", "golden", "timm")
MODELS = [
    # (timm model name, seed)
    ("vit_tiny_patch16_224", 2024),
    ("deit_tiny_distilled_patch16_224", 2025),
]
BATCH = 2


def write_safetensors(path, tensors, metadata):
    """Hand-written safetensors writer (F32 and F16), tensors in the given order."""
    header = OrderedDict()
    blobs = []
    offset = 0
    for name, t in tensors.items():
        t = t.contiguous().cpu()
        if t.dtype == torch.float32:
            dtype, raw = "F32", t.numpy().astype("<f4").tobytes()
        elif t.dtype == torch.float16:
            dtype, raw = "F16", t.numpy().astype("<f2").tobytes()
        else:
            raise ValueError("%s: dtype %s" % (name, t.dtype))
        header[name] = OrderedDict([("dtype", dtype), ("shape", list(t.shape)),
                                    ("data_offsets", [offset, offset + len(raw)])])
        blobs.append(raw)
        offset += len(raw)
    header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def perturb(model, gen):
    """Every parameter gets a random offset on the scale of timm's init (std 0.02)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen, dtype=torch.float32)
            if "norm" in name and name.endswith(".weight"):
                p.copy_(1.0 + 0.1 * noise)                     # LayerNorm gains around 1
            elif p.dim() == 1 or name in ("cls_token", "dist_token", "pos_embed"):
                p.add_(0.05 * noise)                           # biases, tokens, embeddings
            else:
                p.add_(0.02 * noise)


def make_fixture(name, seed):
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = timm.create_model(name, pretrained=False)
    model.eval()
    perturb(model, gen)
    state = OrderedDict((k, v.detach().to(torch.float16)) for k, v in model.state_dict().items())
    model.load_state_dict(OrderedDict((k, v.float()) for k, v in state.items()))

    images = torch.randn(BATCH, 3, 224, 224, generator=gen, dtype=torch.float32)
    with torch.no_grad():
        logits = model(images).float()
        model64 = model.double()
        x64 = images.double()
        logits64 = model64(x64)
        tensors = OrderedDict()
        for k, v in state.items():
            tensors["param." + k] = v
        tensors["input.images"] = images
        tensors["out.logits"] = logits
        tensors["out.logits64"] = logits64.float()
        if hasattr(model64, "head_dist"):
            feats = model64.forward_features(x64)
            tensors["out.head"] = model64.head(feats[:, 0]).float()
            tensors["out.head_dist"] = model64.head_dist(feats[:, 1]).float()
            mean = (tensors["out.head"].double() + tensors["out.head_dist"].double()) / 2
            assert torch.allclose(mean, logits64, rtol=1e-6, atol=1e-6), "distilled output is the mean of the heads"
    rel = ((logits.double() - logits64).abs().max() / logits64.abs().max()).item()
    meta = OrderedDict([
        ("model", name),
        ("timm", timm.__version__),
        ("torch", torch.__version__),
        ("generator", GENERATOR),
        ("float32_vs_float64_rel_err", "%.3e" % rel),
    ])
    path = os.path.join(OUT_DIR, name + ".safetensors")
    write_safetensors(path, tensors, meta)
    print("== %s (timm %s, torch %s)" % (name, timm.__version__, torch.__version__))
    print("   %s: %d bytes, %d tensors" % (path, os.path.getsize(path), len(tensors)))
    print("   logits std %.4f, timm float32 vs float64 relative error %.2e" % (logits.std().item(), rel))


def main():
    if not os.path.isdir(os.path.join("src", "test")):
        sys.exit("run from the repository root: python3 " + GENERATOR)
    os.makedirs(OUT_DIR, exist_ok=True)
    torch.set_num_threads(min(8, os.cpu_count() or 1))
    for name, seed in MODELS:
        make_fixture(name, seed)


if __name__ == "__main__":
    main()
