package io.ambientctl.lab;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

import io.ambientctl.net.IpAddrs;
import io.ambientctl.net.NetNs;

/**
 * Real traffic inside the lab's namespaces: echo servers in pods, and clients that send from a
 * pod (or the node) and tell whether, and what, the other side answered.
 */
public final class Traffic {
    private Traffic() {
    }

    /** What a request came to. */
    public record Result(boolean answered, String answer, String error) {
        public static Result fail(Exception e) {
            return new Result(false, null, e.getClass().getSimpleName() + ": " + e.getMessage());
        }
    }

    /**
     * TCP and UDP echo servers in {@code ns} on every given port: each answers "NAME <the request>".
     * Close to stop them.
     */
    public static AutoCloseable echoServers(NetNs ns, String name, int... ports) {
        ExecutorService pool = Executors.newCachedThreadPool(ns.threadFactory("echo-" + name));
        List<AutoCloseable> sockets = new ArrayList<>();
        for (int port : ports) {
            ServerSocket ss = ns.call(() -> {
                ServerSocket s = new ServerSocket();
                s.setReuseAddress(true);
                s.bind(new InetSocketAddress(InetAddress.getByName("::"), port));
                return s;
            });
            DatagramSocket ds = ns.call(() -> new DatagramSocket(new InetSocketAddress(InetAddress.getByName("::"), port)));
            sockets.add(ss);
            sockets.add(ds);
            pool.submit(() -> {
                while (!ss.isClosed()) {
                    try {
                        Socket c = ss.accept();
                        pool.submit(() -> serve(c, name));
                    } catch (IOException e) {
                        return;
                    }
                }
            });
            pool.submit(() -> {
                byte[] buf = new byte[2048];
                while (!ds.isClosed()) {
                    try {
                        DatagramPacket p = new DatagramPacket(buf, buf.length);
                        ds.receive(p);
                        byte[] reply = (name + " " + new String(p.getData(), 0, p.getLength(), StandardCharsets.UTF_8))
                                .getBytes(StandardCharsets.UTF_8);
                        ds.send(new DatagramPacket(reply, reply.length, p.getSocketAddress()));
                    } catch (IOException e) {
                        return;
                    }
                }
            });
        }
        return () -> {
            for (AutoCloseable s : sockets) {
                s.close();
            }
            pool.shutdownNow();
        };
    }

    private static void serve(Socket c, String name) {
        try (c) {
            c.setSoTimeout(5000);
            InputStream in = c.getInputStream();
            OutputStream out = c.getOutputStream();
            byte[] buf = new byte[4096];
            int n;
            while ((n = in.read(buf)) > 0) {
                out.write((name + " " + new String(buf, 0, n, StandardCharsets.UTF_8)).getBytes(StandardCharsets.UTF_8));
                out.flush();
            }
        } catch (IOException e) {
            // the client went away
        }
    }

    /** Connects from {@code from} (bound to {@code sourceIp} when given), sends {@code message}, reads the answer. */
    public static Result tcp(NetNs from, String sourceIp, String dstIp, int port, String message, Duration timeout) {
        return from.call(() -> {
            try (Socket s = new Socket()) {
                if (sourceIp != null) {
                    s.bind(new InetSocketAddress(IpAddrs.parse(sourceIp), 0));
                }
                s.connect(new InetSocketAddress(IpAddrs.parse(dstIp), port), (int) timeout.toMillis());
                s.setSoTimeout((int) timeout.toMillis());
                s.getOutputStream().write(message.getBytes(StandardCharsets.UTF_8));
                s.getOutputStream().flush();
                byte[] buf = new byte[4096];
                int n = s.getInputStream().read(buf);
                return new Result(n > 0, n > 0 ? new String(buf, 0, n, StandardCharsets.UTF_8) : "", null);
            } catch (IOException e) {
                return Result.fail(e);
            }
        });
    }

    /** Sends one datagram from {@code from} and waits for one answer. */
    public static Result udp(NetNs from, String dstIp, int port, String message, Duration timeout) {
        return from.call(() -> {
            try (DatagramSocket s = new DatagramSocket()) {
                s.setSoTimeout((int) timeout.toMillis());
                InetSocketAddress to = new InetSocketAddress(IpAddrs.parse(dstIp), port);
                s.connect(to);
                byte[] d = message.getBytes(StandardCharsets.UTF_8);
                s.send(new DatagramPacket(d, d.length, to));
                byte[] buf = new byte[2048];
                DatagramPacket p = new DatagramPacket(buf, buf.length);
                s.receive(p);
                return new Result(true, new String(p.getData(), 0, p.getLength(), StandardCharsets.UTF_8), null);
            } catch (SocketTimeoutException e) {
                return new Result(false, null, "no answer within " + timeout.toMillis() + " ms");
            } catch (IOException e) {
                return Result.fail(e);
            }
        });
    }
}
