package org.vit4j.bench;

import org.junit.jupiter.api.Test;
import org.vit4j.backend.cpu.CpuBackend;
import org.vit4j.nn.ViTConfig;
import org.vit4j.nn.VisionTransformer;
import org.vit4j.train.Presets;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class VitShapeTest {

    @Test
    void tokensAndRows() {
        assertEquals(17, VitShape.named("mnist-tutorial").tokens());
        assertEquals(65, VitShape.named("cifar10-vit").tokens());
        assertEquals(197, VitShape.named("vit-tiny-224").tokens());
        assertEquals(577, VitShape.VIT_BASE_384.tokens());
        assertEquals(1700, VitShape.named("mnist-tutorial").rows());
        assertEquals(32, VitShape.named("cifar10-vit").headDim());
        assertEquals("B=128 N=65 D=384 H=12", VitShape.named("cifar10-vit").label());
        assertThrows(IllegalArgumentException.class, () -> VitShape.named("nope"));
    }

    @Test
    void cifarShapeIsThePresetsModel() {
        VitShape s = VitShape.named("cifar10-vit");
        Presets.Preset p = Presets.CIFAR10_VIT;
        assertEquals(p.batchSize(), s.batch());
        assertEquals(p.patchSize(), s.patch());
        assertEquals(p.dim(), s.dim());
        assertEquals(p.heads(), s.heads());
        assertEquals(p.mlpDim(), s.mlp());
        assertEquals(p.depth(), s.depth());
        VitShape m = VitShape.named("mnist-tutorial");
        assertEquals(Presets.MNIST_TUTORIAL.batchSize(), m.batch());
        assertEquals(Presets.MNIST_TUTORIAL.dim(), m.dim());
    }

    /** The formula AdamW's flat update is sized by, against the real models' counts (both heads). */
    @Test
    void parameterCountMatchesTheModel() {
        for (String name : new String[] {"mnist-tutorial", "cifar10-vit"}) {
            VitShape s = VitShape.named(name);
            ViTConfig c = new ViTConfig(s.imageSize(), s.patch(), s.channels(), s.classes(), s.dim(), s.depth(),
                    s.heads(), s.mlp(), 0f, ViTConfig.Pool.CLS, ViTConfig.Head.parse(s.head()));
            try (CpuBackend cpu = new CpuBackend(1); VisionTransformer model = new VisionTransformer(cpu, c)) {
                assertEquals(model.parameterCount(), s.parameters(), name);
            }
        }
        assertEquals(214_794, VitShape.named("mnist-tutorial").parameters());
        // omihub777/ViT-CIFAR's model has 6.3M parameters
        assertEquals(6.3e6, VitShape.named("cifar10-vit").parameters(), 0.1e6);
    }

    /** benchmarks/pytorch/bench_pytorch.py times its ops at these same shapes: its table must match. */
    @Test
    void pytorchScriptMirrorsTheShapes() throws Exception {
        String py = Files.readString(Path.of("benchmarks/pytorch/bench_pytorch.py"));
        Map<String, Map<String, String>> shapes = pythonDictStrings(py, "VIT_SHAPES");
        Map<String, Map<String, String>> expected = new LinkedHashMap<>();
        for (VitShape s : VitShape.all()) {
            Map<String, String> m = new HashMap<>();
            m.put("batch", "" + s.batch());
            m.put("image", "" + s.imageSize());
            m.put("patch", "" + s.patch());
            m.put("channels", "" + s.channels());
            m.put("dim", "" + s.dim());
            m.put("heads", "" + s.heads());
            m.put("mlp", "" + s.mlp());
            m.put("classes", "" + s.classes());
            m.put("depth", "" + s.depth());
            m.put("head", "\"" + s.head() + "\"");
            expected.put(s.name(), m);
        }
        assertEquals(expected, shapes);
        String large = "LARGE_ROWS, LARGE_COLS, LARGE_CLASSES = " + KernelBench.LARGE_ROWS + ", " + KernelBench.LARGE_COLS
                + ", " + KernelBench.LARGE_CLASSES;
        assertEquals(true, py.contains(large), "bench_pytorch.py defines " + large);
    }

    /** The script's PRESETS hold the same recipes as {@link Presets}: model, batch, optimizer, smoothing. */
    @Test
    void pytorchScriptMirrorsThePresets() throws Exception {
        String py = Files.readString(Path.of("benchmarks/pytorch/bench_pytorch.py"));
        Map<String, Map<String, String>> presets = pythonDictStrings(py, "PRESETS");
        assertEquals(Presets.names(), java.util.List.copyOf(presets.keySet()));
        for (String name : Presets.names()) {
            Presets.Preset p = Presets.get(name);
            Map<String, String> m = presets.get(name);
            assertEquals("\"" + p.dataset() + "\"", m.get("dataset"), name);
            assertEquals("\"" + p.arch() + "\"", m.get("arch"), name);
            assertEquals(p.imageSize() > 0 ? Integer.toString(p.imageSize()) : null, m.get("image"), name);
            if (p.dimHead() > 0) {
                assertEquals(p.dimHead(), Integer.parseInt(m.get("dim_head")), name);
            }
            assertEquals(p.dropout(), Double.parseDouble(m.getOrDefault("dropout", "0")), 1e-6, name);
            assertEquals(p.embDropout() != null ? p.embDropout() : p.dropout(),
                    Double.parseDouble(m.getOrDefault("emb_dropout", "0")), 1e-6, name);
            assertEquals("\"" + p.pool() + "\"", m.get("pool"), name);
            assertEquals("\"" + p.head() + "\"", m.get("head"), name);
            assertEquals(p.patchSize(), Integer.parseInt(m.get("patch")), name);
            assertEquals(p.dim(), Integer.parseInt(m.get("dim")), name);
            assertEquals(p.depth(), Integer.parseInt(m.get("depth")), name);
            assertEquals(p.heads(), Integer.parseInt(m.get("heads")), name);
            assertEquals(p.mlpDim(), Integer.parseInt(m.get("mlp")), name);
            assertEquals(p.batchSize(), Integer.parseInt(m.get("batch")), name);
            assertEquals(p.lr(), Double.parseDouble(m.get("lr")), 1e-9, name);
            assertEquals(p.weightDecay(), Double.parseDouble(m.get("weight_decay")), 1e-9, name);
            assertEquals(p.labelSmoothing(), Double.parseDouble(m.get("label_smoothing")), 1e-7, name);
        }
    }

    /** {@code NAME = { "key": dict(a=1, b="x"), ... }}: each value's source text. */
    static Map<String, Map<String, String>> pythonDictStrings(String source, String name) {
        int start = source.indexOf(name + " = {");
        int end = source.indexOf("\n}", start);
        if (start < 0 || end < 0) {
            throw new AssertionError(name + " = { ... } not found");
        }
        Map<String, Map<String, String>> out = new LinkedHashMap<>();
        Matcher entry = Pattern.compile("\"([\\w-]+)\":\\s*dict\\(([^)]*)\\)").matcher(source.substring(start, end));
        while (entry.find()) {
            Map<String, String> kv = new HashMap<>();
            for (String pair : entry.group(2).split(",")) {
                String[] p = pair.split("=");
                kv.put(p[0].strip(), p[1].strip());
            }
            out.put(entry.group(1), kv);
        }
        return out;
    }
}
