package io.ambientctl.lab;

import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

import io.ambientctl.net.IpAddrs;
import io.ambientctl.net.NetNs;
import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.epoll.EpollChannelOption;
import io.netty.channel.epoll.EpollDatagramChannel;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.socket.DatagramPacket;
import io.netty.channel.socket.SocketChannel;

/**
 * A ztunnel stand-in for the lab: transparent (IP_TRANSPARENT) listeners on 15001 (outbound),
 * 15006 (inbound plaintext) and 15008 (inbound HBONE) that record each connection's source and
 * original destination (the accepted socket's local address) and proxy it on to that destination,
 * so clients still get their answer; transparent UDP on 15001 and 15053 (DNS) that records each
 * datagram, and answers DNS from the original destination. Its sockets live in ztunnel's netns.
 */
public final class ZtunnelStandIn implements AutoCloseable {
    public static final int[] TCP_PORTS = {15001, 15006, 15008};
    public static final int[] UDP_PORTS = {15001, 15053};

    /** One captured connection or datagram. */
    public record Capture(String protocol, int port, String source, String originalDestination, long atMillis) {
        /** The original destination's address without the port. */
        public String destinationIp() {
            return originalDestination.substring(0, originalDestination.lastIndexOf(':')).replace("[", "")
                    .replace("]", "");
        }

        public int destinationPort() {
            return Integer.parseInt(originalDestination.substring(originalDestination.lastIndexOf(':') + 1));
        }
    }

    private final EventLoopGroup group;
    private final List<Channel> listeners = new ArrayList<>();
    private final List<Capture> captures = new CopyOnWriteArrayList<>();
    private final Consumer<Capture> onCapture;

    private ZtunnelStandIn(NetNs ns, Consumer<Capture> onCapture) {
        this.onCapture = onCapture;
        this.group = new MultiThreadIoEventLoopGroup(2, ns.threadFactory("ztunnel"), EpollIoHandler.newFactory());
    }

    /** Starts the listeners inside {@code ns}. */
    public static ZtunnelStandIn start(NetNs ns, Consumer<Capture> onCapture) {
        ZtunnelStandIn z = new ZtunnelStandIn(ns, onCapture);
        try {
            ns.run(z::bindAll); // sockets are created by the binding thread: bind from inside the netns
        } catch (RuntimeException e) {
            z.close();
            throw e;
        } catch (Exception e) {
            z.close();
            throw new IllegalStateException("ztunnel stand-in: " + e.getMessage(), e);
        }
        return z;
    }

    private void bindAll() throws InterruptedException {
        for (int port : TCP_PORTS) {
            final int p = port;
            ServerBootstrap b = new ServerBootstrap().group(group).channel(EpollServerSocketChannel.class)
                    .option(EpollChannelOption.IP_TRANSPARENT, true)
                    .option(ChannelOption.SO_REUSEADDR, true)
                    .childOption(ChannelOption.AUTO_READ, false)
                    .childOption(ChannelOption.TCP_NODELAY, true)
                    .childHandler(new ChannelInitializer<SocketChannel>() {
                        @Override
                        protected void initChannel(SocketChannel ch) {
                            ch.pipeline().addLast(new Frontend(p));
                        }
                    });
            listeners.add(b.bind(new InetSocketAddress("::", port)).sync().channel());
        }
        for (int port : UDP_PORTS) {
            final int p = port;
            Bootstrap b = new Bootstrap().group(group).channel(EpollDatagramChannel.class)
                    .option(EpollChannelOption.IP_TRANSPARENT, true)
                    .option(EpollChannelOption.IP_RECVORIGDSTADDR, true)
                    .handler(new Datagrams(p));
            listeners.add(b.bind(new InetSocketAddress("::", port)).sync().channel());
        }
    }

    /**
     * A plain (non-transparent) listener on {@code port} that proxies every connection to
     * {@code upstream}: the "client connects to the proxy explicitly" path, the floor of any proxied
     * path. Its connections are recorded like the captured ones.
     */
    public void explicitProxy(NetNs ns, int port, InetSocketAddress upstream) {
        ns.run(() -> {
            ServerBootstrap b = new ServerBootstrap().group(group).channel(EpollServerSocketChannel.class)
                    .option(ChannelOption.SO_REUSEADDR, true)
                    .childOption(ChannelOption.AUTO_READ, false)
                    .childOption(ChannelOption.TCP_NODELAY, true)
                    .childHandler(new ChannelInitializer<SocketChannel>() {
                        @Override
                        protected void initChannel(SocketChannel ch) {
                            ch.pipeline().addLast(new Frontend(port, upstream));
                        }
                    });
            listeners.add(b.bind(new InetSocketAddress("::", port)).sync().channel());
        });
    }

    public List<Capture> captures() {
        return List.copyOf(captures);
    }

    public void clear() {
        captures.clear();
    }

    private void record(String proto, int port, InetSocketAddress src, InetSocketAddress dst) {
        Capture c = new Capture(proto, port, format(src), format(dst), System.currentTimeMillis());
        captures.add(c);
        if (onCapture != null) {
            onCapture.accept(c);
        }
    }

    static String format(InetSocketAddress a) {
        String ip = IpAddrs.format(a.getAddress());
        return (ip.contains(":") ? "[" + ip + "]" : ip) + ":" + a.getPort();
    }

    /** The accepted side: record, connect to the original destination, relay both ways. */
    private final class Frontend extends ChannelInboundHandlerAdapter {
        private final int port;
        private final InetSocketAddress fixed; // null: the original destination
        private Channel outbound;

        Frontend(int port) {
            this(port, null);
        }

        Frontend(int port, InetSocketAddress fixed) {
            this.port = port;
            this.fixed = fixed;
        }

        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            Channel in = ctx.channel();
            InetSocketAddress orig = fixed != null ? fixed : (InetSocketAddress) in.localAddress();
            record("tcp", port, (InetSocketAddress) in.remoteAddress(), orig);
            Bootstrap b = new Bootstrap().group(in.eventLoop()).channel(EpollSocketChannel.class)
                    .option(ChannelOption.AUTO_READ, false).option(ChannelOption.CONNECT_TIMEOUT_MILLIS, 3000)
                    .handler(new Backend(in));
            var f = b.connect(orig);
            outbound = f.channel();
            f.addListener((ChannelFutureListener) done -> {
                if (done.isSuccess()) {
                    in.read();
                } else {
                    in.close();
                }
            });
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            relay(ctx, outbound, msg);
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            closeOnFlush(outbound);
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            closeOnFlush(ctx.channel());
        }
    }

    private static final class Backend extends ChannelInboundHandlerAdapter {
        private final Channel inbound;

        Backend(Channel inbound) {
            this.inbound = inbound;
        }

        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            ctx.read();
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            relay(ctx, inbound, msg);
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            closeOnFlush(inbound);
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            closeOnFlush(ctx.channel());
        }
    }

    /** Writes what one side read to the other, and reads the next once it is written (back-pressure). */
    static void relay(ChannelHandlerContext ctx, Channel to, Object msg) {
        if (to == null || !to.isActive()) {
            io.netty.util.ReferenceCountUtil.release(msg); // the other side is gone: drop it, don't leak it
            return;
        }
        to.writeAndFlush(msg).addListener((ChannelFutureListener) f -> {
            if (f.isSuccess()) {
                ctx.channel().read();
            } else {
                f.channel().close();
            }
        });
    }

    static void closeOnFlush(Channel ch) {
        if (ch != null && ch.isActive()) {
            ch.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
        }
    }

    /** UDP: record; on the DNS port answer from the original destination ("ztunnel-dns:" + query). */
    private final class Datagrams extends SimpleChannelInboundHandler<DatagramPacket> {
        private final int port;

        Datagrams(int port) {
            this.port = port;
        }

        @Override
        protected void channelRead0(ChannelHandlerContext ctx, DatagramPacket pkt) {
            InetSocketAddress orig = pkt.recipient();
            record("udp", port, pkt.sender(), orig);
            if (port != 15053 || orig == null || orig.getPort() == port) {
                return;
            }
            ByteBuf reply = Unpooled.copiedBuffer("ztunnel-dns:", StandardCharsets.UTF_8)
                    .writeBytes(pkt.content(), pkt.content().readerIndex(), pkt.content().readableBytes());
            InetSocketAddress to = pkt.sender();
            new Bootstrap().group(ctx.channel().eventLoop()).channel(EpollDatagramChannel.class)
                    .option(EpollChannelOption.IP_TRANSPARENT, true).option(ChannelOption.SO_REUSEADDR, true)
                    .handler(new ChannelInboundHandlerAdapter())
                    .bind(orig).addListener((ChannelFutureListener) bound -> {
                        if (!bound.isSuccess()) {
                            reply.release();
                            return;
                        }
                        bound.channel().writeAndFlush(new DatagramPacket(reply, to))
                                .addListener(ChannelFutureListener.CLOSE);
                    });
        }
    }

    @Override
    public void close() {
        for (Channel c : listeners) {
            c.close().awaitUninterruptibly(2, TimeUnit.SECONDS);
        }
        group.shutdownGracefully(0, 2, TimeUnit.SECONDS).awaitUninterruptibly(5, TimeUnit.SECONDS);
    }
}
