package org.vit4j.cli;

import org.vit4j.backend.Backends;
import org.vit4j.backend.cpu.CpuBackend;
import picocli.CommandLine.Command;

import java.util.concurrent.Callable;

/** Prints what this machine offers vit4j. */
@Command(name = "info", mixinStandardHelpOptions = true, description = "Show the Java runtime, CPU backend and GPU status.")
final class InfoCommand implements Callable<Integer> {
    @Override
    public Integer call() {
        System.out.println("java:  " + System.getProperty("java.vm.name") + " " + Runtime.version());
        try (CpuBackend cpu = new CpuBackend()) {
            System.out.println("cpu:   " + cpu.description());
        }
        System.out.println("cuda:  " + Backends.cudaStatus());
        return 0;
    }
}
