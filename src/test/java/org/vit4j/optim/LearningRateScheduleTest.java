package org.vit4j.optim;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LearningRateScheduleTest {
    private static final float PEAK = 1e-3f;
    private static final float MIN = 1e-5f;
    private static final double TOL = 1e-6;   // relative; the schedules compute in float

    private static void near(double expected, float actual, String what) {
        assertEquals(expected, actual, TOL * Math.abs(expected) + 1e-12, what);
    }

    @Test
    void warmupCosineKeyPoints() {
        // 10 warmup steps, 100 decay steps.
        LearningRateSchedule s = LearningRateSchedule.warmupCosine(PEAK, 10, 110, MIN);
        // Warmup counts steps from 1 (timm/most recipes): step 0 already gets peak/warmup, not 0.
        near(PEAK / 10.0, s.at(0), "step 0");
        near(PEAK / 2.0, s.at(4), "mid-warmup");
        near(PEAK, s.at(9), "last warmup step");
        near(PEAK, s.at(10), "end of warmup = start of decay");
        near((PEAK + MIN) / 2.0, s.at(60), "halfway through the decay");
        near(MIN + 0.5 * (PEAK - MIN) * (1 + Math.cos(Math.PI * 0.25)), s.at(35), "a quarter into the decay");
        near(MIN, s.at(110), "end");
        near(MIN, s.at(10_000), "after the end it stays at min");
    }

    @Test
    void warmupCosineIsMonotone() {
        LearningRateSchedule s = LearningRateSchedule.warmupCosine(3e-3f, 37, 500, 0f);
        for (long t = 1; t < 37; t++) {
            assertTrue(s.at(t) > s.at(t - 1), "warmup rises at " + t);
        }
        for (long t = 38; t <= 500; t++) {
            assertTrue(s.at(t) <= s.at(t - 1), "decay falls at " + t);
        }
        assertEquals(0f, s.at(500));
        for (long t = 0; t < 600; t++) {
            assertTrue(s.at(t) >= 0 && s.at(t) <= 3e-3f, "within [min, peak] at " + t);
        }
    }

    @Test
    void warmupCosineWithoutWarmup() {
        LearningRateSchedule s = LearningRateSchedule.warmupCosine(PEAK, 0, 100, 0f);
        near(PEAK, s.at(0), "starts at peak");
        near(PEAK / 2, s.at(50), "halfway");
        assertEquals(0f, s.at(100), 1e-12);
    }

    @Test
    void warmupCosineWithOnlyWarmup() {
        LearningRateSchedule s = LearningRateSchedule.warmupCosine(PEAK, 4, 4, MIN);
        near(PEAK / 4, s.at(0), "step 0");
        near(PEAK, s.at(3), "last step");
    }

    @Test
    void constant() {
        LearningRateSchedule s = LearningRateSchedule.constant(3e-3f);
        for (long t : new long[] {0, 1, 17, 1_000_000, Long.MAX_VALUE}) {
            assertEquals(3e-3f, s.at(t));
        }
    }

    @Test
    void warmupConstant() {
        LearningRateSchedule s = LearningRateSchedule.warmupConstant(PEAK, 4);
        near(PEAK / 4, s.at(0), "step 0");
        near(PEAK / 2, s.at(1), "step 1");
        near(PEAK * 3 / 4, s.at(2), "step 2");
        near(PEAK, s.at(3), "end of warmup");
        assertEquals(PEAK, s.at(4));
        assertEquals(PEAK, s.at(1_000_000));
        LearningRateSchedule none = LearningRateSchedule.warmupConstant(PEAK, 0);
        assertEquals(PEAK, none.at(0));
    }

    @Test
    void warmupCosineRejectsBadArguments() {
        assertThrows(IllegalArgumentException.class, () -> LearningRateSchedule.warmupCosine(PEAK, -1, 10, 0f));
        assertThrows(IllegalArgumentException.class, () -> LearningRateSchedule.warmupCosine(PEAK, 0, 0, 0f));
        assertThrows(IllegalArgumentException.class, () -> LearningRateSchedule.warmupCosine(PEAK, 0, -5, 0f));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> LearningRateSchedule.warmupCosine(PEAK, 11, 10, 0f));
        assertTrue(e.getMessage().contains("11") && e.getMessage().contains("10"), e.getMessage());
    }
}
