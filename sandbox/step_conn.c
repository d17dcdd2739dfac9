/*
 * A step of a served job started with no wrapper process: the runner is the
 * step socket's client itself (what gr-step does, see stepd_wire.h), so a
 * step costs no exec of a wrapper. Everything is non-blocking, for the
 * runner's loop: the request goes out as far as the socket takes it, the
 * rest (and any signal) when the socket is writable again; the reply is
 * read in whatever pieces it comes.
 *
 * The job's init (stepd.c) serves root peers outside the job's pid
 * namespace only; it kills the step when its client hangs up.
 */
#include "sb.h"

#include "stepd_wire.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

_Static_assert(sizeof(((struct sb_stepc_end *)0)->text) >= SB_FAIL_TEXT_MAX, "FAIL text fits");

struct sb_stepc {
    int fd;
    char *out; /* what is still to send: the request, then signal messages */
    size_t out_len, out_off, out_cap;
    /* the reply: struct sb_msg, then for FAIL a uint32_t length and the text */
    unsigned char in[sizeof(struct sb_msg) + sizeof(uint32_t) + SB_FAIL_TEXT_MAX];
    size_t in_len;
    bool ended;
};

static int out_reserve(struct sb_stepc *c, size_t more)
{
    size_t cap = c->out_cap ? c->out_cap : 64;
    char *p;

    if (c->out_len + more <= c->out_cap)
        return 0;
    while (cap < c->out_len + more)
        cap *= 2;
    p = realloc(c->out, cap);
    if (!p)
        return -ENOMEM;
    c->out = p;
    c->out_cap = cap;
    return 0;
}

static void out_put(struct sb_stepc *c, const void *s, size_t len)
{
    memcpy(c->out + c->out_len, s, len);
    c->out_len += len;
}

/* The request: struct sb_req_hdr, then "cwd\0argv...\0env...\0". */
static int build(struct sb_stepc *c, const char *cwd, char *const argv[], char *const envp[])
{
    struct sb_req_hdr h = {.magic = SB_REQ_MAGIC};
    size_t len = strlen(cwd) + 1;
    int r;

    for (size_t i = 0; argv[i]; i++, h.argc++)
        len += strlen(argv[i]) + 1;
    for (size_t i = 0; envp && envp[i]; i++, h.envc++)
        len += strlen(envp[i]) + 1;
    if (len > SB_REQ_MAX)
        return -E2BIG;
    h.len = (uint32_t)len;
    r = out_reserve(c, sizeof(h) + len);
    if (r < 0)
        return r;
    out_put(c, &h, sizeof(h));
    out_put(c, cwd, strlen(cwd) + 1);
    for (size_t i = 0; argv[i]; i++)
        out_put(c, argv[i], strlen(argv[i]) + 1);
    for (size_t i = 0; envp && envp[i]; i++)
        out_put(c, envp[i], strlen(envp[i]) + 1);
    return 0;
}

/* The header goes in one sendmsg with the three fds (SCM_RIGHTS), and what else fits. */
static int send_first(struct sb_stepc *c, const int fds[3])
{
    char cbuf[CMSG_SPACE(3 * sizeof(int))];
    struct iovec iov = {.iov_base = c->out, .iov_len = c->out_len};
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    ssize_t n;

    memset(cbuf, 0, sizeof(cbuf));
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(3 * sizeof(int));
    memcpy(CMSG_DATA(cm), fds, 3 * sizeof(int));
    do
        n = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    /* a stream socket takes the header whole or not at all here: it is the first data */
    if ((size_t)n < sizeof(struct sb_req_hdr))
        return -EAGAIN;
    c->out_off = (size_t)n;
    return 0;
}

int sb_stepc_start(const char *sock, const char *cwd, char *const argv[], char *const envp[],
                   const int fds[3], struct sb_stepc **ret)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct sb_stepc *c;
    int r;

    if (!sock || !cwd || cwd[0] != '/' || !argv || !argv[0])
        return -EINVAL;
    if (strlen(sock) >= sizeof(sa.sun_path))
        return -ENAMETOOLONG;
    memcpy(sa.sun_path, sock, strlen(sock) + 1);
    c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    r = c->fd < 0 ? -errno : build(c, cwd, argv, envp);
    /* a local socket connects at once; EAGAIN: the init's backlog is full */
    if (r == 0 && connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        r = -errno;
    if (r == 0)
        r = send_first(c, fds);
    if (r < 0) {
        sb_stepc_free(c);
        return r;
    }
    *ret = c;
    return 0;
}

int sb_stepc_fd(const struct sb_stepc *c)
{
    return c->fd;
}

bool sb_stepc_want_write(const struct sb_stepc *c)
{
    return !c->ended && c->out_off < c->out_len;
}

int sb_stepc_signal(struct sb_stepc *c, int sig)
{
    struct sb_msg m = {.type = SB_MSG_SIGNAL, .value = sig};
    int r;

    if (sig <= 0 || sig >= 65)
        return -EINVAL;
    if (c->ended)
        return -ESRCH;
    r = out_reserve(c, sizeof(m));
    if (r < 0)
        return r;
    out_put(c, &m, sizeof(m));
    return 0;
}

static void end_with(struct sb_stepc_end *e, bool exited, int status, const char *text, size_t len)
{
    e->exited = exited;
    e->status = status;
    e->text_len = len < sizeof(e->text) ? len : sizeof(e->text) - 1;
    memcpy(e->text, text, e->text_len);
    e->text[e->text_len] = '\0';
}

/* The init hung up or broke the protocol: the wrapper's exit 125 and its message. */
static int lost(struct sb_stepc *c, int err, struct sb_stepc_end *ret)
{
    char text[256];
    int n = snprintf(text, sizeof(text), "gr-sandbox: the job's sandbox ended the step: %s\n",
                     strerror(err));

    c->ended = true;
    end_with(ret, false, 125, text, n < 0 ? 0 : (size_t)n);
    return 1;
}

static int flush(struct sb_stepc *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n =
            send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return 0;
        if (n < 0)
            return -errno;
        c->out_off += (size_t)n;
    }
    c->out_off = c->out_len = 0;
    return 0;
}

/* 1: the reply is whole (ret filled); 0: more to come. */
static int parse(struct sb_stepc *c, struct sb_stepc_end *ret)
{
    struct sb_msg m;
    uint32_t len;

    if (c->in_len < sizeof(m))
        return 0;
    memcpy(&m, c->in, sizeof(m));
    if (m.type == SB_MSG_EXIT) {
        c->ended = true;
        end_with(ret, true, m.value, "", 0);
        return 1;
    }
    if (m.type != SB_MSG_FAIL)
        return lost(c, EPROTO, ret);
    if (c->in_len < sizeof(m) + sizeof(len))
        return 0;
    memcpy(&len, c->in + sizeof(m), sizeof(len));
    if (len >= SB_FAIL_TEXT_MAX)
        return lost(c, EPROTO, ret);
    if (c->in_len < sizeof(m) + sizeof(len) + len)
        return 0;
    c->ended = true;
    end_with(ret, false, m.value > 0 && m.value < 256 ? m.value : 125,
             (const char *)c->in + sizeof(m) + sizeof(len), len);
    return 1;
}

int sb_stepc_io(struct sb_stepc *c, struct sb_stepc_end *ret)
{
    int r;

    if (c->ended)
        return -EALREADY;
    r = flush(c);
    if (r < 0 && r != -EPIPE && r != -ECONNRESET)
        return lost(c, -r, ret);
    for (;;) {
        size_t want = sizeof(struct sb_msg);
        ssize_t n;

        if (c->in_len >= sizeof(struct sb_msg))
            want = c->in_len < want + sizeof(uint32_t) ? want + sizeof(uint32_t) : sizeof(c->in);
        n = recv(c->fd, c->in + c->in_len, want - c->in_len, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return 0;
        if (n <= 0)
            return lost(c, n == 0 ? EPIPE : errno, ret);
        c->in_len += (size_t)n;
        r = parse(c, ret);
        if (r != 0)
            return r;
    }
}

void sb_stepc_hangup(struct sb_stepc *c)
{
    if (c->ended)
        return;
    c->ended = true;
    (void)shutdown(c->fd, SHUT_RDWR);
}

void sb_stepc_free(struct sb_stepc *c)
{
    if (!c)
        return;
    if (c->fd >= 0)
        close(c->fd);
    free(c->out);
    free(c);
}
