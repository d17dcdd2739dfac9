/*
 * Which `uses:` run natively instead of through their JavaScript action. Matching is on
 * "owner/repo[/path]@" (case-insensitive owner and repo, as GitHub resolves them), any ref.
 * `--no-native` (ex_run_opts.no_native) bypasses the table; a no-native list
 * (ex_run_opts.no_native_list, ex/native.h) bypasses it for the actions it names.
 */
#include "action_internal.h"
#include "ex/native.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

ex__native_fn ex__upload_artifact_run, ex__download_artifact_run; /* steps/artifact_actions.c */

static const struct {
    const char *action; /* owner/repo[/path], matched up to the '@' */
    ex__native_fn *fn;
} natives[] = {
    {"actions/checkout", ex__checkout_run},
    {"actions/cache", ex__cache_run},
    {"actions/cache/restore", ex__cache_restore_run},
    {"actions/cache/save", ex__cache_save_run},
    {"actions/upload-artifact", ex__upload_artifact_run},
    {"actions/download-artifact", ex__download_artifact_run},
};

ex__native_fn *ex__native_lookup(const char *uses)
{
    const char *at = uses ? strchr(uses, '@') : NULL;

    if (!at)
        return NULL;
    for (size_t i = 0; i < GR_ARRAY_SIZE(natives); i++) {
        size_t n = strlen(natives[i].action);

        if ((size_t)(at - uses) == n && strncasecmp(uses, natives[i].action, n) == 0)
            return natives[i].fn;
    }
    return NULL;
}

/* uses' "owner/repo[/path]" length, or 0 when uses has no '@'. */
static size_t action_len(const char *uses)
{
    const char *at = uses ? strchr(uses, '@') : NULL;

    return at ? (size_t)(at - uses) : 0;
}

/* Whether entry e[0..n) names the action a[0..alen) or one of its parents (a sub-action). */
static bool entry_covers(const char *e, size_t n, const char *a, size_t alen)
{
    if ((n == 1 && e[0] == '*') || (n == 3 && strncasecmp(e, "all", 3) == 0))
        return true;
    return n <= alen && strncasecmp(e, a, n) == 0 && (n == alen || a[n] == '/');
}

/* Calls fn on each trimmed, non-empty entry of list until it returns true. */
static bool list_any(const char *list, bool (*fn)(const char *e, size_t n, const void *arg),
                     const void *arg)
{
    for (const char *s = list; s && *s;) {
        size_t len = strcspn(s, ","), b = 0, e = len;

        while (b < e && strchr(" \t\r\n", s[b]))
            b++;
        while (e > b && strchr(" \t\r\n", s[e - 1]))
            e--;
        if (e > b && fn(s + b, e - b, arg))
            return true;
        s += len + (s[len] == ',');
    }
    return false;
}

static bool covers_uses(const char *e, size_t n, const void *arg)
{
    const char *uses = arg;

    return entry_covers(e, n, uses, action_len(uses));
}

bool ex_native_list_has(const char *list, const char *uses)
{
    return action_len(uses) > 0 && list_any(list, covers_uses, uses);
}

bool ex_native_exists(const char *uses)
{
    return ex__native_lookup(uses) != NULL;
}

/* Whether entry e names no native action (so it is a mistake); *ret_bad holds a copy. */
static bool unknown_entry(const char *e, size_t n, const void *arg)
{
    char **ret_bad = (char **)arg;

    for (size_t i = 0; i < GR_ARRAY_SIZE(natives); i++)
        if (entry_covers(e, n, natives[i].action, strlen(natives[i].action)))
            return false;
    *ret_bad = gr_xstrndup(e, n);
    return true;
}

int ex_native_list_check(const char *list, struct gr_diag *reterr)
{
    char *bad = NULL;
    int r = 0;

    if (list_any(list, unknown_entry, &bad))
        r = gr_diag_set(reterr, -EINVAL, NULL, 0, 0,
                        "'%s' is not a native action (native: actions/checkout, actions/cache, "
                        "actions/cache/restore, actions/cache/save, actions/upload-artifact, "
                        "actions/download-artifact; or all)",
                        bad);
    free(bad);
    return r;
}

ex__native_fn *ex__native_for(const struct ex_run_opts *o, const char *uses)
{
    if (o->no_native || ex_native_list_has(o->no_native_list, uses))
        return NULL;
    return ex__native_lookup(uses);
}

void ex__native_post_add(struct ex__stepexec *se, ex__native_post_fn *fn, const char *post_if,
                         json_t *data)
{
    struct ex__actleg *al = ex__actleg_get(se->leg);

    GR_GROW(al->posts, al->cap_posts, al->n_posts + 1);
    al->posts[al->n_posts++] = (struct ex__post){
        .step = se->step,
        .state = data,
        .name = gr_xstrdup(se->name ? se->name : se->ctx_name),
        .native = fn,
        .post_if = post_if,
        .env = ex__post_env(se),
    };
}

/* The evaluated `with:` as an object of trimmed strings (core.getInput trims). */
int ex__native_with(struct ex__stepexec *se, json_t **ret, struct gr_diag *d)
{
    struct ex_eval_env ev;
    json_t *with = NULL, *out = json_object(), *v;
    const char *k;

    if (se->step->with) {
        ex__leg_eval_env(se->leg, &ev);
        if (ex_node_eval(se->step->with, &ev, &with, d) < 0) {
            json_decref(out);
            return -1;
        }
    }
    json_object_foreach(with, k, v)
    {
        char *s = json_is_string(v) ? gr_xstrdup(json_string_value(v))
                  : json_is_null(v) ? gr_xstrdup("")
                                    : ex_value_to_string(v);
        size_t n = strlen(s), b = 0;

        while (n > 0 && strchr(" \t\r\n", s[n - 1]))
            s[--n] = '\0';
        while (s[b] && strchr(" \t\r\n", s[b]))
            b++;
        json_object_set_new(out, k, json_string(s + b));
        free(s);
    }
    json_decref(with);
    *ret = out;
    return 0;
}

const char *ex__native_input(const json_t *with, const char *name)
{
    const char *k;
    json_t *v;

    json_object_foreach((json_t *)with, k, v)
    {
        if (strcasecmp(k, name) == 0 && json_is_string(v))
            return json_string_value(v);
    }
    return "";
}

bool ex__native_input_bool(const json_t *with, const char *name)
{
    return strcasecmp(ex__native_input(with, name), "true") == 0;
}
