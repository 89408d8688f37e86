package io.ambientctl.kube;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The agent's queue of keys to reconcile. A key is in it at most once however many events name it
 * (a burst of updates is one reconciliation), the worker takes a batch at a time, and a key that
 * failed comes back after a delay that doubles up to a limit.
 */
final class WorkQueue {
    private static final Duration FIRST_RETRY = Duration.ofMillis(250);

    private final ReentrantLock lock = new ReentrantLock();
    private final Condition nonEmpty = lock.newCondition();
    private final LinkedHashSet<String> dirty = new LinkedHashSet<>();
    private final Map<String, Integer> failures = new HashMap<>();
    private final ScheduledExecutorService timer;
    private final Duration maxDelay;

    WorkQueue(ScheduledExecutorService timer, Duration maxDelay) {
        this.timer = timer;
        this.maxDelay = maxDelay;
    }

    void add(String key) {
        lock.lock();
        try {
            if (dirty.add(key)) {
                nonEmpty.signalAll();
            }
        } finally {
            lock.unlock();
        }
    }

    void addAll(Collection<String> keys) {
        keys.forEach(this::add);
    }

    /** Up to {@code max} keys, waiting up to {@code wait} for the first. */
    List<String> take(int max, Duration wait) throws InterruptedException {
        lock.lock();
        try {
            long nanos = wait.toNanos();
            while (dirty.isEmpty() && nanos > 0) {
                nanos = nonEmpty.awaitNanos(nanos);
            }
            List<String> out = new ArrayList<>();
            Iterator<String> it = dirty.iterator();
            while (it.hasNext() && out.size() < max) {
                out.add(it.next());
                it.remove();
            }
            return out;
        } finally {
            lock.unlock();
        }
    }

    /** Comes back after a delay growing with each failure; returns the delay. */
    Duration retryLater(String key) {
        Duration d;
        lock.lock();
        try {
            int n = failures.merge(key, 1, Integer::sum);
            long ms = FIRST_RETRY.toMillis() << Math.min(n - 1, 16);
            d = Duration.ofMillis(Math.min(ms, maxDelay.toMillis()));
        } finally {
            lock.unlock();
        }
        if (!timer.isShutdown()) {
            try {
                timer.schedule(() -> add(key), d.toMillis(), TimeUnit.MILLISECONDS);
            } catch (java.util.concurrent.RejectedExecutionException e) {
                // stopping
            }
        }
        return d;
    }

    /** The key succeeded: its next failure starts the delays again. */
    void forget(String key) {
        lock.lock();
        try {
            failures.remove(key);
        } finally {
            lock.unlock();
        }
    }

    int size() {
        lock.lock();
        try {
            return dirty.size();
        } finally {
            lock.unlock();
        }
    }
}
