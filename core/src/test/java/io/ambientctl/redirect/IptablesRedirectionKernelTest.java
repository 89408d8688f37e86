package io.ambientctl.redirect;

import java.util.List;

import io.ambientctl.bpf.AttachKind;
import io.ambientctl.redirect.iptables.Rules;

/** The redirection suite in iptables mode (ipsets, MARK + policy routing, TPROXY in ztunnel's netns). */
class IptablesRedirectionKernelTest extends RedirectionSuite {
    @Override
    AttachKind kind() {
        return null;
    }

    @Override
    RedirectMode mode() {
        return RedirectMode.iptables;
    }

    @Override
    boolean redirectedInKernel(String ip) {
        String set = ip.contains(":") ? Rules.SET6 : Rules.SET4;
        return f.lab.node().exec(List.of("ipset", "test", set, ip)).ok();
    }
}
