#!/usr/bin/env python3
"""vit4j and PyTorch side by side: runs both benchmarks on this machine, alternately and repeatedly,
merges their JSON and prints the tables with the ratios, the machine and the SGEMM peak.

From the repository root, after `mvn -q package -DskipTests` (target/vit4j-cli.jar):

    /usr/bin/python3 benchmarks/side_by_side.py --device cpu     # training step, CPU, 5 alternating pairs
    python3 benchmarks/side_by_side.py --device cuda --kernels   # GPU: training step and every op
    python3 benchmarks/side_by_side.py --merge target/bench-cpu  # tables from JSON already written

    # native OpenBLAS against the pure-Java BLAS path, and both against PyTorch, in one alternation
    /usr/bin/python3 benchmarks/side_by_side.py --models mnist-tutorial --vit4j-name native \\
        --vit4j-variant "pure-java=java -Dos.arch=none --add-modules jdk.incubator.vector \\
                         -cp target/vit4j-cli.jar org.vit4j.cli.BenchCommand"

Training, with --pairs N (default 5 on the CPU; 0 on the GPU, where 0 means one run of each side
and the plain table): for each model, N rounds, each running every vit4j variant and then PyTorch,
each a process of its own (vit4j, [variants,] PyTorch, vit4j, [variants,] PyTorch, ...):
  `vit4j bench train --model M --device D --json vit4j-train-M-R.json` (a variant NAME:
  vit4j-NAME-train-M-R.json) and `benchmarks/pytorch/bench_pytorch.py --models M --no-ops
  --json pytorch-train-M-R.json` (the same batch size, warm-up and steps; PyTorch with the
  --torch-env variables in its environment, by default on the CPU OMP_WAIT_POLICY=PASSIVE: libgomp's
  default spin-waiting made PyTorch 3x slower on a shared machine). Each file gets a "sideBySide"
  entry (session, variant, round, command, load average); a new run of a model replaces that
  model's earlier paired files in the folder, so models run with different settings (fewer steps
  for a slow one) can share a folder. The report gives, per model and side, the median and the
  spread (min-max) over the rounds of images/s, ms/step, GFLOP/s and % of the SGEMM peak, and
  the ratios taken within each round (vit4j_i / PyTorch_i; a variant_i / the first variant_i),
  their median and spread, then every round's numbers.

FLOPs: vit4j's JSON gives flopsPerImage and flopsPerStep (org.vit4j.bench.TrainBench
.flopsPerImage: every op of forward and backward as org.vit4j.bench.OpCost counts it, plus the
AdamW update per step); GFLOP/s = steps/s x flopsPerStep, for PyTorch with the same count (the
same model).

SGEMM peak (--sgemm-peak, default on for --device cpu): before the first and after the last round,
a subprocess loads the system BLAS vit4j's native path loads (libblas.so.3; the report gives its
real path, through /etc/alternatives) with ctypes, OPENBLAS_NUM_THREADS = every core, and times
sgemm_ at 1024^3 and 2048^3 (and 4096^3 when that takes under 10 s), best of 3 after a warm-up;
--java-sgemm (default on for the CPU) also times vit4j's own GEMM through each variant's java
command: CpuBackend.linearForward on 1024^2 and 2048^2 matrices over every core, by whichever GEMM
that backend picked (native BLAS one thread per call, or vit4j's pure-Java VectorGemm). The peak
is the largest of all of these, before and after: a vit4j GEMM faster than the system BLAS raises
it. % of peak = GFLOP/s / that peak.

Machine section: date (UTC), CPU model, cores and threads, load average before and after, Java
version, each variant's BLAS, the system BLAS, PyTorch's version, BLAS and threading, and the
environment given to PyTorch.

With --kernels (a GPU), `vit4j bench kernels --json vit4j-kernels.json` and the PyTorch script's
ops at the same shapes, `--no-train --json pytorch-ops.json`. Then the tables of everything in
--out (default target/bench-DEVICE) are printed (--markdown: as Markdown, for BENCHMARKS.md), and
side_by_side.json gets all of it: every paired run, the sessions, the summary rows.

Ratios: training, vit4j images/s over PyTorch images/s (above 1: vit4j trains faster); ops,
PyTorch's median time over vit4j's (above 1: vit4j's op is faster).

--vit4j is the command that runs `vit4j bench` (default: the CLI jar's BenchCommand through
java; on the GPU machine: "bash .gpu/run.sh java -cp .gpu/app.jar org.vit4j.cli.BenchCommand"),
named by --vit4j-name (default vit4j); --vit4j-variant NAME=COMMAND (repeatable) adds another
(a pure-Java run, another jar). --python is the interpreter for the PyTorch script (default: this
one; on Debian, /usr/bin/python3 has python3-torch).
"""

import argparse
import datetime
import glob
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_VIT4J = "java --add-modules jdk.incubator.vector -cp target/vit4j-cli.jar org.vit4j.cli.BenchCommand"
DEFAULT_MODELS = ["mnist-tutorial", "cifar10-vit"]
DEFAULT_CPU_TORCH_ENV = ["OMP_WAIT_POLICY=PASSIVE"]
TORCH_SIDES = ["eager", "compile"]   # bench_pytorch.py's modes, each a side of its own in the tables
TAG = "sideBySide"                   # the entry side_by_side.py adds to each paired run's JSON


# --------------------------------------------------------------------------
# Single runs, ops, tables (pure functions: benchmarks/test_side_by_side.py checks them on made-up JSON)
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
    return cell in ("-", "skipped") or cell[:1].isdigit()


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
    can fill one folder and be printed together. Paired runs (--pairs) are left to load_paired."""
    def read(path):
        with open(path) as f:
            return json.load(f)

    def single(paths):   # the paired runs' files (with a "sideBySide" entry) are load_paired's
        return [d for d in (read(p) for p in paths) if not (isinstance(d, dict) and d.get(TAG))]

    trains = single(sorted(glob.glob(os.path.join(folder, "vit4j-train-*.json"))))
    kernels_path = os.path.join(folder, "vit4j-kernels.json")
    torch_parts = single(sorted(glob.glob(os.path.join(folder, "pytorch-*.json"))))
    return trains, read(kernels_path) if os.path.exists(kernels_path) else None, merge_torch(torch_parts)


# --------------------------------------------------------------------------
# Alternating pairs (pure functions, tested on made-up JSON too)
# --------------------------------------------------------------------------

def median(values):
    """The median of the values that are not None, or None."""
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def spread(values):
    """{"median", "min", "max", "n"} of the values that are not None; None when there are none."""
    vals = sorted(v for v in values if v is not None)
    if not vals:
        return None
    return {"median": statistics.median(vals), "min": vals[0], "max": vals[-1], "n": len(vals)}


def fmt_spread(s, digits=None, suffix=""):
    """"median (min-max)" (the suffix after the median only: "1.50x (1.48-1.53)"), or the one number
    when there is one; "-" for None."""
    if s is None:
        return "-"
    def one(x, sfx=""):
        return fmt_num(x, sfx) if digits is None else fmt(x, digits, sfx)

    if s["n"] == 1 or s["min"] == s["max"]:
        return one(s["median"], suffix)
    return "%s (%s-%s)" % (one(s["median"], suffix), one(s["min"]), one(s["max"]))


def fmt_num(x, suffix=""):
    """Three significant figures or so: 2215, 66.1, 1.53."""
    if x is None:
        return "-"
    a = abs(x)
    return fmt(x, 0 if a >= 100 else 1 if a >= 10 else 2, suffix)


def blas_of(vit4j_json):
    """The BLAS a vit4j run reports: its "blas" field, else the "BLAS X" of its device description."""
    if vit4j_json.get("blas"):
        return vit4j_json["blas"]
    m = re.search(r"BLAS (\S+)", vit4j_json.get("device") or "")
    return m.group(1).rstrip(",;") if m else None


def threads_of(vit4j_json):
    m = re.search(r"(\d+) threads", vit4j_json.get("device") or "")
    return int(m.group(1)) if m else None


def paired_runs(docs):
    """The paired runs among loaded JSON documents, one flat record per measurement.

    A vit4j document gives one record (side = its variant's name); a PyTorch document one per
    training mode it ran (side "PyTorch eager", "PyTorch compile"). Each record: model, batchSize,
    side, kind (vit4j or pytorch), order (the variant's place; PyTorch after them), round, session,
    imagesPerSecond, msPerStep (median), skipped, parameters, blas, json (the document)."""
    out = []
    tagged = [d for d in docs if d.get(TAG)]
    tagged.sort(key=lambda d: (d[TAG].get("session") or "", d[TAG].get("sequence", 0)))   # the order they ran
    for d in tagged:
        tag = d[TAG]
        base = {"model": tag["model"], "batchSize": tag.get("batchSize"), "round": tag["round"],
                "session": tag.get("session"), "load": tag.get("loadAverage"), "order": tag.get("order", 0)}
        if d.get("tool") == "pytorch":
            for t in d.get("train", []):
                if t.get("model") != tag["model"]:
                    continue
                mode = t.get("mode", "eager")
                r = dict(base, side="PyTorch " + mode, kind="pytorch", mode=mode,
                         order=1000 + (TORCH_SIDES.index(mode) if mode in TORCH_SIDES else 9),
                         batchSize=t.get("batchSize", base["batchSize"]), imagesPerSecond=t.get("imagesPerSecond"),
                         msPerStep=(t.get("msPerStep") or {}).get("median"), skipped=t.get("skipped"),
                         parameters=t.get("parameters"), blas=None, json=d)
                out.append(r)
        else:
            out.append(dict(base, side=tag["variant"], kind="vit4j", mode=None,
                            batchSize=d.get("batchSize", base["batchSize"]), imagesPerSecond=d.get("imagesPerSecond"),
                            msPerStep=(d.get("msPerStep") or {}).get("median"), skipped=None,
                            parameters=d.get("parameters"), blas=blas_of(d), json=d))
    return out


def session_peak(session):
    """The SGEMM peak of a session (GFLOP/s), or None: the largest of the system BLAS's before and
    after measurements and of vit4j's own GEMM through each variant (javaSgemm), so that a vit4j
    GEMM faster than the system BLAS raises the peak rather than passing 100%."""
    if not session:
        return None
    sg = session.get("sgemm") or {}
    measured = [sg.get("before"), sg.get("after")] + list((session.get("javaSgemm") or {}).values())
    return max((m["peakGflops"] for m in measured if m and m.get("peakGflops")), default=None)


def flops_per_step(records, model, batch):
    """FLOPs of one training step of model at batch, from any vit4j run of it that counted them.

    A run from an older jar (a "before" variant) has no count; the model is the same, so another
    run's count serves. flopsPerStep when given, else batch x flopsPerImage."""
    for r in records:
        j = r["json"]
        if r["kind"] != "vit4j" or r["model"] != model or r["batchSize"] != batch:
            continue
        if j.get("flopsPerStep"):
            return j["flopsPerStep"]
        if j.get("flopsPerImage"):
            return j["flopsPerImage"] * batch
    return None


def sides_of(records):
    """The sides in table order: the vit4j variants in their order, then PyTorch eager, compile."""
    seen = {}
    for r in records:
        seen.setdefault(r["side"], r["order"])
    return sorted(seen, key=lambda s: (seen[s], s))


def group_rounds(records, model, batch):
    """{(session, round): {side: record}} for one model and batch."""
    rounds = {}
    for r in records:
        if r["model"] == model and r["batchSize"] == batch:
            rounds.setdefault((r["session"] or "", r["round"]), {})[r["side"]] = r
    return rounds


def model_keys(records):
    keys = []
    for r in records:
        k = (r["model"], r["batchSize"])
        if k not in keys:
            keys.append(k)
    return keys


def pair_rows(records, sessions=None):
    """One row per model, batch and side: medians and spreads over the rounds, and the ratios.

    Every ratio is taken within a round (side_i / PyTorch eager_i, side_i / first variant_i, in the
    same session and round), then summarised: never from runs of different rounds."""
    sessions = sessions or {}
    rows = []
    for model, batch in model_keys(records):
        mine = [r for r in records if r["model"] == model and r["batchSize"] == batch]
        sides = sides_of(mine)
        vit4j_sides = [s for s in sides if any(r["kind"] == "vit4j" for r in mine if r["side"] == s)]
        first = vit4j_sides[0] if vit4j_sides else None
        rounds = group_rounds(mine, model, batch)
        fps = flops_per_step(mine, model, batch)

        def ips(rnd, side):
            r = rnd.get(side)
            return r["imagesPerSecond"] if r and not r["skipped"] else None

        vit4j_params = next((r["parameters"] for r in mine if r["kind"] == "vit4j" and r["parameters"]), None)
        for side in sides:
            runs = [r for r in mine if r["side"] == side]
            if all(r["skipped"] for r in runs):
                rows.append({"model": model, "batchSize": batch, "side": side, "first": first, "rounds": 0,
                             "skipped": runs[0]["skipped"],
                             "imagesPerSecond": None, "msPerStep": None, "gflops": None, "percentOfPeak": None,
                             "vsTorch": None, "vsTorchCompile": None, "vsFirst": None, "blas": None,
                             "ratiosVsTorch": [], "ratiosVsFirst": [], "notes": runs[0]["skipped"]})
                continue
            keys = sorted(k for k in rounds if side in rounds[k] and not rounds[k][side]["skipped"])
            gflops, pct = [], []
            for k in keys:
                g = rounds[k][side]["imagesPerSecond"] / batch * fps / 1e9 if fps else None
                peak = session_peak(sessions.get(k[0]))
                gflops.append(g)
                pct.append(100.0 * g / peak if g is not None and peak else None)
            vs_torch = [ratio(ips(rounds[k], side), ips(rounds[k], "PyTorch eager")) for k in keys]
            vs_compile = [ratio(ips(rounds[k], side), ips(rounds[k], "PyTorch compile")) for k in keys]
            vs_first = ([ratio(ips(rounds[k], side), ips(rounds[k], first)) for k in keys]
                        if side in vit4j_sides and side != first else [])
            notes = []
            if side.startswith("PyTorch"):
                p = next((r["parameters"] for r in runs if r["parameters"]), None)
                if p and vit4j_params and p != vit4j_params:
                    notes.append("not the same model: %d parameters in vit4j, %d in PyTorch" % (vit4j_params, p))
            blases = sorted({r["blas"] for r in runs if r["blas"]})
            rows.append({
                "model": model, "batchSize": batch, "side": side, "first": first, "rounds": len(keys), "skipped": None,
                "imagesPerSecond": spread(rounds[k][side]["imagesPerSecond"] for k in keys),
                "msPerStep": spread(rounds[k][side]["msPerStep"] for k in keys),
                "gflops": spread(gflops), "percentOfPeak": spread(pct),
                "vsTorch": None if side == "PyTorch eager" else spread(vs_torch),
                "vsTorchCompile": None if side.startswith("PyTorch") else spread(vs_compile),
                "vsFirst": spread(vs_first), "blas": ", ".join(blases) or None,
                "ratiosVsTorch": [] if side == "PyTorch eager" else vs_torch, "ratiosVsFirst": vs_first,
                "notes": "; ".join(notes)})
    return rows


def round_rows(records):
    """One row per model and round: each side's images/s (sides skipped in every round left out) and
    the round's ratios."""
    rows = []
    for model, batch in model_keys(records):
        mine = [r for r in records if r["model"] == model and r["batchSize"] == batch]
        sides = [s for s in sides_of(mine) if any(not r["skipped"] for r in mine if r["side"] == s)]
        vit4j_sides = [s for s in sides if any(r["kind"] == "vit4j" for r in mine if r["side"] == s)]
        rounds = group_rounds(mine, model, batch)
        for k in sorted(rounds):
            rnd = rounds[k]
            ips = {s: (rnd[s]["imagesPerSecond"] if s in rnd and not rnd[s]["skipped"] else None) for s in sides}
            loads = [r["load"][0] for r in rnd.values() if r.get("load")]
            rows.append({
                "model": model, "batchSize": batch, "session": k[0], "round": k[1],
                "first": vit4j_sides[0] if vit4j_sides else None,
                "load": min(loads) if loads else None, "loadMax": max(loads) if loads else None,
                "imagesPerSecond": ips,
                "vsTorch": {s: ratio(ips[s], ips.get("PyTorch eager")) for s in vit4j_sides},
                "vsFirst": {s: ratio(ips[s], ips[vit4j_sides[0]]) for s in vit4j_sides[1:]},
            })
    return rows


def pair_table(rows):
    header = ["model", "batch", "side", "rounds", "images/s", "ms/step", "GFLOP/s", "% SGEMM peak", "/ PyTorch eager"]
    compile_col = any(r["vsTorchCompile"] for r in rows)
    first_col = any(r["vsFirst"] for r in rows)
    if compile_col:
        header.append("/ PyTorch compile")
    if first_col:
        firsts = sorted({r["first"] for r in rows if r["vsFirst"]})
        header.append("/ " + (firsts[0] if len(firsts) == 1 else "first vit4j"))
    header.append("BLAS")
    body = []
    for r in rows:
        if r["skipped"]:
            cells = [r["model"], str(r["batchSize"]), r["side"], "0", "skipped"] + ["-"] * (len(header) - 5)
            body.append(cells)
            continue
        cells = [r["model"], str(r["batchSize"]), r["side"], str(r["rounds"]), fmt_spread(r["imagesPerSecond"]),
                 fmt_spread(r["msPerStep"]), fmt_spread(r["gflops"]), fmt_spread(r["percentOfPeak"], 1, "%"),
                 fmt_spread(r["vsTorch"], 2, "x")]
        if compile_col:
            cells.append(fmt_spread(r["vsTorchCompile"], 2, "x"))
        if first_col:
            cells.append(fmt_spread(r["vsFirst"], 2, "x"))
        cells.append(r["blas"] or "-")
        body.append(cells)
    return header, body


def round_table(rows):
    """Every round: model, round, load average (1 min, lowest-highest over its runs), each side's
    images/s, then each vit4j side over PyTorch eager and each later variant over the first."""
    sides, vs_torch, vs_first = [], [], []
    for r in rows:
        for s in r["imagesPerSecond"]:
            if s not in sides:
                sides.append(s)
        for s in r["vsTorch"]:
            if s not in vs_torch:
                vs_torch.append(s)
        for s in r["vsFirst"]:
            if s not in vs_first:
                vs_first.append(s)
    firsts = sorted({r["first"] for r in rows if r["vsFirst"]})
    header = (["model", "round", "load"] + ["%s img/s" % s for s in sides]
              + ["%s / PyTorch" % s for s in vs_torch]
              + ["%s / %s" % (s, firsts[0] if len(firsts) == 1 else "first") for s in vs_first])
    body = []
    for r in rows:
        load = "-" if r["load"] is None else ("%.2f" % r["load"] if r["load"] == r["loadMax"]
                                              else "%.2f-%.2f" % (r["load"], r["loadMax"]))
        body.append([r["model"], str(r["round"]), load] + [fmt_num(r["imagesPerSecond"].get(s)) for s in sides]
                    + [fmt(r["vsTorch"].get(s), 2, "x") for s in vs_torch]
                    + [fmt(r["vsFirst"].get(s), 2, "x") for s in vs_first])
    return header, body


def sgemm_text(m):
    """One SGEMM measurement in a line: "271.3 GFLOP/s (1024: 262.0, 2048: 271.3)"."""
    if not m:
        return "not measured"
    if m.get("error"):
        return "failed: " + m["error"]
    sizes = ", ".join("%s: %s" % (n, fmt(g, 1))
                      for n, g in sorted(m.get("sizes", {}).items(), key=lambda kv: int(kv[0])))
    return "%s GFLOP/s (%s)" % (fmt(m.get("peakGflops"), 1), sizes)


def machine_lines(sessions, records):
    """The machine section: (label, text) pairs, from the sessions (what side_by_side.py measured
    around the runs) and the runs' own JSON."""
    lines = []
    for sid in sorted(sessions):
        s = sessions[sid]
        models = sorted({r["model"] for r in records if r["session"] == sid})
        if len(sessions) > 1:
            lines.append(("session", "%s (%s)" % (sid, ", ".join(models) or "no runs left")))
        lines.append(("date", "%s - %s" % (s.get("start", "?"), s.get("end", "(did not finish)"))))
        cpu = s.get("cpu", {})
        vit4j_threads = sorted({threads_of(r["json"]) for r in records if r["session"] == sid and r["kind"] == "vit4j"
                                and threads_of(r["json"])})
        torch_threads = sorted({r["json"].get("threads") for r in records if r["session"] == sid
                                and r["kind"] == "pytorch" and r["json"].get("threads")})
        lines.append(("CPU", "%s; %s cores (os.cpu_count); threads: vit4j %s, PyTorch %s, SGEMM %s" % (
            cpu.get("model", "?"), cpu.get("cores", "?"), "/".join(map(str, vit4j_threads)) or "-",
            "/".join(map(str, torch_threads)) or "-", s.get("threads", "-"))))
        la = s.get("loadAverage", {})
        lines.append(("load average", "before %s; after %s (1, 5, 15 min)" % (
            " ".join("%.2f" % x for x in la.get("before", [])) or "?",
            " ".join("%.2f" % x for x in la.get("after", [])) or "?")))
        if s.get("java"):
            lines.append(("Java", s["java"]))
        for v in s.get("variants", []):
            blases = sorted({r["blas"] for r in records
                             if r["session"] == sid and r["side"] == v["name"] and r["blas"]})
            lines.append(("vit4j" if v["name"] == "vit4j" else "vit4j " + v["name"],
                          "BLAS %s: %s" % (", ".join(blases) or "?", v["command"])))
        sg = s.get("sgemm")
        if sg:
            lib = sg.get("before") or sg.get("after") or {}
            if lib.get("library"):
                lines.append(("system BLAS", "%s%s" % (lib["library"],
                                                        " (%s)" % lib["config"] if lib.get("config") else "")))
            lines.append(("SGEMM peak", "system BLAS (ctypes sgemm_, %s threads, best of 3) before %s; after %s; "
                                        "peak %s GFLOP/s (the largest of these and of vit4j's GEMMs below)" % (
                lib.get("threads", s.get("threads", "?")), sgemm_text(sg.get("before")), sgemm_text(sg.get("after")),
                fmt(session_peak(s), 1))))
        for name, m in sorted((s.get("javaSgemm") or {}).items()):
            lines.append(("SGEMM via vit4j " + name, "%s%s" % (
                (m.get("blas") + ", %s threads, CpuBackend.linearForward: " % m.get("threads")) if m.get("blas") else "",
                sgemm_text(m))))
        t = s.get("torch")
        if t:
            if t.get("error"):
                lines.append(("PyTorch", "info failed: " + t["error"]))
            else:
                lines.append(("PyTorch", "%s (Python %s); %s; BLAS loaded: %s; %s; %s threads" % (
                    t.get("version"), t.get("python", "?"), t.get("blasInfo") or "BLAS_INFO ?",
                    ", ".join(t.get("blasLibraries") or []) or "-", t.get("parallelBackend") or "?",
                    t.get("threads", "?"))))
        env = s.get("torchEnv")
        lines.append(("PyTorch env", " ".join("%s=%s" % kv for kv in sorted(env.items())) if env else "(none added)"))
        st = s.get("settings", {})
        if st:
            lines.append(("settings", "warm-up %s, %s timed steps; rounds per model: %s (order in each: %s)" % (
                st.get("warmup"), st.get("steps"), st.get("pairs"), ", ".join(st.get("order", [])))))
    for model, batch in model_keys(records):
        mine = [r for r in records if r["model"] == model and r["batchSize"] == batch]
        fps = flops_per_step(mine, model, batch)
        per_image = next((r["json"].get("flopsPerImage") for r in mine if r["kind"] == "vit4j"
                          and r["json"].get("flopsPerImage")), None)
        if fps:
            lines.append(("FLOPs " + model, "%s MFLOP per image, %s GFLOP per step of %d (OpCost, with AdamW)" % (
                fmt(per_image / 1e6, 1) if per_image else "?", fmt(fps / 1e9, 2), batch)))
    return lines


def render_machine(lines, markdown=False):
    if markdown:
        return "".join("- %s: %s\n" % (k, v.replace("|", "\\|")) for k, v in lines)
    width = max((len(k) for k, _ in lines), default=0)
    return "".join("  %s  %s\n" % (k.ljust(width), v) for k, v in lines)


def pairs_report(records, sessions, markdown=False):
    """The machine section, the summary table, the ratios of every round."""
    if not records:
        return ""
    render = render_markdown if markdown else render_text
    text = "Machine\n\n" + render_machine(machine_lines(sessions, records), markdown) + "\n"
    text += ("Training step, alternating rounds (synthetic data, after warm-up): median (min-max) over the rounds; "
             "ratios taken within each round\n\n")
    rows = pair_rows(records, sessions)
    text += render(*pair_table(rows))
    notes = ["  %s, %s: %s" % (r["model"], r["side"], r["notes"]) for r in rows if r["notes"]]
    if notes:
        text += "\n".join(notes) + "\n"
    text += "\nEvery round (images/s; load: 1-minute load average at each run's start)\n\n"
    text += render(*round_table(round_rows(records)))
    return text


def unique_docs(records):
    """Each paired run's JSON document once (a PyTorch document gives a record per mode)."""
    docs = []
    for r in records:
        if not any(d is r["json"] for d in docs):
            docs.append(r["json"])
    return docs


def report(trains, kernels, torch_json, markdown=False, records=None, sessions=None):
    """The whole printout: the paired rounds (machine, summary, every round), then the single runs
    (a heading line per side, the training table) and the op table."""
    render = render_markdown if markdown else render_text
    if kernels and kernels.get("emulated"):
        # vit4j bench kernels on the CUDA emulator (native-tests/emulator): CPU times, compared with nothing
        raise SystemExit("side_by_side.py: the vit4j kernels JSON was measured on the CUDA emulator (\"emulated\": true); "
                         "its times are not a GPU's and are compared with nothing")
    text = pairs_report(records or [], sessions or {}, markdown)
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
        env = torch_json.get("sideBySideEnv")
        parts.append("PyTorch %s on %s (%s), %s threads, attention %s%s%s" % (
            torch_json.get("torch"), torch_json.get("device"), torch_json.get("deviceName"), torch_json.get("threads"),
            torch_json.get("attention"), "; " + "; ".join(torch_json["notes"]) if torch_json.get("notes") else "",
            "; env " + " ".join("%s=%s" % kv for kv in sorted(env.items())) if env else ""))
    if parts:
        text += ("\n" if text else "") + "\n".join(parts) + "\n\n"
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
# The machine and the SGEMM peak (subprocesses)
# --------------------------------------------------------------------------

# Run as `python3 -c SGEMM_CODE THREADS SIZE...` with OPENBLAS_NUM_THREADS set: times the system
# BLAS's sgemm_ (Fortran interface, column-major) through ctypes, prints one JSON line.
SGEMM_CODE = r'''
import ctypes, json, os, sys, time
threads = int(sys.argv[1]); sizes = [int(a) for a in sys.argv[2:]]
name = "libblas.so.3"
lib = ctypes.CDLL(name)
path = None
with open("/proc/self/maps") as f:
    for line in f:
        p = line.split()[-1] if len(line.split()) >= 6 else ""
        if os.path.basename(p).startswith("libblas.so"):
            path = p
            break
out = {"library": path or name, "loaded": name, "threads": threads, "sizes": {}}
try:
    cfg = lib.openblas_get_config
    cfg.restype = ctypes.c_char_p
    out["config"] = cfg().decode()
    out["openblasThreads"] = lib.openblas_get_num_threads()
except AttributeError:
    pass
sgemm = lib.sgemm_
c_int, c_float = ctypes.c_int, ctypes.c_float
def rate(n, runs):
    size = n * n
    a, b, c = (c_float * size)(), (c_float * size)(), (c_float * size)()
    for arr in (a, b):   # a repeating pattern, doubled by memmove (a Python loop over 16M floats is slow)
        for i in range(16):
            arr[i] = (i % 7 - 3) * 0.125
        done = 16
        while done < size:
            k = min(done, size - done)
            ctypes.memmove(ctypes.byref(arr, done * 4), arr, k * 4)
            done += k
    args = (ctypes.c_char_p(b"N"), ctypes.c_char_p(b"N"), ctypes.byref(c_int(n)), ctypes.byref(c_int(n)),
            ctypes.byref(c_int(n)), ctypes.byref(c_float(1.0)), a, ctypes.byref(c_int(n)), b,
            ctypes.byref(c_int(n)), ctypes.byref(c_float(0.0)), c, ctypes.byref(c_int(n)),
            ctypes.c_size_t(1), ctypes.c_size_t(1))
    sgemm(*args)   # warm-up
    best = None
    for _ in range(runs):
        t0 = time.perf_counter()
        sgemm(*args)
        t = time.perf_counter() - t0
        best = t if best is None or t < best else best
    return best
last = None
for n in sizes:
    if n > 2048 and last is not None and 4 * last * (n / 2048.0) ** 3 > 10:
        out.setdefault("skipped", []).append("%d (estimated over 10 s)" % n)
        continue
    t = rate(n, 3)
    if n == 2048:
        last = t
    out["sizes"][str(n)] = 2.0 * n ** 3 / t / 1e9
out["peakGflops"] = max(out["sizes"].values()) if out["sizes"] else None
print(json.dumps(out))
'''

# `java ... SgemmRate.java THREADS SIZE...` through a vit4j variant's command: vit4j's own GEMM as
# training runs it, CpuBackend.linearForward (Y = X W^T, no bias) on n x n matrices on THREADS
# threads, through whichever GEMM that backend picked (native BLAS capped at one thread per call,
# or VectorGemm); best of 3 after a warm-up; one JSON line.
JAVA_SGEMM_CODE = r'''
import java.util.Locale;
import org.vit4j.backend.cpu.CpuBackend;
import org.vit4j.tensor.DType;
import org.vit4j.tensor.Shape;
import org.vit4j.tensor.Tensor;

public class SgemmRate {
    public static void main(String[] args) {
        int threads = Integer.parseInt(args[0]);
        StringBuilder sizes = new StringBuilder();
        double peak = 0;
        try (CpuBackend backend = new CpuBackend(threads)) {
            for (int i = 1; i < args.length; i++) {
                int n = Integer.parseInt(args[i]);
                float[] a = new float[n * n], b = new float[n * n];
                for (int j = 0; j < a.length; j++) {
                    a[j] = (j % 7 - 3) * 0.125f;
                    b[j] = (j % 5 - 2) * 0.25f;
                }
                Tensor x = backend.allocate(DType.F32, Shape.of(n, n)), w = backend.allocate(DType.F32, Shape.of(n, n));
                Tensor y = backend.allocate(DType.F32, Shape.of(n, n));
                backend.upload(a, 0, x);
                backend.upload(b, 0, w);
                double best = Double.MAX_VALUE;
                for (int rep = 0; rep < 4; rep++) {
                    long t0 = System.nanoTime();
                    backend.linearForward(x, w, null, y);
                    double s = (System.nanoTime() - t0) / 1e9;
                    if (rep > 0) {
                        best = Math.min(best, s);
                    }
                }
                double gflops = 2.0 * n * n * n / best / 1e9;
                peak = Math.max(peak, gflops);
                sizes.append(sizes.length() > 0 ? ", " : "").append(String.format(Locale.ROOT, "\"%d\": %.3f", n, gflops));
            }
            System.out.println(String.format(Locale.ROOT, "{\"blas\": \"%s\", \"threads\": %d, \"sizes\": {%s}, "
                    + "\"peakGflops\": %.3f}", backend.blasImplementation(), threads, sizes, peak));
        }
    }
}
'''


def last_json_line(text):
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            return json.loads(line)
    raise ValueError("no JSON line in the output")


def short_error(e):
    if isinstance(e, subprocess.CalledProcessError):
        tail = ((e.stderr or "") + (e.stdout or "")).strip().splitlines()
        return "exit %d: %s" % (e.returncode, tail[-1][:300] if tail else "")
    return "%s: %s" % (type(e).__name__, str(e).strip().splitlines()[0][:300] if str(e).strip() else "")


def measure_sgemm(threads, sizes=(1024, 2048, 4096), timeout=180):
    """The system BLAS's SGEMM GFLOP/s (see SGEMM_CODE), or {"error": ...}."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
    print("# SGEMM peak: libblas.so.3 through ctypes, %d threads, sizes %s" % (threads, " ".join(map(str, sizes))),
          flush=True)
    try:
        p = subprocess.run([sys.executable, "-c", SGEMM_CODE, str(threads)] + [str(n) for n in sizes], env=env,
                           capture_output=True, text=True, timeout=timeout, check=True)
        m = last_json_line(p.stdout)
    except Exception as e:   # no libblas.so.3 (the GPU machine), a timeout: said in the report
        return {"error": short_error(e), "threads": threads}
    print("#   %s" % sgemm_text(m), flush=True)
    return m


def java_command_for(variant_cmd, source):
    """The variant's command with its main class (the last word) replaced by a Java source file,
    run by the java launcher's source-file mode; None when the command does not end in BenchCommand."""
    words = shlex.split(variant_cmd)
    if not words or not words[-1].endswith("BenchCommand"):
        return None
    return words[:-1] + [source]


def measure_java_sgemm(variants, threads, folder, sizes=(1024, 2048), timeout=300):
    """{variant name: SGEMM measurement} of vit4j's own GEMM (CpuBackend.linearForward) through each variant's java."""
    source = os.path.join(folder, "SgemmRate.java")
    with open(source, "w") as f:
        f.write(JAVA_SGEMM_CODE)
    out = {}
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")   # one thread per call, as CpuBackend caps OpenBLAS
    for v in variants:
        cmd = java_command_for(v["command"], source)
        if cmd is None:
            out[v["name"]] = {"error": "the command does not end in org.vit4j.cli.BenchCommand"}
            continue
        print("# SGEMM through vit4j %s's CpuBackend, %d threads" % (v["name"], threads), flush=True)
        try:
            p = subprocess.run(cmd + [str(threads)] + [str(n) for n in sizes], env=env, capture_output=True,
                               text=True, timeout=timeout, check=True)
            out[v["name"]] = last_json_line(p.stdout)
            print("#   %s: %s" % (out[v["name"]]["blas"], sgemm_text(out[v["name"]])), flush=True)
        except Exception as e:
            out[v["name"]] = {"error": short_error(e)}
    return out


TORCH_INFO_CODE = r'''
import json, os, platform, re, sys
import torch
torch.set_num_threads(int(sys.argv[1]))
a = torch.randn(256, 256)
(a @ a).sum().item()
show = torch.__config__.show()
par = torch.__config__.parallel_info()
libs = []
with open("/proc/self/maps") as f:
    for line in f:
        p = line.split()[-1] if len(line.split()) >= 6 else ""
        b = os.path.basename(p).lower()
        if ("blas" in b or "mkl" in b or "gomp" in b or "omp" in b) and p not in libs:
            libs.append(p)
info = {"version": torch.__version__, "python": platform.python_version(), "threads": torch.get_num_threads(),
        "blasInfo": (re.findall(r"BLAS_INFO=[^,\s]+", show) or [None])[0],
        "parallelBackend": next((l.strip() for l in par.splitlines() if l.startswith("ATen parallel backend")), None),
        "blasLibraries": libs, "config": [l[:200] for l in show.strip().splitlines()],
        "parallelInfo": par.strip().splitlines()}
print(json.dumps(info))
'''


def torch_info(python, env, threads, timeout=120):
    """PyTorch's version, BLAS and threading, from the --python interpreter with PyTorch's environment."""
    try:
        p = subprocess.run([python, "-c", TORCH_INFO_CODE, str(threads)], env=env, capture_output=True, text=True,
                           timeout=timeout, check=True)
        return last_json_line(p.stdout)
    except Exception as e:
        return {"error": short_error(e)}


def java_version(variant_cmd):
    """`java -version`'s lines in one, through the command's words up to its java."""
    words = shlex.split(variant_cmd)
    idx = next((i for i, w in enumerate(words) if os.path.basename(w) == "java"), None)
    if idx is None:
        return None
    try:
        p = subprocess.run(words[:idx + 1] + ["-version"], capture_output=True, text=True, timeout=60)
        return "; ".join(l.strip() for l in (p.stderr + p.stdout).strip().splitlines() if l.strip())
    except Exception as e:
        return "failed: " + short_error(e)


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform
    return platform.processor() or "?"


def load_average():
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (OSError, AttributeError):
        return None


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


# --------------------------------------------------------------------------
# Loading a folder
# --------------------------------------------------------------------------

def read_json(path):
    with open(path) as f:
        return json.load(f)


def load_paired(folder):
    """The paired runs (JSON with a "sideBySide" entry) in folder, and its sessions by id."""
    docs = []
    for p in sorted(glob.glob(os.path.join(folder, "*-train-*.json"))):
        d = read_json(p)
        if isinstance(d, dict) and d.get(TAG):
            docs.append(d)
    sessions = {}
    for p in sorted(glob.glob(os.path.join(folder, "session-*.json"))):
        s = read_json(p)
        sessions[s["id"]] = s
    records = paired_runs(docs)
    used = {r["session"] for r in records}
    return records, {k: v for k, v in sessions.items() if k in used}


def remove_paired(folder, model):
    """Deletes model's paired files from an earlier run, so a folder holds one set per model."""
    for p in glob.glob(os.path.join(folder, "*-train-*.json")):
        try:
            d = read_json(p)
        except (OSError, ValueError):
            continue
        if isinstance(d, dict) and (d.get(TAG) or {}).get("model") == model:
            os.remove(p)


# --------------------------------------------------------------------------
# Running both sides
# --------------------------------------------------------------------------

def run(cmd, env=None):
    prefix = "".join("%s=%s " % (k, shlex.quote(v)) for k, v in sorted((env or {}).items()))
    print("$ " + prefix + " ".join(shlex.quote(c) for c in cmd), flush=True)
    subprocess.run(cmd, check=True, env=dict(os.environ, **env) if env else None)


def tag_file(path, tag):
    d = read_json(path)
    d[TAG] = tag
    with open(path, "w") as f:
        json.dump(d, f, indent=2)


def parse_env(items):
    env = {}
    for item in items:
        if item.lower() == "none":
            continue
        if "=" not in item:
            raise SystemExit("side_by_side.py: --torch-env wants KEY=VALUE, got %r" % item)
        k, v = item.split("=", 1)
        env[k] = v
    return env


def parse_variants(args):
    variants = [{"name": args.vit4j_name, "command": args.vit4j}]
    for item in args.vit4j_variant or []:
        if "=" not in item:
            raise SystemExit("side_by_side.py: --vit4j-variant wants NAME=COMMAND, got %r" % item)
        name, cmd = item.split("=", 1)
        variants.append({"name": name.strip(), "command": cmd.strip()})
    names = [v["name"] for v in variants]
    for n in names:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.+-]*", n) or n.lower().startswith("pytorch"):
            raise SystemExit("side_by_side.py: variant name %r: letters, digits, _ . + - only, not PyTorch" % n)
    if len(set(names)) != len(names):
        raise SystemExit("side_by_side.py: two vit4j variants named alike: %s" % ", ".join(names))
    return variants


def write_session(folder, session):
    with open(os.path.join(folder, "session-%s.json" % session["id"]), "w") as f:
        json.dump(session, f, indent=2)


def run_pairs(args, folder, variants, script, steps, batch, extra, torch_env):
    """Every model's rounds, with the machine and the SGEMM peak measured around them."""
    started = utc_now()
    threads = os.cpu_count() or 1
    session = {"id": started.strftime("%Y%m%dT%H%M%SZ"), "start": started.strftime("%Y-%m-%d %H:%M:%S UTC"),
               "device": args.device, "cpu": {"model": cpu_model(), "cores": os.cpu_count()}, "threads": threads,
               "loadAverage": {"before": load_average()}, "variants": variants, "torchEnv": torch_env,
               "settings": {"warmup": args.warmup, "steps": args.steps, "pairs": args.pairs,
                            "batchSize": args.batch_size, "models": args.models,
                            "order": [v["name"] for v in variants] + ["PyTorch"]}}
    session["java"] = java_version(variants[0]["command"])
    session["torch"] = torch_info(args.python, dict(os.environ, **torch_env), args.torch_threads or threads)
    if args.sgemm_peak:
        session["sgemm"] = {"before": measure_sgemm(threads)}
    if args.java_sgemm:
        session["javaSgemm"] = measure_java_sgemm(variants, threads, folder)
    write_session(folder, session)
    order = 0
    for model in args.models:
        remove_paired(folder, model)
        for rnd in range(1, args.pairs + 1):
            for i, v in enumerate(variants):
                name = "vit4j-train-%s-%d.json" % (model, rnd) if i == 0 else "vit4j-%s-train-%s-%d.json" % (
                    v["name"], model, rnd)
                path = os.path.join(folder, name)
                load = load_average()
                run(shlex.split(v["command"]) + ["train", "--model", model, "--device", args.device] + steps + batch
                    + ["--json", path] + extra)
                order += 1
                tag_file(path, {"session": session["id"], "model": model, "batchSize": args.batch_size,
                                "variant": v["name"], "order": i, "round": rnd, "sequence": order,
                                "command": v["command"], "loadAverage": load})
            path = os.path.join(folder, "pytorch-train-%s-%d.json" % (model, rnd))
            load = load_average()
            run(script + ["--models", model, "--no-ops"] + steps + batch + ["--json", path] + extra, env=torch_env)
            order += 1
            tag_file(path, {"session": session["id"], "model": model, "batchSize": args.batch_size,
                            "variant": "pytorch", "order": len(variants), "round": rnd, "sequence": order,
                            "env": torch_env, "loadAverage": load})
    if args.sgemm_peak:
        session["sgemm"]["after"] = measure_sgemm(threads)
    session["loadAverage"]["after"] = load_average()
    session["end"] = utc_now().strftime("%Y-%m-%d %H:%M:%S UTC")
    write_session(folder, session)


def main(argv=None):
    ap = argparse.ArgumentParser(description="vit4j and PyTorch side by side; see the module docstring.")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--models", nargs="+", default=DEFAULT_MODELS)
    ap.add_argument("--batch-size", type=int, help="images per step for every model (default: each preset's)")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--pairs", type=int, help="alternating rounds per model, each every vit4j variant then PyTorch "
                                              "(default 5 on the CPU, 0 on the GPU: one run each, the plain table)")
    ap.add_argument("--vit4j-variant", action="append", metavar="NAME=COMMAND",
                    help="another vit4j command measured in the same alternation (repeatable), e.g. "
                         "'pure-java=java -Dos.arch=none --add-modules jdk.incubator.vector -cp target/vit4j-cli.jar "
                         "org.vit4j.cli.BenchCommand'; ratios against the first (--vit4j)")
    ap.add_argument("--vit4j-name", default="vit4j", help="name of the --vit4j command's rows (default: %(default)s)")
    ap.add_argument("--torch-env", action="append", metavar="KEY=VALUE",
                    help="environment of the PyTorch processes (repeatable; replaces the default; 'none': nothing "
                         "added; default on the CPU: %s)" % " ".join(DEFAULT_CPU_TORCH_ENV))
    ap.add_argument("--torch-modes", nargs="+", choices=TORCH_SIDES,
                    help="bench_pytorch.py's --modes (default: its own, eager and compile)")
    ap.add_argument("--sgemm-peak", action=argparse.BooleanOptionalAction, default=None,
                    help="measure the system BLAS's SGEMM peak before and after the rounds (with --pairs >= 1; "
                         "default: on for cpu)")
    ap.add_argument("--java-sgemm", action=argparse.BooleanOptionalAction, default=None,
                    help="also time vit4j's own GEMM (CpuBackend.linearForward) through each variant's java (with --pairs >= 1; "
                         "default: on for cpu)")
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
    cpu = args.device == "cpu"
    if args.pairs is None:
        args.pairs = 5 if cpu else 0
    if args.pairs < 0:
        ap.error("--pairs must be >= 0")
    args.sgemm_peak = cpu if args.sgemm_peak is None else args.sgemm_peak
    args.java_sgemm = cpu if args.java_sgemm is None else args.java_sgemm
    torch_env = parse_env(args.torch_env if args.torch_env is not None else (DEFAULT_CPU_TORCH_ENV if cpu else []))
    variants = parse_variants(args)
    if args.pairs == 0 and len(variants) > 1:
        ap.error("--vit4j-variant needs --pairs >= 1")

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
        if args.torch_modes:
            script += ["--modes"] + args.torch_modes
        steps = ["--warmup", str(args.warmup), "--steps", str(args.steps)]
        batch = ["--batch-size", str(args.batch_size)] if args.batch_size else []
        if not args.no_train and args.pairs > 0:
            run_pairs(args, folder, variants, script, steps, batch, extra, torch_env)
        elif not args.no_train:
            for model in args.models:
                run(vit4j + ["train", "--model", model, "--device", args.device] + steps + batch
                    + ["--json", os.path.join(folder, "vit4j-train-%s.json" % model)] + extra)
                path = os.path.join(folder, "pytorch-train-%s.json" % model)
                run(script + ["--models", model, "--no-ops"] + steps + batch + ["--json", path] + extra, env=torch_env)
                if torch_env:
                    d = read_json(path)
                    d["sideBySideEnv"] = torch_env   # printed in the PyTorch line of the report
                    with open(path, "w") as f:
                        json.dump(d, f, indent=2)
        if args.kernels:
            shapes = ["--shapes", ",".join(args.shapes)] if args.shapes else []
            run(vit4j + ["kernels", "--json", os.path.join(folder, "vit4j-kernels.json")] + shapes + extra)
            run(script + ["--no-train", "--json", os.path.join(folder, "pytorch-ops.json")]
                + (["--shapes"] + args.shapes if args.shapes else []) + extra, env=torch_env)

    trains, kernels, torch_json = load_dir(folder)
    records, sessions = load_paired(folder)
    text = report(trains, kernels, torch_json, args.markdown, records, sessions)
    print()
    print(text, end="")
    merged = {"vit4jTrain": trains, "vit4jKernels": kernels, "pytorch": torch_json,
              "train": train_rows(trains, torch_json), "ops": op_rows(kernels, torch_json),
              "sessions": sessions, "pairs": pair_rows(records, sessions), "rounds": round_rows(records),
              "pairedRuns": [dict((k, v) for k, v in r.items() if k != "json") for r in records],
              "pairedRunFiles": unique_docs(records)}
    with open(os.path.join(folder, "side_by_side.json"), "w") as f:
        json.dump(merged, f, indent=2)
    return text


if __name__ == "__main__":
    main()
