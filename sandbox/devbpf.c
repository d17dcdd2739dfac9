/*
 * The cgroup v2 device filter (docs/sandbox.md section 9): a
 * BPF_PROG_TYPE_CGROUP_DEVICE program attached to the job's cgroup that
 * allows the basic char devices and the job's GPU nodes and refuses every
 * other open and mknod of a device node with EPERM.
 *
 * No libbpf: the program is a few dozen instructions assembled here from
 * the rule table below and loaded with the raw bpf() syscall, as runc's
 * libcontainer/cgroups/devices does. The kernel calls it with
 * struct bpf_cgroup_dev_ctx: access_type = (access << 16) | type, major,
 * minor (include/uapi/linux/bpf.h); it returns 1 to allow, 0 to deny.
 *
 * Program layout:
 *   r2 = ctx->access_type & 0xffff    device type (BPF_DEVCG_DEV_*)
 *   r3 = ctx->access_type >> 16       requested access (BPF_DEVCG_ACC_*)
 *   r4 = ctx->major
 *   r5 = ctx->minor
 *   per rule: if r2 != type, or r3 has a bit the rule lacks, or r4 !=
 *   major, or r5 != minor, jump to the next rule; else return 1. Any part
 *   of a rule that matches everything emits no check.
 *   return 0
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define ACC_ALL (BPF_DEVCG_ACC_MKNOD | BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE)
#define ACC_RW (BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE)

/* What every job may use: runc's default list without its blanket mknod rules. */
static const struct sb_dev_rule base_rules[] = {
    {'c', 1, 3, ACC_ALL},    /* /dev/null */
    {'c', 1, 5, ACC_ALL},    /* /dev/zero */
    {'c', 1, 7, ACC_ALL},    /* /dev/full */
    {'c', 1, 8, ACC_ALL},    /* /dev/random */
    {'c', 1, 9, ACC_ALL},    /* /dev/urandom */
    {'c', 5, 0, ACC_ALL},    /* /dev/tty */
    {'c', 5, 2, ACC_ALL},    /* /dev/ptmx */
    {'c', 136, -1, ACC_ALL}, /* /dev/pts/N */
};

/* NVIDIA nodes of a GPU job: the control node, then the uvm and caps drivers. */
#define NVIDIA_MAJOR 195
#define NVIDIA_CTL_MINOR 255
static const char *const nvidia_drivers[] = {"nvidia-uvm", "nvidia-caps"};

static int char_major(const char *proc_devices, const char *name)
{
    FILE *f = fopen(proc_devices, "re");
    char line[256], drv[128];
    bool chars = false;
    int major = -1, m;

    while (f && major < 0 && fgets(line, sizeof(line), f)) {
        if (strncmp(line, "Character devices:", 18) == 0)
            chars = true;
        else if (strncmp(line, "Block devices:", 14) == 0)
            chars = false;
        else if (chars && sscanf(line, "%d %127s", &m, drv) == 2 && strcmp(drv, name) == 0)
            major = m;
    }
    if (f)
        fclose(f);
    return major;
}

static void add_rule(struct sb_dev_rule *out, size_t max, size_t *n, struct sb_dev_rule r)
{
    if (*n < max)
        out[*n] = r;
    (*n)++;
}

size_t sb_devbpf_rules(const struct sb_policy *p, const char *proc_devices, struct sb_dev_rule *out,
                       size_t max)
{
    size_t n = 0;

    for (size_t i = 0; i < sizeof(base_rules) / sizeof(base_rules[0]); i++)
        add_rule(out, max, &n, base_rules[i]);
    if (!p->gpu_isolate)
        return n;
    add_rule(out, max, &n, (struct sb_dev_rule){'c', NVIDIA_MAJOR, NVIDIA_CTL_MINOR, ACC_RW});
    for (size_t i = 0; i < sizeof(nvidia_drivers) / sizeof(nvidia_drivers[0]); i++) {
        int major = char_major(proc_devices, nvidia_drivers[i]);

        if (major >= 0)
            add_rule(out, max, &n, (struct sb_dev_rule){'c', major, -1, ACC_RW});
    }
    for (size_t i = 0; i < p->n_gpu_minors && i < SB_GPU_MAX; i++)
        add_rule(out, max, &n, (struct sb_dev_rule){'c', NVIDIA_MAJOR, p->gpu_minors[i], ACC_RW});
    return n;
}

/* ---- the assembler ---- */

static struct bpf_insn insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm)
{
    struct bpf_insn i;

    memset(&i, 0, sizeof(i));
    i.code = code;
    i.dst_reg = dst & 0xf;
    i.src_reg = src & 0xf;
    i.off = off;
    i.imm = imm;
    return i;
}

struct asm_b {
    struct bpf_insn *v;
    size_t n, max;
};

static void emit(struct asm_b *b, struct bpf_insn i)
{
    if (b->n < b->max)
        b->v[b->n] = i;
    b->n++;
}

static int dev_type(char t)
{
    return t == 'b' ? BPF_DEVCG_DEV_BLOCK : t == 'c' ? BPF_DEVCG_DEV_CHAR : 0;
}

/* Instructions of one rule, excluding its "return 1": one jump per check. */
static size_t rule_checks(const struct sb_dev_rule *r)
{
    return (dev_type(r->type) ? 1 : 0) + ((r->access & ACC_ALL) != ACC_ALL ? 3 : 0) +
           (r->major >= 0 ? 1 : 0) + (r->minor >= 0 ? 1 : 0);
}

/* One rule: every jump goes past this rule's "r0 = 1; exit" to the next rule. */
static void emit_rule(struct asm_b *b, const struct sb_dev_rule *r)
{
    size_t end = b->n + rule_checks(r) + 2; /* index of the next rule's first insn */

#define NEXT ((int16_t)(end - (b->n + 1)))
    if (dev_type(r->type))
        emit(b, insn(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_2, 0, NEXT, dev_type(r->type)));
    if ((r->access & ACC_ALL) != ACC_ALL) {
        emit(b, insn(BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_1, BPF_REG_3, 0, 0));
        emit(b, insn(BPF_ALU64 | BPF_AND | BPF_K, BPF_REG_1, 0, 0, (int32_t)r->access));
        emit(b, insn(BPF_JMP | BPF_JNE | BPF_X, BPF_REG_1, BPF_REG_3, NEXT, 0));
    }
    if (r->major >= 0)
        emit(b, insn(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_4, 0, NEXT, r->major));
    if (r->minor >= 0)
        emit(b, insn(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_5, 0, NEXT, r->minor));
#undef NEXT
    emit(b, insn(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 1));
    emit(b, insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
}

int sb_devbpf_build(const struct sb_dev_rule *rules, size_t n, struct bpf_insn *out, size_t max)
{
    struct asm_b b = {.v = out, .max = max};

    for (size_t i = 0; i < n; i++) {
        if ((rules[i].type != 'a' && !dev_type(rules[i].type)) || rules[i].major < -1 ||
            rules[i].minor < -1 || (rules[i].access & ~ACC_ALL) || !rules[i].access)
            return -EINVAL;
    }
    /* the context: struct bpf_cgroup_dev_ctx { access_type, major, minor } */
    emit(&b, insn(BPF_LDX | BPF_MEM | BPF_W, BPF_REG_2, BPF_REG_1, 0, 0));
    emit(&b, insn(BPF_ALU64 | BPF_AND | BPF_K, BPF_REG_2, 0, 0, 0xffff));
    emit(&b, insn(BPF_LDX | BPF_MEM | BPF_W, BPF_REG_3, BPF_REG_1, 0, 0));
    emit(&b, insn(BPF_ALU64 | BPF_RSH | BPF_K, BPF_REG_3, 0, 0, 16));
    emit(&b, insn(BPF_LDX | BPF_MEM | BPF_W, BPF_REG_4, BPF_REG_1, 4, 0));
    emit(&b, insn(BPF_LDX | BPF_MEM | BPF_W, BPF_REG_5, BPF_REG_1, 8, 0));
    for (size_t i = 0; i < n; i++)
        emit_rule(&b, &rules[i]);
    emit(&b, insn(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0));
    emit(&b, insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
    if (b.n > max || b.n > 4096)
        return -E2BIG;
    return (int)b.n;
}

/* ---- loading and attaching ---- */

static long sys_bpf(int cmd, union bpf_attr *attr)
{
    return syscall(SYS_bpf, cmd, attr, sizeof(*attr));
}

static int prog_load(const struct bpf_insn *insns, size_t n, char *log, size_t log_len)
{
    static const char license[] = "MIT";
    union bpf_attr attr;

    memset(&attr, 0, sizeof(attr));
    attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
    attr.expected_attach_type = BPF_CGROUP_DEVICE;
    attr.insns = (uint64_t)(uintptr_t)insns;
    attr.insn_cnt = (uint32_t)n;
    attr.license = (uint64_t)(uintptr_t)license;
    if (log && log_len > 1) {
        attr.log_buf = (uint64_t)(uintptr_t)log;
        attr.log_size = (uint32_t)log_len;
        attr.log_level = 1;
    }
    return (int)sys_bpf(BPF_PROG_LOAD, &attr);
}

int sb_devbpf_attach(const char *cgroup_dir, const struct bpf_insn *insns, size_t n, char *log,
                     size_t log_len)
{
    union bpf_attr attr;
    int cg, prog, r = 0;

    if (log_len)
        log[0] = '\0';
    cg = open(cgroup_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (cg < 0)
        return -errno;
    /* without a log first: a verbose log that does not fit fails the load (ENOSPC) */
    prog = prog_load(insns, n, NULL, 0);
    if (prog < 0) {
        r = -errno;
        if (r == -EACCES || r == -EINVAL) /* a verifier verdict: say why */
            (void)prog_load(insns, n, log, log_len);
        close(cg);
        return r;
    }
    memset(&attr, 0, sizeof(attr));
    attr.target_fd = (uint32_t)cg;
    attr.attach_bpf_fd = (uint32_t)prog;
    attr.attach_type = BPF_CGROUP_DEVICE;
    /* every program on the path must allow: systemd's DevicePolicy still applies */
    attr.attach_flags = BPF_F_ALLOW_MULTI;
    if (sys_bpf(BPF_PROG_ATTACH, &attr) < 0)
        r = -errno;
    /* the attachment holds the program until the cgroup is removed */
    close(prog);
    close(cg);
    return r;
}
