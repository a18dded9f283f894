package org.vit4j.io;

import java.nio.file.Path;
import java.nio.file.Paths;

/** Where vit4j keeps downloads and compiled kernels: {@code ~/.cache/vit4j} unless configured. */
public final class CacheDirectory {
    /** System property naming the cache root. */
    public static final String PROPERTY = "vit4j.cache";
    /** Environment variable naming the cache root, used when the property is unset. */
    public static final String ENV = "VIT4J_CACHE";

    private CacheDirectory() {
    }

    /** {@value #PROPERTY}, else {@code $}{@value #ENV}, else {@code ~/.cache/vit4j}. */
    public static Path root() {
        String prop = System.getProperty(PROPERTY);
        if (prop != null && !prop.isBlank()) {
            return Paths.get(prop);
        }
        String env = System.getenv(ENV);
        if (env != null && !env.isBlank()) {
            return Paths.get(env);
        }
        return Paths.get(System.getProperty("user.home"), ".cache", "vit4j");
    }
}
