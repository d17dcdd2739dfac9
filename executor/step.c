/*
 * Steps: the per-step state machine (env, if, name, run, result) and the
 * process supervision under it.
 *
 * A step process is spawned in its own session (setsid), so its pid is its
 * process group and a timeout or cancellation kills the whole tree with
 * kill(-pgid). Its exit arrives on the loop through a pidfd. A step of a
 * served sandbox job starts with no process of ours: the runner hands it to
 * the job's init over its step socket (sb_stepc_*, what the gr-step wrapper
 * did at the cost of an exec per step), watches the socket for the step's
 * end, forwards signals, and hangs up to kill it (the init then kills the
 * step's group and main process).
 * stdout and stderr are pipes read on the loop and split into lines; each
 * line passes the workflow command parser and the masker before it reaches
 * the reporter. When the main process exits, the pipes get a short grace
 * period to reach EOF: a background child that keeps them open must not
 * hang the job (it is killed at the end of the job, as the runner's orphan
 * process clean-up does).
 *
 * File commands (GITHUB_ENV, GITHUB_OUTPUT, GITHUB_PATH, GITHUB_STATE,
 * GITHUB_STEP_SUMMARY) use fresh files per step, read after the process
 * ended, also after a failure (actions/runner FileCommandManager).
 */
#include "engine_internal.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* ---- processes --------------------------------------------------------- */

struct ex__proc {
    uv_poll_t exitp; /* pidfd readable: the process exited; or the step socket (sc) */
    uv_timer_t reap; /* without pidfd_open: poll waitpid; after a hang-up: the end */
    uv_pipe_t out, err;
    uv_timer_t timeout, grace;
    struct ex_linesplit ls_out, ls_err;
    ex__line_cb on_line;
    ex__proc_done_cb on_done;
    void *ctx;
    struct sb_stepc *sc; /* started through the job's step socket: no pid of ours */
    pid_t pid;
    int pidfd, status, open_handles;
    bool exited, out_eof, err_eof, timed_out, closing;
};

static void proc_closed(uv_handle_t *h)
{
    struct ex__proc *p = h->data;

    if (--p->open_handles > 0)
        return;
    if (p->pidfd >= 0)
        close(p->pidfd);
    sb_stepc_free(p->sc);
    ex_linesplit_release(&p->ls_out);
    ex_linesplit_release(&p->ls_err);
    if (p->on_done)
        p->on_done(p->ctx, p->status, p->timed_out);
    free(p);
}

static void proc_close_all(struct ex__proc *p)
{
    uv_handle_t *hs[] = {(uv_handle_t *)&p->out,     (uv_handle_t *)&p->err,
                         (uv_handle_t *)&p->timeout, (uv_handle_t *)&p->grace,
                         (uv_handle_t *)&p->reap,    (uv_handle_t *)&p->exitp};
    size_t n = p->pidfd >= 0 || p->sc ? GR_ARRAY_SIZE(hs) : GR_ARRAY_SIZE(hs) - 1;

    p->closing = true;
    p->open_handles = (int)n;
    for (size_t i = 0; i < n; i++) {
        hs[i]->data = p;
        uv_close(hs[i], proc_closed);
    }
}

/* Read what is still buffered in a pipe without blocking (bounded). */
static void pipe_drain(uv_pipe_t *pipe, struct ex_linesplit *ls)
{
    char buf[16384];
    size_t total = 0;
    uv_os_fd_t fd;

    if (uv_fileno((uv_handle_t *)pipe, &fd) != 0)
        return;
    while (total < EX_LOG_MAX_LINE) {
        ssize_t n = read(fd, buf, sizeof(buf));

        if (n <= 0)
            break;
        ex_linesplit_feed(ls, buf, (size_t)n);
        total += (size_t)n;
    }
}

static void proc_finish(struct ex__proc *p)
{
    if (p->closing)
        return;
    if (!p->out_eof)
        pipe_drain(&p->out, &p->ls_out);
    if (!p->err_eof)
        pipe_drain(&p->err, &p->ls_err);
    ex_linesplit_flush(&p->ls_out);
    ex_linesplit_flush(&p->ls_err);
    proc_close_all(p);
}

static void grace_cb(uv_timer_t *t)
{
    proc_finish(gr_container_of(t, struct ex__proc, grace));
}

static void proc_maybe_finish(struct ex__proc *p)
{
    if (!p->exited || p->closing)
        return;
    if (p->out_eof && p->err_eof) {
        proc_finish(p);
        return;
    }
    if (!uv_is_active((uv_handle_t *)&p->grace))
        uv_timer_start(&p->grace, grace_cb, EX__PIPE_GRACE_MS, 0);
}

/* Reap the main process if it exited; waitpid on our own pid only. */
static void proc_try_reap(struct ex__proc *p)
{
    int st = 0;
    pid_t r = waitpid(p->pid, &st, WNOHANG);

    if (r == 0 || (r < 0 && errno == EINTR))
        return;
    p->exited = true;
    if (r < 0)
        p->status = -SIGKILL; /* reaped elsewhere: the status is lost */
    else if (WIFSIGNALED(st))
        p->status = -WTERMSIG(st);
    else
        p->status = WEXITSTATUS(st);
    if (p->pidfd >= 0)
        uv_poll_stop(&p->exitp);
    uv_timer_stop(&p->reap);
    uv_timer_stop(&p->timeout);
    proc_maybe_finish(p);
}

static void exit_poll_cb(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    proc_try_reap(gr_container_of(h, struct ex__proc, exitp));
}

static void reap_cb(uv_timer_t *t)
{
    proc_try_reap(gr_container_of(t, struct ex__proc, reap));
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    static char slab[65536];

    (void)h;
    (void)suggested;
    /* One loop thread, and read_cb consumes the data before the next read. */
    *buf = uv_buf_init(slab, sizeof(slab));
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct ex__proc *p = s->data;
    bool is_out = s == (uv_stream_t *)&p->out;
    struct ex_linesplit *ls = is_out ? &p->ls_out : &p->ls_err;

    if (nread > 0) {
        ex_linesplit_feed(ls, buf->base, (size_t)nread);
        return;
    }
    if (nread == 0)
        return;
    uv_read_stop(s);
    ex_linesplit_flush(ls);
    if (is_out)
        p->out_eof = true;
    else
        p->err_eof = true;
    proc_maybe_finish(p);
}

static void timeout_cb(uv_timer_t *t)
{
    struct ex__proc *p = gr_container_of(t, struct ex__proc, timeout);

    p->timed_out = true;
    ex__proc_kill(p, SIGKILL);
}

/* The end of a step started through the socket, as the wrapper would have mirrored it. */
static void conn_ended(struct ex__proc *p, const struct sb_stepc_end *e)
{
    p->exited = true;
    if (!e->exited)
        p->status = e->status;
    else if (WIFSIGNALED(e->status))
        p->status = -WTERMSIG(e->status);
    else
        p->status = WIFEXITED(e->status) ? WEXITSTATUS(e->status) : 125;
    /* what the wrapper printed on stderr, in the step's log */
    if (e->text_len)
        ex_linesplit_feed(&p->ls_err, e->text, e->text_len);
    uv_poll_stop(&p->exitp);
    uv_timer_stop(&p->timeout);
    proc_maybe_finish(p);
}

static void conn_cb(uv_poll_t *h, int status, int events);

static void conn_watch(struct ex__proc *p)
{
    int ev = UV_READABLE | (sb_stepc_want_write(p->sc) ? UV_WRITABLE : 0);

    (void)uv_poll_start(&p->exitp, ev, conn_cb);
}

static void conn_cb(uv_poll_t *h, int status, int events)
{
    struct ex__proc *p = gr_container_of(h, struct ex__proc, exitp);
    struct sb_stepc_end e;
    int r;

    (void)status;
    (void)events;
    if (p->exited)
        return;
    r = sb_stepc_io(p->sc, &e);
    if (r == 0)
        conn_watch(p);
    else if (r > 0)
        conn_ended(p, &e);
}

/* A hung-up step ends on the next loop turn, as a killed wrapper's pidfd would report it. */
static void hungup_cb(uv_timer_t *t)
{
    proc_maybe_finish(gr_container_of(t, struct ex__proc, reap));
}

static void conn_kill(struct ex__proc *p, int sig)
{
    if (p->exited || p->closing)
        return; /* as with a wrapper that is gone: the job's kill reaches what is left */
    if (sig != SIGKILL) {
        if (sb_stepc_signal(p->sc, sig) == 0)
            conn_watch(p);
        return;
    }
    sb_stepc_hangup(p->sc);
    p->exited = true;
    p->status = -SIGKILL;
    uv_poll_stop(&p->exitp);
    uv_timer_stop(&p->timeout);
    uv_timer_start(&p->reap, hungup_cb, 0, 0);
}

void ex__proc_kill(struct ex__proc *p, int sig)
{
    if (p && p->sc)
        conn_kill(p, sig);
    /* the whole group: also children still holding the pipes after the main process */
    else if (p && p->pid > 0)
        (void)kill(-p->pid, sig);
}

pid_t ex__proc_pgid(const struct ex__proc *p)
{
    return p ? p->pid : 0;
}

static void proc_line(void *ctx, const char *line, size_t len)
{
    struct ex__proc *p = ctx;

    p->on_line(p->ctx, line, len);
}

/*
 * posix_spawn (glibc: clone with CLONE_VM|CLONE_VFORK) rather than
 * uv_spawn, which forks on libuv 1.44: copying the runner's page tables and
 * the copy-on-write faults after each fork cost the loop several ms per
 * step. No code of ours runs between clone and exec. The child gets its own
 * session (so its pid is its process group), default signal dispositions,
 * an empty signal mask, /dev/null as stdin and our pipes as stdout/stderr.
 */
static int spawn(const struct ex__proc_opts *o, int out_w, int err_w, pid_t *ret)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    sigset_t none, all;
    int r;

    sigemptyset(&none);
    sigfillset(&all);
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    r = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    if (r == 0)
        r = posix_spawn_file_actions_adddup2(&fa, out_w, 1);
    if (r == 0)
        r = posix_spawn_file_actions_adddup2(&fa, err_w, 2);
    if (r == 0 && o->cwd)
        r = posix_spawn_file_actions_addchdir_np(&fa, o->cwd);
    if (r == 0)
        r = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK |
                                              POSIX_SPAWN_SETSIGDEF);
    if (r == 0)
        r = posix_spawnattr_setsigmask(&at, &none);
    if (r == 0)
        r = posix_spawnattr_setsigdefault(&at, &all);
    if (r == 0)
        r = posix_spawn(ret, o->argv[0], &fa, &at, o->argv, o->envp);
    posix_spawnattr_destroy(&at);
    posix_spawn_file_actions_destroy(&fa);
    return -r;
}

/*
 * A step of a served job, handed to its init (no wrapper process). Any failure here
 * leaves the wrapper's command line to run (and to fail as it always did).
 */
static struct sb_stepc *start_direct(const struct ex__proc_opts *o, int out_w, int err_w)
{
    char cwd[PATH_MAX];
    struct sb_stepc *sc = NULL;
    int null_fd;

    if (!o->step_socket || !o->step_argv)
        return NULL;
    /* absolute and resolved, as the wrapper's getcwd() after its chdir gave it */
    if (!realpath(o->cwd ? o->cwd : ".", cwd))
        return NULL;
    null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null_fd < 0)
        return NULL;
    /* the fds travel with the request's header: ours can go at once */
    if (sb_stepc_start(o->step_socket, cwd, o->step_argv, o->envp,
                       (const int[3]){null_fd, out_w, err_w}, &sc) < 0)
        sc = NULL;
    close(null_fd);
    return sc;
}

static void fds_close(int *fds, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (fds[i] >= 0)
            close(fds[i]);
    }
}

int ex__proc_start(uv_loop_t *loop, const struct ex__proc_opts *o, struct ex__proc **ret)
{
    int fds[4] = {-1, -1, -1, -1}; /* out_r, out_w, err_r, err_w */
    struct sb_stepc *sc = NULL;
    struct ex__proc *p;
    pid_t pid = 0;
    int r = 0;

    if (pipe2(fds, O_CLOEXEC) < 0 || pipe2(fds + 2, O_CLOEXEC) < 0) {
        r = -errno;
        fds_close(fds, 4);
        return r;
    }
    sc = start_direct(o, fds[1], fds[3]);
    if (!sc)
        r = spawn(o, fds[1], fds[3], &pid);
    close(fds[1]);
    close(fds[3]);
    if (r < 0) {
        close(fds[0]);
        close(fds[2]);
        return r;
    }
    p = gr_xcalloc(1, sizeof(*p));
    p->on_line = o->on_line;
    p->on_done = o->on_done;
    p->ctx = o->ctx;
    p->sc = sc;
    p->pid = pid;
    p->pidfd = sc ? -1 : (int)syscall(SYS_pidfd_open, pid, 0);
    ex_linesplit_init(&p->ls_out, proc_line, p);
    ex_linesplit_init(&p->ls_err, proc_line, p);
    uv_pipe_init(loop, &p->out, 0);
    uv_pipe_init(loop, &p->err, 0);
    uv_timer_init(loop, &p->timeout);
    uv_timer_init(loop, &p->grace);
    uv_timer_init(loop, &p->reap);
    p->out.data = p;
    p->err.data = p;
    if (uv_pipe_open(&p->out, fds[0]) < 0 || uv_pipe_open(&p->err, fds[2]) < 0)
        abort(); /* only fails for an fd that is not a pipe */
    uv_read_start((uv_stream_t *)&p->out, alloc_cb, read_cb);
    uv_read_start((uv_stream_t *)&p->err, alloc_cb, read_cb);
    if (sc) {
        if (uv_poll_init(loop, &p->exitp, sb_stepc_fd(sc)) < 0)
            abort(); /* only fails for an fd that cannot be polled */
        conn_watch(p);
    } else if (p->pidfd >= 0 && uv_poll_init(loop, &p->exitp, p->pidfd) == 0) {
        uv_poll_start(&p->exitp, UV_READABLE, exit_poll_cb);
    } else {
        if (p->pidfd >= 0)
            close(p->pidfd);
        p->pidfd = -1;
        uv_timer_start(&p->reap, reap_cb, 5, 5);
    }
    if (o->timeout_s > 0)
        uv_timer_start(&p->timeout, timeout_cb, (uint64_t)(o->timeout_s * 1000.0 + 0.5), 0);
    *ret = p;
    return 0;
}

int ex__scratch_write(const char *path, const char *data, size_t len)
{
    /* O_NONBLOCK: a FIFO a step left in the way must not hang the runner */
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0644);
    int r = 0;

    if (fd < 0)
        return -errno;
    while (len > 0) {
        ssize_t n = write(fd, data, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            r = n < 0 ? -errno : -EIO;
            break;
        }
        data += n;
        len -= (size_t)n;
    }
    if (close(fd) < 0 && r == 0)
        r = -errno;
    return r;
}

/*
 * The previous step's file of this slot (leg->spare), when it lies in dfd as the new one does:
 * removed. unlinkat removes a name only, whatever a step put there.
 */
static void spare_drop(struct ex__leg *leg, int slot, int dfd, size_t dir_len, const char *path)
{
    char *sp = leg->spare[slot];

    if (sp && strncmp(sp, path, dir_len) == 0 && !strchr(sp + dir_len, '/'))
        (void)unlinkat(dfd, sp + dir_len, 0);
    free(sp);
    leg->spare[slot] = NULL;
}

/* A new file name in dfd, the slot's from the start, holding data. */
static int scratch_new_at(const struct ex__leg *leg, int dfd, const char *name, const char *data,
                          size_t len)
{
    int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    int r;

    if (fd < 0 && errno == EEXIST) {
        /* planted under a name that was to be fresh: not ours, gone */
        if (unlinkat(dfd, name, 0) < 0)
            return -errno;
        fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    }
    if (fd < 0)
        return -errno;
    r = ex__slot_own_fd(leg, fd);
    while (r == 0 && len > 0) {
        ssize_t n = write(fd, data, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            r = n < 0 ? -errno : -EIO;
        else {
            data += n;
            len -= (size_t)n;
        }
    }
    if (close(fd) < 0 && r == 0)
        r = -errno;
    return r;
}

int ex__scratch_new(struct ex__leg *leg, int slot, const char *path, const char *data, size_t len)
{
    const char *name;
    int dfd = ex__scratch_dir(leg, path, true, &name);
    int r;

    if (dfd < 0)
        return dfd;
    spare_drop(leg, slot, dfd, (size_t)(name - path), path);
    r = scratch_new_at(leg, dfd, name, data, len);
    close(dfd);
    return r;
}

/* ---- step state -------------------------------------------------------- */

static void spare_put(struct ex__leg *leg, int slot, char **path)
{
    if (*path && !leg->spare[slot]) {
        leg->spare[slot] = *path;
        *path = NULL;
    }
    free(*path);
    *path = NULL;
}

static void stepexec_free(struct ex__stepexec *se)
{
    if (!se)
        return;
    spare_put(se->leg, EX__SLOT_ENV, &se->file_env);
    spare_put(se->leg, EX__SLOT_OUTPUT, &se->file_output);
    spare_put(se->leg, EX__SLOT_PATH, &se->file_path);
    spare_put(se->leg, EX__SLOT_STATE, &se->file_state);
    spare_put(se->leg, EX__SLOT_SUMMARY, &se->file_summary);
    spare_put(se->leg, EX__SLOT_SCRIPT, &se->script);
    free(se->name);
    free(se->ctx_name);
    json_decref(se->env);
    json_decref(se->outputs);
    json_decref(se->annotations);
    json_decref(se->extra_env);
    json_decref(se->state);
    gr_buf_release(&se->line);
    free(se);
}

/* Generated context names: __run, __run_2, __actions_checkout (ConvertToSteps). */
static char *generated_name(struct ex__leg *leg, const struct ex_step *st)
{
    const char *uses = ex_node_str(st->uses);
    struct gr_buf b = GR_BUF_INIT(0);
    char *base, *name;
    int r = 0;

    if (!uses) {
        r |= gr_buf_adds(&b, "__run");
    } else if (uses[0] == '.') {
        r |= gr_buf_adds(&b, "__self");
    } else {
        const char *s = gr_startswith(uses, "docker://") ? uses + 9 : uses;
        const char *end = strchr(s, '@');
        size_t len = end && !gr_startswith(uses, "docker://") ? (size_t)(end - s) : strlen(s);
        int slashes = 0;

        r |= gr_buf_adds(&b, "__");
        for (size_t i = 0; i < len; i++) {
            char c = s[i];

            if (c == '/' && ++slashes >= 2 && !gr_startswith(uses, "docker://"))
                break;
            r |= gr_buf_addch(&b, (isalnum((unsigned char)c) || c == '-' || c == '_') ? c : '_');
        }
    }
    (void)r;
    base = gr_buf_detach(&b, NULL);
    name = gr_xstrdup(base);
    for (int i = 2; json_object_get(leg->gen_ids, name); i++) {
        free(name);
        name = gr_xasprintf("%s_%d", base, i);
    }
    json_object_set_new(leg->gen_ids, name, json_true());
    free(base);
    return name;
}

static bool json_true_str(const json_t *obj, const char *key)
{
    const char *v = json_string_value(json_object_get(obj, key));

    return v && strcasecmp(v, "true") == 0;
}

struct ex__stepexec *ex__stepexec_new(struct ex__leg *leg, const struct ex_step *st)
{
    struct ex__stepexec *se = gr_xcalloc(1, sizeof(*se));

    se->leg = leg;
    se->frame = leg->frame;
    se->step = st;
    se->ctx_name = st->id ? gr_xstrdup(st->id) : generated_name(leg, st);
    se->outputs = json_object();
    se->annotations = json_array();
    se->line = GR_BUF_INIT(0);
    se->t0 = gr_now_ns();
    se->debug = leg->run->opts->verbose ||
                json_true_str(leg->plan->secrets, "ACTIONS_STEP_DEBUG") ||
                json_true_str(leg->plan->vars, "ACTIONS_STEP_DEBUG");
    leg->cmds.echo = se->debug;
    return se;
}

/* Step env is evaluated against the job-wide map only (keys cannot see each other). */
static int step_env(struct ex__stepexec *se, struct gr_diag *d)
{
    struct ex__leg *leg = se->leg;
    struct ex_eval_env ev;
    json_t *v = NULL;
    int r;

    json_t *base = se->frame ? ex__frame_env(se->frame) : json_deep_copy(leg->job_env);

    json_object_set_new(leg->ctx, "env", base);
    se->env = json_deep_copy(base);
    if (se->step->env) {
        ex__leg_eval_env(leg, &ev);
        r = ex_node_eval(se->step->env, &ev, &v, d);
        if (r < 0)
            return r;
        ex__env_merge(se->env, v);
        json_decref(v);
    }
    json_object_set(leg->ctx, "env", se->env);
    return 0;
}

static char *first_line(const char *s)
{
    while (*s == '\n' || *s == '\r' || *s == ' ' || *s == '\t') {
        const char *nl = strpbrk(s, "\r\n");
        const char *p = s;

        while (*p == ' ' || *p == '\t')
            p++;
        if (*p != '\n' && *p != '\r')
            break;
        s = nl + 1;
    }
    return gr_xstrndup(s, strcspn(s, "\r\n"));
}

static char *step_name(struct ex__stepexec *se)
{
    const struct ex_step *st = se->step;
    struct ex_eval_env ev;
    struct gr_diag d = {0};
    char *s = NULL, *fl, *out;

    ex__leg_eval_env(se->leg, &ev);
    if (st->name && ex__eval_string(st->name, &ev, "", &s, &d) == 0 && *s) {
        out = first_line(s);
        free(s);
        return out;
    }
    free(s);
    s = NULL;
    if (st->uses)
        return gr_xasprintf("Run %s", ex_node_str(st->uses) ? ex_node_str(st->uses) : "");
    if (ex__eval_string(st->run, &ev, "", &s, &d) < 0)
        s = gr_xstrdup(ex_node_str(st->run) ? ex_node_str(st->run) : "");
    fl = first_line(s);
    out = gr_xasprintf("Run %s", fl);
    free(fl);
    free(s);
    return out;
}

static int step_if(struct ex__stepexec *se, bool *ret, struct gr_diag *d)
{
    struct ex_eval_env ev;
    const char *cond = se->step->if_ ? ex_node_str(se->step->if_) : NULL;

    ex__leg_eval_env(se->leg, &ev);
    return ex_if_eval(cond ? cond : "", &ev, ret, d);
}

void ex__step_report_start(struct ex__stepexec *se)
{
    const struct ex_reporter *rep = se->leg->run->rep;

    if (se->frame)
        return; /* steps of a composite action log under their uses: step */
    if (rep->step_started)
        rep->step_started(rep->ctx, se->leg, se->step->index, se->name);
}

static int step_dispatch(struct ex__stepexec *se)
{
    const char *uses = ex_node_str(se->step->uses);
    ex__native_fn *native;

    if (!se->step->uses)
        return ex__script_run(se);
    native = ex__native_for(se->leg->run->opts, uses);
    return native ? native(se, uses) : ex__action_run(se);
}

static void step_fail_early(struct ex__stepexec *se, const struct gr_diag *d)
{
    char msg[700];

    if (!se->name)
        se->name = gr_xstrdup(se->step->id ? se->step->id : se->ctx_name);
    ex__step_report_start(se);
    gr_diag_format(d, msg, sizeof(msg));
    ex__leg_annotate(se->leg, se, "error", msg, NULL);
    ex__step_finished(se, EX_RESULT_FAILURE);
}

int ex__step_run(struct ex__leg *leg, const struct ex_step *st)
{
    struct ex__stepexec *se = ex__stepexec_new(leg, st);
    struct ex_eval_env ev;
    struct gr_diag d = {0};
    bool run = false;
    char *name;

    leg->cur = se;
    json_object_set_new(json_object_get(leg->ctx, "github"), "action", json_string(se->ctx_name));
    if (step_env(se, &d) < 0 || step_if(se, &run, &d) < 0) {
        step_fail_early(se, &d);
        return 1;
    }
    name = step_name(se);
    se->name = ex__leg_mask(leg, name); /* display names are masked too */
    free(name);
    if (!run) {
        ex__step_report_start(se);
        ex__step_finished(se, EX_RESULT_SKIPPED);
        return 1;
    }
    ex__step_report_start(se);
    ex__leg_eval_env(leg, &ev);
    if (ex__eval_number(st->timeout_minutes, &ev, 0, &se->timeout_min, &d) < 0) {
        step_fail_early(se, &d);
        return 1;
    }
    if (se->frame)
        se->timeout_min = ex__frame_timeout(se->frame, se->timeout_min);
    return step_dispatch(se);
}

/* ---- results ----------------------------------------------------------- */

static enum ex_result apply_continue_on_error(struct ex__stepexec *se, enum ex_result outcome)
{
    struct ex_eval_env ev;
    struct gr_diag d = {0};
    bool coe = false;

    if (outcome != EX_RESULT_FAILURE || !se->step->continue_on_error)
        return outcome;
    ex__leg_eval_env(se->leg, &ev);
    if (ex__eval_bool(se->step->continue_on_error, &ev, false, &coe, &d) < 0) {
        ex__leg_annotate(se->leg, se, "error", d.msg, NULL);
        return outcome;
    }
    return coe ? EX_RESULT_SUCCESS : outcome;
}

/*
 * A native step (run in the runner, no process: no file command files) that writes into the
 * workspace as the runner: checkout, cache restore, download-artifact.
 */
static bool native_wrote(const struct ex__stepexec *se)
{
    const char *uses = ex_node_str(se->step->uses);

    if (!se->leg->slot || se->file_env || se->post || !uses || se->leg->run->opts->no_native ||
        !ex__native_lookup(uses))
        return false;
    return strstr(uses, "/checkout@") || strstr(uses, "/cache@") || strstr(uses, "/restore@") ||
           strstr(uses, "/download-artifact@");
}

void ex__step_finished(struct ex__stepexec *se, enum ex_result outcome)
{
    struct ex__leg *leg = se->leg;
    const struct ex_reporter *rep = leg->run->rep;
    enum ex_result conclusion = apply_continue_on_error(se, outcome);
    uint64_t dur = gr_now_ns() - se->t0;
    json_t *sc;

    if (se->step->id && !se->post && !se->pre) {
        sc = json_pack("{s:O,s:s,s:s}", "outputs", se->outputs, "outcome", ex_result_name(outcome),
                       "conclusion", ex_result_name(conclusion));
        json_object_set_new(leg->steps_ctx, se->step->id, sc);
    }
    if (conclusion == EX_RESULT_FAILURE && !leg->cancelled)
        leg->status = "failure";
    if (se->frame)
        ex__composite_child_done(se->frame, se, conclusion);
    if (rep->step_finished && !se->frame && !se->quiet)
        rep->step_finished(rep->ctx, leg, se->step->index, outcome, conclusion, dur);
    if (!se->frame && !se->quiet)
        ex__json_step_add(leg, se, outcome, conclusion, dur);
    json_object_set(leg->ctx, "env", leg->job_env);
    if (leg->cur == se)
        leg->cur = NULL;
    if (native_wrote(se))
        ex__slot_claim(leg);
    stepexec_free(se);
}

/* ---- process environment ----------------------------------------------- */

static const char *const github_env_keys[] = {
    "action_path",
    "action_repository",
    "action_ref",
    "actor",
    "actor_id",
    "api_url",
    "base_ref",
    "event_name",
    "event_path",
    "graphql_url",
    "head_ref",
    "job",
    "ref",
    "ref_name",
    "ref_protected",
    "ref_type",
    "repository",
    "repository_id",
    "repository_owner",
    "repository_owner_id",
    "retention_days",
    "run_attempt",
    "run_id",
    "run_number",
    "server_url",
    "sha",
    "triggering_actor",
    "workflow",
    "workflow_ref",
    "workflow_sha",
    "workspace",
};

static void forced_add_upper(json_t *forced, const char *prefix, const char *key, const json_t *v)
{
    char *name = gr_xasprintf("%s%s", prefix, key);
    char *val;

    for (char *p = name; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    if (json_is_object(v) || json_is_array(v)) {
        free(name);
        return;
    }
    val = json_is_null(v) ? gr_xstrdup("") : ex_value_to_string(v);
    json_object_set_new(forced, name, json_string(val));
    free(val);
    free(name);
}

/*
 * The step's five file-command files, fresh and empty, the slot's, with unique names in
 * RUNNER_TEMP/_runner_file_commands (actions/runner FileCommandManager.InitializeFiles, which
 * deletes the previous step's files as this does): one walk to the directory for all five.
 * New inodes rather than the previous step's files emptied: truncating a file that held data
 * makes ext4 (auto_da_alloc) write back on close, milliseconds per file.
 */
static void filecmds_create(struct ex__stepexec *se)
{
    static unsigned seq;
    struct ex__leg *leg = se->leg;
    const struct {
        char **path;
        int slot;
        const char *prefix;
    } f[] = {
        {&se->file_env, EX__SLOT_ENV, "set_env_"},
        {&se->file_output, EX__SLOT_OUTPUT, "set_output_"},
        {&se->file_path, EX__SLOT_PATH, "add_path_"},
        {&se->file_state, EX__SLOT_STATE, "save_state_"},
        {&se->file_summary, EX__SLOT_SUMMARY, "step_summary_"},
    };
    unsigned t = (unsigned)uv_hrtime(), pid = (unsigned)getpid();
    const char *name = NULL;
    size_t dir_len;
    int dfd, r;

    for (size_t i = 0; i < GR_ARRAY_SIZE(f); i++)
        *f[i].path = gr_xasprintf("%s/_runner_file_commands/%s%08x%04x%x", leg->temp_dir,
                                  f[i].prefix, t, ++seq, pid);
    dfd = ex__scratch_dir(leg, se->file_env, true, &name);
    dir_len = name ? (size_t)(name - se->file_env) : 0;
    for (size_t i = 0; i < GR_ARRAY_SIZE(f); i++) {
        /* the same directory for all: what follows it is each file's name */
        r = dfd;
        if (dfd >= 0) {
            spare_drop(leg, f[i].slot, dfd, dir_len, *f[i].path);
            r = scratch_new_at(leg, dfd, *f[i].path + dir_len, NULL, 0);
        }
        if (r < 0)
            GR_LOG_WARN("cannot create '%s': %s", *f[i].path, gr_strerror(r));
    }
    if (dfd >= 0)
        close(dfd);
}

/* "KEY=VALUE" entries of list into forced, but a key the env context sets keeps its value. */
static void add_listed(json_t *forced, const json_t *env, const char *const *list)
{
    for (const char *const *e = list; e && *e; e++) {
        const char *eq = strchr(*e, '=');
        char key[256];

        if (!eq || eq == *e || (size_t)(eq - *e) >= sizeof(key))
            continue;
        memcpy(key, *e, (size_t)(eq - *e));
        key[eq - *e] = '\0';
        if (!json_object_get(env, key)) /* an explicit env: entry wins */
            json_object_set_new(forced, key, json_string(eq + 1));
    }
}

static json_t *forced_env(struct ex__stepexec *se)
{
    const json_t *gh = json_object_get(se->leg->ctx, "github");
    const json_t *rn = json_object_get(se->leg->ctx, "runner");
    json_t *forced = json_object();
    const char *k;
    json_t *v;

    for (size_t i = 0; i < GR_ARRAY_SIZE(github_env_keys); i++) {
        v = json_object_get(gh, github_env_keys[i]);
        if (v)
            forced_add_upper(forced, "GITHUB_", github_env_keys[i], v);
    }
    json_object_foreach((json_t *)rn, k, v)
    {
        forced_add_upper(forced, "RUNNER_", k, v);
    }
    json_object_set_new(forced, "GITHUB_ACTION", json_string(se->ctx_name));
    json_object_set_new(forced, "GITHUB_ENV", json_string(se->file_env));
    json_object_set_new(forced, "GITHUB_OUTPUT", json_string(se->file_output));
    json_object_set_new(forced, "GITHUB_PATH", json_string(se->file_path));
    json_object_set_new(forced, "GITHUB_STATE", json_string(se->file_state));
    json_object_set_new(forced, "GITHUB_STEP_SUMMARY", json_string(se->file_summary));
    json_object_set_new(forced, "GHRUN", json_string("true"));
    add_listed(forced, se->env, se->leg->run->opts->step_env);
    add_listed(forced, se->env, (const char *const *)se->leg->gpu_env);
    if (se->extra_env)
        json_object_update(forced, se->extra_env);
    return forced;
}

char **ex__step_process_env(struct ex__stepexec *se)
{
    json_t *forced;
    char **envp;

    filecmds_create(se);
    forced = forced_env(se);
    envp = ex__step_environ(environ, se->env, forced, se->leg->path_list);
    json_decref(forced);
    return envp;
}

/* ---- output lines and workflow commands -------------------------------- */

static bool env_truthy(const json_t *env, const char *key)
{
    const char *v = json_string_value(json_object_get(env, key));

    if (!v)
        v = getenv(key);
    return v && strcasecmp(v, "true") == 0;
}

static void line_plain(struct ex__stepexec *se, const char *line, size_t len)
{
    ex__leg_logn(se->leg, line, len);
}

/* Message cut to the runner's limit; file made relative to the workspace. */
static void cmd_annotation(struct ex__stepexec *se, struct ex_cmd *c)
{
    const char *lvl = c->kind == EX_CMD_ERROR     ? "error"
                      : c->kind == EX_CMD_WARNING ? "warning"
                                                  : "notice";
    const char *ws = se->leg->run->workdir;
    size_t wl = strlen(ws);
    const char *text = c->message ? c->message : "";
    char *msg = gr_xstrndup(text, strnlen(text, EX_CMD_MAX_ANNOTATION));

    if (c->file && strncmp(c->file, ws, wl) == 0 && c->file[wl] == '/')
        memmove(c->file, c->file + wl + 1, strlen(c->file + wl + 1) + 1);
    ex__leg_annotate(se->leg, se, lvl, msg, c);
    free(msg);
}

static void cmd_env(struct ex__stepexec *se, const struct ex_cmd *c)
{
    struct ex__leg *leg = se->leg;

    if (c->kind == EX_CMD_ADD_PATH) {
        ex__path_add(leg->path_list, c->message);
    } else if (strcmp(c->prop_name, "NODE_OPTIONS") == 0) {
        ex__leg_annotate(leg, se, "error",
                         "Can't store NODE_OPTIONS output parameter using '::set-env' command.",
                         NULL);
    } else {
        json_object_set_new(leg->job_env, c->prop_name, ex__json_text(c->message));
    }
}

static void cmd_group(struct ex__stepexec *se, const struct ex_cmd *c)
{
    const struct ex_reporter *rep = se->leg->run->rep;
    struct gr_buf m = GR_BUF_INIT(0);
    const char *title = c->message ? c->message : "";

    if (ex_masker_apply(se->leg->masker, title, strlen(title), &m) < 0)
        gr_buf_reset(&m);
    if (rep->group)
        rep->group(rep->ctx, se->leg, m.ptr, c->kind == EX_CMD_GROUP);
    gr_buf_release(&m);
}

static void cmd_apply(struct ex__stepexec *se, struct ex_cmd *c)
{
    switch (c->kind) {
    case EX_CMD_ERROR:
    case EX_CMD_WARNING:
    case EX_CMD_NOTICE:
        cmd_annotation(se, c);
        break;
    case EX_CMD_DEBUG:
        if (se->debug)
            ex__leg_log(se->leg, "##[debug]%s", c->message);
        break;
    case EX_CMD_GROUP:
    case EX_CMD_ENDGROUP:
        cmd_group(se, c);
        break;
    case EX_CMD_ADD_MASK:
        if (!c->warning)
            ex_masker_add(se->leg->masker, c->message, strlen(c->message));
        break;
    case EX_CMD_STOP_COMMANDS:
        if (strlen(c->message) > 6)
            ex_masker_add(se->leg->masker, c->message, strlen(c->message));
        break;
    case EX_CMD_SET_OUTPUT:
        json_object_set_new(se->outputs, c->prop_name, ex__json_text(c->message));
        break;
    case EX_CMD_SET_ENV:
    case EX_CMD_ADD_PATH:
        cmd_env(se, c);
        break;
    case EX_CMD_SAVE_STATE:
        if (!se->state)
            se->state = json_object();
        json_object_set_new(se->state, c->prop_name, json_string(c->message));
        break;
    default:
        break; /* resume/echo/save-state/matchers: parser state only */
    }
}

/* Follows the protocol in ex/commands.h. */
void ex__step_line(struct ex__stepexec *se, const char *line, size_t len)
{
    struct ex__leg *leg = se->leg;
    struct ex_cmd c = {0};

    leg->cmds.allow_unsecure = env_truthy(se->env, "ACTIONS_ALLOW_UNSECURE_COMMANDS");
    leg->cmds.allow_unsecure_stop_tokens =
        env_truthy(se->env, "ACTIONS_ALLOW_UNSECURE_STOPCOMMAND_TOKENS");
    if (ex_cmd_parse(&leg->cmds, line, len, &c) < 0 || c.kind == EX_CMD_NONE) {
        line_plain(se, line, len);
        ex_cmd_release(&c);
        return;
    }
    if (c.print_line)
        line_plain(se, line, len);
    else if (c.kind == EX_CMD_ADD_MASK && leg->cmds.echo)
        ex__leg_log(leg, "::add-mask::***");
    if (c.error) {
        char *fm = ex_cmd_failure_message(&c, line, len);

        ex__leg_annotate(leg, se, "error", fm, NULL);
        ex__leg_annotate(leg, se, "error", c.error, NULL);
        free(fm);
        se->failed_cmd = true;
    } else {
        if (c.warning)
            ex__leg_annotate(leg, se, "warning", c.warning, NULL);
        cmd_apply(se, &c);
    }
    ex_cmd_release(&c);
}

/* ---- file commands ----------------------------------------------------- */

/* The step's file-command files, by EX__SLOT_* (ENV to SUMMARY). */
static void filecmd_files(const struct ex__stepexec *se, const char *files[EX__SLOT_SUMMARY + 1])
{
    files[EX__SLOT_ENV] = se->file_env;
    files[EX__SLOT_OUTPUT] = se->file_output;
    files[EX__SLOT_PATH] = se->file_path;
    files[EX__SLOT_STATE] = se->file_state;
    files[EX__SLOT_SUMMARY] = se->file_summary;
}

/*
 * Which of the step's file-command files it left empty: a regular file of the steps' uid with
 * one link and nothing in it has nothing to read (most steps write none of them). One walk to
 * their directory and an fstatat each, instead of a walk, an open and a read each; any other
 * file is read as before (ex__scratch_read: no link followed, the same checks).
 */
static unsigned filecmds_scan_empty(const struct ex__stepexec *se)
{
    const struct ex__leg *leg = se->leg;
    uid_t uid = leg->slot ? leg->slot_uid : geteuid(); /* as slot.c's check_fd */
    const char *files[EX__SLOT_SUMMARY + 1], *name;
    unsigned empty = 0;
    struct stat st;
    size_t dir_len;
    int dfd;

    filecmd_files(se, files);
    dfd = ex__scratch_dir(leg, se->file_env, false, &name);
    if (dfd < 0)
        return 0;
    dir_len = (size_t)(name - se->file_env);
    for (int i = 0; i <= EX__SLOT_SUMMARY; i++) {
        const char *n = files[i] + dir_len;

        if (strncmp(files[i], se->file_env, dir_len) != 0 || strchr(n, '/'))
            continue;
        if (fstatat(dfd, n, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
            st.st_size == 0 && st.st_nlink == 1 && st.st_uid == uid)
            empty |= 1u << i;
    }
    close(dfd);
    return empty;
}

static bool filecmd_left_empty(const struct ex__stepexec *se, const char *path)
{
    const char *files[EX__SLOT_SUMMARY + 1];

    filecmd_files(se, files);
    for (int i = 0; i <= EX__SLOT_SUMMARY; i++)
        if (files[i] == path)
            return se->filecmds_empty & (1u << i);
    return false;
}

static int filecmd_read(struct ex__stepexec *se, const char *path, char **ret, size_t *ret_len)
{
    /* a file left empty reads as one that is not there: nothing */
    int r = filecmd_left_empty(se, path)
                ? -ENOENT
                : ex__scratch_read(se->leg, path, EX__FILECMD_MAX, ret, ret_len);

    if (r == -ENOENT) {
        *ret = gr_xstrdup("");
        *ret_len = 0;
        return 0;
    }
    if (r < 0) {
        char *msg =
            gr_xasprintf("cannot read the file command file '%s': %s", path, gr_strerror(r));

        ex__leg_annotate(se->leg, se, "error", msg, NULL);
        free(msg);
    }
    return r;
}

static int filecmd_kv(struct ex__stepexec *se, const char *path, const char *what, json_t *out)
{
    struct gr_diag d = {0};
    char *data = NULL;
    size_t len = 0;
    int r = filecmd_read(se, path, &data, &len);

    if (r < 0)
        return r;
    r = ex_filecmd_parse_kv(path, data, len, out, &d);
    if (r < 0) {
        char msg[700];

        gr_diag_format(&d, msg, sizeof(msg));
        ex__leg_log(se->leg, "Unable to process file command '%s' successfully.", what);
        ex__leg_annotate(se->leg, se, "error", msg, NULL);
    }
    free(data);
    return r;
}

static void filecmd_env(struct ex__stepexec *se)
{
    json_t *kv = json_object();
    const char *k;
    json_t *v;

    if (filecmd_kv(se, se->file_env, "env", kv) < 0)
        se->failed_cmd = true;
    json_object_foreach(kv, k, v)
    {
        if (!*k) {
            ex__leg_annotate(se->leg, se, "error", "Invalid environment variable name: empty",
                             NULL);
            se->failed_cmd = true;
        } else if (strcmp(k, "NODE_OPTIONS") == 0) {
            ex__leg_annotate(se->leg, se, "error",
                             "Can't store NODE_OPTIONS output parameter using '$GITHUB_ENV' "
                             "command.",
                             NULL);
        } else {
            json_object_set(se->leg->job_env, k, v);
        }
    }
    json_decref(kv);
}

static void filecmd_output(struct ex__stepexec *se)
{
    json_t *kv = json_object();
    const char *k;
    json_t *v;

    if (filecmd_kv(se, se->file_output, "output", kv) < 0)
        se->failed_cmd = true;
    json_object_foreach(kv, k, v)
    {
        if (!*k) {
            ex__leg_annotate(se->leg, se, "error", "Invalid output name: empty", NULL);
            se->failed_cmd = true;
        } else {
            json_object_set(se->outputs, k, v);
        }
    }
    json_decref(kv);
}

static void filecmd_state(struct ex__stepexec *se)
{
    json_t *kv = json_object();

    /* kept for the action's later stages (STATE_*, action.c) */
    if (filecmd_kv(se, se->file_state, "state", kv) < 0)
        se->failed_cmd = true;
    if (json_object_size(kv) > 0) {
        if (!se->state)
            se->state = json_object();
        json_object_update(se->state, kv);
    }
    json_decref(kv);
}

static void filecmd_path(struct ex__stepexec *se)
{
    json_t *dirs = json_array();
    char *data = NULL;
    size_t len = 0, i;
    json_t *v;

    if (filecmd_read(se, se->file_path, &data, &len) == 0 &&
        ex_filecmd_parse_path(data, len, dirs) == 0) {
        json_array_foreach(dirs, i, v)
        {
            ex__path_add(se->leg->path_list, json_string_value(v));
        }
    }
    free(data);
    json_decref(dirs);
}

static void summary_line(void *ctx, const char *line, size_t len)
{
    struct ex__stepexec *se = ctx;

    if (ex_masker_apply(se->leg->masker, line, len, &se->line) == 0 &&
        gr_buf_addch(&se->line, '\n') < 0)
        GR_LOG_DEBUG("step summary line dropped");
}

static void filecmd_summary(struct ex__stepexec *se)
{
    const struct ex_reporter *rep = se->leg->run->rep;
    struct ex_linesplit ls;
    char *data = NULL;
    size_t len = 0;
    int r;

    if (filecmd_left_empty(se, se->file_summary))
        return;
    r = ex__scratch_read(se->leg, se->file_summary, EX__SUMMARY_MAX, &data, &len);
    if (r == -E2BIG) {
        ex__leg_annotate(se->leg, se, "error",
                         "$GITHUB_STEP_SUMMARY upload aborted, supports content up to a size of "
                         "1024k",
                         NULL);
        return;
    }
    if (r < 0 || len == 0) {
        free(data);
        return;
    }
    gr_buf_reset(&se->line);
    ex_linesplit_init(&ls, summary_line, se);
    ex_linesplit_feed(&ls, data, len);
    ex_linesplit_flush(&ls);
    ex_linesplit_release(&ls);
    if (rep->summary)
        rep->summary(rep->ctx, se->leg, se->line.ptr, se->line.len);
    free(data);
}

void ex__step_filecmds(struct ex__stepexec *se)
{
    if (!se->file_env)
        return;
    se->filecmds_empty = filecmds_scan_empty(se);
    filecmd_env(se);
    filecmd_output(se);
    filecmd_state(se);
    filecmd_path(se);
    filecmd_summary(se);
}

/* ---- the end of a step process ----------------------------------------- */

/*
 * What the sandbox saw of the step (sb_step_reap ran before): an OOM kill
 * or the pids limit explains a failure better than its exit code; peak
 * memory goes to the log. Returns true when it annotated the failure.
 */
static bool sandbox_verdict(struct ex__stepexec *se, int status)
{
    struct sb_step_stats st;
    char why[200];

    if (sb_step_result(se->leg->sb, &st) < 0 || !sb_step_stats_message(&st, why, sizeof(why)))
        return false;
    if (st.memory_peak)
        ex__leg_log(se->leg, "sandbox: peak memory of the step: %.1f MiB",
                    (double)st.memory_peak / (1024.0 * 1024.0));
    ex__leg_annotate(se->leg, se, status != 0 ? "error" : "warning", why, NULL);
    return status != 0;
}

enum ex_result ex__step_outcome(struct ex__stepexec *se, int status, bool timed_out)
{
    struct ex__leg *leg = se->leg;

    if (timed_out) {
        char *msg = gr_xasprintf("The action '%s' has timed out after %g minutes.", se->name,
                                 se->timeout_min);

        ex__leg_annotate(leg, se, "error", msg, NULL);
        free(msg);
        return EX_RESULT_FAILURE;
    }
    if (leg->cancelled && status < 0)
        return EX_RESULT_CANCELLED;
    if (sandbox_verdict(se, status))
        return EX_RESULT_FAILURE;
    if (status != 0) {
        char *msg = status > 0 ? gr_xasprintf("Process completed with exit code %d.", status)
                               : gr_xasprintf("Process was killed by signal %d.", -status);

        ex__leg_annotate(leg, se, "error", msg, NULL);
        free(msg);
        return EX_RESULT_FAILURE;
    }
    return se->failed_cmd ? EX_RESULT_FAILURE : EX_RESULT_SUCCESS;
}

void ex__step_proc_done(struct ex__stepexec *se, int status, bool timed_out)
{
    struct ex__leg *leg = se->leg;
    struct ex__frame *frame;
    enum ex_result outcome;
    int r;

    leg->proc = NULL;
    r = sb_step_reap(leg->sb);
    if (r < 0)
        GR_LOG_DEBUG("sandbox step reap: %s", gr_strerror(r));
    ex__step_filecmds(se);
    outcome = ex__step_outcome(se, status, timed_out);
    frame = se->frame;
    ex__step_finished(se, outcome);
    ex__step_advance(leg, frame);
}

void ex__step_advance(struct ex__leg *leg, struct ex__frame *frame)
{
    if (frame) {
        ex__composite_next(frame);
        return;
    }
    leg->step_i++;
    ex__leg_next(leg);
}
