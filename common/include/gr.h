/*
 * gr: domain-free basics shared by runner/ and executor/.
 *
 * Error convention (STYLE.md section 4): fallible functions return int, 0 on
 * success, -errno or a GR_E* code (-3000..-3999) on failure. Details that a
 * code cannot carry (file, line, column, message) go into an optional last
 * argument, struct gr_diag *reterr, which may be NULL.
 *
 * Memory: gr_x* allocators abort on out-of-memory and never return NULL.
 */
#pragma once

#include <dirent.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define GR_MUST_CHECK __attribute__((warn_unused_result))
#define GR_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define GR_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#ifdef GR_UNIT_TESTS
#define GR_TESTABLE
#else
#define GR_TESTABLE static
#endif

#define gr_container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/* ---- errors ------------------------------------------------------------ */

#define GR_ERRNO_MAP(XX)                                                                           \
    XX(EPARSE, -3001, "parse error")                                                               \
    XX(EEXPR, -3002, "expression error")                                                           \
    XX(EHTTP, -3003, "HTTP error")                                                                 \
    XX(EPROTO, -3004, "protocol error")                                                            \
    XX(ECURL, -3005, "transfer error")                                                             \
    XX(EINVAL_WF, -3006, "invalid workflow")                                                       \
    XX(EUSAGE, -3007, "usage error")                                                               \
    XX(EFAILED, -3008, "failed")                                                                   \
    XX(ECANCELED, -3009, "canceled")                                                               \
    XX(ENOTFOUND, -3010, "not found")                                                              \
    XX(EGIT, -3011, "git error")                                                                   \
    XX(EARCHIVE, -3012, "archive error")                                                           \
    XX(ESANDBOX, -3013, "sandbox error")

enum gr_errno {
#define XX(name, val, msg) GR_##name = val,
    GR_ERRNO_MAP(XX)
#undef XX
};

/* Message for a negative error code (ours or -errno). Never NULL, static. */
const char *gr_strerror(int err);
/* Symbolic name for a negative error code ("GR_EPARSE", "ENOENT"). */
const char *gr_errname(int err);

/*
 * Error details. `file` is borrowed from the caller (usually the parsed
 * document's path, which outlives the diag); `msg` is owned text.
 * line and col are 1-based; 0 means unknown.
 */
struct gr_diag {
    const char *file;
    int line;
    int col;
    char msg[512];
};

/* Fill a diag (when non-NULL) and return err. */
int gr_diag_set(struct gr_diag *d, int err, const char *file, int line, int col, const char *fmt,
                ...) GR_PRINTF(6, 7);
/* Format "file:line:col: msg" (parts omitted when unknown) into out. */
void gr_diag_format(const struct gr_diag *d, char *out, size_t outlen);

/* ---- memory ------------------------------------------------------------ */

void *gr_xmalloc(size_t n);
void *gr_xcalloc(size_t nmemb, size_t size);
void *gr_xrealloc(void *p, size_t n);
char *gr_xstrdup(const char *s);
/* Copy at most n bytes of s (stopping at a NUL), always NUL-terminated. */
char *gr_xstrndup(const char *s, size_t n);
char *gr_xasprintf(const char *fmt, ...) GR_PRINTF(1, 2);
/* Grow an array so that it holds at least n elements of size sz. */
void gr_xgrow(void **arr, size_t *cap, size_t n, size_t sz);
#define GR_GROW(arr, cap, n) gr_xgrow((void **)&(arr), &(cap), (n), sizeof(*(arr)))

/* ---- strings ----------------------------------------------------------- */

/* Borrowed view; never freed. */
struct gr_str {
    const char *ptr;
    size_t len;
};
#define GR_STR(lit) ((struct gr_str){(lit), sizeof(lit) - 1})
static inline struct gr_str gr_str_c(const char *s);

/*
 * Owned growable string. Invariants: ptr is never NULL after GR_BUF_INIT and
 * is always NUL-terminated; len <= max. An append that would pass max
 * returns -E2BIG and leaves the buffer as it was. max == 0 means SIZE_MAX.
 */
struct gr_buf {
    char *ptr;
    size_t len, cap, max;
};
extern char gr_buf_empty[];
#define GR_BUF_INIT(m) ((struct gr_buf){.ptr = gr_buf_empty, .len = 0, .cap = 0, .max = (m)})

int gr_buf_add(struct gr_buf *b, const void *data, size_t len) GR_MUST_CHECK;
int gr_buf_adds(struct gr_buf *b, const char *s) GR_MUST_CHECK;
int gr_buf_addch(struct gr_buf *b, char c) GR_MUST_CHECK;
int gr_buf_addf(struct gr_buf *b, const char *fmt, ...) GR_PRINTF(2, 3) GR_MUST_CHECK;
int gr_buf_vaddf(struct gr_buf *b, const char *fmt, va_list ap) GR_MUST_CHECK;
/*
 * The same appends where the caller knows they cannot fail: the buffer has no limit (growth
 * aborts on OOM) or room for the bytes. A failing append is a bug; it trips an assertion.
 */
void gr_buf_xadd(struct gr_buf *b, const void *data, size_t len);
void gr_buf_xadds(struct gr_buf *b, const char *s);
void gr_buf_xaddch(struct gr_buf *b, char c);
/* Drop the first n bytes. */
void gr_buf_consume(struct gr_buf *b, size_t n);
void gr_buf_reset(struct gr_buf *b);
/* Free the contents; the buffer is reusable (as after GR_BUF_INIT(max)). */
void gr_buf_release(struct gr_buf *b);
/* Hand the string to the caller (free() it); the buffer is reset. */
char *gr_buf_detach(struct gr_buf *b, size_t *ret_len);

static inline struct gr_str gr_str_c(const char *s)
{
    struct gr_str r = {s, 0};
    while (s && s[r.len])
        r.len++;
    return r;
}
bool gr_str_eq(struct gr_str a, const char *b);
bool gr_str_caseeq(struct gr_str a, const char *b);
bool gr_startswith(const char *s, const char *prefix);
bool gr_endswith(const char *s, const char *suffix);

/* ---- files and paths --------------------------------------------------- */

/* Read a whole file (at most max bytes, else -E2BIG) into a NUL-terminated string. */
int gr_file_read(const char *path, size_t max, char **ret, size_t *ret_len) GR_MUST_CHECK;
/* Write all of data to fd, retrying short writes and EINTR; 0 or -errno. */
int gr_write_all(int fd, const void *data, size_t len) GR_MUST_CHECK;
/* The same with pwrite() at offset off (the file offset does not move). */
int gr_pwrite_all(int fd, const void *data, size_t len, uint64_t off) GR_MUST_CHECK;
/* Write a file atomically (temp file + rename) with the given mode. */
int gr_file_write_atomic(const char *path, const void *data, size_t len, int mode) GR_MUST_CHECK;
/* mkdir -p; mode for created directories. */
int gr_mkdir_p(const char *path, int mode) GR_MUST_CHECK;
/* rm -rf; missing path is success. */
int gr_rm_rf(const char *path) GR_MUST_CHECK;
/* Join two path parts with exactly one '/'; returns an owned string. */
char *gr_path_join(const char *a, const char *b);
/*
 * The names in directory d from where it stands to its end, but "." and "..", sorted by strcmp.
 * d stays open. The array and each name are malloc()ed (free all); *ret_n is their count.
 */
char **gr_dir_names(DIR *d, size_t *ret_n);
bool gr_path_exists(const char *path);
bool gr_path_is_dir(const char *path);
/*
 * Every file of uid from in the tree at path goes to uid:gid. Links are not followed, the walk
 * stays on path's file system and goes at most 256 directories deep, and it does not enter the
 * directory skip (NULL: none), which keeps its owner too. A file that cannot be changed is logged
 * (debug) and passed over. Returns the number of files changed, or -errno when path cannot be
 * read.
 */
int gr_chown_tree(const char *path, const char *skip, uid_t from, uid_t uid, gid_t gid);

/* ---- time -------------------------------------------------------------- */

/* Monotonic nanoseconds. */
uint64_t gr_now_ns(void);
/* Wall-clock ISO 8601 UTC ("2026-11-27T03:34:24.123Z") into out (>= 32 bytes). */
void gr_time_iso8601(char *out, size_t outlen);
/* The same for ms, milliseconds since the epoch. */
void gr_time_iso8601_ms(int64_t ms, char *out, size_t outlen);

/* ---- logging ----------------------------------------------------------- */

enum gr_log_level { GR_LOG_ERROR, GR_LOG_WARNING, GR_LOG_INFO, GR_LOG_DEBUG };

void gr_log_set_level(enum gr_log_level lvl);
enum gr_log_level gr_log_get_level(void);
void gr_log(enum gr_log_level lvl, const char *fmt, ...) GR_PRINTF(2, 3);
/* Log "msg: strerror(err)" and return err. */
int gr_log_errno(enum gr_log_level lvl, int err, const char *fmt, ...) GR_PRINTF(3, 4);

#define GR_LOG_ERR(...) gr_log(GR_LOG_ERROR, __VA_ARGS__)
#define GR_LOG_WARN(...) gr_log(GR_LOG_WARNING, __VA_ARGS__)
#define GR_LOG_INFO(...) gr_log(GR_LOG_INFO, __VA_ARGS__)
#define GR_LOG_DEBUG(...) gr_log(GR_LOG_DEBUG, __VA_ARGS__)
#define gr_log_err_errno(err, ...) gr_log_errno(GR_LOG_ERROR, (err), __VA_ARGS__)
#define gr_log_warn_errno(err, ...) gr_log_errno(GR_LOG_WARNING, (err), __VA_ARGS__)
