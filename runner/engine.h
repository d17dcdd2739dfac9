/*
 * Internal to runner/: the programs, which lie side by side (as gr-sandbox
 * does). `ghrun` (main.c) is a launcher that links libc alone and execs one
 * of the others with the same arguments: `ghrun run` is `ghrun-listener`
 * (main_listener.c), which links only what the listener needs (libuv,
 * libcurl, jansson, OpenSSL); every other subcommand, and every job worker, is
 * `ghrun-engine` (main_engine.c), the full program – the official runner's
 * Runner.Listener / Runner.Worker split.
 */
#pragma once

#include <stddef.h>

#define RN_ENGINE_NAME "ghrun-engine"
#define RN_LISTENER_NAME "ghrun-listener"
/* The engine's hidden subcommand for job workers: `worker [--root ROOT] --work WORK`. */
#define RN_WORKER_CMD "worker"

/* The absolute path of the program `name` next to this executable into buf; 0 or -errno. */
int rn_sibling_path(const char *name, char *buf, size_t len);
/* rn_sibling_path(RN_ENGINE_NAME, ...) */
int rn_engine_path(char *buf, size_t len);

/*
 * The opt-in latency trace: with GHRUN_TRACE_LATENCY=1 in the environment, writes
 * "ghrun-trace: WHAT MONOTONIC_NS\n" to stderr (one write, so lines of the listener and its
 * worker do not mix); otherwise nothing. Any thread; `what` is a short fixed label.
 */
void rn_trace_latency(const char *what);
