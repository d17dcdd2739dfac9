/* Unit tests for executor/logs.c: line splitting and secret masking. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ex/logs.h"

/* ---- helpers ----------------------------------------------------------- */

struct lines {
    char **v;
    size_t *lens;
    size_t n, cap, lcap;
};

static void collect(void *ctx, const char *line, size_t len)
{
    struct lines *l = ctx;
    size_t lcap = l->lcap;

    GR_GROW(l->v, l->cap, l->n + 1);
    GR_GROW(l->lens, lcap, l->n + 1);
    l->lcap = lcap;
    l->v[l->n] = gr_xmalloc(len + 1);
    memcpy(l->v[l->n], line, len);
    l->v[l->n][len] = '\0';
    l->lens[l->n++] = len;
}

static void lines_free(struct lines *l)
{
    size_t i;

    for (i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    free(l->lens);
    memset(l, 0, sizeof(*l));
}

/* Split `data` fed in chunks of `chunk` bytes (0: all at once), then flush. */
static void split(struct lines *out, const char *data, size_t len, size_t chunk)
{
    struct ex_linesplit ls;
    size_t i;

    ex_linesplit_init(&ls, collect, out);
    if (chunk == 0)
        chunk = len ? len : 1;
    for (i = 0; i < len; i += chunk)
        ex_linesplit_feed(&ls, data + i, len - i < chunk ? len - i : chunk);
    ex_linesplit_flush(&ls);
    ex_linesplit_release(&ls);
}

static void assert_lines(const struct lines *l, const char *const *want, size_t n)
{
    size_t i;

    assert_int_equal(l->n, n);
    for (i = 0; i < n; i++) {
        assert_int_equal(l->lens[i], strlen(want[i]));
        assert_memory_equal(l->v[i], want[i], l->lens[i]);
    }
}

static char *mask(const struct ex_masker *m, const char *s)
{
    struct gr_buf b = GR_BUF_INIT(0);
    assert_int_equal(ex_masker_apply(m, s, strlen(s), &b), 0);
    return gr_buf_detach(&b, NULL);
}

static void assert_mask(const struct ex_masker *m, const char *in, const char *want)
{
    char *got = mask(m, in);
    assert_string_equal(got, want);
    free(got);
}

static void add(struct ex_masker *m, const char *s)
{
    ex_masker_add(m, s, strlen(s));
}

/* ---- splitting --------------------------------------------------------- */

static void split_lf_crlf_cr(void **state)
{
    static const char *const want[] = {"a", "b", "c", "d", "", "e"};
    const char *in = "a\nb\r\nc\rd\r\r\ne";
    struct lines l = {0};
    size_t chunk;

    (void)state;
    for (chunk = 0; chunk <= 4; chunk++) {
        split(&l, in, strlen(in), chunk);
        assert_lines(&l, want, GR_ARRAY_SIZE(want));
        lines_free(&l);
    }
}

static void split_crlf_across_feeds(void **state)
{
    static const char *const want[] = {"one", "two"};
    struct ex_linesplit ls;
    struct lines l = {0};

    (void)state;
    ex_linesplit_init(&ls, collect, &l);
    ex_linesplit_feed(&ls, "one\r", 4);
    /* the line is delivered at the CR, not held back for a possible LF */
    assert_int_equal(l.n, 1);
    ex_linesplit_feed(&ls, "\ntwo\n", 5);
    ex_linesplit_flush(&ls);
    ex_linesplit_release(&ls);
    assert_lines(&l, want, GR_ARRAY_SIZE(want));
    lines_free(&l);
}

static void split_empty_lines_and_no_final_newline(void **state)
{
    static const char *const want[] = {"", "", "x", "tail"};
    struct lines l = {0};

    (void)state;
    split(&l, "\n\nx\ntail", 8, 0);
    assert_lines(&l, want, GR_ARRAY_SIZE(want));
    lines_free(&l);
    split(&l, "", 0, 0);
    assert_int_equal(l.n, 0);
    lines_free(&l);
}

static void split_partial_joined(void **state)
{
    static const char *const want[] = {"hello world", "next"};
    struct ex_linesplit ls;
    struct lines l = {0};

    (void)state;
    ex_linesplit_init(&ls, collect, &l);
    ex_linesplit_feed(&ls, "hel", 3);
    ex_linesplit_feed(&ls, "lo wo", 5);
    assert_int_equal(l.n, 0);
    ex_linesplit_feed(&ls, "rld\nne", 6);
    ex_linesplit_feed(&ls, "xt\n", 3);
    ex_linesplit_flush(&ls);
    ex_linesplit_release(&ls);
    assert_lines(&l, want, GR_ARRAY_SIZE(want));
    lines_free(&l);
}

static void split_binary_and_nul(void **state)
{
    const char in[] = {'a', '\0', 'b', '\n', (char)0xff, (char)0xfe, '\0', '\n'};
    struct lines l = {0};

    (void)state;
    split(&l, in, sizeof(in), 3);
    assert_int_equal(l.n, 2);
    assert_int_equal(l.lens[0], 3);
    assert_memory_equal(l.v[0], "a\0b", 3);
    assert_int_equal(l.lens[1], 3);
    assert_memory_equal(l.v[1], "\xff\xfe\0", 3);
    lines_free(&l);
}

static void split_huge_line_cut(void **state)
{
    size_t total = EX_LOG_MAX_LINE * 2 + 1000, i;
    char *big = gr_xmalloc(total + 6);
    struct lines l = {0};
    size_t chunks[] = {0, 65536, 1000003};

    (void)state;
    for (i = 0; i < total; i++)
        big[i] = (char)('a' + i % 26);
    memcpy(big + total, "\nend\n", 5);
    for (i = 0; i < GR_ARRAY_SIZE(chunks); i++) {
        split(&l, big, total + 5, chunks[i]);
        assert_int_equal(l.n, 4);
        assert_int_equal(l.lens[0], EX_LOG_MAX_LINE);
        assert_int_equal(l.lens[1], EX_LOG_MAX_LINE);
        assert_int_equal(l.lens[2], 1000);
        assert_memory_equal(l.v[0], big, EX_LOG_MAX_LINE);
        assert_memory_equal(l.v[1], big + EX_LOG_MAX_LINE, EX_LOG_MAX_LINE);
        assert_memory_equal(l.v[2], big + 2 * EX_LOG_MAX_LINE, 1000);
        assert_string_equal(l.v[3], "end");
        lines_free(&l);
    }
    free(big);
}

static void split_exact_max_line(void **state)
{
    size_t n = EX_LOG_MAX_LINE, i;
    char *big = gr_xmalloc(n + 3);
    struct lines l = {0};
    size_t chunks[] = {0, 1, 65536, 4096 * 3};

    (void)state;
    memset(big, 'x', n);
    memcpy(big + n, "\ny", 2);
    for (i = 0; i < GR_ARRAY_SIZE(chunks); i++) {
        split(&l, big, n + 2, chunks[i] == 1 ? n : chunks[i]);
        assert_int_equal(l.n, 2);
        assert_int_equal(l.lens[0], n);
        assert_string_equal(l.v[1], "y");
        lines_free(&l);
    }
    free(big);
}

static void split_byte_by_byte_matches_whole(void **state)
{
    char buf[4096];
    struct lines a = {0}, b = {0};
    size_t i;
    unsigned seed = 7;

    (void)state;
    for (i = 0; i < sizeof(buf); i++) {
        seed = seed * 1103515245u + 12345u;
        unsigned r = (seed >> 16) % 20;
        buf[i] = r == 0 ? '\n' : r == 1 ? '\r' : (char)('a' + r);
    }
    split(&a, buf, sizeof(buf), 0);
    split(&b, buf, sizeof(buf), 1);
    assert_int_equal(a.n, b.n);
    for (i = 0; i < a.n; i++) {
        assert_int_equal(a.lens[i], b.lens[i]);
        assert_memory_equal(a.v[i], b.v[i], a.lens[i]);
    }
    lines_free(&a);
    lines_free(&b);
}

/* ---- masking ----------------------------------------------------------- */

static void mask_basic(void **state)
{
    struct ex_masker *m = ex_masker_new();

    (void)state;
    assert_int_equal(ex_masker_count(m), 0);
    assert_mask(m, "nothing registered", "nothing registered");
    add(m, "hunter2-secret");
    assert_int_equal(ex_masker_count(m), 1);
    assert_mask(m, "pw=hunter2-secret!", "pw=***!");
    assert_mask(m, "hunter2-secret and hunter2-secret", "*** and ***");
    assert_mask(m, "hunter2-secre", "hunter2-secre");
    assert_mask(m, "", "");
    assert_true(ex_masker_matches(m, "xhunter2-secretx", 16));
    assert_false(ex_masker_matches(m, "hunter", 6));
    ex_masker_free(m);
}

static void mask_overlapping_adjacent_prefix(void **state)
{
    struct ex_masker *m = ex_masker_new();

    (void)state;
    add(m, "abcd1234");
    add(m, "1234wxyz");
    /* overlapping occurrences merge into one range */
    assert_mask(m, "[abcd1234wxyz]", "[***]");
    /* touching ranges merge too (ReplacementPosition: Start <= End) */
    assert_mask(m, "abcd12341234wxyz", "***");
    assert_mask(m, "abcd1234abcd1234", "***");
    assert_mask(m, "abcd1234 abcd1234", "*** ***");
    add(m, "abcd1234-long");
    /* a secret that is a prefix of another: the longer range wins */
    assert_mask(m, "abcd1234-long!", "***!");
    assert_mask(m, "abcd1234-lon", "***-lon");
    ex_masker_free(m);
}

static void mask_repeated_self_overlap(void **state)
{
    struct ex_masker *m = ex_masker_new();

    (void)state;
    add(m, "aaaa");
    assert_mask(m, "aaaaaa-aaa", "***-aaa");
    ex_masker_free(m);
}

static void mask_short_secrets(void **state)
{
    struct ex_masker *m = ex_masker_new();

    (void)state;
    add(m, "q");
    add(m, "xyz");
    add(m, "longer-secret");
    assert_mask(m, "aqb", "a***b");
    assert_mask(m, "qq", "***");
    assert_mask(m, "xyzlonger-secret", "***");
    assert_mask(m, "xylonger-secretz", "xy***z");
    assert_int_equal(ex_masker_count(m), 3);
    ex_masker_free(m);
}

static void mask_stars_and_empty(void **state)
{
    struct ex_masker *m = ex_masker_new();

    (void)state;
    ex_masker_add(m, "", 0);
    ex_masker_add(m, "   ", 3); /* registered as is; its trimmed line is empty */
    assert_int_equal(ex_masker_count(m), 1);
    ex_masker_free(m);

    m = ex_masker_new();
    add(m, "***");
    assert_mask(m, "a***b", "a***b");
    assert_mask(m, "******", "***");
    ex_masker_free(m);
}

static void mask_multiline_secret(void **state)
{
    struct ex_masker *m = ex_masker_new();

    (void)state;
    add(m, "first-line\r\n  second-line  \n\nthird");
    /* the whole value, then each trimmed non-empty line */
    assert_int_equal(ex_masker_count(m), 4);
    assert_mask(m, "got first-line", "got ***");
    assert_mask(m, "[second-line]", "[***]");
    assert_mask(m, "third", "***");
    assert_mask(m, "x first-line\r\n  second-line  \n\nthird y", "x *** y");
    ex_masker_free(m);
}

static void mask_duplicates_ignored(void **state)
{
    struct ex_masker *m = ex_masker_new();

    (void)state;
    add(m, "same-secret");
    add(m, "same-secret");
    assert_int_equal(ex_masker_count(m), 1);
    assert_mask(m, "same-secret", "***");
    ex_masker_free(m);
}

static void mask_encodings(void **state)
{
    struct ex_masker *m = ex_masker_new();

    (void)state;
    add(m, "user:pa\"ss'w<rd&x");
    /* base64 of the UTF-8 bytes, shifted by 0, 1 and 2 bytes */
    assert_mask(m, "auth dXNlcjpwYSJzcyd3PHJkJng=", "auth ***");
    assert_mask(m, "c2VyOnBhInNzJ3c8cmQmeA==", "***");
    assert_mask(m, "ZXI6cGEic3MndzxyZCZ4", "***");
    /* JSON, URI, XML, command line and expression escapes */
    assert_mask(m, "{\"p\":\"user:pa\\\"ss'w<rd&x\"}", "{\"p\":\"***\"}");
    assert_mask(m, "q=user%3Apa%22ss%27w%3Crd%26x", "q=***");
    assert_mask(m, "<p>user:pa&quot;ss&apos;w&lt;rd&amp;x</p>", "<p>***</p>");
    assert_mask(m, "'user:pa\"ss''w<rd&x'", "'***'");
    ex_masker_free(m);

    m = ex_masker_new();
    add(m, "\"quoted-value\"");
    assert_mask(m, "v=quoted-value", "v=***");
    ex_masker_free(m);
}

static void mask_window_rebuild(void **state)
{
    struct ex_masker *m = ex_masker_new();
    char *longs = gr_xmalloc(401);

    (void)state;
    memset(longs, 'k', 400);
    longs[0] = 'L';
    longs[400] = '\0';
    add(m, longs);
    add(m, "mid-size-secret");
    add(m, "four");
    assert_mask(m, "a four b mid-size-secret c", "a *** b *** c");
    char *line = gr_xasprintf("<%s>", longs);
    char *got = mask(m, line);
    assert_string_equal(got, "<***>");
    free(got);
    free(line);
    free(longs);
    ex_masker_free(m);
}

static void mask_many_secrets(void **state)
{
    struct ex_masker *m = ex_masker_new();
    char buf[64];
    int i;

    (void)state;
    for (i = 0; i < 5000; i++) {
        int n = snprintf(buf, sizeof(buf), "secret-number-%05d", i);
        ex_masker_add(m, buf, (size_t)n);
        ex_masker_add(m, buf, (size_t)n); /* again: ignored */
    }
    assert_int_equal(ex_masker_count(m), 5000);
    assert_mask(m, "a secret-number-04711 b secret-number-00000", "a *** b ***");
    assert_mask(m, "secret-number-5000", "secret-number-5000");
    ex_masker_free(m);
}

static void mask_long_line_edges(void **state)
{
    struct ex_masker *m = ex_masker_new();
    size_t n = EX_LOG_MAX_LINE;
    char *line = gr_xmalloc(n + 1);
    struct gr_buf out = GR_BUF_INIT(0);

    (void)state;
    memset(line, '.', n);
    memcpy(line, "tok-AAAA", 8);
    memcpy(line + n - 8, "tok-AAAA", 8);
    line[n] = '\0';
    add(m, "tok-AAAA");
    assert_int_equal(ex_masker_apply(m, line, n, &out), 0);
    assert_int_equal(out.len, n - 10);
    assert_memory_equal(out.ptr, "***.", 4);
    assert_memory_equal(out.ptr + out.len - 4, ".***", 4);
    gr_buf_release(&out);
    free(line);
    ex_masker_free(m);
}

static void mask_out_limit(void **state)
{
    struct ex_masker *m = ex_masker_new();
    struct gr_buf out = GR_BUF_INIT(8);

    (void)state;
    add(m, "secret-1");
    assert_int_equal(gr_buf_add(&out, "ab", 2), 0);
    assert_int_equal(ex_masker_apply(m, "xx secret-1 yyyyyy", 18, &out), -E2BIG);
    assert_int_equal(out.len, 2);
    assert_string_equal(out.ptr, "ab");
    gr_buf_release(&out);
    ex_masker_free(m);
}

/* Secrets split across writes are still masked: split, then mask per line. */
struct pipe_ctx {
    const struct ex_masker *m;
    struct gr_buf out;
};

static void mask_line(void *ctx, const char *line, size_t len)
{
    struct pipe_ctx *p = ctx;
    assert_int_equal(ex_masker_apply(p->m, line, len, &p->out), 0);
    assert_int_equal(gr_buf_addch(&p->out, '\n'), 0);
}

static void mask_split_across_feeds(void **state)
{
    struct ex_masker *m = ex_masker_new();
    struct pipe_ctx p = {.m = m, .out = GR_BUF_INIT(0)};
    struct ex_linesplit ls;
    const char *in = "token: ghp_abcdef0123456789\r\nok\n";
    size_t i;

    (void)state;
    add(m, "ghp_abcdef0123456789");
    ex_linesplit_init(&ls, mask_line, &p);
    for (i = 0; in[i]; i++)
        ex_linesplit_feed(&ls, in + i, 1);
    ex_linesplit_flush(&ls);
    ex_linesplit_release(&ls);
    assert_string_equal(p.out.ptr, "token: ***\nok\n");
    gr_buf_release(&p.out);
    ex_masker_free(m);
}

/*
 * Reference (SecretMasker.cs): every occurrence of every secret is covered;
 * ranges that overlap or touch merge, so each maximal run of covered bytes
 * becomes one "***".
 */
static char *reference_mask(char **secrets, size_t n, const char *s)
{
    size_t len = strlen(s), i, j, x;
    char *hit = gr_xcalloc(len + 1, 1);
    struct gr_buf b = GR_BUF_INIT(0);

    for (i = 0; i < len; i++)
        for (j = 0; j < n; j++) {
            size_t k = strlen(secrets[j]);
            if (k <= len - i && memcmp(s + i, secrets[j], k) == 0)
                for (x = i; x < i + k; x++)
                    hit[x] = 1;
        }
    for (i = 0; i < len;) {
        if (!hit[i]) {
            assert_int_equal(gr_buf_addch(&b, s[i++]), 0);
            continue;
        }
        assert_int_equal(gr_buf_adds(&b, "***"), 0);
        while (i < len && hit[i])
            i++;
    }
    free(hit);
    return gr_buf_detach(&b, NULL);
}

static void mask_random_against_reference(void **state)
{
    unsigned seed = 12345;
    int round;

    (void)state;
    for (round = 0; round < 400; round++) {
        struct ex_masker *m = ex_masker_new();
        char *secrets[6];
        char text[200];
        size_t ns = 1 + round % 6, i, tl;

        for (i = 0; i < ns; i++) {
            size_t k = 1 + (seed = seed * 1103515245u + 12345u) % 9, x;
            secrets[i] = gr_xmalloc(k + 1);
            for (x = 0; x < k; x++) {
                seed = seed * 1103515245u + 12345u;
                secrets[i][x] = (char)('a' + (seed >> 16) % 3);
            }
            secrets[i][k] = '\0';
            add(m, secrets[i]);
        }
        seed = seed * 1103515245u + 12345u;
        tl = (seed >> 16) % sizeof(text);
        for (i = 0; i < tl; i++) {
            seed = seed * 1103515245u + 12345u;
            text[i] = (char)('a' + (seed >> 16) % 3);
        }
        text[tl] = '\0';
        char *want = reference_mask(secrets, ns, text);
        char *got = mask(m, text);
        assert_string_equal(got, want);
        free(want);
        free(got);
        for (i = 0; i < ns; i++)
            free(secrets[i]);
        ex_masker_free(m);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(split_lf_crlf_cr),
        cmocka_unit_test(split_crlf_across_feeds),
        cmocka_unit_test(split_empty_lines_and_no_final_newline),
        cmocka_unit_test(split_partial_joined),
        cmocka_unit_test(split_binary_and_nul),
        cmocka_unit_test(split_huge_line_cut),
        cmocka_unit_test(split_exact_max_line),
        cmocka_unit_test(split_byte_by_byte_matches_whole),
        cmocka_unit_test(mask_basic),
        cmocka_unit_test(mask_overlapping_adjacent_prefix),
        cmocka_unit_test(mask_repeated_self_overlap),
        cmocka_unit_test(mask_short_secrets),
        cmocka_unit_test(mask_stars_and_empty),
        cmocka_unit_test(mask_multiline_secret),
        cmocka_unit_test(mask_duplicates_ignored),
        cmocka_unit_test(mask_encodings),
        cmocka_unit_test(mask_window_rebuild),
        cmocka_unit_test(mask_many_secrets),
        cmocka_unit_test(mask_long_line_edges),
        cmocka_unit_test(mask_out_limit),
        cmocka_unit_test(mask_split_across_feeds),
        cmocka_unit_test(mask_random_against_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
