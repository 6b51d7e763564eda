/* `fusefss bench gemm`: C = A * B mod 2^bw (gates/gemm) at BERT-base's shapes, on the CPU (one core)
 * and with both CUDA algorithms (u64 SIMT, int8 tensor-core limbs) and AUTO: median time and ring
 * operations per second, 2MNK/t. The GPU outputs of the algorithms are compared with each other on every
 * shape (the exact check against the CPU is tests/test_gemm_cuda.c). Nothing here is asserted by tests. */
#include "tools/bench_gemm.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ctx.h"
#include "core/cuda.h"
#include "core/log.h"
#include "core/rand.h"
#include "core/ring.h"
#include "core/time.h"
#include "gates/gemm/ring_gemm.h"
#include "tools/cli.h"
#include "tools/lib/analysis.h"

typedef struct {
  int reps, bw;
  int cpu, gpu;
  int inner; /* GPU calls per timed repetition: one stream sync per `inner` calls */
} ff__gemm_opts;

/* batch products of (M, K) by (K, N). */
typedef struct {
  const char *name;
  size_t batch, M, K, N;
} ff__gemm_shape;

static const ff__gemm_shape ff__shapes[] = {
    {"QKV/out proj", 1, 128, 768, 768},
    {"FFN up", 1, 128, 768, 3072},
    {"FFN down", 1, 128, 3072, 768},
    {"attn Q.K^T, 12 heads", 12, 128, 64, 128},
    {"attn S.V, 12 heads", 12, 128, 128, 64},
};
#define FF__NSHAPES (sizeof ff__shapes / sizeof ff__shapes[0])

static void ff__usage(FILE *f) {
  fprintf(f,
          "usage: fusefss bench gemm [options]\n"
          "\n"
          "Ring matrix products C = A*B mod 2^bw at BERT-base shapes (128 tokens): the linear layers and the\n"
          "12-head attention products as batched GEMMs. CPU (one core, at most 3 repetitions), and on the GPU\n"
          "the u64 SIMT kernel, the int8 tensor-core limb GEMMs (cuBLAS) and AUTO. Median time per call and\n"
          "ring ops/s = 2*batch*M*N*K / time.\n"
          "\n"
          "options:\n"
          "  --backend cpu|cuda|all   what to measure (default all that this machine has)\n"
          "  --bits N                 ring width bw, 1..64 (default 50, SIGMA's bert-base width)\n"
          "  --reps N                 repetitions, median reported (default 7)\n"
          "  --inner N                GPU calls per repetition, timed together (default 10)\n"
          "  -h, --help               this help\n");
}

typedef struct {
  ff_ctx *ctx;
  ff_gemm_algo algo;
  int bw;
  const ff__gemm_shape *s;
  uint64_t *A, *B, *C; /* backend memory */
} ff__gemm_arg;

static ff_status ff__call(const ff__gemm_arg *g) {
  const ff__gemm_shape *s = g->s;
  if (g->ctx->backend == FF_BACKEND_CPU)
    return ff_ring_gemm_batched_cpu(g->ctx, g->bw, s->batch, s->M, s->N, s->K, g->A, s->M * s->K, g->B, s->K * s->N,
                                    g->C, s->M * s->N);
  return ff_ring_gemm_batched_cuda_ex(g->ctx, g->algo, g->bw, s->batch, s->M, s->N, s->K, g->A, s->M * s->K, g->B,
                                      s->K * s->N, g->C, s->M * s->N);
}

/* Median seconds per call over reps repetitions of `inner` calls (plus one discarded warm-up), each
 * repetition ending with a stream synchronisation on CUDA so that the time covers the work. */
static ff_status ff__time(const ff__gemm_arg *g, int reps, int inner, double *sec) {
  double *t = calloc((size_t)reps, sizeof *t);
  if (!t) return FF_ENOMEM;
  ff_status st = FF_OK;
  for (int r = -1; r < reps && !st; r++) {
    uint64_t t0 = ff_now_ns();
    for (int i = 0; i < inner && !st; i++) st = ff__call(g);
    if (!st && g->ctx->stream) st = ff_cuda_stream_sync(g->ctx->stream);
    if (r >= 0) t[r] = (double)(ff_now_ns() - t0) / 1e9 / inner;
  }
  if (!st) *sec = ff_stats_median(t, (size_t)reps);
  free(t);
  return st;
}

static void ff__row(const ff__gemm_shape *s, const char *on, double sec, const char *note) {
  char shape[48];
  snprintf(shape, sizeof shape, "%zux%zux%zux%zu", s->batch, s->M, s->K, s->N);
  const double ops = 2.0 * (double)s->batch * (double)s->M * (double)s->N * (double)s->K;
  printf("| %-22s | %-18s | %-16s | %10.3f | %10.4g | %s\n", s->name, shape, on, sec * 1e3, ops / sec, note);
}

static ff_status ff__bench_cpu(const ff__gemm_opts *o, ff_rng *rng) {
  ff_ctx ctx;
  ff_status st = ff_ctx_init(&ctx, FF_BACKEND_CPU, 0);
  if (st) return st;
  for (size_t i = 0; i < FF__NSHAPES && !st; i++) {
    const ff__gemm_shape *s = &ff__shapes[i];
    ff__gemm_arg g = {.ctx = &ctx, .bw = o->bw, .s = s};
    g.A = malloc(s->batch * s->M * s->K * sizeof *g.A);
    g.B = malloc(s->batch * s->K * s->N * sizeof *g.B);
    g.C = malloc(s->batch * s->M * s->N * sizeof *g.C);
    double sec = 0;
    if (!g.A || !g.B || !g.C)
      st = FF_ENOMEM;
    else if (!(st = ff_rng_bytes(rng, g.A, s->batch * s->M * s->K * sizeof *g.A)) &&
             !(st = ff_rng_bytes(rng, g.B, s->batch * s->K * s->N * sizeof *g.B)) &&
             !(st = ff__time(&g, o->reps < 3 ? o->reps : 3, 1, &sec)))
      ff__row(s, "cpu (1 core)", sec, "");
    free(g.A);
    free(g.B);
    free(g.C);
  }
  ff_ctx_destroy(&ctx);
  return st;
}

static ff_status ff__bench_gpu(const ff__gemm_opts *o, ff_rng *rng) {
  static const ff_gemm_algo algos[] = {FF_GEMM_SIMT, FF_GEMM_INT8_LIMBS, FF_GEMM_AUTO};
  ff_ctx ctx;
  ff_status st = ff_ctx_init(&ctx, FF_BACKEND_CUDA, 0);
  if (st) return st;
  for (size_t i = 0; i < FF__NSHAPES && !st; i++) {
    const ff__gemm_shape *s = &ff__shapes[i];
    const size_t na = s->batch * s->M * s->K, nb = s->batch * s->K * s->N, nc = s->batch * s->M * s->N;
    uint64_t *hA = malloc(na * sizeof *hA), *hB = malloc(nb * sizeof *hB);
    uint64_t *out[2] = {malloc(nc * sizeof(uint64_t)), malloc(nc * sizeof(uint64_t))};
    ff__gemm_arg g = {.ctx = &ctx, .bw = o->bw, .s = s};
    if (!hA || !hB || !out[0] || !out[1]) st = FF_ENOMEM;
    if (!st) st = ff_rng_bytes(rng, hA, na * sizeof *hA);
    if (!st) st = ff_rng_bytes(rng, hB, nb * sizeof *hB);
    if (!st) st = ff_cuda_malloc((void **)&g.A, na * sizeof *g.A);
    if (!st) st = ff_cuda_malloc((void **)&g.B, nb * sizeof *g.B);
    if (!st) st = ff_cuda_malloc((void **)&g.C, nc * sizeof *g.C);
    if (!st) st = ff_cuda_copy_to_device(g.A, hA, na * sizeof *hA);
    if (!st) st = ff_cuda_copy_to_device(g.B, hB, nb * sizeof *hB);
    for (size_t a = 0; a < sizeof algos / sizeof algos[0] && !st; a++) {
      g.algo = algos[a];
      double sec = 0;
      if ((st = ff__time(&g, o->reps, o->inner, &sec))) break;
      const char *note = "";
      if (a < 2) { /* keep SIMT's and the limbs' outputs of the last call, and compare them */
        if ((st = ff_cuda_copy_to_host(out[a], g.C, nc * sizeof(uint64_t)))) break;
        if (a == 1) note = memcmp(out[0], out[1], nc * sizeof(uint64_t)) == 0 ? "equal to simt" : "DIFFERS FROM SIMT";
      }
      char on[32];
      snprintf(on, sizeof on, "cuda %s", ff_gemm_algo_name(g.algo));
      ff__row(s, on, sec, note);
    }
    ff_cuda_free(g.A);
    ff_cuda_free(g.B);
    ff_cuda_free(g.C);
    free(hA);
    free(hB);
    free(out[0]);
    free(out[1]);
  }
  ff_ctx_destroy(&ctx);
  return st;
}

int ff_cmd_bench_gemm(int argc, char **argv) {
  const char *cmd = "bench gemm";
  ff__gemm_opts o = {.reps = 7, .bw = 50, .cpu = 1, .gpu = -1, .inner = 10};
  static const struct option opts[] = {{"backend", required_argument, 0, 'b'}, {"bits", required_argument, 0, 'n'},
                                       {"reps", required_argument, 0, 'r'},    {"inner", required_argument, 0, 'i'},
                                       {"help", no_argument, 0, 'h'},          {0, 0, 0, 0}};
  optind = 1;
  opterr = 0;
  int c;
  long long v;
  while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
    switch (c) {
      case 'h': ff__usage(stdout); return FF_EXIT_OK;
      case 'b':
        if (ff_parse_backends(optarg, &o.cpu, &o.gpu))
          return ff_cli_usage_error(cmd, "--backend must be cpu, cuda or all, not '%s'", optarg);
        break;
      case 'n':
        if (ff_parse_int(optarg, 1, 64, &v)) return ff_cli_usage_error(cmd, "--bits must be 1..64, not '%s'", optarg);
        o.bw = (int)v;
        break;
      case 'r':
        if (ff_parse_int(optarg, 1, 1000, &v)) return ff_cli_usage_error(cmd, "--reps must be 1..1000, not '%s'", optarg);
        o.reps = (int)v;
        break;
      case 'i':
        if (ff_parse_int(optarg, 1, 1000, &v)) return ff_cli_usage_error(cmd, "--inner must be 1..1000, not '%s'", optarg);
        o.inner = (int)v;
        break;
      case ':': return ff_cli_usage_error(cmd, "option '%s' needs a value", argv[optind - 1]);
      default: return ff_cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
    }
  }
  if (optind < argc) return ff_cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
  int have_gpu = ff_cuda_device_count() > 0;
  if (o.gpu == 1 && !have_gpu) return ff_cli_fail(cmd, "--backend cuda: no CUDA device is visible (or this build has no CUDA)");
  if (o.gpu < 0) o.gpu = have_gpu;

  char dev[256] = "";
  printf("fusefss bench gemm: C = A*B mod 2^%d, shapes batch x M x K x N; median of %d repetitions (CPU: one core,\n"
         "at most 3); GPU: %d calls per repetition, one stream sync; ring ops/s = 2*batch*M*N*K / time\n",
         o.bw, o.reps, o.inner);
  if (o.gpu && ff_cuda_device_name(dev, sizeof dev) == FF_OK) printf("GPU: %s\n", dev);
  printf("\n| %-22s | %-18s | %-16s | %10s | %10s | %s\n", "product", "shape", "on", "ms/call", "ops/s", "check");
  printf("|:-----------------------|:-------------------|:-----------------|-----------:|-----------:|:------\n");
  ff_rng rng;
  ff_rng_init_seeded(&rng, 2024);
  if (o.cpu) {
    ff_status st = ff__bench_cpu(&o, &rng);
    if (st) return ff_cli_fail(cmd, "the CPU measurements failed: %s", ff_strerror(st));
  }
  if (o.gpu) {
    ff_status st = ff__bench_gpu(&o, &rng);
    if (st) return ff_cli_fail(cmd, "the CUDA measurements failed: %s", ff_strerror(st));
  }
  return FF_EXIT_OK;
}
