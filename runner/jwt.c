/*
 * Base64 and the OAuth client assertion.
 *
 * The runner proves its identity with a JWT signed by its private key (R
 * Sdk/WebApi/WebApi/OAuth/VssOAuthJwtBearerAssertion.cs; G
 * protocol/task_agent.go Authorize): header {"typ":"JWT","alg":...}, claims
 * iss = sub = clientId, aud = authorizationUrl, jti, nbf, exp = nbf + 5 min.
 */
#include "protocol.h"

#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RN_JWT_LIFETIME_S 300

static const char b64_std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

char *rn_b64_encode(const void *data, size_t len, bool url)
{
    const unsigned char *p = data;
    const char *tab = url ? b64_url : b64_std;
    char *out = gr_xmalloc(len / 3 * 4 + 5);
    size_t o = 0, i;

    for (i = 0; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        out[o++] = tab[v >> 18];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = tab[(v >> 6) & 63];
        out[o++] = tab[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < len ? (uint32_t)p[i + 1] << 8 : 0);
        out[o++] = tab[v >> 18];
        out[o++] = tab[(v >> 12) & 63];
        if (i + 1 < len)
            out[o++] = tab[(v >> 6) & 63];
        else if (!url)
            out[o++] = '=';
        if (!url)
            out[o++] = '=';
    }
    out[o] = '\0';
    return out;
}

static int b64_val(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

int rn_b64_decode(const char *s, size_t len, unsigned char **ret, size_t *ret_len)
{
    unsigned char *out;
    uint32_t acc = 0;
    size_t o = 0;
    int bits = 0;

    while (len && (s[len - 1] == '=' || s[len - 1] == '\n' || s[len - 1] == '\r'))
        len--;
    out = gr_xmalloc(len / 4 * 3 + 3);
    for (size_t i = 0; i < len; i++) {
        int v = b64_val(s[i]);
        if (v < 0) {
            free(out);
            return -EINVAL;
        }
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    if (bits >= 6) { /* a single leftover character cannot encode a byte */
        free(out);
        return -EINVAL;
    }
    *ret = out;
    *ret_len = o;
    return 0;
}

void rn_guid(char *out)
{
    unsigned char b[16];

    if (RAND_bytes(b, sizeof(b)) != 1)
        abort(); /* no entropy: nothing secure can follow */
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

static char *b64url_json(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    char *r;

    if (!s)
        abort();
    r = rn_b64_encode(s, strlen(s), true);
    free(s);
    return r;
}

static int sign(EVP_PKEY *key, bool pss, const char *input, unsigned char **ret, size_t *ret_len)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    unsigned char *sig = NULL;
    size_t siglen = 0;
    int r = GR_EPROTO;

    if (!md || EVP_DigestSignInit(md, &pctx, EVP_sha256(), NULL, key) != 1)
        goto out;
    if (pss && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
                EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1 ||
                EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) != 1))
        goto out;
    if (EVP_DigestSign(md, NULL, &siglen, (const unsigned char *)input, strlen(input)) != 1)
        goto out;
    sig = gr_xmalloc(siglen);
    if (EVP_DigestSign(md, sig, &siglen, (const unsigned char *)input, strlen(input)) != 1)
        goto out;
    *ret = sig;
    *ret_len = siglen;
    sig = NULL;
    r = 0;
out:
    free(sig);
    EVP_MD_CTX_free(md);
    return r;
}

int rn_jwt_assertion(struct evp_pkey_st *key, bool pss, const char *client_id, const char *aud,
                     long long now, char **ret)
{
    char jti[37];
    json_t *hdr, *claims;
    char *h64, *c64, *input, *s64;
    unsigned char *sig = NULL;
    size_t siglen;
    int r;

    rn_guid(jti);
    hdr = json_pack("{s:s,s:s}", "typ", "JWT", "alg", pss ? "PS256" : "RS256");
    claims =
        json_pack("{s:s,s:s,s:s,s:s,s:I,s:I}", "sub", client_id, "iss", client_id, "jti", jti,
                  "aud", aud, "nbf", (json_int_t)now, "exp", (json_int_t)(now + RN_JWT_LIFETIME_S));
    h64 = b64url_json(hdr);
    c64 = b64url_json(claims);
    input = gr_xasprintf("%s.%s", h64, c64);
    r = sign(key, pss, input, &sig, &siglen);
    if (r == 0) {
        s64 = rn_b64_encode(sig, siglen, true);
        *ret = gr_xasprintf("%s.%s", input, s64);
        free(s64);
    }
    free(sig);
    free(input);
    free(c64);
    free(h64);
    json_decref(claims);
    json_decref(hdr);
    return r;
}
