/* Unit tests of executor/artifact.c: a run's artifact store. */
#include "ex.h"
#include "ex/artifact.h"

#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

struct fx {
    char *root;
    struct ex_artifact_store *s;
};

static int setup(void **state)
{
    struct fx *f = gr_xcalloc(1, sizeof(*f));

    f->root = gr_xstrdup("/tmp/ex-artifact-test-XXXXXX");
    assert_non_null(mkdtemp(f->root));
    assert_int_equal(ex_artifact_open(f->root, &f->s, NULL), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    ex_artifact_free(f->s);
    assert_int_equal(gr_rm_rf(f->root), 0);
    free(f->root);
    free(f);
    return 0;
}

/* A temp file from the store holding content. */
static char *staged(struct fx *f, const char *content)
{
    char *path = NULL;
    int fd = -1;

    assert_int_equal(ex_artifact_tmpfile(f->s, &path, &fd), 0);
    assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
    close(fd);
    return path;
}

static size_t count_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    size_t n = 0;

    assert_non_null(d);
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

static size_t count_tmp(struct fx *f)
{
    char *tmp = gr_path_join(f->root, ".tmp");
    size_t n = count_dir(tmp);

    free(tmp);
    return n;
}

static void test_names(void **state)
{
    static const char *bad[] = {"",    "../x", "/etc/passwd", "a/b",  "a\\b", "..",
                                ".",   "a:b",  "a\"b",        "a<b",  "a>b",  "a|b",
                                "a*b", "a?b",  "a\rb",        "a\nb", "a\tb"};
    static const char *good[] = {"build", "my artifact", "x.zip", ".hidden", "a..b", "日本"};
    struct gr_diag d = {0};
    char long_name[EX_ARTIFACT_NAME_MAX + 2];

    (void)state;
    for (size_t i = 0; i < GR_ARRAY_SIZE(bad); i++)
        assert_int_equal(ex_artifact_name_check(bad[i], &d), -EINVAL);
    assert_int_equal(ex_artifact_name_check(NULL, NULL), -EINVAL);
    assert_int_equal(ex_artifact_name_check("a/b", &d), -EINVAL);
    assert_non_null(strstr(d.msg, "contains '/'"));
    for (size_t i = 0; i < GR_ARRAY_SIZE(good); i++)
        assert_int_equal(ex_artifact_name_check(good[i], NULL), 0);
    memset(long_name, 'a', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    assert_int_equal(ex_artifact_name_check(long_name, NULL), -EINVAL);
    long_name[EX_ARTIFACT_NAME_MAX] = '\0';
    assert_int_equal(ex_artifact_name_check(long_name, NULL), 0);
}

static void test_commit_find_list(void **state)
{
    struct fx *f = *state;
    struct ex_artifact a = {0}, b = {0}, *v = NULL;
    struct ex_artifact_commit_opts o = {.size = UINT64_MAX, .retention_days = 2};
    char *p = staged(f, "hello"), *zip, *got = NULL;
    size_t n = 0, len = 0;

    assert_int_equal(ex_artifact_commit(f->s, "one", p, &o, &a, NULL), 0);
    free(p);
    assert_int_equal(a.id, 1);
    assert_int_equal(a.size, 5);
    /* sha256("hello") */
    assert_string_equal(a.sha256,
                        "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
    assert_true(a.expires_ms - a.created_ms == 2 * 86400000LL);
    p = staged(f, "world!");
    assert_int_equal(ex_artifact_commit(f->s, "two", p, NULL, &b, NULL), 0);
    free(p);
    assert_int_equal(b.id, 2);
    assert_int_equal(b.expires_ms, 0);
    ex_artifact_release(&b);

    assert_int_equal(ex_artifact_find(f->s, "two", &b), 0);
    assert_int_equal(b.size, 6);
    ex_artifact_release(&b);
    assert_int_equal(ex_artifact_find_id(f->s, 1, &b), 0);
    assert_string_equal(b.name, "one");
    ex_artifact_release(&b);
    assert_int_equal(ex_artifact_find(f->s, "three", &b), GR_ENOTFOUND);
    assert_int_equal(ex_artifact_find(f->s, "../one", &b), GR_ENOTFOUND);
    assert_int_equal(ex_artifact_find_id(f->s, 9, &b), GR_ENOTFOUND);

    assert_int_equal(ex_artifact_list(f->s, &v, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(v[0].name, "one");
    assert_string_equal(v[1].name, "two");
    ex_artifacts_free(v, n);

    zip = ex_artifact_path(f->s, "one");
    assert_int_equal(gr_file_read(zip, 100, &got, &len), 0);
    assert_int_equal(len, 5);
    assert_memory_equal(got, "hello", 5);
    free(got);
    free(zip);
    assert_int_equal(count_tmp(f), 0);
    ex_artifact_release(&a);
}

static void test_mismatch_leaves_nothing(void **state)
{
    struct fx *f = *state;
    struct ex_artifact_commit_opts bad_size = {.size = 4};
    struct ex_artifact_commit_opts bad_hash = {.size = UINT64_MAX, .sha256 = "sha256:00"};
    struct ex_artifact_commit_opts good_hash = {
        .size = 5,
        .sha256 = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"};
    struct gr_diag d = {0};
    struct ex_artifact *v = NULL;
    size_t n = 9;
    char *p;

    p = staged(f, "hello");
    assert_int_equal(ex_artifact_commit(f->s, "x", p, &bad_size, NULL, &d), -EBADMSG);
    assert_non_null(strstr(d.msg, "5 bytes, but 4"));
    assert_false(gr_path_exists(p));
    free(p);
    p = staged(f, "hello");
    assert_int_equal(ex_artifact_commit(f->s, "x", p, &bad_hash, NULL, &d), -EBADMSG);
    free(p);
    p = staged(f, "hello");
    assert_int_equal(ex_artifact_commit(f->s, "../x", p, NULL, NULL, &d), -EINVAL);
    free(p);
    assert_int_equal(ex_artifact_list(f->s, &v, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(count_tmp(f), 0);
    /* Only .meta, .tmp and .lock: no zip was renamed into place. */
    assert_int_equal(count_dir(f->root), 3);
    p = staged(f, "hello");
    assert_int_equal(ex_artifact_commit(f->s, "x", p, &good_hash, NULL, &d), 0);
    free(p);
}

static void test_exists_overwrite_delete(void **state)
{
    struct fx *f = *state;
    struct ex_artifact_commit_opts ow = {.size = UINT64_MAX, .overwrite = true};
    struct ex_artifact a = {0};
    struct gr_diag d = {0};
    char *p, *zip;

    p = staged(f, "v1");
    assert_int_equal(ex_artifact_commit(f->s, "a", p, NULL, NULL, NULL), 0);
    free(p);
    p = staged(f, "v2");
    assert_int_equal(ex_artifact_commit(f->s, "a", p, NULL, NULL, &d), -EEXIST);
    assert_non_null(strstr(d.msg, "already exists"));
    assert_false(gr_path_exists(p));
    free(p);
    p = staged(f, "v3!");
    assert_int_equal(ex_artifact_commit(f->s, "a", p, &ow, &a, NULL), 0);
    free(p);
    assert_int_equal(a.id, 2); /* a new id: the old artifact is gone */
    assert_int_equal(a.size, 3);
    ex_artifact_release(&a);

    assert_int_equal(ex_artifact_delete(f->s, "a", &a), 0);
    assert_int_equal(a.id, 2);
    ex_artifact_release(&a);
    zip = ex_artifact_path(f->s, "a");
    assert_false(gr_path_exists(zip));
    free(zip);
    assert_int_equal(ex_artifact_delete(f->s, "a", NULL), GR_ENOTFOUND);
    assert_int_equal(ex_artifact_find(f->s, "a", &a), GR_ENOTFOUND);
}

static void test_damaged_metadata_hidden(void **state)
{
    struct fx *f = *state;
    struct ex_artifact *v = NULL, a = {0};
    size_t n = 0;
    char *p = staged(f, "data"), *meta;

    assert_int_equal(ex_artifact_commit(f->s, "ok", p, NULL, NULL, NULL), 0);
    free(p);
    meta = gr_path_join(f->root, ".meta/evil.json");
    assert_int_equal(gr_file_write_atomic(meta, "{\"name\":\"../x\",\"id\":7}", 22, 0644), 0);
    free(meta);
    meta = gr_path_join(f->root, ".meta/junk.json");
    assert_int_equal(gr_file_write_atomic(meta, "not json", 8, 0644), 0);
    free(meta);
    assert_int_equal(ex_artifact_list(f->s, &v, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].name, "ok");
    ex_artifacts_free(v, n);
    assert_int_equal(ex_artifact_find(f->s, "junk", &a), GR_ENOTFOUND);
}

/* Processes committing the same name at once: exactly one wins, the rest get -EEXIST. */
static void test_concurrent_commit(void **state)
{
    struct fx *f = *state;
    struct ex_artifact *v = NULL;
    int wins = 0, exists = 0;
    size_t n = 0;
    pid_t pids[6];

    for (int i = 0; i < 6; i++) {
        char *p = staged(f, i % 2 ? "odd" : "even");
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            int r = ex_artifact_commit(f->s, "same", p, NULL, NULL, NULL);
            _exit(r == 0 ? 0 : r == -EEXIST ? 1 : 2);
        }
        free(p);
    }
    for (int i = 0; i < 6; i++) {
        int st = 0;
        assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
        assert_true(WIFEXITED(st));
        wins += WEXITSTATUS(st) == 0;
        exists += WEXITSTATUS(st) == 1;
    }
    assert_int_equal(wins, 1);
    assert_int_equal(exists, 5);
    assert_int_equal(ex_artifact_list(f->s, &v, &n), 0);
    assert_int_equal(n, 1);
    ex_artifacts_free(v, n);
    assert_int_equal(count_tmp(f), 0);
}

static bool exists_at(struct fx *f, const char *rel)
{
    char *p = gr_path_join(f->root, rel);
    bool r = gr_path_exists(p);

    free(p);
    return r;
}

/* Retention: expired artifacts are deleted by prune (with a clock in the future). */
static void test_expired_deleted(void **state)
{
    struct fx *f = *state;
    struct ex_artifact_commit_opts day = {.size = UINT64_MAX, .retention_days = 1};
    struct ex_artifact_commit_opts month = {.size = UINT64_MAX, .retention_days = 30};
    struct ex_artifact_prune pr = {.expired = 9};
    struct ex_artifact a = {0}, *v = NULL;
    size_t n = 0;
    char *p;

    p = staged(f, "short");
    assert_int_equal(ex_artifact_commit(f->s, "short", p, &day, &a, NULL), 0);
    free(p);
    p = staged(f, "long");
    assert_int_equal(ex_artifact_commit(f->s, "long", p, &month, NULL, NULL), 0);
    free(p);
    p = staged(f, "forever");
    assert_int_equal(ex_artifact_commit(f->s, "forever", p, NULL, NULL, NULL), 0);
    free(p);
    /* Nothing has expired yet. */
    assert_int_equal(ex_artifact_prune(f->s, 0, &pr), 0);
    assert_int_equal(pr.expired, 0);
    assert_true(exists_at(f, "short.zip"));
    /* Two days later: "short" goes, zip and metadata; the others stay. */
    assert_int_equal(ex_artifact_prune(f->s, a.created_ms + 2 * 86400000LL, &pr), 0);
    assert_int_equal(pr.expired, 1); /* counts through this handle */
    assert_false(exists_at(f, "short.zip"));
    assert_false(exists_at(f, ".meta/short.json"));
    assert_true(exists_at(f, "long.zip"));
    assert_true(exists_at(f, "forever.zip"));
    assert_int_equal(ex_artifact_list(f->s, &v, &n), 0);
    assert_int_equal(n, 2);
    ex_artifacts_free(v, n);
    /* Sixty days later "long" goes too. */
    assert_int_equal(ex_artifact_prune(f->s, a.created_ms + 60 * 86400000LL, &pr), 0);
    assert_int_equal(pr.expired, 2);
    assert_false(exists_at(f, "long.zip"));
    assert_true(exists_at(f, "forever.zip"));
    ex_artifact_release(&a);
}

/* An artifact whose retention lies in the past is invisible and deleted by list and open. */
static void test_expired_in_the_past(void **state)
{
    struct fx *f = *state;
    struct ex_artifact_commit_opts ow = {.size = UINT64_MAX, .overwrite = false};
    struct ex_artifact_store *again = NULL;
    struct ex_artifact a = {0}, *v = NULL;
    static const char rec[] =
        "{\"id\":40,\"name\":\"%s\",\"size\":3,\"sha256\":\"2cf24dba5fb0a30e26"
        "e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824\",\"created_ms\":1,"
        "\"expires_ms\":2}";
    char text[512], *meta, *zip, *p;
    size_t n = 9;

    for (int i = 0; i < 2; i++) {
        const char *name = i ? "old2" : "old1";
        (void)snprintf(text, sizeof(text), rec, name);
        meta = gr_xasprintf("%s/.meta/%s.json", f->root, name);
        zip = ex_artifact_path(f->s, name);
        assert_int_equal(gr_file_write_atomic(meta, text, strlen(text), 0644), 0);
        assert_int_equal(gr_file_write_atomic(zip, "abc", 3, 0644), 0);
        free(meta);
        free(zip);
    }
    assert_int_equal(ex_artifact_find(f->s, "old1", &a), GR_ENOTFOUND);
    assert_true(exists_at(f, "old1.zip"));
    assert_int_equal(ex_artifact_list(f->s, &v, &n), 0);
    assert_int_equal(n, 0);
    ex_artifacts_free(v, n);
    assert_false(exists_at(f, "old1.zip"));
    assert_false(exists_at(f, ".meta/old1.json"));
    assert_false(exists_at(f, "old2.zip"));

    /* Opening a store deletes what expired meanwhile. */
    (void)snprintf(text, sizeof(text), rec, "old3");
    meta = gr_xasprintf("%s/.meta/old3.json", f->root);
    assert_int_equal(gr_file_write_atomic(meta, text, strlen(text), 0644), 0);
    free(meta);
    assert_int_equal(ex_artifact_open(f->root, &again, NULL), 0);
    assert_false(exists_at(f, ".meta/old3.json"));
    ex_artifact_free(again);

    /* An expired name is free again without overwrite. */
    (void)snprintf(text, sizeof(text), rec, "old4");
    meta = gr_xasprintf("%s/.meta/old4.json", f->root);
    assert_int_equal(gr_file_write_atomic(meta, text, strlen(text), 0644), 0);
    free(meta);
    p = staged(f, "new");
    assert_int_equal(ex_artifact_commit(f->s, "old4", p, &ow, &a, NULL), 0);
    free(p);
    assert_int_equal(a.size, 3);
    assert_int_equal(a.expires_ms, 0);
    ex_artifact_release(&a);
    assert_int_equal(ex_artifact_find(f->s, "old4", &a), 0);
    ex_artifact_release(&a);
}

static size_t tmp_size(struct fx *f)
{
    char *tmp = gr_path_join(f->root, ".tmp");
    DIR *d = opendir(tmp);
    struct dirent *de;
    size_t size = 0;

    while (d && (de = readdir(d)) != NULL) {
        struct stat st;
        if (de->d_name[0] != '.' && fstatat(dirfd(d), de->d_name, &st, 0) == 0)
            size += (size_t)st.st_size;
    }
    if (d)
        closedir(d);
    free(tmp);
    return size;
}

/*
 * An uploader killed with SIGKILL in the middle of writing its temp file: the next open removes
 * the file, while this process's upload (a live writer, its descriptor closed) stays and
 * commits whole.
 */
static void test_killed_upload_swept(void **state)
{
    struct fx *f = *state;
    struct ex_artifact_store *again = NULL;
    struct ex_artifact_prune pr = {0};
    struct ex_artifact a = {0};
    char *mine = staged(f, "live upload"), *junk;
    int st;
    pid_t pid;

    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        static char block[1 << 16];
        struct ex_artifact_store *s = NULL;
        char *p = NULL;
        int fd = -1;
        if (ex_artifact_open(f->root, &s, NULL) < 0 || ex_artifact_tmpfile(s, &p, &fd) < 0)
            _exit(1);
        memset(block, 'z', sizeof(block));
        for (;;)
            if (write(fd, block, sizeof(block)) < 0 || lseek(fd, 0, SEEK_SET) < 0)
                _exit(1);
    }
    for (int i = 0; i < 10000 && tmp_size(f) <= strlen("live upload"); i++)
        usleep(1000);
    assert_true(tmp_size(f) > strlen("live upload"));
    assert_int_equal(count_tmp(f), 2);
    assert_int_equal(kill(pid, SIGKILL), 0);
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(count_tmp(f), 2);
    /* Left by killed metadata writers (written only under the exclusive lock). */
    junk = gr_path_join(f->root, ".meta/x.json.tmp.4242");
    assert_int_equal(gr_file_write_atomic(junk, "{", 1, 0644), 0);
    free(junk);
    junk = gr_path_join(f->root, ".next_id.tmp.4243");
    assert_int_equal(gr_file_write_atomic(junk, "7", 1, 0644), 0);
    free(junk);

    assert_int_equal(ex_artifact_open(f->root, &again, NULL), 0);
    assert_int_equal(count_tmp(f), 1);
    assert_true(gr_path_exists(mine));
    assert_int_equal(ex_artifact_prune(again, 0, &pr), 0);
    assert_int_equal(pr.temp_files, 3); /* the killed upload and the two metadata temp files */
    assert_int_equal(pr.expired, 0);
    assert_false(exists_at(f, ".meta/x.json.tmp.4242"));
    assert_false(exists_at(f, ".next_id.tmp.4243"));
    assert_int_equal(ex_artifact_commit(again, "mine", mine, NULL, &a, NULL), 0);
    assert_int_equal(a.size, strlen("live upload"));
    ex_artifact_release(&a);
    assert_int_equal(count_tmp(f), 0);
    ex_artifact_free(again);
    free(mine);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test_setup_teardown(test_commit_find_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mismatch_leaves_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exists_overwrite_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged_metadata_hidden, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expired_deleted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expired_in_the_past, setup, teardown),
        cmocka_unit_test_setup_teardown(test_killed_upload_swept, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
