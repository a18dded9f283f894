#!/usr/bin/env bash
# Packs `vit4j bench` for the project's GPU machine (CUDA 13 only, no JVM): the CLI jar, a jlink'd
# Java runtime and the CUDA 13 shims go into .gpu/ through ../shared/tools/gpu-bundle.sh; the
# Python scripts travel with the working tree. Then one device call with carry [".gpu"], from the
# repo root there (the GPU machine's python3 has PyTorch 2.x):
#
#   python3 benchmarks/side_by_side.py --device cuda --kernels --markdown --out "$OUT/bench-cuda" \
#       --vit4j "bash .gpu/run.sh java -cp .gpu/app.jar org.vit4j.cli.BenchCommand"
#
# which runs `vit4j bench train` (mnist-tutorial, cifar10-vit), `vit4j bench kernels` and
# benchmarks/pytorch/bench_pytorch.py, and leaves every JSON file and side_by_side.json in $OUT.
# The first java call compiles the kernels with NVRTC (cached under ~/.cache/vit4j on that machine).
set -euo pipefail
cd "$(dirname "$0")/.."
mvn -B -q -ntp package -DskipTests
MODULES=java.base,java.logging,java.management,java.naming,java.net.http,java.sql,jdk.unsupported,java.desktop,jdk.zipfs,jdk.incubator.vector
JLINK_MODULES=$MODULES sh ../shared/tools/gpu-bundle.sh target/vit4j-cli.jar
