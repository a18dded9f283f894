#!/usr/bin/env bash
# Self-test of the emulated native tier: deliberately broken variants of the tree, each of which
# the tier must FAIL on.
#
#   native-tests/emulator/selftest.sh [--list] [--no-control] [VARIANT...]
#
# Each variant is one exact text replacement in one file (a kernel or a Java launcher), applied to
# a throw-away copy of the working tree under /tmp (tracked and untracked-but-not-ignored files:
# the tree as it is now, uncommitted changes included; the real tree is never modified). Then the
# relevant, fast subset of the emulated tier runs in that copy: the Java native tests on the
# emulator (mvn -o -Pemulator -Dtest=...), and for kernel variants that the Java tests let pass,
# the C++ kernel harness on the copy's kernels. The variant must make it fail, and fail in a test
# (a variant that no longer applies, or breaks the build, fails the self-test as loudly as one
# the tier lets pass). First, as the control, the unmodified copy must pass the same tests.
#
# Reuses the emulator built in this tree (native-tests/emulator/build, made here if missing) and
# its compile cache (VIT4J_EMU_CACHE), and compiles the copy once (variants copy the compiled
# copy), so that a run takes a few minutes on 2 cores. Exit status 0 iff the control passed and
# every variant was caught. Prints a table: variant, what it breaks, which check caught it.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
EMU="$ROOT/native-tests/emulator"
LIB="$EMU/build/lib"
MNIST="$(cd "$ROOT/.." && pwd)/shared/data/mnist"
MVN=(mvn -o -B -ntp -Pemulator -Demulator.dir="$EMU" -Demulator.skipBuild=true -Dvit4j.unitTier.skip=true
     -Demulator.timeout=600 -Dvit4j.mnist="$MNIST" -Dsurefire.failIfNoSpecifiedTests=false)

# ------------------------------------------------------------------------------------ variants
# name | what it breaks | file | runner | tests (surefire -Dtest=) | harness filter (kernel variants)
# The text replaced (OLD) and its replacement (NEW) follow in variant_text; OLD must occur in the
# file exactly once.
VARIANTS=(
  "barrier|removed __syncthreads() in layernorm_backward_f32 (between the row statistics and the column pass)|kernels/layernorm.cu|CudaGradientTest#layerNorm|layernorm_backward_f32"
  "tile-row|one extra row in attention_forward_f32's tile loop (attn_load_tile loads cnt + 1 rows)|kernels/attention.cu|CudaGradientTest#attention|attention_forward_f32"
  "smem-short|layernorm_backward_f32 launched with 4 bytes less dynamic shared memory than its 2*C floats (CudaBackend)|src/main/java/org/vit4j/backend/cuda/CudaBackend.java|CudaGradientTest#layerNorm|"
  "smem-short-attn|attention launched with 4 bytes less dynamic shared memory than attn_config derives (AttentionLaunch)|src/main/java/org/vit4j/backend/cuda/AttentionLaunch.java|CudaGradientTest#attention|"
  "swapped-ptrs|gelu_backward_f32 launched with dy and x swapped (CudaBackend)|src/main/java/org/vit4j/backend/cuda/CudaBackend.java|CudaGradientTest#gelu|"
  "block-size|sum_of_squares_partial_f32 (exactly 256 threads, __launch_bounds__(256)) launched with 512 (CudaBackend)|src/main/java/org/vit4j/backend/cuda/CudaBackend.java|CudaMiscOpsTest#sumOfSquaresInDouble|"
)

variant_text() {   # prints OLD, a NUL, NEW
  case "$1" in
    barrier) printf '%s\0%s' \
$'                ln_stat[buf][warp] = make_float4(mu, rs, s1 / (float)C, s2 / (float)C);\n            }\n        }\n        __syncthreads();\n' \
$'                ln_stat[buf][warp] = make_float4(mu, rs, s1 / (float)C, s2 / (float)C);\n            }\n        }\n' ;;
    tile-row) printf '%s\0%s' \
$'        attn_load_tile<HDP, false>(sm, c, t, N, heads, hd, t0, cnt, vec,\n                qkv, rs, D, qkv, rs, 2 * D,' \
$'        attn_load_tile<HDP, false>(sm, c, t, N, heads, hd, t0, cnt + 1, vec,\n                qkv, rs, D, qkv, rs, 2 * D,' ;;
    smem-short) printf '%s\0%s' \
'launch("layernorm_backward_f32", parts, 2 * c * 4)' \
'launch("layernorm_backward_f32", parts, 2 * c * 4 - 4)' ;;
    smem-short-attn) printf '%s\0%s' \
'int shared = 4 * pairs * (sta * rowF + 4);' \
'int shared = 4 * pairs * (sta * rowF + 4) - 4;' ;;
    swapped-ptrs) printf '%s\0%s' \
'launch("gelu_backward_f32", grid(x.numel()), 0).ptr(dy).ptr(x).ptr(dx)' \
'launch("gelu_backward_f32", grid(x.numel()), 0).ptr(x).ptr(dy).ptr(dx)' ;;
    block-size) printf '%s\0%s' \
'launch("sum_of_squares_partial_f32", SUM_PARTS, 0).ptr(t)' \
'launch("sum_of_squares_partial_f32", SUM_PARTS, 0).block(512, 1, 1).ptr(t)' ;;
    *) echo "selftest: no text for variant $1" >&2; return 1 ;;
  esac
}

field() { local IFS='|'; local -a f; read -r -a f <<< "$1"; printf '%s' "${f[$2]:-}"; }

# ------------------------------------------------------------------------------------ arguments
CONTROL=1
SELECTED=()
for arg in "$@"; do
  case "$arg" in
    --list) for v in "${VARIANTS[@]}"; do printf '%-16s %s\n' "$(field "$v" 0)" "$(field "$v" 1)"; done; exit 0 ;;
    --no-control) CONTROL=0 ;;
    -*) echo "usage: $0 [--list] [--no-control] [VARIANT...]" >&2; exit 2 ;;
    *) SELECTED+=("$arg") ;;
  esac
done
RUN=()
for v in "${VARIANTS[@]}"; do
  name="$(field "$v" 0)"
  if [ ${#SELECTED[@]} -eq 0 ] || printf '%s\n' "${SELECTED[@]}" | grep -qx -- "$name"; then
    RUN+=("$v")
  fi
done
for s in "${SELECTED[@]:-}"; do
  [ -z "$s" ] && continue
  printf '%s\n' "${VARIANTS[@]}" | cut -d'|' -f1 | grep -qx -- "$s" || { echo "selftest: unknown variant $s (--list)" >&2; exit 2; }
done

# ------------------------------------------------------------------------------------ setup
START=$(date +%s)
WORK="$(mktemp -d /tmp/vit4j-selftest.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
LOGS="$ROOT/target/selftest"
rm -rf "$LOGS"
mkdir -p "$LOGS"

if [ ! -e "$LIB/libcuda.so.1" ]; then
  echo "== building the emulator (make -C native-tests/emulator)"
  make -C "$EMU"
fi

echo "== copying the working tree to $WORK/base"
mkdir -p "$WORK/base"
(cd "$ROOT" && git ls-files -z -c -o --exclude-standard \
   | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
   | tar --null -T - -cf -) | tar -xf - -C "$WORK/base"
# The copy finds ../shared through -Dvit4j.mnist; the timm fixtures likewise.
[ -d "$ROOT/../shared/golden/timm" ] && MVN+=(-Dvit4j.timmGolden="$(cd "$ROOT/../shared/golden/timm" && pwd)")

echo "== compiling the copy once (mvn -o -Pemulator test-compile)"
if ! (cd "$WORK/base" && "${MVN[@]}" -q test-compile) > "$LOGS/compile.log" 2>&1; then
  tail -40 "$LOGS/compile.log"
  echo "FAIL: the unmodified copy does not compile"
  exit 1
fi

# Runs the Java tests $2 in tree $1, log to $3; returns mvn's status.
run_java() {
  (cd "$1" && "${MVN[@]}" -Dtest="$2" test) > "$3" 2>&1
}

# Runs the C++ kernel harness of this tree's emulator on tree $1's kernels, the cases matching
# $2, in its checked build and then under AddressSanitizer (make harness-checked, harness-asan:
# the builds are reused, made once if missing); log to $3; returns the first failing status.
run_harness() {
  local flavour
  : > "$3"
  for flavour in checked asan; do
    echo "## make -C native-tests/emulator harness-$flavour KERNELS=$1/kernels HARNESS_ARGS='--filter $2'" >> "$3"
    if ! make -s -C "$EMU" "harness-$flavour" KERNELS="$1/kernels" HARNESS_ARGS="--filter $2" >> "$3" 2>&1; then
      echo "## harness-$flavour failed" >> "$3"
      return 1
    fi
  done
}

# What a failing run's log says caught the variant: the emulator's own report of a fault
# ("[emulator: ...]", which CudaException carries from cuGetErrorString), a sanitizer's, or a
# test's assertion. Patterns never match file paths (the copies live in folders named after the
# variants).
caught_by() {
  local log="$1"
  if grep -qE 'COMPILATION ERROR|cannot find symbol' "$log"; then echo "BROKEN: does not compile"; return; fi
  local what=()
  grep -qE '\[emulator: cuLaunchKernel:|exceeds its __launch_bounds__' "$log" && what+=("launch validation")
  grep -qE '\[emulator: [^]]*(past the end|before the (start|beginning)|out of bounds|outside (its|the))|ERROR: AddressSanitizer' "$log" \
    && what+=("bounds")
  grep -qE 'WARNING: ThreadSanitizer|data race' "$log" && what+=("race")
  grep -qiE '\[emulator: [^]]*(barrier|__syncthreads|divergen|shuffle|__shfl|warp)' "$log" && what+=("barrier/warp")
  grep -qE '\[emulator: [^]]*__trap|CUDA_ERROR_ASSERT' "$log" && what+=("kernel trap")
  grep -qE 'AssertionFailedError|^FAIL ' "$log" && what+=("wrong result")
  grep -qE 'The forked VM terminated|hs_err_pid' "$log" && what+=("JVM crash")
  grep -qE 'There was a timeout|timed out after' "$log" && what+=("timeout")
  if [ ${#what[@]} -eq 0 ]; then echo "failed (cause not recognised, see the log)"; else (IFS=+; echo "${what[*]}"); fi
}

# The first line of evidence in a log: the emulator's fault report, else the first assertion message.
evidence() {
  { grep -oE '\[emulator: [^]]*\]' "$1" || grep -oE '(AssertionFailedError|ERROR: AddressSanitizer|WARNING: ThreadSanitizer|^FAIL ).*' "$1" || true; } \
    | head -1 | cut -c1-220
}

# Tests that ran and failed/erred, from surefire's summary line in the log: "RUN FAILED".
tests_summary() {
  grep -E 'Tests run: [0-9]+, Failures: [0-9]+, Errors: [0-9]+, Skipped: [0-9]+$' "$1" | tail -1 \
    | sed -E 's/.*Tests run: ([0-9]+), Failures: ([0-9]+), Errors: ([0-9]+).*/\1 \2 \3/'
}

# ------------------------------------------------------------------------------------ control
ROWS=()
EVIDENCE=()
STATUS=0
if [ "$CONTROL" = 1 ]; then
  tests=$(for v in "${RUN[@]}"; do field "$v" 3; echo; done | sort -u | paste -sd, -)
  echo "== control: the unmodified copy must pass $tests"
  t0=$(date +%s)
  if run_java "$WORK/base" "$tests" "$LOGS/control.log"; then
    read -r n f e <<< "$(tests_summary "$LOGS/control.log")"
    if [ "${n:-0}" -gt 0 ]; then
      ROWS+=("control|unmodified tree|passes|$n tests passed|ok|$(( $(date +%s) - t0 ))")
    else
      ROWS+=("control|unmodified tree|passes|no test ran|FAIL|$(( $(date +%s) - t0 ))"); STATUS=1
    fi
  else
    tail -60 "$LOGS/control.log"
    ROWS+=("control|unmodified tree|passes|$(caught_by "$LOGS/control.log")|FAIL|$(( $(date +%s) - t0 ))"); STATUS=1
    echo "FAIL: the unmodified copy fails the tests the variants are checked with (log: $LOGS/control.log)"
  fi
fi

# ------------------------------------------------------------------------------------ variants
for v in "${RUN[@]}"; do
  name="$(field "$v" 0)"; what="$(field "$v" 1)"; file="$(field "$v" 2)"
  tests="$(field "$v" 3)"; filter="$(field "$v" 4)"
  dir="$WORK/$name"
  log="$LOGS/$name.log"
  echo "== variant $name: $what"
  t0=$(date +%s)
  rm -rf "$dir"
  cp -a "$WORK/base" "$dir"
  # Apply: OLD must occur exactly once, and the file must differ afterwards.
  if ! variant_text "$name" | python3 -c '
import sys
old, new = sys.stdin.buffer.read().decode().split("\0")
path = sys.argv[1]
text = open(path, encoding="utf-8").read()
n = text.count(old)
if n != 1:
    sys.exit("variant text occurs %d times in %s (must be exactly once): the variant no longer applies" % (n, path))
open(path, "w", encoding="utf-8").write(text.replace(old, new))
' "$dir/$file"; then
    ROWS+=("$name|$what|$tests|does not apply|FAIL|$(( $(date +%s) - t0 ))"); STATUS=1
    rm -rf "$dir"
    continue
  fi
  # The patched file must be newer than what the copy compiled (cp -a kept the times).
  touch "$dir/$file"
  if cmp -s "$WORK/base/$file" "$dir/$file"; then
    ROWS+=("$name|$what|$tests|file unchanged|FAIL|$(( $(date +%s) - t0 ))"); STATUS=1
    rm -rf "$dir"
    continue
  fi
  runner="java $tests"
  result=""
  if run_java "$dir" "$tests" "$log"; then
    read -r n f e <<< "$(tests_summary "$log")"
    result="NOT CAUGHT: ${n:-0} tests passed"
  else
    how="$(caught_by "$log")"
    read -r n f e <<< "$(tests_summary "$log")"
    if [[ "$how" == BROKEN* ]]; then
      result="$how"
    elif [ -z "${n:-}" ] || [ "$(( ${f:-0} + ${e:-0} ))" -eq 0 ]; then
      result="BROKEN: mvn failed without a failing test ($how)"
    else
      result="caught: $how ($(( f + e )) of $n tests failed)"
    fi
  fi
  # A kernel variant the Java tests let pass: the C++ harness (sanitizer checks) must catch it.
  if [[ "$result" == NOT\ CAUGHT* ]] && [ -n "$filter" ]; then
    runner="$runner; harness $filter"
    hlog="$LOGS/$name.harness.log"
    if run_harness "$dir" "$filter" "$hlog"; then
      result="$result; the harness passed too"
    else
      result="caught: harness $(grep -o '^## harness-[a-z]* failed' "$hlog" | sed 's/## harness-//; s/ failed//'): $(caught_by "$hlog")"
    fi
  fi
  if [[ "$result" == caught* ]]; then
    ROWS+=("$name|$what|$runner|${result#caught: }|ok|$(( $(date +%s) - t0 ))")
    if [[ "$runner" == *harness* ]]; then EVIDENCE+=("$name: $(evidence "$hlog")"); else EVIDENCE+=("$name: $(evidence "$log")"); fi
  else
    ROWS+=("$name|$what|$runner|$result|FAIL|$(( $(date +%s) - t0 ))"); STATUS=1
    tail -30 "$log" || true
  fi
  rm -rf "$dir"
done

# ------------------------------------------------------------------------------------ report
echo
echo "== self-test of the emulated tier ($(( $(date +%s) - START )) s; logs in target/selftest/)"
{
  echo "variant|breaks|checked with|caught by|result|s"
  printf '%s\n' "${ROWS[@]}"
} | python3 -c '
import sys
rows = [l.rstrip("\n").split("|") for l in sys.stdin if l.strip()]
w = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
for k, r in enumerate(rows):
    print("  ".join(c.ljust(w[i]) if i < len(r) - 1 else c for i, c in enumerate(r)))
    if k == 0:
        print("  ".join("-" * x for x in w))
'
echo
echo "what each check reported (first line):"
printf '  %s\n' "${EVIDENCE[@]:-}"
if [ "$STATUS" != 0 ]; then
  echo "FAIL: the emulated tier let a broken variant pass, or a variant no longer applies (see above)"
else
  echo "every variant was caught"
fi
exit "$STATUS"
