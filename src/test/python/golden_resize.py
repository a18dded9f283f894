"""Golden fixture for vit4j's training-time resize: torchvision's Resize of a PIL image, bilinear.

torchvision's transforms.Resize(224) of a PIL image is img.resize((224, 224), Image.BILINEAR) for
a square image (its default interpolation; functional_pil.resize), and ToTensor() then
Normalize(mean, std) turn the uint8 result into float32 (x / 255 - mean) / std. The CIFAR-10
notebook's transform is Resize(224), ToTensor(), Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)).

Writes src/test/resources/golden/resize/bilinear.safetensors: for each case, "<name>.in" (I32, the
uint8 planes [C, H, W] of a random image) and "<name>.out" (I32, Pillow's bilinear resize of it,
[C, H', W']); for the CIFAR-sized case "<name>.normalized" instead (F32 [C, 224, 224]: ToTensor and
Normalize(0.5, 0.5, 0.5) of the resized image, as torchvision computes them; the uint8 image is
(x * 0.5 + 0.5) * 255, exactly). Cases: 32 -> 224 RGB (the notebook's), 28 -> 112 grey, a
downscale (Pillow widens the filter: antialiasing) and one axis up, the other down. Metadata "cases": JSON list of [name, C, H, W, H', W'].

Run from the repository root with Debian's Pillow, NumPy and PyTorch (deterministic):
    /usr/bin/python3 src/test/python/golden_resize.py
"""
import json
import os
import struct

import numpy as np
import PIL
import torch
from PIL import Image

OUT = "src/test/resources/golden/resize/bilinear.safetensors"
CASES = [
    # name, channels, height, width, new height, new width
    ("cifar-32-to-224", 3, 32, 32, 224, 224),
    ("grey-28-to-112", 1, 28, 28, 112, 112),
    ("rgb-45x31-to-17x20", 3, 45, 31, 17, 20),
    ("rgb-13x7-to-5x40", 3, 13, 7, 5, 40),
]


def pil(planes):
    c = planes.shape[0]
    return Image.fromarray(planes[0], "L") if c == 1 else Image.fromarray(np.ascontiguousarray(planes.transpose(1, 2, 0)), "RGB")


def planes_of(img):
    a = np.asarray(img)
    return a[None] if a.ndim == 2 else a.transpose(2, 0, 1)


def write_safetensors(path, tensors, metadata):
    header, blobs, offset = {}, [], 0
    for name, (dtype, shape, data) in tensors.items():
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    header["__metadata__"] = metadata
    hb = json.dumps(header, separators=(",", ":")).encode()
    hb += b" " * ((-len(hb)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hb)) + hb + b"".join(blobs))


def main():
    rng = np.random.default_rng(224)
    tensors = {}
    for name, c, h, w, nh, nw in CASES:
        src = rng.integers(0, 256, size=(c, h, w), dtype=np.uint8)
        out = planes_of(pil(src).resize((nw, nh), Image.BILINEAR))
        assert out.shape == (c, nh, nw)
        tensors[name + ".in"] = ("I32", src.shape, src.astype("<i4").tobytes())
        if name.startswith("cifar"):
            x = torch.from_numpy(out.copy()).float().div(255)                 # ToTensor
            mean = torch.tensor([0.5, 0.5, 0.5]).view(3, 1, 1)
            x = x.sub(mean).div(mean)                                         # Normalize(0.5, 0.5)
            tensors[name + ".normalized"] = ("F32", x.shape, x.numpy().astype("<f4").tobytes())
        else:
            tensors[name + ".out"] = ("I32", out.shape, out.astype("<i4").tobytes())
        print("%-20s %dx%dx%d -> %dx%d  mean %.2f -> %.2f" % (name, c, h, w, nh, nw, src.mean(), out.mean()))
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    write_safetensors(OUT, tensors, {"cases": json.dumps([list(c) for c in CASES]), "pillow": PIL.__version__,
                                     "torch": torch.__version__, "generator": "src/test/python/golden_resize.py"})
    print("wrote", OUT, os.path.getsize(OUT), "bytes; Pillow", PIL.__version__)


if __name__ == "__main__":
    main()
