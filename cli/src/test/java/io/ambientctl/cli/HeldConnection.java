package io.ambientctl.cli;

import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import io.ambientctl.net.IpAddrs;
import io.ambientctl.net.NetNs;

/**
 * A TCP connection to the lab's echo server (port 8080), opened in a Pod's namespace and held open through an
 * operation (an upgrade), talking every 200 ms throughout (the echo server hangs up after 5 s idle): what a
 * long-lived connection of a workload sees of it. {@link #stop} says what went wrong, if anything.
 */
final class HeldConnection implements AutoCloseable {
    private final Socket socket;
    private final AtomicInteger exchanges = new AtomicInteger();
    private final AtomicBoolean stop = new AtomicBoolean();
    private CompletableFuture<String> talk;

    private HeldConnection(Socket socket) {
        this.socket = socket;
    }

    /** Connects from {@code from} to {@code ip}:8080 and checks one exchange (not talking yet: {@link #talk}). */
    static HeldConnection open(NetNs from, String ip) throws Exception {
        HeldConnection c = new HeldConnection(from.call(() -> {
            Socket s = new Socket();
            s.connect(new InetSocketAddress(IpAddrs.parse(ip), 8080), 2000);
            s.setSoTimeout(5000);
            return s;
        }));
        return c;
    }

    /** One exchange: sends {@code message}, returns the answer. */
    String echo(String message) throws Exception {
        OutputStream out = socket.getOutputStream();
        out.write(message.getBytes(StandardCharsets.UTF_8));
        out.flush();
        InputStream in = socket.getInputStream();
        byte[] buf = new byte[256];
        int n = in.read(buf);
        return n > 0 ? new String(buf, 0, n, StandardCharsets.UTF_8) : "";
    }

    /** Starts talking every 200 ms, in the background. */
    HeldConnection talk() {
        talk = CompletableFuture.supplyAsync(() -> {
            try {
                while (!stop.get()) {
                    String m = "tick" + exchanges.get();
                    String answer = echo(m);
                    if (!answer.contains(m)) {
                        return "exchange " + exchanges.get() + " answered '" + answer + "'";
                    }
                    exchanges.incrementAndGet();
                    Thread.sleep(200);
                }
                return null;
            } catch (Exception e) {
                return "exchange " + exchanges.get() + ": " + e;
            }
        });
        return this;
    }

    /** Exchanges answered so far. */
    int exchanges() {
        return exchanges.get();
    }

    /** Stops talking; what went wrong (a wrong answer, a reset, a timeout), or null when every exchange was answered. */
    String stop() throws Exception {
        stop.set(true);
        return talk == null ? null : talk.get();
    }

    @Override
    public void close() throws Exception {
        stop.set(true);
        socket.close();
    }
}
