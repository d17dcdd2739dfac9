/*
 * sandbox/slot.c and the slot of a job: leases are exclusive (also within
 * one process), the lowest free slot is taken and given back, ids are
 * ghr-slot<N>'s or base + N, a lock dir others can write is refused; a root
 * runner's jobs run as distinct slot uids, a non-root one's as the user.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "../../sandbox/internal.h" /* executor/ has an internal.h too */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char lockdir[64];

static int setup(void **state)
{
    snprintf(lockdir, sizeof(lockdir), "%s", "/tmp/gr-sbslot.XXXXXX");
    assert_non_null(mkdtemp(lockdir));
    (void)state;
    return 0;
}

static int teardown(void **state)
{
    assert_int_equal(sb__rm_rf(lockdir), 0);
    (void)state;
    return 0;
}

/* The ids slot n must get with base 70000. */
static void want_ids(int n, uid_t *uid, gid_t *gid)
{
    char name[32];
    struct passwd *pw;

    snprintf(name, sizeof(name), "ghr-slot%d", n);
    pw = getpwnam(name);
    *uid = pw ? pw->pw_uid : (uid_t)(70000 + n);
    *gid = pw ? pw->pw_gid : (gid_t)(70000 + n);
}

static void test_leases_are_exclusive(void **state)
{
    struct sb_policy p = {.slot_auto = true, .slot_uid = 70000, .slot_lock_dir = lockdir};
    struct sb_slot a, b, c;
    uid_t uid;
    gid_t gid;

    assert_int_equal(sb__slot_lease(&p, &a), 0);
    assert_int_equal(sb__slot_lease(&p, &b), 0);
    assert_int_equal(a.n, 0);
    assert_int_equal(b.n, 1);
    want_ids(0, &uid, &gid);
    assert_int_equal(a.uid, uid);
    assert_int_equal(a.gid, gid);
    want_ids(1, &uid, &gid);
    assert_int_equal(b.uid, uid);
    assert_int_not_equal(a.uid, b.uid);
    sb__slot_release(&a);
    assert_int_equal(sb__slot_lease(&p, &c), 0);
    assert_int_equal(c.n, 0); /* the lowest free one again */
    sb__slot_release(&b);
    sb__slot_release(&c);
    sb__slot_release(&c); /* twice: harmless */
    (void)state;
}

static void test_all_held(void **state)
{
    struct sb_policy p = {.slot_auto = true, .slot_lock_dir = lockdir};
    struct sb_slot s[SB_SLOT_MAX], extra;
    struct sb_job *j = NULL;
    bool said = false;
    uid_t uid;
    gid_t gid;

    for (int i = 0; i < SB_SLOT_MAX; i++)
        assert_int_equal(sb__slot_lease(&p, &s[i]), 0);
    assert_int_equal(sb__slot_lease(&p, &extra), -EBUSY);
    if (geteuid() == 0) {
        /* strict refuses the job; best-effort runs it as root without capabilities, saying so */
        p.strict = true;
        assert_int_equal(sb_job_new("slot-strict", &p, &j), -EBUSY);
        assert_non_null(strstr(sb_last_error(), "all slots are held"));
        p.strict = false;
        assert_int_equal(sb_job_new("slot-best", &p, &j), 0);
        assert_int_equal(sb_job_slot(j, &uid, &gid, NULL), -ENOENT);
        for (const char *const *d = sb_job_degraded(j); *d; d++)
            said = said || strstr(*d, "cannot lease a job slot") != NULL;
        assert_true(said);
        assert_non_null(strstr(sb_job_summary(j), "uid=root-nocaps"));
        sb_job_free(j);
    }
    for (int i = 0; i < SB_SLOT_MAX; i++)
        sb__slot_release(&s[i]);
    (void)state;
}

static void test_open_lock_dir_refused(void **state)
{
    struct sb_policy p = {.slot_auto = true, .slot_lock_dir = lockdir};
    struct sb_slot s;

    assert_int_equal(chmod(lockdir, 0777), 0);
    assert_int_equal(sb__slot_lease(&p, &s), -EPERM);
    assert_int_equal(chmod(lockdir, 0700), 0);
    (void)state;
}

static void test_jobs_get_distinct_slots(void **state)
{
    struct sb_policy p = {.slot_auto = true, .slot_lock_dir = lockdir};
    struct sb_job *a = NULL, *b = NULL;
    uid_t ua = 0, ub = 0;
    gid_t ga = 0, gb = 0;
    bool said = false;

    assert_int_equal(sb_job_new("slot-a", &p, &a), 0);
    assert_int_equal(sb_job_new("slot-b", &p, &b), 0);
    if (geteuid() != 0) {
        assert_int_equal(sb_job_slot(a, &ua, &ga, NULL), -ENOENT);
        for (const char *const *d = sb_job_degraded(a); *d; d++)
            said = said || strstr(*d, "steps run as the invoking user") != NULL;
        assert_true(said);
    } else {
        assert_int_equal(sb_job_slot(a, &ua, &ga, NULL), 0);
        assert_int_equal(sb_job_slot(b, &ub, &gb, NULL), 0);
        assert_int_not_equal(ua, 0);
        assert_int_not_equal(ga, 0);
        assert_int_not_equal(ua, ub);
        assert_non_null(strstr(sb_job_summary(a), "uid=slot:"));
    }
    sb_job_free(a);
    sb_job_free(b);
    (void)state;
}

/* As root, an idmapped project: the slot stays when the kernel can idmap it, else it goes. */
static void test_idmap_or_root(void **state)
{
    char proj[64];
    const char *idmap[] = {proj, NULL};
    struct sb_policy p = {
        .slot_auto = true, .slot_lock_dir = lockdir, .rw_paths = idmap, .idmap_paths = idmap};
    struct sb_job *j = NULL;
    bool idmapped = false, said = false;
    uid_t uid;
    gid_t gid;

    if (geteuid() != 0) {
        skip();
        return;
    }
    snprintf(proj, sizeof(proj), "%s", "/tmp/gr-sbslot-proj.XXXXXX");
    assert_non_null(mkdtemp(proj));
    assert_int_equal(sb_job_new("slot-idmap", &p, &j), 0);
    if (sb_job_slot(j, &uid, &gid, &idmapped) == 0) {
        assert_true(idmapped);
    } else {
        for (const char *const *d = sb_job_degraded(j); *d; d++)
            said = said || strstr(*d, "cannot idmap") != NULL;
        assert_true(said);
    }
    sb_job_free(j);
    assert_int_equal(rmdir(proj), 0);
    (void)state;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_leases_are_exclusive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_all_held, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_lock_dir_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_jobs_get_distinct_slots, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idmap_or_root, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
