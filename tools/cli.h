/* Shared plumbing of the `fusefss` subcommands: exit codes, usage errors, and parsing/formatting of
 * numbers with units. Every subcommand is `int ff_cmd_NAME(int argc, char **argv)` where argv[0] is
 * the subcommand's name, returning an FF_EXIT_* code. Test: tests/test_cli.c. */
#ifndef FF_TOOLS_CLI_H
#define FF_TOOLS_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/status.h"
#include "tools/lib/analysis.h" /* ff_fmt_ns, ff_read_user_file, ff_write_file_atomic ... */

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

/* 1 when stderr is a terminal (progress bars are drawn only then). */
int ff_cli_progress_enabled(void);
/* Draws "label [=====>     ] done/total" on stderr when enabled; a final call with done == total
 * ends the line. */
void ff_cli_progress(const char *label, uint64_t done, uint64_t total);

#endif
