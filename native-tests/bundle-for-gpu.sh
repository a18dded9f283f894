#!/usr/bin/env bash
# Packs the native tier for a GPU machine that has no JVM (the project's CUDA 13 test machine):
# the CLI jar, the compiled unit + native test classes, JUnit's console launcher and MNIST go
# into .gpu/ through ../shared/tools/gpu-bundle.sh (a jlink'd runtime and the CUDA 13 shims).
# Then, on that machine, from the repo root:
#   bash .gpu/run.sh java -cp .gpu/app.jar:.gpu/files/native-tests.jar:.gpu/files/junit-console.jar \
#        -Dvit4j.mnist=.gpu/files/mnist org.junit.platform.console.ConsoleLauncher execute \
#        --scan-classpath .gpu/files/native-tests.jar --include-package org.vit4j.nativetests --details=tree
# (checked here without a GPU: the runtime, class path and launcher work, every class skips with
# the one-line reason). The bundle is about 50 MiB; with the working tree it stays under 64 MiB.
# On a machine with a JDK, Maven and CUDA 12 libraries, `mvn -Pnative test` does the same.
set -euo pipefail
cd "$(dirname "$0")/.."
mvn -B -q -ntp -Pnative package -DskipTests
mvn -B -q -ntp -Pnative test-compile
# Classes only: the golden fixtures are read from src/test/resources, which travels with the tree.
(cd target/test-classes && jar --create --file ../native-tests.jar $(find . -name '*.class'))
mvn -B -q -ntp dependency:copy -Dartifact=org.junit.platform:junit-platform-console-standalone:1.11.4 \
    -DoutputDirectory=target -Dmdep.stripVersion=true
mv target/junit-platform-console-standalone.jar target/junit-console.jar
MODULES=java.base,java.logging,java.management,java.naming,java.net.http,java.sql,jdk.unsupported,java.desktop,jdk.zipfs,jdk.incubator.vector
JLINK_MODULES=$MODULES sh ../shared/tools/gpu-bundle.sh target/vit4j-cli.jar \
    target/native-tests.jar target/junit-console.jar ../shared/data/mnist
