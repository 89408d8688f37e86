package io.ambientctl.testing;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import io.ambientctl.bpf.AttachKind;
import io.ambientctl.lab.Lab;
import io.ambientctl.lab.Traffic;
import io.ambientctl.lab.ZtunnelStandIn;
import io.ambientctl.redirect.Node;
import io.ambientctl.redirect.NodeConfig;
import io.ambientctl.redirect.ebpf.EbpfRedirector;

/**
 * A lab of its own for one test: unique namespaces, a unique pin directory and state directory,
 * echo servers in every pod (TCP and UDP on 8080, 15008 and 53), the ztunnel stand-in. Close
 * removes all of it, on every path.
 */
public final class LabFixture implements AutoCloseable {
    public static final Duration SHORT = Duration.ofMillis(1500);

    public final Lab lab;
    public final Path bpffs;
    public final Path stateDir;
    public final NodeConfig config;
    public final Node node;
    public ZtunnelStandIn standIn;
    private final List<AutoCloseable> servers = new ArrayList<>();

    public LabFixture(int pods, AttachKind kind) throws IOException {
        Kernel.require();
        Lab l = Lab.named("acl" + Kernel.unique(), pods);
        Path b = null;
        Path s = null;
        try {
            l.up();
            b = Kernel.bpffsDir("actest-lab");
            s = Files.createTempDirectory("ambientctl-state");
            for (Lab.Pod p : l.pods()) {
                servers.add(Traffic.echoServers(p.netns(), p.name(), 8080, 15008, 53));
            }
            standIn = ZtunnelStandIn.start(l.ztunnel(), null);
        } catch (RuntimeException | IOException e) {
            cleanup(l, b, s);
            throw e;
        }
        lab = l;
        bpffs = b;
        stateDir = s;
        config = new NodeConfig(bpffs, stateDir, lab.node());
        node = new Node(config, Duration.ofSeconds(30), kind);
    }

    public Lab.Pod pod(int i) {
        return lab.pod(i);
    }

    private void cleanup(Lab l, Path b, Path s) {
        for (AutoCloseable c : servers) {
            try {
                c.close();
            } catch (Exception e) {
                // keep cleaning
            }
        }
        if (standIn != null) {
            standIn.close();
        }
        l.down();
        if (b != null) {
            EbpfRedirector.removePins(b);
            Kernel.removeTree(b);
        }
        if (s != null) {
            Kernel.removeTree(s);
        }
    }

    @Override
    public void close() {
        cleanup(lab, bpffs, stateDir);
    }
}
