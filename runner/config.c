/*
 * The runner root: .runner, .credentials, .credentials_rsaparams, written as
 * the official runner names them (R Runner.Common/ConfigurationStore.cs,
 * CredentialData.cs), each 0600 and atomically. Reading is lenient: a UTF-8
 * BOM, PascalCase keys and string-typed values ("17", "True") are accepted,
 * because .NET-written files and JIT blobs look like that.
 */
#include "protocol.h"
#include "http.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define RN_CONFIG_MAX (1u << 20)

static const char *const config_files[] = {".runner", ".credentials", ".credentials_rsaparams"};

void rn_settings_release(struct rn_settings *s)
{
    free(s->agent_name);
    free(s->pool_name);
    free(s->server_url);
    free(s->github_url);
    free(s->work_folder);
    free(s->server_url_v2);
    memset(s, 0, sizeof(*s));
}

void rn_creds_release(struct rn_creds *c)
{
    free(c->client_id);
    free(c->authorization_url);
    memset(c, 0, sizeof(*c));
}

static char *dup_or_null(const char *s)
{
    return s ? gr_xstrdup(s) : NULL;
}

bool rn_config_exists(const char *root)
{
    bool found = false;

    for (size_t i = 0; i < 2 && !found; i++) {
        char *p = gr_path_join(root, config_files[i]);
        found = gr_path_exists(p);
        free(p);
    }
    return found;
}

int rn_settings_parse(const char *text, size_t len, struct rn_settings *ret, struct gr_diag *reterr)
{
    json_t *o = rn_json_parse(text, len, reterr);
    struct rn_settings s = {0};

    if (!json_is_object(o)) {
        json_decref(o);
        return gr_diag_set(reterr, GR_EPARSE, ".runner", 0, 0, "not a JSON object");
    }
    s.agent_id = rn_json_int(o, "agentId", 0);
    s.agent_name = dup_or_null(rn_json_str(o, "agentName"));
    s.pool_id = rn_json_int(o, "poolId", 0);
    s.pool_name = dup_or_null(rn_json_str(o, "poolName"));
    s.server_url = dup_or_null(rn_json_str(o, "serverUrl"));
    s.github_url = dup_or_null(rn_json_str(o, "gitHubUrl"));
    s.work_folder = dup_or_null(rn_json_str(o, "workFolder"));
    s.server_url_v2 = dup_or_null(rn_json_str(o, "serverUrlV2"));
    s.disable_update = rn_json_bool(o, "disableUpdate", false);
    s.ephemeral = rn_json_bool(o, "ephemeral", false);
    s.use_v2_flow = rn_json_bool(o, "useV2Flow", false);
    s.use_runner_admin_flow = rn_json_bool(o, "useRunnerAdminFlow", false);
    json_decref(o);
    if (!s.agent_id || !s.agent_name || (!s.server_url && !s.server_url_v2)) {
        rn_settings_release(&s);
        return gr_diag_set(reterr, GR_EPARSE, ".runner", 0, 0,
                           "missing agentId, agentName or serverUrl");
    }
    *ret = s;
    return 0;
}

int rn_creds_parse(const char *text, size_t len, struct rn_creds *ret, struct gr_diag *reterr)
{
    json_t *o = rn_json_parse(text, len, reterr);
    json_t *data = rn_json_iget(o, "data");
    const char *scheme = rn_json_str(o, "scheme");
    struct rn_creds c = {0};
    int r = 0;

    if (!scheme || strcasecmp(scheme, "OAuth") || !json_is_object(data)) {
        r = gr_diag_set(reterr, GR_EPARSE, ".credentials", 0, 0, "expected scheme OAuth with data");
        goto out;
    }
    c.client_id = dup_or_null(rn_json_str(data, "clientId"));
    c.authorization_url = dup_or_null(rn_json_str(data, "authorizationUrl"));
    c.require_fips = rn_json_bool(data, "requireFipsCryptography", true);
    if (!c.client_id || !c.authorization_url) {
        rn_creds_release(&c);
        r = gr_diag_set(reterr, GR_EPARSE, ".credentials", 0, 0,
                        "missing clientId or authorizationUrl");
        goto out;
    }
    *ret = c;
out:
    json_decref(o);
    return r;
}

static int read_root_file(const char *root, const char *name, char **ret, size_t *ret_len,
                          struct gr_diag *reterr)
{
    char *p = gr_path_join(root, name);
    int r = gr_file_read(p, RN_CONFIG_MAX, ret, ret_len);

    if (r < 0)
        gr_diag_set(reterr, r, NULL, 0, 0, "cannot read '%s': %s", p, gr_strerror(r));
    free(p);
    return r;
}

int rn_config_load(const char *root, struct rn_settings *ret_s, struct rn_creds *ret_c,
                   struct evp_pkey_st **ret_key, struct gr_diag *reterr)
{
    char *t1 = NULL, *t2 = NULL, *t3 = NULL;
    size_t l1, l2, l3;
    struct rn_settings s = {0};
    struct rn_creds c = {0};
    struct evp_pkey_st *key = NULL;
    int r;

    r = read_root_file(root, ".runner", &t1, &l1, reterr);
    if (r == 0)
        r = rn_settings_parse(t1, l1, &s, reterr);
    if (r == 0)
        r = read_root_file(root, ".credentials", &t2, &l2, reterr);
    if (r == 0)
        r = rn_creds_parse(t2, l2, &c, reterr);
    if (r == 0 && ret_key)
        r = read_root_file(root, ".credentials_rsaparams", &t3, &l3, reterr);
    if (r == 0 && ret_key)
        r = rn_key_from_rsaparams(t3, l3, &key, reterr);
    if (t3)
        memset(t3, 0, l3);
    free(t1);
    free(t2);
    free(t3);
    if (r < 0) {
        rn_settings_release(&s);
        rn_creds_release(&c);
        return r;
    }
    *ret_s = s;
    *ret_c = c;
    if (ret_key)
        *ret_key = key;
    return 0;
}

static void set_str(json_t *o, const char *k, const char *v)
{
    if (v)
        json_object_set_new(o, k, json_string(v));
}

static char *settings_json(const struct rn_settings *s)
{
    json_t *o = json_object();
    char *text;

    json_object_set_new(o, "agentId", json_integer(s->agent_id));
    set_str(o, "agentName", s->agent_name);
    json_object_set_new(o, "poolId", json_integer(s->pool_id));
    set_str(o, "poolName", s->pool_name);
    set_str(o, "serverUrl", s->server_url);
    set_str(o, "gitHubUrl", s->github_url);
    set_str(o, "workFolder", s->work_folder);
    if (s->disable_update)
        json_object_set_new(o, "disableUpdate", json_true());
    if (s->ephemeral)
        json_object_set_new(o, "ephemeral", json_true());
    if (s->use_v2_flow)
        json_object_set_new(o, "useV2Flow", json_true());
    if (s->use_runner_admin_flow)
        json_object_set_new(o, "useRunnerAdminFlow", json_true());
    set_str(o, "serverUrlV2", s->server_url_v2);
    text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(o);
    return text;
}

static char *creds_json(const struct rn_creds *c)
{
    json_t *o = json_pack("{s:s,s:{s:s,s:s,s:s}}", "scheme", "OAuth", "data", "clientId",
                          c->client_id, "authorizationUrl", c->authorization_url,
                          "requireFipsCryptography", c->require_fips ? "True" : "False");
    char *text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

    json_decref(o);
    return text;
}

static int write_root_file(const char *root, const char *name, const char *text)
{
    char *p = gr_path_join(root, name);
    int r = gr_file_write_atomic(p, text, strlen(text), 0600);

    free(p);
    return r;
}

int rn_config_save(const char *root, const struct rn_settings *s, const struct rn_creds *c,
                   struct evp_pkey_st *key)
{
    char *t1 = settings_json(s), *t2 = creds_json(c), *t3 = NULL;
    int r;

    r = rn_key_to_rsaparams(key, &t3);
    /* Key first: a .runner without its key would look configured but be unusable. */
    if (r == 0)
        r = write_root_file(root, ".credentials_rsaparams", t3);
    if (r == 0)
        r = write_root_file(root, ".credentials", t2);
    if (r == 0)
        r = write_root_file(root, ".runner", t1);
    if (t3)
        memset(t3, 0, strlen(t3));
    free(t1);
    free(t2);
    free(t3);
    return r;
}

int rn_config_remove(const char *root)
{
    int r = 0;

    for (size_t i = 0; i < GR_ARRAY_SIZE(config_files); i++) {
        char *p = gr_path_join(root, config_files[i]);
        if (unlink(p) < 0 && errno != ENOENT && r == 0)
            r = -errno;
        free(p);
    }
    return r;
}

/* A JIT file's value is base64 of the file; write it 0600 under its own name. */
static int jit_write_one(const char *root, const char *name, const char *b64,
                         struct gr_diag *reterr)
{
    unsigned char *data = NULL;
    size_t len = 0;
    char *p;
    int r;

    for (size_t i = 0; i < GR_ARRAY_SIZE(config_files); i++) {
        if (!strcmp(name, config_files[i]))
            goto known;
    }
    return 0; /* other files in the blob are not ours to write */
known:
    if (rn_b64_decode(b64, strlen(b64), &data, &len) < 0)
        return gr_diag_set(reterr, GR_EPARSE, NULL, 0, 0, "jitconfig: '%s' is not base64", name);
    p = gr_path_join(root, name);
    r = gr_file_write_atomic(p, data, len, 0600);
    if (r < 0)
        gr_diag_set(reterr, r, NULL, 0, 0, "cannot write '%s': %s", p, gr_strerror(r));
    memset(data, 0, len);
    free(data);
    free(p);
    return r;
}

int rn_jit_write(const char *root, const char *blob, struct gr_diag *reterr)
{
    unsigned char *raw = NULL;
    size_t len = 0;
    json_t *o = NULL, *v;
    const char *k;
    int r;

    if (rn_b64_decode(blob, strlen(blob), &raw, &len) < 0)
        return gr_diag_set(reterr, GR_EPARSE, NULL, 0, 0, "jitconfig: not base64");
    o = rn_json_parse((const char *)raw, len, reterr);
    r = json_is_object(o)
            ? 0
            : gr_diag_set(reterr, GR_EPARSE, NULL, 0, 0, "jitconfig: not a JSON object");
    json_object_foreach(o, k, v)
    {
        if (r == 0 && json_is_string(v))
            r = jit_write_one(root, k, json_string_value(v), reterr);
    }
    memset(raw, 0, len);
    free(raw);
    json_decref(o);
    return r;
}

/* ---- URLs ---- */

static bool host_is_hosted(const char *host, size_t len)
{
    static const char *const exact[] = {"github.com", "www.github.com", "github.localhost"};
    static const char *const suffix[] = {".ghe.com", ".ghe.localhost"};
    const char *force = getenv("GITHUB_ACTIONS_RUNNER_FORCE_GHES");

    if (force && !strcmp(force, "1"))
        return false;
    for (size_t i = 0; i < GR_ARRAY_SIZE(exact); i++)
        if (strlen(exact[i]) == len && !strncasecmp(host, exact[i], len))
            return true;
    for (size_t i = 0; i < GR_ARRAY_SIZE(suffix); i++) {
        size_t sl = strlen(suffix[i]);
        if (len > sl && !strncasecmp(host + len - sl, suffix[i], sl))
            return true;
    }
    return false;
}

static char *scope_of(const char *path)
{
    char *p = gr_xstrdup(path), *parts[3] = {0}, *save = NULL, *r;
    int n = 0;

    for (char *t = strtok_r(p, "/", &save); t && n < 3; t = strtok_r(NULL, "/", &save))
        parts[n++] = t;
    if (n == 2 && !strcasecmp(parts[0], "enterprises"))
        r = gr_xasprintf("enterprises/%s", parts[1]);
    else if (n == 2)
        r = gr_xasprintf("repos/%s/%s", parts[0], parts[1]);
    else if (n == 1)
        r = gr_xasprintf("orgs/%s", parts[0]);
    else
        r = NULL;
    free(p);
    return r;
}

int rn_url_api(const char *github_url, char **ret_api, char **ret_scope, struct gr_diag *reterr)
{
    const char *scheme_end = strstr(github_url, "://");
    const char *host, *host_end, *path;
    size_t hlen, slen;
    bool https, hosted;
    char *scope;

    if (!scheme_end)
        return gr_diag_set(reterr, GR_EUSAGE, NULL, 0, 0, "'%s' is not an http(s) URL", github_url);
    slen = (size_t)(scheme_end - github_url);
    https = slen == 5 && !strncasecmp(github_url, "https", 5);
    if (!https && !(slen == 4 && !strncasecmp(github_url, "http", 4)))
        return gr_diag_set(reterr, GR_EUSAGE, NULL, 0, 0, "'%s' is not an http(s) URL", github_url);
    host = scheme_end + 3;
    host_end = host + strcspn(host, "/?#");
    path = host_end;
    hlen = (size_t)(host_end - host);
    if (!hlen || memchr(host, '@', hlen))
        return gr_diag_set(reterr, GR_EUSAGE, NULL, 0, 0, "'%s' has no usable host", github_url);
    hosted = host_is_hosted(host, strcspn(host, ":/?#"));
    if (hosted && !https)
        return gr_diag_set(reterr, GR_EUSAGE, NULL, 0, 0, "'%s' must use https", github_url);
    scope = scope_of(path);
    if (!scope)
        return gr_diag_set(reterr, GR_EUSAGE, NULL, 0, 0,
                           "'%s' must name an organization, repository or enterprise", github_url);
    if (hosted)
        *ret_api = gr_xasprintf("%.*s://api.%.*s", (int)slen, github_url, (int)hlen, host);
    else
        *ret_api = gr_xasprintf("%.*s://%.*s/api/v3", (int)slen, github_url, (int)hlen, host);
    if (ret_scope)
        *ret_scope = scope;
    else
        free(scope);
    return 0;
}

char *rn_url_join(const char *base, const char *rel)
{
    size_t bl = strlen(base);

    while (*rel == '/')
        rel++;
    if (bl && base[bl - 1] == '/')
        return gr_xasprintf("%s%s", base, rel);
    return gr_xasprintf("%s/%s", base, rel);
}
