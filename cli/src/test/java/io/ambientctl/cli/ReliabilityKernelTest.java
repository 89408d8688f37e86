package io.ambientctl.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import io.ambientctl.bpf.BpfObject;
import io.ambientctl.lab.Lab;
import io.ambientctl.redirect.ebpf.Datapath;
import io.ambientctl.testing.Kernel;
import io.ambientctl.testing.LabFixture;

/** Concurrency between processes, and a table of bad inputs each refused cleanly with nothing changed. */
class ReliabilityKernelTest {
    private LabFixture f;

    @BeforeEach
    void setUp() throws Exception {
        f = new LabFixture(4, null);
        f.node.ztunnelSet(f.lab.ztunnel(), null, null, false);
    }

    @AfterEach
    void tearDown() {
        if (f != null) {
            f.close();
        }
    }

    private List<String> base() {
        return List.of("--node-netns", f.lab.node().name(), "--bpffs", f.bpffs.toString(), "--state-dir",
                f.stateDir.toString());
    }

    private Process spawn(String... args) throws IOException {
        String java = ProcessHandle.current().info().command().orElse("java");
        List<String> cmd = new ArrayList<>(List.of(java, "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-cp",
                System.getProperty("java.class.path"), Main.class.getName()));
        cmd.addAll(base());
        cmd.addAll(List.of(args));
        return new ProcessBuilder(cmd).redirectErrorStream(true).start();
    }

    @Test
    void eightProcessesOnOverlappingWorkloadsEndAsTheSerialResult() throws Exception {
        Lab.Pod p4 = f.pod(4);
        f.node.enroll(List.of(p4.netns()), false);
        List<Process> ps = new ArrayList<>();
        String p1 = f.pod(1).netns().name();
        String p2 = f.pod(2).netns().name();
        String p3 = f.pod(3).netns().name();
        for (int i = 0; i < 4; i++) {
            // overlapping enrolls: {p1,p2}, {p2,p3}, {p1,p3}, {p1,p2,p3}
            List<String> targets = switch (i) {
                case 0 -> List.of(p1, p2);
                case 1 -> List.of(p2, p3);
                case 2 -> List.of(p1, p3);
                default -> List.of(p1, p2, p3);
            };
            List<String> args = new ArrayList<>(List.of("enroll", "--wait", "120s"));
            targets.forEach(t -> args.addAll(List.of("--netns", t)));
            ps.add(spawn(args.toArray(String[]::new)));
            ps.add(spawn("unenroll", "--netns", p4.netns().name(), "--wait", "120s"));
        }
        for (Process p : ps) {
            String out = new String(p.getInputStream().readAllBytes());
            assertThat(p.waitFor()).as(out).isZero();
            assertThat(out).doesNotContain("error");
        }
        var st = f.node.status();
        assertThat(st.verified()).isTrue();
        assertThat(st.workloads()).extracting(w -> w.workload().key()).containsExactlyInAnyOrder(p1, p2, p3);
        assertThat(f.node.recorded().workloads).extracting(w -> w.id()).doesNotHaveDuplicates();
    }

    /** What a bad input must not touch: namespaces, pins, rules, sets, the state. */
    private String snapshot() throws IOException {
        StringBuilder sb = new StringBuilder();
        // (other tests may run beside this one: look at this lab's namespaces and pins only)
        io.ambientctl.util.Exec.run(List.of("ip", "netns", "list")).stdout().lines()
                .filter(l -> l.startsWith(f.lab.name()) || l.startsWith("acl-missing")).sorted()
                .forEach(l -> sb.append(l).append('\n'));
        try (Stream<Path> s = Files.walk(f.bpffs)) {
            s.map(Path::toString).sorted().forEach(p -> sb.append(p).append('\n'));
        }
        try (Stream<Path> s = Files.list(Path.of("/sys/fs/bpf"))) {
            s.map(Path::toString).filter(p -> p.contains("pins") || p.endsWith("/etc")).forEach(sb::append);
        }
        for (String ns : List.of(f.lab.node().name(), f.lab.ztunnel().name())) {
            sb.append(io.ambientctl.net.NetNs.named(ns).exec("iptables-save").stdout().lines()
                    .filter(l -> !l.startsWith("#")).toList());
            sb.append(io.ambientctl.net.NetNs.named(ns).exec("ipset", "list", "-n").stdout());
        }
        sb.append(Files.readString(f.stateDir.resolve("state.json")));
        return sb.toString();
    }

    record Case(int code, String errContains, List<String> args) {
    }

    static Case c(int code, String errContains, String... args) {
        return new Case(code, errContains, List.of(args));
    }

    @Test
    void badInputsAreRefusedWithTheDocumentedCodeAMessageAndNothingChanged() throws Exception {
        f.node.enroll(List.of(f.pod(1).netns()), false);
        String long65 = "n".repeat(65);
        // a link on bpffs to a directory elsewhere (as to /etc): --bpffs through it must create nothing there
        Path elsewhere = Files.createTempDirectory("acl-elsewhere");
        Path bpfLink = Kernel.BPFFS.resolve("acl-link-" + Kernel.unique());
        Files.createSymbolicLink(bpfLink, elsewhere);
        Path emptyKubeconfig = Files.createTempFile("acl-kubeconfig", ".yaml");
        try {
            badInputs(long65, bpfLink, emptyKubeconfig);
            assertThat(elsewhere).isEmptyDirectory();
        } finally {
            Files.deleteIfExists(bpfLink);
            Files.deleteIfExists(emptyKubeconfig);
            Kernel.removeTree(elsewhere);
        }
    }

    private void badInputs(String long65, Path bpfLink, Path emptyKubeconfig) throws Exception {
        List<Case> cases = List.of(
                c(2, "passes through a symbolic link", "--bpffs", bpfLink + "/x", "enroll", "--netns", "x"),
                c(2, "passes through a symbolic link", "--bpffs", bpfLink + "/x", "status"),
                c(2, "--state-dir is empty", "--state-dir", "", "enroll", "--netns", "x"),
                c(2, "is a relative path", "--state-dir", "var/lib/ambientctl", "status"),
                c(2, "not both", "--lab", "x", "status"),
                c(2, "not both", "--lab", "x", "enroll", "--netns", "x"),
                c(2, "is not a port", "agent", "--health-port", "-5"),
                c(2, emptyKubeconfig + " is empty", "--kubeconfig", emptyKubeconfig.toString(), "enroll", "web", "-n",
                        "shop"),
                c(2, "unknown mode 'bogus'", "mode", "set", "bogus"),
                c(2, "use ebpf, iptables or nftables", "mode", "set", "EBPFX"),
                c(2, "not a mode to switch to", "mode", "set", "none"),
                c(2, "Missing required parameter", "mode", "set"),
                c(2, "name what to enroll", "enroll"),
                c(2, "invalid network namespace name", "enroll", "--netns", "../etc"),
                c(2, "invalid network namespace path", "enroll", "--netns", "/etc/passwd"),
                c(2, "invalid network namespace path", "enroll", "--netns", "/var/run/netns/../../etc/shadow"),
                c(2, "invalid network namespace name", "enroll", "--netns", "a b"),
                c(2, "invalid network namespace name", "enroll", "--netns", "ns;rm -rf /"),
                c(2, "invalid network namespace name", "enroll", "--netns", long65),
                c(2, "invalid network namespace name", "enroll", "--netns", "n\u00e9t"),
                c(2, "invalid network namespace name", "enroll", "--netns", "-x"),
                c(4, "does not exist", "enroll", "--netns", "acl-missing-ns"),
                c(4, "does not exist", "enroll", "--netns", "/proc/999999999/ns/net"),
                c(4, "neither exists nor is enrolled", "unenroll", "--netns", "acl-missing-ns"),
                c(2, "name what to unenroll", "unenroll"),
                c(2, "name what to unenroll", "unenroll", "--all", "--netns", "x"),
                c(2, "node's own network namespace", "enroll", "--netns", "NODE"),
                c(2, "not a directory under /sys/fs/bpf", "--bpffs", "/tmp/pins", "enroll", "--netns", "x"),
                c(2, "'..' is not allowed", "--bpffs", "/sys/fs/bpf/../../etc", "status"),
                c(2, "not a place for a state file", "--state-dir", "/proc/x", "status"),
                c(2, "'..' is not allowed", "--state-dir", "/var/lib/../../etc", "status"),
                c(2, "Invalid value for option '--output'", "status", "-o", "xml"),
                c(2, "is not a duration", "enroll", "--netns", "x", "--wait", "soon"),
                c(2, "a wait between 0 and 24h", "enroll", "--netns", "x", "--wait", "-5s"),
                c(2, "invalid lab name", "lab", "up", "--name", "Bad Name"),
                c(2, "1 to 2000 pods", "lab", "up", "--name", "x", "--pods", "0"),
                c(2, "1 to 2000 pods", "lab", "up", "--name", "x", "--pods", "5000"),
                c(2, "Invalid value for option '--pods'", "lab", "up", "--pods", "abc"),
                c(2, "Missing required argument", "ztunnel", "set"),
                c(4, "does not exist", "ztunnel", "set", "--netns", "acl-missing-ns"),
                c(2, "mutually exclusive", "ztunnel", "set", "--netns", "a", "--auto"),
                c(2, "unknown mode 'bogus'", "preflight", "--mode", "bogus"),
                c(4, "is not enrolled", "inspect", "pod", "--netns", "acl-missing-ns"),
                c(4, "no map nope", "inspect", "maps", "nope"),
                c(2, "Unmatched argument", "frobnicate"),
                c(2, "Unknown option", "status", "--frobnicate"));
        assertThat(cases).hasSizeGreaterThanOrEqualTo(38);
        String before = snapshot();
        for (Case k : cases) {
            List<String> args = new ArrayList<>();
            List<String> b = base();
            for (int i = 0; i < b.size(); i += 2) {
                if (!k.args().contains(b.get(i))) { // the case sets this option itself
                    args.add(b.get(i));
                    args.add(b.get(i + 1));
                }
            }
            k.args().forEach(a -> args.add(a.equals("NODE") ? f.lab.node().name() : a));
            MainTest.Run r = MainTest.run(args.toArray(String[]::new));
            assertThat(r.code()).as(k.args() + ": " + r.err()).isEqualTo(k.code());
            assertThat(r.err()).as(k.args().toString()).contains(k.errContains()).doesNotContain("\tat ")
                    .doesNotContain("Exception");
            assertThat(snapshot()).as("nothing changed by " + k.args()).isEqualTo(before);
        }
    }

    @Test
    void aCorruptStateFileOrAPinnedMapOfAnotherLayoutIsRefusedNotTrusted() throws Exception {
        f.node.enroll(List.of(f.pod(1).netns()), false);
        Path state = f.stateDir.resolve("state.json");
        String good = Files.readString(state);
        List<String> args = new ArrayList<>(base());
        args.addAll(List.of("enroll", "--netns", f.pod(2).netns().name()));

        Files.writeString(state, good.substring(0, good.length() / 2));
        MainTest.Run r = MainTest.run(args.toArray(String[]::new));
        assertThat(r.code()).isEqualTo(ExitCode.FAILED);
        assertThat(r.err()).contains("is corrupt").contains("repair").doesNotContain("\tat ");
        assertThat(Files.readString(state)).isEqualTo(good.substring(0, good.length() / 2)); // not overwritten

        Files.writeString(state, "{\"version\": 7, \"mode\": \"ebpf\"}");
        r = MainTest.run(args.toArray(String[]::new));
        assertThat(r.code()).isEqualTo(ExitCode.FAILED);
        assertThat(r.err()).contains("version 7");
        Files.writeString(state, good);

        // a map of another layout pinned where ambient_workloads belongs
        Path pin = Datapath.mapsDir(f.bpffs).resolve("ambient_workloads");
        Files.delete(pin);
        try (BpfObject other = BpfObject.openResource("selftest.bpf.o").load()) {
            other.map("selftest_stats").pin(pin);
        }
        r = MainTest.run(args.toArray(String[]::new));
        assertThat(r.code()).isEqualTo(ExitCode.FAILED);
        assertThat(r.err()).contains("redirect.bpf.o").contains("EINVAL").doesNotContain("\tat ");
        assertThat(f.node.recorded().workloads).hasSize(1);
        Kernel.removeTree(pin);
    }

    private String[] args(String... more) {
        List<String> a = new ArrayList<>(base());
        a.addAll(List.of(more));
        return a.toArray(String[]::new);
    }

    @Test
    void aPinTheStateFileNamesOutsideBpffsIsNeverTouchedAndRepairPointsItBack() throws Exception {
        // TCX links on the pod's veth: the state names their pins
        new io.ambientctl.redirect.Node(f.config, java.time.Duration.ofSeconds(30), io.ambientctl.bpf.AttachKind.TCX)
                .enroll(List.of(f.pod(1).netns()), false);
        Path state = f.stateDir.resolve("state.json");
        String good = Files.readString(state);
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("\"linkPin\"\\s*:\\s*\"([^\"]+/pod_[^\"]+)\"").matcher(good);
        assertThat(m.find()).as("a TCX link pin of the pod in " + good).isTrue();
        Path pin = Path.of(m.group(1));
        assertThat(pin).startsWith(f.bpffs).exists();
        Path decoy = Files.writeString(Files.createTempFile("acl-decoy", ".conf"), "precious\n");
        try {
            Files.writeString(state, good.replace("\"" + pin + "\"", "\"" + decoy + "\""));
            String p1 = f.pod(1).netns().name();

            MainTest.Run r = MainTest.run(args("unenroll", "--netns", p1));
            assertThat(r.code()).as(r.err()).isEqualTo(ExitCode.FAILED);
            assertThat(r.err()).contains("state file names " + decoy + " outside BPFFS")
                    .contains("ambientctl repair").doesNotContain("\tat ");
            assertThat(r.out()).doesNotContain("unenrolled");
            assertThat(Files.readString(decoy)).isEqualTo("precious\n");
            assertThat(pin).exists(); // the real link is still attached and pinned
            assertThat(f.node.status().workloads().get(0).verification().problems()).as("nothing changed").isEmpty();

            // a switch away from eBPF refuses before it removes anything: eBPF keeps redirecting
            r = MainTest.run(args("mode", "set", "iptables"));
            assertThat(r.code()).as(r.err()).isEqualTo(ExitCode.FAILED);
            assertThat(r.err()).contains("outside BPFFS").doesNotContain("\tat ");
            assertThat(Files.readString(decoy)).isEqualTo("precious\n");
            assertThat(pin).exists();
            assertThat(f.node.recorded().mode.name()).isEqualTo("ebpf");
            assertThat(f.node.status().workloads().get(0).verification().problems()).isEmpty();

            r = MainTest.run(args("status"));
            assertThat(r.out()).contains(decoy.toString()).contains("outside BPFFS");

            r = MainTest.run(args("repair"));
            assertThat(r.code()).as(r.err() + r.out()).isZero();
            assertThat(r.out()).contains("re-point").contains(decoy.toString());
            assertThat(Files.readString(state)).contains(pin.toString()).doesNotContain(decoy.toString());
            assertThat(MainTest.run(args("status")).code()).isZero();

            r = MainTest.run(args("unenroll", "--netns", p1));
            assertThat(r.code()).as(r.err()).isZero();
            assertThat(pin).doesNotExist();
            assertThat(Files.readString(decoy)).isEqualTo("precious\n");
        } finally {
            Files.deleteIfExists(decoy);
        }
    }

    @Test
    void statusDuringALiveOperationSaysInProgressAndExits0AfterItDiedInterrupted() throws Exception {
        f.node.enroll(List.of(f.pod(1).netns()), false);
        Process holder = io.ambientctl.testing.LockHolder.start(f.stateDir, "mode set");
        try {
            MainTest.Run r = MainTest.run(args("status"));
            assertThat(r.code()).as(r.out() + r.err()).isZero();
            assertThat(r.out()).contains("in progress: mode set pid " + holder.pid() + ", since ")
                    .doesNotContain("interrupted");
            r = MainTest.run(args("status", "-o", "json"));
            assertThat(io.ambientctl.util.Json.parse(r.out()).get("inProgress").asText())
                    .startsWith("mode set pid " + holder.pid());
            // the probe took nothing: the holder still holds the lock
            assertThat(MainTest.run(args("enroll", "--netns", f.pod(2).netns().name())).code())
                    .isEqualTo(ExitCode.LOCKED);
        } finally {
            holder.destroy();
            holder.waitFor();
        }
        MainTest.Run r = MainTest.run(args("status"));
        assertThat(r.code()).isEqualTo(ExitCode.FAILED);
        assertThat(r.out()).contains("an operation was interrupted (mode set pid " + holder.pid());

        // a journal that is a link to another file: status does not print that file
        Path secret = Files.writeString(Files.createTempFile("acl-secret", ".txt"), "root-only-secret\n");
        try {
            Path journal = f.stateDir.resolve("journal");
            Files.delete(journal);
            Files.createSymbolicLink(journal, secret);
            r = MainTest.run(args("status"));
            assertThat(r.out() + r.err()).doesNotContain("root-only-secret").contains("symbolic link");
            assertThat(MainTest.run(args("repair")).code()).isZero();
            assertThat(secret).exists();
            assertThat(journal).doesNotExist();
        } finally {
            Files.deleteIfExists(secret);
        }
    }

    @Test
    void theSameTargetTwiceIsOneAndANonRootUserIsToldToBeRoot() throws Exception {
        String p2 = f.pod(2).netns().name();
        MainTest.Run r = MainTest.run(args("enroll", "--netns", p2, "--netns", p2, "--netns", "/var/run/netns/" + p2,
                "-o", "json"));
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(io.ambientctl.util.Json.parse(r.out()).get("results")).as(r.out()).hasSize(1);
        r = MainTest.run(args("unenroll", "--netns", p2, "--netns", p2, "-o", "json"));
        assertThat(io.ambientctl.util.Json.parse(r.out()).get("results")).as(r.out()).hasSize(1);

        // as nobody, with the root-owned (0700) state directory: not "cannot take the lock"
        Path cp = readableClassPath();
        try {
            for (String[] cmd : new String[][] {{"enroll", "--netns", p2}, {"status"}, {"repair"}}) {
                List<String> line = new ArrayList<>(List.of("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                        ProcessHandle.current().info().command().orElse("java"), "-XX:TieredStopAtLevel=1",
                        "-XX:+UseSerialGC", "-Duser.home=/tmp", "-cp", Files.readString(cp.resolve("cp")),
                        Main.class.getName()));
                line.addAll(base());
                line.addAll(List.of(cmd));
                Process p = new ProcessBuilder(line).redirectErrorStream(true).start();
                String out = new String(p.getInputStream().readAllBytes());
                assertThat(p.waitFor()).as(out).isEqualTo(ExitCode.FAILED);
                assertThat(out).as(String.join(" ", cmd)).contains("must run as root").doesNotContain("\tat ")
                        .doesNotContain("cannot take the lock");
            }
        } finally {
            Kernel.removeTree(cp);
        }
        assertThat(f.node.recorded().workloads).isEmpty();
    }

    /** This JVM's class path, with what another user cannot read (root's ~/.m2) copied to a readable place. */
    private static Path readableClassPath() throws IOException {
        Path dir = Files.createTempDirectory("acl-cp");
        Files.setPosixFilePermissions(dir, java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
        List<String> entries = new ArrayList<>();
        int i = 0;
        for (String e : System.getProperty("java.class.path").split(java.io.File.pathSeparator)) {
            Path p = Path.of(e);
            if (Files.isRegularFile(p)) {
                Path copy = dir.resolve(i++ + "-" + p.getFileName());
                Files.copy(p, copy);
                Files.setPosixFilePermissions(copy, java.nio.file.attribute.PosixFilePermissions.fromString("rw-r--r--"));
                entries.add(copy.toString());
            } else {
                entries.add(e); // the modules' classes directories: world-readable
            }
        }
        Files.writeString(dir.resolve("cp"), String.join(java.io.File.pathSeparator, entries));
        return dir;
    }
}
