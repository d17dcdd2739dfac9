/*
 * The seccomp filter on its own: compiled by sb_sc_export() into a memfd,
 * installed in a forked child after PR_SET_NO_NEW_PRIVS, probed with
 * harmless arguments. Includes the compat-ABI check (i386 reboot through
 * int 0x80) and its negative control (an x86_64-only filter with
 * bad-arch=ALLOW lets it through), so that check can fail.
 *
 * Needs no root. Children only make raw syscalls and _exit, so sanitizer
 * runtimes never run under the filter.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../sandbox/internal.h" /* executor/ has an internal.h too */

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

struct bpf {
    char prog[65536];
    size_t len;
};

static void compile(const struct sb_policy *p, struct bpf *out)
{
    int fd = memfd_create("sb-filter", MFD_CLOEXEC);
    const char *arches = NULL;
    ssize_t n;

    assert_true(fd >= 0);
    assert_int_equal(sb_sc_export(p, fd, &arches), 0);
    assert_non_null(arches);
    n = pread(fd, out->prog, sizeof(out->prog), 0);
    assert_true(n > 0);
    out->len = (size_t)n;
    close(fd);
}

typedef long (*probe_fn)(void);

/* Runs fn in a child under the filter (or none); returns -errno, the result, or 1000+signal. */
static long in_child(const struct bpf *f, probe_fn fn)
{
    int st;
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0) {
        long r;

        signal(SIGSEGV, SIG_DFL); /* not cmocka's handler: die, and say so */
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
            _exit(250);
        if (f && sb_sc_install(f->prog, f->len) < 0)
            _exit(251);
        r = fn();
        /* encode: 0..200 = errno, 201 = success */
        _exit(r < 0 ? (int)(-r & 0xff) : 201);
    }
    assert_int_equal(waitpid(pid, &st, 0), pid);
    if (WIFSIGNALED(st))
        return 1000 + WTERMSIG(st);
    assert_true(WEXITSTATUS(st) != 250 && WEXITSTATUS(st) != 251);
    return WEXITSTATUS(st) == 201 ? 0 : -WEXITSTATUS(st);
}

static long ret(long r)
{
    return r < 0 ? -errno : r;
}

static long p_mount(void)
{
    return ret(syscall(SYS_mount, "none", "/nonexistent", "tmpfs", 0, NULL));
}
static long p_keyctl(void)
{
    return ret(syscall(SYS_keyctl, 0, -3, 0));
}
static long p_reboot(void)
{
    return ret(syscall(SYS_reboot, 0, 0, 0, NULL));
}
static long p_unshare_user(void)
{
    return ret(syscall(SYS_unshare, CLONE_NEWUSER));
}
static long p_unshare_files(void)
{
    return ret(syscall(SYS_unshare, CLONE_FILES));
}
static long p_clone_newpid(void)
{
    /* fails before creating anything: either the filter or a missing privilege */
    return ret(syscall(SYS_clone, CLONE_NEWPID | SIGCHLD, NULL, NULL, NULL, 0));
}
static long p_clone3(void)
{
    return ret(syscall(SYS_clone3, NULL, 0));
}
static long p_tiocsti_high(void)
{
    /* the kernel truncates the request to 32 bits: high bits must not bypass */
    return ret(syscall(SYS_ioctl, -1, (1ul << 32) | TIOCSTI, NULL));
}
static long p_vsock(void)
{
    return ret(syscall(SYS_socket, 40 /* AF_VSOCK */, SOCK_STREAM, 0));
}
static long p_ptrace(void)
{
    return ret(syscall(SYS_ptrace, PTRACE_PEEKUSER, getppid(), 0, 0));
}
static long p_getpid(void)
{
    return ret(syscall(SYS_getpid));
}

/* set-id probes: files in a per-test directory, made before the filter goes in */
static char sid_dir[64];
static char sid_file[96];

static long p_chmod_suid(void)
{
    return ret(syscall(SYS_chmod, sid_file, 04755));
}
static long p_chmod_sgid(void)
{
    return ret(syscall(SYS_chmod, sid_file, 02755));
}
static long p_chmod_plain(void)
{
    return ret(syscall(SYS_chmod, sid_file, 0755));
}
static long p_chmod_suid_high(void)
{
    /* the kernel reads a umode_t: bits above it must not hide S_ISUID */
    return ret(syscall(SYS_chmod, sid_file, (1ul << 32) | 04755));
}
static long p_fchmod_suid(void)
{
    long fd = syscall(SYS_open, sid_file, O_RDONLY, 0);

    return fd < 0 ? -errno : ret(syscall(SYS_fchmod, fd, 04755));
}
static long p_fchmodat_suid(void)
{
    return ret(syscall(SYS_fchmodat, AT_FDCWD, sid_file, 04755));
}
static long p_fchmodat2_sgid(void)
{
    return ret(syscall(452 /* fchmodat2 */, AT_FDCWD, sid_file, 02755, 0));
}
static long open_new(const char *leaf, long flags, long mode)
{
    char path[128];

    snprintf(path, sizeof(path), "%s/%s", sid_dir, leaf);
    return ret(syscall(SYS_open, path, flags, mode));
}
static long p_open_creat_suid(void)
{
    return open_new("o-suid", O_CREAT | O_WRONLY, 04755);
}
static long p_open_creat_plain(void)
{
    return open_new("o-plain", O_CREAT | O_WRONLY, 0644);
}
static long p_open_read_junk_mode(void)
{
    /* without O_CREAT the mode is ignored: garbage in it is no reason to refuse */
    return ret(syscall(SYS_open, sid_file, O_RDONLY, 04755));
}
static long p_openat_excl_sgid(void)
{
    return ret(
        syscall(SYS_openat, AT_FDCWD, "/nonexistent-gr/x", O_CREAT | O_EXCL | O_WRONLY, 02644));
}
static long p_openat_tmpfile_suid(void)
{
    return ret(syscall(SYS_openat, AT_FDCWD, sid_dir, O_TMPFILE | O_WRONLY, 04755));
}
static long p_creat_suid(void)
{
    char path[128];

    snprintf(path, sizeof(path), "%s/c-suid", sid_dir);
    return ret(syscall(SYS_creat, path, 04755));
}
static long p_mknod_suid(void)
{
    char path[128];

    snprintf(path, sizeof(path), "%s/n-suid", sid_dir);
    return ret(syscall(SYS_mknod, path, S_IFREG | 04755, 0));
}
static long p_mknodat_sgid(void)
{
    return ret(syscall(SYS_mknodat, AT_FDCWD, "n-sgid-rel", S_IFREG | 02755, 0));
}
static long p_openat2(void)
{
    struct {
        uint64_t flags, mode, resolve;
    } how = {O_CREAT | O_WRONLY, 04755, 0};
    char path[128];

    snprintf(path, sizeof(path), "%s/o2-suid", sid_dir);
    return ret(syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof(how)));
}

#if defined(__x86_64__)
/* i386 reboot (88) through the compat entry; a bad magic gives EINVAL unfiltered. */
static long p_reboot_i386(void)
{
    long r;

    __asm__ volatile("int $0x80"
                     : "=a"(r)
                     : "a"(88L), "b"(0L), "c"(0L), "d"(0L)
                     : "memory", "r8", "r9", "r10", "r11");
    return r;
}
/* i386 chmod (15) with a NULL path: EFAULT unfiltered, EPERM when the set-id rule reaches compat */
static long p_chmod_suid_i386(void)
{
    long r;

    __asm__ volatile("int $0x80"
                     : "=a"(r)
                     : "a"(15L), "b"(0L), "c"(04755L)
                     : "memory", "r8", "r9", "r10", "r11");
    return r;
}
#endif

static void test_denied(void **state)
{
    struct sb_policy p = {0};
    static struct bpf f;

    compile(&p, &f);
    assert_int_equal(in_child(&f, p_mount), -EPERM);
    assert_int_equal(in_child(&f, p_keyctl), -EPERM);
    assert_int_equal(in_child(&f, p_reboot), -EPERM);
    assert_int_equal(in_child(&f, p_unshare_user), -EPERM);
    assert_int_equal(in_child(&f, p_clone_newpid), -EPERM);
    assert_int_equal(in_child(&f, p_clone3), -ENOSYS);
    assert_int_equal(in_child(&f, p_tiocsti_high), -EPERM);
    assert_int_equal(in_child(&f, p_vsock), -EAFNOSUPPORT);
    assert_int_equal(in_child(&f, p_ptrace), -EPERM);
    /* what is not on the list still works */
    assert_int_equal(in_child(&f, p_getpid), 0);
    assert_int_equal(in_child(&f, p_unshare_files), 0);
    (void)state;
}

static void sid_setup(void)
{
    int fd;

    snprintf(sid_dir, sizeof(sid_dir), "%s/gr-sc-sid.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    assert_non_null(mkdtemp(sid_dir));
    snprintf(sid_file, sizeof(sid_file), "%s/f", sid_dir);
    fd = open(sid_file, O_CREAT | O_WRONLY, 0644);
    assert_true(fd >= 0);
    close(fd);
}

static void sid_teardown(void)
{
    static const char *const leaves[] = {"f", "o-suid", "o-plain", "c-suid", "n-suid", "o2-suid"};
    char path[128];

    for (size_t i = 0; i < sizeof(leaves) / sizeof(leaves[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", sid_dir, leaves[i]);
        unlink(path);
    }
    assert_int_equal(rmdir(sid_dir), 0); /* nothing else was made in it */
}

static mode_t sid_mode(void)
{
    struct stat st;

    assert_int_equal(stat(sid_file, &st), 0);
    return st.st_mode & 07777;
}

static void test_setid_rules_in_table(void **state)
{
    static const struct {
        const char *name;
        unsigned arg;
    } want[] = {{"chmod", 1},  {"fchmod", 1}, {"fchmodat", 2}, {"fchmodat2", 2}, {"open", 2},
                {"openat", 3}, {"creat", 1},  {"mknod", 1},    {"mknodat", 2}};

    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        assert_true(sb_sc_has_mode_rule(want[i].name, want[i].arg));
    assert_int_equal(sb_sc_mode_rule_count(), sizeof(want) / sizeof(want[0]));
    assert_false(sb_sc_has_mode_rule("chmod", 2)); /* the look-up can say no */
    assert_false(sb_sc_has_mode_rule("chown", 1));
    assert_true(sb_sc_has_rule("openat2", ENOSYS));
    assert_false(sb_sc_has_rule("openat2", EPERM));
    (void)state;
}

static void test_setid_denied(void **state)
{
    struct sb_policy p = {0};
    static struct bpf f;

    compile(&p, &f);
    sid_setup();
    assert_int_equal(in_child(&f, p_chmod_suid), -EPERM);
    assert_int_equal(in_child(&f, p_chmod_sgid), -EPERM);
    assert_int_equal(in_child(&f, p_chmod_suid_high), -EPERM);
    assert_int_equal(in_child(&f, p_fchmod_suid), -EPERM);
    assert_int_equal(in_child(&f, p_fchmodat_suid), -EPERM);
    if (seccomp_syscall_resolve_name("fchmodat2") != __NR_SCMP_ERROR)
        assert_int_equal(in_child(&f, p_fchmodat2_sgid), -EPERM);
    assert_int_equal(sid_mode(), 0644); /* none of them got through */
    assert_int_equal(in_child(&f, p_open_creat_suid), -EPERM);
    assert_int_equal(in_child(&f, p_openat_excl_sgid), -EPERM); /* before the path lookup */
    assert_int_equal(in_child(&f, p_openat_tmpfile_suid), -EPERM);
    assert_int_equal(in_child(&f, p_creat_suid), -EPERM);
    assert_int_equal(in_child(&f, p_mknod_suid), -EPERM);
    assert_int_equal(in_child(&f, p_mknodat_sgid), -EPERM);
    assert_int_equal(in_child(&f, p_openat2), -ENOSYS);
    /* ordinary modes still work */
    assert_int_equal(in_child(&f, p_chmod_plain), 0);
    assert_int_equal(sid_mode(), 0755);
    assert_int_equal(in_child(&f, p_open_creat_plain), 0);
    assert_int_equal(in_child(&f, p_open_read_junk_mode), 0);
    sid_teardown();
    (void)state;
}

static void test_setid_unfiltered_baseline(void **state)
{
    /* the same calls without a filter succeed, so the EPERMs above are the filter's */
    sid_setup();
    assert_int_equal(in_child(NULL, p_chmod_suid), 0);
    assert_int_equal(sid_mode(), 04755);
    assert_int_equal(in_child(NULL, p_open_creat_suid), 0);
    assert_int_equal(in_child(NULL, p_creat_suid), 0);
    assert_int_equal(in_child(NULL, p_openat_excl_sgid), -ENOENT);
    assert_int_not_equal(in_child(NULL, p_openat2), -ENOSYS);
    sid_teardown();
    (void)state;
}

static void test_unfiltered_baseline(void **state)
{
    /* the same probes without a filter fail differently (or succeed) */
    if (geteuid() == 0) /* without CAP_SYS_BOOT the kernel says EPERM first */
        assert_int_not_equal(in_child(NULL, p_reboot), -EPERM); /* EINVAL: bad magic */
    assert_int_equal(in_child(NULL, p_tiocsti_high), -EBADF);
    assert_int_not_equal(in_child(NULL, p_clone3), -ENOSYS);
    (void)state;
}

static void test_allow_ptrace(void **state)
{
    struct sb_policy p = {.allow_ptrace = true};
    static struct bpf f;

    compile(&p, &f);
    assert_int_not_equal(in_child(&f, p_ptrace), -EPERM);
    assert_int_equal(in_child(&f, p_keyctl), -EPERM);
    (void)state;
}

static void test_audit_denies_nothing(void **state)
{
    struct sb_policy p = {.seccomp_audit = true};
    static struct bpf f;

    compile(&p, &f);
    assert_int_equal(in_child(&f, p_tiocsti_high), -EBADF); /* logged, then run */
    assert_int_not_equal(in_child(&f, p_clone3), -ENOSYS);
    assert_int_equal(in_child(&f, p_getpid), 0);
    (void)state;
}

static void test_compat_arch(void **state)
{
#if defined(__x86_64__)
    struct sb_policy p = {0};
    static struct bpf f, weak;
    scmp_filter_ctx ctx;
    int fd;
    long base = in_child(NULL, p_reboot_i386);

    printf("i386 reboot without a filter: %ld\n", base);
    if (base != -EINVAL) {
        printf("skipped: no ia32 emulation on this kernel\n");
        skip();
    }
    compile(&p, &f);
    assert_int_equal(in_child(&f, p_reboot_i386), -EPERM);
    assert_int_equal(in_child(NULL, p_chmod_suid_i386), -EFAULT);
    assert_int_equal(in_child(&f, p_chmod_suid_i386), -EPERM);

    /* negative control: native rules only, foreign arches allowed */
    ctx = seccomp_init(SCMP_ACT_ALLOW);
    assert_non_null(ctx);
    assert_int_equal(seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_ALLOW), 0);
    assert_int_equal(seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(reboot), 0), 0);
    fd = memfd_create("weak", MFD_CLOEXEC);
    assert_int_equal(seccomp_export_bpf(ctx, fd), 0);
    weak.len = (size_t)pread(fd, weak.prog, sizeof(weak.prog), 0);
    close(fd);
    seccomp_release(ctx);
    assert_int_equal(in_child(&weak, p_reboot), -EPERM);
    assert_int_not_equal(in_child(&weak, p_reboot_i386), -EPERM);
#else
    printf("skipped: compat check written for x86_64\n");
    skip();
#endif
    (void)state;
}

static void test_install_rejects_garbage(void **state)
{
    char junk[7] = {0};

    assert_int_equal(sb_sc_install(junk, sizeof(junk)), -EINVAL);
    assert_int_equal(sb_sc_install(junk, 0), -EINVAL);
    assert_true(sb_sc_rule_count() > 40);
    (void)state;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_denied),
        cmocka_unit_test(test_unfiltered_baseline),
        cmocka_unit_test(test_allow_ptrace),
        cmocka_unit_test(test_audit_denies_nothing),
        cmocka_unit_test(test_compat_arch),
        cmocka_unit_test(test_install_rejects_garbage),
        cmocka_unit_test(test_setid_rules_in_table),
        cmocka_unit_test(test_setid_denied),
        cmocka_unit_test(test_setid_unfiltered_baseline),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
