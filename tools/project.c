/* `fusefss project`: options, messages and output around the analysis library (tools/lib/analysis.h).
 * Test: tests/test_merge.c, tests/test_amdahl.c. */
#include "tools/project.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tools/cli.h"

static void ff__project_usage(FILE *f) {
  fputs("Usage: fusefss project breakdown_merged.json [--lan] [--wan] [--bw B --lat L]\n"
        "                       [--convention seed|duplex] [--by family|scope] [--format md|json]\n"
        "\n"
        "Projects a merged run onto a network: T = comp + bytes term + rounds·lat, where comp is the\n"
        "merged max over the parties of (wall − time blocked on the peer), per repetition, then median.\n"
        "  seed:   T = comp + 2·link_B/bw + rounds·lat   (the published formula; conservative)\n"
        "  duplex: T = comp + max(sent_P0, sent_P1)/bw + rounds·lat   (full-duplex physical time)\n"
        "\n"
        "Options:\n"
        "  --lan                 1 GB/s and 0.5 ms per round\n"
        "  --wan                 400 MB/s and 4 ms per round\n"
        "  --bw B --lat L        custom link, e.g. --bw 10Gbit/s --lat 0.2ms (both needed)\n"
        "                        (with no network option, LAN and WAN are both printed)\n"
        "  --convention NAME     seed or duplex (default duplex)\n"
        "  --by family|scope     rows per family (default) or per scope path, exclusive values\n"
        "  --format md|json      output format (default md)\n"
        "  -h, --help            show this help\n"
        "\n"
        "Exit status: 0 ok, 1 unreadable input, 2 usage error.\n",
        f);
}

int ff_cmd_project(int argc, char **argv) {
  const char *cmd = "project";
  int lan = 0, wan = 0, conv = FF_CONV_DUPLEX, by = FF_GROUP_FAMILY;
  const char *bw_s = NULL, *lat_s = NULL, *format = "md";
  enum { O_LAN = 256, O_WAN, O_BW, O_LAT, O_CONV, O_BY, O_FORMAT };
  static const struct option opts[] = {{"lan", no_argument, NULL, O_LAN},
                                       {"wan", no_argument, NULL, O_WAN},
                                       {"bw", required_argument, NULL, O_BW},
                                       {"lat", required_argument, NULL, O_LAT},
                                       {"convention", required_argument, NULL, O_CONV},
                                       {"by", required_argument, NULL, O_BY},
                                       {"format", required_argument, NULL, O_FORMAT},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  optind = 0;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
    switch (c) {
    case O_LAN: lan = 1; break;
    case O_WAN: wan = 1; break;
    case O_BW: bw_s = optarg; break;
    case O_LAT: lat_s = optarg; break;
    case O_CONV:
      if ((conv = ff_convention_parse(optarg)) < 0)
        return ff_cli_usage_error(cmd, "unknown convention '%s' (expected seed or duplex)", optarg);
      break;
    case O_BY:
      by = ff_group_by_parse(optarg);
      if (by != FF_GROUP_FAMILY && by != FF_GROUP_SCOPE)
        return ff_cli_usage_error(cmd, "--by must be family or scope, not '%s'", optarg);
      break;
    case O_FORMAT:
      format = optarg;
      if (strcmp(format, "md") && strcmp(format, "json"))
        return ff_cli_usage_error(cmd, "unknown format '%s' (expected md or json)", format);
      break;
    case 'h': ff__project_usage(stdout); return FF_EXIT_OK;
    case ':': return ff_cli_usage_error(cmd, "option '%s' needs a value", argv[optind - 1]);
    default: return ff_cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
    }
  }
  if (argc - optind != 1)
    return ff_cli_usage_error(cmd, "expected one merged breakdown (breakdown_merged.json), got %d argument(s)",
                              argc - optind);
  ff_network nets[3];
  size_t n_nets = 0;
  if ((bw_s != NULL) != (lat_s != NULL)) return ff_cli_usage_error(cmd, "--bw and --lat go together");
  if (bw_s) {
    double bw;
    uint64_t lat;
    if (ff_parse_bandwidth(bw_s, &bw))
      return ff_cli_usage_error(cmd, "cannot parse bandwidth '%s' (e.g. 1GB/s, 400MB/s, 10Gbit/s, 1e9)", bw_s);
    if (ff_parse_duration_ns(lat_s, &lat))
      return ff_cli_usage_error(cmd, "cannot parse latency '%s' (e.g. 0.5ms, 4ms, 200us)", lat_s);
    nets[n_nets++] = (ff_network){"custom", bw, (double)lat};
  }
  if (lan || (!wan && !bw_s)) nets[n_nets++] = ff_network_lan();
  if (wan || (!lan && !bw_s)) nets[n_nets++] = ff_network_wan();

  const char *in = argv[optind];
  ff_breakdown *bd = NULL;
  ff_status st = ff_breakdown_load(in, &bd);
  if (st) return ff_cli_fail(cmd, "cannot read %s: %s (details above)", in, ff_strerror(st));
  int json = strcmp(format, "json") == 0;
  cJSON *root = NULL, *jnets = NULL;
  if (json) {
    root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "schema", "fusefss.project/1");
    const char *rid = ff_breakdown_run_str(bd, "run_id");
    cJSON_AddStringToObject(root, "run_id", rid ? rid : "");
    cJSON_AddStringToObject(root, "convention", ff_convention_name((ff_convention)conv));
    cJSON_AddStringToObject(root, "formula", ff_convention_formula((ff_convention)conv));
    cJSON_AddStringToObject(root, "comp", "max over parties of (wall - wait), per repetition, then median");
    cJSON_AddStringToObject(root, "by", ff_group_by_name((ff_group_by)by));
    jnets = cJSON_AddArrayToObject(root, "networks");
  } else {
    char hdr[512];
    printf("# fusefss project\n\n%s\n"
           "comp = max over the parties of (wall − time blocked on the peer), per repetition, then median\n\n",
           ff_report_header(bd, hdr, sizeof hdr));
  }
  int rc = FF_EXIT_OK;
  for (size_t i = 0; i < n_nets; i++) {
    ff_projection p;
    if ((st = ff_project_compute(bd, &nets[i], (ff_convention)conv, (ff_group_by)by, &p))) {
      rc = ff_cli_fail(cmd, "cannot project %s: %s", in, ff_strerror(st));
      break;
    }
    if (json) {
      cJSON *o = cJSON_CreateObject();
      cJSON_AddStringToObject(o, "name", p.net.name);
      cJSON_AddNumberToObject(o, "bw_Bps", p.net.bw_Bps);
      cJSON_AddNumberToObject(o, "lat_ns", p.net.lat_ns);
      cJSON_AddItemToObject(o, "total", ff_proj_row_to_json(&p.total));
      cJSON *rows = cJSON_AddArrayToObject(o, "rows");
      for (size_t r = 0; r < p.n_rows; r++) cJSON_AddItemToArray(rows, ff_proj_row_to_json(&p.rows[r]));
      cJSON_AddItemToArray(jnets, o);
    } else {
      ff_projection_print_md(stdout, &p);
    }
    ff_projection_free(&p);
  }
  if (json && rc == FF_EXIT_OK) {
    char *text = cJSON_Print(root);
    if (text) printf("%s\n", text);
    free(text);
  }
  cJSON_Delete(root);
  ff_breakdown_free(bd);
  return rc;
}
