package org.vit4j.cli;

import org.vit4j.backend.cpu.CpuBackend;
import org.vit4j.nn.TimmWeights;
import org.vit4j.nn.ViTConfig;
import org.vit4j.nn.VisionTransformer;
import org.vit4j.nn.VitPytorchWeights;
import org.vit4j.train.WeightsFile;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;

/** {@code vit4j export}: a model's weights under timm's or vit-pytorch's names, for PyTorch. */
@Command(name = "export", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Write a model's weights as a safetensors file PyTorch loads: timm's names "
                + "(timm.create_model(...).load_state_dict) for arch=timm models, vit-pytorch's "
                + "(vit_pytorch.ViT(...).load_state_dict) for arch=vit-pytorch ones.",
                "Load it with safetensors.torch.load_file(FILE)."})
final class ExportCommand implements Callable<Integer> {
    @Option(names = {"--checkpoint", "--weights"}, required = true, paramLabel = "FILE",
            description = "A checkpoint written by vit4j train, or a timm or vit-pytorch safetensors file.")
    Path input;

    @Option(names = "--output", required = true, paramLabel = "FILE", description = "The safetensors file to write.")
    Path output;

    @Option(names = "--format", description = "timm or vit-pytorch (default: the model's architecture).")
    String format;

    @Option(names = "--heads", paramLabel = "N", description = "Attention heads of a timm or vit-pytorch input whose "
            + "heads are not 64 wide.")
    Integer heads;

    @Override
    public Integer call() throws Exception {
        WeightsFile file = WeightsFile.read(input, heads);
        ViTConfig c = file.config();
        String f = (format != null ? format : c.arch() == ViTConfig.Arch.VIT_PYTORCH ? "vit-pytorch" : "timm")
                .toLowerCase(Locale.ROOT);
        if (!f.equals("timm") && !f.equals("vit-pytorch")) {
            throw new IllegalArgumentException("--format must be timm or vit-pytorch, got " + format);
        }
        try (CpuBackend backend = new CpuBackend(1); VisionTransformer model = file.newModel(backend, input)) {
            if (f.equals("timm")) {
                TimmWeights.write(output, model);
            } else {
                VitPytorchWeights.write(output, model);
            }
        }
        System.out.printf(Locale.ROOT, "wrote %s: the %s model of %s under %s's names%n", output, c.arch(), input, f);
        return 0;
    }
}
