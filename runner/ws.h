/*
 * Internal to runner/: a small RFC 6455 websocket client for the live console
 * feed (R Runner.Common/JobServer.cs and ResultsServer.cs connect a
 * ClientWebSocket to the job's FeedStreamUrl with "Authorization: Bearer
 * <job token>" and send one JSON text message per batch of lines, in 1 KiB
 * fragments).
 *
 * libcurl 7.88 (Debian 12) has no websocket support, so curl only makes the
 * connection (TCP, TLS, proxy) with CURLOPT_CONNECT_ONLY on a private multi
 * handle driven by the loop; the upgrade handshake and the frames are ours,
 * sent and received with curl_easy_send/curl_easy_recv while a uv_poll_t
 * watches the socket. Nothing here blocks the loop.
 *
 * The framing functions are pure and unit-tested (tests/unit/test_rn_ws.c).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "gr.h"

enum {
    RN_WS_CONT = 0x0,
    RN_WS_TEXT = 0x1,
    RN_WS_BINARY = 0x2,
    RN_WS_CLOSE = 0x8,
    RN_WS_PING = 0x9,
    RN_WS_PONG = 0xA,
};

#define RN_WS_CONTROL_MAX 125 /* RFC 6455 5.5: control payloads */
#define RN_WS_FRAGMENT 1024   /* R sends messages in 1 KiB fragments */
#define RN_WS_MSG_MAX (1u << 20)
#define RN_WS_OUT_MAX (4u << 20) /* queued bytes not yet written to the socket */

/* ---- framing ---- */

/*
 * Append one frame to out. mask: the 4-byte masking key (client frames) or
 * NULL (server frames). Returns 0 or -E2BIG (out's limit).
 */
int rn_ws_frame_encode(struct gr_buf *out, int opcode, bool fin, const void *data, size_t len,
                       const unsigned char *mask) GR_MUST_CHECK;

struct rn_ws_frame {
    int opcode;
    bool fin, masked;
    unsigned char *payload; /* inside the parsed buffer, already unmasked */
    size_t len;
};

/*
 * Parse the frame at the start of buf[0..len) (unmasking its payload in
 * place). Returns the frame's total size (> 0), 0 when more bytes are
 * needed, -EPROTO for a malformed frame (reserved bits, unknown opcode,
 * oversized or fragmented control frame, a 64-bit length with its top bit
 * set), -E2BIG when the payload passes max.
 */
int rn_ws_frame_parse(unsigned char *buf, size_t len, size_t max,
                      struct rn_ws_frame *ret) GR_MUST_CHECK;

/* A complete message (opcode TEXT/BINARY) or control frame (CLOSE/PING/PONG). */
typedef void rn_ws_msg_fn(void *ctx, int opcode, const unsigned char *data, size_t len);

/* Reassembles fragmented messages from a byte stream. */
struct rn_ws_reader {
    struct gr_buf in, msg;
    int msg_opcode;   /* opcode of the message being assembled, -1 when none */
    bool want_masked; /* frames from a client are masked, frames from a server never */
    size_t max;       /* largest message */
};

void rn_ws_reader_init(struct rn_ws_reader *r, size_t max, bool want_masked);
void rn_ws_reader_release(struct rn_ws_reader *r);
/*
 * Feed received bytes; cb runs for every complete message and control
 * frame. Returns 0, -EPROTO (protocol violation: continuation without a
 * message, a new message inside one, masking of the wrong kind) or -E2BIG.
 * After an error the reader must not be fed again.
 */
int rn_ws_reader_feed(struct rn_ws_reader *r, const void *data, size_t len, rn_ws_msg_fn *cb,
                      void *ctx) GR_MUST_CHECK;

/* Sec-WebSocket-Accept for a Sec-WebSocket-Key: base64(SHA-1(key + GUID)). Owned. */
char *rn_ws_accept(const char *key);

/*
 * Check a handshake response (status line and headers, up to the blank
 * line) for key: 101, Upgrade: websocket, Connection: Upgrade and the right
 * Sec-WebSocket-Accept. Returns 0 or -EPROTO; *ret_status gets the HTTP status.
 */
int rn_ws_check_response(const char *resp, size_t len, const char *key,
                         long *ret_status) GR_MUST_CHECK;

/* ---- client ---- */

struct rn_ws;

/*
 * Connection events, always from a loop callback (never inside the call
 * that caused them): status 0 once the socket is open; a negative status
 * once it failed or closed (-ECONNREFUSED, GR_ECURL, -EPROTO, -ETIMEDOUT,
 * -ECONNRESET for a close by the peer). After a negative status the client
 * only waits for rn_ws_free.
 */
typedef void rn_ws_event_fn(struct rn_ws *ws, int status, void *ctx);

struct rn_ws_opts {
    const char *url;            /* ws://, wss://, http:// or https:// */
    const char *const *headers; /* extra "Name: value" lines, NULL-terminated, or NULL */
    const char *cafile;         /* CA bundle, or NULL for the system default */
    unsigned timeout_ms;        /* connect + handshake (R: 30 s) */
    rn_ws_event_fn *cb;
    rn_ws_msg_fn *on_message; /* data messages from the server, or NULL */
    void *ctx;
};

/* Start connecting; returns 0 (events follow) or a negative error (no event). */
int rn_ws_connect(uv_loop_t *loop, const struct rn_ws_opts *o, struct rn_ws **ret) GR_MUST_CHECK;
bool rn_ws_is_open(const struct rn_ws *ws);
/*
 * Queue one text message, sent in RN_WS_FRAGMENT-byte masked fragments as R
 * does. Returns 0, -ENOTCONN when not open, -E2BIG when the queue is full.
 */
int rn_ws_send_text(struct rn_ws *ws, const char *data, size_t len) GR_MUST_CHECK;
/* Bytes queued and not yet written. */
size_t rn_ws_pending(const struct rn_ws *ws);
/*
 * Send a close frame (when open) and free the client; its callbacks never
 * run again. Accepts NULL. Handles close asynchronously.
 */
void rn_ws_free(struct rn_ws *ws);
