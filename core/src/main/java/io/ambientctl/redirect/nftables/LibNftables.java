package io.ambientctl.redirect.nftables;

import jnr.ffi.Pointer;

/**
 * Raw binding of the system's libnftables.so.1 (nftables 1.0.x, {@code nftables/libnftables.h}): C names
 * verbatim; only {@link Nftables} uses it. A context holds its own netlink socket, opened in the network
 * namespace of the thread that creates it.
 */
interface LibNftables {
    int NFT_CTX_DEFAULT = 0;

    int NFT_CTX_OUTPUT_HANDLE = 1 << 3;
    int NFT_CTX_OUTPUT_JSON = 1 << 4;

    /** {@code struct nft_ctx *nft_ctx_new(uint32_t flags)}: NULL on failure. */
    Pointer nft_ctx_new(int flags);

    void nft_ctx_free(Pointer ctx);

    int nft_ctx_output_get_flags(Pointer ctx);

    void nft_ctx_output_set_flags(Pointer ctx, int flags);

    /** Sends what the library prints to a buffer instead of stdout: 0 on success. */
    int nft_ctx_buffer_output(Pointer ctx);

    /** Sends the library's error messages to a buffer instead of stderr: 0 on success. */
    int nft_ctx_buffer_error(Pointer ctx);

    /** The buffered output since the last call (owned by the context). */
    String nft_ctx_get_output_buffer(Pointer ctx);

    /** The buffered error messages since the last call (owned by the context). */
    String nft_ctx_get_error_buffer(Pointer ctx);

    /** Runs the commands of {@code buf} (nft syntax, or JSON with the JSON flag) as one transaction: 0 on success. */
    int nft_run_cmd_from_buffer(Pointer ctx, String buf);
}
