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
    public static final int VERSION = 1;

    public int version = VERSION;
    public RedirectMode mode = RedirectMode.none;
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
