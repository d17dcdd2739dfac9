/*
 * The runner subcommands' argument handling and refusals (cmd_config.c,
 * cmd_run.c, cmd_remove.c). Run with arguments ("config ...", "run ...",
 * "remove ...") this executable is also the front end the integration tests
 * drive when the ghrun binary does not list these subcommands yet.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd_runner.h"
#include "protocol.h"

static int call(int (*fn)(int, char **), const char *a0, ...)
{
    char *argv[16] = {(char *)a0};
    int argc = 1;
    va_list ap;

    va_start(ap, a0);
    while (argc < 15 && (argv[argc] = va_arg(ap, char *)))
        argc++;
    va_end(ap);
    return fn(argc, argv);
}

static char *mkroot(void)
{
    char tmpl[] = "/tmp/rn_cmd_XXXXXX";

    assert_non_null(mkdtemp(tmpl));
    return gr_xstrdup(tmpl);
}

static void test_usage_errors(void **state)
{
    char *root = mkroot();

    assert_int_equal(call(rn_cmd_config, "config", "--root", root, "--unattended", NULL), 2);
    assert_int_equal(
        call(rn_cmd_config, "config", "--root", root, "--unattended", "--url", "x", NULL), 2);
    assert_int_equal(call(rn_cmd_config, "config", "--bogus", NULL), 2);
    assert_int_equal(call(rn_cmd_config, "config", "--root", root, "extra", NULL), 2);
    assert_int_equal(call(rn_cmd_remove, "remove", "--root", root, NULL), 2);
    assert_int_equal(call(rn_cmd_run, "run", "--nope", NULL), 2);
    assert_int_equal(call(rn_cmd_config, "config", "--help", NULL), 0);
    assert_int_equal(call(rn_cmd_run, "run", "--help", NULL), 0);
    assert_int_equal(call(rn_cmd_remove, "remove", "--help", NULL), 0);
    assert_int_equal(rmdir(root), 0);
    free(root);
}

static void test_unconfigured_root(void **state)
{
    char *root = mkroot();

    /* nothing to run or remove */
    assert_int_equal(call(rn_cmd_run, "run", "--root", root, "--once", NULL), 1);
    assert_int_equal(call(rn_cmd_remove, "remove", "--root", root, "--token", "t", NULL), 1);
    /* a bad URL is refused before anything is written */
    assert_int_equal(call(rn_cmd_config, "config", "--root", root, "--unattended", "--url",
                          "ftp://x/y", "--token", "t", NULL),
                     1);
    assert_false(rn_config_exists(root));
    assert_int_equal(rmdir(root), 0);
    free(root);
}

static void test_configured_root_refuses(void **state)
{
    char *root = mkroot(), *p = gr_path_join(root, ".runner");

    assert_int_equal(gr_file_write_atomic(p, "{}", 2, 0600), 0);
    assert_int_equal(call(rn_cmd_config, "config", "--root", root, "--unattended", "--url",
                          "http://127.0.0.1:9/a/b", "--token", "t", NULL),
                     2);
    /* a broken .runner cannot be run */
    assert_int_equal(call(rn_cmd_run, "run", "--root", root, NULL), 1);
    assert_int_equal(call(rn_cmd_run, "run", "--root", root, "--jitconfig", "e30=", NULL), 2);
    assert_int_equal(call(rn_cmd_remove, "remove", "--root", root, "--local", NULL), 0);
    assert_false(rn_config_exists(root));
    assert_int_equal(rmdir(root), 0);
    free(p);
    free(root);
}

static void test_bad_jitconfig(void **state)
{
    char *root = mkroot();

    assert_int_equal(call(rn_cmd_run, "run", "--root", root, "--jitconfig", "%%%", NULL), 2);
    assert_false(rn_config_exists(root));
    assert_int_equal(rmdir(root), 0);
    free(root);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_unconfigured_root),
        cmocka_unit_test(test_configured_root_refuses),
        cmocka_unit_test(test_bad_jitconfig),
    };

    if (argc > 1 && !strcmp(argv[1], "config"))
        return rn_cmd_config(argc - 1, argv + 1);
    if (argc > 1 && !strcmp(argv[1], "run"))
        return rn_cmd_run(argc - 1, argv + 1);
    if (argc > 1 && !strcmp(argv[1], "remove"))
        return rn_cmd_remove(argc - 1, argv + 1);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
