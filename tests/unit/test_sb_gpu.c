/*
 * GPU slots against a fake host: device nodes in a temp dir, the driver's
 * procfs entries for some GPUs and a fake nvidia-smi for the rest; leases
 * are exclusive and come back on release; env and masks name the right GPUs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../sandbox/internal.h" /* executor/ has an internal.h too */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char top[128];

static void put(const char *rel, const char *text, mode_t mode)
{
    char p[512];
    int fd;

    snprintf(p, sizeof(p), "%s/%s", top, rel);
    fd = open(p, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, mode);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static void mk(const char *rel)
{
    char p[512];

    snprintf(p, sizeof(p), "%s/%s", top, rel);
    assert_int_equal(mkdir(p, 0755), 0);
}

static int setup(void **state)
{
    snprintf(top, sizeof(top), "/tmp/gr-sb-gpu-%ld", (long)getpid());
    if (mkdir(top, 0755) < 0)
        return -1;
    (void)state;
    return 0;
}

static int teardown(void **state)
{
    (void)sb__rm_rf(top);
    (void)state;
    return 0;
}

static void fake_host(void)
{
    mk("dev");
    mk("proc");
    mk("proc/00000000:17:00.0");
    mk("proc/00000000:31:00.0");
    mk("locks");
    for (int i = 0; i < 4; i++) {
        char name[32];

        snprintf(name, sizeof(name), "dev/nvidia%d", i);
        put(name, "", 0644);
    }
    put("dev/nvidiactl", "", 0644);
    put("dev/nvidia-uvm", "", 0644);
    put("proc/00000000:17:00.0/information",
        "Model: \t\t NVIDIA H100\nIRQ:   \t\t 42\nGPU UUID: \t GPU-aaaa-0000\n"
        "Device Minor: \t 0\n",
        0644);
    put("proc/00000000:31:00.0/information",
        "Model: \t\t NVIDIA H100\nGPU UUID: \t GPU-bbbb-1111\nDevice Minor: \t 1\n", 0644);
    put("nvidia-smi",
        "#!/bin/sh\n"
        "[ \"$1\" = --query-gpu=index,uuid,pci.bus_id ] || exit 3\n"
        "echo '0, GPU-wrong-0000, 00000000:17:00.0'\n"
        "echo '2, GPU-cccc-2222, 00000000:4B:00.0'\n"
        "echo '3, GPU-dddd-3333, 00000000:CA:00.0'\n",
        0755);
}

static struct sb_gpu_inv discover(void)
{
    char dev[256], proc[256], smi[256];
    struct sb_gpu_inv inv;

    snprintf(dev, sizeof(dev), "%s/dev", top);
    snprintf(proc, sizeof(proc), "%s/proc", top);
    snprintf(smi, sizeof(smi), "%s/nvidia-smi", top);
    assert_int_equal(
        sb_gpu_discover(&(struct sb_gpu_env){.dev_dir = dev, .proc_dir = proc, .nvidia_smi = smi},
                        &inv),
        0);
    return inv;
}

static void test_discover(void **state)
{
    struct sb_gpu_inv inv;

    fake_host();
    inv = discover();
    assert_int_equal(inv.n, 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(inv.gpu[i].minor, i);
    assert_string_equal(inv.gpu[0].uuid, "GPU-aaaa-0000"); /* procfs wins over nvidia-smi */
    assert_string_equal(inv.gpu[0].bus_id, "00000000:17:00.0");
    assert_string_equal(inv.gpu[1].uuid, "GPU-bbbb-1111");
    assert_string_equal(inv.gpu[2].uuid, "GPU-cccc-2222");
    assert_string_equal(inv.gpu[3].bus_id, "00000000:CA:00.0");
    (void)state;
}

static void test_no_gpus(void **state)
{
    char dev[256];
    struct sb_gpu_inv inv;

    mk("empty");
    snprintf(dev, sizeof(dev), "%s/empty", top);
    assert_int_equal(sb_gpu_discover(&(struct sb_gpu_env){.dev_dir = dev, .nvidia_smi = ""}, &inv),
                     0);
    assert_int_equal(inv.n, 0);
    (void)state;
}

static void test_exclusive_leases(void **state)
{
    struct sb_gpu_lease a, b, c;
    struct sb_gpu_inv inv;
    char locks[256], env[1024];
    char **masks = NULL;

    fake_host();
    inv = discover();
    snprintf(locks, sizeof(locks), "%s/locks", top);
    assert_int_equal(sb_gpu_lease(&inv, 2, locks, &a), 0);
    assert_int_equal(a.n, 2);
    assert_int_equal(inv.gpu[a.idx[0]].minor, 0);
    assert_int_equal(inv.gpu[a.idx[1]].minor, 1);
    assert_int_equal(sb_gpu_lease(&inv, 3, locks, &b), -EBUSY); /* only two left */
    assert_int_equal(sb_gpu_lease(&inv, 5, locks, &b), -EBUSY);
    assert_int_equal(sb_gpu_lease(&inv, 2, locks, &b), 0);
    assert_int_equal(inv.gpu[b.idx[0]].minor, 2);
    assert_int_equal(inv.gpu[b.idx[1]].minor, 3);

    assert_int_equal(sb_gpu_env_text(&inv, &b, env, sizeof(env)), 0);
    assert_string_equal(env, "CUDA_VISIBLE_DEVICES=GPU-cccc-2222,GPU-dddd-3333\n"
                             "NVIDIA_VISIBLE_DEVICES=GPU-cccc-2222,GPU-dddd-3333\n"
                             "CUDA_DEVICE_ORDER=PCI_BUS_ID\n");
    assert_int_equal(sb_gpu_env_text(&inv, &b, env, 20), -E2BIG);
    assert_int_equal(sb_gpu_mask_paths(&inv, &b, "/dev", &masks), 0);
    assert_string_equal(masks[0], "/dev/nvidia0");
    assert_string_equal(masks[1], "/dev/nvidia1");
    assert_null(masks[2]);
    sb_argv_free(masks);

    sb_gpu_release(&a);
    assert_int_equal(sb_gpu_lease(&inv, 1, locks, &c), 0);
    assert_int_equal(inv.gpu[c.idx[0]].minor, 0);
    sb_gpu_release(&b);
    sb_gpu_release(&c);
    sb_gpu_release(&c); /* twice is harmless */
    (void)state;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_discover, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_gpus, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exclusive_leases, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
