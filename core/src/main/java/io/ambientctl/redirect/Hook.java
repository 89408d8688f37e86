package io.ambientctl.redirect;

import io.ambientctl.bpf.TcAttachment;

/** A program ambientctl attached, and the network namespace of the interface it hangs on. */
public record Hook(String netns, TcAttachment tc) {
    /** The same hook slot (namespace, interface, direction, kind, pin or priority/handle), whatever program is in it. */
    public boolean sameSlot(Hook o) {
        return netns.equals(o.netns) && tc.kind() == o.tc.kind() && tc.ifindex() == o.tc.ifindex()
                && tc.direction() == o.tc.direction() && java.util.Objects.equals(tc.linkPin(), o.tc.linkPin())
                && tc.priority() == o.tc.priority() && tc.handle() == o.tc.handle();
    }

    /**
     * This hook, remembering that an earlier attachment to the same interface (any direction or kind) created the
     * clsact qdisc there: the qdisc is ours to remove once nothing uses it, whatever kind hangs there now.
     */
    public Hook inheriting(java.util.List<Hook> earlier) {
        boolean created = tc.createdQdisc() || earlier.stream().anyMatch(h -> h.netns.equals(netns)
                && h.tc.ifindex() == tc.ifindex() && h.tc.createdQdisc());
        if (created == tc.createdQdisc()) {
            return this;
        }
        TcAttachment t = new TcAttachment(tc.kind(), tc.ifindex(), tc.direction(), tc.progId(), tc.linkId(),
                tc.linkPin(), tc.priority(), tc.handle(), true);
        return new Hook(netns, t);
    }
}
