/* `fusefss merge`: options, messages and output around the analysis library (tools/lib/analysis.h).
 * Test: tests/test_merge.c, tests/test_amdahl.c. */
#include "tools/merge.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tools/cli.h"

/* ---- The command -------------------------------------------------------------------------------- */

static void ff__merge_usage(FILE *f) {
  fputs("Usage: fusefss merge A.json B.json [-o FILE]\n"
        "\n"
        "Merges the two per-party logs of one run (prof_p0.json and prof_p1.json, in either order)\n"
        "into one breakdown: per repetition and scope, time = max over the parties (skew kept), bytes\n"
        "per party and direction, link bytes = P0 sent + P1 sent, rounds = max, exclusive values, an\n"
        "Other row for what no scope claimed, and statistics across the counted repetitions.\n"
        "Refuses logs of different runs, workloads, knobs, repetitions or tree shapes, and totals that\n"
        "break the byte invariants (P0 sent = P1 received and the reverse).\n"
        "\n"
        "Options:\n"
        "  -o, --output FILE   where to write the merged breakdown (default ./breakdown_merged.json)\n"
        "  -h, --help          show this help\n"
        "\n"
        "Exit status: 0 merged, 1 the logs were refused or unreadable, 2 usage error.\n",
        f);
}

int ff_cmd_merge(int argc, char **argv) {
  const char *cmd = "merge";
  const char *out_path = "breakdown_merged.json";
  static const struct option opts[] = {
      {"output", required_argument, NULL, 'o'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
  optind = 0; /* full re-initialisation: commands may run several times in one process (tests) */
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, ":o:h", opts, NULL)) != -1) {
    switch (c) {
    case 'o': out_path = optarg; break;
    case 'h': ff__merge_usage(stdout); return FF_EXIT_OK;
    case ':': return ff_cli_usage_error(cmd, "option '%s' needs a value", argv[optind - 1]);
    default: return ff_cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
    }
  }
  if (argc - optind != 2)
    return ff_cli_usage_error(cmd, "expected two per-party logs (prof_p0.json prof_p1.json), got %d argument(s)",
                              argc - optind);
  const char *a = argv[optind], *b = argv[optind + 1];
  ff_breakdown *bd = NULL;
  ff_status st = ff_merge_logs(a, b, &bd);
  if (st) return ff_cli_fail(cmd, "cannot merge %s and %s: %s (details above)", a, b, ff_strerror(st));
  st = ff_breakdown_write(bd, out_path);
  if (st) {
    ff_breakdown_free(bd);
    return ff_cli_fail(cmd, "cannot write %s: %s", out_path, ff_strerror(st));
  }
  const char *rid = ff_breakdown_run_str(bd, "run_id");
  size_t counted = ff_breakdown_counted_reps(bd);
  ff_stats tot;
  ff_breakdown_stats(bd, FF_BD_TOTAL, 0, FF_M_WALL, &tot);
  char tb[32];
  printf("merged run %s: %zu paths, %zu repetitions (%zu counted, %zu warm-up), total %s median, "
         "%zu warning(s) -> %s\n",
         rid ? rid : "?", bd->n_nodes, bd->n_reps, counted, bd->n_reps - counted, ff_fmt_ns(tot.median, tb, sizeof tb),
         bd->n_warnings, out_path);
  ff_breakdown_free(bd);
  return FF_EXIT_OK;
}
