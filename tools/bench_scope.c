/* `fusefss bench scope`: the cost of one scope enter/exit, measured as the median over repetitions
 * of (time for N empty scopes) / N, with scopes on, with scopes switched off at run time
 * (FF_PROFILE=0's path), and on the CUDA backend with event spans. NVTX on/off is a build option:
 * run this from a -DFF_NVTX=OFF build to compare. Results: docs/results.md. */
#include "tools/bench_scope.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cuda.h"
#include "core/log.h"
#include "core/time.h"
#include "scope/scope.h"
#include "tools/cli.h"
#include "tools/lib/analysis.h"

static void ff__usage(FILE *f) {
  fprintf(f,
          "usage: fusefss bench scope [options]\n"
          "\n"
          "Cost of one FF_SCOPE enter/exit in ns: median over repetitions of the time of N empty\n"
          "scopes divided by N. Modes: on (recorded, NVTX ranges if built), off (switched off at run\n"
          "time), cuda (recorded with a CUDA event span on every scope, FF_PROFILE_CUDA=all; needs a\n"
          "GPU), cuda-ops (the default span granularity: the loop's Reconstruct records none). NVTX is\n"
          "a build option: compare with a -DFF_NVTX=OFF build.\n"
          "\n"
          "options:\n"
          "  --n N       scopes per repetition (default 1000000)\n"
          "  --reps N    repetitions (default 11)\n"
          "  -h, --help  this help\n");
}

/* Four-deep nesting in a loop, the shape of Forward/Layer/Softmax/Reconstruct; n scopes in all. */
static void ff__scopes(uint64_t n) {
  for (uint64_t i = 0; i < n / 4; i++) {
    FF_SCOPE("Forward");
    FF_SCOPE_LAYER("Layer", (int)(i & 7));
    FF_SCOPE("Softmax");
    FF_SCOPE("Reconstruct");
  }
}

static int ff__measure(const char *mode, ff_stream *stream, int enabled, uint64_t n, int reps) {
  ff_prof *p = NULL;
  ff_prof_opts po = {.party = 0};
  if (ff_prof_create(&p, &po) || ff_prof_thread_attach(p, "bench scope", stream)) {
    ff_prof_destroy(p);
    return -1;
  }
  double *ns = calloc((size_t)reps, sizeof *ns);
  if (!ns) return -1;
  ff_scope_set_enabled(enabled);
  for (int r = 0; r < reps + 1; r++) { /* the first repetition builds the tree and is discarded */
    if (ff_prof_rep_begin(p, r == 0)) break;
    uint64_t t0 = ff_now_ns();
    ff__scopes(n);
    uint64_t t1 = ff_now_ns();
    if (ff_prof_rep_end(p)) break; /* resolves the CUDA events outside the timed region */
    if (r) ns[r - 1] = (double)(t1 - t0) / (double)(n / 4 * 4);
  }
  ff_scope_set_enabled(1);
  ff_stats s;
  ff_stats_compute(ns, (size_t)reps, &s);
  printf("  %-8s %8.1f ns per enter/exit (p25 %.1f, p75 %.1f, n %d)\n", mode, s.median, s.p25, s.p75, reps);
  free(ns);
  ff_prof_destroy(p);
  ff_prof_thread_detach();
  return 0;
}

int ff_cmd_bench_scope(int argc, char **argv) {
  const char *cmd = "bench scope";
  long long n = 1000000, reps = 11;
  static const struct option opts[] = {
      {"n", required_argument, 0, 'n'}, {"reps", required_argument, 0, 'r'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
  optind = 1;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
    switch (c) {
      case 'h': ff__usage(stdout); return FF_EXIT_OK;
      case 'n':
        if (ff_parse_int(optarg, 4, 1000000000, &n)) return ff_cli_usage_error(cmd, "--n must be 4..1e9, not '%s'", optarg);
        break;
      case 'r':
        if (ff_parse_int(optarg, 1, 10000, &reps)) return ff_cli_usage_error(cmd, "--reps must be 1..10000, not '%s'", optarg);
        break;
      case ':': return ff_cli_usage_error(cmd, "option '%s' needs a value", argv[optind - 1]);
      default: return ff_cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
    }
  }
  if (optind < argc) return ff_cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
  printf("fusefss bench scope: %lld scopes per repetition, NVTX %s in this build\n", n,
         ff_scope_nvtx_built() ? "compiled in" : "compiled out");
  if (ff__measure("on", NULL, 1, (uint64_t)n, (int)reps) || ff__measure("off", NULL, 0, (uint64_t)n, (int)reps))
    return ff_cli_fail(cmd, "measurement failed");
  if (ff_cuda_device_count() > 0) {
    ff_stream *s = NULL;
    if (ff_cuda_stream_create(&s)) return ff_cli_fail(cmd, "cannot create a CUDA stream");
    /* cuda: a span on every scope (the cost of one); cuda-ops: the default granularity, under which the
     * loop's Reconstruct (family Comm) has none, so 3 of its 4 scopes record one. */
    const ff_cuda_spans mode = ff_scope_cuda_spans();
    ff_scope_set_cuda_spans(FF_CUDA_SPANS_ALL);
    int rc = ff__measure("cuda", s, 1, (uint64_t)n, (int)reps);
    ff_scope_set_cuda_spans(FF_CUDA_SPANS_OPS);
    if (!rc) rc = ff__measure("cuda-ops", s, 1, (uint64_t)n, (int)reps);
    ff_scope_set_cuda_spans(mode);
    ff_cuda_stream_destroy(s);
    if (rc) return ff_cli_fail(cmd, "CUDA measurement failed");
  } else {
    printf("  cuda, cuda-ops (no CUDA device: not measured)\n");
  }
  return FF_EXIT_OK;
}
