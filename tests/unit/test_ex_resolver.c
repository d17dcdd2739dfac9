/*
 * The remote action resolver's download-info source (executor/resolver.c) through a fake
 * ex_action_source: one request for the job's remote actions, one more for a composite
 * action's own; each commit downloaded once into <state dir>/_actions/owner/repo/<sha>;
 * an unknown action fails its step naming what was tried; the order of the sources.
 */
#include "ex.h"

#include <archive.h>
#include <archive_entry.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

struct fake {
    struct ex_action_source src;
    json_t *batches;   /* each request: ["owner/repo@ref", ...] */
    json_t *seen;      /* answered before: answered from memory, as the contract asks */
    json_t *downloads; /* "owner/repo@sha" per download */
    json_t *repos;     /* "owner/repo" -> {"ref": sha}, files: "owner/repo" -> {path: text} */
    json_t *files;
};

static int fake_resolve(void *ctx, struct ex_action_dl *acts, size_t n, struct gr_diag *reterr)
{
    struct fake *f = ctx;
    json_t *batch = json_array();

    (void)reterr;
    for (size_t i = 0; i < n; i++) {
        const char *sha = json_string_value(
            json_object_get(json_object_get(f->repos, acts[i].name_with_owner), acts[i].ref));

        char *key = gr_xasprintf("%s@%s", acts[i].name_with_owner, acts[i].ref);

        if (!json_object_get(f->seen, key))
            json_array_append_new(batch, json_string(key));
        json_object_set_new(f->seen, key, json_true());
        free(key);
        if (sha)
            acts[i].resolved_sha = strdup(sha);
        else
            acts[i].error = strdup("Unable to resolve action, not found");
    }
    if (json_array_size(batch))
        json_array_append(f->batches, batch);
    json_decref(batch);
    return 0;
}

static void tar_add(struct archive *a, const char *name, const char *text)
{
    struct archive_entry *ae = archive_entry_new();

    archive_entry_set_pathname(ae, name);
    archive_entry_set_filetype(ae, text ? AE_IFREG : AE_IFDIR);
    archive_entry_set_perm(ae, text ? 0644 : 0755);
    archive_entry_set_size(ae, text ? (la_int64_t)strlen(text) : 0);
    assert_int_equal(archive_write_header(a, ae), ARCHIVE_OK);
    if (text && *text)
        assert_int_equal(archive_write_data(a, text, strlen(text)), (la_ssize_t)strlen(text));
    archive_entry_free(ae);
}

static int fake_download(void *ctx, const struct ex_action_dl *act, struct gr_buf *ret,
                         struct gr_diag *reterr)
{
    struct fake *f = ctx;
    static char buf[1 << 16];
    struct archive *a = archive_write_new();
    json_t *files = json_object_get(f->files, act->name_with_owner);
    const char *path;
    json_t *text;
    size_t used = 0;
    char *top;

    (void)reterr;
    json_array_append_new(f->downloads,
                          json_sprintf("%s@%s", act->name_with_owner, act->resolved_sha));
    archive_write_set_format_pax_restricted(a);
    archive_write_add_filter_gzip(a);
    assert_int_equal(archive_write_open_memory(a, buf, sizeof(buf), &used), ARCHIVE_OK);
    top = gr_xasprintf("top-%.7s", act->resolved_sha);
    tar_add(a, top, NULL);
    json_object_foreach(files, path, text)
    {
        char *name = gr_xasprintf("%s/%s", top, path);

        tar_add(a, name, json_string_value(text));
        free(name);
    }
    assert_int_equal(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
    free(top);
    return gr_buf_add(ret, buf, used);
}

static const char composite[] = "runs:\n  using: composite\n  steps:\n"
                                "    - shell: bash\n      run: echo %s-ran\n";

static void fake_init(struct fake *f)
{
    char *a_root = gr_xasprintf("runs:\n  using: composite\n  steps:\n"
                                "    - shell: bash\n      run: echo dla-root-ran\n"
                                "    - uses: dlacme/inner@v3\n");
    char *a_sub = gr_xasprintf(composite, "dla-sub");
    char *b = gr_xasprintf(composite, "dlb");
    char *inner = gr_xasprintf(composite, "dlinner");

    *f = (struct fake){
        .src = {.ctx = f, .resolve = fake_resolve, .download = fake_download},
        .batches = json_array(),
        .seen = json_object(),
        .downloads = json_array(),
        .repos = json_pack("{s:{s:s},s:{s:s},s:{s:s}}", "dlacme/a", "v1",
                           "1111111111111111111111111111111111111111", "dlacme/b", "v2",
                           "2222222222222222222222222222222222222222", "dlacme/inner", "v3",
                           "3333333333333333333333333333333333333333"),
        .files = json_pack("{s:{s:s,s:s},s:{s:s},s:{s:s}}", "dlacme/a", "action.yml", a_root,
                           "sub/action.yml", a_sub, "dlacme/b", "action.yml", b, "dlacme/inner",
                           "action.yml", inner),
    };
    free(a_root);
    free(a_sub);
    free(b);
    free(inner);
}

static void fake_release(struct fake *f)
{
    json_decref(f->batches);
    json_decref(f->seen);
    json_decref(f->downloads);
    json_decref(f->repos);
    json_decref(f->files);
}

struct rec {
    struct gr_buf log;
    json_t *steps; /* outcomes */
};

static void rec_log(void *ctx, const void *job, const char *line, size_t len)
{
    struct rec *r = ctx;

    (void)job;
    assert_int_equal(gr_buf_add(&r->log, line, len), 0);
    assert_int_equal(gr_buf_add(&r->log, "\n", 1), 0);
}

static void rec_annotation(void *ctx, const void *job, const struct ex_annotation *a)
{
    rec_log(ctx, job, a->message, strlen(a->message));
}

static void rec_step(void *ctx, const void *job, int step, enum ex_result outcome,
                     enum ex_result conclusion, uint64_t ns)
{
    struct rec *r = ctx;

    (void)job;
    (void)step;
    (void)conclusion;
    (void)ns;
    json_array_append_new(r->steps, json_string(ex_result_name(outcome)));
}

/* Run wf (a workflow text) with the fake source; returns the step outcomes "a,b,c". */
static char *run(const char *wf_text, const char *dir, struct fake *f, const char *sources,
                 const char *action_dir, struct rec *rec)
{
    struct ex_reporter rep = {
        .ctx = rec, .log_line = rec_log, .annotation = rec_annotation, .step_finished = rec_step};
    struct ex_workflow *wf = NULL;
    struct ex_plan *plan = NULL;
    struct gr_diag d = {0};
    struct ex_plan_opts po = {.event_name = "push", .repo_dir = dir};
    struct ex_run_opts ro = {.max_jobs = 1,
                             .workdir = dir,
                             .action_source = &f->src,
                             .action_sources = sources,
                             .action_dir = action_dir};
    struct gr_buf out = GR_BUF_INIT(0);
    uv_loop_t loop;
    json_t *v;
    size_t i;
    bool ok;

    rec->log = GR_BUF_INIT(0);
    rec->steps = json_array();
    assert_int_equal(ex_workflow_parse("wf.yml", wf_text, strlen(wf_text), &wf, NULL, &d), 0);
    assert_int_equal(ex_plan_build(wf, &po, &plan, &d), 0);
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(ex_run_plan(&loop, plan, &ro, &rep, &ok), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
    json_array_foreach(rec->steps, i, v)
    {
        assert_int_equal(gr_buf_addf(&out, "%s%s", i ? "," : "", json_string_value(v)), 0);
    }
    json_decref(rec->steps);
    ex_plan_free(plan);
    ex_workflow_free(wf);
    return gr_buf_detach(&out, NULL);
}

static const char wf1[] = "on: push\njobs:\n  j:\n    runs-on: x\n    steps:\n"
                          "      - uses: dlacme/a@v1\n"
                          "      - uses: dlacme/a/sub@v1\n"
                          "      - uses: dlacme/b@v2\n"
                          "      - uses: dlacme/nope@v9\n"
                          "        continue-on-error: true\n"
                          "      - run: echo last\n";

static void test_download_source(void **state)
{
    char dir[] = "/tmp/ex_resolver_XXXXXX", *steps, *dump, *p;
    struct fake f;
    struct rec rec;

    (void)state;
    assert_non_null(mkdtemp(dir));
    fake_init(&f);
    steps = run(wf1, dir, &f, "download", NULL, &rec);
    assert_string_equal(steps, "success,success,success,failure,success");
    assert_non_null(strstr(rec.log.ptr, "dla-root-ran"));
    assert_non_null(strstr(rec.log.ptr, "dlinner-ran"));
    assert_non_null(strstr(rec.log.ptr, "dla-sub-ran"));
    assert_non_null(strstr(rec.log.ptr, "dlb-ran"));
    assert_non_null(strstr(rec.log.ptr, "action 'dlacme/nope@v9' (ref 'v9') was not found: "
                                        "tried GitHub's action download info (Unable to "
                                        "resolve action, not found)"));
    /* one request for the job (a@v1 once), one for the composite's inner action */
    dump = json_dumps(f.batches, JSON_COMPACT);
    assert_string_equal(dump, "[[\"dlacme/a@v1\",\"dlacme/b@v2\",\"dlacme/nope@v9\"],"
                              "[\"dlacme/inner@v3\"]]");
    free(dump);
    /* each commit downloaded once; the order follows the job's set-up (pre stages of nested
     * actions are collected there), so it is not checked */
    dump = json_dumps(f.downloads, JSON_COMPACT);
    assert_int_equal(json_array_size(f.downloads), 3);
    assert_non_null(strstr(dump, "\"dlacme/a@1111111111111111111111111111111111111111\""));
    assert_non_null(strstr(dump, "\"dlacme/b@2222222222222222222222222222222222222222\""));
    assert_non_null(strstr(dump, "\"dlacme/inner@3333333333333333333333333333333333333333\""));
    free(dump);
    p = gr_xasprintf("%s/.ghrun/_actions/dlacme/a/1111111111111111111111111111111111111111/sub/"
                     "action.yml",
                     dir);
    assert_true(gr_path_exists(p));
    free(p);
    free(steps);
    gr_buf_release(&rec.log);

    /* the same process again: nothing asked, nothing downloaded */
    json_array_clear(f.batches);
    json_array_clear(f.downloads);
    steps = run(wf1, dir, &f, "download", NULL, &rec);
    assert_string_equal(steps, "success,success,success,failure,success");
    assert_int_equal(json_array_size(f.batches), 0);
    assert_int_equal(json_array_size(f.downloads), 0);
    free(steps);
    gr_buf_release(&rec.log);
    fake_release(&f);
    assert_int_equal(gr_rm_rf(dir), 0);
}

static const char wf2[] = "on: push\njobs:\n  j:\n    runs-on: x\n    steps:\n"
                          "      - uses: dlacme/b@v9\n"
                          "      - uses: dlacme/b@v2\n";

static void test_order(void **state)
{
    char dir[] = "/tmp/ex_resolver_XXXXXX", *steps, *adir, *p;
    struct fake f;
    struct rec rec;

    (void)state;
    assert_non_null(mkdtemp(dir));
    fake_init(&f);
    /* dlacme/b@v9 only in the action directory, which comes after the download */
    adir = gr_path_join(dir, "adir");
    p = gr_xasprintf("%s/dlacme/b/v9", adir);
    assert_int_equal(gr_mkdir_p(p, 0755), 0);
    free(p);
    p = gr_xasprintf("%s/dlacme/b/v9/action.yml", adir);
    assert_int_equal(gr_file_write_atomic(p,
                                          "runs:\n  using: composite\n  steps:\n"
                                          "    - shell: bash\n      run: echo from-dir\n",
                                          strlen("runs:\n  using: composite\n  steps:\n"
                                                 "    - shell: bash\n      run: echo from-dir\n"),
                                          0644),
                     0);
    free(p);
    steps = run(wf2, dir, &f, "download,dir", adir, &rec);
    assert_string_equal(steps, "success,success");
    assert_non_null(strstr(rec.log.ptr, "from-dir"));
    free(steps);
    gr_buf_release(&rec.log);

    /* an unknown name fails the step and says so */
    steps = run("on: push\njobs:\n  j:\n    runs-on: x\n    steps:\n"
                "      - uses: dlacme/c@v1\n",
                dir, &f, "dir,ftp", adir, &rec);
    assert_string_equal(steps, "failure");
    assert_non_null(strstr(rec.log.ptr, "unknown action source 'ftp' (known: dir, download, "
                                        "clone)"));
    free(steps);
    gr_buf_release(&rec.log);
    free(adir);
    fake_release(&f);
    assert_int_equal(gr_rm_rf(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_download_source),
        cmocka_unit_test(test_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
