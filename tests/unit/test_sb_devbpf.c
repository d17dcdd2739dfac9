/*
 * The cgroup v2 device filter (sandbox/devbpf.c): the rule table of a job,
 * the assembled program (instruction count, encoding of one rule), what the
 * program decides, run through a small interpreter of the instructions the
 * assembler emits, and, where the kernel permits (root, a cgroup2 mount,
 * bpf()), the program attached to a real cgroup: a child in it opening a
 * char device that is not allowed gets EPERM, an allowed fake GPU node
 * without a driver (major 195) gets ENXIO, /dev/null opens.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../sandbox/internal.h" /* executor/ has an internal.h too */

#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#define R BPF_DEVCG_ACC_READ
#define W BPF_DEVCG_ACC_WRITE
#define M BPF_DEVCG_ACC_MKNOD

/* ---- an interpreter for the subset the assembler emits ---- */

static int run_prog(const struct bpf_insn *p, int n, int type, int access, int major, int minor)
{
    uint32_t ctx[3] = {(uint32_t)(access << 16 | type), (uint32_t)major, (uint32_t)minor};
    uint64_t r[11] = {0};

    for (int pc = 0; pc >= 0 && pc < n; pc++) {
        const struct bpf_insn *i = &p[pc];
        uint64_t src = BPF_SRC(i->code) == BPF_X ? r[i->src_reg] : (uint64_t)(int64_t)i->imm;

        switch (BPF_CLASS(i->code)) {
        case BPF_LDX:
            assert_int_equal(i->code, BPF_LDX | BPF_MEM | BPF_W);
            assert_int_equal(i->src_reg, BPF_REG_1);
            assert_true(i->off >= 0 && i->off <= 8 && i->off % 4 == 0);
            r[i->dst_reg] = ctx[i->off / 4];
            break;
        case BPF_ALU64:
            if (BPF_OP(i->code) == BPF_MOV)
                r[i->dst_reg] = src;
            else if (BPF_OP(i->code) == BPF_AND)
                r[i->dst_reg] &= src;
            else if (BPF_OP(i->code) == BPF_RSH)
                r[i->dst_reg] >>= src;
            else
                fail_msg("unexpected alu op %#x at %d", i->code, pc);
            break;
        case BPF_JMP:
            if (BPF_OP(i->code) == BPF_EXIT)
                return (int)r[0];
            assert_int_equal(BPF_OP(i->code), BPF_JNE);
            assert_true(i->off >= 0); /* forward only: no loops */
            if (r[i->dst_reg] != src)
                pc += i->off;
            break;
        default:
            fail_msg("unexpected class %#x at %d", i->code, pc);
        }
    }
    fail_msg("ran off the program");
    return -1;
}

static const struct sb_policy gpu_policy = {
    .gpu_isolate = true, .gpu_minors = {2, 5}, .n_gpu_minors = 2};

static char proc_devices[64];

static int setup(void **state)
{
    FILE *f;

    snprintf(proc_devices, sizeof(proc_devices), "/tmp/gr-devbpf-%ld", (long)getpid());
    f = fopen(proc_devices, "we");
    if (!f)
        return -1;
    fputs("Character devices:\n  1 mem\n195 nvidia-frontend\n508 nvidia-uvm\n"
          "509 nvidia-caps\n\nBlock devices:\n  7 nvidia-uvm\n",
          f);
    fclose(f);
    (void)state;
    return 0;
}

static int teardown(void **state)
{
    (void)unlink(proc_devices);
    (void)state;
    return 0;
}

static void test_rule_table(void **state)
{
    struct sb_dev_rule rules[64];
    struct sb_policy plain = {0};
    size_t n = sb_devbpf_rules(&plain, proc_devices, rules, 64);

    /* null zero full random urandom tty ptmx pts */
    assert_int_equal(n, 8);
    assert_int_equal(rules[7].major, 136);
    assert_int_equal(rules[7].minor, -1);
    n = sb_devbpf_rules(&gpu_policy, proc_devices, rules, 64);
    /* + nvidiactl, nvidia-uvm (the char major, not the block one), nvidia-caps, 2 leases */
    assert_int_equal(n, 13);
    assert_int_equal(rules[8].major, 195);
    assert_int_equal(rules[8].minor, 255);
    assert_int_equal(rules[9].major, 508);
    assert_int_equal(rules[10].major, 509);
    assert_int_equal(rules[11].minor, 2);
    assert_int_equal(rules[12].minor, 5);
    assert_int_equal(rules[12].access, R | W);
    /* a short array gets the count it needed, nothing written past it */
    assert_int_equal(sb_devbpf_rules(&gpu_policy, proc_devices, rules, 3), 13);
    (void)state;
}

static void test_encoding(void **state)
{
    const struct sb_dev_rule one[] = {{'c', 195, 2, R | W}};
    const struct sb_dev_rule any[] = {{'a', -1, -1, R | W | M}};
    struct bpf_insn p[64];
    int n = sb_devbpf_build(one, 1, p, 64);

    /* 6 to load the context, 6 checks + return 1, return 0 */
    assert_int_equal(n, 6 + 8 + 2);
    assert_int_equal(p[0].code, BPF_LDX | BPF_MEM | BPF_W);
    assert_int_equal(p[1].code, BPF_ALU64 | BPF_AND | BPF_K);
    assert_int_equal(p[1].imm, 0xffff);
    assert_int_equal(p[3].code, BPF_ALU64 | BPF_RSH | BPF_K);
    assert_int_equal(p[3].imm, 16);
    assert_int_equal(p[4].off, 4);
    assert_int_equal(p[5].off, 8);
    /* type check: jumps over the 7 insns left in the rule */
    assert_int_equal(p[6].code, BPF_JMP | BPF_JNE | BPF_K);
    assert_int_equal(p[6].dst_reg, BPF_REG_2);
    assert_int_equal(p[6].imm, BPF_DEVCG_DEV_CHAR);
    assert_int_equal(p[6].off, 7);
    /* access: r1 = r3 & (R|W); r1 != r3 means a bit the rule lacks */
    assert_int_equal(p[7].code, BPF_ALU64 | BPF_MOV | BPF_X);
    assert_int_equal(p[8].imm, R | W);
    assert_int_equal(p[9].code, BPF_JMP | BPF_JNE | BPF_X);
    assert_int_equal(p[9].off, 4);
    assert_int_equal(p[10].dst_reg, BPF_REG_4);
    assert_int_equal(p[10].imm, 195);
    assert_int_equal(p[11].dst_reg, BPF_REG_5);
    assert_int_equal(p[11].imm, 2);
    assert_int_equal(p[11].off, 2);
    assert_int_equal(p[12].code, BPF_ALU64 | BPF_MOV | BPF_K);
    assert_int_equal(p[12].imm, 1);
    assert_int_equal(p[13].code, BPF_JMP | BPF_EXIT);
    assert_int_equal(p[14].imm, 0);
    assert_int_equal(p[15].code, BPF_JMP | BPF_EXIT);
    /* a rule that matches everything has no checks at all */
    assert_int_equal(sb_devbpf_build(any, 1, p, 64), 6 + 2 + 2);
    (void)state;
}

static void test_decisions(void **state)
{
    struct sb_dev_rule rules[64];
    struct bpf_insn p[512];
    size_t nr = sb_devbpf_rules(&gpu_policy, proc_devices, rules, 64);
    int n = sb_devbpf_build(rules, nr, p, 512);
    const int C = BPF_DEVCG_DEV_CHAR, B = BPF_DEVCG_DEV_BLOCK;

    assert_true(n > 0);
    assert_int_equal(run_prog(p, n, C, R | W, 1, 3), 1);   /* null */
    assert_int_equal(run_prog(p, n, C, M, 1, 3), 1);       /* mknod null */
    assert_int_equal(run_prog(p, n, C, R, 1, 9), 1);       /* urandom */
    assert_int_equal(run_prog(p, n, C, R | W, 136, 7), 1); /* a pts */
    assert_int_equal(run_prog(p, n, C, R | W, 195, 2), 1); /* leased */
    assert_int_equal(run_prog(p, n, C, R | W, 195, 5), 1); /* leased */
    assert_int_equal(run_prog(p, n, C, R | W, 195, 255), 1);
    assert_int_equal(run_prog(p, n, C, R, 508, 0), 1);       /* uvm */
    assert_int_equal(run_prog(p, n, C, R | W, 195, 3), 0);   /* another GPU */
    assert_int_equal(run_prog(p, n, C, M, 195, 2), 0);       /* mknod of a GPU node */
    assert_int_equal(run_prog(p, n, C, R | W, 195, 254), 0); /* nvidia-modeset */
    assert_int_equal(run_prog(p, n, C, R | W, 1, 1), 0);     /* /dev/mem */
    assert_int_equal(run_prog(p, n, C, R | W, 10, 232), 0);  /* /dev/kvm */
    assert_int_equal(run_prog(p, n, C, R | W, 10, 229), 0);  /* /dev/fuse */
    assert_int_equal(run_prog(p, n, B, R, 1, 3), 0);   /* a block device with null's numbers */
    assert_int_equal(run_prog(p, n, B, R, 7, 0), 0);   /* loop0 */
    assert_int_equal(run_prog(p, n, B, R, 508, 0), 0); /* uvm's major, as a block device */
    (void)state;
}

static void test_bad_rules(void **state)
{
    const struct sb_dev_rule bad_type[] = {{'x', 1, 3, R}};
    const struct sb_dev_rule bad_major[] = {{'c', -2, 3, R}};
    const struct sb_dev_rule bad_access[] = {{'c', 1, 3, 8}};
    const struct sb_dev_rule none[] = {{'c', 1, 3, 0}};
    struct sb_dev_rule rules[64];
    struct bpf_insn p[8];
    size_t nr = sb_devbpf_rules(&gpu_policy, proc_devices, rules, 64);

    assert_int_equal(sb_devbpf_build(bad_type, 1, p, 8), -EINVAL);
    assert_int_equal(sb_devbpf_build(bad_major, 1, p, 8), -EINVAL);
    assert_int_equal(sb_devbpf_build(bad_access, 1, p, 8), -EINVAL);
    assert_int_equal(sb_devbpf_build(none, 1, p, 8), -EINVAL);
    assert_int_equal(sb_devbpf_build(rules, nr, p, 8), -E2BIG);
    (void)state;
}

/* A child that joins cg and opens each node; exit code = bit i set when open i gave want[i]. */
static int try_in_cgroup(const char *cg, const char *const *paths, const int *want, size_t n)
{
    char procs[SB_PATH + 16];
    int st, code = 0;
    pid_t pid;

    snprintf(procs, sizeof(procs), "%s/cgroup.procs", cg);
    pid = fork();
    if (pid == 0) {
        if (sb__write_file(procs, "0", false) < 0)
            _exit(100);
        for (size_t i = 0; i < n; i++) {
            int fd = open(paths[i], O_RDWR | O_CLOEXEC);
            int err = fd < 0 ? errno : 0;

            if (fd >= 0)
                close(fd);
            if (err == want[i] || (want[i] == ENXIO && err == ENODEV))
                code |= 1 << i;
            else
                fprintf(stderr, "open %s: errno %d, want %d\n", paths[i], err, want[i]);
        }
        _exit(code);
    }
    if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}

static void test_attached(void **state)
{
    const char *roots[] = {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"};
    char cg[SB_PATH] = "", dir[] = "/var/tmp/gr-devbpf-XXXXXX", gpu[64], other[64], kvm[64];
    struct sb_policy p = {.gpu_isolate = true, .gpu_minors = {0}, .n_gpu_minors = 1};
    struct sb_dev_rule rules[64];
    struct bpf_insn prog[512];
    char log[4096];
    const char *why = NULL;
    struct statfs sfs;
    int n, r;

    for (size_t i = 0; i < 2 && !cg[0]; i++)
        if (statfs(roots[i], &sfs) == 0 && sfs.f_type == CGROUP2_SUPER_MAGIC)
            snprintf(cg, sizeof(cg), "%s/gr-devbpf-test-%ld", roots[i], (long)getpid());
    if (geteuid() != 0)
        why = "needs root";
    else if (!cg[0])
        why = "no cgroup2 mount";
    else if (mkdir(cg, 0755) < 0)
        why = "cannot create a cgroup";
    assert_non_null(mkdtemp(dir));
    snprintf(gpu, sizeof(gpu), "%s/nvidia0", dir);
    snprintf(other, sizeof(other), "%s/nvidia1", dir);
    snprintf(kvm, sizeof(kvm), "%s/kvm", dir);
    if (!why && (mknod(gpu, S_IFCHR | 0666, makedev(195, 0)) < 0 ||
                 mknod(other, S_IFCHR | 0666, makedev(195, 1)) < 0 ||
                 mknod(kvm, S_IFCHR | 0666, makedev(10, 232)) < 0))
        why = "cannot create device nodes";
    n = sb_devbpf_build(rules, sb_devbpf_rules(&p, "/proc/devices", rules, 64), prog, 512);
    assert_true(n > 0);
    if (!why) {
        r = sb_devbpf_attach(cg, prog, (size_t)n, log, sizeof(log));
        if (r < 0) {
            fprintf(stderr, "attach: %s\n%s\n", strerror(-r), log);
            why = "the kernel refuses a device program here";
        }
    }
    if (why) {
        printf("skipped: real device filter: %s\n", why);
    } else {
        const char *paths[] = {"/dev/null", gpu, other, kvm};
        const int want[] = {0, ENXIO, EPERM, EPERM};

        int fd = open(other, O_RDWR | O_CLOEXEC);

        /* control: outside the cgroup the node reaches the kernel, which has no driver */
        assert_true(fd < 0 && (errno == ENXIO || errno == ENODEV));
        assert_int_equal(try_in_cgroup(cg, paths, want, 4), 0xf);
    }
    (void)rmdir(cg);
    (void)unlink(gpu);
    (void)unlink(other);
    (void)unlink(kvm);
    (void)rmdir(dir);
    (void)state;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rule_table), cmocka_unit_test(test_encoding),
        cmocka_unit_test(test_decisions),  cmocka_unit_test(test_bad_rules),
        cmocka_unit_test(test_attached),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
