/*
 * The seccomp filter: a deny-list with default ALLOW (docs/sandbox.md
 * section 6), compiled with libseccomp in the parent for the native and the
 * compat architecture, exported as BPF, and installed by the helper's step
 * child right after PR_SET_NO_NEW_PRIVS. Anything arriving with another
 * architecture (x32 numbers included) kills the process.
 *
 * Denials return EPERM so a step sees a plain "operation not permitted";
 * clone3, io_uring and obsolete calls return ENOSYS so libc and runtimes
 * fall back to calls we can inspect (clone flags) or live without.
 * Set-id mode bits are refused by argument (sc_mode_rules, below).
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

enum sc_class { SC_ALWAYS, SC_PTRACE };

struct sc_rule {
    const char *name;
    int err;
    enum sc_class when;
};

/* The policy table: one line per syscall, grouped as systemd's @sets. */
static const struct sc_rule sc_rules[] = {
    /* @mount: the view is built before the filter goes in */
    {"mount", EPERM, SC_ALWAYS},
    {"umount", EPERM, SC_ALWAYS},
    {"umount2", EPERM, SC_ALWAYS},
    {"pivot_root", EPERM, SC_ALWAYS},
    {"chroot", EPERM, SC_ALWAYS},
    {"fsopen", EPERM, SC_ALWAYS},
    {"fsconfig", EPERM, SC_ALWAYS},
    {"fsmount", EPERM, SC_ALWAYS},
    {"fspick", EPERM, SC_ALWAYS},
    {"move_mount", EPERM, SC_ALWAYS},
    {"open_tree", EPERM, SC_ALWAYS},
    {"mount_setattr", EPERM, SC_ALWAYS},
    /* namespaces (unshare and clone by flag, below) */
    {"setns", EPERM, SC_ALWAYS},
    /* @module, @reboot */
    {"init_module", EPERM, SC_ALWAYS},
    {"finit_module", EPERM, SC_ALWAYS},
    {"delete_module", EPERM, SC_ALWAYS},
    {"kexec_load", EPERM, SC_ALWAYS},
    {"kexec_file_load", EPERM, SC_ALWAYS},
    {"reboot", EPERM, SC_ALWAYS},
    /* @swap, @clock setters */
    {"swapon", EPERM, SC_ALWAYS},
    {"swapoff", EPERM, SC_ALWAYS},
    {"settimeofday", EPERM, SC_ALWAYS},
    {"clock_settime", EPERM, SC_ALWAYS},
    {"clock_settime64", EPERM, SC_ALWAYS},
    {"stime", EPERM, SC_ALWAYS},
    /* @keyring: not namespaced, outlives the job */
    {"add_key", EPERM, SC_ALWAYS},
    {"keyctl", EPERM, SC_ALWAYS},
    {"request_key", EPERM, SC_ALWAYS},
    /* kernel attack surface reachable without privileges */
    {"bpf", EPERM, SC_ALWAYS},
    {"perf_event_open", EPERM, SC_ALWAYS},
    {"userfaultfd", EPERM, SC_ALWAYS},
    {"open_by_handle_at", EPERM, SC_ALWAYS},
    /* @raw-io */
    {"iopl", EPERM, SC_ALWAYS},
    {"ioperm", EPERM, SC_ALWAYS},
    {"pciconfig_iobase", EPERM, SC_ALWAYS},
    {"pciconfig_read", EPERM, SC_ALWAYS},
    {"pciconfig_write", EPERM, SC_ALWAYS},
    /* host administration */
    {"acct", EPERM, SC_ALWAYS},
    {"quotactl", EPERM, SC_ALWAYS},
    {"quotactl_fd", EPERM, SC_ALWAYS},
    {"nfsservctl", EPERM, SC_ALWAYS},
    {"vhangup", EPERM, SC_ALWAYS},
    {"lookup_dcookie", EPERM, SC_ALWAYS},
    {"fanotify_init", EPERM, SC_ALWAYS},
    {"syslog", EPERM, SC_ALWAYS},
    {"sethostname", EPERM, SC_ALWAYS},
    {"setdomainname", EPERM, SC_ALWAYS},
    {"kcmp", EPERM, SC_ALWAYS},
    {"pidfd_getfd", EPERM, SC_ALWAYS},
    /* tracing: opt-in with policy->allow_ptrace */
    {"ptrace", EPERM, SC_PTRACE},
    {"process_vm_readv", EPERM, SC_PTRACE},
    {"process_vm_writev", EPERM, SC_PTRACE},
    /* ENOSYS: callers fall back to what the filter can inspect */
    {"clone3", ENOSYS, SC_ALWAYS},
    {"openat2", ENOSYS, SC_ALWAYS}, /* its mode is out of reach: sc_mode_rules */
    {"io_uring_setup", ENOSYS, SC_ALWAYS},
    {"io_uring_enter", ENOSYS, SC_ALWAYS},
    {"io_uring_register", ENOSYS, SC_ALWAYS},
    {"modify_ldt", ENOSYS, SC_ALWAYS},
    {"vm86", ENOSYS, SC_ALWAYS},
    {"vm86old", ENOSYS, SC_ALWAYS},
    {"uselib", ENOSYS, SC_ALWAYS},
    {"_sysctl", ENOSYS, SC_ALWAYS},
    {"sysfs", ENOSYS, SC_ALWAYS},
    {"ustat", ENOSYS, SC_ALWAYS},
    {"create_module", ENOSYS, SC_ALWAYS},
    {"get_kernel_syms", ENOSYS, SC_ALWAYS},
    {"query_module", ENOSYS, SC_ALWAYS},
    {"bdflush", ENOSYS, SC_ALWAYS},
};

/*
 * No set-id bits on files. A root replay binds the user's project idmapped
 * for the job slot (sandbox/README.md "Job slots"): on disk, a file a step
 * makes there belongs to the project's owner, root in CI. The mount is nosuid
 * inside the sandbox only, so a step's chmod 4755 there would leave a real
 * setuid-root binary for any host user who can reach the project. Every call
 * that takes a mode is refused (EPERM) when the mode holds S_ISUID or S_ISGID;
 * open and openat only when they create (O_CREAT, or O_TMPFILE followed by a
 * linkat), as the mode is ignored, and may be garbage, otherwise. Setgid on a
 * directory (chmod g+s, common for shared dirs) is refused as well: accepted.
 * openat2 carries its mode in a struct the filter cannot read: it gets ENOSYS
 * in the table above, and callers fall back to openat, as on kernels before
 * 5.6 (glibc's open and fopen call openat).
 */
struct sc_mode_rule {
    const char *name;
    unsigned mode_arg;
    int flags_arg; /* -1: the call always takes its mode */
};

static const struct sc_mode_rule sc_mode_rules[] = {
    /* mode changes */
    {"chmod", 1, -1},
    {"fchmod", 1, -1},
    {"fchmodat", 2, -1},
    {"fchmodat2", 2, -1}, /* where libseccomp knows it */
    /* creation with a mode: open and openat only with O_CREAT or O_TMPFILE */
    {"open", 2, 1},
    {"openat", 3, 2},
    {"creat", 1, -1},
    {"mknod", 1, -1},
    {"mknodat", 2, -1},
};

/* the kernel's __O_TMPFILE (glibc's O_TMPFILE adds O_DIRECTORY); same on x86 and arm */
#define SC_O_TMPFILE 020000000u

static const uint64_t ns_flags[] = {CLONE_NEWNS,   CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC,
                                    CLONE_NEWUSER, CLONE_NEWPID,    CLONE_NEWNET, CLONE_NEWTIME};

static uint32_t deny(const struct sb_policy *p, int err)
{
    return p->seccomp_audit ? SCMP_ACT_LOG : SCMP_ACT_ERRNO((uint32_t)err);
}

size_t sb_sc_rule_count(void)
{
    return sizeof(sc_rules) / sizeof(sc_rules[0]);
}

size_t sb_sc_mode_rule_count(void)
{
    return sizeof(sc_mode_rules) / sizeof(sc_mode_rules[0]);
}

bool sb_sc_has_rule(const char *name, int err)
{
    for (size_t i = 0; i < sb_sc_rule_count(); i++)
        if (strcmp(sc_rules[i].name, name) == 0)
            return sc_rules[i].err == err;
    return false;
}

bool sb_sc_has_mode_rule(const char *name, unsigned mode_arg)
{
    for (size_t i = 0; i < sb_sc_mode_rule_count(); i++)
        if (strcmp(sc_mode_rules[i].name, name) == 0)
            return sc_mode_rules[i].mode_arg == mode_arg;
    return false;
}

static int add_table(scmp_filter_ctx ctx, const struct sb_policy *p)
{
    for (size_t i = 0; i < sb_sc_rule_count(); i++) {
        const struct sc_rule *rule = &sc_rules[i];
        int nr = seccomp_syscall_resolve_name(rule->name);
        int r;

        if (nr == __NR_SCMP_ERROR)
            continue; /* unknown to this libseccomp on every arch */
        if (rule->when == SC_PTRACE && p->allow_ptrace)
            continue;
        r = seccomp_rule_add(ctx, deny(p, rule->err), nr, 0);
        if (r < 0 && r != -EDOM)
            return r;
    }
    return 0;
}

/* unshare/clone with any CLONE_NEW* bit: one masked rule per bit. */
static int add_ns_rules(scmp_filter_ctx ctx, const struct sb_policy *p)
{
    static const char *const calls[] = {"unshare", "clone"};

    for (size_t c = 0; c < 2; c++) {
        int nr = seccomp_syscall_resolve_name(calls[c]);

        for (size_t i = 0; i < sizeof(ns_flags) / sizeof(ns_flags[0]); i++) {
            int r = seccomp_rule_add(ctx, deny(p, EPERM), nr, 1,
                                     SCMP_A0(SCMP_CMP_MASKED_EQ, ns_flags[i], ns_flags[i]));

            if (r < 0)
                return r;
        }
    }
    return 0;
}

/* ioctl compares only the low 32 bits, as the kernel does; AF_VSOCK sockets. */
static int add_arg_rules(scmp_filter_ctx ctx, const struct sb_policy *p)
{
    static const uint64_t ioctls[] = {TIOCSTI, TIOCLINUX};
    int r = 0;

    for (size_t i = 0; r == 0 && i < 2; i++)
        r = seccomp_rule_add(ctx, deny(p, EPERM), SCMP_SYS(ioctl), 1,
                             SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, ioctls[i]));
    if (r == 0)
        r = seccomp_rule_add(ctx, deny(p, EAFNOSUPPORT), SCMP_SYS(socket), 1,
                             SCMP_A0(SCMP_CMP_EQ, AF_VSOCK));
    return r;
}

/* One rule per set-id bit (and per creating flag where the mode is optional). */
static int add_mode_rule(scmp_filter_ctx ctx, const struct sb_policy *p,
                         const struct sc_mode_rule *rule, int nr)
{
    static const uint64_t bits[] = {S_ISUID, S_ISGID};
    static const uint64_t creating[] = {O_CREAT, SC_O_TMPFILE};
    size_t nflags = rule->flags_arg < 0 ? 1 : 2;
    int r = 0;

    for (size_t b = 0; r == 0 && b < 2; b++) {
        struct scmp_arg_cmp mode = {rule->mode_arg, SCMP_CMP_MASKED_EQ, bits[b], bits[b]};

        for (size_t f = 0; r == 0 && f < nflags; f++) {
            struct scmp_arg_cmp flags = {(unsigned)rule->flags_arg, SCMP_CMP_MASKED_EQ, creating[f],
                                         creating[f]};

            if (rule->flags_arg < 0)
                r = seccomp_rule_add(ctx, deny(p, EPERM), nr, 1, mode);
            else
                r = seccomp_rule_add(ctx, deny(p, EPERM), nr, 2, mode, flags);
        }
    }
    return r;
}

static int add_mode_rules(scmp_filter_ctx ctx, const struct sb_policy *p)
{
    for (size_t i = 0; i < sb_sc_mode_rule_count(); i++) {
        int nr = seccomp_syscall_resolve_name(sc_mode_rules[i].name);
        int r;

        if (nr == __NR_SCMP_ERROR)
            continue; /* fchmodat2, to a libseccomp older than it */
        r = add_mode_rule(ctx, p, &sc_mode_rules[i], nr);
        if (r < 0 && r != -EDOM)
            return r;
    }
    return 0;
}

static int add_arches(scmp_filter_ctx ctx, const char **ret_arches)
{
    uint32_t native = seccomp_arch_native();
    uint32_t compat = 0;
    int r;

    *ret_arches = "native";
    if (native == SCMP_ARCH_X86_64) {
        compat = SCMP_ARCH_X86;
        *ret_arches = "x86_64+i386";
    } else if (native == SCMP_ARCH_AARCH64) {
        compat = SCMP_ARCH_ARM;
        *ret_arches = "aarch64+arm";
    }
    if (!compat)
        return 0;
    r = seccomp_arch_add(ctx, compat);
    return r == -EEXIST ? 0 : r;
}

static int compile(const struct sb_policy *p, int fd, const char **ret_arches)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    const char *arches = "native";
    int r;

    if (!ctx)
        return -ENOMEM;
    r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
    if (r == 0)
        r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
    if (r == 0)
        r = add_arches(ctx, &arches);
    if (r == 0)
        r = add_table(ctx, p);
    if (r == 0)
        r = add_ns_rules(ctx, p);
    if (r == 0)
        r = add_arg_rules(ctx, p);
    if (r == 0)
        r = add_mode_rules(ctx, p);
    if (r == 0)
        r = seccomp_export_bpf(ctx, fd);
    seccomp_release(ctx);
    if (r == 0 && ret_arches)
        *ret_arches = arches;
    return r;
}

/*
 * The program depends on two policy bits only, so each variant is compiled
 * once per process (libseccomp's compile is most of a job's filter cost)
 * and later jobs get a copy.
 */
struct compiled {
    char *bpf;
    size_t len;
    const char *arches;
};

static int write_all(int fd, const char *p, size_t len)
{
    while (len) {
        ssize_t n = write(fd, p, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -EIO;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int compile_cached(const struct sb_policy *p, struct compiled *c)
{
    int fd = memfd_create("gr-seccomp", MFD_CLOEXEC);
    struct stat st;
    int r;

    if (fd < 0)
        return -errno;
    r = compile(p, fd, &c->arches);
    if (r == 0 && (fstat(fd, &st) < 0 || st.st_size <= 0))
        r = -EIO;
    if (r == 0) {
        c->bpf = malloc((size_t)st.st_size);
        c->len = (size_t)st.st_size;
        if (!c->bpf)
            r = -ENOMEM;
        else if (pread(fd, c->bpf, c->len, 0) != (ssize_t)c->len)
            r = -EIO;
        if (r < 0) {
            free(c->bpf);
            c->bpf = NULL;
        }
    }
    close(fd);
    return r;
}

int sb_sc_export(const struct sb_policy *p, int fd, const char **ret_arches)
{
    static struct compiled cache[4];
    struct compiled *c = &cache[(p->allow_ptrace ? 1 : 0) | (p->seccomp_audit ? 2 : 0)];
    int r;

    if (!c->bpf) {
        r = compile_cached(p, c);
        if (r < 0)
            return r;
    }
    r = write_all(fd, c->bpf, c->len);
    if (r == 0 && ret_arches)
        *ret_arches = c->arches;
    return r;
}
