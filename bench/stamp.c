/*
 * bench-stamp: the moment a process runs its first instruction, for bench_runner.
 *
 *   bench-stamp FILE
 *
 * reads CLOCK_REALTIME first thing, then reads FILE, whose first line is the
 * path to write, and writes the time there as "SECONDS.NANOSECONDS\n". As a
 * step's custom shell (`shell: bench-stamp {0}`), FILE is the step's script,
 * so the script's text names the output. No libc (raw system calls, static,
 * no dynamic loader): its exec costs a few page faults and nothing of its own
 * start-up lands in the sample. Exit status 0, or 1 when it could not write.
 */
#if defined(__x86_64__)
#define NR_read 0
#define NR_write 1
#define NR_open 2
#define NR_close 3
#define NR_clock_gettime 228
#define NR_exit_group 231
#elif defined(__aarch64__)
#define NR_read 63
#define NR_write 64
#define NR_openat 56
#define NR_close 57
#define NR_clock_gettime 113
#define NR_exit_group 94
#define AT_FDCWD (-100)
#else
#error "bench-stamp: x86_64 or aarch64 only"
#endif

#define O_RDONLY 0
#define O_WRONLY 1
#define O_CREAT 0100
#define O_TRUNC 01000
#define CLOCK_REALTIME 0

struct ts {
    long sec, nsec;
};

static long sys3(long n, long a, long b, long c)
{
    long r;
#if defined(__x86_64__)
    __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
#else
    register long x8 __asm__("x8") = n;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;

    __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
    r = x0;
#endif
    return r;
}

static long open_file(const char *path, long flags, long mode)
{
#if defined(__x86_64__)
    return sys3(NR_open, (long)path, flags, mode);
#else
    register long x8 __asm__("x8") = NR_openat;
    register long x0 __asm__("x0") = AT_FDCWD;
    register long x1 __asm__("x1") = (long)path;
    register long x2 __asm__("x2") = flags;
    register long x3 __asm__("x3") = mode;

    __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3) : "memory");
    return x0;
#endif
}

/* "SECONDS.NANOSECONDS\n" into buf (at least 32 bytes); returns its length. */
static long format(char *buf, const struct ts *t)
{
    char rev[24];
    long n = 0, len = 0, s = t->sec, ns = t->nsec;

    do {
        rev[n++] = (char)('0' + s % 10);
        s /= 10;
    } while (s && n < (long)sizeof(rev));
    while (n)
        buf[len++] = rev[--n];
    buf[len++] = '.';
    for (long div = 100000000; div; div /= 10)
        buf[len++] = (char)('0' + (ns / div) % 10);
    buf[len++] = '\n';
    return len;
}

static int run(int argc, char **argv)
{
    struct ts t;
    char path[4096], out[32];
    long fd, n, got = 0, len;

    if (sys3(NR_clock_gettime, CLOCK_REALTIME, (long)&t, 0) < 0 || argc < 2)
        return 1;
    fd = open_file(argv[1], O_RDONLY, 0);
    if (fd < 0)
        return 1;
    while (got < (long)sizeof(path) - 1 &&
           (n = sys3(NR_read, fd, (long)(path + got), (long)sizeof(path) - 1 - got)) > 0)
        got += n;
    sys3(NR_close, fd, 0, 0);
    for (n = 0; n < got && path[n] != '\n' && path[n] != '\r'; n++)
        ;
    path[n] = '\0';
    if (!n)
        return 1;
    fd = open_file(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return 1;
    len = format(out, &t);
    n = sys3(NR_write, fd, (long)out, len);
    sys3(NR_close, fd, 0, 0);
    return n == len ? 0 : 1;
}

/* Called from _start with the initial stack: argc, argv..., NULL, envp..., NULL. */
__attribute__((noreturn, used)) void bench_stamp_main(long *sp);

__attribute__((noreturn, used)) void bench_stamp_main(long *sp)
{
    int code = run((int)sp[0], (char **)(sp + 1));

    for (;;)
        sys3(NR_exit_group, code, 0, 0);
}

#if defined(__x86_64__)
__asm__(".text\n"
        ".global _start\n"
        "_start:\n"
        "  xor %rbp, %rbp\n"
        "  mov %rsp, %rdi\n"
        "  and $-16, %rsp\n"
        "  call bench_stamp_main\n"
        "  hlt\n");
#else
__asm__(".text\n"
        ".global _start\n"
        "_start:\n"
        "  mov x0, sp\n"
        "  bl bench_stamp_main\n");
#endif
