/* `fusefss trace`: options and messages around ff_trace_combine (tools/lib/trace.c).
 * Test: tests/test_analysis.c. */
#include "tools/trace.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "tools/cli.h"

static void ff__trace_usage(FILE *f) {
  fputs("Usage: fusefss trace trace_p0.json trace_p1.json [-o trace.json] [--depth N]\n"
        "\n"
        "Joins the two per-party traces of one run (written by `fusefss run --trace`, or by a party run\n"
        "with --trace on each host) into one Chrome trace that opens in https://ui.perfetto.dev or\n"
        "chrome://tracing: one process per party on one clock, a track per thread, scopes as nested\n"
        "slices, each message as a slice with a flow arrow from its send to the peer's receive.\n"
        "\n"
        "Options:\n"
        "  -o, --output FILE   where to write the trace (default ./trace.json)\n"
        "  --depth N           keep scopes opened at depth < N only (1: Forward alone, 3: down to\n"
        "                      Attention/FFN, 0: all, the default); messages are always kept\n"
        "  -h, --help          show this help\n"
        "\n"
        "Exit status: 0 written, 1 unreadable, mismatched or unwritable files, 2 usage error.\n",
        f);
}

int ff_cmd_trace(int argc, char **argv) {
  const char *cmd = "trace", *out_path = "trace.json";
  long long depth = 0;
  enum { O_DEPTH = 256 };
  static const struct option opts[] = {{"output", required_argument, NULL, 'o'},
                                       {"depth", required_argument, NULL, O_DEPTH},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  optind = 0;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, ":o:h", opts, NULL)) != -1) {
    switch (c) {
    case 'o': out_path = optarg; break;
    case O_DEPTH:
      if (ff_parse_int(optarg, 0, 64, &depth))
        return ff_cli_usage_error(cmd, "--depth must be a whole number in 0..64 (0: every depth), not '%s'", optarg);
      break;
    case 'h': ff__trace_usage(stdout); return FF_EXIT_OK;
    case ':': return ff_cli_usage_error(cmd, "option '%s' needs a value", argv[optind - 1]);
    default: return ff_cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
    }
  }
  if (argc - optind != 2)
    return ff_cli_usage_error(cmd, "expected two per-party traces (trace_p0.json trace_p1.json), got %d argument(s)",
                              argc - optind);
  ff_trace_info info;
  ff_status st = ff_trace_combine(argv[optind], argv[optind + 1], (int)depth, out_path, &info);
  if (st) return ff_cli_fail(cmd, "cannot join %s and %s: %s (details above)", argv[optind], argv[optind + 1],
                             ff_strerror(st));
  char sz[32];
  printf("wrote %s: %zu slices (%zu cut by --depth), %zu send->receive arrows, %s\n", out_path, info.slices,
         info.slices_cut, info.flows, ff_fmt_bytes((double)info.bytes, sz, sizeof sz));
  return FF_EXIT_OK;
}
