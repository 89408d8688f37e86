package io.ambientctl.redirect;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import com.fasterxml.jackson.annotation.JsonInclude;


/**
 * The state file's document: what ambientctl manages on this node. Mutable; {@link NodeState}
 * reads and writes it under the lock.
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public final class State {
    /** The state file's version; {@link NodeState#load} migrates older ones forward (see {@link #migrate}). */
    public static final int VERSION = 2;
    /**
     * The layout of the kernel objects this build installs (eBPF: the maps and their pins, ambient.h's
     * AMBIENT_LAYOUT; netfilter: our chains' and table's rules). Layout 1: release v0.1.0.
     */
    public static final int LAYOUT = 2;

    public int version = VERSION;
    public RedirectMode mode = RedirectMode.none;
    /** The layout of the installed mode's kernel objects; 0 while no mode is installed. */
    public int layout;
    /** The layout the last upgrade in place took this node from (null: never upgraded). */
    public Integer upgradedFrom;
    public Ztunnel ztunnel;
    public boolean dnsCapture;
    public boolean failOpen;
    /**
     * The node's mark bit (one bit; iptables and nftables modes mark with it in the node's namespace, masked by
     * itself; eBPF reads it too). A file without it reads as the default, {@link Marks#DEFAULT_NODE_BIT}.
     */
    public int markBit = Marks.DEFAULT_NODE_BIT;
    public int nextId = 1;
    public List<Workload> workloads = new ArrayList<>();
    /** eBPF mode: what we attached, by workload key ("ztunnel" for ztunnel's side). */
    public Map<String, List<Hook>> attachments = new LinkedHashMap<>();

    /**
     * Brings a state document of an older {@code version} forward to {@link #VERSION}, in place: each step
     * adds what that version introduced. 1 -> 2: the layout of what is installed (a version-1 file was written by
     * release v0.1.0, whose objects are of layout 1). Fields added with defaults need no step (a missing field
     * reads as its default).
     */
    static void migrate(com.fasterxml.jackson.databind.node.ObjectNode doc, int version) {
        if (version < 2) {
            String mode = doc.path("mode").asText("none");
            doc.put("layout", mode.equals("none") ? 0 : 1);
            doc.put("version", 2);
        }
    }

    /**
     * What in this state cannot be what ambientctl wrote (null: nothing): every recorded address is an IP literal,
     * every MAC six bytes, every network namespace a name or path '--netns' takes, every interface index positive,
     * every workload key once. Checked when the file is read, so that no mode meets a value it cannot use half-way
     * through a change: the workloads were checked when discovered (their values come from the kernel), and a
     * file edited since is refused as a whole.
     */
    public String invalid() {
        java.util.Set<String> keys = new java.util.HashSet<>();
        for (Workload w : workloads) {
            if (w == null) {
                return "a workload is null";
            }
            String key = w.netns() == null && w.namespace() == null ? "(unnamed)" : w.key();
            String why = invalid(w.netns(), w.ips(), w.podMac(), w.hostMac(), w.hostIfindex());
            if (why != null) {
                return "workload " + key + ": " + why;
            }
            if (!keys.add(key)) {
                return "workload " + key + " is recorded twice";
            }
        }
        if (ztunnel != null) {
            String why = invalid(ztunnel.netns(), ztunnel.ips(), ztunnel.podMac(), ztunnel.hostMac(),
                    ztunnel.hostIfindex());
            if (why != null) {
                return "ztunnel: " + why;
            }
        }
        return null;
    }

    private static String invalid(String netns, List<String> ips, String podMac, String hostMac, int hostIfindex) {
        if (netns == null) {
            return "no network namespace";
        }
        try {
            io.ambientctl.net.NetNs.parse(netns);
        } catch (IllegalArgumentException e) {
            return e.getMessage();
        }
        if (ips == null || ips.isEmpty()) {
            return "no address";
        }
        for (String ip : ips) {
            if (!io.ambientctl.net.IpAddrs.isLiteral(ip)) {
                return "not an IP address: '" + ip + "'";
            }
        }
        for (String mac : new String[] {podMac, hostMac}) {
            if (mac != null) {
                try {
                    io.ambientctl.net.Mac.parse(mac);
                } catch (IllegalArgumentException e) {
                    return e.getMessage();
                }
            }
        }
        if (hostIfindex <= 0) {
            return "host interface index " + hostIfindex;
        }
        return null;
    }

    /**
     * A copy that can be changed without changing this one: the fields, and new lists and maps of the same
     * workloads and hooks (records: values).
     */
    public State copy() {
        State c = new State();
        c.version = version;
        c.mode = mode;
        c.layout = layout;
        c.upgradedFrom = upgradedFrom;
        c.ztunnel = ztunnel;
        c.dnsCapture = dnsCapture;
        c.failOpen = failOpen;
        c.markBit = markBit;
        c.nextId = nextId;
        c.workloads = new ArrayList<>(workloads);
        c.attachments = new LinkedHashMap<>();
        attachments.forEach((k, v) -> c.attachments.put(k, new ArrayList<>(v)));
        return c;
    }

    public Optional<Workload> workload(String key) {
        return workloads.stream().filter(w -> w.key().equals(key)).findFirst();
    }

    public DatapathOptions options() {
        return new DatapathOptions(dnsCapture, failOpen, markBit == 0 ? Marks.DEFAULT_NODE_BIT : markBit);
    }

    /** Adds or replaces by key; a new workload gets the next id, a known one keeps its id. */
    public Workload put(Workload w) {
        Optional<Workload> old = workload(w.key());
        Workload withId = w.withId(old.map(Workload::id).orElseGet(() -> nextId++));
        int at = old.map(workloads::indexOf).orElse(-1);
        if (at >= 0) {
            workloads.set(at, withId); // keep the order
        } else {
            workloads.add(withId);
        }
        return withId;
    }

    public void remove(String key) {
        workloads.removeIf(x -> x.key().equals(key));
        attachments.remove(key);
    }
}
