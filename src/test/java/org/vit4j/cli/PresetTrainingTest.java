package org.vit4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vit4j.io.SafeTensors;
import org.vit4j.nn.ViTConfig;
import org.vit4j.train.Presets;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code vit4j train --model cifar10-vit}: the preset picks CIFAR-10 and its recipe, options still override. */
class PresetTrainingTest {
    @TempDir
    Path tmp;

    /** CIFAR-10's binary layout: records of 1 label byte and 3072 pixel bytes; 5 training files and the test file. */
    private static void writeCifar(Path dir, int perFile) throws IOException {
        Files.createDirectories(dir);
        SplittableRandom r = new SplittableRandom(1);
        for (String name : new String[] {"data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4",
                "data_batch_5", "test_batch"}) {
            byte[] b = new byte[perFile * 3073];
            for (int i = 0; i < perFile; i++) {
                b[i * 3073] = (byte) (i % 10);
                for (int j = 1; j < 3073; j++) {
                    b[i * 3073 + j] = (byte) r.nextInt(256);
                }
            }
            Files.write(dir.resolve(name + ".bin"), b);
        }
    }

    @Test
    void cifarPresetTrainsWithItsRecipe() throws Exception {
        Path data = tmp.resolve("cifar");
        writeCifar(data, 4);
        Path ckpt = tmp.resolve("c.safetensors");
        PrintStream saved = System.out;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int code;
        try {
            System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
            // the preset's model shrunk (depth, dim, heads, MLP override it) so a step is quick
            code = Main.run("train", "--model", "cifar10-vit", "--data-dir", data.toString(), "--epochs", "1",
                    "--warmup", "0", "--batch-size", "8", "--depth", "1", "--dim", "24", "--heads", "2", "--mlp-dim", "24",
                    "--device", "cpu", "--no-progress", "--checkpoint", ckpt.toString());
        } finally {
            System.setOut(saved);
        }
        assertEquals(0, code, out.toString(StandardCharsets.UTF_8));
        SafeTensors.Contents c = SafeTensors.read(ckpt);
        ObjectMapper json = new ObjectMapper();
        ViTConfig config = json.readValue(c.metadata().get("config"), ViTConfig.class);
        assertEquals(32, config.imageSize());
        assertEquals(3, config.channels());
        assertEquals(4, config.patchSize());              // the preset's
        assertEquals(ViTConfig.Head.LINEAR, config.head());
        JsonNode training = json.readTree(c.metadata().get("training"));
        assertEquals("cifar10", training.get("dataset").asText());
        assertEquals(0.1, training.get("labelSmoothing").asDouble(), 1e-6);   // the preset's, not 0
        assertEquals("cosine", training.get("schedule").asText());
        assertEquals(5e-5, training.get("weightDecay").asDouble(), 1e-9);
        assertTrue(training.get("augment").asBoolean());
    }

    /**
     * ViT-B/16 at 224 px on CIFAR-10 through the command line, a few steps: the 32 px images are
     * resized per batch to 224, normalised with Normalize(0.5), the model is ViT-B/16's; two
     * training steps of one image and an evaluation must run and give finite losses.
     */
    @Test
    void vitBaseAt224TrainsAFewStepsOnResizedCifar() throws Exception {
        Path data = tmp.resolve("cifar");
        writeCifar(data, 2);
        PrintStream savedOut = System.out, savedErr = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        int code;
        try {
            System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
            System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
            code = Main.run("train", "--model", "vit-base-patch16-224", "--data-dir", data.toString(), "--epochs", "1",
                    "--warmup", "0", "--batch-size", "1", "--limit-train", "2", "--limit-test", "1", "--device", "cpu",
                    "--no-progress");
        } finally {
            System.setOut(savedOut);
            System.setErr(savedErr);
        }
        String stdout = out.toString(StandardCharsets.UTF_8), log = err.toString(StandardCharsets.UTF_8);
        assertEquals(0, code, stdout + log);
        assertTrue(log.contains("resizing the 32x32 images to 224x224"), log);
        assertTrue(log.contains("imageSize=224, patchSize=16, channels=3, numClasses=10, dim=768, depth=12, heads=12, "
                + "mlpDim=3072, dropout=0.1, pool=cls, head=linear, distilled=false, arch=timm, dimHead=64, "
                + "embDropout=0.1"), log);
        assertTrue(log.contains("(85,806,346 parameters)") || log.contains("(85806346 parameters)"), log);
        Matcher m = Pattern.compile("epoch 1/1  train loss (\\S+)  test loss (\\S+)").matcher(stdout);
        assertTrue(m.find(), stdout);
        assertTrue(Double.isFinite(Double.parseDouble(m.group(1))) && Double.isFinite(Double.parseDouble(m.group(2))),
                stdout);
    }

    @Test
    void tutorialPresetsBuildTheirArchitectures() {
        ViTConfig tutorial = Presets.MNIST_TUTORIAL.config(28, 1, 10);
        assertEquals(ViTConfig.mnistTutorial(), tutorial);
        assertEquals(ViTConfig.Arch.TUTORIAL_2020, tutorial.arch());
        assertEquals(0.125f, tutorial.attentionScale());                 // dim^-0.5, not (dim/heads)^-0.5
        assertEquals(ViTConfig.mnistTimm(), Presets.MNIST_TIMM.config(28, 1, 10));
        ViTConfig vp = Presets.MNIST_VIT_PYTORCH.config(28, 1, 10);
        assertEquals(ViTConfig.Arch.VIT_PYTORCH, vp.arch());
        assertEquals(512, vp.innerDim());                                 // vit-pytorch's default dim_head 64, 8 heads
        assertEquals(ViTConfig.Head.LINEAR, vp.head());
        ViTConfig base = Presets.VIT_BASE_PATCH16_224.config(224, 3, 10);
        assertEquals(197, base.tokens());
        assertEquals(0.1f, base.dropout());
        assertEquals(0.1f, base.embDropout());
    }

    @Test
    void presetsAreListedAndValid() {
        assertEquals(java.util.List.of("mnist-tutorial", "mnist-timm", "mnist-vit-pytorch", "cifar10-vit",
                "vit-base-patch16-224"), Presets.names());
        assertEquals(0f, Presets.MNIST_TUTORIAL.labelSmoothing());
        Presets.Preset p = Presets.get("CIFAR10-ViT");
        assertEquals(0.1f, p.labelSmoothing());
        assertEquals(0, p.dim() % p.heads());
        assertEquals(0, 32 % p.patchSize());
    }
}
