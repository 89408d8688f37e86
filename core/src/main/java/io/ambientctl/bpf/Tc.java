package io.ambientctl.bpf;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import io.ambientctl.bpf.sys.Layouts;
import io.ambientctl.net.TcFilter;
import io.ambientctl.net.TcFilters;
import jnr.ffi.Pointer;

/**
 * Attaches programs to the TC hooks of an interface and lists what is there. Interface indexes
 * are those of the calling thread's network namespace: call these inside {@code NetNs.call}.
 * <p>
 * TCX links are used where the kernel has them (6.6+), pinned so they outlive the process; else a
 * direct-action filter of our own priority on the clsact qdisc, which is created only when missing.
 * Nothing that ambientctl did not create is ever removed.
 */
public final class Tc {
    /** Priority and handle of ambientctl's tc filters (other agents keep theirs). */
    public static final int PRIORITY = 0xa3;
    public static final int HANDLE = 0xa3;
    private static final int BPF_TC_F_REPLACE = 1;
    private static final int BPF_TCX_LINK_TYPE = 11; // BPF_LINK_TYPE_TCX

    private Tc() {
    }

    private static volatile Boolean tcx;

    /** Whether this kernel can create TCX links (probes a link on a non-existent interface; once). */
    public static boolean tcxSupported(BpfProgram anyTcProgram) {
        Boolean known = tcx;
        if (known == null) {
            known = probeTcx(anyTcProgram);
            tcx = known;
        }
        return known;
    }

    private static boolean probeTcx(BpfProgram anyTcProgram) {
        int fd = Bpf.lib().bpf_link_create(anyTcProgram.requireFd(), 0x7ffffff0, TcDirection.INGRESS.tcxAttachType(),
                null);
        if (fd >= 0) {
            Bpf.closeFd(fd);
            return true;
        }
        return -fd == Errno.ENODEV;
    }

    /**
     * Attaches {@code prog} to the hook. {@code kind} null chooses TCX when the kernel has it.
     * TCX needs {@code linkPin}, where the link is pinned (replaced if a link of ours is pinned there).
     */
    public static TcAttachment attach(BpfProgram prog, int ifindex, TcDirection dir, AttachKind kind, Path linkPin) {
        AttachKind k = kind != null ? kind : (tcxSupported(prog) ? AttachKind.TCX : AttachKind.TC);
        return k == AttachKind.TCX ? attachTcx(prog, ifindex, dir, linkPin) : attachTc(prog, ifindex, dir);
    }

    private static TcAttachment attachTcx(BpfProgram prog, int ifindex, TcDirection dir, Path linkPin) {
        if (linkPin == null) {
            throw new IllegalArgumentException("a TCX attachment needs a pin path for its link");
        }
        String what = prog.name() + " on ifindex " + ifindex + " " + dir.label();
        int progId = prog.info().id();
        if (Files.exists(linkPin)) {
            // a link of ours is there already: keep it when it holds this program, else replace it
            TcAttachment existing = pinnedLink(linkPin, dir);
            if (existing != null && existing.progId() == progId && existing.ifindex() == ifindex) {
                return existing;
            }
            detachTcx(linkPin);
        }
        int fd = Bpf.lib().bpf_link_create(prog.requireFd(), ifindex, dir.tcxAttachType(), null);
        if (fd < 0) {
            throw new BpfException("bpf_link_create(BPF_TCX_" + dir.name() + ")", what, -fd);
        }
        try {
            int linkId = linkInfo(fd, what).getInt(Layouts.LINK_INFO_ID);
            BpfException.check(Bpf.lib().bpf_obj_pin(fd, linkPin.toString()), "bpf_obj_pin", what + " at " + linkPin);
            return new TcAttachment(AttachKind.TCX, ifindex, dir, progId, linkId, linkPin.toString(), 0, 0, false);
        } finally {
            Bpf.closeFd(fd);
        }
    }

    /** The TCX link pinned at {@code pin}, or null when the pin is not a TCX link. */
    public static TcAttachment pinnedLink(Path pin, TcDirection dir) {
        int fd = Bpf.lib().bpf_obj_get(pin.toString());
        if (fd < 0) {
            return null;
        }
        try {
            Pointer info = linkInfo(fd, pin.toString());
            if (info.getInt(Layouts.LINK_INFO_TYPE) != BPF_TCX_LINK_TYPE) {
                return null;
            }
            return new TcAttachment(AttachKind.TCX, info.getInt(Layouts.LINK_INFO_TCX_IFINDEX), dir,
                    info.getInt(Layouts.LINK_INFO_PROG_ID), info.getInt(Layouts.LINK_INFO_ID), pin.toString(), 0, 0,
                    false);
        } finally {
            Bpf.closeFd(fd);
        }
    }

    private static Pointer linkInfo(int fd, String what) {
        Pointer info = Bpf.alloc(Layouts.LINK_INFO_SIZE);
        int[] len = {Layouts.LINK_INFO_SIZE};
        BpfException.check(Bpf.lib().bpf_obj_get_info_by_fd(fd, info, len), "bpf_obj_get_info_by_fd", what);
        return info;
    }

    private static TcAttachment attachTc(BpfProgram prog, int ifindex, TcDirection dir) {
        return attachTc(prog, ifindex, dir, null);
    }

    /**
     * A tc filter on the other direction of an interface whose clsact qdisc {@link #attach} has just made sure
     * of (one netlink round trip less per interface in a batch): {@code createdQdisc} is what that attach said.
     */
    public static TcAttachment attachTcOnQdisc(BpfProgram prog, int ifindex, TcDirection dir, boolean createdQdisc) {
        return attachTc(prog, ifindex, dir, createdQdisc);
    }

    /** {@code knownQdisc} null: create the clsact qdisc when missing; else it is there (created by us or not). */
    private static TcAttachment attachTc(BpfProgram prog, int ifindex, TcDirection dir, Boolean knownQdisc) {
        String what = prog.name() + " on ifindex " + ifindex + " " + dir.label();
        Pointer hook = hook(ifindex, dir);
        boolean created;
        int rc;
        if (knownQdisc != null) {
            rc = 0;
            created = knownQdisc;
        } else {
            rc = Bpf.lib().bpf_tc_hook_create(hook);
            created = rc == 0;
            if (rc < 0 && rc != -Errno.EEXIST) {
                throw new BpfException("bpf_tc_hook_create(clsact)", what, -rc);
            }
        }
        Pointer opts = Bpf.alloc(Layouts.TC_OPTS_SIZE);
        opts.putLong(0, Layouts.TC_OPTS_SIZE);
        opts.putInt(Layouts.TC_OPTS_PROG_FD, prog.requireFd());
        opts.putInt(Layouts.TC_OPTS_FLAGS, BPF_TC_F_REPLACE);
        opts.putInt(Layouts.TC_OPTS_HANDLE, HANDLE);
        opts.putInt(Layouts.TC_OPTS_PRIORITY, PRIORITY);
        rc = Bpf.lib().bpf_tc_attach(hook, opts);
        if (rc < 0) {
            if (created && knownQdisc == null) {
                Bpf.lib().bpf_tc_hook_destroy(hook); // ours and empty: leave nothing half-done
            }
            throw new BpfException("bpf_tc_attach", what, -rc);
        }
        return new TcAttachment(AttachKind.TC, ifindex, dir, opts.getInt(Layouts.TC_OPTS_PROG_ID), 0, null, PRIORITY,
                HANDLE, created);
    }

    private static Pointer hook(int ifindex, TcDirection dir) {
        Pointer hook = Bpf.alloc(Layouts.TC_HOOK_SIZE);
        hook.putLong(0, Layouts.TC_HOOK_SIZE);
        hook.putInt(Layouts.TC_HOOK_IFINDEX, ifindex);
        hook.putInt(Layouts.TC_HOOK_ATTACH_POINT, dir.tcAttachPoint());
        return hook;
    }

    /**
     * Puts {@code prog} in place of the program of an attachment of ours, without a moment when the hook runs
     * neither (an upgrade in place): a tc filter is replaced at its own priority and handle (bpf_tc_attach with
     * BPF_TC_F_REPLACE: one RTM_NEWTFILTER with NLM_F_REPLACE), a TCX link gets the program by bpf_link_update on
     * its pin (works from any namespace). A tc filter's interface is the calling thread's namespace's. Returns the
     * attachment with the new program's id; throws when the filter or the link is not there (nothing is created).
     */
    public static TcAttachment replace(TcAttachment a, BpfProgram prog) {
        String what = prog.name() + " in place on ifindex " + a.ifindex() + " " + a.direction().label();
        int progId = prog.info().id();
        if (a.kind() == AttachKind.TCX) {
            int fd = Bpf.lib().bpf_obj_get(a.linkPin());
            if (fd < 0) {
                throw new BpfException("bpf_obj_get", "the TCX link pinned at " + a.linkPin(), -fd);
            }
            try {
                BpfException.check(Bpf.lib().bpf_link_update(fd, prog.requireFd(), null), "bpf_link_update", what);
                int linkId = linkInfo(fd, what).getInt(Layouts.LINK_INFO_ID);
                return new TcAttachment(AttachKind.TCX, a.ifindex(), a.direction(), progId, linkId, a.linkPin(), 0, 0,
                        a.createdQdisc());
            } finally {
                Bpf.closeFd(fd);
            }
        }
        try (TcFilters filters = TcFilters.open()) {
            boolean there = filters.list(a.ifindex(), parent(a.direction())).stream()
                    .anyMatch(f -> f.priority() == a.priority() && f.handle() == a.handle() && f.progId() != 0);
            if (!there) {
                throw new BpfException("bpf_tc_attach(BPF_TC_F_REPLACE)", what + ": our filter (priority "
                        + a.priority() + ", handle " + a.handle() + ") is not there", Errno.ENOENT);
            }
        }
        Pointer opts = Bpf.alloc(Layouts.TC_OPTS_SIZE);
        opts.putLong(0, Layouts.TC_OPTS_SIZE);
        opts.putInt(Layouts.TC_OPTS_PROG_FD, prog.requireFd());
        opts.putInt(Layouts.TC_OPTS_FLAGS, BPF_TC_F_REPLACE);
        opts.putInt(Layouts.TC_OPTS_HANDLE, a.handle());
        opts.putInt(Layouts.TC_OPTS_PRIORITY, a.priority());
        BpfException.check(Bpf.lib().bpf_tc_attach(hook(a.ifindex(), a.direction()), opts), "bpf_tc_attach", what);
        return new TcAttachment(AttachKind.TC, a.ifindex(), a.direction(), opts.getInt(Layouts.TC_OPTS_PROG_ID), 0,
                null, a.priority(), a.handle(), a.createdQdisc());
    }

    /** Removes what {@link #attach} made. Idempotent: an attachment already gone is fine. */
    public static void detach(TcAttachment a) {
        if (a.kind() == AttachKind.TCX) {
            detachTcx(Path.of(a.linkPin()));
            return;
        }
        detachFilter(a);
        if (a.createdQdisc()) {
            removeQdiscIfUnused(a.ifindex());
        }
    }

    /**
     * Removes many tc filters of ours (in the calling thread's namespace): each filter, then, once per
     * interface whose clsact qdisc we created, the qdisc when nobody else uses it. The first failure is thrown
     * after trying all.
     */
    public static void detachFilters(List<TcAttachment> filters, Runnable beforeEach) {
        RuntimeException first = null;
        long t = io.ambientctl.util.Trace.start();
        java.util.Set<Integer> ours = new java.util.LinkedHashSet<>();
        for (TcAttachment a : filters) {
            try {
                beforeEach.run();
                if (detachFilter(a) && a.createdQdisc()) {
                    ours.add(a.ifindex());
                }
            } catch (RuntimeException e) {
                first = first == null ? e : first;
            }
        }
        t = io.ambientctl.util.Trace.since(t, "tc: " + filters.size() + " filters detached");
        try {
            removeQdiscsIfUnused(ours);
        } catch (RuntimeException e) {
            first = first == null ? e : first;
        }
        io.ambientctl.util.Trace.since(t, "tc: " + ours.size() + " qdiscs we created looked at");
        if (first != null) {
            throw first;
        }
    }

    /** Removes our filter; false when the interface is gone. */
    private static boolean detachFilter(TcAttachment a) {
        Pointer hook = hook(a.ifindex(), a.direction());
        Pointer opts = Bpf.alloc(Layouts.TC_OPTS_SIZE);
        opts.putLong(0, Layouts.TC_OPTS_SIZE);
        opts.putInt(Layouts.TC_OPTS_HANDLE, a.handle());
        opts.putInt(Layouts.TC_OPTS_PRIORITY, a.priority());
        int rc = Bpf.lib().bpf_tc_detach(hook, opts);
        if (rc < 0 && rc != -Errno.ENOENT && rc != -Errno.EINVAL && rc != -Errno.ENODEV) {
            throw new BpfException("bpf_tc_detach", "ifindex " + a.ifindex() + " " + a.direction().label(), -rc);
        }
        return rc != -Errno.ENODEV;
    }

    /**
     * The clsact qdisc we created on the interface goes when nobody uses it (no filter, no TCX link); in the
     * calling thread's namespace; an interface that is gone is fine.
     */
    public static void removeQdiscIfUnused(int ifindex) {
        removeQdiscsIfUnused(List.of(ifindex));
    }

    /**
     * {@link #removeQdiscIfUnused} for many interfaces: their filters read over one socket, each interface's
     * TCX links asked first (a system call each), and only where there are none its two filter dumps. The
     * first failure is thrown after trying all.
     */
    public static void removeQdiscsIfUnused(java.util.Collection<Integer> ifindexes) {
        if (ifindexes.isEmpty()) {
            return;
        }
        RuntimeException first = null;
        try (TcFilters filters = TcFilters.open()) {
            for (int ifindex : ifindexes) {
                try {
                    if (queryTcx(ifindex, TcDirection.INGRESS).isEmpty() && queryTcx(ifindex, TcDirection.EGRESS)
                            .isEmpty() && filters.list(ifindex, TcFilters.INGRESS).isEmpty()
                            && filters.list(ifindex, TcFilters.EGRESS).isEmpty()) {
                        Pointer both = hook(ifindex, TcDirection.INGRESS);
                        both.putInt(Layouts.TC_HOOK_ATTACH_POINT, 3); // BPF_TC_INGRESS | BPF_TC_EGRESS
                        Bpf.lib().bpf_tc_hook_destroy(both);
                    }
                } catch (RuntimeException e) {
                    first = first == null ? e : first;
                }
            }
        }
        if (first != null) {
            throw first;
        }
    }

    /** Detaches the TCX link pinned at {@code pin} and removes the pin. */
    public static void detachTcx(Path pin) {
        int fd = Bpf.lib().bpf_obj_get(pin.toString());
        if (fd >= 0) {
            try {
                int rc = Bpf.lib().bpf_link_detach(fd);
                if (rc < 0 && rc != -Errno.ENOLINK && rc != -Errno.ENOENT) {
                    throw new BpfException("bpf_link_detach", pin.toString(), -rc);
                }
            } finally {
                Bpf.closeFd(fd);
            }
        }
        try {
            Files.deleteIfExists(pin);
        } catch (IOException e) {
            throw new BpfException("unlink", pin.toString(), Errno.EIO, e.getMessage(), null);
        }
    }

    /** The program ids of the TCX chain of the hook, in run order (one syscall; no tc filters). */
    public static List<Integer> queryTcx(int ifindex, TcDirection dir) {
        int[] ids = new int[64];
        int[] cnt = {ids.length};
        int[] flags = {0};
        int rc = Bpf.lib().bpf_prog_query(ifindex, dir.tcxAttachType(), 0, flags, ids, cnt);
        if (rc == -Errno.EINVAL || rc == -Errno.ENODEV) {
            return List.of();
        }
        BpfException.check(rc, "bpf_prog_query(BPF_TCX_" + dir.name() + ")", "ifindex " + ifindex);
        List<Integer> out = new ArrayList<>();
        for (int i = 0; i < cnt[0]; i++) {
            out.add(ids[i]);
        }
        return out;
    }

    /**
     * Every program on the hook, TCX chain first (in run order), then tc filters by priority. The tc
     * filters are read over rtnetlink (one socket, two messages), no process. Empty for an interface that
     * is gone.
     */
    public static List<AttachedProgram> query(int ifindex, TcDirection dir) {
        try (TcFilters filters = TcFilters.open()) {
            return query(filters, ifindex, dir);
        }
    }

    /**
     * {@link #query} of one hook of many interfaces over one rtnetlink socket: per interface a
     * {@code bpf_prog_query} and one netlink dump, no process. Keys in the order given; an interface that
     * is gone maps to an empty list.
     */
    public static Map<Integer, List<AttachedProgram>> queryAll(Collection<Integer> ifindexes, TcDirection dir) {
        Map<Integer, List<AttachedProgram>> out = new LinkedHashMap<>();
        try (TcFilters filters = TcFilters.open()) {
            for (int ifindex : ifindexes) {
                out.putIfAbsent(ifindex, query(filters, ifindex, dir));
            }
        }
        return out;
    }

    /** {@link #queryAll(Collection, TcDirection)} of both hooks: each list holds ingress, then egress. */
    public static Map<Integer, List<AttachedProgram>> queryAll(Collection<Integer> ifindexes) {
        Map<Integer, List<AttachedProgram>> out = new LinkedHashMap<>();
        try (TcFilters filters = TcFilters.open()) {
            for (int ifindex : ifindexes) {
                if (!out.containsKey(ifindex)) {
                    List<AttachedProgram> both = new ArrayList<>(query(filters, ifindex, TcDirection.INGRESS));
                    both.addAll(query(filters, ifindex, TcDirection.EGRESS));
                    out.put(ifindex, both);
                }
            }
        }
        return out;
    }

    private static List<AttachedProgram> query(TcFilters filters, int ifindex, TcDirection dir) {
        List<AttachedProgram> out = new ArrayList<>();
        int[] ids = new int[64];
        int[] cnt = {ids.length};
        int[] flags = {0};
        int rc = Bpf.lib().bpf_prog_query(ifindex, dir.tcxAttachType(), 0, flags, ids, cnt);
        if (rc == 0) {
            for (int i = 0; i < cnt[0]; i++) {
                ProgramInfo pi = safeInfo(ids[i]);
                out.add(new AttachedProgram(AttachKind.TCX, dir, i, 0, 0, ids[i], pi == null ? "" : pi.name(),
                        pi == null ? "" : pi.tag(), pi == null ? 0 : pi.runCount(), pi == null ? 0 : pi.runTimeNs()));
            }
        } else if (rc != -Errno.EINVAL && rc != -Errno.ENODEV) {
            throw new BpfException("bpf_prog_query(BPF_TCX_" + dir.name() + ")", "ifindex " + ifindex, -rc);
        }
        out.addAll(tcFilters(filters, ifindex, dir));
        return out;
    }

    private static int parent(TcDirection dir) {
        return dir == TcDirection.INGRESS ? TcFilters.INGRESS : TcFilters.EGRESS;
    }

    /** The eBPF tc filters of the hook, as {@code tc -j filter show dev IF ingress|egress} lists them. */
    private static List<AttachedProgram> tcFilters(TcFilters filters, int ifindex, TcDirection dir) {
        List<AttachedProgram> out = new ArrayList<>();
        for (TcFilter f : filters.list(ifindex, parent(dir))) {
            if (f.progId() == 0) {
                continue; // not an eBPF program (another classifier, classic BPF)
            }
            ProgramInfo pi = safeInfo(f.progId());
            out.add(new AttachedProgram(AttachKind.TC, dir, out.size(), f.priority(), f.handle(), f.progId(),
                    pi == null ? f.bpfName() : pi.name(), pi == null ? f.tag() : pi.tag(),
                    pi == null ? 0 : pi.runCount(), pi == null ? 0 : pi.runTimeNs()));
        }
        return out;
    }

    private static ProgramInfo safeInfo(int id) {
        try {
            return ProgramInfo.ofId(id);
        } catch (BpfException e) {
            return null; // detached meanwhile
        }
    }
}
