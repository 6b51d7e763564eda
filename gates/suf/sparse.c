/* The suf suite's sparse regime, CPU reference (sparse.h has the protocol): specifications and their
 * template cache, the rotated and padded partition, kernels, dealer, party and cost. It runs on the
 * sigma suite's op session (gates/sigma/op_internal.h) and its DCF (gates/fss/dcf.h).
 * Test: tests/test_suf_sparse.c. */
#include "gates/suf/sparse.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "comm/pack.h"
#include "core/log.h"
#include "core/ring.h"
#include "gates/fss/dcf.h"
#include "gates/sigma/op_internal.h"
#include "gates/sigma/truncate.h"
#include "scope/scope.h"

/* ---- Specifications ------------------------------------------------------------------------------------- */

static uint64_t ff__fnv(uint64_t h, uint64_t v) {
  for (int i = 0; i < 8; i++) h = (h ^ ((v >> (8 * i)) & 0xff)) * UINT64_C(0x100000001b3);
  return h;
}

/* Piece i's part of the view as inputs x: [lo, hi] (signed or unsigned as the view reads them). */
static void ff__piece_range(const ff_suf_sparse_spec *sp, int i, __int128 *lo, __int128 *hi) {
  const __int128 end = (__int128)1 << sp->e, start = sp->alpha[i];
  const __int128 stop = i + 1 < sp->K ? (__int128)sp->alpha[i + 1] : end;
  const __int128 off = sp->is_signed ? end / 2 : 0;
  *lo = start - off;
  *hi = stop - 1 - off;
}

ff_status ff_suf_sparse_spec_check(ff_suf_sparse_spec *sp) {
  if (!sp) {
    FF_ERROR("suf sparse: specification is NULL");
    return FF_EINVAL;
  }
  const char *name = sp->name ? sp->name : "custom";
  const int emax = sp->bw_in < 63 ? sp->bw_in : 63;
  if (sp->bw_in < 2 || sp->bw_in > 64 || sp->bw < 2 || sp->bw > 64 || sp->scale < 0 || sp->scale > 62 || sp->e < 1 ||
      sp->e > emax || sp->K < 2 || sp->K > FF_SUF_SPARSE_MAX_PIECES || (sp->e < 6 && (1 << sp->e) <= sp->K) ||
      sp->fb < 0 || sp->fb >= sp->bw || (sp->insecure_no_padding != 0 && sp->insecure_no_padding != 1)) {
    FF_ERROR("suf sparse %s: parameters do not fit (input ring %d, output ring %d, scale %d, view e = %d, K = %d, "
             "fb = %d: needs rings of 2..64 bits, 1 <= e <= min(input ring, 63), 2 <= K <= %d with K < 2^e, "
             "0 <= fb < output ring)",
             name, sp->bw_in, sp->bw, sp->scale, sp->e, sp->K, sp->fb, FF_SUF_SPARSE_MAX_PIECES);
    return FF_EINVAL;
  }
  const uint64_t em = ff_ring_mask(sp->e), m = ff_ring_mask(sp->bw);
  int slopes = 0;
  for (int i = 0; i < sp->K; i++) {
    if ((i == 0 && sp->alpha[0] != 0) || (i > 0 && sp->alpha[i] <= sp->alpha[i - 1]) || sp->alpha[i] > em) {
      FF_ERROR("suf sparse %s: piece starts must rise from alpha_0 = 0 and stay below 2^e (start %d is %llu)", name, i,
               (unsigned long long)sp->alpha[i]);
      return FF_EINVAL;
    }
    if (sp->a[i] > m || sp->b[i] > m) {
      FF_ERROR("suf sparse %s: piece %d's coefficients are not reduced mod 2^%d", name, i, sp->bw);
      return FF_EINVAL;
    }
    slopes |= sp->b[i] != 0;
  }
  if (slopes && sp->bw_in != sp->bw) {
    FF_ERROR("suf sparse %s: a nonzero slope needs the input ring (%d bits) to be the output ring (%d bits): "
             "c1 x^ - b r = b x only mod 2^bw_in", name, sp->bw_in, sp->bw);
    return FF_EINVAL;
  }
  /* With an ARS after it, P_i must not wrap on its part of the view, or floor(P_i / 2^fb) loses its meaning. */
  if (sp->fb > 0) {
    const __int128 lim = (__int128)1 << (sp->bw - 1);
    for (int i = 0; i < sp->K; i++) {
      __int128 lo, hi;
      ff__piece_range(sp, i, &lo, &hi);
      const __int128 a = ff_ring_signed(sp->a[i], sp->bw), b = ff_ring_signed(sp->b[i], sp->bw);
      const __int128 y0 = a + b * lo, y1 = a + b * hi;
      if (y0 < -lim || y0 >= lim || y1 < -lim || y1 >= lim) {
        FF_ERROR("suf sparse %s: piece %d reaches 2^%d on its part of the view: TrFloor by fb = %d would not be "
                 "the ARS of the value (narrow the view e or fb)", name, i, sp->bw - 1, sp->fb);
        return FF_EINVAL;
      }
    }
  }
  sp->name = name;
  sp->off = sp->is_signed ? UINT64_C(1) << (sp->e - 1) : 0;
  sp->p = slopes ? 2 : 1;
  sp->degree = sp->p - 1;
  uint64_t h = UINT64_C(0xcbf29ce484222325);
  h = ff__fnv(h, (uint64_t)sp->K | (uint64_t)sp->fb << 8 | (uint64_t)sp->is_signed << 16);
  for (int i = 0; i < sp->K; i++) h = ff__fnv(ff__fnv(ff__fnv(h, sp->alpha[i]), sp->a[i]), sp->b[i]);
  sp->hash = h;
  return FF_OK;
}

/* ---- The built-ins --------------------------------------------------------------------------------------- */

/* The windows of the dense specifications (spec.c): GELU +-4, SiLU +-16, nExp [0, 16), in bits of ulps. */
static int ff__window_bits(ff_suf_fn fn, int scale) {
  return scale + (fn == FF_SUF_GELU ? 3 : fn == FF_SUF_SILU ? 5 : 4);
}
static const char *const ff__names[FF_SUF_NFN] = {"GELU", "SiLU", "nExp"};

static long double ff__f(ff_suf_fn fn, long double x) { return (long double)ff_suf_float(fn, (double)x); }
/* What the tails hold: 0 below (and above for nExp), x above (GELU, SiLU). */
static long double ff__tail_value(ff_suf_fn fn, long double x) { return fn != FF_SUF_NEXP && x > 0 ? x : 0; }

/* Window piece i of k in ulps: [lo, hi). */
static void ff__window_piece(const ff_suf_sparse_spec *sp, int i, int64_t *lo, int64_t *hi) {
  const int64_t W = sp->w_hi - sp->w_lo;
  *lo = sp->w_lo + (int64_t)((__int128)W * i / sp->k_window);
  *hi = sp->w_lo + (int64_t)((__int128)W * (i + 1) / sp->k_window);
}

#define FF__FIT_SAMPLES 1024
#define FF__BOUND_SAMPLES 4096

/* Piece value (degree 0) or least-squares line (degree 1) on window piece [lo, hi) ulps: A + B x (x in
 * ulps) at scale + fb, B with fb fractional bits, plus 2^(fb-1) so that the ARS rounds to nearest. */
static void ff__fit(const ff_suf_sparse_spec *sp, int degree, int64_t lo, int64_t hi, int64_t *A, int64_t *B) {
  const int f = sp->scale, fb = sp->fb;
  const long double ulp = ldexpl(1.0L, -f), lr = (long double)lo * ulp, hr = (long double)hi * ulp;
  const long double mid = (lr + hr) / 2, mid_ulps = ((long double)lo + (long double)hi) / 2;
  if (degree == 0) {
    *A = llroundl(ldexpl(ff__f(sp->fn, mid), f));
    *B = 0;
    return;
  }
  long double sf = 0, sxf = 0, sxx = 0;
  for (int q = 0; q < FF__FIT_SAMPLES; q++) {
    const long double t = lr + (hr - lr) * ((long double)q + 0.5L) / FF__FIT_SAMPLES, y = ff__f(sp->fn, t);
    sf += y;
    sxf += (t - mid) * y;
    sxx += (t - mid) * (t - mid);
  }
  const long double c = sf / FF__FIT_SAMPLES, slope = sxx > 0 ? sxf / sxx : 0;
  *B = llroundl(ldexpl(slope, fb));
  *A = llroundl(ldexpl(c, f + fb) - (long double)*B * mid_ulps) + (fb ? (int64_t)1 << (fb - 1) : 0);
}

/* The float bounds (ff_suf_sparse_spec's fields): the window's slope, each window piece sampled against f,
 * the tails swept geometrically to the legal range's ends as in spec.c. */
static void ff__bounds(ff_suf_sparse_spec *sp) {
  const int f = sp->scale, fb = sp->fb;
  const long double ulp = ldexpl(1.0L, -f), half = fb ? ldexpl(1.0L, fb - 1) : 0;
  long double lip = 0, inside = 0;
  for (int i = 0; i < sp->k_window; i++) {
    int64_t lo, hi;
    ff__window_piece(sp, i, &lo, &hi);
    const long double lr = (long double)lo * ulp, hr = (long double)hi * ulp;
    for (int q = 0; q < 64; q++) {
      const long double a = lr + (hr - lr) * q / 64, b = lr + (hr - lr) * (q + 1) / 64;
      const long double sl = fabsl(ff__f(sp->fn, b) - ff__f(sp->fn, a)) / (b - a);
      if (sl > lip) lip = sl;
    }
  }
  lip *= 1.01L;
  const int first = sp->is_signed ? 1 : 0; /* the window's first piece */
  for (int i = 0; i < sp->k_window; i++) {
    int64_t lo, hi;
    ff__window_piece(sp, i, &lo, &hi);
    const long double A = (long double)ff_ring_signed(sp->a[first + i], sp->bw) - half;
    const long double B = (long double)ff_ring_signed(sp->b[first + i], sp->bw);
    const long double lr = (long double)lo * ulp, hr = (long double)hi * ulp, h = (hr - lr) / FF__BOUND_SAMPLES;
    long double worst = 0;
    for (int q = 0; q <= FF__BOUND_SAMPLES; q++) {
      const long double t = lr + h * q, L = ldexpl(A + B * ldexpl(t, f), -(f + fb));
      const long double err = fabsl(L - ff__f(sp->fn, t));
      if (err > worst) worst = err;
    }
    worst += (fabsl(B) * ldexpl(1.0L, -fb) + lip) * h / 2;
    if (worst > inside) inside = worst;
  }
  if (fb) inside += ldexpl(1.0L, -(f + 1));
  long double tail = 0;
  const long double lo_end = sp->is_signed ? -ldexpl(1.0L, sp->e - 1 - f) : 0;
  const long double hi_end = ldexpl(1.0L, sp->e - 1 - f + !sp->is_signed);
  for (int side = 0; side < 2; side++) {
    const long double start = side ? (long double)sp->w_hi * ulp : (long double)sp->w_lo * ulp - ulp;
    const long double end = side ? hi_end : lo_end;
    if ((side && start >= end) || (!side && start <= end)) continue;
    for (int q = 0; q <= 400; q++) {
      const long double t = start + (end - start) * (q < 200 ? (long double)q / 20000 : powl((long double)q / 400, 8));
      const long double g = fabsl(ff__f(sp->fn, t) - ff__tail_value(sp->fn, t));
      if (g > tail) tail = g;
    }
  }
  sp->lipschitz = (double)lip;
  sp->err_inside = (double)inside;
  sp->tail = (double)tail;
  sp->err_bound = sp->err_inside > sp->tail ? sp->err_inside : sp->tail;
}

static ff_status ff__compile(const ff_suf_sparse_params *pp, ff_suf_sparse_spec *sp) {
  memset(sp, 0, sizeof *sp);
  if ((int)pp->fn < 0 || pp->fn >= FF_SUF_NFN) {
    FF_ERROR("suf sparse: unknown function %d", (int)pp->fn);
    return FF_EINVAL;
  }
  const ff_suf_fn fn = pp->fn;
  const int wb = ff__window_bits(fn, pp->scale), sgn = fn != FF_SUF_NEXP, kw = pp->k_window;
  if (pp->scale < 1 || pp->scale > 24 || pp->e <= wb || kw < 1 || kw > FF_SUF_SPARSE_MAX_PIECES - 1 - sgn ||
      (wb < 20 && kw > (1 << wb)) || pp->degree < 0 || pp->degree > 1 || pp->fb < 0 || pp->fb > 20 ||
      (pp->degree == 0 && pp->fb != 0) || (sgn && pp->bw_in != pp->bw)) {
    FF_ERROR("suf sparse %s: parameters do not fit (input ring %d, output ring %d, scale %d, view e = %d, %d window "
             "pieces, degree %d, fb %d: needs 1 <= scale <= 24, e > %d (the window's bits), 1 <= window pieces <= %d, "
             "degree 0 with fb 0 or degree 1 with fb <= 20%s)",
             ff__names[fn], pp->bw_in, pp->bw, pp->scale, pp->e, kw, pp->degree, pp->fb, wb,
             FF_SUF_SPARSE_MAX_PIECES - 1 - sgn, sgn ? ", input ring = output ring (the upper tail is x)" : "");
    return FF_EINVAL;
  }
  sp->name = ff__names[fn];
  sp->fn = fn;
  sp->bw_in = pp->bw_in;
  sp->bw = pp->bw;
  sp->scale = pp->scale;
  sp->e = pp->e;
  sp->is_signed = sgn;
  sp->fb = pp->fb;
  sp->insecure_no_padding = pp->insecure_no_padding;
  sp->k_window = kw;
  sp->window_degree = pp->degree;
  sp->w_lo = sgn ? -((int64_t)1 << (wb - 1)) : 0;
  sp->w_hi = sp->w_lo + ((int64_t)1 << wb);
  const uint64_t off = sgn ? UINT64_C(1) << (pp->e - 1) : 0;
  int K = 0;
  if (sgn) { /* the lower tail: 0 */
    sp->alpha[K] = 0;
    sp->a[K] = sp->b[K] = 0;
    K++;
  }
  for (int i = 0; i < kw; i++, K++) {
    int64_t lo, hi, A, B;
    ff__window_piece(sp, i, &lo, &hi);
    if (hi <= lo) {
      FF_ERROR("suf sparse %s: %d window pieces are narrower than one ulp", sp->name, kw);
      return FF_EINVAL;
    }
    ff__fit(sp, pp->degree, lo, hi, &A, &B);
    sp->alpha[K] = (off + (uint64_t)lo) & ff_ring_mask(pp->e);
    sp->a[K] = ff_ring_from_signed(A, pp->bw);
    sp->b[K] = ff_ring_from_signed(B, pp->bw);
  }
  /* The upper tail: x (slope 2^fb, exact through the ARS) for GELU/SiLU, 0 for nExp. */
  sp->alpha[K] = (off + (uint64_t)sp->w_hi) & ff_ring_mask(pp->e);
  sp->a[K] = 0;
  sp->b[K] = sgn ? ff_ring_reduce(UINT64_C(1) << pp->fb, pp->bw) : 0;
  sp->K = K + 1;
  ff_status st = ff_suf_sparse_spec_check(sp);
  if (!st) ff__bounds(sp);
  return st;
}

#define FF__SPARSE_CACHE_MAX 64

static pthread_mutex_t ff__cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
  ff_suf_sparse_params key;
  ff_suf_sparse_spec spec;
} ff__cache[FF__SPARSE_CACHE_MAX];
static int ff__cache_n;

static int ff__params_equal(const ff_suf_sparse_params *a, const ff_suf_sparse_params *b) {
  return a->fn == b->fn && a->bw_in == b->bw_in && a->bw == b->bw && a->scale == b->scale && a->e == b->e &&
         a->k_window == b->k_window && a->degree == b->degree && a->fb == b->fb &&
         a->insecure_no_padding == b->insecure_no_padding;
}

const ff_suf_sparse_spec *ff_suf_sparse_spec_get(const ff_suf_sparse_params *p) {
  if (!p) {
    FF_ERROR("ff_suf_sparse_spec_get: parameters are NULL");
    return NULL;
  }
  const ff_suf_sparse_spec *out = NULL;
  pthread_mutex_lock(&ff__cache_lock);
  for (int i = 0; i < ff__cache_n && !out; i++)
    if (ff__params_equal(&ff__cache[i].key, p)) out = &ff__cache[i].spec;
  if (!out) {
    if (ff__cache_n == FF__SPARSE_CACHE_MAX) {
      FF_ERROR("suf sparse: the template cache is full (%d specifications)", FF__SPARSE_CACHE_MAX);
    } else if (!ff__compile(p, &ff__cache[ff__cache_n].spec)) {
      ff__cache[ff__cache_n].key = *p;
      out = &ff__cache[ff__cache_n++].spec;
    }
  }
  pthread_mutex_unlock(&ff__cache_lock);
  return out;
}

const ff_suf_sparse_spec *ff_suf_sparse_spec_for(ff_suf_fn fn, const ff_suf_config *cfg, int bw, int scale) {
  if (!cfg || !ff_suf_config_sparse(cfg, fn)) {
    FF_ERROR("suf sparse: %s is not in the sparse regime under this configuration",
             fn == FF_SUF_GELU ? "GELU" : fn == FF_SUF_SILU ? "SiLU" : "nExp");
    return NULL;
  }
  int e = ff_suf_config_e(cfg, bw, scale);
  if (e > bw) e = bw;
  const ff_suf_sparse_params p = {.fn = fn,
                                  .bw_in = bw,
                                  .bw = bw,
                                  .scale = scale,
                                  .e = e,
                                  .k_window = fn == FF_SUF_GELU ? cfg->gelu_intervals : cfg->silu_intervals,
                                  .degree = cfg->degree,
                                  .fb = cfg->degree ? FF_SUF_SPARSE_FB : 0,
                                  .insecure_no_padding = cfg->insecure_no_padding};
  return ff_suf_sparse_spec_get(&p);
}

/* ---- Emulation and the partition --------------------------------------------------------------------- */

static int ff__piece_of(const ff_suf_sparse_spec *sp, uint64_t v) {
  int i = 0;
  while (i + 1 < sp->K && sp->alpha[i + 1] <= v) i++;
  return i;
}

double ff_suf_sparse_input_real(const ff_suf_sparse_spec *sp, uint64_t x) {
  x = ff_ring_reduce(x, sp->bw_in);
  return ldexp(sp->is_signed ? (double)ff_ring_signed(x, sp->bw_in) : (double)x, -sp->scale);
}

void ff_suf_sparse_emulate(const ff_suf_sparse_spec *sp, size_t N, const uint64_t *x, uint64_t *y) {
  const uint64_t em = ff_ring_mask(sp->e);
  for (size_t i = 0; i < N; i++) {
    const uint64_t xi = ff_ring_reduce(x[i], sp->bw_in);
    const int j = ff__piece_of(sp, (xi + sp->off) & em);
    uint64_t w = ff_ring_reduce(sp->a[j] + sp->b[j] * xi, sp->bw);
    /* TrFloor: floor of the signed bw-bit value (an arithmetic shift). */
    if (sp->fb) w = ff_ring_from_signed(ff_ring_signed(w, sp->bw) >> sp->fb, sp->bw);
    y[i] = w;
  }
}

int ff_suf_sparse_partition(const ff_suf_sparse_spec *sp, uint64_t rho, int pad, uint64_t *starts, int *piece) {
  const int K = sp->K;
  const uint64_t em = ff_ring_mask(sp->e);
  rho &= em;
  /* Starts alpha_i + rho wrap past 2^e from index i0 on (alpha_0 + rho = rho never does), so the sorted
   * order is the rotation i0, ..., K-1, 0, ..., i0-1; the piece before i0 holds v^ = 0. */
  int i0 = K;
  for (int i = 1; i < K && i0 == K; i++)
    if (((sp->alpha[i] + rho) & em) < rho) i0 = i;
  const int wrap_piece = (i0 + K - 1) % K;
  int M = 0;
  if (((sp->alpha[i0 % K] + rho) & em) != 0) { /* no start on 0: split the wrapping piece there */
    starts[M] = 0;
    piece[M++] = wrap_piece;
  }
  for (int q = 0; q < K; q++) {
    const int i = (i0 + q) % K;
    starts[M] = (sp->alpha[i] + rho) & em;
    piece[M++] = i;
  }
  if (M == K + 1 || !pad) return M;
  /* A start on 0: split the first piece of length >= 2 at start + 1 (one exists: K < 2^e). */
  for (int q = 0; q < K; q++) {
    const uint64_t len = ((q + 1 < K ? starts[q + 1] : 0) - starts[q]) & em; /* 0 - start = 2^e - start */
    if (len >= 2) {
      memmove(starts + q + 2, starts + q + 1, (size_t)(K - q - 1) * sizeof *starts);
      memmove(piece + q + 2, piece + q + 1, (size_t)(K - q - 1) * sizeof *piece);
      starts[q + 1] = starts[q] + 1;
      piece[q + 1] = piece[q];
      return K + 1;
    }
  }
  return M; /* not reached for a checked specification */
}

/* ---- Cost ---------------------------------------------------------------------------------------------- */

static size_t ff__bit_bytes(size_t n) { return (n + 7) / 8; }

/* Nk DCF keys in one batch plus the shares of v_K, the reconstruct, TrFloor. */
static void ff__cost(const ff_suf_sparse_spec *sp, size_t N, size_t Nk, ff_gate_cost *c) {
  memset(c, 0, sizeof *c);
  c->key_bytes = ff_dcf_key_bytes(sp->e, sp->p, sp->bw, Nk) + (uint64_t)sp->p * N * (uint64_t)ff__op_word_bytes(sp->bw);
  if (sp->insecure_no_padding) c->key_bytes += ff__bit_bytes(N);
  c->bits_sent = (uint64_t)N * (uint64_t)sp->bw;
  c->bytes_sent = ff_packed_size(N, sp->bw);
  c->rounds = 1;
  if (sp->fb > 0) {
    ff_gate_cost t;
    ff_sigma_trfloor_cost(N, sp->bw, sp->fb, &t);
    *c = ff_gate_cost_add(*c, t);
  }
}

void ff_suf_sparse_cost(const ff_suf_sparse_spec *sp, size_t N, ff_gate_cost *c) {
  ff__cost(sp, N, (size_t)sp->K * N, c);
}

void ff_suf_sparse_cost_unpadded(const ff_suf_sparse_spec *sp, size_t N, size_t n_nowrap, ff_gate_cost *c) {
  ff__cost(sp, N, (size_t)sp->K * N - (n_nowrap < N ? n_nowrap : N), c);
}

/* ---- Kernels (CPU) ------------------------------------------------------------------------------------- */

ff_status ff_suf_sparse_points_cpu(ff_ctx *ctx, const ff_suf_sparse_spec *sp, size_t N, const uint64_t *xhat,
                                   const uint64_t *offs, size_t Nk, uint64_t *pts) {
  (void)ctx;
  const uint64_t em = ff_ring_mask(sp->e);
  if (!N) return FF_OK;
  if (!offs) {
    for (size_t q = 0; q < Nk; q++) pts[q] = (xhat[q % N] + sp->off) & em;
    return FF_OK;
  }
  for (size_t i = 0; i < N; i++)
    for (uint64_t q = offs[i]; q < offs[i + 1]; q++) pts[q] = (xhat[i] + sp->off) & em;
  return FF_OK;
}

ff_status ff_suf_sparse_combine_cpu(ff_ctx *ctx, const ff_suf_sparse_spec *sp, size_t N, const uint64_t *xhat,
                                    const uint64_t *offs, size_t Nk, const uint64_t *dcf, const uint64_t *base,
                                    uint64_t *y) {
  (void)ctx;
  const size_t K = (size_t)sp->K;
  for (size_t i = 0; i < N; i++) {
    uint64_t c[2] = {0, 0};
    for (int w = 0; w < sp->p; w++) {
      const uint64_t *d = dcf + (size_t)w * Nk;
      c[w] = base[(size_t)w * N + i];
      if (!offs) {
        for (size_t j = 0; j < K; j++) c[w] += d[j * N + i];
      } else {
        for (uint64_t q = offs[i]; q < offs[i + 1]; q++) c[w] += d[q];
      }
    }
    y[i] = ff_ring_reduce(c[0] + c[1] * xhat[i], sp->bw);
  }
  return FF_OK;
}

#ifndef FF_HAVE_CUDA
static ff_status ff__no_cuda(const char *fn) {
  FF_ERROR("%s: this build has no CUDA", fn);
  return FF_ENOTSUP;
}
ff_status ff_suf_sparse_points_cuda(ff_ctx *ctx, const ff_suf_sparse_spec *sp, size_t N, const uint64_t *xhat,
                                    const uint64_t *offs, size_t Nk, uint64_t *pts) {
  (void)ctx, (void)sp, (void)N, (void)xhat, (void)offs, (void)Nk, (void)pts;
  return ff__no_cuda(__func__);
}
ff_status ff_suf_sparse_combine_cuda(ff_ctx *ctx, const ff_suf_sparse_spec *sp, size_t N, const uint64_t *xhat,
                                     const uint64_t *offs, size_t Nk, const uint64_t *dcf, const uint64_t *base,
                                     uint64_t *y) {
  (void)ctx, (void)sp, (void)N, (void)xhat, (void)offs, (void)Nk, (void)dcf, (void)base, (void)y;
  return ff__no_cuda(__func__);
}
#endif

ff_status ff_suf_sparse_points(ff_ctx *ctx, const ff_suf_sparse_spec *sp, size_t N, const uint64_t *xhat,
                               const uint64_t *offs, size_t Nk, uint64_t *pts) {
  if (ctx && ctx->backend == FF_BACKEND_CUDA) return ff_suf_sparse_points_cuda(ctx, sp, N, xhat, offs, Nk, pts);
  return ff_suf_sparse_points_cpu(ctx, sp, N, xhat, offs, Nk, pts);
}

ff_status ff_suf_sparse_combine(ff_ctx *ctx, const ff_suf_sparse_spec *sp, size_t N, const uint64_t *xhat,
                                const uint64_t *offs, size_t Nk, const uint64_t *dcf, const uint64_t *base,
                                uint64_t *y) {
  if (ctx && ctx->backend == FF_BACKEND_CUDA)
    return ff_suf_sparse_combine_cuda(ctx, sp, N, xhat, offs, Nk, dcf, base, y);
  return ff_suf_sparse_combine_cpu(ctx, sp, N, xhat, offs, Nk, dcf, base, y);
}

/* ---- Dealer -------------------------------------------------------------------------------------------- */

/* x->v holds r; wide->v gets r_out. Writes, in order: [the ablation: one bit per element, 1 = the rotation
 * wraps (K keys), 0 = it does not (K - 1)] | the DCF key of Nk elements | shares of v_K (p, N). */
static ff_status ff__deal(ff_op *op, const ff_suf_sparse_spec *sp, const ff_wire *x, ff_wire *wide) {
  const size_t N = x->numel, K = (size_t)sp->K, p = (size_t)sp->p, nb = ff__bit_bytes(N);
  const int pad = !sp->insecure_no_padding, wb = ff__op_word_bytes(sp->bw);
  const uint64_t *r = x->v, em = ff_ring_mask(sp->e), m = ff_ring_mask(sp->bw);
  uint64_t starts[FF_SUF_SPARSE_MAX_PIECES + 1], v[FF_SUF_SPARSE_MAX_PIECES + 1][2];
  int piece[FF_SUF_SPARSE_MAX_PIECES + 1];
  ff_dcf_key k[2] = {{0}, {0}};
  uint64_t *alpha = NULL, *beta = NULL, *base = NULL, *offs = ff__op_alloc((N + 1) * sizeof *offs, "suf sparse keygen");
  uint8_t *wraps = ff__op_alloc(nb, "suf sparse keygen");
  ff_status st = offs && wraps ? FF_OK : FF_ENOMEM;
  if (st) goto done;
  /* The piece counts: K + 1 always (padded), or as the rotation falls (the ablation). */
  offs[0] = 0;
  for (size_t i = 0; i < N; i++) {
    const int M = pad ? (int)K + 1 : ff_suf_sparse_partition(sp, r[i] & em, 0, starts, piece);
    offs[i + 1] = offs[i] + (uint64_t)M - 1;
    if (M == (int)K + 1) wraps[i / 8] |= (uint8_t)(1u << (i % 8));
  }
  const size_t Nk = (size_t)offs[N];
  if (!(alpha = ff__op_alloc(Nk * sizeof *alpha, "suf sparse keygen")) ||
      !(beta = ff__op_alloc(p * Nk * sizeof *beta, "suf sparse keygen")) ||
      !(base = ff__op_alloc(p * N * sizeof *base, "suf sparse keygen"))) {
    st = FF_ENOMEM;
    goto done;
  }
  if ((st = ff__op_draw(op, wide->v, N, sp->bw))) goto done;
  for (size_t i = 0; i < N; i++) {
    const int M = ff_suf_sparse_partition(sp, r[i] & em, pad, starts, piece);
    const uint64_t ri = r[i], ro = wide->v[i];
    for (int j = 0; j < M; j++) { /* the coefficients re-expressed on x^ */
      const int t = piece[j];
      v[j][0] = (sp->a[t] - sp->b[t] * ri + ro) & m;
      v[j][1] = sp->b[t];
    }
    for (int j = 0; j + 1 < M; j++) {
      const size_t q = pad ? (size_t)j * N + i : (size_t)offs[i] + (size_t)j;
      alpha[q] = starts[j + 1];
      for (size_t w = 0; w < p; w++) beta[w * Nk + q] = (v[j][w] - v[j + 1][w]) & m;
    }
    for (size_t w = 0; w < p; w++) base[w * N + i] = v[M - 1][w];
  }
  if (!pad)
    for (int q = 0; q < 2 && !st; q++) st = ff__op_put(op, q, wraps, nb);
  if (!st) {
    FF_SCOPE("FSS::DCF"); /* the dealer's tree keygen, for keygen --profile */
    if (!(st = ff_dcf_key_alloc(op->ctx, &k[0], sp->e, sp->p, sp->bw, Nk)) &&
        !(st = ff_dcf_key_alloc(op->ctx, &k[1], sp->e, sp->p, sp->bw, Nk)))
      st = ff_dcf_keygen(op->ctx, alpha, beta, &k[0], &k[1]);
  }
  if (st) goto done;
  for (int q = 0; q < 2 && !st; q++) st = ff__op_put(op, q, k[q].buf, k[q].bytes);
  if (!st) st = ff__op_put_shares_words(op, base, p * N, sp->bw, wb);
done:
  ff_dcf_key_free(&k[0]);
  ff_dcf_key_free(&k[1]);
  /* The rotated starts and payloads say r: wipe them. */
  explicit_bzero(starts, sizeof starts);
  explicit_bzero(v, sizeof v);
  if (alpha) explicit_bzero(alpha, (size_t)offs[N] * sizeof *alpha);
  if (beta) explicit_bzero(beta, p * (size_t)offs[N] * sizeof *beta);
  if (base) explicit_bzero(base, p * N * sizeof *base);
  free(alpha);
  free(beta);
  free(base);
  free(offs);
  free(wraps);
  return st;
}

/* ---- Party --------------------------------------------------------------------------------------------- */

/* The lookup: this party's share of P_i(x) + r_out into y (N, the op's memory). */
static ff_status ff__lookup(ff_op *op, const ff_suf_sparse_spec *sp, const ff_wire *x, uint64_t *y) {
  FF_SCOPE("FSS::IntervalLookup");
  ff_ctx *ctx = op->ctx;
  const size_t N = x->numel, K = (size_t)sp->K, p = (size_t)sp->p, nb = ff__bit_bytes(N);
  uint64_t *hoffs = NULL, *doffs = NULL;
  uint8_t *wraps = NULL;
  void *blk = NULL;
  ff_dcf_key k = {0};
  size_t Nk = K * N;
  ff_status st = FF_OK;
  if (sp->insecure_no_padding) {
    /* The ablation: the piece counts come first; the rest of the key's length depends on them. */
    if (!(hoffs = ff__op_alloc((N + 1) * sizeof *hoffs, "suf sparse")) || !(wraps = ff__op_alloc(nb, "suf sparse"))) {
      st = FF_ENOMEM;
      goto done;
    }
    if ((st = ff__op_get(op, wraps, nb, "suf sparse piece counts"))) goto done;
    hoffs[0] = 0;
    for (size_t i = 0; i < N; i++) hoffs[i + 1] = hoffs[i] + K - 1 + ((wraps[i / 8] >> (i % 8)) & 1);
    Nk = (size_t)hoffs[N];
  }
  if ((st = ff__op_buf_alloc(op, ((1 + p) * Nk + p * N + (hoffs ? N + 1 : 0)) * sizeof(uint64_t), "suf sparse", &blk)))
    goto done;
  uint64_t *pts = blk, *dcf = pts + Nk, *base = dcf + p * Nk;
  if (hoffs && (st = ff__op_upload(op, doffs = base + p * N, hoffs, (N + 1) * sizeof *hoffs))) goto done;
  if ((st = ff_dcf_key_alloc(ctx, &k, sp->e, sp->p, sp->bw, Nk)) ||
      (st = ff__op_get_mem(op, k.buf, k.bytes, "suf sparse DCF")) ||
      (st = ff__op_get_words(op, base, p * N, ff__op_word_bytes(sp->bw), "suf sparse base")) ||
      (st = ff_suf_sparse_points(ctx, sp, N, x->v, doffs, Nk, pts)) || (st = ff_dcf_eval(ctx, &k, 1, pts, dcf)))
    goto done;
  st = ff_suf_sparse_combine(ctx, sp, N, x->v, doffs, Nk, dcf, base, y);
done:
  ff_dcf_key_free(&k);
  ff__op_buf_free(op, blk);
  free(hoffs);
  free(wraps);
  return st;
}

/* ---- Gate ---------------------------------------------------------------------------------------------- */

ff_status ff_op_suf_sparse(ff_op *op, const ff_suf_sparse_spec *sp, const ff_wire *x, ff_wire *y) {
  if (!op || !sp || !x || !y || (op->role != FF_OP_COST && !x->v)) {
    FF_ERROR("ff_op_suf_sparse: op, specification, input or output wire is NULL or empty");
    return FF_EINVAL;
  }
  memset(y, 0, sizeof *y);
  if (x->bw != sp->bw_in || sp->p < 1 || sp->K < 2) {
    FF_ERROR("ff_op_suf_sparse %s: the input wire has %d bits, the specification wants %d%s", sp->name ? sp->name : "?",
             x->bw, sp->bw_in, sp->p < 1 ? " (and was never checked: ff_suf_sparse_spec_check)" : "");
    return FF_EINVAL;
  }
  if (sp->insecure_no_padding)
    FF_WARN("insecure: suf sparse %s runs WITHOUT mask-aware padding (--insecure-no-padding): the key shape depends "
            "on the mask and tells the parties when v^ - v is minus a piece start; for measuring what padding "
            "costs only, never for inference", sp->name);
  const size_t N = x->numel;
  if (op->role == FF_OP_COST) {
    ff_gate_cost c;
    ff_suf_sparse_cost(sp, N, &c);
    ff__op_charge_both(op, &c);
    return ff__op_wire_alloc(op, y, sp->bw, x->ndim, x->shape);
  }
  const ff__sg_tag tag = {FF__SG_SUF_SPARSE, (uint32_t)sp->bw,
                          (uint32_t)sp->fn | (uint32_t)sp->degree << 8 | (uint32_t)sp->fb << 16 |
                              (uint32_t)sp->insecure_no_padding << 24,
                          (uint32_t)sp->K,
                          {N,
                           (uint64_t)sp->e | (uint64_t)sp->p << 8 | (uint64_t)sp->is_signed << 16 |
                               (uint64_t)sp->bw_in << 24 | (uint64_t)sp->bw << 32,
                           sp->hash}};
  ff_wire wide = {0}; /* P_i(x) at scale + fb; y itself when fb = 0 */
  ff_wire *out = sp->fb ? &wide : y;
  ff_status st;
  ff__op_enter(op);
  if (!(st = ff__op_tag(op, &tag)) && !(st = ff__op_wire_alloc(op, out, sp->bw, x->ndim, x->shape))) {
    if (op->role == FF_OP_DEALER) st = ff__deal(op, sp, x, out);
    else if (!(st = ff__lookup(op, sp, x, out->v))) st = ff_op_reconstruct(op, out->v, N, sp->bw);
  }
  if (!st && sp->fb) st = ff__sigma_trfloor_run(op, &wide, sp->fb, y);
  ff__op_leave(op);
  ff_wire_free(&wide);
  if (st) ff_wire_free(y);
  return st;
}
