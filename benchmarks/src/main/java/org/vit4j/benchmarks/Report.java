package org.vit4j.benchmarks;

import org.openjdk.jmh.results.Result;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.RunnerException;
import org.openjdk.jmh.runner.options.CommandLineOptionException;
import org.openjdk.jmh.runner.options.CommandLineOptions;

import java.util.Collection;
import java.util.Locale;

/**
 * Runs the benchmarks like {@code org.openjdk.jmh.Main} (same command-line options), then
 * prints, below JMH's own table, each op's GFLOP/s and GB/s from the hand counts in
 * {@link OpCost}, and each training step's images/s:
 * <pre>
 * java -cp benchmarks/target/benchmarks.jar org.vit4j.benchmarks.Report -p shape=mnist-tutorial
 * </pre>
 */
public final class Report {
    private Report() {
    }

    public static void main(String[] args) throws RunnerException {
        CommandLineOptions options;
        try {
            options = new CommandLineOptions(args);
        } catch (CommandLineOptionException e) {
            System.err.println("Error parsing command line: " + e.getMessage());
            System.exit(1);
            return;
        }
        if (options.shouldHelp() || options.shouldList() || options.shouldListWithParams()
                || options.shouldListProfilers() || options.shouldListResultFormats()) {
            try {
                org.openjdk.jmh.Main.main(args);
            } catch (Exception e) {
                throw new RunnerException(e);
            }
            return;
        }
        Collection<RunResult> results = new Runner(options).run();
        System.out.println();
        System.out.print(table(results));
    }

    /** The derived-throughput table for {@code results}. */
    static String table(Collection<RunResult> results) {
        StringBuilder ops = new StringBuilder();
        StringBuilder steps = new StringBuilder();
        for (RunResult rr : results) {
            String benchmark = rr.getParams().getBenchmark();
            String method = benchmark.substring(benchmark.lastIndexOf('.') + 1);
            Result<?> primary = rr.getPrimaryResult();
            double seconds = secondsPerOp(primary.getScore(), primary.getScoreUnit());
            if (Double.isNaN(seconds)) {
                continue;
            }
            if (benchmark.contains("CpuOpsBenchmark")) {
                String shapeName = rr.getParams().getParam("shape");
                OpCost cost = shapeName == null ? null : OpCost.of(method, ModelShape.of(shapeName));
                if (cost == null) {
                    continue;
                }
                ops.append(String.format(Locale.ROOT, "%-22s %-18s %12.1f %10.2f %10.2f   %s%n", method, shapeName,
                        seconds * 1e6, cost.flops() / seconds / 1e9, cost.bytes() / seconds / 1e9,
                        cost.bound().equals("flops") ? "compute" : "memory"));
            } else if (benchmark.contains("TrainingStepBenchmark")) {
                String batch = rr.getParams().getParam("batch");
                double images = Integer.parseInt(batch);
                steps.append(String.format(Locale.ROOT, "%-22s %-8s %12.2f %12.0f%n", method, batch,
                        seconds * 1e3, images / seconds));
            }
        }
        StringBuilder out = new StringBuilder();
        if (ops.length() > 0) {
            out.append(String.format(Locale.ROOT, "%-22s %-18s %12s %10s %10s   %s%n",
                    "op", "shape", "us/op", "GFLOP/s", "GB/s", "read as"));
            out.append(ops).append(System.lineSeparator());
        }
        if (steps.length() > 0) {
            out.append(String.format(Locale.ROOT, "%-22s %-8s %12s %12s%n", "training step", "batch", "ms/step", "images/s"));
            out.append(steps);
        }
        return out.toString();
    }

    /** Seconds per operation from a score in {@code "us/op"}-style (average time) or {@code "ops/ms"}-style (throughput) units. */
    static double secondsPerOp(double score, String unit) {
        if (unit.endsWith("/op")) {
            return score * unitSeconds(unit.substring(0, unit.length() - 3));
        }
        if (unit.startsWith("ops/")) {
            return unitSeconds(unit.substring(4)) / score;
        }
        return Double.NaN;
    }

    private static double unitSeconds(String unit) {
        switch (unit) {
            case "ns": return 1e-9;
            case "us": return 1e-6;
            case "ms": return 1e-3;
            case "s": return 1;
            case "min": return 60;
            default: return Double.NaN;
        }
    }
}
