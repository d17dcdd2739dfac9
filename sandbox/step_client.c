/*
 * gr-step: what the executor starts for each step of a job whose init
 * serves steps (stepd.c). Same job as `gr-sandbox --connect`:
 *
 *   gr-step --connect SOCKET -- command [args...]
 *
 * sends the working directory, argv, the environment and stdin/stdout/
 * stderr to the job's init, forwards the signals it gets, and becomes what
 * the step became (its exit code, or death by its signal). 125: the job's
 * sandbox could not start the step (its message on stderr), 126/127: the
 * command could not be executed.
 *
 * Freestanding (no libc, raw system calls, x86_64 and aarch64): a static
 * glibc's start-up alone touches some twenty pages, and on a virtual
 * machine each fault costs tens of microseconds; this program touches a
 * handful, so the wrapper adds little to the step's own exec.
 */
#include "stepd_wire.h"

#include <stddef.h>
#include <stdint.h>

#if defined(__x86_64__)
#define NR_read 0
#define NR_write 1
#define NR_close 3
#define NR_rt_sigaction 13
#define NR_rt_sigprocmask 14
#define NR_rt_sigreturn 15
#define NR_getpid 39
#define NR_socket 41
#define NR_connect 42
#define NR_sendmsg 46
#define NR_kill 62
#define NR_getcwd 79
#define NR_exit_group 231
#define NR_prlimit64 302
#elif defined(__aarch64__)
#define NR_getcwd 17
#define NR_close 57
#define NR_read 63
#define NR_write 64
#define NR_exit_group 94
#define NR_kill 129
#define NR_rt_sigaction 134
#define NR_rt_sigprocmask 135
#define NR_getpid 172
#define NR_socket 198
#define NR_connect 203
#define NR_sendmsg 211
#define NR_prlimit64 261
#else
#error "gr-step: x86_64 and aarch64 only (elsewhere gr-sandbox --connect serves)"
#endif

#define AF_UNIX 1
#define SOCK_STREAM 1
#define SOCK_CLOEXEC 02000000
#define SOL_SOCKET 1
#define SCM_RIGHTS 1
#define MSG_NOSIGNAL 0x4000
#define SIG_BLOCK 0
#define SIG_UNBLOCK 1
#define SA_RESTART 0x10000000
#define SA_RESTORER 0x04000000
#define SIGPIPE 13
#define RLIMIT_CORE 4
#define EINTR 4
#define EXIT_SETUP 125

/* ---- system calls ---- */

static long sys6(long n, long a, long b, long c, long d, long e, long f)
{
    long r;
#if defined(__x86_64__)
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;

    __asm__ volatile("syscall"
                     : "=a"(r)
                     : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
#else
    register long x8 __asm__("x8") = n;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    register long x3 __asm__("x3") = d;
    register long x4 __asm__("x4") = e;
    register long x5 __asm__("x5") = f;

    __asm__ volatile("svc 0"
                     : "+r"(x0)
                     : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
                     : "memory");
    r = x0;
#endif
    return r;
}

#define SYS3(n, a, b, c) sys6(n, (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define SYS4(n, a, b, c, d) sys6(n, (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)

__attribute__((noreturn)) static void sys_exit(int code)
{
    for (;;)
        SYS3(NR_exit_group, code, 0, 0);
}

/* The compiler may emit calls to these for struct copies and zeroing. */
void *memcpy(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);

void *memcpy(void *dst, const void *src, size_t n)
{
    unsigned char *d = dst;
    const unsigned char *s = src;

    while (n--)
        *d++ = *s++;
    return dst;
}

void *memset(void *dst, int c, size_t n)
{
    unsigned char *d = dst;

    while (n--)
        *d++ = (unsigned char)c;
    return dst;
}

static size_t slen(const char *s)
{
    size_t n = 0;

    while (s[n])
        n++;
    return n;
}

static int streq(const char *a, const char *b)
{
    while (*a && *a == *b)
        a++, b++;
    return *a == *b;
}

/* ---- kernel structures (asm-generic/uapi layouts) ---- */

struct k_iovec {
    void *base;
    size_t len;
};

struct k_msghdr {
    void *name;
    int namelen;
    struct k_iovec *iov;
    size_t iovlen;
    void *control;
    size_t controllen;
    unsigned flags;
};

struct k_cmsg3 {
    size_t len;
    int level;
    int type;
    int fds[3];
    int pad;
};

struct k_sockaddr_un {
    unsigned short family;
    char path[108];
};

struct k_sigaction {
    void (*handler)(int);
    unsigned long flags;
    void (*restorer)(void);
    unsigned long mask;
};

struct k_rlimit {
    uint64_t cur, max;
};

/* ---- messages ---- */

static void put(const char *s)
{
    (void)SYS3(NR_write, 2, s, slen(s));
}

static void put_num(long v)
{
    char buf[24], *p = buf + sizeof(buf) - 1;
    unsigned long u = v < 0 ? (unsigned long)-v : (unsigned long)v;

    *p = '\0';
    do
        *--p = (char)('0' + u % 10);
    while (u /= 10);
    if (v < 0)
        *--p = '-';
    put(p);
}

static int fail(const char *what, const char *path, long err)
{
    put("gr-step: ");
    put(what);
    if (path) {
        put(" '");
        put(path);
        put("'");
    }
    if (err) {
        put(": error ");
        put_num(-err);
    }
    put("\n");
    return EXIT_SETUP;
}

/* ---- signals ---- */

static int sock = -1;
static const int fwd_sigs[] = {1, 2, 3, 10, 12, 15}; /* HUP INT QUIT USR1 USR2 TERM */

static void forward(int sig)
{
    struct sb_msg m = {.type = SB_MSG_SIGNAL, .value = sig};

    if (sock >= 0)
        (void)SYS3(NR_write, sock, &m, sizeof(m));
}

#if defined(__x86_64__)
void gr_step_restorer(void);
__asm__(".text\n"
        ".type gr_step_restorer,@function\n"
        "gr_step_restorer:\n"
        "  mov $15, %rax\n"
        "  syscall\n"
        "  hlt\n");
#define RESTORER_FLAG SA_RESTORER
#define RESTORER gr_step_restorer
#else
#define RESTORER_FLAG 0
#define RESTORER 0
#endif

static void set_handler(int sig, void (*fn)(int))
{
    struct k_sigaction sa = {.handler = fn, .flags = SA_RESTART | RESTORER_FLAG};

    sa.restorer = RESTORER;
    (void)SYS4(NR_rt_sigaction, sig, &sa, 0, sizeof(sa.mask));
}

static void mask_signals(int how)
{
    unsigned long set = 0;

    for (size_t i = 0; i < sizeof(fwd_sigs) / sizeof(fwd_sigs[0]); i++)
        set |= 1ul << (fwd_sigs[i] - 1);
    (void)SYS4(NR_rt_sigprocmask, how, &set, 0, sizeof(set));
}

/* Becomes what the step became: its exit code, or death by its signal. */
__attribute__((noreturn)) static void mirror(int status)
{
    int sig = status & 0x7f;
    struct k_rlimit none = {0, 0};
    unsigned long set;

    if (sig == 0)
        sys_exit((status >> 8) & 0xff);
    if (sig == 0x7f) /* stopped: not a final status */
        sys_exit(EXIT_SETUP);
    (void)SYS4(NR_prlimit64, 0, RLIMIT_CORE, &none, 0);
    set_handler(sig, (void (*)(int))0);
    set = 1ul << (sig - 1);
    (void)SYS4(NR_rt_sigprocmask, SIG_UNBLOCK, &set, 0, sizeof(set));
    (void)SYS3(NR_kill, SYS3(NR_getpid, 0, 0, 0), sig, 0);
    sys_exit(128 + sig);
}

/* ---- the request ---- */

static long write_all(int fd, const char *p, size_t len)
{
    while (len) {
        long n = SYS3(NR_write, fd, p, len);

        if (n == -EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? n : -5;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static long read_all(int fd, void *buf, size_t len)
{
    char *p = buf;

    while (len) {
        long n = SYS3(NR_read, fd, p, len);

        if (n == -EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? n : -32; /* EPIPE: the init hung up */
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Sends strings in one pass: the header and fds first, then each string. */
static long send_req(char *cwd, char **argv, char **envp)
{
    struct sb_req_hdr h = {.magic = SB_REQ_MAGIC};
    struct k_cmsg3 cm = {.len = 16 + 3 * sizeof(int), .level = SOL_SOCKET, .type = SCM_RIGHTS};
    struct k_iovec iov = {.base = &h, .len = sizeof(h)};
    struct k_msghdr mh = {.iov = &iov, .iovlen = 1, .control = &cm, .controllen = sizeof(cm)};
    size_t len = slen(cwd) + 1;
    long r;

    for (char **a = argv; *a; a++, h.argc++)
        len += slen(*a) + 1;
    for (char **e = envp; *e; e++, h.envc++)
        len += slen(*e) + 1;
    if (len > SB_REQ_MAX)
        return -7; /* E2BIG */
    h.len = (uint32_t)len;
    cm.fds[0] = 0;
    cm.fds[1] = 1;
    cm.fds[2] = 2;
    r = SYS3(NR_sendmsg, sock, &mh, MSG_NOSIGNAL);
    if (r != (long)sizeof(h))
        return r < 0 ? r : -5;
    r = write_all(sock, cwd, slen(cwd) + 1);
    for (char **a = argv; r == 0 && *a; a++)
        r = write_all(sock, *a, slen(*a) + 1);
    for (char **e = envp; r == 0 && *e; e++)
        r = write_all(sock, *e, slen(*e) + 1);
    return r;
}

static int run(int argc, char **argv, char **envp)
{
    static char cwd[4096], text[SB_FAIL_TEXT_MAX];
    struct k_sockaddr_un sa = {.family = AF_UNIX};
    struct sb_msg m;
    uint32_t len = 0;
    size_t n;
    long r;

    if (argc < 5 || !streq(argv[1], "--connect") || !streq(argv[3], "--"))
        return fail("usage: gr-step --connect SOCKET -- command [args...]", 0, 0);
    n = slen(argv[2]);
    if (n >= sizeof(sa.path))
        return fail("socket path too long", argv[2], 0);
    memcpy(sa.path, argv[2], n + 1);
    r = SYS3(NR_getcwd, cwd, sizeof(cwd), 0);
    if (r < 0)
        return fail("getcwd", 0, r);
    sock = (int)SYS3(NR_socket, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (sock < 0)
        return fail("socket", 0, sock);
    r = SYS3(NR_connect, sock, &sa, sizeof(sa));
    if (r < 0)
        return fail("cannot reach the job's sandbox", argv[2], r);
    /* a signal before the request is sent waits until the init knows the step */
    mask_signals(SIG_BLOCK);
    for (size_t i = 0; i < sizeof(fwd_sigs) / sizeof(fwd_sigs[0]); i++)
        set_handler(fwd_sigs[i], forward);
    set_handler(SIGPIPE, (void (*)(int))1); /* SIG_IGN */
    r = send_req(cwd, argv + 4, envp);
    if (r < 0)
        return fail("cannot start the step", argv[4], r);
    mask_signals(SIG_UNBLOCK);
    r = read_all(sock, &m, sizeof(m));
    if (r == 0 && m.type == SB_MSG_EXIT) {
        sock = -1;
        mirror(m.value);
    }
    if (r == 0 && m.type == SB_MSG_FAIL && read_all(sock, &len, sizeof(len)) == 0 &&
        len < sizeof(text) && read_all(sock, text, len) == 0) {
        (void)write_all(2, text, len);
        return m.value > 0 && m.value < 256 ? m.value : EXIT_SETUP;
    }
    return fail("the job's sandbox ended the step", 0, r < 0 ? r : 0);
}

/* Called from _start with the initial stack: argc, argv..., NULL, envp..., NULL. */
__attribute__((noreturn, used)) void gr_step_main(long *sp);

__attribute__((noreturn, used)) void gr_step_main(long *sp)
{
    int argc = (int)sp[0];
    char **argv = (char **)(sp + 1);

    sys_exit(run(argc, argv, argv + argc + 1));
}

#if defined(__x86_64__)
__asm__(".text\n"
        ".global _start\n"
        "_start:\n"
        "  xor %rbp, %rbp\n"
        "  mov %rsp, %rdi\n"
        "  and $-16, %rsp\n"
        "  call gr_step_main\n"
        "  hlt\n");
#else
__asm__(".text\n"
        ".global _start\n"
        "_start:\n"
        "  mov x0, sp\n"
        "  bl gr_step_main\n");
#endif
