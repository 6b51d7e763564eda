/* The suf specifications, the template cache and the knobs (research/suf_spec.md, suf.md §4.1): each
 * function's window, thresholds, helper bits and table, compiled once per parameter set. Test:
 * tests/test_suf.c. */
#include "gates/suf/spec.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "core/ring.h"
#include "gates/suf/sparse.h"

/* ---- The functions ------------------------------------------------------------------------------------- */

static long double ff__gelu(long double x) { return 0.5L * x * (1.0L + erfl(x / sqrtl(2.0L))); }
static long double ff__silu(long double x) { return x / (1.0L + expl(-x)); }

static long double ff__f(ff_suf_fn fn, long double x) {
  switch (fn) {
  case FF_SUF_GELU: return ff__gelu(x);
  case FF_SUF_SILU: return ff__silu(x);
  case FF_SUF_NEXP: return expl(-x);
  default: return 0;
  }
}

double ff_suf_float(ff_suf_fn fn, double x) { return (double)ff__f(fn, x); }

/* What the table holds: f minus the base term. */
static long double ff__residual(const ff_suf_spec *sp, long double x) {
  const long double f = ff__f(sp->fn, x);
  return sp->base == FF_SUF_BASE_RELU ? f - (x > 0 ? x : 0) : f;
}

static const char *const ff__fn_names[FF_SUF_NFN] = {"GELU", "SiLU", "nExp"};

/* The window of each function in bits of ulps (w_hi - w_lo = 2^bits) and its low end. */
static int ff__window_bits(ff_suf_fn fn, int scale) { return fn == FF_SUF_GELU ? scale + 3 : scale + (fn == FF_SUF_SILU ? 5 : 4); }
static int64_t ff__window_lo(ff_suf_fn fn, int scale) {
  return fn == FF_SUF_NEXP ? 0 : -((int64_t)1 << (ff__window_bits(fn, scale) - 1));
}

/* ---- Compile ------------------------------------------------------------------------------------------- */

static ff_status ff__compile(ff_suf_fn fn, int bw_in, int bw, int scale, int e, int k, ff_suf_spec *sp) {
  memset(sp, 0, sizeof *sp);
  if ((int)fn < 0 || fn >= FF_SUF_NFN) {
    FF_ERROR("suf: unknown function %d", (int)fn);
    return FF_EINVAL;
  }
  const int wb = ff__window_bits(fn, scale);
  sp->fn = fn;
  sp->name = ff__fn_names[fn];
  sp->bw_in = bw_in;
  sp->bw = bw;
  sp->scale = scale;
  sp->e = e;
  sp->k = k;
  sp->s = wb - k;
  sp->kl = k < 8 ? 8 : k;
  sp->base = fn == FF_SUF_NEXP ? FF_SUF_BASE_NONE : FF_SUF_BASE_RELU;
  sp->is_signed = fn != FF_SUF_NEXP;
  sp->w_lo = ff__window_lo(fn, scale);
  sp->w_hi = sp->w_lo + ((int64_t)1 << wb);
  if (bw_in < 9 || bw_in > 63 || bw < 2 || bw > 64 || scale < 1 || scale > 24 || k < 5 || k > 16 || sp->s < 0 ||
      e < 8 || e > bw_in || sp->kl > bw_in - sp->s || wb >= e || (sp->base == FF_SUF_BASE_RELU && bw_in != bw)) {
    FF_ERROR("suf %s: parameters do not fit (input ring %d, output ring %d, scale %d, view e = %d, k = %d: "
             "needs 5 <= k <= %d (window %d bits), %d < e <= input ring%s)",
             sp->name, bw_in, bw, scale, e, k, wb, wb, wb, sp->base == FF_SUF_BASE_RELU ? ", input ring = output ring" : "");
    return FF_EINVAL;
  }
  sp->degree = 0;
  if (sp->is_signed) {
    const uint64_t h = UINT64_C(1) << (e - 1);
    sp->off = h;
    sp->n_thr = 3; /* x < w_lo, x < 0, x < w_hi */
    sp->thr[0] = h + (uint64_t)sp->w_lo;
    sp->thr[1] = h;
    sp->thr[2] = h + (uint64_t)sp->w_hi;
    sp->helpers[0] = (ff_suf_helper){0x2, 1}; /* d = [x >= 0] = 1 ^ [x < 0] */
    sp->helpers[1] = (ff_suf_helper){0x5, 0}; /* omega = [x < w_hi] ^ [x < w_lo] */
    sp->d_helper = 0;
    sp->w_helper = 1;
    sp->n_help = 2;
  } else {
    sp->off = 0;
    sp->n_thr = 1; /* x < w_hi (w_lo = 0: every legal input is >= 0) */
    sp->thr[0] = (uint64_t)sp->w_hi;
    sp->helpers[0] = (ff_suf_helper){0x1, 0};
    sp->d_helper = -1;
    sp->w_helper = 0;
    sp->n_help = 1;
  }
  if (sp->s > 0) sp->n_help++; /* the bucket carry */
  /* The table at the bucket midpoints, in long double, rounded to nearest. */
  const size_t K = (size_t)1 << k, KL = (size_t)1 << sp->kl;
  const long double ulp = ldexpl(1.0L, -scale), bucket = ldexpl(1.0L, sp->s - scale);
  if (!(sp->tab = calloc(KL, sizeof *sp->tab))) {
    FF_ERROR("suf %s: cannot allocate a table of %zu entries", sp->name, KL);
    return FF_ENOMEM;
  }
  long double lip = 0;
  for (size_t i = 0; i < K; i++) {
    const long double lo = (long double)sp->w_lo * ulp + (long double)i * bucket;
    sp->tab[i] = ff_ring_from_signed((int64_t)llroundl(ldexpl(ff__residual(sp, lo + bucket / 2), scale)), bw);
    /* max |g'| from 64 secants per bucket (the residuals are smooth inside the window; ReLU's kink is
       in the base term). */
    for (int q = 0; q < 64; q++) {
      const long double a = lo + bucket * q / 64, b = lo + bucket * (q + 1) / 64;
      const long double sl = fabsl(ff__residual(sp, b) - ff__residual(sp, a)) / (b - a);
      if (sl > lip) lip = sl;
    }
  }
  sp->lipschitz = (double)(lip * 1.01L);
  /* The tails: |f - base| on a geometric sweep from the window's ends to the legal range's. */
  long double tail = 0;
  const long double lo_end = sp->is_signed ? -ldexpl(1.0L, e - 1 - scale) : 0, hi_end = ldexpl(1.0L, e - 1 - scale + !sp->is_signed);
  for (int side = 0; side < 2; side++) {
    const long double start = side ? (long double)sp->w_hi * ulp : (long double)sp->w_lo * ulp - ulp;
    const long double end = side ? hi_end : lo_end;
    if ((side && start >= end) || (!side && start <= end)) continue;
    for (int q = 0; q <= 400; q++) {
      const long double t = start + (end - start) * (q < 200 ? (long double)q / 20000 : powl((long double)q / 400, 8));
      const long double g = fabsl(ff__residual(sp, t));
      if (g > tail) tail = g;
    }
  }
  sp->tail = (double)tail;
  const double inside = sp->lipschitz * (double)ldexpl(1.0L, sp->s - scale - 1) + ldexp(1.0, -(scale + 1));
  sp->err_bound = inside > sp->tail ? inside : sp->tail;
  return FF_OK;
}

/* ---- The template cache ---------------------------------------------------------------------------------- */

#define FF__SUF_CACHE_MAX 64

static pthread_mutex_t ff__cache_lock = PTHREAD_MUTEX_INITIALIZER;
static ff_suf_spec ff__cache[FF__SUF_CACHE_MAX];
static int ff__cache_n;

const ff_suf_spec *ff_suf_spec_get(ff_suf_fn fn, int bw_in, int bw, int scale, int e, int k) {
  const ff_suf_spec *out = NULL;
  pthread_mutex_lock(&ff__cache_lock);
  for (int i = 0; i < ff__cache_n && !out; i++) {
    const ff_suf_spec *c = &ff__cache[i];
    if (c->fn == fn && c->bw_in == bw_in && c->bw == bw && c->scale == scale && c->e == e && c->k == k) out = c;
  }
  if (!out) {
    if (ff__cache_n == FF__SUF_CACHE_MAX) {
      FF_ERROR("suf: the template cache is full (%d specifications)", FF__SUF_CACHE_MAX);
    } else if (!ff__compile(fn, bw_in, bw, scale, e, k, &ff__cache[ff__cache_n])) {
      out = &ff__cache[ff__cache_n++];
    } else {
      free(ff__cache[ff__cache_n].tab);
    }
  }
  pthread_mutex_unlock(&ff__cache_lock);
  return out;
}

int ff_suf_spec_cache_size(void) {
  pthread_mutex_lock(&ff__cache_lock);
  const int n = ff__cache_n;
  pthread_mutex_unlock(&ff__cache_lock);
  return n;
}

/* ---- Emulation ------------------------------------------------------------------------------------------- */

double ff_suf_input_real(const ff_suf_spec *sp, uint64_t x) {
  x = ff_ring_reduce(x, sp->bw_in);
  return ldexp(sp->is_signed ? (double)ff_ring_signed(x, sp->bw_in) : (double)x, -sp->scale);
}

void ff_suf_emulate(const ff_suf_spec *sp, size_t N, const uint64_t *x, uint64_t *y) {
  const uint64_t em = ff_ring_mask(sp->e);
  for (size_t i = 0; i < N; i++) {
    const uint64_t xi = ff_ring_reduce(x[i], sp->bw_in), v = (xi + sp->off) & em;
    uint32_t cmp = 0;
    for (int t = 0; t < sp->n_thr; t++) cmp |= (uint32_t)(v < sp->thr[t]) << t;
    uint64_t help[FF_SUF_MAX_HELP] = {0};
    for (int h = 0; h < sp->n_help - (sp->s > 0); h++)
      help[h] = ((uint64_t)__builtin_parity(cmp & sp->helpers[h].cmp_mask) ^ sp->helpers[h].constant) & 1;
    const uint64_t a = ff_ring_reduce(xi - (uint64_t)sp->w_lo, sp->bw_in);
    const uint64_t idx = (a >> sp->s) & ff_ring_mask(sp->kl);
    uint64_t out = help[sp->w_helper] * sp->tab[idx];
    if (sp->base == FF_SUF_BASE_RELU) out += help[sp->d_helper] * xi;
    y[i] = ff_ring_reduce(out, sp->bw);
  }
}

/* ---- Knobs ----------------------------------------------------------------------------------------------- */

typedef struct {
  const char *name; /* without the SUF_ prefix */
  size_t off;
  int lo, hi;
  const char *what;
} ff__knob;

static const ff__knob ff__knobs[] = {
    {"ACTIVATION", offsetof(ff_suf_config, activation), 0, 1, "GELU/SiLU by suf (0/1)"},
    {"SOFTMAX", offsetof(ff_suf_config, softmax), 0, 1, "softmax's nExp and reciprocal by suf (0/1)"},
    {"LAYERNORM", offsetof(ff_suf_config, layernorm), 0, 1, "LayerNorm/RMSNorm's rsqrt by suf (0/1)"},
    {"GELU_INTERVALS", offsetof(ff_suf_config, gelu_intervals), 2, 65536,
     "GELU window pieces: 2..16 sparse, a power of two >= 32 dense"},
    {"SILU_INTERVALS", offsetof(ff_suf_config, silu_intervals), 2, 65536,
     "SiLU window pieces: 2..16 sparse, a power of two >= 32 dense"},
    {"NEXP_BITS", offsetof(ff_suf_config, nexp_bits), 5, 16, "nExp table bits"},
    {"INV_BITS", offsetof(ff_suf_config, inv_bits), 0, 16, "reciprocal table bits (0: ceil(log2 L) + 6)"},
    {"RSQRT_BITS", offsetof(ff_suf_config, rsqrt_bits), 8, 16, "rsqrt table bits (6 exponent + mantissa)"},
    {"DEGREE", offsetof(ff_suf_config, degree), 0, 1, "sparse pieces' degree (the dense regime is 0)"},
    {"EFFECTIVE_BITS", offsetof(ff_suf_config, effective_bits), 0, 64, "view width e (0: bw - scale)"},
};
#define FF__NKNOBS (sizeof ff__knobs / sizeof ff__knobs[0])

void ff_suf_config_default(ff_suf_config *c) {
  *c = (ff_suf_config){.activation = 1, .softmax = 1, .layernorm = 1, .gelu_intervals = 256, .silu_intervals = 1024,
                       .nexp_bits = 10, .inv_bits = 0, .rsqrt_bits = 13, .degree = 0, .effective_bits = 0,
                       .insecure_no_padding = 0};
}

void ff_suf_config_off(ff_suf_config *c) {
  ff_suf_config_default(c);
  c->activation = c->softmax = c->layernorm = 0;
}

static const ff__knob *ff__knob_find(const char *name, size_t len) {
  if (len > 4 && strncasecmp(name, "SUF_", 4) == 0) name += 4, len -= 4;
  else if (len > 8 && strncasecmp(name, "FUSEFSS_", 8) == 0) name += 8, len -= 8;
  for (size_t i = 0; i < FF__NKNOBS; i++)
    if (strlen(ff__knobs[i].name) == len && strncasecmp(ff__knobs[i].name, name, len) == 0) return &ff__knobs[i];
  return NULL;
}

static void ff__knob_list(void) {
  for (size_t i = 0; i < FF__NKNOBS; i++)
    FF_ERROR("  SUF_%-15s %d..%d  %s", ff__knobs[i].name, ff__knobs[i].lo, ff__knobs[i].hi, ff__knobs[i].what);
}

static ff_status ff__knob_set(ff_suf_config *c, const ff__knob *kn, const char *val, const char *src) {
  char *end;
  errno = 0;
  const long v = strtol(val, &end, 10);
  if (!*val || *end || errno || v < kn->lo || v > kn->hi) {
    FF_ERROR("%s: SUF_%s wants an integer in %d..%d (%s), got '%s'", src, kn->name, kn->lo, kn->hi, kn->what, val);
    return FF_EINVAL;
  }
  *(int *)((char *)c + kn->off) = (int)v;
  return FF_OK;
}

ff_status ff_suf_config_set(ff_suf_config *c, const char *assignment) {
  const char *eq = assignment ? strchr(assignment, '=') : NULL;
  const ff__knob *kn = eq ? ff__knob_find(assignment, (size_t)(eq - assignment)) : NULL;
  if (!kn) {
    FF_ERROR("--suf: '%s' is not NAME=VALUE with a known knob; the knobs are:", assignment ? assignment : "(null)");
    ff__knob_list();
    return FF_EINVAL;
  }
  return ff__knob_set(c, kn, eq + 1, "--suf");
}

ff_status ff_suf_config_from_env(ff_suf_config *c) {
  for (int pass = 0; pass < 2; pass++)
    for (size_t i = 0; i < FF__NKNOBS; i++) {
      char name[48];
      snprintf(name, sizeof name, "%s%s", pass ? "SUF_" : "FUSEFSS_", ff__knobs[i].name);
      const char *v = getenv(name);
      if (v && ff__knob_set(c, &ff__knobs[i], v, name)) return FF_EINVAL;
    }
  return FF_OK;
}

int ff_suf_config_e(const ff_suf_config *c, int bw, int scale) { return c->effective_bits ? c->effective_bits : bw - scale; }

static int ff__log2_exact(int v) {
  if (v <= 0 || (v & (v - 1))) return -1;
  return __builtin_ctz((unsigned)v);
}

int ff_suf_config_sparse(const ff_suf_config *c, ff_suf_fn fn) {
  if (!c || fn == FF_SUF_NEXP) return 0;
  return (fn == FF_SUF_GELU ? c->gelu_intervals : c->silu_intervals) <= FF_SUF_SPARSE_WINDOW_MAX;
}

/* One activation's intervals: the sparse regime (2..16, its specification built to be sure it fits) or
 * the dense one (a power of two from 32 to the window's ulps, at most 2^16). */
static ff_status ff__check_intervals(const ff_suf_config *c, ff_suf_fn fn, int bw, int scale) {
  const char *name = fn == FF_SUF_GELU ? "GELU" : "SiLU", *knob = fn == FF_SUF_GELU ? "GELU" : "SILU";
  const int v = fn == FF_SUF_GELU ? c->gelu_intervals : c->silu_intervals;
  const int wb = ff__window_bits(fn, scale), kmax = wb < 16 ? wb : 16, k = ff__log2_exact(v);
  if (ff_suf_config_sparse(c, fn)) {
    if (v < 2) {
      FF_ERROR("suf: SUF_%s_INTERVALS %d: the sparse regime wants 2..%d window pieces", knob, v, FF_SUF_SPARSE_WINDOW_MAX);
      return FF_EINVAL;
    }
    const ff_suf_sparse_spec *sp = ff_suf_sparse_spec_for(fn, c, bw, scale);
    if (!sp) {
      FF_ERROR("suf: the sparse %s (SUF_%s_INTERVALS %d, SUF_DEGREE %d, view %d bits) does not fit bw %d, scale %d "
               "(above)", name, knob, v, c->degree, ff_suf_config_e(c, bw, scale), bw, scale);
      return FF_EINVAL;
    }
    return FF_OK;
  }
  if (k < 5 || k > kmax) {
    FF_ERROR("suf: SUF_%s_INTERVALS %d is neither 2..%d (sparse) nor a power of two from 32 to 2^%d (dense; the %s "
             "window has 2^%d ulps at scale %d)",
             knob, v, FF_SUF_SPARSE_WINDOW_MAX, kmax, name, wb, scale);
    return FF_EINVAL;
  }
  return FF_OK;
}

ff_status ff_suf_config_check(const ff_suf_config *c, int bw, int scale) {
  const int e = ff_suf_config_e(c, bw, scale);
  const int sparse = c->activation && (ff_suf_config_sparse(c, FF_SUF_GELU) || ff_suf_config_sparse(c, FF_SUF_SILU));
  if (c->degree && !sparse) {
    FF_ERROR("suf: SUF_DEGREE %d applies to the sparse regime only (SUF_ACTIVATION=1 with SUF_GELU_INTERVALS or "
             "SUF_SILU_INTERVALS at most %d); the dense regime's pieces are degree 0 (its residual table)",
             c->degree, FF_SUF_SPARSE_WINDOW_MAX);
    return FF_EINVAL;
  }
  if (c->insecure_no_padding && !sparse) {
    FF_ERROR("suf: --insecure-no-padding applies to the sparse regime only (SUF_ACTIVATION=1 with SUF_GELU_INTERVALS "
             "or SUF_SILU_INTERVALS at most %d)",
             FF_SUF_SPARSE_WINDOW_MAX);
    return FF_EINVAL;
  }
  if (c->activation && (ff__check_intervals(c, FF_SUF_GELU, bw, scale) || ff__check_intervals(c, FF_SUF_SILU, bw, scale)))
    return FF_EINVAL;
  if (c->softmax && c->nexp_bits > ff__window_bits(FF_SUF_NEXP, scale)) {
    FF_ERROR("suf: SUF_NEXP_BITS %d exceeds the nExp window's %d bits", c->nexp_bits, ff__window_bits(FF_SUF_NEXP, scale));
    return FF_EINVAL;
  }
  if (c->inv_bits && c->inv_bits < 8) {
    FF_ERROR("suf: SUF_INV_BITS must be 0 (ceil(log2 L) + 6) or 8..16, got %d", c->inv_bits);
    return FF_EINVAL;
  }
  const int wmax = ff__window_bits(FF_SUF_SILU, scale);
  if ((c->activation || c->softmax) && (e <= wmax || e > bw)) {
    FF_ERROR("suf: SUF_EFFECTIVE_BITS %d must lie in %d..%d (above the widest window, at most the ring)", e, wmax + 1, bw);
    return FF_EINVAL;
  }
  return FF_OK;
}

size_t ff_suf_config_json(const ff_suf_config *c, char *buf, size_t cap) {
  size_t n = 0;
  for (size_t i = 0; i < FF__NKNOBS; i++) {
    const int v = *(const int *)((const char *)c + ff__knobs[i].off);
    const int w = snprintf(buf && n < cap ? buf + n : NULL, buf && n < cap ? cap - n : 0, "%s\"SUF_%s\":%d",
                           i ? "," : "{", ff__knobs[i].name, v);
    if (w > 0) n += (size_t)w;
  }
  if (c->insecure_no_padding) { /* only when set: key files and logs of secure runs keep their form */
    const int w = snprintf(buf && n < cap ? buf + n : NULL, buf && n < cap ? cap - n : 0, ",\"insecure_no_padding\":1");
    if (w > 0) n += (size_t)w;
  }
  if (buf && n < cap) snprintf(buf + n, cap - n, "}");
  return n + 1; /* snprintf kept buf NUL-terminated (truncated when cap is short) */
}
