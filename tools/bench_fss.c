/* `fusefss bench fss`: throughput of the FSS primitives (gates/fss) on the CPU (one core) and on the
 * GPU, each next to its ceiling: the measured AES rate of the same backend divided by the AES calls
 * the primitive needs (n-7 per comparison, 2(2^(b-7) - 1) per full-domain evaluation or lookup,
 * 4(n-7) per keygen). Medians over repetitions; nothing here is asserted by tests. Results: docs/results.md. */
#include "tools/bench_fss.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ctx.h"
#include "core/cuda.h"
#include "core/log.h"
#include "core/time.h"
#include "gates/fss/dpf.h"
#include "gates/fss/lut.h"
#include "gates/fss/prg.h"
#include "tools/cli.h"
#include "tools/lib/analysis.h"

typedef struct {
  int reps;
  size_t n_cpu, n_gpu; /* elements per call */
  int bits;            /* comparison domain */
  int cpu, gpu;
} ff__fss_opts;

static void ff__usage(FILE *f) {
  fprintf(f,
          "usage: fusefss bench fss [options]\n"
          "\n"
          "Throughput of the FSS primitives on the CPU (one core) and the GPU: AES-128 blocks/s,\n"
          "DPF keygen and comparisons/s at n bits, full-domain evaluations/s at 8, 10 and 13 bits,\n"
          "each with its share of the ceiling implied by the measured AES rate of that backend.\n"
          "\n"
          "options:\n"
          "  --backend cpu|cuda|all   what to measure (default all that this machine has)\n"
          "  --bits N                 comparison domain in bits, 8..64 (default 50, SIGMA's bert-base width)\n"
          "  --elems N                elements per call on the CPU (default 16384); the GPU uses 64x that\n"
          "  --reps N                 repetitions, median reported (default 7)\n"
          "  -h, --help               this help\n");
}

/* One measured primitive: rate in `unit`/s, and its ceiling when one applies (0: none). */
static void ff__row(const char *what, const char *backend, double rate, const char *unit, double ceiling) {
  if (ceiling > 0)
    printf("| %-34s | %-4s | %14.4g | %-12s | %14.4g | %5.1f%% |\n", what, backend, rate, unit, ceiling,
           100.0 * rate / ceiling);
  else
    printf("| %-34s | %-4s | %14.4g | %-12s | %14s | %6s |\n", what, backend, rate, unit, "-", "-");
}

typedef ff_status (*ff__bench_fn)(void *arg);

/* Median seconds of fn over reps runs (plus one discarded warm-up); on CUDA each run ends with a
 * stream synchronisation so that the time covers the work, not just its launch. */
static ff_status ff__time(ff_ctx *ctx, ff__bench_fn fn, void *arg, int reps, double *sec) {
  double *t = calloc((size_t)reps, sizeof *t);
  if (!t) return FF_ENOMEM;
  ff_status st = FF_OK;
  for (int r = -1; r < reps && !st; r++) {
    uint64_t t0 = ff_now_ns();
    st = fn(arg);
    if (!st && ctx->stream) st = ff_cuda_stream_sync(ctx->stream);
    if (r >= 0) t[r] = (double)(ff_now_ns() - t0) / 1e9;
  }
  if (!st) *sec = ff_stats_median(t, (size_t)reps);
  free(t);
  return st;
}

typedef struct {
  ff_ctx *ctx;
  ff_block *in, *out;
  size_t n;
  int portable;
} ff__aes_arg;

static ff_status ff__aes(void *a) {
  ff__aes_arg *x = a;
  if (x->ctx->backend == FF_BACKEND_CUDA) return ff_aes128_encrypt_blocks_cuda(x->ctx, ff_prg_key(0), x->in, x->out, x->n);
  if (x->portable)
    ff__aes128_encrypt_blocks_portable(ff_prg_key(0), x->in, x->out, x->n);
  else
    ff_aes128_encrypt_blocks(ff_prg_key(0), x->in, x->out, x->n);
  return FF_OK;
}

typedef struct {
  ff_ctx *ctx;
  ff_lut_key k;
  uint64_t *xhat, *tab, *u, *v; /* backend memory */
} ff__lut_arg;

static ff_status ff__lut(void *a) {
  ff__lut_arg *l = a;
  return ff_lut_eval_local(l->ctx, &l->k, l->xhat, l->tab, l->u, l->v);
}

typedef struct {
  ff_ctx *ctx;
  ff_dpf_key k0, k1;
  uint64_t *alpha, *x; /* backend memory */
  uint8_t *out;        /* backend memory */
  size_t E;
  int kind;            /* 0 keygen, 1 eval_lt, 2 eval_all */
} ff__dpf_arg;

static ff_status ff__dpf(void *a) {
  ff__dpf_arg *d = a;
  switch (d->kind) {
    case 0: return ff_dpf_keygen(d->ctx, d->alpha, &d->k0, &d->k1);
    case 1: return ff_dpf_eval_lt(d->ctx, &d->k0, d->E, d->x, d->out);
    default: return ff_dpf_eval_all(d->ctx, &d->k0, d->out);
  }
}

/* Memory of the context's backend. */
static ff_status ff__alloc(ff_ctx *ctx, void **p, size_t n) {
  if (ctx->backend == FF_BACKEND_CUDA) return ff_cuda_malloc(p, n);
  *p = calloc(1, n ? n : 1);
  return *p ? FF_OK : FF_ENOMEM;
}
static void ff__free(ff_ctx *ctx, void *p) {
  if (ctx->backend == FF_BACKEND_CUDA)
    ff_cuda_free(p);
  else
    free(p);
}
static ff_status ff__upload(ff_ctx *ctx, void *dst, const void *src, size_t n) {
  if (ctx->backend == FF_BACKEND_CUDA) return ff_cuda_copy_to_device(dst, src, n);
  memcpy(dst, src, n);
  return FF_OK;
}

/* Runs every measurement on one backend; returns FF_OK or the first failure. */
static ff_status ff__bench_backend(ff_ctx *ctx, const ff__fss_opts *o) {
  const char *be = ff_backend_name(ctx->backend);
  size_t N = ctx->backend == FF_BACKEND_CUDA ? o->n_gpu : o->n_cpu;
  ff_status st;
  double sec;

  /* AES: the rate every other ceiling is derived from. */
  size_t nb = ctx->backend == FF_BACKEND_CUDA ? (size_t)1 << 24 : (size_t)1 << 18;
  ff__aes_arg aa = {.ctx = ctx, .n = nb};
  if ((st = ff__alloc(ctx, (void **)&aa.in, nb * sizeof(ff_block)))) return st;
  if ((st = ff__alloc(ctx, (void **)&aa.out, nb * sizeof(ff_block)))) return st;
  if ((st = ff__time(ctx, ff__aes, &aa, o->reps, &sec))) return st;
  double aes = (double)nb / sec;
  ff__row(ctx->backend == FF_BACKEND_CUDA ? "AES-128 (table AES, shared memory)" : "AES-128 (AES-NI)", be, aes,
          "blocks/s", 0);
  if (ctx->backend == FF_BACKEND_CPU) {
    aa.portable = 1;
    if ((st = ff__time(ctx, ff__aes, &aa, o->reps, &sec))) return st;
    ff__row("AES-128 (portable table AES)", be, (double)nb / sec, "blocks/s", 0);
  }
  ff__free(ctx, aa.in);
  ff__free(ctx, aa.out);

  /* DPF keygen and comparisons at o->bits, then full-domain evaluations at 8, 10, 13 bits. */
  ff_rng rng;
  ff_rng_init_seeded(&rng, 7);
  uint64_t *h = malloc(4 * N * sizeof *h); /* alphas (N), then points (3N) */
  if (!h) return FF_ENOMEM;
  (void)ff_rng_bytes(&rng, h, 4 * N * sizeof *h);
  const int bits[] = {o->bits, 8, 10, 13};
  for (int bi = 0; bi < 4; bi++) {
    int n = bits[bi];
    size_t Nn = bi == 0 ? N : N / (size_t)(1 << (n - 8 > 4 ? 4 : n - 8)); /* keep full-domain outputs small */
    ff__dpf_arg d = {.ctx = ctx, .E = 3};
    size_t out_bytes = bi == 0 ? (3 * Nn + 7) / 8 : Nn * ((size_t)1 << (n - 3));
    if ((st = ff_dpf_key_alloc(ctx, &d.k0, n, Nn)) || (st = ff_dpf_key_alloc(ctx, &d.k1, n, Nn))) break;
    if ((st = ff__alloc(ctx, (void **)&d.alpha, Nn * sizeof(uint64_t))) ||
        (st = ff__alloc(ctx, (void **)&d.x, 3 * Nn * sizeof(uint64_t))) || (st = ff__alloc(ctx, (void **)&d.out, out_bytes)))
      break;
    if ((st = ff__upload(ctx, d.alpha, h, Nn * sizeof(uint64_t))) || (st = ff__upload(ctx, d.x, h + N, 3 * Nn * sizeof(uint64_t))))
      break;
    char what[64];
    double L = n - 7;
    if (bi == 0) {
      d.kind = 0;
      if ((st = ff__time(ctx, ff__dpf, &d, o->reps, &sec))) break;
      snprintf(what, sizeof what, "DPF keygen, n=%d (both keys)", n);
      ff__row(what, be, (double)Nn / sec, "keys/s", aes / (4 * L));
      d.kind = 1;
      d.E = 1;
      if ((st = ff__time(ctx, ff__dpf, &d, o->reps, &sec))) break;
      snprintf(what, sizeof what, "DPF comparison 1{x<a}, n=%d, E=1", n);
      ff__row(what, be, (double)Nn / sec, "compares/s", aes / L);
      d.E = 3;
      if ((st = ff__time(ctx, ff__dpf, &d, o->reps, &sec))) break;
      snprintf(what, sizeof what, "DPF comparison 1{x<a}, n=%d, E=3", n);
      ff__row(what, be, 3.0 * (double)Nn / sec, "compares/s", aes / L);
    } else {
      if ((st = ff_dpf_keygen(ctx, d.alpha, &d.k0, &d.k1))) break;
      d.kind = 2;
      if ((st = ff__time(ctx, ff__dpf, &d, o->reps, &sec))) break;
      snprintf(what, sizeof what, "DPF full domain, n=%d", n);
      ff__row(what, be, (double)Nn / sec, "evals/s", aes / (2.0 * ((1 << (n - 7)) - 1)));
    }
    ff_dpf_key_free(&d.k0);
    ff_dpf_key_free(&d.k1);
    ff__free(ctx, d.alpha);
    ff__free(ctx, d.x);
    ff__free(ctx, d.out);
  }

  /* The lookup table's local work (full-domain DPF plus the u and v sums against a public table of
   * 2^b entries, one table, 50-bit outputs): what SIGMA's nExp, reciprocal and rsqrt tables cost. */
  for (int b = 8; b <= 13 && !st; b += b == 8 ? 2 : 3) {
    size_t Nn = N / (size_t)(b == 8 ? 1 : b == 10 ? 4 : 16), T = (size_t)1 << b;
    ff__lut_arg l = {.ctx = ctx};
    ff_lut_key k1;
    memset(&k1, 0, sizeof k1);
    uint64_t *r_out = NULL;
    if ((st = ff_lut_key_alloc(ctx, &l.k, b, 50, 1, Nn)) || (st = ff_lut_key_alloc(ctx, &k1, b, 50, 1, Nn)) ||
        (st = ff__alloc(ctx, (void **)&l.xhat, Nn * sizeof(uint64_t))) ||
        (st = ff__alloc(ctx, (void **)&l.tab, T * sizeof(uint64_t))) ||
        (st = ff__alloc(ctx, (void **)&l.u, Nn * sizeof(uint64_t))) ||
        (st = ff__alloc(ctx, (void **)&l.v, Nn * sizeof(uint64_t))) ||
        (st = ff__alloc(ctx, (void **)&r_out, Nn * sizeof(uint64_t))))
      goto lut_done;
    if ((st = ff__upload(ctx, l.xhat, h, Nn * sizeof(uint64_t))) || (st = ff__upload(ctx, l.tab, h + N, T * sizeof(uint64_t))) ||
        (st = ff_lut_keygen(ctx, l.xhat, &l.k, &k1, r_out)))
      goto lut_done;
    if ((st = ff__time(ctx, ff__lut, &l, o->reps, &sec))) goto lut_done;
    char what[64];
    snprintf(what, sizeof what, "LUT local eval, b=%d, 1 table", b);
    ff__row(what, be, (double)Nn / sec, "lookups/s", aes / (2.0 * ((1 << (b - 7)) - 1)));
  lut_done:
    ff_lut_key_free(&l.k);
    ff_lut_key_free(&k1);
    ff__free(ctx, l.xhat);
    ff__free(ctx, l.tab);
    ff__free(ctx, l.u);
    ff__free(ctx, l.v);
    ff__free(ctx, r_out);
  }
  free(h);
  return st;
}

int ff_cmd_bench_fss(int argc, char **argv) {
  const char *cmd = "bench fss";
  ff__fss_opts o = {.reps = 7, .n_cpu = 16384, .bits = 50, .cpu = 1, .gpu = -1};
  static const struct option opts[] = {{"backend", required_argument, 0, 'b'}, {"bits", required_argument, 0, 'n'},
                                       {"elems", required_argument, 0, 'e'},   {"reps", required_argument, 0, 'r'},
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
        if (ff_parse_int(optarg, FF_DPF_MIN_BITS, FF_DPF_MAX_BITS, &v))
          return ff_cli_usage_error(cmd, "--bits must be %d..%d, not '%s'", FF_DPF_MIN_BITS, FF_DPF_MAX_BITS, optarg);
        o.bits = (int)v;
        break;
      case 'e':
        if (ff_parse_int(optarg, 64, (long long)1 << 24, &v))
          return ff_cli_usage_error(cmd, "--elems must be 64..2^24, not '%s'", optarg);
        o.n_cpu = (size_t)v;
        break;
      case 'r':
        if (ff_parse_int(optarg, 1, 1000, &v)) return ff_cli_usage_error(cmd, "--reps must be 1..1000, not '%s'", optarg);
        o.reps = (int)v;
        break;
      case ':': return ff_cli_usage_error(cmd, "option '%s' needs a value", argv[optind - 1]);
      default: return ff_cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
    }
  }
  if (optind < argc) return ff_cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
  o.n_gpu = o.n_cpu * 64;
  int have_gpu = ff_cuda_device_count() > 0;
  if (o.gpu == 1 && !have_gpu) return ff_cli_fail(cmd, "--backend cuda: no CUDA device is visible (or this build has no CUDA)");
  if (o.gpu < 0) o.gpu = have_gpu;

  char dev[256] = "";
  printf("fusefss bench fss: median of %d repetitions; CPU on one core, %zu elements per call (GPU %zu)\n", o.reps,
         o.n_cpu, o.n_gpu);
  if (o.gpu && ff_cuda_device_name(dev, sizeof dev) == FF_OK) printf("GPU: %s\n", dev);
  printf("ceiling = the backend's measured AES rate / AES calls per operation\n\n");
  printf("| %-34s | %-4s | %14s | %-12s | %14s | %6s |\n", "primitive", "on", "rate", "unit", "ceiling", "share");
  printf("|:-----------------------------------|:-----|---------------:|:-------------|---------------:|-------:|\n");
  for (int b = 0; b < 2; b++) {
    if ((b == 0 && !o.cpu) || (b == 1 && !o.gpu)) continue;
    ff_ctx ctx;
    ff_status st = ff_ctx_init(&ctx, b ? FF_BACKEND_CUDA : FF_BACKEND_CPU, 0);
    if (!st) st = ff__bench_backend(&ctx, &o);
    ff_ctx_destroy(&ctx);
    if (st) return ff_cli_fail(cmd, "the %s measurements failed: %s", b ? "CUDA" : "CPU", ff_strerror(st));
  }
  return FF_EXIT_OK;
}
