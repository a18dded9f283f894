package org.vit4j.bench;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class StatsTest {

    @Test
    void medianOfOddAndEvenCounts() {
        assertEquals(3, Stats.of(new double[] {5, 1, 3}).median());
        assertEquals(2.5, Stats.of(new double[] {4, 1, 3, 2}).median());
        assertEquals(7, Stats.of(new double[] {7}).median());
    }

    @Test
    void percentilesInterpolateLikeNumpy() {
        // numpy.percentile(range(1, 11), [10, 90]) == [1.9, 9.1]
        double[] x = {10, 9, 8, 7, 6, 5, 4, 3, 2, 1};
        Stats s = Stats.of(x);
        assertEquals(1.9, s.p10(), 1e-12);
        assertEquals(9.1, s.p90(), 1e-12);
        assertEquals(5.5, s.median(), 1e-12);
        assertEquals(1, s.min());
        assertEquals(10, s.runs());
        assertEquals(1, Stats.percentile(new double[] {1, 2}, 0));
        assertEquals(2, Stats.percentile(new double[] {1, 2}, 100));
    }

    @Test
    void oneSlowRunDoesNotMoveTheMedian() {
        double[] x = {10, 10.1, 9.9, 10, 500};
        assertEquals(10, Stats.of(x).median());
    }

    @Test
    void scaledChangesUnits() {
        Stats us = Stats.of(new double[] {1000, 2000, 3000});
        Stats ms = us.scaled(1e-3);
        assertEquals(2, ms.median(), 1e-12);
        assertEquals(1, ms.min(), 1e-12);
        assertEquals(3, ms.runs());
    }

    @Test
    void rejectsNothingAndNonFinite() {
        assertThrows(IllegalArgumentException.class, () -> Stats.of(new double[0]));
        assertThrows(IllegalArgumentException.class, () -> Stats.of(new double[] {1, Double.NaN}));
        assertThrows(IllegalArgumentException.class, () -> Stats.percentile(new double[] {1}, 101));
    }
}
