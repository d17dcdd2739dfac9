/*
 * Action tarballs (executor/resolver_tar.c): GitHub's single top-level
 * directory stripped, and every way out of the destination refused.
 */
#include "ex.h"
#include "resolver_internal.h"

#include <archive.h>
#include <archive_entry.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

struct ent {
    const char *name;
    char type;        /* 'f' file, 'd' directory, 'l' symlink, 'h' hard link, 'p' fifo */
    const char *data; /* file contents, or the link target */
    unsigned mode;    /* 0: 0644 / 0755 */
};

struct fx {
    char root[64]; /* a fresh directory; dest is root/dest, "outside" is root/outside */
    char dest[128], outside[128];
};

static size_t tar_build(const struct ent *e, size_t n, bool gzip, char *buf, size_t cap)
{
    struct archive *a = archive_write_new();
    size_t used = 0;

    archive_write_set_format_pax_restricted(a);
    if (gzip)
        archive_write_add_filter_gzip(a);
    assert_int_equal(archive_write_open_memory(a, buf, cap, &used), ARCHIVE_OK);
    for (size_t i = 0; i < n; i++) {
        struct archive_entry *ae = archive_entry_new();
        size_t len = e[i].type == 'f' && e[i].data ? strlen(e[i].data) : 0;

        archive_entry_set_pathname(ae, e[i].name);
        switch (e[i].type) {
        case 'd':
            archive_entry_set_filetype(ae, AE_IFDIR);
            archive_entry_set_perm(ae, e[i].mode ? e[i].mode : 0755);
            break;
        case 'l':
            archive_entry_set_filetype(ae, AE_IFLNK);
            archive_entry_set_symlink(ae, e[i].data);
            archive_entry_set_perm(ae, 0777);
            break;
        case 'h':
            archive_entry_set_filetype(ae, AE_IFREG);
            archive_entry_set_hardlink(ae, e[i].data);
            break;
        case 'p':
            archive_entry_set_filetype(ae, AE_IFIFO);
            archive_entry_set_perm(ae, 0644);
            break;
        default:
            archive_entry_set_filetype(ae, AE_IFREG);
            archive_entry_set_perm(ae, e[i].mode ? e[i].mode : 0644);
            archive_entry_set_size(ae, (la_int64_t)len);
        }
        assert_int_equal(archive_write_header(a, ae), ARCHIVE_OK);
        if (len)
            assert_int_equal(archive_write_data(a, e[i].data, len), (la_ssize_t)len);
        archive_entry_free(ae);
    }
    assert_int_equal(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
    return used;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));

    snprintf(f->root, sizeof(f->root), "%s", "/tmp/test_ex_action_tar.XXXXXX");
    assert_non_null(mkdtemp(f->root));
    snprintf(f->dest, sizeof(f->dest), "%s/dest", f->root);
    snprintf(f->outside, sizeof(f->outside), "%s/outside", f->root);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    assert_int_equal(gr_rm_rf(f->root), 0);
    free(f);
    return 0;
}

/* Extract e[0..n) into f->dest; returns the result, the message in d. */
static int extract(struct fx *f, const struct ent *e, size_t n, struct gr_diag *d)
{
    static char buf[1 << 20];
    size_t len = tar_build(e, n, true, buf, sizeof(buf));

    memset(d, 0, sizeof(*d));
    return ex__action_tar_extract(buf, len, f->dest, d);
}

static char *slurp(const char *dir, const char *rel)
{
    char *p = gr_path_join(dir, rel), *text = NULL;
    size_t len = 0;

    if (gr_file_read(p, 1 << 20, &text, &len) < 0)
        text = NULL;
    free(p);
    return text;
}

static bool exists_in(const char *dir, const char *rel)
{
    char *p = gr_path_join(dir, rel);
    struct stat st;
    bool ok = lstat(p, &st) == 0;

    free(p);
    return ok;
}

static void refused(void **state, const struct ent *e, size_t n, const char *want)
{
    struct fx *f = *state;
    struct gr_diag d;
    int r = extract(f, e, n, &d);

    assert_true(r < 0);
    if (!strstr(d.msg, want))
        fail_msg("message '%s' lacks '%s'", d.msg, want);
    assert_false(gr_path_exists(f->outside));
}

/* ---- tests ---- */

static void test_top_stripped(void **state)
{
    struct fx *f = *state;
    const struct ent e[] = {
        {"acme-tools-1234567/", 'd', NULL, 0},
        {"acme-tools-1234567/action.yml", 'f', "name: t\n", 0},
        {"acme-tools-1234567/sub/", 'd', NULL, 0},
        {"acme-tools-1234567/sub/run.sh", 'f', "echo hi\n", 04755},
        {"acme-tools-1234567/sub/link.sh", 'l', "run.sh", 0},
        {"acme-tools-1234567/sub/up.yml", 'l', "../action.yml", 0},
        {"acme-tools-1234567/copy.yml", 'h', "acme-tools-1234567/action.yml", 0},
    };
    struct gr_diag d;
    struct stat st;
    char *text;

    assert_int_equal(extract(f, e, GR_ARRAY_SIZE(e), &d), 0);
    text = slurp(f->dest, "action.yml");
    assert_string_equal(text, "name: t\n");
    free(text);
    text = slurp(f->dest, "sub/link.sh"); /* through the kept link */
    assert_string_equal(text, "echo hi\n");
    free(text);
    text = slurp(f->dest, "sub/up.yml");
    assert_string_equal(text, "name: t\n");
    free(text);
    text = slurp(f->dest, "copy.yml");
    assert_string_equal(text, "name: t\n");
    free(text);
    assert_false(exists_in(f->dest, "acme-tools-1234567"));
    assert_int_equal(lstat(f->dest, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    /* executable kept, set-user-id dropped */
    char *p = gr_path_join(f->dest, "sub/run.sh");
    assert_int_equal(stat(p, &st), 0);
    free(p);
    assert_int_equal(st.st_mode & 07777, 0755);
}

static void test_plain_tar(void **state)
{
    struct fx *f = *state;
    static char buf[1 << 16];
    const struct ent e[] = {{"./top/", 'd', NULL, 0}, {"./top/a", 'f', "x", 0}};
    size_t len = tar_build(e, 2, false, buf, sizeof(buf));
    struct gr_diag d = {0};
    char *text;

    assert_int_equal(ex__action_tar_extract(buf, len, f->dest, &d), 0);
    text = slurp(f->dest, "a");
    assert_string_equal(text, "x");
    free(text);
}

static void test_dotdot(void **state)
{
    const struct ent e[] = {{"top/", 'd', NULL, 0}, {"top/../../outside", 'f', "x", 0}};

    refused(state, e, GR_ARRAY_SIZE(e), "refusing archive member 'top/../../outside'");
}

static void test_absolute(void **state)
{
    struct fx *f = *state;
    const struct ent e[] = {{"top/", 'd', NULL, 0}, {f->outside, 'f', "x", 0}};

    refused(state, e, GR_ARRAY_SIZE(e), "absolute or outside the action");
}

static void test_symlink_absolute(void **state)
{
    struct fx *f = *state;
    const struct ent e[] = {{"top/", 'd', NULL, 0}, {"top/l", 'l', f->root, 0}};

    refused(state, e, GR_ARRAY_SIZE(e), "refusing symbolic link 'top/l'");
}

static void test_symlink_up(void **state)
{
    const struct ent e[] = {
        {"top/", 'd', NULL, 0}, {"top/a/", 'd', NULL, 0}, {"top/a/l", 'l', "../../outside", 0}};

    refused(state, e, GR_ARRAY_SIZE(e), "it points outside the action");
}

/* Lexically inside, but through another link it lands above dest. */
static void test_symlink_chain(void **state)
{
    const struct ent e[] = {
        {"top/", 'd', NULL, 0}, {"top/d", 'l', ".", 0}, {"top/x", 'l', "d/..", 0}};

    refused(state, e, GR_ARRAY_SIZE(e), "refusing symbolic link 'x': it resolves outside");
}

static void test_write_through_link(void **state)
{
    struct fx *f = *state;
    const struct ent e[] = {{"top/", 'd', NULL, 0},
                            {"top/sub/", 'd', NULL, 0},
                            {"top/l", 'l', "sub", 0},
                            {"top/l/file", 'f', "x", 0}};
    struct gr_diag d;

    assert_true(extract(f, e, GR_ARRAY_SIZE(e), &d) < 0);
    assert_false(exists_in(f->dest, "sub/file"));
}

static void test_hardlink_out(void **state)
{
    const struct ent e[] = {{"top/", 'd', NULL, 0}, {"top/p", 'h', "/etc/passwd", 0}};

    refused(state, e, GR_ARRAY_SIZE(e), "refusing hard link 'top/p' -> '/etc/passwd'");
}

static void test_hardlink_through_symlink(void **state)
{
    struct fx *f = *state;
    char target[200];
    const struct ent e[] = {
        {"top/", 'd', NULL, 0}, {"top/d", 'l', ".", 0}, {"top/h", 'h', "top/d/x", 0}};

    snprintf(target, sizeof(target), "%s/x", f->dest);
    refused(state, e, GR_ARRAY_SIZE(e), "goes through a symbolic link");
}

static void test_hardlink_to_top(void **state)
{
    const struct ent e[] = {{"top/", 'd', NULL, 0}, {"top/h", 'h', "top", 0}};

    refused(state, e, GR_ARRAY_SIZE(e), "refusing hard link");
}

static void test_two_tops(void **state)
{
    const struct ent e[] = {
        {"top/", 'd', NULL, 0}, {"top/a", 'f', "x", 0}, {"other/b", 'f', "y", 0}};

    refused(state, e, GR_ARRAY_SIZE(e), "more than one top-level entry ('top' and 'other')");
}

static void test_top_file(void **state)
{
    const struct ent e[] = {{"README", 'f', "x", 0}};

    refused(state, e, GR_ARRAY_SIZE(e), "top-level entry 'README' is not a directory");
}

static void test_fifo(void **state)
{
    const struct ent e[] = {{"top/", 'd', NULL, 0}, {"top/p", 'p', NULL, 0}};

    refused(state, e, GR_ARRAY_SIZE(e), "not a file, directory or link");
}

static void test_empty(void **state)
{
    refused(state, NULL, 0, "the archive is empty");
}

static void test_garbage(void **state)
{
    struct fx *f = *state;
    static const char junk[] = "this is not a tarball at all, not even close to one........";
    struct gr_diag d = {0};

    assert_int_equal(ex__action_tar_extract(junk, sizeof(junk), f->dest, &d), GR_EARCHIVE);
    assert_non_null(strstr(d.msg, "archive"));
}

static void test_dest_exists(void **state)
{
    struct fx *f = *state;
    const struct ent e[] = {{"top/", 'd', NULL, 0}};
    struct gr_diag d;

    assert_int_equal(mkdir(f->dest, 0755), 0);
    assert_int_equal(extract(f, e, 1, &d), -EEXIST);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_top_stripped),
        T(test_plain_tar),
        T(test_dotdot),
        T(test_absolute),
        T(test_symlink_absolute),
        T(test_symlink_up),
        T(test_symlink_chain),
        T(test_write_through_link),
        T(test_hardlink_out),
        T(test_hardlink_through_symlink),
        T(test_hardlink_to_top),
        T(test_two_tops),
        T(test_top_file),
        T(test_fifo),
        T(test_empty),
        T(test_garbage),
        T(test_dest_exists),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
