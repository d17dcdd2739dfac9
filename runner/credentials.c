/*
 * The runner's RSA key (R Runner.Listener/Configuration/RSAFileKeyManager.cs,
 * IRSAKeyManager.cs RSAParametersSerializable) and message decryption
 * (R MessageListener.cs, DecryptMessage).
 *
 * .credentials_rsaparams holds the .NET RSAParameters as base64 of unsigned
 * big-endian integers: modulus, exponent, d, p, q, dp, dq, inverseQ.
 */
#include "protocol.h"
#include "http.h"

#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <stdlib.h>
#include <string.h>

#define RN_KEY_BITS 2048

struct field {
    const char *json;  /* key in .credentials_rsaparams */
    const char *param; /* OpenSSL parameter name */
};

static const struct field fields[] = {
    {"modulus", OSSL_PKEY_PARAM_RSA_N},    {"exponent", OSSL_PKEY_PARAM_RSA_E},
    {"d", OSSL_PKEY_PARAM_RSA_D},          {"p", OSSL_PKEY_PARAM_RSA_FACTOR1},
    {"q", OSSL_PKEY_PARAM_RSA_FACTOR2},    {"dp", OSSL_PKEY_PARAM_RSA_EXPONENT1},
    {"dq", OSSL_PKEY_PARAM_RSA_EXPONENT2}, {"inverseQ", OSSL_PKEY_PARAM_RSA_COEFFICIENT1},
};

int rn_key_generate(struct evp_pkey_st **ret)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)RN_KEY_BITS);

    if (!k)
        return GR_EPROTO;
    *ret = k;
    return 0;
}

void rn_key_free(struct evp_pkey_st *key)
{
    EVP_PKEY_free(key);
}

/* base64 of a BIGNUM's unsigned big-endian bytes (no leading zeros). */
static char *bn_b64(const BIGNUM *bn)
{
    int n = BN_num_bytes(bn);
    unsigned char *buf = gr_xmalloc((size_t)n + 1);
    char *s;

    BN_bn2bin(bn, buf);
    s = rn_b64_encode(buf, (size_t)n, false);
    OPENSSL_cleanse(buf, (size_t)n);
    free(buf);
    return s;
}

static int get_b64(EVP_PKEY *key, const char *param, char **ret)
{
    BIGNUM *bn = NULL;

    if (EVP_PKEY_get_bn_param(key, param, &bn) != 1)
        return GR_EPROTO;
    *ret = bn_b64(bn);
    BN_clear_free(bn);
    return 0;
}

int rn_key_to_rsaparams(struct evp_pkey_st *key, char **ret)
{
    json_t *o = json_object();
    int r = 0;

    for (size_t i = 0; i < GR_ARRAY_SIZE(fields) && r == 0; i++) {
        char *v = NULL;
        r = get_b64(key, fields[i].param, &v);
        if (r == 0)
            json_object_set_new(o, fields[i].json, json_string(v));
        free(v);
    }
    if (r == 0)
        *ret = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(o);
    return r;
}

int rn_key_public(struct evp_pkey_st *key, char **ret_modulus, char **ret_exponent)
{
    char *n = NULL, *e = NULL;
    int r;

    r = get_b64(key, OSSL_PKEY_PARAM_RSA_N, &n);
    if (r == 0)
        r = get_b64(key, OSSL_PKEY_PARAM_RSA_E, &e);
    if (r < 0) {
        free(n);
        return r;
    }
    *ret_modulus = n;
    *ret_exponent = e;
    return 0;
}

static int push_bn(OSSL_PARAM_BLD *bld, const json_t *o, const struct field *f, BIGNUM **slot,
                   struct gr_diag *reterr)
{
    const char *s = rn_json_str(o, f->json);
    unsigned char *bin = NULL;
    size_t len = 0;

    if (!s || rn_b64_decode(s, strlen(s), &bin, &len) < 0 || len == 0) {
        free(bin);
        return gr_diag_set(reterr, GR_EPARSE, NULL, 0, 0, "rsaparams: missing or bad '%s'",
                           f->json);
    }
    *slot = BN_bin2bn(bin, (int)len, NULL);
    OPENSSL_cleanse(bin, len);
    free(bin);
    if (!*slot || OSSL_PARAM_BLD_push_BN(bld, f->param, *slot) != 1)
        return GR_EPROTO;
    return 0;
}

int rn_key_from_rsaparams(const char *text, size_t len, struct evp_pkey_st **ret,
                          struct gr_diag *reterr)
{
    json_t *o = rn_json_parse(text, len, reterr);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *key = NULL;
    BIGNUM *bns[GR_ARRAY_SIZE(fields)] = {0};
    int r = GR_EPARSE;

    if (!o || !bld)
        goto out;
    for (size_t i = 0; i < GR_ARRAY_SIZE(fields); i++) {
        r = push_bn(bld, o, &fields[i], &bns[i], reterr);
        if (r < 0)
            goto out;
    }
    r = GR_EPROTO;
    params = OSSL_PARAM_BLD_to_param(bld);
    ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_KEYPAIR, params) != 1) {
        gr_diag_set(reterr, r, NULL, 0, 0, "rsaparams: not a valid RSA key");
        goto out;
    }
    *ret = key;
    r = 0;
out:
    for (size_t i = 0; i < GR_ARRAY_SIZE(bns); i++)
        BN_clear_free(bns[i]);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    json_decref(o);
    return r;
}

int rn_key_oaep_decrypt(struct evp_pkey_st *key, bool sha256, const unsigned char *in, size_t len,
                        unsigned char **ret, size_t *ret_len)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(key, NULL);
    const EVP_MD *md = sha256 ? EVP_sha256() : EVP_sha1();
    unsigned char *out = NULL;
    size_t outlen = 0;
    int r = GR_EPROTO;

    if (!ctx || EVP_PKEY_decrypt_init(ctx) != 1 ||
        EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) != 1 ||
        EVP_PKEY_CTX_set_rsa_oaep_md(ctx, md) != 1 || EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) != 1)
        goto out;
    if (EVP_PKEY_decrypt(ctx, NULL, &outlen, in, len) != 1)
        goto out;
    out = gr_xmalloc(outlen);
    if (EVP_PKEY_decrypt(ctx, out, &outlen, in, len) != 1)
        goto out;
    *ret = out;
    *ret_len = outlen;
    out = NULL;
    r = 0;
out:
    free(out);
    EVP_PKEY_CTX_free(ctx);
    return r;
}

int rn_aes_cbc_decrypt(const unsigned char *key, size_t keylen, const unsigned char *iv,
                       size_t ivlen, const unsigned char *in, size_t len, unsigned char **ret,
                       size_t *ret_len)
{
    const EVP_CIPHER *c = keylen == 32   ? EVP_aes_256_cbc()
                          : keylen == 24 ? EVP_aes_192_cbc()
                          : keylen == 16 ? EVP_aes_128_cbc()
                                         : NULL;
    EVP_CIPHER_CTX *ctx = NULL;
    unsigned char *out = NULL;
    int n1 = 0, n2 = 0, r = -EINVAL;

    if (!c || ivlen != 16 || len > INT32_MAX)
        return r;
    ctx = EVP_CIPHER_CTX_new();
    out = gr_xmalloc(len + 16);
    r = GR_EPROTO;
    if (!ctx || EVP_DecryptInit_ex(ctx, c, NULL, key, iv) != 1 ||
        EVP_DecryptUpdate(ctx, out, &n1, in, (int)len) != 1 ||
        EVP_DecryptFinal_ex(ctx, out + n1, &n2) != 1)
        goto out;
    *ret = out;
    *ret_len = (size_t)(n1 + n2);
    out = NULL;
    r = 0;
out:
    free(out);
    EVP_CIPHER_CTX_free(ctx);
    return r;
}
