/*
 * executor/slot.c and step.c: scratch files below RUNNER_TEMP, where steps write. The
 * runner makes them new (ex__scratch_new: with their content, the steps' uid owning them from
 * the start, the previous step's file of the same slot removed, never emptied in place or
 * followed, whatever a step planted under the name or in a directory's place removed without
 * following it, nothing outside RUNNER_TEMP touched) and reads them
 * back, without following a link a step planted (in the file's place or a
 * directory's on the way), without blocking on a FIFO, only from a regular
 * file of the steps' uid with one link, and within a size bound.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine_internal.h"

struct fx {
    char dir[64];  /* the leg dir */
    char *temp;    /* RUNNER_TEMP */
    char *outside; /* a dir beside it, where links point */
    char *secret;  /* outside/secret */
    struct ex__leg leg;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));

    snprintf(f->dir, sizeof(f->dir), "%s", "/tmp/gr-exslot.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->temp = gr_path_join(f->dir, "_temp");
    f->outside = gr_path_join(f->dir, "outside");
    f->secret = gr_path_join(f->outside, "secret");
    assert_int_equal(mkdir(f->temp, 0755), 0);
    assert_int_equal(mkdir(f->outside, 0700), 0);
    assert_int_equal(gr_file_write_atomic(f->secret, "k=SECRET\n", 9, 0600), 0);
    f->leg.temp_dir = f->temp;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    for (int i = 0; i < EX__N_SLOTS; i++)
        free(f->leg.spare[i]);
    assert_int_equal(gr_rm_rf(f->dir), 0);
    free(f->temp);
    free(f->outside);
    free(f->secret);
    free(f);
    return 0;
}

static char *in_temp(const struct fx *f, const char *rel)
{
    return gr_path_join(f->temp, rel);
}

static void assert_content(const char *path, const char *want)
{
    char *data = NULL;
    size_t len = 0;

    assert_int_equal(gr_file_read(path, 4096, &data, &len), 0);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(data, want, len);
    free(data);
}

static void assert_secret_intact(const struct fx *f)
{
    assert_content(f->secret, "k=SECRET\n");
}

static void test_fresh_then_read(void **state)
{
    struct fx *f = *state;
    char *p = in_temp(f, "_runner_file_commands/set_output_1");
    char *data = NULL;
    size_t len = 9;
    struct stat st;

    assert_int_equal(ex__scratch_new(&f->leg, EX__SLOT_OUTPUT, p, NULL, 0), 0);
    assert_int_equal(stat(p, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_size, 0);
    assert_int_equal(ex__scratch_read(&f->leg, p, 1024, &data, &len), 0);
    assert_int_equal(len, 0);
    free(data);
    assert_int_equal(ex__scratch_write(p, "a=1\nb=2\n", 8), 0);
    assert_int_equal(ex__scratch_read(&f->leg, p, 1024, &data, &len), 0);
    assert_int_equal(len, 8);
    assert_string_equal(data, "a=1\nb=2\n");
    free(data);
    data = NULL;
    assert_int_equal(ex__scratch_read(&f->leg, p, 4, &data, &len), -E2BIG);
    assert_null(data);
    free(p);
}

static void test_linked_file_refused(void **state)
{
    struct fx *f = *state;
    char *p = in_temp(f, "out");
    char *data = NULL;
    size_t len = 0;

    assert_int_equal(symlink(f->secret, p), 0);
    assert_int_equal(ex__scratch_read(&f->leg, p, 1024, &data, &len), -ELOOP);
    assert_null(data);
    free(p);
}

static void test_fifo_and_hardlink_refused(void **state)
{
    struct fx *f = *state;
    char *fifo = in_temp(f, "fifo"), *hard = in_temp(f, "hard"), *mine = in_temp(f, "mine");
    char *data = NULL;
    size_t len = 0;

    assert_int_equal(mkfifo(fifo, 0644), 0);
    /* would block forever without O_NONBLOCK: no writer */
    assert_int_equal(ex__scratch_read(&f->leg, fifo, 1024, &data, &len), -EPERM);
    assert_int_equal(ex__scratch_write(mine, "x=1\n", 4), 0);
    assert_int_equal(link(mine, hard), 0);
    assert_int_equal(ex__scratch_read(&f->leg, hard, 1024, &data, &len), -EPERM);
    assert_null(data);
    free(fifo);
    free(hard);
    free(mine);
}

static void test_linked_dir_healed(void **state)
{
    struct fx *f = *state;
    char *dir = in_temp(f, "_runner_file_commands");
    char *p = in_temp(f, "_runner_file_commands/set_env_2");
    char *hidden = gr_path_join(f->outside, "set_env_2");
    char *data = NULL;
    size_t len = 0;
    struct stat st;
    int r;

    assert_int_equal(symlink(f->outside, dir), 0);
    assert_int_equal(gr_file_write_atomic(hidden, "k=v\n", 4, 0644), 0);
    /* reading never goes through the link (O_DIRECTORY|O_NOFOLLOW: ENOTDIR on a link) */
    r = ex__scratch_read(&f->leg, p, 1024, &data, &len);
    assert_true(r == -ENOTDIR || r == -ELOOP);
    assert_null(data);
    /* making a fresh file removes the link and makes the dir again */
    assert_int_equal(ex__scratch_new(&f->leg, EX__SLOT_ENV, p, NULL, 0), 0);
    assert_int_equal(lstat(dir, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(stat(hidden, &st), 0);
    assert_int_equal(st.st_size, 4); /* the link's target was not truncated */
    assert_int_equal(lstat(p, &st), 0);
    assert_true(S_ISREG(st.st_mode)); /* made in the new dir, not through the link */
    assert_secret_intact(f);
    free(dir);
    free(p);
    free(hidden);
}

static void test_outside_temp_refused(void **state)
{
    struct fx *f = *state;
    char *up = in_temp(f, "../outside/secret"), *beside = gr_path_join(f->dir, "beside.sh");
    char *data = NULL;
    size_t len = 0;
    struct stat st;

    assert_int_equal(ex__scratch_read(&f->leg, f->secret, 1024, &data, &len), -EINVAL);
    assert_int_equal(ex__scratch_read(&f->leg, up, 1024, &data, &len), -EINVAL);
    assert_int_equal(ex__scratch_new(&f->leg, EX__SLOT_ENV, up, NULL, 0), -EINVAL);
    assert_int_equal(ex__scratch_new(&f->leg, EX__SLOT_SCRIPT, up, "x", 1), -EINVAL);
    assert_int_equal(ex__scratch_new(&f->leg, EX__SLOT_SCRIPT, beside, "x", 1), -EINVAL);
    assert_int_equal(lstat(beside, &st), -1);
    assert_secret_intact(f);
    assert_null(data);
    free(up);
    free(beside);
}

/* As root with a slot: files are the slot's; a root-owned file is not read back. */
static void test_slot_owner(void **state)
{
    struct fx *f = *state;
    char *p = in_temp(f, "cmds/set_state_3"), *rootf = in_temp(f, "rootf");
    char *data = NULL;
    size_t len = 0;
    struct stat st;

    if (geteuid() != 0) {
        skip();
        return;
    }
    f->leg.slot = true;
    f->leg.slot_uid = 64999;
    f->leg.slot_gid = 64998;
    assert_int_equal(ex__scratch_new(&f->leg, EX__SLOT_STATE, p, NULL, 0), 0);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_uid, 64999);
    assert_int_equal(st.st_gid, 64998);
    assert_int_equal(ex__scratch_read(&f->leg, p, 16, &data, &len), 0);
    free(data);
    data = NULL;
    /* with content: the slot's from its creation, and read back as a file of the steps' uid */
    assert_int_equal(ex__scratch_new(&f->leg, EX__SLOT_SCRIPT, p, "k=v\n", 4), 0);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_uid, 64999);
    assert_int_equal(ex__scratch_read(&f->leg, p, 16, &data, &len), 0);
    assert_int_equal(len, 4);
    assert_memory_equal(data, "k=v\n", 4);
    free(data);
    data = NULL;
    assert_int_equal(gr_file_write_atomic(rootf, "k=v\n", 4, 0644), 0);
    assert_int_equal(ex__scratch_read(&f->leg, rootf, 16, &data, &len), -EPERM);
    assert_null(data);
    free(p);
    free(rootf);
}

static void test_new_with_content(void **state)
{
    struct fx *f = *state;
    char *p = in_temp(f, "0001-0001.sh"), *e = in_temp(f, "_runner_file_commands/set_env_1");
    struct stat st;

    assert_int_equal(ex__scratch_new(&f->leg, EX__SLOT_SCRIPT, p, "echo ok\n", 8), 0);
    assert_int_equal(lstat(p, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0644);
    assert_int_equal(st.st_uid, geteuid());
    assert_content(p, "echo ok\n");
    /* empty, in a directory made on the way */
    assert_int_equal(ex__scratch_new(&f->leg, EX__SLOT_ENV, e, NULL, 0), 0);
    assert_int_equal(lstat(e, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_size, 0);
    free(p);
    free(e);
}

static void test_previous_removed(void **state)
{
    struct fx *f = *state;
    char *a = in_temp(f, "a.sh"), *b = in_temp(f, "b.sh");
    struct stat st;

    assert_int_equal(ex__scratch_new(&f->leg, EX__SLOT_SCRIPT, a, "first step\n", 11), 0);
    f->leg.spare[EX__SLOT_SCRIPT] = gr_xstrdup(a);
    assert_int_equal(ex__scratch_new(&f->leg, EX__SLOT_SCRIPT, b, "second\n", 7), 0);
    assert_null(f->leg.spare[EX__SLOT_SCRIPT]);
    assert_int_equal(lstat(a, &st), -1);
    assert_int_equal(errno, ENOENT);
    assert_content(b, "second\n");
    /* a spare already gone is no error */
    f->leg.spare[EX__SLOT_SCRIPT] = gr_xstrdup(a);
    assert_int_equal(ex__scratch_new(&f->leg, EX__SLOT_SCRIPT, a, "third\n", 6), 0);
    assert_content(a, "third\n");
    assert_content(b, "second\n"); /* not handed back as the spare: it stays */
    free(a);
    free(b);
}

static void test_linked_spare_not_followed(void **state)
{
    struct fx *f = *state;
    char *a = in_temp(f, "a.sh"), *b = in_temp(f, "b.sh"), *c = in_temp(f, "sub/c.sh");
    char *d = in_temp(f, "d.sh");
    struct stat st;

    /* the step swapped its script for a link to a file of the runner's: the link goes */
    assert_int_equal(symlink(f->secret, a), 0);
    f->leg.spare[EX__SLOT_SCRIPT] = gr_xstrdup(a);
    assert_int_equal(ex__scratch_new(&f->leg, EX__SLOT_SCRIPT, b, "x\n", 2), 0);
    assert_int_equal(lstat(a, &st), -1);
    assert_secret_intact(f);
    /* a spare in another directory than the new file's is left where it is */
    assert_int_equal(ex__scratch_new(&f->leg, EX__SLOT_SCRIPT, c, "y\n", 2), 0);
    f->leg.spare[EX__SLOT_SCRIPT] = gr_xstrdup(c);
    assert_int_equal(ex__scratch_new(&f->leg, EX__SLOT_SCRIPT, d, "z\n", 2), 0);
    assert_null(f->leg.spare[EX__SLOT_SCRIPT]);
    assert_content(c, "y\n");
    assert_content(d, "z\n");
    free(a);
    free(b);
    free(c);
    free(d);
}

static void test_planted_name_replaced(void **state)
{
    struct fx *f = *state;
    char *p = in_temp(f, "n.sh"), *q = in_temp(f, "m.sh");
    struct stat st;

    /* a link where the new file goes: removed, the file made, the target untouched */
    assert_int_equal(symlink(f->secret, p), 0);
    assert_int_equal(ex__scratch_new(&f->leg, EX__SLOT_SCRIPT, p, "mine\n", 5), 0);
    assert_int_equal(lstat(p, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_content(p, "mine\n");
    assert_secret_intact(f);
    /* a file of someone else's with two links: the name is made new, the other link keeps
     * what it had */
    assert_int_equal(gr_file_write_atomic(q, "theirs", 6, 0644), 0);
    free(p);
    p = in_temp(f, "hard.sh");
    assert_int_equal(link(q, p), 0);
    assert_int_equal(ex__scratch_new(&f->leg, EX__SLOT_SCRIPT, p, "new", 3), 0);
    assert_content(p, "new");
    assert_content(q, "theirs");
    free(p);
    free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fresh_then_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_linked_file_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fifo_and_hardlink_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_linked_dir_healed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outside_temp_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slot_owner, setup, teardown),
        cmocka_unit_test_setup_teardown(test_new_with_content, setup, teardown),
        cmocka_unit_test_setup_teardown(test_previous_removed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_linked_spare_not_followed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_planted_name_replaced, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
