package io.ambientctl.redirect;

import io.ambientctl.bpf.TcAttachment;

/** A program ambientctl attached, and the network namespace of the interface it hangs on. */
public record Hook(String netns, TcAttachment tc) {
}
