/*
 * The process environment of a step, as actions/runner's ScriptHandler
 * builds it (workflow-semantics.md section 3.4): the runner's own
 * environment, then the env context, then GITHUB_* and RUNNER_* values that
 * users cannot override, GITHUB_ACTIONS=true, CI=true unless defined, and
 * PATH with the GITHUB_PATH additions in front (last added first).
 */
#include "engine_internal.h"

#include <stdlib.h>
#include <string.h>

static char *env_value_string(const json_t *v)
{
    if (json_is_string(v))
        return gr_xstrdup(json_string_value(v));
    return ex_value_to_string(v);
}

void ex__env_merge(json_t *dst, const json_t *src)
{
    const char *k;
    json_t *v;

    if (!json_is_object(src))
        return;
    json_object_foreach((json_t *)src, k, v)
    {
        char *s = env_value_string(v);
        json_object_set_new(dst, k, json_string(s));
        free(s);
    }
}

void ex__path_add(json_t *list, const char *dir)
{
    size_t i;
    json_t *v;

    if (!dir || !*dir)
        return;
    json_array_foreach(list, i, v)
    {
        if (strcmp(json_string_value(v), dir) == 0) {
            json_array_remove(list, i);
            break;
        }
    }
    json_array_append_new(list, json_string(dir));
}

char *ex__path_value(const json_t *list, const char *base)
{
    struct gr_buf b = GR_BUF_INIT(0);
    size_t n = json_array_size(list);
    int r = 0;

    for (size_t i = n; i-- > 0;) {
        if (b.len)
            r |= gr_buf_addch(&b, ':');
        r |= gr_buf_adds(&b, json_string_value(json_array_get(list, i)));
    }
    if (base && *base) {
        if (b.len)
            r |= gr_buf_addch(&b, ':');
        r |= gr_buf_adds(&b, base);
    }
    (void)r; /* unlimited buffer: appends cannot fail */
    return gr_buf_detach(&b, NULL);
}

static void env_set_from_environ(json_t *obj, char *const *base)
{
    for (size_t i = 0; base && base[i]; i++) {
        const char *eq = strchr(base[i], '=');
        char *k;

        if (!eq || eq == base[i])
            continue;
        k = gr_xstrndup(base[i], (size_t)(eq - base[i]));
        json_object_set_new(obj, k, json_string(eq + 1));
        free(k);
    }
}

char **ex__step_environ(char *const *base, const json_t *env, const json_t *forced,
                        const json_t *path_list)
{
    json_t *all = json_object();
    json_t *path;
    const char *k;
    json_t *v;
    char **out;
    char *pv;
    size_t n = 0;
    bool had_ci;

    env_set_from_environ(all, base);
    ex__env_merge(all, env);
    had_ci = json_object_get(all, "CI") != NULL;
    ex__env_merge(all, forced);
    json_object_set_new(all, "GITHUB_ACTIONS", json_string("true"));
    if (!had_ci)
        json_object_set_new(all, "CI", json_string("true"));
    path = json_object_get(all, "PATH");
    pv = ex__path_value(path_list, path ? json_string_value(path) : "/usr/bin:/bin");
    json_object_set_new(all, "PATH", json_string(pv));
    free(pv);

    out = gr_xcalloc(json_object_size(all) + 1, sizeof(*out));
    json_object_foreach(all, k, v)
    {
        out[n++] = gr_xasprintf("%s=%s", k, json_string_value(v));
    }
    json_decref(all);
    return out;
}

const char *ex__runner_arch(void)
{
#if defined(__x86_64__)
    return "X64";
#elif defined(__aarch64__)
    return "ARM64";
#elif defined(__i386__)
    return "X86";
#elif defined(__arm__)
    return "ARM";
#else
    return "X64";
#endif
}
