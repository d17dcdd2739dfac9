/*
 * The step socket's wire format (stepd.c, the job init's side; step_client.c
 * and gr-sandbox --connect, the executor's side). Freestanding: no libc.
 *
 * client -> init: struct sb_req_hdr, then len bytes "cwd\0argv...\0env...\0"
 * (argc and envc strings), with the client's stdin, stdout and stderr
 * (SCM_RIGHTS) on the header; then any number of struct sb_msg {SB_MSG_SIGNAL,
 * sig}: signals the client got, for the step's process group.
 * init -> client: struct sb_msg {SB_MSG_EXIT, wait status}, or {SB_MSG_FAIL,
 * exit code} followed by a uint32_t length and that many bytes of message
 * ("gr-sandbox: cannot execute 'x': No such file or directory\n").
 */
#pragma once

#include <stdint.h>

#define SB_REQ_MAGIC 0x62737267u /* "grsb" */
#define SB_REQ_MAX (64u << 20)
#define SB_FAIL_TEXT_MAX 4096u

enum { SB_MSG_EXIT = 1, SB_MSG_FAIL = 2, SB_MSG_SIGNAL = 3 };

struct sb_req_hdr {
    uint32_t magic;
    uint32_t len;
    uint32_t argc;
    uint32_t envc;
};

struct sb_msg {
    int32_t type;
    int32_t value;
};
