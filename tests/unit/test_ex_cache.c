/* Unit tests of executor/cache.c: the local dependency cache store. */
#include "ex.h"
#include "cache_internal.h"
#include "store_tmp.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

static char *mktemp_dir(void)
{
    char *t = gr_xstrdup("/tmp/ex-cache-test-XXXXXX");
    assert_non_null(mkdtemp(t));
    return t;
}

static void write_file(const char *dir, const char *rel, const char *content)
{
    char *p = gr_path_join(dir, rel), *slash;
    slash = strrchr(p, '/');
    *slash = '\0';
    assert_int_equal(gr_mkdir_p(p, 0755), 0);
    *slash = '/';
    assert_int_equal(gr_file_write_atomic(p, content, strlen(content), 0644), 0);
    free(p);
}

static void assert_file(const char *dir, const char *rel, const char *want)
{
    char *p = gr_path_join(dir, rel), *got = NULL;
    size_t len = 0;
    assert_int_equal(gr_file_read(p, 1 << 20, &got, &len), 0);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(got, want, len);
    free(got);
    free(p);
}

struct fx {
    char *root;
    char *store;
    char *src;
    char *dst;
    struct ex_cache *c;
};

static int setup(void **state)
{
    struct fx *f = gr_xcalloc(1, sizeof(*f));
    f->root = mktemp_dir();
    f->store = gr_path_join(f->root, "store");
    f->src = gr_path_join(f->root, "src");
    f->dst = gr_path_join(f->root, "dst");
    assert_int_equal(gr_mkdir_p(f->src, 0755), 0);
    assert_int_equal(ex_cache_open(f->store, 0, &f->c, NULL), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    ex_cache_free(f->c);
    assert_int_equal(gr_rm_rf(f->root), 0);
    free(f->root);
    free(f->store);
    free(f->src);
    free(f->dst);
    free(f);
    return 0;
}

static int save_one(struct fx *f, const char *scope, const char *key, const char *version,
                    const char *content)
{
    const char *paths[] = {"data"};
    write_file(f->src, "data/file.txt", content);
    return ex_cache_save_tree(f->c, scope, key, version, f->src, paths, 1, NULL, NULL);
}

/* Look up keys; returns the restored content of data/file.txt or NULL on a miss (owned). */
static char *restore_keys(struct fx *f, const char *scope, const char *const *keys, size_t n,
                          const char *version)
{
    struct ex_cache_entry e = {0};
    char *p, *got = NULL;
    size_t len;

    if (ex_cache_lookup(f->c, scope, keys, n, version, &e, NULL) < 0)
        return NULL;
    assert_int_equal(gr_rm_rf(f->dst), 0);
    assert_int_equal(ex_cache_restore_tree(f->c, &e, f->dst, NULL), 0);
    p = gr_path_join(f->dst, "data/file.txt");
    assert_int_equal(gr_file_read(p, 1 << 20, &got, &len), 0);
    free(p);
    ex_cache_entry_release(&e);
    return got;
}

static void test_version_matches_toolkit(void **state)
{
    /* Known answers from @actions/cache 3.3.0 getCacheVersion() run under node. */
    const char *p1[] = {"node_modules", "~/.npm"};
    const char *p2[] = {"a"};
    char v[EX_CACHE_HEX_LEN];

    ex_cache_version(p1, 2, "zstd", false, v);
    assert_string_equal(v, "479063af4c957b19f1920904870c5672b3824fbe1e501ccca810304da3f17dc8");
    ex_cache_version(p2, 1, NULL, false, v);
    assert_string_equal(v, "37edffbf24856aa98c2c1c41362a68951b2eab789f9e2e5997365c28b393b098");
    ex_cache_version(p2, 1, NULL, true, v);
    assert_string_not_equal(v, "37edffbf24856aa98c2c1c41362a68951b2eab789f9e2e5997365c28b393b098");
}

static void test_save_restore_tree(void **state)
{
    struct fx *f = *state;
    const char *paths[] = {"pkg", "top.txt"};
    const char *keys[] = {"k1"};
    struct ex_cache_entry e = {0}, saved = {0};
    char *link = gr_path_join(f->src, "pkg/.bin/tool"), *dlink, *fifo, target[64];
    char cwd_before[4096], cwd_after[4096];
    char big[200000];
    ssize_t n;

    for (size_t i = 0; i < sizeof(big) - 1; i++)
        big[i] = (char)('a' + (i * 7919) % 26);
    big[sizeof(big) - 1] = '\0';
    write_file(f->src, "pkg/a/index.js", "module.exports = 1;\n");
    write_file(f->src, "pkg/b/big.bin", big);
    write_file(f->src, "pkg/.bin/keep", "");
    write_file(f->src, "top.txt", "top\n");
    assert_int_equal(symlink("../a/index.js", link), 0);
    fifo = gr_path_join(f->src, "pkg/a/fifo");
    assert_int_equal(mkfifo(fifo, 0644), 0);
    assert_true(getcwd(cwd_before, sizeof(cwd_before)) != NULL);
    assert_int_equal(ex_cache_save_tree(f->c, "o/r", "k1", "v", f->src, paths, 2, &saved, NULL), 0);
    /* The walk never changes the process's working directory (it runs on the thread pool). */
    assert_true(getcwd(cwd_after, sizeof(cwd_after)) != NULL);
    assert_string_equal(cwd_before, cwd_after);
    assert_true(saved.size > 0);
    assert_int_equal(ex_cache_lookup(f->c, "o/r", keys, 1, "v", &e, NULL), 0);
    assert_string_equal(e.sha256, saved.sha256);
    assert_int_equal(ex_cache_restore_tree(f->c, &e, f->dst, NULL), 0);
    assert_file(f->dst, "pkg/a/index.js", "module.exports = 1;\n");
    assert_file(f->dst, "pkg/b/big.bin", big);
    assert_file(f->dst, "pkg/.bin/keep", "");
    assert_file(f->dst, "top.txt", "top\n");
    dlink = gr_path_join(f->dst, "pkg/.bin/tool");
    n = readlink(dlink, target, sizeof(target) - 1);
    assert_int_equal(n, 13);
    target[n] = '\0';
    assert_string_equal(target, "../a/index.js");
    /* Special files are left out; restoring over an earlier restore works. */
    free(fifo);
    fifo = gr_path_join(f->dst, "pkg/a/fifo");
    assert_false(gr_path_exists(fifo));
    assert_int_equal(ex_cache_restore_tree(f->c, &e, f->dst, NULL), 0);
    assert_file(f->dst, "pkg/b/big.bin", big);
    assert_int_equal(readlink(dlink, target, sizeof(target) - 1), 13);
    free(fifo);
    free(dlink);
    free(link);
    ex_cache_entry_release(&e);
    ex_cache_entry_release(&saved);
}

static void test_miss_and_bad_paths(void **state)
{
    struct fx *f = *state;
    const char *keys[] = {"nothing"};
    const char *bad1[] = {"../etc"};
    const char *bad2[] = {"/etc"};
    struct ex_cache_entry e = {0};
    struct gr_diag d = {0};

    assert_int_equal(ex_cache_lookup(f->c, "o/r", keys, 1, "v", &e, NULL), GR_ENOTFOUND);
    assert_int_equal(ex_cache_save_tree(f->c, "o/r", "k", "v", f->src, bad1, 1, NULL, &d), -EINVAL);
    assert_non_null(strstr(d.msg, "relative"));
    assert_int_equal(ex_cache_save_tree(f->c, "o/r", "k", "v", f->src, bad2, 1, NULL, NULL),
                     -EINVAL);
}

static void test_restore_keys_order(void **state)
{
    struct fx *f = *state;
    const char *k_exact[] = {"deps-linux-abc", "deps-linux-"};
    const char *k_prefix[] = {"deps-linux-zzz", "deps-linux-"};
    const char *k_second[] = {"nomatch", "other-", "deps-"};
    const char *k_none[] = {"x-", "y-"};
    char *got;

    assert_int_equal(save_one(f, "o/r", "deps-linux-abc", "v", "abc"), 0);
    usleep(5000);
    assert_int_equal(save_one(f, "o/r", "deps-linux-def", "v", "def"), 0);
    usleep(5000);
    assert_int_equal(save_one(f, "o/r", "other-1", "v", "other"), 0);

    /* Exact key wins over a newer prefix match. */
    got = restore_keys(f, "o/r", k_exact, 2, "v");
    assert_string_equal(got, "abc");
    free(got);
    /* No exact match: the newest entry with the prefix. */
    got = restore_keys(f, "o/r", k_prefix, 2, "v");
    assert_string_equal(got, "def");
    free(got);
    /* Restore keys are tried in order: "other-" before "deps-". */
    got = restore_keys(f, "o/r", k_second, 3, "v");
    assert_string_equal(got, "other");
    free(got);
    assert_null(restore_keys(f, "o/r", k_none, 2, "v"));
}

static void test_version_and_scope_isolation(void **state)
{
    struct fx *f = *state;
    const char *keys[] = {"k"};
    char *got;

    assert_int_equal(save_one(f, "o/r", "k", "v1", "one"), 0);
    assert_int_equal(save_one(f, "o/r", "k", "v2", "two"), 0);
    assert_int_equal(save_one(f, "o/other", "k", "v1", "three"), 0);
    got = restore_keys(f, "o/r", keys, 1, "v1");
    assert_string_equal(got, "one");
    free(got);
    got = restore_keys(f, "o/r", keys, 1, "v2");
    assert_string_equal(got, "two");
    free(got);
    got = restore_keys(f, "o/other", keys, 1, "v1");
    assert_string_equal(got, "three");
    free(got);
    assert_null(restore_keys(f, "o/r", keys, 1, "v3"));
    assert_null(restore_keys(f, "o/none", keys, 1, "v1"));
}

static void test_exists(void **state)
{
    struct fx *f = *state;
    struct gr_diag d = {0};
    const char *paths[] = {"data"};

    assert_int_equal(save_one(f, "o/r", "k", "v", "first"), 0);
    write_file(f->src, "data/file.txt", "second");
    assert_int_equal(ex_cache_save_tree(f->c, "o/r", "k", "v", f->src, paths, 1, NULL, &d),
                     -EEXIST);
    assert_non_null(strstr(d.msg, "exists"));
}

/* Incompressible content so that sizes are predictable. */
static void random_file(const char *dir, const char *rel, size_t size)
{
    char *buf = gr_xmalloc(size + 1);
    unsigned x = 12345u + (unsigned)size + (unsigned)strlen(rel) * 977u + (unsigned)rel[0];
    for (size_t i = 0; i < size; i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (char)('A' + ((x >> 16) % 60));
    }
    buf[size] = '\0';
    write_file(dir, rel, buf);
    free(buf);
}

static void test_lru_eviction(void **state)
{
    struct fx *f = *state;
    struct ex_cache *small;
    struct ex_cache_entry *v = NULL, e = {0};
    const char *paths[] = {"blob"};
    const char *k1[] = {"k1"}, *k2[] = {"k2"};
    size_t n = 0;
    char *dir = gr_path_join(f->root, "small");

    /* Each archive is about 30 KB (6 bits of entropy a byte); the cap holds two. */
    assert_int_equal(ex_cache_open(dir, 75000, &small, NULL), 0);
    random_file(f->src, "blob/x1", 40000);
    assert_int_equal(ex_cache_save_tree(small, "s", "k1", "v", f->src, paths, 1, NULL, NULL), 0);
    random_file(f->src, "blob/x1", 40001);
    usleep(3000);
    assert_int_equal(ex_cache_save_tree(small, "s", "k2", "v", f->src, paths, 1, NULL, NULL), 0);
    /* Use k1, so k2 becomes least recently used. */
    usleep(3000);
    assert_int_equal(ex_cache_lookup(small, "s", k1, 1, "v", &e, NULL), 0);
    ex_cache_entry_release(&e);
    random_file(f->src, "blob/x1", 40002);
    usleep(3000);
    assert_int_equal(ex_cache_save_tree(small, "s", "k3", "v", f->src, paths, 1, NULL, NULL), 0);
    assert_int_equal(ex_cache_list(small, &v, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(v[0].key, "k1");
    assert_string_equal(v[1].key, "k3");
    ex_cache_entries_free(v, n);
    assert_int_equal(ex_cache_lookup(small, "s", k2, 1, "v", &e, NULL), GR_ENOTFOUND);

    /* prune to a smaller size keeps only the most recently used. */
    size_t removed = 0;
    assert_int_equal(ex_cache_prune(small, 45000, &removed), 0);
    assert_int_equal(removed, 1);
    assert_int_equal(ex_cache_list(small, &v, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].key, "k3");
    ex_cache_entries_free(v, n);

    /* An archive larger than the cap is refused. */
    random_file(f->src, "blob/x1", 150000);
    assert_int_equal(ex_cache_save_tree(small, "s", "k4", "v", f->src, paths, 1, NULL, NULL),
                     -EFBIG);
    ex_cache_free(small);
    free(dir);
}

static void test_corrupt_archive(void **state)
{
    struct fx *f = *state;
    const char *keys[] = {"k"};
    struct ex_cache_entry e = {0};
    struct gr_diag d = {0};
    char *blob, *victim;
    int fd;

    assert_int_equal(save_one(f, "o/r", "k", "v", "precious content"), 0);
    assert_int_equal(ex_cache_lookup(f->c, "o/r", keys, 1, "v", &e, NULL), 0);
    assert_int_equal(ex_cache_verify(f->c, &e, NULL), 0);
    blob = ex_cache_blob_path(f->c, &e);
    fd = open(blob, O_WRONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, "\xff", 1, 20), 1);
    close(fd);
    assert_int_equal(ex_cache_verify(f->c, &e, &d), GR_EARCHIVE);
    assert_non_null(strstr(d.msg, "corrupt"));
    assert_int_equal(ex_cache_restore_tree(f->c, &e, f->dst, NULL), GR_EARCHIVE);
    victim = gr_path_join(f->dst, "data/file.txt");
    assert_false(gr_path_exists(victim));
    free(victim);
    free(blob);
    ex_cache_entry_release(&e);
}

static void test_concurrent_savers(void **state)
{
    struct fx *f = *state;
    enum { N = 6 };
    pid_t pids[N];
    int ok = 0, exist = 0;
    struct ex_cache_entry *v = NULL;
    size_t n = 0;

    random_file(f->src, "data/file.txt", 300000);
    for (int i = 0; i < N; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            const char *paths[] = {"data"};
            struct ex_cache *c;
            int r = ex_cache_open(f->store, 0, &c, NULL);
            if (r == 0)
                r = ex_cache_save_tree(c, "o/r", "same", "v", f->src, paths, 1, NULL, NULL);
            ex_cache_free(c);
            _exit(r == 0 ? 0 : r == -EEXIST ? 3 : 1);
        }
    }
    for (int i = 0; i < N; i++) {
        int st;
        assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
        assert_true(WIFEXITED(st));
        ok += WEXITSTATUS(st) == 0;
        exist += WEXITSTATUS(st) == 3;
    }
    assert_int_equal(ok, 1);
    assert_int_equal(exist, N - 1);
    assert_int_equal(ex_cache_list(f->c, &v, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(ex_cache_verify(f->c, &v[0], NULL), 0);
    ex_cache_entries_free(v, n);
}

/* Write a tar.zst with the given members into path. type 'f' file, 'l' symlink, 'h' hardlink. */
struct member {
    char type;
    const char *name;
    const char *data;
};

static void make_archive(const char *path, const struct member *m, size_t n)
{
    struct archive *a = archive_write_new();
    archive_write_add_filter_zstd(a);
    archive_write_set_format_pax_restricted(a);
    assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
    for (size_t i = 0; i < n; i++) {
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, m[i].name);
        archive_entry_set_perm(e, 0644);
        if (m[i].type == 'f') {
            archive_entry_set_filetype(e, AE_IFREG);
            archive_entry_set_size(e, (la_int64_t)strlen(m[i].data));
        } else if (m[i].type == 'l') {
            archive_entry_set_filetype(e, AE_IFLNK);
            archive_entry_set_symlink(e, m[i].data);
        } else {
            archive_entry_set_filetype(e, AE_IFREG);
            archive_entry_set_hardlink(e, m[i].data);
        }
        assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
        if (m[i].type == 'f')
            assert_int_equal(archive_write_data(a, m[i].data, strlen(m[i].data)),
                             (la_ssize_t)strlen(m[i].data));
        archive_entry_free(e);
    }
    assert_int_equal(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
}

static void expect_refused(struct fx *f, const char *key, const struct member *m, size_t n,
                           const char *escaped)
{
    char *arch = gr_path_join(f->root, "evil.tar.zst"), *out;
    struct ex_cache_entry e = {0};
    struct gr_diag d = {0};
    const char *keys[] = {key};

    make_archive(arch, m, n);
    assert_int_equal(ex_cache_save_file(f->c, "o/r", key, "v", arch, false, NULL, NULL), 0);
    assert_int_equal(ex_cache_lookup(f->c, "o/r", keys, 1, "v", &e, NULL), 0);
    assert_int_equal(ex_cache_restore_tree(f->c, &e, f->dst, &d), GR_EARCHIVE);
    assert_non_null(strstr(d.msg, "refusing"));
    out = gr_path_join(f->root, escaped);
    assert_false(gr_path_exists(out));
    free(out);
    free(arch);
    ex_cache_entry_release(&e);
}

static void test_traversal_refused(void **state)
{
    struct fx *f = *state;
    const struct member dotdot[] = {{'f', "ok.txt", "ok"}, {'f', "../escaped1", "bad"}};
    const struct member deep[] = {{'f', "a/b/../../../escaped2", "bad"}};
    char *abs = gr_path_join(f->root, "escaped3");
    const struct member absolute[] = {{'f', abs, "bad"}};
    const struct member link_out[] = {{'l', "lnk", ".."}, {'f', "lnk/escaped4", "bad"}};
    const struct member link_abs[] = {{'l', "lnk2", "/etc"}};
    const struct member hard_out[] = {{'h', "hl", "../escaped5"}};

    expect_refused(f, "t1", dotdot, 2, "escaped1");
    expect_refused(f, "t2", deep, 1, "escaped2");
    expect_refused(f, "t3", absolute, 1, "escaped3");
    expect_refused(f, "t4", link_out, 2, "escaped4");
    expect_refused(f, "t5", link_abs, 1, "escaped6");
    expect_refused(f, "t6", hard_out, 1, "escaped5");
    free(abs);
}

static void test_member_checks(void **state)
{
    assert_string_equal(ex__cache_member_name("./a/b"), "a/b");
    assert_string_equal(ex__cache_member_name("a/..b/c"), "a/..b/c");
    assert_null(ex__cache_member_name("a/../../b"));
    assert_null(ex__cache_member_name("/etc/passwd"));
    assert_null(ex__cache_member_name(".."));
    assert_true(ex__cache_link_inside("a/b/link", "../c"));
    assert_true(ex__cache_link_inside("a/b/link", "../../c"));
    assert_false(ex__cache_link_inside("a/b/link", "../../../c"));
    assert_false(ex__cache_link_inside("link", "/abs"));
    assert_true(ex__cache_link_inside("x/.bin/tool", "../pkg/./bin.js"));
}

/* Number of entries (other than . and ..) in dir. */
static size_t count_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    size_t n = 0;

    while (d && (de = readdir(d)) != NULL)
        n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
    if (d)
        closedir(d);
    return n;
}

static bool part_has_data(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    bool found = false;

    while (d && !found && (de = readdir(d)) != NULL) {
        struct stat st;
        if (strncmp(de->d_name, "part-", 5) == 0 && fstatat(dirfd(d), de->d_name, &st, 0) == 0 &&
            st.st_size > 0)
            found = true;
    }
    if (d)
        closedir(d);
    return found;
}

/* A child saving a large tree is killed mid-save: the store stays consistent. */
static void test_crash_mid_save(void **state)
{
    struct fx *f = *state;
    const char *keys[] = {"big"};
    const char *okk[] = {"ok"};
    struct ex_cache_entry e = {0};
    struct ex_cache_entry *v = NULL;
    size_t n = 0, removed = 0;
    char *tmpdir = gr_path_join(f->store, "tmp");
    int killed_mid = 0;
    pid_t pid;

    assert_int_equal(save_one(f, "o/r", "ok", "v", "survivor"), 0);
    for (int i = 0; i < 40; i++) {
        char name[32];
        (void)snprintf(name, sizeof(name), "big/f%02d", i);
        random_file(f->src, name, 250000);
    }
    /* Kill the saver as soon as its temp file has data, i.e. while the archive is being
     * written. On a loaded machine the poll may miss that window and the save completes:
     * then the whole entry is removed and the crash is tried again. */
    for (int attempt = 0; attempt < 5 && !killed_mid; attempt++) {
        int st;

        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            const char *paths[] = {"big"};
            struct ex_cache *c;
            int r = ex_cache_open(f->store, 0, &c, NULL);
            if (r == 0)
                r = ex_cache_save_tree(c, "o/r", "big", "v", f->src, paths, 1, NULL, NULL);
            _exit(r == 0 ? 0 : 1);
        }
        for (int i = 0; i < 5000 && !part_has_data(tmpdir); i++)
            usleep(1000);
        assert_int_equal(kill(pid, SIGKILL), 0);
        assert_int_equal(waitpid(pid, &st, 0), pid);
        /* Killed while its half-written archive was in tmp/. */
        killed_mid = WIFSIGNALED(st) && count_dir(tmpdir) == 1;
        if (!killed_mid && ex_cache_lookup(f->c, "o/r", keys, 1, "v", &e, NULL) == 0) {
            assert_int_equal(ex_cache_remove(f->c, e.id), 0);
            ex_cache_entry_release(&e);
            memset(&e, 0, sizeof(e));
        }
    }
    assert_true(killed_mid);
    /* Opening the store again removes the killed writer's temp file. */
    {
        struct ex_cache *again = NULL;
        assert_int_equal(ex_cache_open(f->store, 0, &again, NULL), 0);
        assert_int_equal(count_dir(tmpdir), 0);
        ex_cache_free(again);
    }
    assert_int_equal(ex_cache_list(f->c, &v, &n), 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(ex_cache_verify(f->c, &v[i], NULL), 0);
    assert_int_equal(n, 1);
    ex_cache_entries_free(v, n);
    assert_int_equal(ex_cache_lookup(f->c, "o/r", keys, 1, "v", &e, NULL), GR_ENOTFOUND);
    assert_int_equal(ex_cache_lookup(f->c, "o/r", okk, 1, "v", &e, NULL), 0);
    assert_int_equal(ex_cache_restore_tree(f->c, &e, f->dst, NULL), 0);
    assert_file(f->dst, "data/file.txt", "survivor");
    ex_cache_entry_release(&e);
    /* prune removes the abandoned temp file; the tmp directory ends empty. */
    assert_int_equal(ex_cache_prune(f->c, 0, &removed), 0);
    assert_int_equal(removed, 0);
    assert_int_equal(rmdir(tmpdir), 0);
    free(tmpdir);
}

static void assert_mode(const char *dir, const char *rel, mode_t want)
{
    char *p = gr_path_join(dir, rel);
    struct stat st;

    assert_int_equal(lstat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, want);
    free(p);
}

static time_t mtime_of(const char *dir, const char *rel)
{
    char *p = gr_path_join(dir, rel);
    struct stat st;

    assert_int_equal(lstat(p, &st), 0);
    free(p);
    return st.st_mtime;
}

/*
 * Restore keeps modes (also those the umask would strip), file and directory times and hard
 * links, and replaces what is in the way: an older file, a symbolic link where the archive has
 * a file (the link is replaced, its target untouched).
 */
static void test_restore_fidelity(void **state)
{
    struct fx *f = *state;
    const char *paths[] = {"t"};
    const char *keys[] = {"fid"};
    struct timespec old[2] = {{.tv_sec = 1000000000}, {.tv_sec = 1000000000}};
    struct ex_cache_entry e = {0};
    char *p, *outside = gr_path_join(f->root, "outside.txt");
    struct stat a, b;
    mode_t mask;

    write_file(f->src, "t/bin/run.sh", "#!/bin/sh\n");
    write_file(f->src, "t/secret/key", "k");
    write_file(f->src, "t/shared/g.txt", "group");
    write_file(f->src, "t/link-me", "same inode");
    p = gr_path_join(f->src, "t/bin/run.sh");
    assert_int_equal(chmod(p, 0755), 0);
    assert_int_equal(utimensat(AT_FDCWD, p, old, 0), 0);
    free(p);
    p = gr_path_join(f->src, "t/shared/g.txt");
    assert_int_equal(chmod(p, 0664), 0);
    free(p);
    p = gr_path_join(f->src, "t/secret");
    assert_int_equal(chmod(p, 0700), 0);
    assert_int_equal(utimensat(AT_FDCWD, p, old, 0), 0);
    free(p);
    assert_int_equal(save_one(f, "o/r", "unused", "v", "x"), 0);
    assert_int_equal(ex_cache_save_tree(f->c, "o/r", "fid", "v", f->src, paths, 1, NULL, NULL), 0);

    /* The destination holds an older file and a link pointing outside where files come. */
    write_file(f->dst, "t/shared/g.txt", "older and longer content");
    write_file(f->root, "outside.txt", "untouched");
    p = gr_path_join(f->dst, "t/link-me");
    assert_int_equal(symlink(outside, p), 0);
    free(p);
    mask = umask(077);
    assert_int_equal(ex_cache_lookup(f->c, "o/r", keys, 1, "v", &e, NULL), 0);
    assert_int_equal(ex_cache_restore_tree(f->c, &e, f->dst, NULL), 0);
    umask(mask);
    assert_file(f->dst, "t/bin/run.sh", "#!/bin/sh\n");
    assert_file(f->dst, "t/shared/g.txt", "group");
    assert_file(f->dst, "t/link-me", "same inode");
    assert_file(f->root, "outside.txt", "untouched");
    assert_mode(f->dst, "t/bin/run.sh", 0755);
    assert_mode(f->dst, "t/shared/g.txt", 0664);
    assert_mode(f->dst, "t/secret", 0700);
    assert_mode(f->dst, "t/link-me", 0644);
    assert_int_equal(mtime_of(f->dst, "t/bin/run.sh"), 1000000000);
    assert_int_equal(mtime_of(f->dst, "t/secret"), 1000000000);
    ex_cache_entry_release(&e);

    /* Hard links come back as links to one inode. */
    {
        const struct member m[] = {{'f', "h/one", "linked"}, {'h', "h/two", "h/one"}};
        const char *hk[] = {"hard"};
        char *arch = gr_path_join(f->root, "hard.tar.zst"), *p1, *p2;
        make_archive(arch, m, 2);
        assert_int_equal(ex_cache_save_file(f->c, "o/r", "hard", "v", arch, false, NULL, NULL), 0);
        assert_int_equal(ex_cache_lookup(f->c, "o/r", hk, 1, "v", &e, NULL), 0);
        assert_int_equal(ex_cache_restore_tree(f->c, &e, f->dst, NULL), 0);
        assert_file(f->dst, "h/two", "linked");
        p1 = gr_path_join(f->dst, "h/one");
        p2 = gr_path_join(f->dst, "h/two");
        assert_int_equal(stat(p1, &a), 0);
        assert_int_equal(stat(p2, &b), 0);
        assert_int_equal(a.st_ino, b.st_ino);
        free(p1);
        free(p2);
        free(arch);
        ex_cache_entry_release(&e);
    }
    free(outside);
}

/* Nothing is written through a symbolic link: one from the archive, or one already there. */
static void test_restore_no_write_through_links(void **state)
{
    struct fx *f = *state;
    const struct member through[] = {
        {'f', "sub/keep", "k"}, {'l', "lnk", "sub"}, {'f', "lnk/x", "bad"}};
    const struct member into[] = {{'f', "evil/x", "bad"}};
    const char *k1[] = {"through"}, *k2[] = {"into"};
    char *arch = gr_path_join(f->root, "l.tar.zst"), *p, *out = gr_path_join(f->root, "out");
    struct ex_cache_entry e = {0};
    struct gr_diag d = {0};

    make_archive(arch, through, 3);
    assert_int_equal(ex_cache_save_file(f->c, "o/r", "through", "v", arch, false, NULL, NULL), 0);
    assert_int_equal(ex_cache_lookup(f->c, "o/r", k1, 1, "v", &e, NULL), 0);
    assert_int_equal(ex_cache_restore_tree(f->c, &e, f->dst, &d), GR_EARCHIVE);
    assert_non_null(strstr(d.msg, "symbolic link"));
    p = gr_path_join(f->dst, "sub/x");
    assert_false(gr_path_exists(p));
    free(p);
    ex_cache_entry_release(&e);

    assert_int_equal(gr_mkdir_p(out, 0755), 0);
    p = gr_path_join(f->dst, "evil");
    assert_int_equal(symlink(out, p), 0);
    free(p);
    make_archive(arch, into, 1);
    assert_int_equal(ex_cache_save_file(f->c, "o/r", "into", "v", arch, false, NULL, NULL), 0);
    assert_int_equal(ex_cache_lookup(f->c, "o/r", k2, 1, "v", &e, NULL), 0);
    assert_int_equal(ex_cache_restore_tree(f->c, &e, f->dst, &d), GR_EARCHIVE);
    assert_non_null(strstr(d.msg, "symbolic link"));
    assert_int_equal(count_dir(out), 0);
    ex_cache_entry_release(&e);
    free(arch);
    free(out);
}

/* Create a file called name in dir; with age_s > 0 its times are set that far back. */
static void touch_old(const char *dir, const char *name, long age_s)
{
    char *p = gr_path_join(dir, name);
    int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, "x", 1), 1);
    if (age_s > 0) {
        struct timespec ts[2] = {{.tv_sec = time(NULL) - age_s}, {.tv_sec = time(NULL) - age_s}};
        assert_int_equal(futimens(fd, ts), 0);
    }
    close(fd);
    free(p);
}

static bool exists_in(const char *dir, const char *name)
{
    char *p = gr_path_join(dir, name);
    bool r = gr_path_exists(p);
    free(p);
    return r;
}

/*
 * Which temp files a sweep removes: those of a dead writer (pid gone, or the pid reused by a
 * process with another start time, or another boot), stale ones whose owner cannot be told;
 * never this live process's, a fresh foreign one, or one somebody holds flock on.
 */
static void test_tmp_owner_rules(void **state)
{
    struct fx *f = *state;
    char *tmpdir = gr_path_join(f->store, "tmp");
    char owner[96], boot[9], name[256];
    unsigned long long ns = 0, start = 0;
    long mypid = 0;
    pid_t dead;
    int st, held;

    ex__store_tmp_owner(owner, sizeof(owner));
    assert_int_equal(sscanf(owner, "%8[0-9a-f]-%llu-%ld-%llu", boot, &ns, &mypid, &start), 4);
    assert_int_equal(mypid, (long)getpid());
    dead = fork();
    assert_true(dead >= 0);
    if (dead == 0)
        _exit(0);
    assert_int_equal(waitpid(dead, &st, 0), dead);

    (void)snprintf(name, sizeof(name), "part-%s-live01", owner);
    touch_old(tmpdir, name, 0);
    (void)snprintf(name, sizeof(name), "part-%s-%llu-%ld-%llu-reuse1", boot, ns, mypid, start + 1);
    touch_old(tmpdir, name, 0);
    (void)snprintf(name, sizeof(name), "part-%s-%llu-%ld-%llu-dead01", boot, ns, (long)dead, start);
    touch_old(tmpdir, name, 0);
    (void)snprintf(name, sizeof(name), "part-%s-%llu-%ld-%llu-boot01",
                   strcmp(boot, "00000000") ? "00000000" : "11111111", ns, mypid, start);
    touch_old(tmpdir, name, 0);
    (void)snprintf(name, sizeof(name), "part-%s-%llu-1-1-nsnew1", boot, ns + 1);
    touch_old(tmpdir, name, 0);
    (void)snprintf(name, sizeof(name), "part-%s-%llu-1-1-nsold1", boot, ns + 1);
    touch_old(tmpdir, name, 2L * EX_STORE_TMP_STALE_S);
    touch_old(tmpdir, "part-legacy", 0);
    touch_old(tmpdir, "part-legold", 2L * EX_STORE_TMP_STALE_S);
    (void)snprintf(name, sizeof(name), "part-%s-%llu-%ld-%llu-held01", boot, ns, (long)dead, start);
    touch_old(tmpdir, name, 0);
    {
        char *p = gr_path_join(tmpdir, name);
        held = open(p, O_RDONLY | O_CLOEXEC);
        assert_true(held >= 0);
        assert_int_equal(flock(held, LOCK_EX), 0);
        free(p);
    }
    touch_old(f->store, "index.json.tmp.4242", 0);

    assert_int_equal(ex__store_tmp_sweep(tmpdir), 5);
    assert_int_equal(ex_cache_prune(f->c, 0, NULL), 0);
    assert_false(exists_in(f->store, "index.json.tmp.4242"));
    (void)snprintf(name, sizeof(name), "part-%s-live01", owner);
    assert_true(exists_in(tmpdir, name));
    assert_true(exists_in(tmpdir, "part-legacy"));
    assert_false(exists_in(tmpdir, "part-legold"));
    (void)snprintf(name, sizeof(name), "part-%s-%llu-1-1-nsnew1", boot, ns + 1);
    assert_true(exists_in(tmpdir, name));
    (void)snprintf(name, sizeof(name), "part-%s-%llu-%ld-%llu-held01", boot, ns, (long)dead, start);
    assert_true(exists_in(tmpdir, name));
    assert_int_equal(count_dir(tmpdir), 4);
    /* The lock released, the dead writer's file goes too. */
    close(held);
    assert_int_equal(ex__store_tmp_sweep(tmpdir), 1);
    assert_false(exists_in(tmpdir, name));
    free(tmpdir);
}

/*
 * A live writer that staged data in a temp file and closed its descriptor (as the cache
 * service does between requests) keeps the file through open, save, prune and clear; once it
 * is killed, the next open removes the file.
 */
static void test_live_writer_kept(void **state)
{
    struct fx *f = *state;
    char *tmpdir = gr_path_join(f->store, "tmp");
    char path[4096] = "";
    int up[2], hold[2], st;
    ssize_t n;
    pid_t pid;

    assert_int_equal(pipe(up), 0);
    assert_int_equal(pipe(hold), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct ex_cache *c = NULL;
        char *p = NULL, b;
        int fd = -1;
        close(up[0]);
        close(hold[1]);
        if (ex_cache_open(f->store, 0, &c, NULL) < 0 || ex_cache_tmpfile(c, &p, &fd) < 0)
            _exit(1);
        if (write(fd, "staged", 6) != 6)
            _exit(1);
        close(fd);
        if (write(up[1], p, strlen(p)) < 0)
            _exit(1);
        close(up[1]);
        while (read(hold[0], &b, 1) < 0)
            ;
        _exit(0);
    }
    close(up[1]);
    close(hold[0]);
    n = read(up[0], path, sizeof(path) - 1);
    assert_true(n > 0);
    close(up[0]);
    {
        struct ex_cache *again = NULL;
        assert_int_equal(ex_cache_open(f->store, 0, &again, NULL), 0);
        ex_cache_free(again);
    }
    assert_int_equal(save_one(f, "o/r", "k", "v", "other"), 0);
    assert_int_equal(ex_cache_prune(f->c, 0, NULL), 0);
    assert_int_equal(ex_cache_clear(f->c), 0);
    assert_true(gr_path_exists(path));
    assert_int_equal(kill(pid, SIGKILL), 0);
    assert_int_equal(waitpid(pid, &st, 0), pid);
    close(hold[1]);
    assert_true(gr_path_exists(path));
    {
        struct ex_cache *again = NULL;
        assert_int_equal(ex_cache_open(f->store, 0, &again, NULL), 0);
        ex_cache_free(again);
    }
    assert_false(gr_path_exists(path));
    assert_int_equal(count_dir(tmpdir), 0);
    free(tmpdir);
}

static void test_clear_and_remove(void **state)
{
    struct fx *f = *state;
    struct ex_cache_entry *v = NULL;
    size_t n = 0;

    assert_int_equal(save_one(f, "o/r", "a", "v", "A"), 0);
    assert_int_equal(save_one(f, "o/r", "b", "v", "B"), 0);
    assert_int_equal(ex_cache_list(f->c, &v, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(ex_cache_remove(f->c, v[0].id), 0);
    assert_int_equal(ex_cache_remove(f->c, v[0].id), GR_ENOTFOUND);
    ex_cache_entries_free(v, n);
    assert_int_equal(ex_cache_list(f->c, &v, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].key, "b");
    ex_cache_entries_free(v, n);
    assert_int_equal(ex_cache_clear(f->c), 0);
    assert_int_equal(ex_cache_list(f->c, &v, &n), 0);
    assert_int_equal(n, 0);
    ex_cache_entries_free(v, n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version_matches_toolkit),
        cmocka_unit_test(test_member_checks),
        cmocka_unit_test_setup_teardown(test_save_restore_tree, setup, teardown),
        cmocka_unit_test_setup_teardown(test_miss_and_bad_paths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restore_keys_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_version_and_scope_isolation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exists, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lru_eviction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_archive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_savers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_traversal_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_mid_save, setup, teardown),
        cmocka_unit_test_setup_teardown(test_clear_and_remove, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tmp_owner_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_live_writer_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restore_fidelity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restore_no_write_through_links, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
