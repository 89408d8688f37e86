package io.ambientctl.testing;

import java.util.List;

import io.ambientctl.net.NetNs;
import io.ambientctl.util.Exec;

/**
 * What other owners install on a real node, put into a lab's node namespace: kube-proxy's Service NAT in its
 * iptables form (KUBE-SERVICES DNAT of a ClusterIP to a pod, jumped to from nat PREROUTING and OUTPUT, its
 * 0x4000 masquerade mark and KUBE-POSTROUTING, and its {@code --ctstate INVALID -j DROP} in FORWARD) or its
 * nftables form (a {@code kube-proxy} table with its own nat prerouting/output hooks), a container engine's
 * masquerade by mark 0x2000 (as podman's netavark installs), and another owner's policy routing rules.
 */
public final class CrowdedNode {
    public static final String VIP = "10.96.0.10";
    /** The nftables flavour's ClusterIP when both flavours are on one node. */
    public static final String VIP2 = "10.96.0.20";
    public static final int VIP_PORT = 80;
    public static final String NFT_TABLE = "kube-proxy";

    private CrowdedNode() {
    }

    private static void run(NetNs node, String... cmd) {
        Exec.Result r = node.exec(List.of(cmd));
        if (!r.ok()) {
            throw new IllegalStateException(String.join(" ", cmd) + ": " + r.stderr());
        }
    }

    /** kube-proxy's iptables mode, one Service (VIP:80 -> backend:8080). */
    public static void kubeProxyIptables(NetNs node, String backend) {
        String rules = String.join("\n",
                "*nat",
                ":KUBE-SERVICES - [0:0]",
                ":KUBE-SVC-TEST - [0:0]",
                ":KUBE-SEP-TEST - [0:0]",
                ":KUBE-MARK-MASQ - [0:0]",
                ":KUBE-POSTROUTING - [0:0]",
                "-A KUBE-SERVICES -d " + VIP + "/32 -p tcp -m tcp --dport " + VIP_PORT + " -j KUBE-SVC-TEST",
                "-A KUBE-SVC-TEST ! -s 10.77.0.0/16 -d " + VIP + "/32 -p tcp --dport " + VIP_PORT
                        + " -j KUBE-MARK-MASQ",
                "-A KUBE-SVC-TEST -j KUBE-SEP-TEST",
                "-A KUBE-SEP-TEST -s " + backend + "/32 -j KUBE-MARK-MASQ",
                "-A KUBE-SEP-TEST -p tcp -m tcp -j DNAT --to-destination " + backend + ":8080",
                "-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000",
                "-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN",
                "-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000",
                "-A KUBE-POSTROUTING -j MASQUERADE",
                "-I PREROUTING 1 -j KUBE-SERVICES",
                "-I OUTPUT 1 -j KUBE-SERVICES",
                "-I POSTROUTING 1 -j KUBE-POSTROUTING",
                "COMMIT",
                "*filter",
                ":KUBE-FORWARD - [0:0]",
                "-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP",
                "-A KUBE-FORWARD -m mark --mark 0x4000/0x4000 -j ACCEPT",
                "-I FORWARD 1 -j KUBE-FORWARD",
                "COMMIT", "");
        node.call(() -> Exec.run(List.of("iptables-nft-restore", "--noflush"), rules).check());
    }

    /** kube-proxy's iptables re-sync at its harshest: its jumps deleted and inserted again at the top. */
    public static void resyncIptables(NetNs node) {
        for (String chain : List.of("PREROUTING", "OUTPUT")) {
            run(node, "iptables-nft", "-t", "nat", "-D", chain, "-j", "KUBE-SERVICES");
            run(node, "iptables-nft", "-t", "nat", "-I", chain, "1", "-j", "KUBE-SERVICES");
        }
    }

    /** kube-proxy's nftables mode, one Service (VIP:80 -> backend:8080). */
    public static void kubeProxyNftables(NetNs node, String backend) {
        kubeProxyNftables(node, backend, VIP);
    }

    /** kube-proxy's nftables mode, one Service ({@code vip}:80 -> backend:8080). */
    public static void kubeProxyNftables(NetNs node, String backend, String vip) {
        String table = String.join("\n",
                "table ip " + NFT_TABLE + " {",
                " chain mark-for-masquerade { meta mark set meta mark | 0x4000; }",
                " chain masquerading { meta mark & 0x4000 == 0 return; meta mark set meta mark ^ 0x4000; masquerade; }",
                " chain services { ip daddr . meta l4proto . th dport vmap { " + vip + " . tcp . " + VIP_PORT
                        + " : goto service-test }; }",
                " chain service-test { ip saddr != 10.77.0.0/16 jump mark-for-masquerade; goto endpoint-test; }",
                " chain endpoint-test { ip saddr " + backend + " jump mark-for-masquerade; meta l4proto tcp dnat to "
                        + backend + ":8080; }",
                " chain filter-forward { type filter hook forward priority -110; ct state invalid drop; }",
                " chain nat-prerouting { type nat hook prerouting priority dstnat; jump services; }",
                " chain nat-output { type nat hook output priority -100; jump services; }",
                " chain nat-postrouting { type nat hook postrouting priority srcnat; jump masquerading; }",
                "}", "");
        node.call(() -> Exec.run(List.of("nft", "-f", "-"), table).check());
    }

    /** kube-proxy's nftables re-sync: its hook chains flushed and their jumps added again. */
    public static void resyncNftables(NetNs node) {
        String again = "flush chain ip " + NFT_TABLE + " nat-prerouting\nflush chain ip " + NFT_TABLE + " nat-output\n"
                + "add rule ip " + NFT_TABLE + " nat-prerouting jump services\nadd rule ip " + NFT_TABLE
                + " nat-output jump services\n";
        node.call(() -> Exec.run(List.of("nft", "-f", "-"), again).check());
    }

    /** A container engine's masquerade by mark (podman/netavark's rule) and another owner's policy routing. */
    public static void engineAndRouting(NetNs node) {
        run(node, "iptables-nft", "-t", "nat", "-A", "POSTROUTING", "-m", "mark", "--mark", "0x2000/0x2000", "-j",
                "MASQUERADE");
        run(node, "ip", "route", "add", "blackhole", "default", "table", "200");
        run(node, "ip", "rule", "add", "fwmark", "0x80/0x80", "lookup", "200", "pref", "600");
        run(node, "ip", "rule", "add", "to", "10.200.0.0/16", "lookup", "200", "pref", "500");
        run(node, "ip", "-6", "rule", "add", "fwmark", "0x80/0x80", "lookup", "200", "pref", "600");
    }

    /** What the other owners hold in the node's namespace, to compare before and after. */
    public static String snapshot(NetNs node) {
        return node.call(() -> String.join("\n--\n",
                strip(Exec.run(List.of("iptables-nft-save")).stdout()),
                strip(Exec.run(List.of("ip6tables-nft-save")).stdout()),
                Exec.run(List.of("nft", "list", "table", "ip", NFT_TABLE)).stdout(),
                Exec.run(List.of("ip", "-4", "rule", "show")).stdout(),
                Exec.run(List.of("ip", "-6", "rule", "show")).stdout(),
                Exec.run(List.of("ip", "route", "show", "table", "200")).stdout()));
    }

    /**
     * iptables-save's rules and user chains, each with its table (an empty built-in table, as the nft backend
     * leaves one once its last rule went, holds nothing of anyone's).
     */
    private static String strip(String save) {
        StringBuilder sb = new StringBuilder();
        String table = "";
        for (String l : save.lines().toList()) {
            if (l.startsWith("*")) {
                table = l.substring(1);
            } else if (l.startsWith("-A ") || (l.startsWith(":") && l.contains(" - ["))) {
                sb.append(table).append(' ').append(l.replaceAll("\\[\\d+:\\d+\\]", "[0:0]")).append('\n');
            }
        }
        return sb.toString();
    }
}
