#!/usr/bin/env python3
"""vit4j and PyTorch side by side: runs both benchmarks on this machine, merges their JSON and
prints one table with the ratios.

From the repository root, after `mvn -q package -DskipTests` (target/vit4j-cli.jar):

    python3 benchmarks/side_by_side.py --device cpu              # training step, CPU, both presets
    python3 benchmarks/side_by_side.py --device cuda --kernels   # GPU: training step and every op
    python3 benchmarks/side_by_side.py --merge target/bench-cuda # tables from JSON already written

It runs, writing every JSON file into --out (default target/bench-DEVICE):
  1. for each model, `vit4j bench train --model M --device D --json vit4j-train-M.json` and
     `benchmarks/pytorch/bench_pytorch.py --models M --no-ops --json pytorch-train-M.json`
     (the same batch size, warm-up and steps),
  2. with --kernels (a GPU), `vit4j bench kernels --json vit4j-kernels.json` and the PyTorch
     script's ops at the same shapes, `--no-train --json pytorch-ops.json`,
then prints the tables of everything in the folder (--markdown: as Markdown, for
BENCHMARKS.md) and writes side_by_side.json. Runs with different settings may share a folder
(e.g. fewer steps for a slow model on the CPU): the last one prints them all.

Ratios: training, vit4j images/s over PyTorch images/s (above 1: vit4j trains faster); ops,
PyTorch's median time over vit4j's (above 1: vit4j's op is faster).

--vit4j is the command that runs `vit4j bench` (default: the CLI jar's BenchCommand through
java; on the GPU machine: "bash .gpu/run.sh java -cp .gpu/app.jar org.vit4j.cli.BenchCommand").
--python is the interpreter for the PyTorch script (default: this one).
"""

import argparse
import glob
import json
import os
import shlex
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_VIT4J = "java --add-modules jdk.incubator.vector -cp target/vit4j-cli.jar org.vit4j.cli.BenchCommand"
DEFAULT_MODELS = ["mnist-tutorial", "cifar10-vit"]


# --------------------------------------------------------------------------
# Merging (pure functions: benchmarks/test_side_by_side.py checks them on made-up JSON)
# --------------------------------------------------------------------------

def ratio(a, b):
    """a / b, or None when either is missing or b is not positive."""
    if a is None or b is None or b <= 0:
        return None
    return a / b


def train_rows(vit4j_trains, torch_json):
    """One row per vit4j training run: its images/s beside PyTorch's eager and compiled ones at the same batch."""
    torch_runs = (torch_json or {}).get("train", [])
    rows = []
    for v in vit4j_trains:
        def find(mode):
            for t in torch_runs:
                if t.get("model") == v["model"] and t.get("batchSize") == v["batchSize"] and t.get("mode") == mode:
                    return t
            return None

        eager, compiled = find("eager"), find("compile")
        eager_ips = eager.get("imagesPerSecond") if eager else None
        compile_ips = compiled.get("imagesPerSecond") if compiled else None
        notes = [("compile: " + compiled["skipped"]) if compiled and "skipped" in compiled else None,
                 ("eager: " + eager["skipped"]) if eager and "skipped" in eager else None]
        if eager and eager.get("parameters") and v.get("parameters") and eager["parameters"] != v["parameters"]:
            notes.append("not the same model: %d parameters in vit4j, %d in PyTorch"
                         % (v["parameters"], eager["parameters"]))
        rows.append({
            "model": v["model"], "batchSize": v["batchSize"], "vit4jDevice": v.get("device"),
            "vit4jImagesPerSecond": v["imagesPerSecond"], "vit4jMsPerStep": v["msPerStep"]["median"],
            "torchEagerImagesPerSecond": eager_ips, "torchCompileImagesPerSecond": compile_ips,
            "vsEager": ratio(v["imagesPerSecond"], eager_ips), "vsCompile": ratio(v["imagesPerSecond"], compile_ips),
            "notes": "; ".join(n for n in notes if n),
        })
    return rows


def op_rows(vit4j_kernels, torch_json):
    """One row per vit4j op result that PyTorch also timed (same op name and shape set)."""
    torch_ops = {(o["op"], o["shape"]): o for o in (torch_json or {}).get("ops", [])}
    rows = []
    for r in (vit4j_kernels or {}).get("results", []):
        t = torch_ops.get((r["op"], r["shape"]))
        if t is None:
            continue
        mine, theirs = r.get("medianUs"), t.get("medianUs")
        rows.append({"op": r["op"], "shape": r["shape"], "dims": r.get("dims", ""), "vit4jUs": mine,
                     "percentOfPeak": r.get("percentOfPeak"), "torchUs": theirs, "speedup": ratio(theirs, mine),
                     "torchImpl": t.get("impl", ""), "error": r.get("error") or t.get("error")})
    return rows


def fmt(x, digits=1, suffix=""):
    if x is None:
        return "-"
    return ("%." + str(digits) + "f%s") % (x, suffix)


def train_table(rows):
    header = ["model", "batch", "vit4j img/s", "vit4j ms/step", "PyTorch eager img/s", "vit4j / eager",
              "PyTorch compile img/s", "vit4j / compile"]
    body = [[r["model"], str(r["batchSize"]), fmt(r["vit4jImagesPerSecond"]), fmt(r["vit4jMsPerStep"], 2),
             fmt(r["torchEagerImagesPerSecond"]), fmt(r["vsEager"], 2, "x"), fmt(r["torchCompileImagesPerSecond"]),
             fmt(r["vsCompile"], 2, "x")] for r in rows]
    return header, body


def op_table(rows):
    header = ["op", "shape", "dims", "vit4j us", "% peak", "PyTorch us", "PyTorch / vit4j", "PyTorch op"]
    body = [[r["op"], r["shape"], r["dims"], fmt(r["vit4jUs"], 2), fmt(r["percentOfPeak"], 1, "%"),
             fmt(r["torchUs"], 2), fmt(r["speedup"], 2, "x"), r["torchImpl"]] for r in rows]
    return header, body


def render_text(header, body):
    widths = [max(len(str(c)) for c in col) for col in zip(header, *body)] if body else [len(h) for h in header]

    def line(cells, align):
        out = []
        for i, c in enumerate(cells):
            out.append(c.rjust(widths[i]) if align and c[:1].isdigit() else c.ljust(widths[i]))
        return "  ".join(out).rstrip()

    return "\n".join([line(header, False), "  ".join("-" * w for w in widths)] + [line(r, True) for r in body]) + "\n"


def numeric(cell):
    return cell == "-" or cell[:1].isdigit()


def render_markdown(header, body):
    """A Markdown table; a column whose every cell is a number (or "-") is right-aligned."""
    right = [bool(body) and all(numeric(r[i]) for r in body) for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" if r else "---" for r in right) + "|"]
    for r in body:
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in r) + " |")
    return "\n".join(lines) + "\n"


def merge_torch(parts):
    """PyTorch's JSON files as one: their training runs and op timings together, the rest from the first."""
    if not parts:
        return None
    merged = dict(parts[0])
    merged["train"] = [t for p in parts for t in p.get("train", [])]
    merged["ops"] = [o for p in parts for o in p.get("ops", [])]
    return merged


def load_dir(folder):
    """The JSON files runs wrote into folder: vit4j-train-*.json, vit4j-kernels.json, pytorch-*.json.

    One file per model and side, so runs with different settings (fewer steps for a slow model)
    can fill one folder and be printed together."""
    def read(path):
        with open(path) as f:
            return json.load(f)

    trains = [read(p) for p in sorted(glob.glob(os.path.join(folder, "vit4j-train-*.json")))]
    kernels_path = os.path.join(folder, "vit4j-kernels.json")
    torch_parts = [read(p) for p in sorted(glob.glob(os.path.join(folder, "pytorch-*.json")))]
    return trains, read(kernels_path) if os.path.exists(kernels_path) else None, merge_torch(torch_parts)


def report(trains, kernels, torch_json, markdown=False):
    """The whole printout: a heading line per side, the training table, the op table."""
    render = render_markdown if markdown else render_text
    if kernels and kernels.get("emulated"):
        # vit4j bench kernels on the CUDA emulator (native-tests/emulator): CPU times, compared with nothing
        raise SystemExit("side_by_side.py: the vit4j kernels JSON was measured on the CUDA emulator (\"emulated\": true); "
                         "its times are not a GPU's and are compared with nothing")
    parts = []
    if trains:
        parts.append("vit4j: %s" % trains[0].get("device", "?"))
    if kernels:
        d = kernels.get("device", {})
        p = kernels.get("peaks", {})
        parts.append("vit4j kernels: %s; measured peaks: copy %s GB/s, SGEMM FP32 %s TFLOP/s, TF32 %s TFLOP/s" % (
            d.get("description", d.get("name", "?")), fmt(p.get("copyGBs"), 0), fmt(p.get("sgemmTflops")),
            fmt(p.get("tf32Tflops"))))
    if torch_json:
        parts.append("PyTorch %s on %s (%s), %s threads, attention %s%s" % (
            torch_json.get("torch"), torch_json.get("device"), torch_json.get("deviceName"), torch_json.get("threads"),
            torch_json.get("attention"), "; " + "; ".join(torch_json["notes"]) if torch_json.get("notes") else ""))
    text = "\n".join(parts) + "\n\n"
    rows = train_rows(trains, torch_json)
    if rows:
        text += "Training step (synthetic data, after warm-up)\n\n" + render(*train_table(rows))
        notes = ["  %s: %s" % (r["model"], r["notes"]) for r in rows if r["notes"]]
        if notes:
            text += "\n".join(notes) + "\n"
    ops = op_rows(kernels, torch_json)
    if ops:
        text += "\nOps (median over runs, L2 flushed before each, CUDA events)\n\n" + render(*op_table(ops))
    return text


# --------------------------------------------------------------------------
# Running both sides
# --------------------------------------------------------------------------

def run(cmd):
    print("$ " + " ".join(shlex.quote(c) for c in cmd), flush=True)
    subprocess.run(cmd, check=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description="vit4j and PyTorch side by side; see the module docstring.")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--models", nargs="+", default=DEFAULT_MODELS)
    ap.add_argument("--batch-size", type=int, help="images per step for every model (default: each preset's)")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--kernels", action="store_true", help="also every op: vit4j bench kernels vs PyTorch's ops (GPU)")
    ap.add_argument("--no-train", action="store_true", help="skip the training-step comparison")
    ap.add_argument("--shapes", nargs="+", help="op shape sets for both sides (default: each side's default)")
    ap.add_argument("--tf32", action="store_true", help="TF32 GEMMs on both sides (default: exact FP32)")
    ap.add_argument("--vit4j", default=DEFAULT_VIT4J, help="command running `vit4j bench` (default: %(default)s)")
    ap.add_argument("--python", default=sys.executable, help="interpreter for the PyTorch script")
    ap.add_argument("--torch-threads", type=int, help="PyTorch's CPU threads (default: every core, as vit4j)")
    ap.add_argument("--out", help="folder for the JSON files (default: target/bench-DEVICE)")
    ap.add_argument("--merge", metavar="DIR", help="run nothing: print the tables from the JSON in DIR")
    ap.add_argument("--markdown", action="store_true", help="print Markdown tables")
    args = ap.parse_args(argv)

    if args.merge:
        folder = args.merge
    else:
        folder = args.out or os.path.join("target", "bench-" + args.device)
        os.makedirs(folder, exist_ok=True)
        vit4j = shlex.split(args.vit4j)
        extra = ["--tf32"] if args.tf32 else []
        script = [args.python, os.path.join(HERE, "pytorch", "bench_pytorch.py"), "--device", args.device]
        if args.torch_threads:
            script += ["--threads", str(args.torch_threads)]
        steps = ["--warmup", str(args.warmup), "--steps", str(args.steps)]
        batch = ["--batch-size", str(args.batch_size)] if args.batch_size else []
        if not args.no_train:
            for model in args.models:
                run(vit4j + ["train", "--model", model, "--device", args.device] + steps + batch
                    + ["--json", os.path.join(folder, "vit4j-train-%s.json" % model)] + extra)
                run(script + ["--models", model, "--no-ops"] + steps + batch
                    + ["--json", os.path.join(folder, "pytorch-train-%s.json" % model)] + extra)
        if args.kernels:
            shapes = ["--shapes", ",".join(args.shapes)] if args.shapes else []
            run(vit4j + ["kernels", "--json", os.path.join(folder, "vit4j-kernels.json")] + shapes + extra)
            run(script + ["--no-train", "--json", os.path.join(folder, "pytorch-ops.json")]
                + (["--shapes"] + args.shapes if args.shapes else []) + extra)

    trains, kernels, torch_json = load_dir(folder)
    text = report(trains, kernels, torch_json, args.markdown)
    print()
    print(text, end="")
    merged = {"vit4jTrain": trains, "vit4jKernels": kernels, "pytorch": torch_json,
              "train": train_rows(trains, torch_json), "ops": op_rows(kernels, torch_json)}
    with open(os.path.join(folder, "side_by_side.json"), "w") as f:
        json.dump(merged, f, indent=2)
    return text


if __name__ == "__main__":
    main()
