/* Shared plumbing of the `fusefss` subcommands: exit codes, usage errors, and parsing/formatting of
 * numbers with units. Every subcommand is `int ff_cmd_NAME(int argc, char **argv)` where argv[0] is
 * the subcommand's name, returning an FF_EXIT_* code. Test: tests/test_cli.c. */
#ifndef FF_TOOLS_CLI_H
#define FF_TOOLS_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/status.h"

enum { FF_EXIT_OK = 0, FF_EXIT_FAIL = 1, FF_EXIT_USAGE = 2 };

/* Prints "fusefss CMD: error: MSG" and "Try 'fusefss CMD --help'." to stderr; returns FF_EXIT_USAGE. */
int ff_cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints "fusefss CMD: error: MSG" to stderr; returns FF_EXIT_FAIL. */
int ff_cli_fail(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parsers return 0 on success, -1 (nothing written) on malformed or out-of-range input. */
int ff_parse_int(const char *s, long long lo, long long hi, long long *out);
int ff_parse_double(const char *s, double *out);
/* "4096", "4KiB", "1MiB", "2GiB", "1kB", "1MB", "1GB" -> bytes. */
int ff_parse_size(const char *s, uint64_t *out);
/* "250ns", "100us", "0.5ms", "4ms", "1s" (a bare number is milliseconds) -> ns. */
int ff_parse_duration_ns(const char *s, uint64_t *out);
/* "1GB/s", "400MB/s", "10Gbit/s", "1e9" (bytes per second) -> bytes per second, 1 .. 1e18. */
int ff_parse_bandwidth(const char *s, double *out_Bps);
/* "host:port", ":port" or "port" -> host (NULL for none, pointer into a static-free copy in buf) and
 * port (1..65535; 0 allowed when allow_zero). */
int ff_parse_hostport(const char *s, char *host, size_t host_n, int *port, int allow_zero);

/* A benchmark's --backend: "cpu" (cpu 1, gpu 0), "cuda" (0, 1) or "all" (1, -1: the GPU when one is
 * visible). */
int ff_parse_backends(const char *s, int *cpu, int *gpu);

/* Human formatting into buf (returns buf): 1234567 ns -> "1.235 ms"; 1536 B -> "1.50 KiB". */
const char *ff_fmt_ns(double ns, char *buf, size_t n);
const char *ff_fmt_bytes(double bytes, char *buf, size_t n);

/* --- Files the user names ----------------------------------------------------------------------- */

/* Opens path for reading without blocking on a FIFO (O_NONBLOCK, then cleared) and refuses anything but
 * a regular file (FF_EINVAL, "WHAT PATH is a FIFO ..."); FF_ENOENT / FF_EIO when it cannot be opened.
 * When max_bytes > 0, a larger file gives FF_ERANGE with the limit in the message. The descriptor, or
 * -1; *size gets the file's size. */
int ff_open_user_file(const char *path, const char *what, uint64_t max_bytes, uint64_t *size, ff_status *st);
/* The whole of such a file, NUL-terminated (caller frees *buf); at most max_bytes. */
ff_status ff_read_user_file(const char *path, const char *what, uint64_t max_bytes, char **buf, size_t *len);
/* Writes n bytes to path atomically: into "PATH.tmp.PID" (mode `mode`), flushed, then renamed over path, so
 * that a failed write (a full disk) leaves the old file whole. FF_EIO with the reason on failure. */
ff_status ff_write_file_atomic(const char *path, const void *data, size_t n, int mode);
/* Flushes and checks stdout (EPIPE, ENOSPC, a closed descriptor): 0, or FF_EXIT_FAIL with a message. */
int ff_cli_finish_stdout(void);

/* 1 when stderr is a terminal (progress bars are drawn only then). */
int ff_cli_progress_enabled(void);
/* Draws "label [=====>     ] done/total" on stderr when enabled; a final call with done == total
 * ends the line. */
void ff_cli_progress(const char *label, uint64_t done, uint64_t total);

#endif
