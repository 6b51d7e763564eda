/* `fusefss report`: options, messages and output around the analysis library (tools/lib/analysis.h).
 * Test: tests/test_merge.c, tests/test_amdahl.c. */
#include "tools/report.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tools/cli.h"

static void ff__report_usage(FILE *f) {
  fputs("Usage: fusefss report breakdown_merged.json [--format md|csv|json] [--by scope|family|layer|name] [-o FILE]\n"
        "\n"
        "Prints where time, bytes and rounds went in a merged run (see `fusefss merge`). Columns: time\n"
        "(median; inclusive by scope, the exclusive sum of the group otherwise), share of the total,\n"
        "exclusive time, p25–p75 of time, link bytes (P0 sent + P1 sent), bytes sent by P0 and by P1,\n"
        "rounds, calls, time blocked on the peer (max over the parties) and the time skew between the\n"
        "parties. Families put a nested gate under its outermost non-structure scope (a Reconstruct in\n"
        "GELU counts for Activation); the Other row is what no scope claimed.\n"
        "\n"
        "Options:\n"
        "  --format md|csv|json   output format (default md)\n"
        "  --by scope|family|layer|name   grouping (default scope: the calling-context tree)\n"
        "  -o, --output FILE      write the table to FILE (the summary then goes to stdout)\n"
        "  -h, --help             show this help\n"
        "\n"
        "With csv or json and no -o, stdout carries only the data and the summary goes to stderr.\n"
        "Exit status: 0 ok, 1 unreadable or invalid input, 2 usage error.\n",
        f);
}

int ff_cmd_report(int argc, char **argv) {
  const char *cmd = "report";
  const char *format = "md", *out_path = NULL;
  int by = FF_GROUP_SCOPE;
  static const struct option opts[] = {{"format", required_argument, NULL, 'f'},
                                       {"by", required_argument, NULL, 'b'},
                                       {"output", required_argument, NULL, 'o'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  optind = 0;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, ":o:h", opts, NULL)) != -1) {
    switch (c) {
    case 'f':
      format = optarg;
      if (strcmp(format, "md") && strcmp(format, "csv") && strcmp(format, "json"))
        return ff_cli_usage_error(cmd, "unknown format '%s' (expected md, csv or json)", format);
      break;
    case 'b':
      by = ff_group_by_parse(optarg);
      if (by < 0)
        return ff_cli_usage_error(cmd, "unknown grouping '%s' (expected scope, family, layer or name)", optarg);
      break;
    case 'o': out_path = optarg; break;
    case 'h': ff__report_usage(stdout); return FF_EXIT_OK;
    case ':': return ff_cli_usage_error(cmd, "option '%s' needs a value", argv[optind - 1]);
    default: return ff_cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
    }
  }
  if (argc - optind != 1)
    return ff_cli_usage_error(cmd, "expected one merged breakdown (breakdown_merged.json), got %d argument(s)",
                              argc - optind);
  const char *in = argv[optind];
  ff_breakdown *bd = NULL;
  ff_status st = ff_breakdown_load(in, &bd);
  if (st) return ff_cli_fail(cmd, "cannot read %s: %s (details above)", in, ff_strerror(st));
  ff_report r;
  st = ff_report_compute(bd, (ff_group_by)by, &r);
  if (st) {
    ff_breakdown_free(bd);
    return ff_cli_fail(cmd, "cannot compute the report of %s: %s", in, ff_strerror(st));
  }
  /* -o: into PATH.tmp.PID, renamed over PATH once whole, so a failed write keeps the previous file. */
  FILE *f = stdout;
  char tmp[4200] = "";
  if (out_path) snprintf(tmp, sizeof tmp, "%s.tmp.%ld", out_path, (long)getpid());
  if (out_path && !(f = fopen(tmp, "w"))) {
    ff_report_free(&r);
    ff_breakdown_free(bd);
    return ff_cli_fail(cmd, "cannot write %s: %s", tmp, strerror(errno));
  }
  int md = strcmp(format, "md") == 0;
  if (md)
    ff_report_print_md(f, bd, &r);
  else if (strcmp(format, "csv") == 0)
    ff_report_print_csv(f, &r);
  else
    ff_report_print_json(f, bd, &r);
  /* The summary goes after an md table; data-only formats keep stdout clean for a parser. */
  FILE *sf = (md || out_path) ? stdout : stderr;
  if (!md || out_path) {
    char hdr[512];
    fprintf(sf, "%s\n", ff_report_header(bd, hdr, sizeof hdr));
  }
  ff_report_print_summary(sf, bd, &r);
  int rc = FF_EXIT_OK;
  if (out_path) {
    const int bad = fflush(f) != 0 || ferror(f) || fsync(fileno(f)) != 0;
    const int err = errno;
    if (fclose(f) != 0 || bad || rename(tmp, out_path) != 0) {
      rc = ff_cli_fail(cmd, "cannot write %s: %s (the previous file, if any, is unchanged)", out_path,
                       strerror(bad ? err : errno));
      unlink(tmp);
    } else {
      printf("wrote %s\n", out_path);
    }
  }
  ff_report_free(&r);
  ff_breakdown_free(bd);
  return rc;
}
