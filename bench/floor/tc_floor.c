// The kernel's floor for the control plane: attach and detach one BPF program as a direct-action tc
// filter (clsact) and as a TCX link on both hooks of N interfaces, from one process, with libbpf.
// Build: cc -O2 -o tc_floor tc_floor.c -lbpf ; run inside a namespace with the interfaces: tc_floor IF...
// (floor.sh makes a throw-away namespace with N veth pairs and runs it there.)
#include <errno.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef BPF_TCX_INGRESS
#define BPF_TCX_INGRESS 46
#define BPF_TCX_EGRESS 47
#endif

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    int n = argc - 1;
    if (n < 1) {
        fprintf(stderr, "usage: %s IFNAME...\n", argv[0]);
        return 2;
    }
    libbpf_set_print(NULL); /* bpf_tc_hook_create on an existing clsact qdisc logs an error: expected */
    struct bpf_insn prog[] = {
        {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = -1}, /* TC_ACT_UNSPEC */
        {.code = BPF_JMP | BPF_EXIT},
    };
    int fd = bpf_prog_load(BPF_PROG_TYPE_SCHED_CLS, "floor", "GPL", prog, 2, NULL);
    if (fd < 0) {
        fprintf(stderr, "bpf_prog_load: %s\n", strerror(-fd));
        return 1;
    }
    int *ifx = calloc(n, sizeof(int));
    for (int i = 0; i < n; i++) {
        ifx[i] = if_nametoindex(argv[i + 1]);
    }
    /* tc filters on clsact, as ambientctl attaches them (priority and handle 0xa3) */
    double t0 = now();
    for (int i = 0; i < n; i++) {
        for (int d = 0; d < 2; d++) {
            LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifx[i], .attach_point = d ? BPF_TC_EGRESS : BPF_TC_INGRESS);
            LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = fd, .handle = 0xa3, .priority = 0xa3, .flags = BPF_TC_F_REPLACE);
            int rc = bpf_tc_hook_create(&hook);
            if (rc && rc != -EEXIST) {
                fprintf(stderr, "bpf_tc_hook_create: %s\n", strerror(-rc));
                return 1;
            }
            if ((rc = bpf_tc_attach(&hook, &opts))) {
                fprintf(stderr, "bpf_tc_attach: %s\n", strerror(-rc));
                return 1;
            }
        }
    }
    double t1 = now();
    for (int i = 0; i < n; i++) {
        for (int d = 0; d < 2; d++) {
            LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifx[i], .attach_point = d ? BPF_TC_EGRESS : BPF_TC_INGRESS);
            LIBBPF_OPTS(bpf_tc_opts, opts, .handle = 0xa3, .priority = 0xa3);
            bpf_tc_detach(&hook, &opts);
        }
    }
    double t2 = now();
    /* TCX links */
    int *links = calloc(2 * n, sizeof(int));
    for (int i = 0; i < n; i++) {
        for (int d = 0; d < 2; d++) {
            links[2 * i + d] = bpf_link_create(fd, ifx[i], d ? BPF_TCX_EGRESS : BPF_TCX_INGRESS, NULL);
            if (links[2 * i + d] < 0) {
                fprintf(stderr, "bpf_link_create: %s\n", strerror(-links[2 * i + d]));
                return 1;
            }
        }
    }
    double t3 = now();
    for (int i = 0; i < 2 * n; i++) {
        close(links[i]);
    }
    double t4 = now();
    printf("{\"interfaces\": %d, \"hooks\": %d, \"tcAttachMsPerHook\": %.4f, \"tcDetachMsPerHook\": %.4f, "
           "\"tcxAttachMsPerHook\": %.3f, \"tcxCloseMsPerHook\": %.3f}\n", n, 2 * n, (t1 - t0) * 1e3 / (2 * n),
           (t2 - t1) * 1e3 / (2 * n), (t3 - t2) * 1e3 / (2 * n), (t4 - t3) * 1e3 / (2 * n));
    return 0;
}
