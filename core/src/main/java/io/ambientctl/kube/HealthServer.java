package io.ambientctl.kube;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.Executors;
import java.util.function.BooleanSupplier;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;

/**
 * Liveness (/healthz) and readiness (/readyz) on 127.0.0.1 only: the kubelet's probes reach it
 * because the agent runs in the host network; nothing outside the node can.
 */
final class HealthServer implements AutoCloseable {
    private final HttpServer server;

    private HealthServer(HttpServer server) {
        this.server = server;
    }

    static HealthServer start(int port, BooleanSupplier live, BooleanSupplier ready) {
        try {
            HttpServer s = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 16);
            s.createContext("/healthz", x -> answer(x, live.getAsBoolean(), "live"));
            s.createContext("/readyz", x -> answer(x, ready.getAsBoolean(), "ready"));
            s.setExecutor(Executors.newSingleThreadExecutor(r -> {
                Thread t = new Thread(r, "agent-health");
                t.setDaemon(true);
                return t;
            }));
            s.start();
            return new HealthServer(s);
        } catch (IOException e) {
            throw new IllegalStateException("agent: cannot listen on 127.0.0.1:" + port + " for health checks ("
                    + e.getMessage() + "); pick another --health-port", e);
        }
    }

    private static void answer(HttpExchange x, boolean ok, String what) throws IOException {
        byte[] body = ((ok ? what : "not " + what) + "\n").getBytes(StandardCharsets.UTF_8);
        x.getResponseHeaders().set("Content-Type", "text/plain");
        x.sendResponseHeaders(ok ? 200 : 503, body.length);
        try (OutputStream o = x.getResponseBody()) {
            o.write(body);
        }
    }

    int port() {
        return server.getAddress().getPort();
    }

    @Override
    public void close() {
        server.stop(0);
        ((java.util.concurrent.ExecutorService) server.getExecutor()).shutdownNow();
    }
}
