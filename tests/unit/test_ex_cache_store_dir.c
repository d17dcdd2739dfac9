/* Unit tests for ex_cache_store_dir(): which store directory the cache commands and steps use. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdlib.h>

#include "ex.h"

static void expect_dir(const char *dir, const char *home_default, const char *want)
{
    char *got = ex_cache_store_dir(dir, home_default);

    if (!want) {
        assert_null(got);
        return;
    }
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static void explicit_dir_wins(void **state)
{
    (void)state;
    assert_int_equal(setenv("GHRUN_CACHE_DIR", "/env/store", 1), 0);
    assert_int_equal(setenv("HOME", "/home/u", 1), 0);
    expect_dir("/given", NULL, "/given");
    expect_dir("/given", "/tmp", "/given");
    /* An empty dir counts as none. */
    expect_dir("", NULL, "/env/store");
}

static void env_then_home(void **state)
{
    (void)state;
    assert_int_equal(setenv("GHRUN_CACHE_DIR", "/env/store", 1), 0);
    assert_int_equal(setenv("HOME", "/home/u", 1), 0);
    expect_dir(NULL, NULL, "/env/store");
    assert_int_equal(setenv("GHRUN_CACHE_DIR", "", 1), 0);
    expect_dir(NULL, NULL, "/home/u/.cache/ghrun/cache");
    assert_int_equal(unsetenv("GHRUN_CACHE_DIR"), 0);
    expect_dir(NULL, "/tmp", "/home/u/.cache/ghrun/cache");
}

static void no_home(void **state)
{
    (void)state;
    assert_int_equal(unsetenv("GHRUN_CACHE_DIR"), 0);
    assert_int_equal(unsetenv("HOME"), 0);
    expect_dir(NULL, NULL, NULL);
    expect_dir(NULL, "/tmp", "/tmp/.cache/ghrun/cache");
    assert_int_equal(setenv("HOME", "", 1), 0);
    expect_dir(NULL, NULL, NULL);
    expect_dir(NULL, "/tmp", "/tmp/.cache/ghrun/cache");
    /* GHRUN_CACHE_DIR needs no HOME. */
    assert_int_equal(setenv("GHRUN_CACHE_DIR", "/env/store", 1), 0);
    expect_dir(NULL, NULL, "/env/store");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(explicit_dir_wins),
        cmocka_unit_test(env_then_home),
        cmocka_unit_test(no_home),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
