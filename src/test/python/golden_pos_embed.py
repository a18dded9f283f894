"""Golden fixture for vit4j's position-embedding resampling (PositionEmbeddings.resample).

timm resizes a ViT's learned position embedding to a new patch grid with
F.interpolate(mode="bicubic", align_corners=False, antialias=True) on the grid rows, keeping the
class token's row (timm.layers.resample_abs_pos_embed). This script applies exactly that, in
float64, to a random float32 embedding of [1 + 4*5, 8] and writes the results for several target
grids (larger, smaller, mixed, 1x1) to src/test/resources/golden/pos-embed-resample.safetensors.

Run from the repository root with Debian's PyTorch: /usr/bin/python3 src/test/python/golden_pos_embed.py
"""
import json
import struct

import torch
import torch.nn.functional as F

OLD_H, OLD_W, DIM = 4, 5, 8
TARGETS = [(6, 7), (2, 3), (4, 5), (5, 3), (9, 9), (1, 1)]


def resample(pos, new_h, new_w):
    prefix, grid = pos[:1], pos[1:]
    grid = grid.reshape(1, OLD_H, OLD_W, DIM).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=(new_h, new_w), mode="bicubic", align_corners=False, antialias=True)
    grid = grid.permute(0, 2, 3, 1).reshape(new_h * new_w, DIM)
    return torch.cat([prefix, grid])


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
    torch.manual_seed(7)
    pos = torch.randn(1 + OLD_H * OLD_W, DIM).float()
    tensors = {"input.pos": pos}
    for h, w in TARGETS:
        tensors[f"out.{h}x{w}"] = resample(pos.double(), h, w).float()
    write_safetensors("src/test/resources/golden/pos-embed-resample.safetensors", tensors,
                      {"grid": f"{OLD_H}x{OLD_W}", "dim": str(DIM), "torch": torch.__version__,
                       "generator": "src/test/python/golden_pos_embed.py"})
    print("wrote", len(tensors), "tensors")


if __name__ == "__main__":
    main()
