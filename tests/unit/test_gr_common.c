/* Unit tests for common/: buffers, errors and diagnostics, file helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gr.h"

static void buf_append_and_limit(void **state)
{
    struct gr_buf b = GR_BUF_INIT(8);

    (void)state;
    assert_string_equal(b.ptr, "");
    assert_int_equal(gr_buf_adds(&b, "abc"), 0);
    assert_int_equal(gr_buf_addf(&b, "%d%s", 12, "x"), 0);
    assert_string_equal(b.ptr, "abc12x");
    /* Past max: -E2BIG and the buffer unchanged. */
    assert_int_equal(gr_buf_adds(&b, "xyz"), -E2BIG);
    assert_string_equal(b.ptr, "abc12x");
    assert_int_equal(b.len, 6);
    assert_int_equal(gr_buf_adds(&b, "yz"), 0);
    assert_int_equal(b.len, 8);
    gr_buf_consume(&b, 3);
    assert_string_equal(b.ptr, "12xyz");
    size_t n;
    char *s = gr_buf_detach(&b, &n);
    assert_string_equal(s, "12xyz");
    assert_int_equal(n, 5);
    assert_string_equal(b.ptr, "");
    free(s);
    gr_buf_release(&b);
}

static void buf_large_format(void **state)
{
    struct gr_buf b = GR_BUF_INIT(0);
    char big[1000];

    (void)state;
    memset(big, 'q', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(gr_buf_addf(&b, "<%s>", big), 0);
    assert_int_equal(b.len, 1001);
    assert_int_equal(b.ptr[0], '<');
    assert_int_equal(b.ptr[1000], '>');
    gr_buf_release(&b);
}

static void errors_have_names_and_messages(void **state)
{
    (void)state;
    assert_string_equal(gr_strerror(GR_EPARSE), "parse error");
    assert_string_equal(gr_errname(GR_EEXPR), "GR_EEXPR");
    assert_string_equal(gr_errname(-ENOENT), "ENOENT");
    assert_string_equal(gr_strerror(-ENOENT), strerror(ENOENT));
}

static void diag_formats_location(void **state)
{
    struct gr_diag d = {0};
    char out[600];

    (void)state;
    assert_int_equal(gr_diag_set(&d, GR_EPARSE, "a.yml", 3, 7, "bad %s", "key"), GR_EPARSE);
    gr_diag_format(&d, out, sizeof(out));
    assert_string_equal(out, "a.yml:3:7: bad key");
    d.col = 0;
    gr_diag_format(&d, out, sizeof(out));
    assert_string_equal(out, "a.yml:3: bad key");
    assert_int_equal(gr_diag_set(NULL, -EINVAL, NULL, 0, 0, "x"), -EINVAL);
}

static void files_atomic_write_mode_and_rm(void **state)
{
    char dir[] = "/tmp/gr_common_XXXXXX";
    struct stat st;
    char *sub, *path, *data = NULL;
    size_t len;

    (void)state;
    assert_non_null(mkdtemp(dir));
    sub = gr_path_join(dir, "a/b/c");
    assert_int_equal(gr_mkdir_p(sub, 0755), 0);
    assert_true(gr_path_is_dir(sub));
    path = gr_path_join(sub, "cred");
    assert_int_equal(gr_file_write_atomic(path, "secret", 6, 0600), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(gr_file_read(path, 100, &data, &len), 0);
    assert_string_equal(data, "secret");
    free(data);
    assert_int_equal(gr_file_read(path, 3, &data, &len), -E2BIG);
    assert_int_equal(gr_file_read("/nonexistent/x", 3, &data, &len), -ENOENT);
    assert_int_equal(gr_rm_rf(dir), 0);
    assert_false(gr_path_exists(dir));
    assert_int_equal(gr_rm_rf(dir), 0);
    free(path);
    free(sub);
}

static void strndup_stops_at_nul(void **state)
{
    char *p;

    (void)state;
    p = gr_xstrndup("abc", 4096);
    assert_string_equal(p, "abc");
    free(p);
    p = gr_xstrndup("abcdef", 2);
    assert_string_equal(p, "ab");
    free(p);
}

static void path_join_normalises_slashes(void **state)
{
    char *p;

    (void)state;
    p = gr_path_join("/a/", "/b");
    assert_string_equal(p, "/a/b");
    free(p);
    p = gr_path_join("/", "x");
    assert_string_equal(p, "/x");
    free(p);
    p = gr_path_join("", "x");
    assert_string_equal(p, "x");
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(buf_append_and_limit),           cmocka_unit_test(buf_large_format),
        cmocka_unit_test(errors_have_names_and_messages), cmocka_unit_test(diag_formats_location),
        cmocka_unit_test(files_atomic_write_mode_and_rm), cmocka_unit_test(strndup_stops_at_nul),
        cmocka_unit_test(path_join_normalises_slashes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
