#!/usr/bin/env python3
"""Unit tests of side_by_side.py's merging and tables, on made-up JSON (no Java, no torch needed):

    python3 benchmarks/test_side_by_side.py
"""

import json
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import side_by_side as sbs  # noqa: E402

VIT4J_TRAIN = {"tool": "vit4j", "kind": "train", "model": "mnist-tutorial", "batchSize": 100,
               "device": "CPU, 2 threads, BLAS JNIBLAS", "imagesPerSecond": 1200.0,
               "msPerStep": {"median": 83.0, "p10": 82.0, "p90": 85.0, "min": 81.0, "runs": 20}}
VIT4J_TRAIN_CIFAR = dict(VIT4J_TRAIN, model="cifar10-vit", batchSize=128, imagesPerSecond=100.0,
                         msPerStep={"median": 1280.0})
TORCH = {"tool": "pytorch", "torch": "2.11.0", "device": "cuda", "deviceName": "NVIDIA H100", "threads": 16,
         "attention": "F.scaled_dot_product_attention", "notes": [],
         "train": [{"model": "mnist-tutorial", "batchSize": 100, "mode": "eager", "imagesPerSecond": 800.0},
                   {"model": "mnist-tutorial", "batchSize": 100, "mode": "compile", "imagesPerSecond": 1600.0},
                   {"model": "mnist-tutorial", "batchSize": 256, "mode": "eager", "imagesPerSecond": 9999.0},
                   {"model": "cifar10-vit", "batchSize": 128, "mode": "eager", "imagesPerSecond": 50.0},
                   {"model": "cifar10-vit", "batchSize": 128, "mode": "compile",
                    "skipped": "torch 1.13 has no torch.compile (needs 2.0+)"}],
         "ops": [{"op": "attention.forward", "shape": "vit-tiny-224", "medianUs": 300.0, "impl": "sdpa"},
                 {"op": "layernorm.forward", "shape": "large", "medianUs": 100.0, "impl": "torch"},
                 {"op": "gelu.forward", "shape": "large", "medianUs": 50.0, "impl": "torch"}]}
KERNELS = {"tool": "vit4j", "kind": "kernels",
           "device": {"name": "NVIDIA H100", "description": "CUDA NVIDIA H100 (sm_90)"},
           "peaks": {"copyGBs": 3000.0, "sgemmTflops": 50.0, "tf32Tflops": 400.0},
           "results": [{"op": "attention.forward", "shape": "vit-tiny-224", "dims": "B=128 N=197 D=192 H=3",
                        "medianUs": 200.0, "percentOfPeak": 12.5},
                       {"op": "layernorm.forward", "shape": "large", "dims": "R=65536 D=1024", "medianUs": 125.0,
                        "percentOfPeak": 85.0},
                       {"op": "linear.forward", "shape": "large", "dims": "x", "medianUs": 1.0}]}


class MergeTest(unittest.TestCase):

    def test_train_rows_match_model_batch_and_mode(self):
        rows = sbs.train_rows([VIT4J_TRAIN, VIT4J_TRAIN_CIFAR], TORCH)
        self.assertEqual(2, len(rows))
        r = rows[0]
        self.assertEqual(("mnist-tutorial", 100), (r["model"], r["batchSize"]))
        self.assertEqual(800.0, r["torchEagerImagesPerSecond"])   # batch 256 is another row of PyTorch's
        self.assertAlmostEqual(1.5, r["vsEager"])
        self.assertAlmostEqual(0.75, r["vsCompile"])
        c = rows[1]
        self.assertAlmostEqual(2.0, c["vsEager"])
        self.assertIsNone(c["torchCompileImagesPerSecond"])
        self.assertIsNone(c["vsCompile"])
        self.assertIn("no torch.compile", c["notes"])

    def test_train_rows_flag_different_models(self):
        torch = dict(TORCH, train=[dict(TORCH["train"][0], parameters=100)])
        rows = sbs.train_rows([dict(VIT4J_TRAIN, parameters=214794)], torch)
        self.assertIn("not the same model: 214794 parameters in vit4j, 100 in PyTorch", rows[0]["notes"])

    def test_train_rows_without_pytorch(self):
        rows = sbs.train_rows([VIT4J_TRAIN], None)
        self.assertIsNone(rows[0]["vsEager"])
        header, body = sbs.train_table(rows)
        self.assertEqual("-", body[0][header.index("vit4j / eager")])

    def test_op_rows_speedup_is_pytorch_over_vit4j(self):
        rows = sbs.op_rows(KERNELS, TORCH)
        self.assertEqual(["attention.forward", "layernorm.forward"], [r["op"] for r in rows])  # linear: no torch twin
        self.assertAlmostEqual(1.5, rows[0]["speedup"])
        self.assertAlmostEqual(0.8, rows[1]["speedup"])
        self.assertEqual("sdpa", rows[0]["torchImpl"])

    def test_text_table_aligns(self):
        header, body = sbs.train_table(sbs.train_rows([VIT4J_TRAIN], TORCH))
        text = sbs.render_text(header, body)
        lines = text.splitlines()
        self.assertTrue(lines[0].startswith("model"))
        self.assertTrue(set(lines[1]) <= {"-", " "})
        self.assertIn("1200.0", lines[2])
        self.assertIn("1.50x", lines[2])
        self.assertIn("0.75x", lines[2])
        # numbers right-aligned under their header
        col = lines[0].index("vit4j / eager")
        self.assertEqual(lines[2].index("1.50x") + len("1.50x"), col + len("vit4j / eager"))

    def test_markdown(self):
        header, body = sbs.op_table(sbs.op_rows(KERNELS, TORCH))
        md = sbs.render_markdown(header, body).splitlines()
        self.assertEqual("| op | shape | dims | vit4j us | % peak | PyTorch us | PyTorch / vit4j | PyTorch op |", md[0])
        self.assertEqual("|---|---|---|---:|---:|---:|---:|---|", md[1])
        self.assertIn("| attention.forward | vit-tiny-224 |", md[2])
        self.assertIn("| 1.50x |", md[2])
        self.assertIn("| 85.0% |", md[3])

    def test_merge_reads_a_folder(self):
        with tempfile.TemporaryDirectory() as d:
            torch_train = dict(TORCH, ops=[])
            torch_ops = dict(TORCH, train=[])
            for name, data in [("vit4j-train-mnist-tutorial.json", VIT4J_TRAIN),
                               ("vit4j-train-cifar10-vit.json", VIT4J_TRAIN_CIFAR),
                               ("vit4j-kernels.json", KERNELS), ("pytorch-train-all.json", torch_train),
                               ("pytorch-ops.json", torch_ops)]:
                with open(os.path.join(d, name), "w") as f:
                    json.dump(data, f)
            text = sbs.main(["--merge", d])
            self.assertIn("Training step", text)
            self.assertIn("Ops (median", text)
            self.assertIn("measured peaks: copy 3000 GB/s", text)
            self.assertIn("PyTorch 2.11.0 on cuda", text)
            with open(os.path.join(d, "side_by_side.json")) as f:
                merged = json.load(f)
            self.assertEqual(2, len(merged["train"]))
            self.assertEqual(2, len(merged["ops"]))

    def test_merge_torch_concatenates(self):
        a = dict(TORCH, train=[TORCH["train"][0]], ops=[])
        b = dict(TORCH, torch="other", train=[TORCH["train"][3]], ops=TORCH["ops"][:1])
        m = sbs.merge_torch([a, b])
        self.assertEqual(2, len(m["train"]))
        self.assertEqual(1, len(m["ops"]))
        self.assertEqual("2.11.0", m["torch"])
        self.assertIsNone(sbs.merge_torch([]))

    def test_emulated_kernels_are_compared_with_nothing(self):
        emulated = dict(KERNELS, emulated=True)
        with self.assertRaises(SystemExit) as e:
            sbs.report([], emulated, TORCH)
        self.assertIn("emulator", str(e.exception))

    def test_ratio(self):
        self.assertIsNone(sbs.ratio(None, 1))
        self.assertIsNone(sbs.ratio(1, 0))
        self.assertEqual(2, sbs.ratio(4, 2))


if __name__ == "__main__":
    unittest.main()
