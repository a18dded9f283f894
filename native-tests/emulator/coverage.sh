#!/usr/bin/env bash
# Launch coverage of the emulated native tier:
#
#   native-tests/emulator/coverage.sh COVERAGE.tsv [REPORT.md]
#
# COVERAGE.tsv is what the CUDA emulator appends at each process's exit when VIT4J_EMU_COVERAGE
# names it: one line per kernel launched in that process, "kernel_name<TAB>launch_count" (the
# emulator profile of pom.xml writes target/emulator-coverage.tsv). Every extern "C" __global__
# kernel defined in kernels/*.cu (found with KernelLibrary.entryPoints' regex) is listed with its
# total launch count over all processes; the table is written to REPORT.md (default
# target/emulator-coverage.md) and printed. Exit status 1, naming them, when a kernel was never
# launched; 2 when the coverage file is missing or holds nothing.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: $0 COVERAGE.tsv [REPORT.md]" >&2
  exit 2
fi
COVERAGE="$1"
REPORT="${2:-$ROOT/target/emulator-coverage.md}"

exec python3 - "$ROOT/kernels" "$COVERAGE" "$REPORT" <<'PY'
import glob
import os
import re
import sys

kernels_dir, coverage, report = sys.argv[1:4]
# KernelLibrary.entryPoints: extern "C" __global__ [__launch_bounds__(...)] void [__launch_bounds__(...)] name(
ENTRY = re.compile(r'extern\s+"C"\s+__global__\s+(?:__launch_bounds__\s*\([^)]*\)\s+)?void\s+'
                   r'(?:__launch_bounds__\s*\([^)]*\)\s+)?(\w+)\s*\(')

defined = []   # (file, kernel) in file and definition order
for path in sorted(glob.glob(os.path.join(kernels_dir, "*.cu"))):
    with open(path, encoding="utf-8") as f:
        for name in ENTRY.findall(f.read()):
            defined.append((os.path.basename(path), name))
if not defined:
    sys.exit("coverage.sh: no extern \"C\" __global__ kernel found in %s/*.cu" % kernels_dir)

if not os.path.isfile(coverage):
    print("coverage.sh: no coverage file %s: did the emulated tier run (VIT4J_EMU_COVERAGE)?" % coverage,
          file=sys.stderr)
    sys.exit(2)
counts, processes, bad = {}, 0, []
with open(coverage, encoding="utf-8", errors="replace") as f:
    for number, line in enumerate(f, 1):
        line = line.rstrip("\n")
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) != 2 or not parts[1].strip().isdigit():
            bad.append("%s:%d: %r" % (coverage, number, line))
            continue
        counts[parts[0].strip()] = counts.get(parts[0].strip(), 0) + int(parts[1])
        processes += 1
if not counts:
    print("coverage.sh: %s records no launch at all" % coverage, file=sys.stderr)
    sys.exit(2)

names = {k for _, k in defined}
never = [(f, k) for f, k in defined if counts.get(k, 0) == 0]
lines = ["# Kernel launch coverage of the emulated native tier", "",
         "Every `extern \"C\" __global__` kernel of `kernels/*.cu` and how many times Java launched it on the "
         "CUDA emulator (from `%s`, %d records)." % (os.path.basename(coverage), processes), "",
         "| kernel | file | launches |", "| --- | --- | ---: |"]
for f, k in defined:
    n = counts.get(k, 0)
    lines.append("| `%s` | %s | %s |" % (k, f, n if n else "**0: never launched**"))
lines.append("")
lines.append("%d of %d kernels launched, %d launches in all." % (len(defined) - len(never), len(defined),
                                                              sum(counts.get(k, 0) for k in names)))
unknown = sorted(k for k in counts if k not in names)
if unknown:
    lines.append("")
    lines.append("Launched but defined in no `kernels/*.cu` (e.g. test kernels): "
                 + ", ".join("`%s` (%d)" % (k, counts[k]) for k in unknown) + ".")
for b in bad:
    lines.append("")
    lines.append("Unreadable line, ignored: " + b)
text = "\n".join(lines) + "\n"
os.makedirs(os.path.dirname(os.path.abspath(report)), exist_ok=True)
with open(report, "w", encoding="utf-8") as f:
    f.write(text)
print(text, end="")
print("wrote " + report)
if never:
    print("FAIL: %d kernel(s) never launched from Java on the emulator: %s"
          % (len(never), ", ".join("%s (%s)" % (k, f) for f, k in never)), file=sys.stderr)
    sys.exit(1)
PY
