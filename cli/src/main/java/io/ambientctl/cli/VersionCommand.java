package io.ambientctl.cli;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Properties;

import io.ambientctl.bpf.LibbpfInfo;
import io.ambientctl.bpf.sys.NativeLibraryException;
import picocli.CommandLine.Command;
import picocli.CommandLine.IVersionProvider;
import picocli.CommandLine.ParentCommand;

/** `ambientctl version`: the tool's version, libbpf's and the kernel's. */
@Command(name = "version", header = "Print the versions of ambientctl, libbpf, the kernel and Java",
        description = "Print the version of ambientctl, of libbpf (and the library file loaded) and of the kernel, and "
                + "the Java runtime's. Needs no privileges; exit code 0 even when libbpf cannot be loaded (it says why).",
        exitCodeListHeading = ExitCode.HEADING, exitCodeList = {ExitCode.L0, ExitCode.L2},
        footerHeading = "%nExamples:%n", footer = {"  ambientctl version", "  ambientctl version -o json"})
public class VersionCommand implements Runnable {
    @ParentCommand
    AmbientCtl root;

    static String toolVersion() {
        Properties p = new Properties();
        try (InputStream in = VersionCommand.class.getResourceAsStream("version.properties")) {
            if (in != null) {
                p.load(in);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return p.getProperty("version", "unknown");
    }

    static String kernelRelease() {
        try {
            return Files.readString(Path.of("/proc/sys/kernel/osrelease")).strip();
        } catch (IOException e) {
            return System.getProperty("os.version");
        }
    }

    static Map<String, Object> info() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("version", toolVersion());
        String libbpf;
        try {
            libbpf = LibbpfInfo.version();
            m.put("libbpf", libbpf);
            m.put("libbpfPath", LibbpfInfo.path());
        } catch (NativeLibraryException e) {
            m.put("libbpf", null);
            m.put("libbpfError", e.getMessage());
        }
        m.put("kernel", kernelRelease());
        m.put("java", System.getProperty("java.version"));
        return m;
    }

    @Override
    public void run() {
        Map<String, Object> info = info();
        Output.render(root.global, root.out, info, () -> {
            root.out.println("ambientctl " + info.get("version"));
            root.out.println("libbpf     " + (info.get("libbpf") != null ? info.get("libbpf") + " (" + info.get("libbpfPath")
                    + ")" : "not available: " + info.get("libbpfError")));
            root.out.println("kernel     " + info.get("kernel"));
            root.out.println("java       " + info.get("java"));
        });
    }

    /** For --version. */
    public static class Provider implements IVersionProvider {
        @Override
        public String[] getVersion() {
            return new String[] {"ambientctl " + toolVersion()};
        }
    }
}
