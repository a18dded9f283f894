/**
 * Image classification data for vit4j: readers for MNIST / Fashion-MNIST (IDX), CIFAR-10 (binary
 * version) and image folders, an in-memory {@link org.vit4j.data.Dataset}, a prefetching,
 * deterministic {@link org.vit4j.data.DataLoader}, and {@link org.vit4j.data.DatasetSource}, which
 * finds a dataset on disk or downloads it into a local cache with checksum verification.
 *
 * <p>This package depends on no other vit4j package: its output is plain {@code byte[]} pixels and
 * {@code float[]} batches, so any backend can consume it.
 *
 * <p>All readers report bad input as an {@link java.io.IOException} whose message starts with the
 * offending file (or directory) and says what is wrong with it.
 */
package org.vit4j.data;
