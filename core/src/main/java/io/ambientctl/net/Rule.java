package io.ambientctl.net;

/**
 * A policy routing rule as the kernel reports it (RTM_GETRULE): its family (AF_INET 2, AF_INET6 10), the
 * fwmark and mask it matches (0 and 0 when none), the table it looks up and its priority.
 */
public record Rule(int family, long fwmark, long fwmask, int table, int priority) {
    /** Whether it is {@code fwmark MARK/MASK lookup TABLE}, as {@code ip rule} writes it ("0x111/0xfff"). */
    public boolean matches(String markSlashMask, int lookupTable) {
        String[] mm = markSlashMask.split("/");
        long mark = Long.decode(mm[0]);
        long mask = mm.length > 1 ? Long.decode(mm[1]) : 0xffffffffL;
        return fwmark == mark && fwmask == mask && table == lookupTable;
    }
}
