/* The `fusefss` command: dispatches to the subcommands (DESIGN.md §8). Exit codes: 0 success,
 * 1 failure, 2 usage error. Test: tests/cli.cmake. */
#include <stdio.h>
#include <string.h>

#include "core/cuda.h"
#include "core/log.h"
#include "scope/scope.h"
#include "tools/amdahl.h"
#include "tools/bench_comm.h"
#include "tools/bench_fss.h"
#include "tools/bench_gate.h"
#include "tools/bench_gemm.h"
#include "tools/bench_scope.h"
#include "tools/cli.h"
#include "tools/matrix.h"
#include "tools/merge.h"
#include "tools/plot.h"
#include "tools/project.h"
#include "tools/report.h"
#include "tools/run.h"
#include "tools/trace.h"

typedef struct {
  const char *name;
  int (*fn)(int argc, char **argv);
  const char *summary;
} ff__command;

static int ff__cmd_bench(int argc, char **argv);
static int ff__cmd_version(int argc, char **argv);

static const ff__command ff__commands[] = {
    {"run", ff_cmd_run, "secure inference of a model: dealer, two parties, breakdown, verification (default: bert-tiny)"},
    {"keygen", ff_cmd_keygen, "the dealer: write one key file per party for a model"},
    {"cost", ff_cmd_cost, "key bytes, link bytes and rounds per scope of a model, from shapes alone"},
    {"bench", ff__cmd_bench, "benchmarks: `bench comm` (two-party link), `bench scope` (scope overhead), `bench fss`"},
    {"merge", ff_cmd_merge, "merge the two parties' logs into breakdown_merged.json"},
    {"report", ff_cmd_report, "tables of a merged breakdown by scope, family, layer or name"},
    {"amdahl", ff_cmd_amdahl, "reconcile per-family speedups with the end-to-end speedup"},
    {"project", ff_cmd_project, "project a merged run onto a LAN/WAN link (bytes and rounds)"},
    {"matrix", ff_cmd_matrix, "run a grid of runs (models x suites x seq x ...), resumable, with tables and figures"},
    {"plot", ff_cmd_plot, "SVG figures (time per family, per layer, Amdahl) and an HTML page of runs"},
    {"trace", ff_cmd_trace, "join the parties' traces into one Chrome/Perfetto trace with send->receive arrows"},
    {"version", ff__cmd_version, "print the version and the build's backends"},
};

static const ff__command ff__bench_kinds[] = {
    {"comm", ff_cmd_bench_comm, "two-party channel: round latency, bandwidth, scoped logs, merge"},
    {"scope", ff_cmd_bench_scope, "cost of one scope enter/exit (on, off, with CUDA events)"},
    {"fss", ff_cmd_bench_fss, "FSS primitives: AES, DPF keygen/comparison, full-domain evaluation, CPU and GPU"},
    {"gemm", ff_cmd_bench_gemm, "ring GEMM mod 2^bw: CPU, CUDA SIMT and int8 tensor-core limbs at BERT-base shapes"},
    {"gate", ff_cmd_bench_gate, "sigma / suf gates alone at BERT-base sizes: keygen, party time, key B, bits, rounds, error"},
};

#define FF__COUNT(a) (sizeof(a) / sizeof((a)[0]))

static void ff__usage(FILE *f) {
  fprintf(f,
          "usage: fusefss <command> [options]\n"
          "\n"
          "fusefss profiles two-party secure inference with function secret sharing: every\n"
          "millisecond, byte and round is attributed to the operator scope that spent it.\n"
          "\n"
          "commands:\n");
  for (size_t i = 0; i < FF__COUNT(ff__commands); i++) fprintf(f, "  %-10s %s\n", ff__commands[i].name, ff__commands[i].summary);
  fprintf(f,
          "\n"
          "Run 'fusefss <command> --help' for a command's options. Logging: FF_LOG_LEVEL=error|warn|info|debug;\n"
          "scopes off: FF_PROFILE=0; CUDA event spans on every scope, not only operators: FF_PROFILE_CUDA=all;\n"
          "no CUDA event spans: FF_PROFILE_CUDA=off.\n"
          "Documentation: docs/ in the source tree.\n");
}

static int ff__cmd_bench(int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
    FILE *f = argc < 2 ? stderr : stdout;
    fprintf(f, "usage: fusefss bench <kind> [options]\n\nkinds:\n");
    for (size_t i = 0; i < FF__COUNT(ff__bench_kinds); i++)
      fprintf(f, "  %-8s %s\n", ff__bench_kinds[i].name, ff__bench_kinds[i].summary);
    fprintf(f, "\nRun 'fusefss bench <kind> --help' for its options.\n");
    return argc < 2 ? FF_EXIT_USAGE : FF_EXIT_OK;
  }
  for (size_t i = 0; i < FF__COUNT(ff__bench_kinds); i++)
    if (strcmp(argv[1], ff__bench_kinds[i].name) == 0) return ff__bench_kinds[i].fn(argc - 1, argv + 1);
  fprintf(stderr, "fusefss bench: error: unknown benchmark '%s' (valid:", argv[1]);
  for (size_t i = 0; i < FF__COUNT(ff__bench_kinds); i++) fprintf(stderr, " %s", ff__bench_kinds[i].name);
  fprintf(stderr, ")\n");
  return FF_EXIT_USAGE;
}

static int ff__cmd_version(int argc, char **argv) {
  (void)argc;
  (void)argv;
  printf("fusefss 0.1.0 (CUDA backend: %s, NVTX: %s, CUDA devices visible: %d)\n", ff_cuda_built() ? "yes" : "no",
         ff_scope_nvtx_built() ? "yes" : "no", ff_cuda_device_count());
  return FF_EXIT_OK;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    ff__usage(stderr);
    return FF_EXIT_USAGE;
  }
  if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
    ff__usage(stdout);
    return FF_EXIT_OK;
  }
  if (strcmp(argv[1], "--version") == 0) {
    const int rc = ff__cmd_version(0, NULL);
    return rc ? rc : ff_cli_finish_stdout();
  }
  for (size_t i = 0; i < FF__COUNT(ff__commands); i++)
    if (strcmp(argv[1], ff__commands[i].name) == 0) {
      const int rc = ff__commands[i].fn(argc - 1, argv + 1);
      /* Every command's stdout is checked once here: a report that could not be written is a failure. */
      const int out = ff_cli_finish_stdout();
      return rc ? rc : out;
    }
  fprintf(stderr, "fusefss: error: unknown command '%s' (valid:", argv[1]);
  for (size_t i = 0; i < FF__COUNT(ff__commands); i++) fprintf(stderr, " %s", ff__commands[i].name);
  fprintf(stderr, ")\nRun 'fusefss --help' for a summary.\n");
  return FF_EXIT_USAGE;
}
