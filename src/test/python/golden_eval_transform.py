"""Golden fixtures for vit4j's EvalTransform: torchvision's evaluation preprocessing on PIL images.

Writes small PNG images with random content (odd sizes, portrait and landscape, grey, RGB, RGBA,
grey+alpha and palette; one JPEG; upscaling and downscaling; crops with odd margins and larger than the
image) to src/test/resources/golden/eval-transform/, and, for each case, what
  Resize(resize, BICUBIC) or Resize((size, size), BICUBIC), CenterCrop(crop), ToTensor(), Normalize(mean, std)
gives after img.convert('RGB') or img.convert('L'), in eval-transform.safetensors (F32, CHW). One
case at timm's own sizes (resize 248, crop 224) keeps its expected result as a PNG of the uint8
crop instead, to keep the fixtures small.

torchvision is not installed on these machines, so its transforms are written out below the way
torchvision 0.14 implements them for PIL images (transforms/functional.py, functional_pil.py):
the output-size arithmetic, the zero padding and half-to-even rounding of CenterCrop, the
float32 ToTensor and Normalize.

Run from the repository root with Debian's Pillow, NumPy and PyTorch (deterministic):
    /usr/bin/python3 src/test/python/golden_eval_transform.py
"""
import json
import os
import struct

import numpy as np
import PIL
import torch
from PIL import Image

OUT_DIR = "src/test/resources/golden/eval-transform"
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
GREY_MEAN, GREY_STD = (0.1307,), (0.3081,)


# ---------------------------------------------------------------- torchvision, written out

def resize_shorter(img, size):
    """transforms.Resize(size) with an int: the shorter side becomes size."""
    w, h = img.size
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = size, int(size * long / short)
    new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
    if (new_w, new_h) == (w, h):
        return img
    return img.resize((new_w, new_h), Image.BICUBIC)


def resize_square(img, size):
    """transforms.Resize((size, size))."""
    if img.size == (size, size):
        return img
    return img.resize((size, size), Image.BICUBIC)


def center_crop(img, crop):
    """transforms.CenterCrop(crop): zero padding where the crop is larger, then round-half-even offsets."""
    w, h = img.size
    if crop > w or crop > h:
        left = (crop - w) // 2 if crop > w else 0
        top = (crop - h) // 2 if crop > h else 0
        right = (crop - w + 1) // 2 if crop > w else 0
        bottom = (crop - h + 1) // 2 if crop > h else 0
        padded = Image.new(img.mode, (w + left + right, h + top + bottom), 0)  # ImageOps.expand(fill=0)
        padded.paste(img, (left, top))
        img = padded
        w, h = img.size
        if (w, h) == (crop, crop):
            return img
    top = int(round((h - crop) / 2.0))
    left = int(round((w - crop) / 2.0))
    return img.crop((left, top, left + crop, top + crop))


def to_tensor(img):
    a = torch.from_numpy(np.array(img, np.uint8, copy=True))
    a = a.view(img.size[1], img.size[0], len(img.getbands())).permute((2, 0, 1)).contiguous()
    return a.to(dtype=torch.float32).div(255)


def normalize(t, mean, std):
    mean = torch.as_tensor(mean, dtype=torch.float32)
    std = torch.as_tensor(std, dtype=torch.float32)
    return t.sub_(mean.view(-1, 1, 1)).div_(std.view(-1, 1, 1))


def preprocess(img, mode, resize, crop, channels):
    img = img.convert("RGB" if channels == 3 else "L")
    img = resize_shorter(img, resize) if mode == "center" else resize_square(img, resize)
    return center_crop(img, crop)


# ---------------------------------------------------------------- inputs

def noise(rng, w, h, mode):
    bands = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}[mode]
    a = rng.integers(0, 256, size=(h, w, bands), dtype=np.uint8)
    return Image.fromarray(a[:, :, 0] if bands == 1 else a, mode)


def smooth(w, h):
    """Gradients and waves: photo-like detail at several scales, and small as a PNG."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    chans = []
    for c in range(3):
        v = 128 + 90 * np.sin(x / (23 + 6 * c) + c) * np.cos(y / (31 - 5 * c)) + 30 * (x - y) / (w + h)
        chans.append(np.clip(np.rint(v), 0, 255).astype(np.uint8))
    return Image.fromarray(np.stack(chans, axis=2), "RGB")


def palette(rng, w, h):
    img = Image.fromarray(rng.integers(0, 16, size=(h, w), dtype=np.uint8), "P")
    img.putpalette(rng.integers(0, 256, size=16 * 3, dtype=np.uint8).tolist())
    return img


def write_safetensors(path, tensors, metadata):
    header, data, offset = {}, b"", 0
    for name, t in tensors.items():
        raw = t.contiguous().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        data += raw
        offset += len(raw)
    header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + data)


def main():
    rng = np.random.default_rng(2024)
    os.makedirs(OUT_DIR, exist_ok=True)
    images = {
        "rgb-landscape-45x31.png": noise(rng, 45, 31, "RGB"),
        "rgb-portrait-27x40.png": noise(rng, 27, 40, "RGB"),
        "grey-portrait-33x70.png": noise(rng, 33, 70, "L"),
        "rgb-large-101x83.png": noise(rng, 101, 83, "RGB"),
        "rgba-22x22.png": noise(rng, 22, 22, "RGBA"),
        "grey-alpha-19x23.png": noise(rng, 19, 23, "LA"),
        "palette-41x17.png": palette(rng, 41, 17),
        "rgb-tiny-3x2.png": noise(rng, 3, 2, "RGB"),
        "rgb-wide-200x7.png": noise(rng, 200, 7, "RGB"),
        "smooth-263x251.png": smooth(263, 251),
    }
    for name, img in images.items():
        img.save(os.path.join(OUT_DIR, name), optimize=True)
    # A 4:2:0 JPEG with odd sides: Java's decoder (IJG libjpeg 6b) and Pillow's (libjpeg-turbo) agree
    # bit for bit on baseline and progressive JPEGs, so JPEG input is held to the same standard.
    smooth(61, 45).save(os.path.join(OUT_DIR, "photo-61x45.jpg"), quality=85)
    # Not an input vit4j accepts: for the error test.
    Image.new("CMYK", (8, 6), (10, 20, 30, 40)).save(os.path.join(OUT_DIR, "cmyk-8x6.jpg"))

    # (name, image, mode, resize, crop, channels): downscaling and upscaling, odd margins whose
    # half is x.5 (half-to-even matters), crops larger than the resized image (padding), grey
    # models fed colour images and colour models fed grey ones, and no-op resizes.
    cases = [
        ("rgb-down", "rgb-landscape-45x31.png", "center", 24, 21, 3),   # 34x24, margins 13 and 3
        ("rgb-up", "rgb-portrait-27x40.png", "center", 32, 25, 3),      # 32x47, margins 7 and 22
        ("grey-grey", "grey-portrait-33x70.png", "center", 20, 17, 1),  # 20x42
        ("grey-as-rgb", "grey-portrait-33x70.png", "center", 25, 20, 3),
        ("rgb-as-grey", "rgb-landscape-45x31.png", "center", 24, 19, 1),
        ("rgb-down-3x", "rgb-large-101x83.png", "center", 27, 22, 3),  # 32x27, margins 10 and 5
        ("rgba-noop", "rgba-22x22.png", "center", 22, 22, 3),
        ("rgba-crop", "rgba-22x22.png", "center", 22, 17, 3),
        ("grey-alpha", "grey-alpha-19x23.png", "center", 16, 15, 3),
        ("palette", "palette-41x17.png", "center", 12, 11, 3),
        ("tiny-up", "rgb-tiny-3x2.png", "center", 16, 16, 3),           # 24x16
        ("wide", "rgb-wide-200x7.png", "center", 5, 5, 3),              # 142x5
        ("pad", "rgb-landscape-45x31.png", "center", 12, 15, 3),        # 17x12, crop pads 1 above, 2 below
        ("pad-both", "rgb-tiny-3x2.png", "center", 4, 9, 1),            # 6x4, padded on all sides
        ("squash", "rgb-landscape-45x31.png", "squash", 24, 24, 3),
        ("squash-grey", "grey-portrait-33x70.png", "squash", 28, 28, 1),
        ("jpeg", "photo-61x45.jpg", "center", 24, 21, 3),               # 32x24
    ]
    tensors, meta_cases = {}, []
    for name, file, mode, resize, crop, channels in cases:
        mean, std = (IMAGENET_MEAN, IMAGENET_STD) if channels == 3 else (GREY_MEAN, GREY_STD)
        img = Image.open(os.path.join(OUT_DIR, file))
        out = normalize(to_tensor(preprocess(img, mode, resize, crop, channels)), mean, std)
        assert tuple(out.shape) == (channels, crop, crop), (name, out.shape)
        tensors[name] = out
        meta_cases.append({"name": name, "file": file, "mode": mode, "resize": resize, "crop": crop,
                           "channels": channels, "mean": mean, "std": std})

    # timm's evaluation sizes on a photo-like image: the expected uint8 crop as a PNG.
    timm_crop = preprocess(Image.open(os.path.join(OUT_DIR, "smooth-263x251.png")), "center", 248, 224, 3)
    timm_crop.save(os.path.join(OUT_DIR, "smooth-263x251.timm-248-224.png"), optimize=True)

    write_safetensors(os.path.join(OUT_DIR, "eval-transform.safetensors"), tensors, {
        "cases": json.dumps(meta_cases), "pillow": PIL.__version__, "numpy": np.__version__,
        "torch": torch.__version__, "generator": "src/test/python/golden_eval_transform.py"})
    total = sum(os.path.getsize(os.path.join(OUT_DIR, f)) for f in os.listdir(OUT_DIR))
    print(f"wrote {len(images)} images and {len(cases)} cases to {OUT_DIR} ({total} bytes)")


if __name__ == "__main__":
    main()
