/*
 * Internal to runner/: the two executables. `ghrun` (main.c) is the lean
 * front: it runs `ghrun run`, the listener, itself and links only what the
 * listener needs (libuv, libcurl, jansson, OpenSSL); every other subcommand and
 * every job worker is `ghrun-engine` (main_engine.c), the full program, which
 * lies next to it (as gr-sandbox does) – the official runner's
 * Runner.Listener / Runner.Worker split.
 */
#pragma once

#include <stddef.h>

#define RN_ENGINE_NAME "ghrun-engine"
/* The engine's hidden subcommand for job workers: `worker [--root ROOT] --work WORK`. */
#define RN_WORKER_CMD "worker"

/* The engine's absolute path (next to this executable) into buf; 0 or -errno. */
int rn_engine_path(char *buf, size_t len);
