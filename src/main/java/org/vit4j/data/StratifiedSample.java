package org.vit4j.data;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.List;
import java.util.Optional;
import java.util.SplittableRandom;

/**
 * A seeded, class-stratified sample of a split, what {@code --limit-train} and {@code --limit-test}
 * take: each class gets its share of {@link #size()} images in proportion to its share of the split
 * (largest-remainder rounding, so the shares add up to the size exactly), and the images of a class
 * are drawn at random with {@link #seed()}. The same split, size and seed always give the same
 * images; the images keep the split's order.
 *
 * <p>Folders sorted by class (image folders, and many exports) make "the first N images" one or two
 * classes; a proportional sample keeps every class that has a share.
 */
public record StratifiedSample(int size, long seed) {
    /** Salts the seed so the sample does not draw the same random numbers as initialisation or shuffling. */
    private static final long SALT = 0x5EEDCA11AB1E5L;

    /** @throws IllegalArgumentException if the size is not positive */
    public StratifiedSample {
        if (size < 1) {
            throw new IllegalArgumentException("a sample needs at least one image, got " + size);
        }
    }

    /**
     * The indices, in increasing order, of the images to take from a split with these labels; all
     * of them when the split holds no more than {@link #size()}.
     *
     * @param labels one class index per image, each in {@code [0, numClasses)}
     */
    public int[] indices(int[] labels, int numClasses) {
        int n = labels.length;
        if (size >= n) {
            int[] all = new int[n];
            Arrays.setAll(all, i -> i);
            return all;
        }
        int[][] byClass = byClass(labels, numClasses);
        int[] counts = new int[numClasses];
        for (int c = 0; c < numClasses; c++) {
            counts[c] = byClass[c].length;
        }
        SplittableRandom random = new SplittableRandom(seed ^ SALT);
        int[] quotas = quotas(counts, size, random);
        int[] chosen = new int[size];
        int at = 0;
        for (int c = 0; c < numClasses; c++) {
            int[] members = byClass[c];
            // A partial Fisher-Yates shuffle: its first quota entries are a uniform sample of the class.
            for (int i = 0; i < quotas[c]; i++) {
                int j = i + random.nextInt(members.length - i);
                int t = members[i];
                members[i] = members[j];
                members[j] = t;
            }
            System.arraycopy(members, 0, chosen, at, quotas[c]);
            at += quotas[c];
        }
        Arrays.sort(chosen);
        return chosen;
    }

    /**
     * How many images each class gets: {@code size * count / total} rounded down, then one more for
     * the classes with the largest remainders until the shares add up to {@code size}. Equal
     * remainders are ordered by a seeded permutation of the classes, not by class index, so that a
     * sample smaller than the class count does not always favour the first classes.
     */
    static int[] quotas(int[] counts, int size, SplittableRandom random) {
        long total = 0;
        for (int c : counts) {
            total += c;
        }
        int k = counts.length;
        int[] quotas = new int[k];
        long[] remainders = new long[k];
        long given = 0;
        for (int c = 0; c < k; c++) {
            long share = (long) size * counts[c];
            quotas[c] = (int) (share / total);
            remainders[c] = share % total;
            given += quotas[c];
        }
        Integer[] order = new Integer[k];
        int[] rank = permutation(k, random);
        Arrays.setAll(order, c -> c);
        Arrays.sort(order, (a, b) -> remainders[a] != remainders[b] ? Long.compare(remainders[b], remainders[a])
                : Integer.compare(rank[a], rank[b]));
        for (int i = 0; i < size - given; i++) {
            quotas[order[i]]++;
        }
        return quotas;
    }

    /** {@code d} itself when it holds no more than {@link #size()} images, else the sample (its rows copied). */
    public Dataset apply(Dataset d) {
        if (size >= d.size()) {
            return d;
        }
        return d.select(indices(d.labels(), d.numClasses()));
    }

    /**
     * A one-line warning when the two splits do not hold the same classes, as a small sample of
     * many classes can leave some out: the model is then trained on classes it is never tested on,
     * or tested on classes it never saw.
     *
     * @param trainOption what sized the training split (named in the warning)
     * @param testOption what sized the test split
     */
    public static Optional<String> coverageWarning(Dataset train, Dataset test, String trainOption, String testOption) {
        BitSet inTrain = present(train);
        BitSet inTest = present(test);
        if (inTrain.equals(inTest)) {
            return Optional.empty();
        }
        BitSet untested = (BitSet) inTrain.clone();
        untested.andNot(inTest);
        BitSet unseen = (BitSet) inTest.clone();
        unseen.andNot(inTrain);
        int classes = train.numClasses();
        StringBuilder msg = new StringBuilder("the training images (" + train.size() + ") cover " + inTrain.cardinality()
                + " of the " + classes + " classes and the test images (" + test.size() + ") " + inTest.cardinality());
        if (!unseen.isEmpty()) {
            msg.append("; tested but never trained: ").append(names(unseen, train.classes()));
        }
        if (!untested.isEmpty()) {
            msg.append("; trained but never tested: ").append(names(untested, train.classes()));
        }
        List<String> raise = new ArrayList<>();
        if (inTrain.cardinality() < classes) {
            raise.add(trainOption);
        }
        if (inTest.cardinality() < classes) {
            raise.add(testOption);
        }
        if (!raise.isEmpty()) {
            msg.append(" (raise ").append(String.join(" or ", raise)).append(')');
        }
        return Optional.of(msg.toString());
    }

    private static BitSet present(Dataset d) {
        BitSet s = new BitSet(d.numClasses());
        for (int label : d.labels()) {
            s.set(label);
        }
        return s;
    }

    /** Class names of a set, at most ten of them. */
    private static String names(BitSet set, List<String> classes) {
        List<String> names = new ArrayList<>();
        for (int c = set.nextSetBit(0); c >= 0 && names.size() < 10; c = set.nextSetBit(c + 1)) {
            names.add(classes.get(c));
        }
        int more = set.cardinality() - names.size();
        return String.join(", ", names) + (more > 0 ? " and " + more + " more" : "");
    }

    private static int[][] byClass(int[] labels, int numClasses) {
        int[] counts = new int[numClasses];
        for (int label : labels) {
            counts[label]++;
        }
        int[][] members = new int[numClasses][];
        for (int c = 0; c < numClasses; c++) {
            members[c] = new int[counts[c]];
        }
        int[] filled = new int[numClasses];
        for (int i = 0; i < labels.length; i++) {
            members[labels[i]][filled[labels[i]]++] = i;
        }
        return members;
    }

    /** rank[c] of a seeded random permutation of {@code 0..k-1}. */
    private static int[] permutation(int k, SplittableRandom random) {
        int[] p = new int[k];
        Arrays.setAll(p, i -> i);
        for (int i = k - 1; i > 0; i--) {
            int j = random.nextInt(i + 1);
            int t = p[i];
            p[i] = p[j];
            p[j] = t;
        }
        int[] rank = new int[k];
        for (int i = 0; i < k; i++) {
            rank[p[i]] = i;
        }
        return rank;
    }
}
