package io.ambientctl.preflight;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import io.ambientctl.redirect.Marks;

/**
 * What other owners on the node hold that ours could collide with (pure: reads text and files, changes nothing):
 * packet-mark bits in their iptables/nftables rules and policy routing rules, our routing tables (133, 134) and
 * rule preferences (32099, 32100) taken by someone else, and istio-cni (its CNI configuration, its ISTIO_* chains,
 * ztunnel's socket directory), which owns the same label and annotation as ambientctl.
 */
public final class Coexistence {
    /** The node's rules as text: iptables-save of both families, {@code nft list ruleset}, {@code ip rule show} of both. */
    public record NodeRules(String iptables, String ip6tables, String nft, String ipRules, String ip6Rules) {
        public static final NodeRules EMPTY = new NodeRules("", "", "", "", "");
    }

    /** Where istio-cni and ztunnel leave traces: the CNI configuration directory and ztunnel's socket directory. */
    public record IstioPaths(Path cniConfDir, Path ztunnelRunDir) {
        public static final IstioPaths REAL = new IstioPaths(Path.of("/etc/cni/net.d"), Path.of("/var/run/ztunnel"));

        /** Under a fake root (tests): ROOT/etc/cni/net.d and ROOT/var/run/ztunnel. */
        public static IstioPaths under(Path root) {
            return new IstioPaths(root.resolve("etc/cni/net.d"), root.resolve("var/run/ztunnel"));
        }
    }

    // a mark option, its value and an optional mask
    private static final Pattern IPT_MARK = Pattern.compile(
            "--(mark|set-xmark|set-mark|or-mark|xor-mark|and-mark|tproxy-mark|on-mark)\\s+(0x[0-9a-fA-F]+|\\d+)"
                    + "(?:/(0x[0-9a-fA-F]+|\\d+))?");
    private static final Pattern NFT_MARK = Pattern.compile("(?:meta |ct )?mark[^;{}]*?(0x[0-9a-fA-F]+)");
    private static final Pattern HEX = Pattern.compile("0x[0-9a-fA-F]+");
    private static final Pattern RULE_MARK = Pattern.compile("fwmark (0x[0-9a-fA-F]+)(?:/(0x[0-9a-fA-F]+))?");

    private Coexistence() {
    }

    private static long num(String s) {
        return s.startsWith("0x") ? Long.parseLong(s.substring(2), 16) : Long.parseLong(s);
    }

    /** Whether an iptables-save line is ours (our chain in any table). */
    private static boolean oursIpt(String line) {
        return line.contains("AMBIENT-PREROUTING");
    }

    /** The other owners' rules (iptables-save lines, nft rule lines with their table, ip rules) that use {@code bit}. */
    public static List<String> markUsers(NodeRules r, int bit) {
        List<String> out = new ArrayList<>();
        for (String[] fam : new String[][] {{"iptables", r.iptables()}, {"ip6tables", r.ip6tables()}}) {
            String table = "";
            for (String l : fam[1].lines().toList()) {
                if (l.startsWith("*")) {
                    table = l.substring(1);
                }
                if (!l.startsWith("-A ") || oursIpt(l)) {
                    continue;
                }
                Matcher m = IPT_MARK.matcher(l);
                while (m.find()) {
                    if ((touched(m.group(1), num(m.group(2)), m.group(3) == null ? null : num(m.group(3))) & bit) != 0) {
                        out.add(fam[0] + " -t " + table + " " + l);
                        break;
                    }
                }
            }
        }
        String table = "";
        for (String l : r.nft().lines().toList()) {
            String x = l.strip();
            if (x.startsWith("table ")) {
                table = x.replace(" {", "");
                continue;
            }
            if (table.equals("table inet ambientctl") || !x.contains("mark")) {
                continue;
            }
            if (x.matches(".*mark set (0x[0-9a-fA-F]+|\\d+)\\b.*")) {
                out.add("nft " + table + ": " + x + " (sets the whole mark)");
                continue;
            }
            Matcher m = NFT_MARK.matcher(x);
            if (m.find()) {
                Matcher h = HEX.matcher(x.substring(m.start()));
                while (h.find()) {
                    if ((num(h.group()) & bit) != 0) {
                        out.add("nft " + table + ": " + x);
                        break;
                    }
                }
            }
        }
        for (String rules : List.of(r.ipRules(), r.ip6Rules())) {
            for (String l : rules.lines().toList()) {
                if (ourRule(l)) {
                    continue;
                }
                Matcher m = RULE_MARK.matcher(l);
                if (m.find()) {
                    long v = num(m.group(1));
                    long mask = m.group(2) != null ? num(m.group(2)) : 0xffffffffL;
                    if ((v & mask & bit) != 0 || (mask & bit) != 0) {
                        out.add("ip rule " + l.strip());
                    }
                }
            }
        }
        return out.stream().distinct().toList();
    }

    /**
     * The bits a mark option reads or writes: a masked match or write its mask and value, an unmasked match or set
     * every bit (the whole mark), or/xor the value's bits, and the bits an and clears.
     */
    static long touched(String option, long value, Long mask) {
        return switch (option) {
            case "or-mark", "xor-mark" -> value;
            case "and-mark" -> ~value & 0xffffffffL;
            default -> mask == null ? 0xffffffffL : (mask | value);
        };
    }

    private static boolean ourRule(String l) {
        return (l.startsWith(Marks.NODE_RULE_PREF + ":") && l.contains("lookup " + Marks.NODE_TABLE))
                || (l.startsWith(Marks.ZTUNNEL_RULE_PREF + ":") && l.contains("lookup " + Marks.ZTUNNEL_TABLE));
    }

    /** Other owners' policy routing rules that use our tables (133, 134) or our preferences (32099, 32100). */
    public static List<String> routingUsers(NodeRules r) {
        List<String> out = new ArrayList<>();
        for (String rules : List.of(r.ipRules(), r.ip6Rules())) {
            for (String l : rules.lines().toList()) {
                if (ourRule(l)) {
                    continue;
                }
                boolean table = l.matches(".*lookup (" + Marks.NODE_TABLE + "|" + Marks.ZTUNNEL_TABLE + ")\\b.*");
                boolean pref = l.startsWith(Marks.NODE_RULE_PREF + ":") || l.startsWith(Marks.ZTUNNEL_RULE_PREF + ":");
                if (table || pref) {
                    out.add("ip rule " + l.strip());
                }
            }
        }
        return out.stream().distinct().toList();
    }

    /**
     * Refuses (throws) to run a controller of the ambient label beside istio-cni unless {@code takeOver}; with it,
     * says what was found through {@code say} and returns.
     */
    public static void requireNoIstioCni(NodeRules r, IstioPaths paths, boolean takeOver,
                                         java.util.function.Consumer<String> say) {
        List<String> found = istioCni(r, paths);
        if (found.isEmpty()) {
            return;
        }
        if (!takeOver) {
            throw new IllegalStateException("istio-cni is on this node (" + String.join("; ", found) + "): it owns the "
                    + "istio.io/dataplane-mode label and the ambient.istio.io/redirection annotation too, and two "
                    + "controllers would fight over the Pods; remove istio-cni's node agent first, or run with "
                    + "--take-over to take its Pods over");
        }
        say.accept("istio-cni is on this node (" + String.join("; ", found) + "); taking its Pods over (--take-over)");
    }

    /** What says istio-cni is on this node: its CNI configuration, its chains, ztunnel's socket directory. */
    public static List<String> istioCni(NodeRules r, IstioPaths paths) {
        List<String> out = new ArrayList<>();
        if (Files.isDirectory(paths.cniConfDir())) {
            try (Stream<Path> s = Files.list(paths.cniConfDir())) {
                for (Path p : s.sorted().toList()) {
                    String name = p.getFileName().toString();
                    if (!name.endsWith(".conf") && !name.endsWith(".conflist") && !name.endsWith(".json")) {
                        continue;
                    }
                    String text;
                    try {
                        text = Files.readString(p);
                    } catch (IOException e) {
                        continue;
                    }
                    if (name.contains("istio") || text.contains("\"istio-cni\"")) {
                        out.add("CNI configuration " + p + " names istio-cni");
                    }
                }
            } catch (IOException e) {
                // unreadable: nothing to say
            }
        }
        List<String> chains = new ArrayList<>();
        Matcher m = Pattern.compile("(?m)^:(ISTIO_[A-Z0-9_-]+)").matcher(r.iptables() + "\n" + r.ip6tables());
        while (m.find()) {
            chains.add(m.group(1));
        }
        Matcher n = Pattern.compile("(?m)^\\s*chain (istio[A-Za-z0-9_-]*|ISTIO_[A-Z0-9_-]+) \\{").matcher(r.nft());
        while (n.find()) {
            chains.add(n.group(1));
        }
        if (!chains.isEmpty()) {
            out.add("istio-cni's chains: " + String.join(", ", chains.stream().distinct().toList()));
        }
        if (Files.isDirectory(paths.ztunnelRunDir())) {
            out.add("ztunnel's socket directory " + paths.ztunnelRunDir() + " (istio-cni hands Pods to an in-pod "
                    + "ztunnel through it)");
        }
        return out;
    }
}
