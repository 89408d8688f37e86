package io.ambientctl.cli;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** monitor and explain refuse what they cannot mean, before touching the node (exit 2, the reason said). */
class ObserveCliTest {
    static MainTest.Run run(String... args) {
        String[] all = new String[args.length + 2];
        all[0] = "--state-dir";
        all[1] = "/nonexistent-ambientctl-observe";
        System.arraycopy(args, 0, all, 2, args.length);
        return MainTest.run(all);
    }

    static void usage(String expected, String... args) {
        MainTest.Run r = run(args);
        assertThat(r.code()).as(String.join(" ", args) + ": " + r.err()).isEqualTo(ExitCode.USAGE);
        assertThat(r.err()).contains(expected);
    }

    @Test
    void explainNeedsOneSourceAndAnAddrPortDestination() {
        usage("--to", "explain", "--netns", "x");
        usage("name the source", "explain", "--to", "10.0.0.1:80");
        usage("name the source", "explain", "default/web", "--ip", "10.0.0.1", "--to", "10.0.0.2:80");
        usage("-n/--namespace goes with a POD", "explain", "-n", "x", "--ip", "10.0.0.1", "--to", "10.0.0.2:80");
        usage("not both", "explain", "ns/web", "-n", "ns", "--to", "10.0.0.2:80");
        usage("ADDR:PORT", "explain", "--ip", "10.0.0.1", "--to", "10.0.0.2");
        usage("ADDR:PORT", "explain", "--ip", "10.0.0.1", "--to", "fd00::1:80");
        usage("[IPV6]:PORT", "explain", "--ip", "10.0.0.1", "--to", "[fd00::1]80");
        usage("brackets", "explain", "--ip", "10.0.0.1", "--to", "[10.0.0.2]:80");
        usage("1..65535", "explain", "--ip", "10.0.0.1", "--to", "10.0.0.2:0");
        usage("1..65535", "explain", "--ip", "10.0.0.1", "--to", "10.0.0.2:http");
        usage("IPv4 or IPv6 address", "explain", "--ip", "web", "--to", "10.0.0.2:80");
        usage("IPv4 or IPv6 address", "explain", "--ip", "10.0.0.1", "--to", "web:80");
    }

    @Test
    void monitorFiltersAreChecked() {
        usage("tcp or udp", "monitor", "--proto", "icmp");
        usage("not both", "monitor", "--pod", "default/web", "--netns", "x");
        usage("not yaml", "monitor", "-o", "yaml");
        usage("positive", "monitor", "--count", "-1");
    }

    @Test
    void helpSaysTheLimitTheLeaseAndWhatTheOtherModesGive() {
        MainTest.Run r = MainTest.run("monitor", "--help");
        assertThat(r.code()).isZero();
        String help = r.out().replaceAll("\\s+", " ");
        assertThat(help).contains("at most 100 per CPU and second").contains("now+3 s").contains("iptables and nftables")
                .contains("NFLOG group 1134").contains("not listening").contains("No --every-packet");
        r = MainTest.run("explain", "--help");
        assertThat(r.out().replaceAll("\\s+", " ")).contains("no counter moves").contains("BPF_PROG_TEST_RUN");
    }
}
