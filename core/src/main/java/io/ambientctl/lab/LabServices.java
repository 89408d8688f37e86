package io.ambientctl.lab;

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;

import io.ambientctl.util.Json;

/**
 * What runs inside a lab: the ztunnel stand-in in NAME-zt and, in every pod, echo servers on
 * TCP/UDP 8080, 15008 and 53. Captures can be appended, one JSON object a line, to a file.
 */
public final class LabServices implements AutoCloseable {
    public static final int[] POD_PORTS = {8080, 15008, 53};

    private final ZtunnelStandIn standIn;
    private final List<AutoCloseable> servers;
    private final BufferedWriter log;

    private LabServices(ZtunnelStandIn standIn, List<AutoCloseable> servers, BufferedWriter log) {
        this.standIn = standIn;
        this.servers = servers;
        this.log = log;
    }

    /** Starts them; {@code captureLog} (may be null) receives every capture as a JSON line. */
    public static LabServices start(Lab lab, Path captureLog) {
        List<AutoCloseable> servers = new ArrayList<>();
        BufferedWriter log = null;
        try {
            if (captureLog != null) {
                log = Files.newBufferedWriter(captureLog, StandardCharsets.UTF_8, StandardOpenOption.CREATE,
                        StandardOpenOption.APPEND);
            }
            for (Lab.Pod p : lab.pods()) {
                servers.add(Traffic.echoServers(p.netns(), p.name(), POD_PORTS));
            }
            BufferedWriter w = log;
            ZtunnelStandIn z = ZtunnelStandIn.start(lab.ztunnel(), c -> append(w, c));
            return new LabServices(z, servers, log);
        } catch (IOException e) {
            closeAll(servers);
            throw new UncheckedIOException("cannot open capture log " + captureLog, e);
        } catch (RuntimeException e) {
            closeAll(servers);
            throw e;
        }
    }

    private static synchronized void append(BufferedWriter w, ZtunnelStandIn.Capture c) {
        if (w == null) {
            return;
        }
        try {
            w.write(Json.MAPPER.writer().without(com.fasterxml.jackson.databind.SerializationFeature.INDENT_OUTPUT)
                    .writeValueAsString(c));
            w.newLine();
            w.flush();
        } catch (IOException e) {
            // a capture log that cannot be written must not break the proxy
        }
    }

    /** Reads a capture log written by {@link #start}. */
    public static List<ZtunnelStandIn.Capture> readLog(Path captureLog) {
        if (!Files.exists(captureLog)) {
            return List.of();
        }
        try {
            List<ZtunnelStandIn.Capture> out = new ArrayList<>();
            for (String line : Files.readAllLines(captureLog)) {
                if (!line.isBlank()) {
                    out.add(Json.MAPPER.readValue(line, ZtunnelStandIn.Capture.class));
                }
            }
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read capture log " + captureLog, e);
        }
    }

    public ZtunnelStandIn standIn() {
        return standIn;
    }

    private static void closeAll(List<AutoCloseable> cs) {
        for (AutoCloseable c : cs) {
            try {
                c.close();
            } catch (Exception e) {
                // keep closing
            }
        }
    }

    @Override
    public void close() {
        standIn.close();
        closeAll(servers);
        if (log != null) {
            try {
                log.close();
            } catch (IOException e) {
                // nothing more to write
            }
        }
    }
}
