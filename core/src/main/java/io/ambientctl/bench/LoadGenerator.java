package io.ambientctl.bench;

import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import org.HdrHistogram.Histogram;
import org.HdrHistogram.Recorder;

import io.ambientctl.net.NetNs;
import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpClientCodec;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpVersion;

/**
 * An HTTP/1.1 keep-alive load (as Fortio's default) from a network namespace: {@code connections}
 * connections, each sending its next request when the previous answer arrived. With {@code qps} 0
 * as fast as possible; else at a fixed rate, latency measured from each request's intended send
 * time, so a slow answer counts for the requests it delayed (no coordinated omission). Bounded in
 * time; stops by itself.
 */
public final class LoadGenerator {
    private LoadGenerator() {
    }

    /** What a load run measured. Latency in microseconds. */
    public record Result(long requests, long errors, double seconds, Histogram latencyMicros) {
        public double qps() {
            return requests / seconds;
        }

        public double percentileMs(double p) {
            return latencyMicros.getTotalCount() == 0 ? 0 : latencyMicros.getValueAtPercentile(p) / 1000.0;
        }
    }

    public static Result run(NetNs from, InetSocketAddress target, int connections, Duration duration, int qps,
                             int requestBytes) {
        EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, from.threadFactory("load"),
                EpollIoHandler.newFactory());
        Recorder recorder = new Recorder(3);
        AtomicLong ok = new AtomicLong();
        AtomicLong errors = new AtomicLong();
        long start = System.nanoTime();
        long end = start + duration.toNanos();
        double perConnInterval = qps <= 0 ? 0 : 1e9 * connections / qps;
        CountDownLatch done = new CountDownLatch(connections);
        byte[] body = new byte[requestBytes];
        List<Channel> channels = new ArrayList<>();
        try {
            for (int c = 0; c < connections; c++) {
                Conn conn = new Conn(target, end, perConnInterval, start + (long) (perConnInterval * c / connections),
                        recorder, ok, errors, done, body);
                Bootstrap b = new Bootstrap().group(group).channel(EpollSocketChannel.class)
                        .option(ChannelOption.TCP_NODELAY, true).option(ChannelOption.CONNECT_TIMEOUT_MILLIS, 2000)
                        .handler(new ChannelInitializer<SocketChannel>() {
                            @Override
                            protected void initChannel(SocketChannel ch) {
                                ch.pipeline().addLast(new HttpClientCodec(), new HttpObjectAggregator(1 << 20), conn);
                            }
                        });
                // the socket is created by the connecting thread: connect from inside the namespace
                io.netty.channel.ChannelFuture f = from.call(() -> b.connect(target));
                f.addListener(fut -> {
                    if (!fut.isSuccess()) {
                        errors.incrementAndGet(); // could not connect: counted, and this connection is done
                        done.countDown();
                    }
                });
                channels.add(f.channel());
            }
            done.await(duration.toMillis() + 10_000, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            channels.forEach(Channel::close);
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly(3, TimeUnit.SECONDS);
        }
        double secs = Math.max(1e-9, (Math.min(System.nanoTime(), end) - start) / 1e9);
        return new Result(ok.get(), errors.get(), secs, recorder.getIntervalHistogram());
    }

    /** One keep-alive connection's request loop. */
    private static final class Conn extends SimpleChannelInboundHandler<FullHttpResponse> {
        private final InetSocketAddress target;
        private final long end;
        private final double interval;
        private final Recorder recorder;
        private final AtomicLong ok;
        private final AtomicLong errors;
        private final CountDownLatch done;
        private final byte[] body;
        private long intended;
        private long sent;
        private boolean finished;

        Conn(InetSocketAddress target, long end, double interval, long firstAt, Recorder recorder, AtomicLong ok,
             AtomicLong errors, CountDownLatch done, byte[] body) {
            this.target = target;
            this.end = end;
            this.interval = interval;
            this.intended = firstAt;
            this.recorder = recorder;
            this.ok = ok;
            this.errors = errors;
            this.done = done;
            this.body = body;
        }

        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            next(ctx);
        }

        private void next(ChannelHandlerContext ctx) {
            long now = System.nanoTime();
            if (now >= end) {
                finish(ctx);
                return;
            }
            if (interval > 0 && intended > now) {
                ctx.executor().schedule(() -> send(ctx), intended - now, TimeUnit.NANOSECONDS);
            } else {
                send(ctx);
            }
        }

        private void send(ChannelHandlerContext ctx) {
            sent = System.nanoTime();
            if (interval <= 0) {
                intended = sent;
            }
            FullHttpRequest req = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1,
                    body.length == 0 ? HttpMethod.GET : HttpMethod.POST, "/", Unpooled.wrappedBuffer(body));
            req.headers().set(HttpHeaderNames.HOST, target.getHostString());
            req.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.KEEP_ALIVE);
            req.headers().set(HttpHeaderNames.CONTENT_LENGTH, body.length);
            ctx.writeAndFlush(req);
        }

        @Override
        protected void channelRead0(ChannelHandlerContext ctx, FullHttpResponse res) {
            long now = System.nanoTime();
            if (res.status().equals(HttpResponseStatus.OK)) {
                ok.incrementAndGet();
                recorder.recordValue(Math.max(1, (now - intended) / 1000));
            } else {
                errors.incrementAndGet();
            }
            if (interval > 0) {
                intended += (long) interval;
            }
            next(ctx);
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            errors.incrementAndGet();
            finish(ctx);
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            if (!finished && System.nanoTime() < end) {
                errors.incrementAndGet(); // the connection broke under the load
            }
            finish(ctx);
        }

        private void finish(ChannelHandlerContext ctx) {
            if (!finished) {
                finished = true;
                done.countDown();
                ctx.close();
            }
        }
    }
}
