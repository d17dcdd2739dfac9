/*
 * GPU inventory and exclusive slots (docs/sandbox.md section 9). The
 * inventory comes from device nodes, the driver's procfs and nvidia-smi, in
 * that order of trust; leases are flock()s, so a crashed runner frees its
 * GPUs. Isolation inside the sandbox is by hiding the other GPUs' nodes
 * (mask paths); the device cgroup/BPF filter is not done here.
 */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static int by_minor(const void *a, const void *b)
{
    return ((const struct sb_gpu *)a)->minor - ((const struct sb_gpu *)b)->minor;
}

static struct sb_gpu *find_minor(struct sb_gpu_inv *inv, int minor)
{
    for (size_t i = 0; i < inv->n; i++)
        if (inv->gpu[i].minor == minor)
            return &inv->gpu[i];
    return NULL;
}

static void scan_nodes(const char *dev, struct sb_gpu_inv *inv)
{
    DIR *d = opendir(dev);
    struct dirent *de;

    while (d && (de = readdir(d)) && inv->n < SB_GPU_MAX) {
        char *end;
        long minor;

        if (strncmp(de->d_name, "nvidia", 6) != 0 || de->d_name[6] < '0' || de->d_name[6] > '9')
            continue;
        minor = strtol(de->d_name + 6, &end, 10);
        if (*end || minor < 0 || minor > 254)
            continue;
        memset(&inv->gpu[inv->n], 0, sizeof(inv->gpu[0]));
        inv->gpu[inv->n++].minor = (int)minor;
    }
    if (d)
        closedir(d);
    qsort(inv->gpu, inv->n, sizeof(inv->gpu[0]), by_minor);
}

static void copy_field(char *dst, size_t len, const char *src)
{
    size_t n = strcspn(src, "\r\n");

    while (*src == ' ' || *src == '\t')
        src++, n--;
    while (n > 0 && (src[n - 1] == ' ' || src[n - 1] == '\t'))
        n--;
    if (n >= len)
        n = len - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* <proc>/<bus id>/information: "Device Minor: 0", "GPU UUID: GPU-...". */
static void scan_proc(const char *proc, struct sb_gpu_inv *inv)
{
    DIR *d = opendir(proc);
    struct dirent *de;

    while (d && (de = readdir(d))) {
        char p[SB_PATH], text[4096];
        const char *m, *u;
        struct sb_gpu *g;

        if (de->d_name[0] == '.' ||
            sb__path(p, sizeof(p), "%s/%s/information", proc, de->d_name) < 0 ||
            sb__read_file(p, text, sizeof(text)) < 0)
            continue;
        m = strstr(text, "Device Minor:");
        u = strstr(text, "GPU UUID:");
        g = m ? find_minor(inv, (int)strtol(m + 13, NULL, 10)) : NULL;
        if (!g)
            continue;
        if (u)
            copy_field(g->uuid, sizeof(g->uuid), u + 9);
        copy_field(g->bus_id, sizeof(g->bus_id), de->d_name);
    }
    if (d)
        closedir(d);
}

static void parse_smi(char *out, struct sb_gpu_inv *inv)
{
    for (char *line = out; line && *line;) {
        char *next = strchr(line, '\n');
        char *c1 = strchr(line, ','), *c2 = c1 ? strchr(c1 + 1, ',') : NULL;
        struct sb_gpu *g;

        if (next)
            *next++ = '\0';
        g = c2 ? find_minor(inv, (int)strtol(line, NULL, 10)) : NULL;
        if (g) {
            *c2 = '\0';
            if (!g->uuid[0])
                copy_field(g->uuid, sizeof(g->uuid), c1 + 1);
            if (!g->bus_id[0])
                copy_field(g->bus_id, sizeof(g->bus_id), c2 + 1);
        }
        line = next;
    }
}

static int run_smi(const char *smi, struct sb_gpu_inv *inv)
{
    char *argv[] = {(char *)smi, "--query-gpu=index,uuid,pci.bus_id", "--format=csv,noheader",
                    NULL};
    posix_spawn_file_actions_t fa;
    char out[8192];
    size_t got = 0;
    int pfd[2], st, r;
    pid_t pid;
    ssize_t n;

    if (pipe2(pfd, O_CLOEXEC) < 0)
        return -errno;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pfd[1], STDOUT_FILENO);
    posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    r = -posix_spawnp(&pid, smi, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(pfd[1]);
    while (r == 0 && got + 1 < sizeof(out) &&
           (n = read(pfd[0], out + got, sizeof(out) - 1 - got)) > 0)
        got += (size_t)n;
    out[got] = '\0';
    close(pfd[0]);
    if (r < 0)
        return r;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return -EIO;
    parse_smi(out, inv);
    return 0;
}

static bool incomplete(const struct sb_gpu_inv *inv)
{
    for (size_t i = 0; i < inv->n; i++)
        if (!inv->gpu[i].uuid[0])
            return true;
    return false;
}

int sb_gpu_discover(const struct sb_gpu_env *env, struct sb_gpu_inv *ret)
{
    const char *dev = env && env->dev_dir ? env->dev_dir : "/dev";
    const char *proc = env && env->proc_dir ? env->proc_dir : "/proc/driver/nvidia/gpus";
    const char *smi = env && env->nvidia_smi ? env->nvidia_smi : "nvidia-smi";

    memset(ret, 0, sizeof(*ret));
    scan_nodes(dev, ret);
    if (ret->n == 0)
        return 0;
    scan_proc(proc, ret);
    if (incomplete(ret) && smi[0])
        (void)run_smi(smi, ret); /* best effort: minors alone still make slots */
    return 0;
}

int sb_gpu_lease(const struct sb_gpu_inv *inv, size_t want, const char *lock_dir,
                 struct sb_gpu_lease *ret)
{
    struct sb_gpu_lease l = {0};

    if (want > inv->n)
        return -EBUSY;
    for (size_t i = 0; i < inv->n && l.n < want; i++) {
        char p[SB_PATH];
        int fd;

        if (sb__path(p, sizeof(p), "%s/gpu-%d.lock", lock_dir, inv->gpu[i].minor) < 0)
            continue;
        fd = open(p, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
        if (fd < 0) {
            sb_gpu_release(&l);
            return -errno;
        }
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
            close(fd);
            continue;
        }
        l.idx[l.n] = (int)i;
        l.fd[l.n++] = fd;
    }
    if (l.n < want) {
        sb_gpu_release(&l);
        return -EBUSY;
    }
    *ret = l;
    return 0;
}

void sb_gpu_release(struct sb_gpu_lease *lease)
{
    for (size_t i = 0; i < lease->n; i++)
        close(lease->fd[i]);
    lease->n = 0;
}

/* "a,b,c" of the leased GPUs' UUIDs (minors where a UUID is unknown). */
static int id_list(const struct sb_gpu_inv *inv, const struct sb_gpu_lease *lease, char *buf,
                   size_t len)
{
    size_t off = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < lease->n; i++) {
        const struct sb_gpu *g = &inv->gpu[lease->idx[i]];
        int n = g->uuid[0] ? snprintf(buf + off, len - off, "%s%s", i ? "," : "", g->uuid)
                           : snprintf(buf + off, len - off, "%s%d", i ? "," : "", g->minor);

        if (n < 0 || (size_t)n >= len - off)
            return -E2BIG;
        off += (size_t)n;
    }
    return 0;
}

int sb_gpu_env_text(const struct sb_gpu_inv *inv, const struct sb_gpu_lease *lease, char *buf,
                    size_t len)
{
    char ids[SB_GPU_MAX * 64];
    int n;

    if (id_list(inv, lease, ids, sizeof(ids)) < 0)
        return -E2BIG;
    n = snprintf(
        buf, len,
        "CUDA_VISIBLE_DEVICES=%s\nNVIDIA_VISIBLE_DEVICES=%s\nCUDA_DEVICE_ORDER=PCI_BUS_ID\n",
        lease->n ? ids : "", lease->n ? ids : "none");
    return n < 0 || (size_t)n >= len ? -E2BIG : 0;
}

static bool leased(const struct sb_gpu_lease *lease, size_t idx)
{
    for (size_t i = 0; i < lease->n; i++)
        if ((size_t)lease->idx[i] == idx)
            return true;
    return false;
}

int sb_gpu_mask_paths(const struct sb_gpu_inv *inv, const struct sb_gpu_lease *lease,
                      const char *dev_dir, char ***ret)
{
    char **out = calloc(inv->n + 1, sizeof(*out));
    size_t n = 0;

    if (!out)
        return -ENOMEM;
    for (size_t i = 0; i < inv->n; i++) {
        char p[SB_PATH];

        if (leased(lease, i))
            continue;
        snprintf(p, sizeof(p), "%s/nvidia%d", dev_dir ? dev_dir : "/dev", inv->gpu[i].minor);
        out[n] = strdup(p);
        if (!out[n++]) {
            sb_argv_free(out);
            return -ENOMEM;
        }
    }
    *ret = out;
    return 0;
}
