/*
 * runner/config.c, credentials.c and jwt.c: URL derivation, the three
 * runner files (round trip, 0600, lenient parsing), the RSA key, the JWT
 * client assertion (verified with OpenSSL), OAEP and AES-CBC.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http.h"
#include "protocol.h"

static EVP_PKEY *shared_key;

static int group_setup(void **state)
{
    return rn_key_generate(&shared_key) == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
    rn_key_free(shared_key);
    return 0;
}

static void api_ok(const char *url, const char *api, const char *scope)
{
    char *a = NULL, *s = NULL;

    assert_int_equal(rn_url_api(url, &a, &s, NULL), 0);
    assert_string_equal(a, api);
    assert_string_equal(s, scope);
    free(a);
    free(s);
}

static void test_url_api(void **state)
{
    struct gr_diag d = {0};
    char *a = NULL;

    api_ok("https://github.com/acme/widgets", "https://api.github.com", "repos/acme/widgets");
    api_ok("https://github.com/acme", "https://api.github.com", "orgs/acme");
    api_ok("https://github.com/enterprises/big", "https://api.github.com", "enterprises/big");
    api_ok("https://octo.ghe.com/acme/", "https://api.octo.ghe.com", "orgs/acme");
    api_ok("https://ghes.example/acme/w", "https://ghes.example/api/v3", "repos/acme/w");
    api_ok("http://127.0.0.1:8123/acme/w", "http://127.0.0.1:8123/api/v3", "repos/acme/w");
    assert_int_equal(rn_url_api("http://github.com/acme", &a, NULL, &d), GR_EUSAGE);
    assert_non_null(strstr(d.msg, "https"));
    assert_int_equal(rn_url_api("ftp://x/acme", &a, NULL, &d), GR_EUSAGE);
    assert_int_equal(rn_url_api("https://github.com/", &a, NULL, &d), GR_EUSAGE);
    assert_int_equal(rn_url_api("https://github.com/a/b/c/d", &a, NULL, &d), GR_EUSAGE);
}

static void test_url_join(void **state)
{
    char *u = rn_url_join("http://h/x/", "acquirejob");
    assert_string_equal(u, "http://h/x/acquirejob");
    free(u);
    u = rn_url_join("http://h/x", "/session");
    assert_string_equal(u, "http://h/x/session");
    free(u);
}

static void test_b64(void **state)
{
    unsigned char *out = NULL;
    size_t len = 0;
    char *s;

    s = rn_b64_encode("\xfb\xff", 2, false);
    assert_string_equal(s, "+/8=");
    free(s);
    s = rn_b64_encode("\xfb\xff", 2, true);
    assert_string_equal(s, "-_8");
    free(s);
    assert_int_equal(rn_b64_decode("-_8", 3, &out, &len), 0);
    assert_int_equal(len, 2);
    assert_memory_equal(out, "\xfb\xff", 2);
    free(out);
    assert_int_equal(rn_b64_decode("aGVsbG8=", 8, &out, &len), 0);
    assert_int_equal(len, 5);
    assert_memory_equal(out, "hello", 5);
    free(out);
    assert_int_equal(rn_b64_decode("a*b=", 4, &out, &len), -EINVAL);
    assert_int_equal(rn_b64_decode("a", 1, &out, &len), -EINVAL);
}

static void test_rsaparams_roundtrip(void **state)
{
    char *text = NULL, *text2 = NULL, *n = NULL, *e = NULL;
    EVP_PKEY *k2 = NULL;
    json_t *j;
    unsigned char *mod = NULL;
    size_t mlen = 0;
    struct gr_diag d = {0};

    assert_int_equal(rn_key_to_rsaparams(shared_key, &text), 0);
    j = json_loads(text, 0, NULL);
    assert_non_null(j);
    assert_int_equal(json_object_size(j), 8);
    assert_non_null(json_object_get(j, "inverseQ"));
    json_decref(j);
    assert_int_equal(rn_key_from_rsaparams(text, strlen(text), &k2, NULL), 0);
    assert_int_equal(EVP_PKEY_eq(shared_key, k2), 1);
    assert_int_equal(rn_key_to_rsaparams(k2, &text2), 0);
    assert_string_equal(text, text2);
    assert_int_equal(rn_key_public(shared_key, &n, &e), 0);
    assert_string_equal(e, "AQAB");
    assert_int_equal(rn_b64_decode(n, strlen(n), &mod, &mlen), 0);
    assert_int_equal(mlen, 256);
    assert_true(mod[0] != 0);
    assert_int_equal(rn_key_from_rsaparams("{\"modulus\":\"AQAB\"}", 18, &k2, &d), GR_EPARSE);
    assert_non_null(strstr(d.msg, "exponent"));
    free(mod);
    free(n);
    free(e);
    free(text);
    free(text2);
    rn_key_free(k2);
}

static json_t *jwt_part(const char *p, size_t len)
{
    unsigned char *raw = NULL;
    size_t rl = 0;
    json_t *j;

    assert_int_equal(rn_b64_decode(p, len, &raw, &rl), 0);
    j = json_loadb((char *)raw, rl, 0, NULL);
    free(raw);
    assert_non_null(j);
    return j;
}

static void check_jwt(bool pss)
{
    char *jwt = NULL;
    const char *d1, *d2;
    json_t *hdr, *cl;
    unsigned char *sig = NULL;
    size_t siglen = 0;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;

    assert_int_equal(
        rn_jwt_assertion(shared_key, pss, "client-1", "http://127.0.0.1/tok", 1000, &jwt), 0);
    d1 = strchr(jwt, '.');
    d2 = strchr(d1 + 1, '.');
    assert_null(strchr(d2 + 1, '.'));
    hdr = jwt_part(jwt, (size_t)(d1 - jwt));
    assert_string_equal(json_string_value(json_object_get(hdr, "alg")), pss ? "PS256" : "RS256");
    assert_string_equal(json_string_value(json_object_get(hdr, "typ")), "JWT");
    cl = jwt_part(d1 + 1, (size_t)(d2 - d1 - 1));
    assert_string_equal(json_string_value(json_object_get(cl, "iss")), "client-1");
    assert_string_equal(json_string_value(json_object_get(cl, "sub")), "client-1");
    assert_string_equal(json_string_value(json_object_get(cl, "aud")), "http://127.0.0.1/tok");
    assert_int_equal(json_integer_value(json_object_get(cl, "nbf")), 1000);
    assert_int_equal(json_integer_value(json_object_get(cl, "exp")), 1300);
    assert_int_equal(strlen(json_string_value(json_object_get(cl, "jti"))), 36);
    assert_int_equal(rn_b64_decode(d2 + 1, strlen(d2 + 1), &sig, &siglen), 0);
    assert_int_equal(EVP_DigestVerifyInit(md, &pctx, EVP_sha256(), NULL, shared_key), 1);
    if (pss) {
        EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
        EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 32);
    }
    assert_int_equal(EVP_DigestVerify(md, sig, siglen, (unsigned char *)jwt, (size_t)(d2 - jwt)),
                     1);
    /* a flipped bit must not verify */
    sig[10] ^= 1;
    EVP_MD_CTX_reset(md);
    EVP_DigestVerifyInit(md, &pctx, EVP_sha256(), NULL, shared_key);
    if (pss)
        EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
    assert_int_not_equal(
        EVP_DigestVerify(md, sig, siglen, (unsigned char *)jwt, (size_t)(d2 - jwt)), 1);
    EVP_MD_CTX_free(md);
    free(sig);
    json_decref(hdr);
    json_decref(cl);
    free(jwt);
}

static void test_jwt_rs256(void **state)
{
    check_jwt(false);
}

static void test_jwt_ps256(void **state)
{
    check_jwt(true);
}

static void test_oaep_and_aes(void **state)
{
    unsigned char aes_key[32], iv[16], *wrapped = NULL, *plain = NULL, ct[64];
    size_t wlen = 0, plen = 0;
    int n1 = 0, n2 = 0;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(shared_key, NULL);
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    const char *msg = "{\"jobId\":\"x\"}";

    for (int i = 0; i < 32; i++)
        aes_key[i] = (unsigned char)i;
    memset(iv, 7, sizeof(iv));
    EVP_PKEY_encrypt_init(ctx);
    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING);
    EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha1());
    EVP_PKEY_encrypt(ctx, NULL, &wlen, aes_key, 32);
    wrapped = malloc(wlen);
    assert_int_equal(EVP_PKEY_encrypt(ctx, wrapped, &wlen, aes_key, 32), 1);
    assert_int_equal(rn_key_oaep_decrypt(shared_key, false, wrapped, wlen, &plain, &plen), 0);
    assert_int_equal(plen, 32);
    assert_memory_equal(plain, aes_key, 32);
    free(plain);
    assert_int_equal(rn_key_oaep_decrypt(shared_key, true, wrapped, wlen, &plain, &plen),
                     GR_EPROTO);

    EVP_EncryptInit_ex(c, EVP_aes_256_cbc(), NULL, aes_key, iv);
    EVP_EncryptUpdate(c, ct, &n1, (const unsigned char *)msg, (int)strlen(msg));
    EVP_EncryptFinal_ex(c, ct + n1, &n2);
    assert_int_equal(rn_aes_cbc_decrypt(aes_key, 32, iv, 16, ct, (size_t)(n1 + n2), &plain, &plen),
                     0);
    assert_int_equal(plen, strlen(msg));
    assert_memory_equal(plain, msg, plen);
    free(plain);
    ct[n1 + n2 - 1] ^= 0x55; /* breaks the padding */
    assert_int_not_equal(
        rn_aes_cbc_decrypt(aes_key, 32, iv, 16, ct, (size_t)(n1 + n2), &plain, &plen), 0);
    assert_int_equal(rn_aes_cbc_decrypt(aes_key, 5, iv, 16, ct, 16, &plain, &plen), -EINVAL);
    free(wrapped);
    EVP_PKEY_CTX_free(ctx);
    EVP_CIPHER_CTX_free(c);
}

static char *mkroot(void)
{
    char tmpl[] = "/tmp/rn_cfg_XXXXXX";
    char *d = mkdtemp(tmpl);

    assert_non_null(d);
    return gr_xstrdup(d);
}

static void assert_mode_0600(const char *root, const char *name)
{
    char *p = gr_path_join(root, name);
    struct stat st;

    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    free(p);
}

static void test_config_roundtrip(void **state)
{
    char *root = mkroot();
    struct rn_settings s = {.agent_id = 42,
                            .agent_name = "build-01",
                            .pool_id = 1,
                            .pool_name = "Default",
                            .server_url = "http://127.0.0.1:1/tenant/",
                            .github_url = "http://127.0.0.1:1/acme/w",
                            .work_folder = "_work",
                            .disable_update = true,
                            .ephemeral = true};
    struct rn_creds c = {.client_id = "cid", .authorization_url = "http://a/t", .require_fips = 0};
    struct rn_settings s2;
    struct rn_creds c2;
    EVP_PKEY *k2 = NULL;

    assert_false(rn_config_exists(root));
    assert_int_equal(rn_config_save(root, &s, &c, shared_key), 0);
    assert_true(rn_config_exists(root));
    assert_mode_0600(root, ".runner");
    assert_mode_0600(root, ".credentials");
    assert_mode_0600(root, ".credentials_rsaparams");
    assert_int_equal(rn_config_load(root, &s2, &c2, &k2, NULL), 0);
    assert_int_equal(s2.agent_id, 42);
    assert_string_equal(s2.agent_name, "build-01");
    assert_string_equal(s2.server_url, s.server_url);
    assert_true(s2.ephemeral);
    assert_true(s2.disable_update);
    assert_false(s2.use_v2_flow);
    assert_string_equal(c2.client_id, "cid");
    assert_false(c2.require_fips);
    assert_int_equal(EVP_PKEY_eq(k2, shared_key), 1);
    rn_settings_release(&s2);
    rn_creds_release(&c2);
    rn_key_free(k2);
    assert_int_equal(rn_config_remove(root), 0);
    assert_false(rn_config_exists(root));
    assert_int_equal(rn_config_remove(root), 0);
    assert_int_equal(rmdir(root), 0);
    free(root);
}

static void test_lenient_parse(void **state)
{
    const char *runner = "\xef\xbb\xbf{\"AgentId\":\"17\",\"AgentName\":\"jit\",\"PoolId\":\"1\","
                         "\"ServerUrl\":\"http://x/\",\"UseV2Flow\":\"True\","
                         "\"ServerUrlV2\":\"http://b/\"}";
    const char *creds = "{\"Scheme\":\"OAuth\",\"Data\":{\"ClientId\":\"c\","
                        "\"AuthorizationUrl\":\"http://a/\"}}";
    struct rn_settings s;
    struct rn_creds c;
    struct gr_diag d = {0};

    assert_int_equal(rn_settings_parse(runner, strlen(runner), &s, NULL), 0);
    assert_int_equal(s.agent_id, 17);
    assert_true(s.use_v2_flow);
    assert_string_equal(s.server_url_v2, "http://b/");
    rn_settings_release(&s);
    assert_int_equal(rn_creds_parse(creds, strlen(creds), &c, NULL), 0);
    assert_true(c.require_fips); /* R's default when the property is absent */
    rn_creds_release(&c);
    assert_int_equal(rn_settings_parse("{}", 2, &s, &d), GR_EPARSE);
    assert_non_null(strstr(d.msg, "agentId"));
    assert_int_equal(rn_creds_parse("{\"scheme\":\"Basic\"}", 18, &c, &d), GR_EPARSE);
    assert_int_equal(rn_settings_parse("[1,", 3, &s, &d), GR_EPARSE);
}

static void test_jit(void **state)
{
    char *root = mkroot(), *params = NULL, *b_runner, *b_creds, *b_params, *inner, *blob;
    const char *runner = "{\"AgentId\":\"5\",\"AgentName\":\"j\",\"ServerUrl\":\"http://x/\"}";
    const char *creds = "{\"scheme\":\"OAuth\",\"data\":{\"clientId\":\"c\","
                        "\"authorizationUrl\":\"http://a/\"}}";
    struct rn_settings s;
    struct rn_creds c;
    EVP_PKEY *k = NULL;
    struct gr_diag d = {0};

    assert_int_equal(rn_key_to_rsaparams(shared_key, &params), 0);
    b_runner = rn_b64_encode(runner, strlen(runner), false);
    b_creds = rn_b64_encode(creds, strlen(creds), false);
    b_params = rn_b64_encode(params, strlen(params), false);
    inner = gr_xasprintf("{\".runner\":\"%s\",\".credentials\":\"%s\","
                         "\".credentials_rsaparams\":\"%s\",\"../evil\":\"AAAA\"}",
                         b_runner, b_creds, b_params);
    blob = rn_b64_encode(inner, strlen(inner), false);
    assert_int_equal(rn_jit_write(root, blob, NULL), 0);
    assert_mode_0600(root, ".runner");
    assert_int_equal(rn_config_load(root, &s, &c, &k, NULL), 0);
    assert_int_equal(s.agent_id, 5);
    rn_settings_release(&s);
    rn_creds_release(&c);
    rn_key_free(k);
    assert_int_equal(rn_jit_write(root, "!!!", &d), GR_EPARSE);
    assert_int_equal(rn_config_remove(root), 0);
    assert_int_equal(rmdir(root), 0);
    free(root);
    free(params);
    free(b_runner);
    free(b_creds);
    free(b_params);
    free(inner);
    free(blob);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_api),       cmocka_unit_test(test_url_join),
        cmocka_unit_test(test_b64),           cmocka_unit_test(test_rsaparams_roundtrip),
        cmocka_unit_test(test_jwt_rs256),     cmocka_unit_test(test_jwt_ps256),
        cmocka_unit_test(test_oaep_and_aes),  cmocka_unit_test(test_config_roundtrip),
        cmocka_unit_test(test_lenient_parse), cmocka_unit_test(test_jit),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
