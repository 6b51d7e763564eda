/* `fusefss plot`: reads merged runs, asks the analysis library for the figures and writes them (temp +
 * rename). Test: tests/test_analysis.c. */
#include "tools/plot.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tools/cli.h"
#include "tools/matrix.h"

#define FF__PLOT_MAX_RUNS 16

static void ff__plot_usage(FILE *f) {
  fputs("Usage: fusefss plot RUN... [--label L]... [-o DIR] [--no-html]\n"
        "       fusefss plot --matrix DIR [-o OUT] [--no-html]\n"
        "\n"
        "Draws self-contained SVG figures (they open in any browser) of one or more runs; RUN is a run's\n"
        "output folder (holding breakdown_merged.json) or a merged file. Into DIR (default .):\n"
        "  family_time.svg  stacked time per family of each run: measured, and projected on LAN and WAN\n"
        "  layers.svg       time and link bytes per layer, one bar per run\n"
        "  amdahl.svg       with two runs or more: the first is the base, the second the candidate;\n"
        "                   per-family speedups against the end-to-end speedup, measured and predicted\n"
        "  index.html       the family tables and the figures on one page (not with --no-html)\n"
        "With --matrix DIR (a `fusefss matrix` folder): scaling.svg (online time, link bytes and rounds\n"
        "against seq, one line per model/suite/knobs/batch/backend/placement) and index.html.\n"
        "Family colours are the NVTX colours of the scopes.\n"
        "\n"
        "Options:\n"
        "  --label L       the name of the next run in the figures (default: its suite, or its path)\n"
        "  -o, --output DIR  where to write the figures (created; default .)\n"
        "  --no-html       figures only\n"
        "  -h, --help      show this help\n"
        "\n"
        "Exit status: 0 written, 1 unreadable run or unwritable output, 2 usage error.\n",
        f);
}

static ff_status ff__write_text(const char *dir, const char *name, const char *text, int *count) {
  char path[4200];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  ff_status st = ff_write_file_atomic(path, text, strlen(text), 0644);
  if (!st) {
    printf("wrote %s\n", path);
    ++*count;
  }
  return st;
}

/* RUN: a folder with breakdown_merged.json, or the file itself. */
static ff_status ff__load_run(const char *run, ff_breakdown **bd) {
  struct stat sb;
  char path[4200];
  if (stat(run, &sb) == 0 && S_ISDIR(sb.st_mode)) snprintf(path, sizeof path, "%s/breakdown_merged.json", run);
  else snprintf(path, sizeof path, "%s", run);
  return ff_breakdown_load(path, bd);
}

int ff_cmd_plot(int argc, char **argv) {
  const char *cmd = "plot", *out = ".", *matrix = NULL;
  const char *labels[FF__PLOT_MAX_RUNS] = {0};
  int n_labels = 0, html = 1;
  enum { O_LABEL = 256, O_NOHTML, O_MATRIX };
  static const struct option opts[] = {{"label", required_argument, NULL, O_LABEL},
                                       {"output", required_argument, NULL, 'o'},
                                       {"no-html", no_argument, NULL, O_NOHTML},
                                       {"matrix", required_argument, NULL, O_MATRIX},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  optind = 0;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, ":o:h", opts, NULL)) != -1) {
    switch (c) {
    case O_LABEL:
      if (n_labels == FF__PLOT_MAX_RUNS) return ff_cli_usage_error(cmd, "at most %d labels", FF__PLOT_MAX_RUNS);
      labels[n_labels++] = optarg;
      break;
    case 'o': out = optarg; break;
    case O_NOHTML: html = 0; break;
    case O_MATRIX: matrix = optarg; break;
    case 'h': ff__plot_usage(stdout); return FF_EXIT_OK;
    case ':': return ff_cli_usage_error(cmd, "option '%s' needs a value", argv[optind - 1]);
    default: return ff_cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
    }
  }
  const int n_runs = argc - optind;
  if (matrix && n_runs) return ff_cli_usage_error(cmd, "--matrix takes no RUN arguments");
  if (!matrix && n_runs < 1) return ff_cli_usage_error(cmd, "expected one or more runs (folders or merged files)");
  if (n_runs > FF__PLOT_MAX_RUNS) return ff_cli_usage_error(cmd, "at most %d runs per figure", FF__PLOT_MAX_RUNS);
  if (n_labels > n_runs)
    return ff_cli_usage_error(cmd, "%d labels for %d runs", n_labels, n_runs);
  if (mkdir(out, 0777) != 0 && errno != EEXIST) return ff_cli_fail(cmd, "cannot create %s: %s", out, strerror(errno));
  if (matrix) {
    ff_status st = ff_matrix_plot(matrix, out, html);
    if (st) return ff_cli_fail(cmd, "cannot plot the grid in %s: %s (details above)", matrix, ff_strerror(st));
    return FF_EXIT_OK;
  }

  ff_breakdown *bd[FF__PLOT_MAX_RUNS] = {0};
  ff_plot_run runs[FF__PLOT_MAX_RUNS];
  char lab[FF__PLOT_MAX_RUNS][128];
  char *svg[3] = {0}, *page = NULL;
  int rc = FF_EXIT_OK, written = 0;
  ff_status st = FF_OK;
  for (int i = 0; i < n_runs; i++) {
    if ((st = ff__load_run(argv[optind + i], &bd[i]))) {
      rc = ff_cli_fail(cmd, "cannot read run %s: %s (details above)", argv[optind + i], ff_strerror(st));
      goto out;
    }
    if (i < n_labels) snprintf(lab[i], sizeof lab[i], "%s", labels[i]);
    else ff_breakdown_label(bd[i], lab[i], sizeof lab[i]);
    runs[i] = (ff_plot_run){bd[i], lab[i]};
  }
  for (int i = n_labels; i < n_runs; i++) /* two runs of one suite: tell them apart by path */
    for (int j = 0; j < n_runs; j++)
      if (j != i && strcmp(lab[i], lab[j]) == 0) {
        snprintf(lab[i], sizeof lab[i], "%s", argv[optind + i]);
        break;
      }
  if ((st = ff_plot_families_svg(runs, (size_t)n_runs, 1, &svg[0])) ||
      (st = ff__write_text(out, "family_time.svg", svg[0], &written)))
    goto fail;
  if ((st = ff_plot_layers_svg(runs, (size_t)(n_runs < 8 ? n_runs : 8), &svg[1])) ||
      (st = ff__write_text(out, "layers.svg", svg[1], &written)))
    goto fail;
  if (n_runs >= 2) {
    ff_amdahl a;
    st = ff_amdahl_compute(bd[0], bd[1], NULL, 0, NULL, &a);
    if (st == FF_ENOENT) {
      fprintf(stderr, "fusefss plot: no amdahl.svg: the base run has no Activation, Softmax or LayerNorm time\n");
      st = FF_OK;
    } else if (!st) {
      st = ff_plot_amdahl_svg(&a, lab[0], lab[1], &svg[2]);
      ff_amdahl_free(&a);
      if (!st) st = ff__write_text(out, "amdahl.svg", svg[2], &written);
    }
    if (st) goto fail;
  }
  if (html) {
    if ((st = ff_plot_html("fusefss runs", runs, (size_t)n_runs, (const char *const *)svg, 3, &page)) ||
        (st = ff__write_text(out, "index.html", page, &written)))
      goto fail;
  }
  goto out;
fail:
  rc = ff_cli_fail(cmd, "cannot draw or write the figures into %s: %s (details above)", out, ff_strerror(st));
out:
  for (int i = 0; i < 3; i++) free(svg[i]);
  free(page);
  for (int i = 0; i < n_runs; i++) ff_breakdown_free(bd[i]);
  return rc;
}
