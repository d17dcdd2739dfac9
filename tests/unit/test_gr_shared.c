/* Unit tests for the common helpers that several modules share: the appends that cannot fail. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <string.h>

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(buf_xadd_appends),
        cmocka_unit_test(buf_xadd_fills_a_limited_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
