/* `fusefss amdahl`: options, messages and output around the analysis library (tools/lib/analysis.h).
 * Test: tests/test_merge.c, tests/test_amdahl.c. */
#include "tools/amdahl.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tools/cli.h"

static void ff__amdahl_usage(FILE *f) {
  fputs("Usage: fusefss amdahl --base A.json --cand B.json [--micro M.json] [--target F[,F...]] [--format md|json]\n"
        "\n"
        "Reconciles per-gate speedups with the end-to-end speedup of two merged runs (e.g. sigma and\n"
        "suf). Per family (a nested gate counts for its outermost non-structure scope): t_i in both\n"
        "runs (median of per-repetition sums), f_i = t_i,base / T_base, s_i = t_i,base / t_i,cand.\n"
        "Predicted S = 1/((1 − Σf_i) + Σ f_i/s_i) over the targets, measured S = T_base / T_cand,\n"
        "residual = (S_meas − S_pred)/S_pred, and what the residual is made of.\n"
        "\n"
        "Options:\n"
        "  --base FILE        merged breakdown of the baseline run\n"
        "  --cand FILE        merged breakdown of the candidate run\n"
        "  --micro FILE       per-gate speedups (schema fusefss.micro/1) instead of the in-run s_i;\n"
        "                     the prediction is then also given at the p25 and p75 speedups\n"
        "  --target LIST      families or scope names to speed up (comma-separated, repeatable;\n"
        "                     default: Activation, Softmax and LayerNorm where present)\n"
        "  --format md|json   output format (default md)\n"
        "  -h, --help         show this help\n"
        "\n"
        "Exit status: 0 ok, 1 unreadable input or unknown target, 2 usage error.\n",
        f);
}

int ff_cmd_amdahl(int argc, char **argv) {
  const char *cmd = "amdahl";
  const char *base_path = NULL, *cand_path = NULL, *micro_path = NULL, *format = "md";
  enum { MAX_T = 32 };
  char tbuf[2048] = "";
  size_t tlen = 0;
  static const struct option opts[] = {{"base", required_argument, NULL, 'b'},
                                       {"cand", required_argument, NULL, 'c'},
                                       {"micro", required_argument, NULL, 'm'},
                                       {"target", required_argument, NULL, 't'},
                                       {"format", required_argument, NULL, 'f'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  optind = 0;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
    switch (c) {
    case 'b': base_path = optarg; break;
    case 'c': cand_path = optarg; break;
    case 'm': micro_path = optarg; break;
    case 't':
      if (tlen + strlen(optarg) + 2 >= sizeof tbuf) return ff_cli_usage_error(cmd, "--target list too long");
      tlen += (size_t)snprintf(tbuf + tlen, sizeof tbuf - tlen, "%s%s", tlen ? "," : "", optarg);
      break;
    case 'f':
      format = optarg;
      if (strcmp(format, "md") && strcmp(format, "json"))
        return ff_cli_usage_error(cmd, "unknown format '%s' (expected md or json)", format);
      break;
    case 'h': ff__amdahl_usage(stdout); return FF_EXIT_OK;
    case ':': return ff_cli_usage_error(cmd, "option '%s' needs a value", argv[optind - 1]);
    default: return ff_cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
    }
  }
  if (optind < argc) return ff_cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
  if (!base_path || !cand_path) return ff_cli_usage_error(cmd, "both --base and --cand are required");
  const char *targets[MAX_T];
  size_t n_targets = 0;
  for (char *save = NULL, *tok = strtok_r(tbuf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    while (*tok == ' ') tok++;
    if (!*tok) continue;
    if (n_targets == MAX_T) return ff_cli_usage_error(cmd, "at most %d targets", MAX_T);
    targets[n_targets++] = tok;
  }
  if (tlen && n_targets == 0) return ff_cli_usage_error(cmd, "--target needs at least one family or scope name");

  ff_breakdown *base = NULL, *cand = NULL;
  ff_micro *micro = NULL;
  ff_status st;
  int rc = FF_EXIT_OK;
  if ((st = ff_breakdown_load(base_path, &base))) {
    rc = ff_cli_fail(cmd, "cannot read --base %s: %s (details above)", base_path, ff_strerror(st));
    goto out;
  }
  if ((st = ff_breakdown_load(cand_path, &cand))) {
    rc = ff_cli_fail(cmd, "cannot read --cand %s: %s (details above)", cand_path, ff_strerror(st));
    goto out;
  }
  if (micro_path && (st = ff_micro_load(micro_path, &micro))) {
    rc = ff_cli_fail(cmd, "cannot read --micro %s: %s (details above)", micro_path, ff_strerror(st));
    goto out;
  }
  ff_amdahl a;
  if ((st = ff_amdahl_compute(base, cand, targets, n_targets, micro, &a))) {
    /* FF_ENOENT is an unknown or absent target, explained above; anything else is named here. */
    rc = ff_cli_fail(cmd, "cannot reconcile %s with %s%s%s", base_path, cand_path, st == FF_ENOENT ? "" : ": ",
                     st == FF_ENOENT ? "" : ff_strerror(st));
    goto out;
  }
  char bl[128], cl[128];
  ff_breakdown_label(base, bl, sizeof bl);
  ff_breakdown_label(cand, cl, sizeof cl);
  if (strcmp(bl, cl) == 0) { /* same suite on both sides: tell them apart by file */
    snprintf(bl, sizeof bl, "%s", base_path);
    snprintf(cl, sizeof cl, "%s", cand_path);
  }
  if (strcmp(format, "json") == 0)
    ff_amdahl_print_json(stdout, &a, bl, cl);
  else
    ff_amdahl_print_md(stdout, &a, base, cand, bl, cl);
  ff_amdahl_free(&a);
out:
  ff_micro_free(micro);
  ff_breakdown_free(base);
  ff_breakdown_free(cand);
  return rc;
}
