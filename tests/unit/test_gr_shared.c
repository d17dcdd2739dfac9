/*
 * Unit tests for the common helpers that several modules share: appends that cannot fail, tree
 * chown, pwrite at an offset, ISO 8601 times, sorted directory names.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gr.h"

static void buf_xadd_appends(void **state)
{
    struct gr_buf b = GR_BUF_INIT(0);
    char big[600];

    (void)state;
    gr_buf_xadd(&b, "ab\0c", 4);
    assert_int_equal(b.len, 4);
    assert_memory_equal(b.ptr, "ab\0c", 5);
    gr_buf_xadds(&b, "de");
    gr_buf_xaddch(&b, 'f');
    assert_int_equal(b.len, 7);
    assert_memory_equal(b.ptr, "ab\0cdef", 8);
    /* Growth past the first allocation keeps what was there. */
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    gr_buf_xadds(&b, big);
    assert_int_equal(b.len, 7 + sizeof(big) - 1);
    assert_memory_equal(b.ptr, "ab\0cdef", 7);
    assert_string_equal(b.ptr + 7, big);
    gr_buf_xadd(&b, "", 0);
    assert_int_equal(b.len, 7 + sizeof(big) - 1);
    gr_buf_release(&b);
}

static void buf_xadd_fills_a_limited_buffer(void **state)
{
    struct gr_buf b = GR_BUF_INIT(3);

    (void)state;
    gr_buf_xadds(&b, "ab");
    gr_buf_xaddch(&b, 'c');
    assert_string_equal(b.ptr, "abc");
    assert_int_equal(b.len, 3);
    gr_buf_release(&b);
}

static void put(const char *root, const char *rel, bool dir)
{
    char *p = gr_path_join(root, rel);

    if (dir)
        assert_int_equal(gr_mkdir_p(p, 0755), 0);
    else
        assert_int_equal(gr_file_write_atomic(p, "x", 1, 0644), 0);
    free(p);
}

static uid_t owner(const char *root, const char *rel)
{
    char *p = gr_path_join(root, rel);
    struct stat st;

    assert_int_equal(lstat(p, &st), 0);
    free(p);
    return st.st_uid;
}

static void chown_tree_skips_and_counts(void **state)
{
    char tmpl[] = "/tmp/gr-chown-XXXXXX";
    char *root = mkdtemp(tmpl), *out, *skip, *link;

    (void)state;
    assert_non_null(root);
    put(root, "a/b", true);
    put(root, "a/b/f", false);
    put(root, "state/s", true);
    put(root, "outside", true);
    put(root, "outside/o", false);
    out = gr_path_join(root, "outside");
    skip = gr_path_join(root, "state");
    link = gr_path_join(root, "a/l");
    assert_int_equal(symlink(out, link), 0);
    /* A link alone: changed itself, not followed. */
    assert_int_equal(gr_chown_tree(link, NULL, geteuid(), geteuid(), getegid()), 1);
    /* The whole tree but the state dir: root, a, a/b, a/b/f, a/l, outside, outside/o. */
    assert_int_equal(gr_chown_tree(root, skip, geteuid(), geteuid(), getegid()), 7);
    assert_int_equal(gr_chown_tree(root, NULL, geteuid(), geteuid(), getegid()), 9);
    /* Files of another uid stay. */
    assert_int_equal(gr_chown_tree(root, NULL, geteuid() + 1, geteuid(), getegid()), 0);
    if (geteuid() == 0) {
        assert_int_equal(gr_chown_tree(root, skip, 0, 64123, 64124), 7);
        assert_int_equal(owner(root, "a/b/f"), 64123);
        assert_int_equal(owner(root, "a/l"), 64123);
        assert_int_equal(owner(root, "state"), 0);
        assert_int_equal(owner(root, "state/s"), 0);
        assert_int_equal(gr_chown_tree(root, NULL, 64123, 0, 0), 7);
    }
    assert_int_equal(gr_chown_tree("/nonexistent/x", NULL, 0, 1, 1), -ENOENT);
    assert_int_equal(gr_rm_rf(root), 0);
    free(out);
    free(skip);
    free(link);
}

static void pwrite_all_at_offsets(void **state)
{
    char tmpl[] = "/tmp/gr-pwrite-XXXXXX", *text = NULL;
    int fd = mkstemp(tmpl);
    size_t len = 0;

    (void)state;
    assert_true(fd >= 0);
    assert_int_equal(gr_pwrite_all(fd, "world", 5, 6), 0);
    assert_int_equal(gr_pwrite_all(fd, "hello ", 6, 0), 0);
    /* The file offset does not move. */
    assert_int_equal(lseek(fd, 0, SEEK_CUR), 0);
    assert_int_equal(gr_file_read(tmpl, 64, &text, &len), 0);
    assert_int_equal(len, 11);
    assert_string_equal(text, "hello world");
    free(text);
    close(fd);
    assert_int_equal(gr_pwrite_all(fd, "x", 1, 0), -EBADF);
    assert_int_equal(unlink(tmpl), 0);
}

static void iso8601_of_milliseconds(void **state)
{
    char out[32];

    (void)state;
    gr_time_iso8601_ms(0, out, sizeof(out));
    assert_string_equal(out, "1970-01-01T00:00:00.000Z");
    gr_time_iso8601_ms(1795750464123LL, out, sizeof(out));
    assert_string_equal(out, "2026-11-27T03:34:24.123Z");
    gr_time_iso8601_ms(1000LL * 86400 + 7, out, sizeof(out));
    assert_string_equal(out, "1970-01-02T00:00:00.007Z");
    /* The current time has the same shape. */
    gr_time_iso8601(out, sizeof(out));
    assert_int_equal(strlen(out), 24);
    assert_int_equal(out[23], 'Z');
}

static void dir_names_sorted(void **state)
{
    char tmpl[] = "/tmp/gr-names-XXXXXX";
    char *root = mkdtemp(tmpl), **names;
    size_t n = 99;
    DIR *d;

    (void)state;
    assert_non_null(root);
    d = opendir(root);
    assert_non_null(d);
    names = gr_dir_names(d, &n);
    closedir(d);
    assert_int_equal(n, 0);
    free(names);
    put(root, "b", false);
    put(root, "a", true);
    put(root, "C", false);
    put(root, ".h", false);
    d = opendir(root);
    assert_non_null(d);
    names = gr_dir_names(d, &n);
    closedir(d);
    assert_int_equal(n, 4);
    assert_string_equal(names[0], ".h");
    assert_string_equal(names[1], "C");
    assert_string_equal(names[2], "a");
    assert_string_equal(names[3], "b");
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    assert_int_equal(gr_rm_rf(root), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(buf_xadd_appends),
        cmocka_unit_test(buf_xadd_fills_a_limited_buffer),
        cmocka_unit_test(chown_tree_skips_and_counts),
        cmocka_unit_test(pwrite_all_at_offsets),
        cmocka_unit_test(iso8601_of_milliseconds),
        cmocka_unit_test(dir_names_sorted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
