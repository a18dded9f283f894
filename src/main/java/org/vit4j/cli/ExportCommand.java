package org.vit4j.cli;

import org.vit4j.backend.cpu.CpuBackend;
import org.vit4j.nn.ViTConfig;
import org.vit4j.train.WeightsFile;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;

/** {@code vit4j export}: a model's weights under timm's or vit-pytorch's names for PyTorch, or back into a vit4j checkpoint. */
@Command(name = "export", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Write a model's weights as a safetensors file: timm's names "
                + "(timm.create_model(...).load_state_dict) for arch=timm models, vit-pytorch's "
                + "(vit_pytorch.ViT(...).load_state_dict) for arch=vit-pytorch ones, or a vit4j checkpoint "
                + "(--format vit4j: weights only, epoch 0) that eval, predict and train --init read.",
                "Load a timm or vit-pytorch file with safetensors.torch.load_file(FILE). Its metadata records the "
                        + "vit4j config (vit4j.config), class names (vit4j.classes) and normalisation "
                        + "(vit4j.normalization) when known, and timm's create_model arguments (timm.create_model)."})
final class ExportCommand implements Callable<Integer> {
    @Option(names = {"--checkpoint", "--weights"}, required = true, paramLabel = "FILE",
            description = "A checkpoint written by vit4j train, or a timm or vit-pytorch safetensors file.")
    Path input;

    @Option(names = {"--out", "--output"}, required = true, paramLabel = "FILE", description = "The safetensors file to write.")
    Path output;

    @Option(names = "--format", description = "timm, vit4j or vit-pytorch (default: the names of the model's "
            + "architecture, timm or vit-pytorch).")
    String format;

    @Option(names = "--heads", paramLabel = "N", description = "Attention heads of a timm or vit-pytorch input that "
            + "records no config and whose heads are not 64 wide.")
    Integer heads;

    @Override
    public Integer call() throws Exception {
        WeightsFile.Format f = format != null ? WeightsFile.Format.parse(format.trim()) : null;
        Outputs.requireDistinct(output, "--out", input, "--checkpoint");
        Outputs.requireReplaceable(output, "--out");
        WeightsFile file = WeightsFile.read(input, heads);
        ViTConfig c = file.config();
        if (f == null) {
            f = c.arch() == ViTConfig.Arch.VIT_PYTORCH ? WeightsFile.Format.VIT_PYTORCH : WeightsFile.Format.TIMM;
        }
        try (CpuBackend backend = new CpuBackend(1)) {
            file.write(f, output, backend, input);
        }
        System.out.printf(Locale.ROOT, "wrote %s: the %s model of %s %s (%s)%n", output, c.arch(), input,
                f == WeightsFile.Format.VIT4J ? "as a vit4j checkpoint" : "under " + f + "'s names", file.recordedSummary(f));
        return 0;
    }
}
