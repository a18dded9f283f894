#!/usr/bin/env python3
"""Unit tests of side_by_side.py's merging and tables, on made-up JSON (no Java, no torch needed):

    python3 benchmarks/test_side_by_side.py      (or: python3 -m pytest benchmarks/test_side_by_side.py)
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


# ----------------------------------------------------------------------------- alternating pairs

SESSION = {"id": "20261201T130000Z", "start": "2026-12-01 13:00:00 UTC", "end": "2026-12-01 13:20:00 UTC",
           "device": "cpu", "cpu": {"model": "AMD EPYC 9R14", "cores": 2}, "threads": 2,
           "loadAverage": {"before": [1.5, 1.2, 1.0], "after": [2.0, 1.8, 1.1]},
           "variants": [{"name": "native", "command": "java -cp a.jar org.vit4j.cli.BenchCommand"},
                        {"name": "pure-java", "command": "java -Dos.arch=none -cp a.jar org.vit4j.cli.BenchCommand"}],
           "torchEnv": {"OMP_WAIT_POLICY": "PASSIVE"}, "java": "openjdk version \"17.0.15\"",
           "torch": {"version": "1.13.0a0", "python": "3.11.2", "threads": 2, "blasInfo": "BLAS_INFO=generic",
                     "blasLibraries": ["/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3"],
                     "parallelBackend": "ATen parallel backend: OpenMP"},
           "sgemm": {"before": {"library": "/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3",
                                "config": "OpenBLAS 0.3.21", "threads": 2, "sizes": {"1024": 180.0, "2048": 200.0},
                                "peakGflops": 200.0},
                     "after": {"library": "/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3", "threads": 2,
                               "sizes": {"1024": 240.0, "2048": 250.0, "4096": 230.0}, "peakGflops": 250.0}},
           "javaSgemm": {"pure-java": {"blas": "VectorBLAS", "threads": 2, "sizes": {"512": 20.0, "1024": 25.0},
                                       "peakGflops": 25.0}},
           "settings": {"warmup": 1, "steps": 2, "pairs": 3, "order": ["native", "pure-java", "PyTorch"]}}


def vit4j_run(rnd, ips, variant="native", order=0, model="mnist-tutorial", batch=100, blas="JNIBLAS", flops=True,
              session=SESSION["id"]):
    d = {"tool": "vit4j", "kind": "train", "model": model, "batchSize": batch, "parameters": 214794,
         "device": "CPU, 2 threads, BLAS %s" % blas, "imagesPerSecond": ips, "msPerStep": {"median": 1e5 / ips}}
    if flops:   # a jar from before the FLOP count has neither field
        d.update(blas=blas, flopsPerImage=2.3e7, flopsPerStep=2.5e9)
    d[sbs.TAG] = {"session": session, "model": model, "batchSize": None, "variant": variant, "order": order,
                  "round": rnd, "loadAverage": [1.0 + rnd / 10, 1.0, 1.0]}
    return d


def torch_run(rnd, ips, model="mnist-tutorial", batch=100, compile_skipped=True, session=SESSION["id"]):
    train = [{"model": model, "batchSize": batch, "mode": "eager", "imagesPerSecond": ips,
              "msPerStep": {"median": 1e5 / ips}, "parameters": 214794}]
    if compile_skipped:
        train.append({"model": model, "batchSize": batch, "mode": "compile",
                      "skipped": "torch 1.13 has no torch.compile (needs 2.0+)"})
    return {"tool": "pytorch", "torch": "1.13.0a0", "device": "cpu", "threads": 2, "train": train,
            sbs.TAG: {"session": session, "model": model, "batchSize": None, "variant": "pytorch", "order": 2,
                      "round": rnd, "env": {"OMP_WAIT_POLICY": "PASSIVE"}, "loadAverage": [1.0 + rnd / 10, 1.0, 1.0]}}


# Rounds whose numbers go opposite ways: within-round ratios are 100/400, 200/50, 400/100 = 0.25, 4, 4
# (median 4). Ratios of medians (200/100 = 2) or of sorted runs (100/50, 200/100, 400/400: median 2)
# give 2: a test on these fails when the pairing is wrong.
NATIVE = [100.0, 200.0, 400.0]
PURE = [50.0, 200.0, 100.0]      # / native within each round: 0.5, 1, 0.25 (median 0.5)
TORCH_EAGER = [400.0, 50.0, 100.0]


def paired_docs():
    docs = []
    for i in range(3):
        docs += [vit4j_run(i + 1, NATIVE[i]), vit4j_run(i + 1, PURE[i], "pure-java", 1, blas="VectorBLAS"),
                 torch_run(i + 1, TORCH_EAGER[i])]
    return docs


def write_folder(d, docs, sessions=(SESSION,)):
    for doc in reversed(docs):   # written in another order than the rounds ran
        tag = doc[sbs.TAG]
        side = "pytorch" if doc["tool"] == "pytorch" else (
            "vit4j" if tag["order"] == 0 else "vit4j-" + tag["variant"])
        with open(os.path.join(d, "%s-train-%s-%d.json" % (side, tag["model"], tag["round"])), "w") as f:
            json.dump(doc, f)
    for s in sessions:
        with open(os.path.join(d, "session-%s.json" % s["id"]), "w") as f:
            json.dump(s, f)


class PairsTest(unittest.TestCase):

    def rows(self, docs=None, sessions=None):
        records = sbs.paired_runs(docs or paired_docs())
        return {r["side"]: r for r in sbs.pair_rows(records, sessions if sessions is not None
                                                    else {SESSION["id"]: SESSION})}

    def test_median_and_spread(self):
        self.assertEqual(2.5, sbs.median([4, 1, None, 2, 3]))
        self.assertIsNone(sbs.median([None]))
        self.assertEqual({"median": 2, "min": 1, "max": 9, "n": 3}, sbs.spread([9, None, 1, 2]))
        self.assertIsNone(sbs.spread([]))
        self.assertEqual("2215 (2188-2677)", sbs.fmt_spread(sbs.spread([2188.2, 2215.4, 2677.0])))
        self.assertEqual("66.1", sbs.fmt_spread(sbs.spread([66.1])))
        self.assertEqual("1.50x (1.48-1.53)", sbs.fmt_spread(sbs.spread([1.48, 1.5, 1.53]), 2, "x"))
        self.assertEqual("-", sbs.fmt_spread(None))

    def test_ratios_are_taken_within_each_round(self):
        rows = self.rows()
        native = rows["native"]
        self.assertEqual({"median": 200.0, "min": 100.0, "max": 400.0, "n": 3}, native["imagesPerSecond"])
        self.assertEqual([0.25, 4.0, 4.0], native["ratiosVsTorch"])
        self.assertEqual({"median": 4.0, "min": 0.25, "max": 4.0, "n": 3}, native["vsTorch"])
        pure = rows["pure-java"]
        self.assertEqual([0.5, 1.0, 0.25], pure["ratiosVsFirst"])
        self.assertEqual(0.5, pure["vsFirst"]["median"])
        self.assertEqual([50 / 400, 200 / 50, 100 / 100], pure["ratiosVsTorch"])
        self.assertIsNone(native["vsFirst"])
        self.assertIsNone(rows["PyTorch eager"]["vsTorch"])
        self.assertIsNone(rows["PyTorch eager"]["vsFirst"])   # only vit4j variants over the first
        self.assertEqual(200.0, rows["PyTorch eager"]["imagesPerSecond"]["max"] / 2)

    def test_the_pairing_survives_any_file_order(self):
        with tempfile.TemporaryDirectory() as d:
            docs = paired_docs()
            write_folder(d, docs[3:] + docs[:3])
            records, sessions = sbs.load_paired(d)
        self.assertEqual(9 + 3, len(records))   # a record per PyTorch mode, compile skipped
        rows = {r["side"]: r for r in sbs.pair_rows(records, sessions)}
        self.assertEqual([0.25, 4.0, 4.0], rows["native"]["ratiosVsTorch"])
        self.assertEqual(["native", "pure-java", "PyTorch eager", "PyTorch compile"], list(rows))

    def test_a_missing_run_leaves_its_round_out_of_the_ratios(self):
        docs = [d for d in paired_docs() if not (d["tool"] == "pytorch" and d[sbs.TAG]["round"] == 2)]
        native = self.rows(docs)["native"]
        self.assertEqual([0.25, None, 4.0], native["ratiosVsTorch"])
        self.assertEqual({"median": 2.125, "min": 0.25, "max": 4.0, "n": 2}, native["vsTorch"])
        self.assertEqual(3, native["rounds"])

    def test_gflops_and_percent_of_the_larger_peak(self):
        native = self.rows()["native"]
        # 2.5e9 FLOPs per step of 100 images: 100 images/s is 2.5 GFLOP/s, 1% of the 250 measured after
        self.assertAlmostEqual(5.0, native["gflops"]["median"])
        self.assertAlmostEqual(2.5, native["gflops"]["min"])
        self.assertAlmostEqual(4.0, native["percentOfPeak"]["max"])
        self.assertAlmostEqual(0.5, self.rows()["PyTorch eager"]["percentOfPeak"]["min"])   # 50 img/s, same count
        self.assertEqual(250.0, sbs.session_peak(SESSION))
        self.assertIsNone(sbs.session_peak(dict(SESSION, sgemm={"before": {"error": "no libblas"}}, javaSgemm={})))
        faster = dict(SESSION, javaSgemm={"pure-java": {"blas": "VectorGemm", "peakGflops": 300.0}})
        self.assertEqual(300.0, sbs.session_peak(faster))
        self.assertIsNone(self.rows(sessions={})["native"]["percentOfPeak"])

    def test_a_jar_without_the_new_fields_borrows_the_count_and_parses_its_blas(self):
        docs = [vit4j_run(1, 100.0), vit4j_run(1, 50.0, "base", 1, blas="JNIBLAS", flops=False), torch_run(1, 80.0)]
        base = self.rows(docs)["base"]
        self.assertEqual("JNIBLAS", base["blas"])
        self.assertAlmostEqual(1.25, base["gflops"]["median"])
        self.assertAlmostEqual(0.5, base["vsFirst"]["median"])
        self.assertEqual("VectorBLAS", sbs.blas_of({"device": "CPU, 2 threads, BLAS VectorBLAS"}))
        self.assertIsNone(sbs.blas_of({"device": "CUDA H100"}))

    def test_skipped_compile_gets_a_row_saying_so(self):
        rows = self.rows()
        self.assertIn("no torch.compile", rows["PyTorch compile"]["skipped"])
        header, body = sbs.pair_table(list(rows.values()))
        self.assertNotIn("/ PyTorch compile", header)
        self.assertIn("/ native", header)
        compile_row = [b for b in body if b[2] == "PyTorch compile"][0]
        self.assertEqual("skipped", compile_row[4])

    def test_tables(self):
        records = sbs.paired_runs(paired_docs())
        header, body = sbs.pair_table(sbs.pair_rows(records, {SESSION["id"]: SESSION}))
        native = body[0]
        self.assertEqual(["mnist-tutorial", "100", "native", "3", "200 (100-400)"], native[:5])
        self.assertEqual("4.00x (0.25-4.00)", native[header.index("/ PyTorch eager")])
        self.assertEqual("2.0% (1.0-4.0)", native[header.index("% SGEMM peak")])
        self.assertEqual("0.50x (0.25-1.00)", body[1][header.index("/ native")])
        self.assertEqual("VectorBLAS", body[1][header.index("BLAS")])
        header, body = sbs.round_table(sbs.round_rows(records))
        self.assertEqual(["model", "round", "load", "native img/s", "pure-java img/s", "PyTorch eager img/s",
                          "native / PyTorch", "pure-java / PyTorch", "pure-java / native"], header)   # compile: skipped
        self.assertEqual(["mnist-tutorial", "2", "1.20", "200", "200", "50.0", "4.00x", "4.00x", "1.00x"], body[1])
        md = sbs.render_markdown(header, body).splitlines()
        self.assertTrue(md[1].startswith("|---|---:|---:|---:|"))

    def test_machine_section(self):
        records = sbs.paired_runs(paired_docs())
        text = sbs.render_machine(sbs.machine_lines({SESSION["id"]: SESSION}, records))
        for s in ["AMD EPYC 9R14; 2 cores (os.cpu_count); threads: vit4j 2, PyTorch 2",
                  "before 1.50 1.20 1.00; after 2.00 1.80 1.10",
                  "openjdk version", "BLAS VectorBLAS: java -Dos.arch=none",
                  "/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3 (OpenBLAS 0.3.21)",
                  "before 200.0 GFLOP/s (1024: 180.0, 2048: 200.0); after 250.0 GFLOP/s (1024: 240.0, 2048: 250.0, "
                  "4096: 230.0); peak 250.0 GFLOP/s",
                  "VectorBLAS, 2 threads, CpuBackend.linearForward: 25.0 GFLOP/s (512: 20.0, 1024: 25.0)",
                  "1.13.0a0 (Python 3.11.2); BLAS_INFO=generic",
                  "2026-12-01 13:00:00 UTC - 2026-12-01 13:20:00 UTC", "23.0 MFLOP per image, 2.50 GFLOP per step"]:
            self.assertIn(s, text)
        self.assertRegex(text, r"\n  PyTorch env +OMP_WAIT_POLICY=PASSIVE\n")
        self.assertRegex(text, r"\n  vit4j pure-java +BLAS VectorBLAS")
        md = sbs.render_machine(sbs.machine_lines({SESSION["id"]: SESSION}, records), markdown=True)
        self.assertIn("- PyTorch env: OMP_WAIT_POLICY=PASSIVE\n", md)

    def test_merge_prints_pairs_and_single_runs_apart(self):
        with tempfile.TemporaryDirectory() as d:
            write_folder(d, paired_docs())
            with open(os.path.join(d, "vit4j-train-cifar10-vit.json"), "w") as f:   # an old single run
                json.dump(VIT4J_TRAIN_CIFAR, f)
            with open(os.path.join(d, "pytorch-train-cifar10-vit.json"), "w") as f:
                json.dump(dict(TORCH, ops=[]), f)
            text = sbs.main(["--merge", d])
            with open(os.path.join(d, "side_by_side.json")) as f:
                merged = json.load(f)
        self.assertIn("Machine", text)
        self.assertIn("alternating rounds", text)
        self.assertIn("Every round", text)
        self.assertIn("Training step (synthetic data", text)   # the single run's table
        self.assertEqual(["cifar10-vit"], [r["model"] for r in merged["train"]])
        self.assertEqual(4, len(merged["pairs"]))
        self.assertEqual(3, len(merged["rounds"]))
        self.assertEqual(9, len(merged["pairedRunFiles"]))
        self.assertIn(SESSION["id"], merged["sessions"])

    def test_a_new_run_replaces_only_that_models_paired_files(self):
        with tempfile.TemporaryDirectory() as d:
            write_folder(d, paired_docs() + [vit4j_run(1, 60.0, model="cifar10-vit", batch=128)])
            with open(os.path.join(d, "vit4j-train-mnist-tutorial.json"), "w") as f:   # single run: kept
                json.dump(VIT4J_TRAIN, f)
            sbs.remove_paired(d, "mnist-tutorial")
            self.assertEqual(["vit4j-train-cifar10-vit-1.json", "vit4j-train-mnist-tutorial.json"],
                             sorted(p for p in os.listdir(d) if p.endswith(".json") and not p.startswith("session")))

    def test_options(self):
        self.assertEqual({"OMP_WAIT_POLICY": "PASSIVE", "A": "b=c"}, sbs.parse_env(["OMP_WAIT_POLICY=PASSIVE", "A=b=c"]))
        self.assertEqual({}, sbs.parse_env(["none"]))
        with self.assertRaises(SystemExit):
            sbs.parse_env(["PASSIVE"])

        class Args:
            vit4j = "java -cp a.jar org.vit4j.cli.BenchCommand"
            vit4j_name = "native"
            vit4j_variant = ["pure-java=java -Dos.arch=none -cp a.jar org.vit4j.cli.BenchCommand"]

        v = sbs.parse_variants(Args)
        self.assertEqual(["native", "pure-java"], [x["name"] for x in v])
        self.assertEqual("java -Dos.arch=none -cp a.jar org.vit4j.cli.BenchCommand", v[1]["command"])
        for bad in (["native=java x"], ["pytorch=java x"], ["a b=java"], ["nocommand"]):
            Args.vit4j_variant = bad
            with self.assertRaises(SystemExit):
                sbs.parse_variants(Args)
        self.assertEqual(["java", "-cp", "a.jar", "S.java"],
                         sbs.java_command_for("java -cp a.jar org.vit4j.cli.BenchCommand", "S.java"))
        self.assertIsNone(sbs.java_command_for("vit4j bench", "S.java"))


if __name__ == "__main__":
    unittest.main()
