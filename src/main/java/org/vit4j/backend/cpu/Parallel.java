package org.vit4j.backend.cpu;

import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.RecursiveAction;

/**
 * Splits a loop over {@code [0, n)} into a fixed number of contiguous chunks run on a shared
 * pool. The split depends only on {@code n}, the grain and the thread count, never on timing,
 * so reductions that combine per-chunk partial results in chunk order are deterministic.
 */
final class Parallel {
    /** Body of a loop over the half-open range {@code [from, to)}. */
    @FunctionalInterface
    interface Range {
        void run(int from, int to);
    }

    private final ForkJoinPool pool;
    private final int threads;

    Parallel(int threads) {
        this.threads = threads;
        this.pool = threads > 1 ? new ForkJoinPool(threads) : null;
    }

    int threads() {
        return threads;
    }

    /** Number of chunks {@link #forRange} uses for {@code n} items of at least {@code grain} each. */
    int chunks(int n, int grain) {
        return Math.max(1, Math.min(threads, n / Math.max(1, grain)));
    }

    static int chunkStart(int n, int chunks, int c) {
        return (int) ((long) n * c / chunks);
    }

    /** Runs {@code body} over chunks of {@code [0, n)}; chunk {@code c} covers {@code [chunkStart(c), chunkStart(c+1))}. */
    void forRange(int n, int grain, Range body) {
        int chunks = chunks(n, grain);
        if (chunks == 1 || pool == null) {
            body.run(0, n);
            return;
        }
        pool.invoke(new RecursiveAction() {
            @Override
            protected void compute() {
                RecursiveAction[] tasks = new RecursiveAction[chunks - 1];
                for (int c = 1; c < chunks; c++) {
                    int from = chunkStart(n, chunks, c);
                    int to = chunkStart(n, chunks, c + 1);
                    tasks[c - 1] = new RecursiveAction() {
                        @Override
                        protected void compute() {
                            body.run(from, to);
                        }
                    };
                    tasks[c - 1].fork();
                }
                body.run(0, chunkStart(n, chunks, 1));
                for (RecursiveAction t : tasks) {
                    t.join();
                }
            }
        });
    }

    /** Runs {@code body(c)} for each chunk index; used for per-chunk partial sums. */
    void forChunks(int n, int grain, ChunkBody body) {
        int chunks = chunks(n, grain);
        forRange(chunks, 1, (from, to) -> {
            for (int c = from; c < to; c++) {
                body.run(c, chunkStart(n, chunks, c), chunkStart(n, chunks, c + 1));
            }
        });
    }

    @FunctionalInterface
    interface ChunkBody {
        void run(int chunk, int from, int to);
    }

    void shutdown() {
        if (pool != null) {
            pool.shutdown();
        }
    }
}
