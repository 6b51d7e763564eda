/* LayerNorm and RMSNorm (research/sigma.md §4; GPU-MPC fss/gpu_layernorm.cu, with the rsqrt on our FSS
 * primitives): _cpu kernels (CUDA twins in layernorm_cuda.cu), the rsqrt table, dealer and party (either
 * backend), the emulation and the costs; layernorm.h lists every step. Tests: tests/test_sigma_layernorm.c,
 * tests/test_sigma_cuda_layernorm.c. */
#include "gates/sigma/layernorm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "comm/pack.h"
#include "core/log.h"
#include "core/ring.h"
#include "gates/fss/dpf.h"
#include "gates/fss/lut.h"
#include "gates/fss/select.h"
#include "gates/sigma/op_internal.h"
#include "gates/sigma/truncate.h"

/* L: the position of the leading one after normalisation (V' < 2^(L+1) = 2^(bw-2), TrWithSlack's range). */
static int ff__ln_top(int bw) { return bw - 3; }

/* m mantissa bits of the rsqrt table (b = m + 6 input bits), the kernels' parameter. */
static ff_status ff__ln_mant_ok(const char *fn, int mant) {
  const int b = mant + FF_SIGMA_RSQRT_EXP_BITS;
  if (b >= FF_SIGMA_RSQRT_MIN_BITS && b <= FF_SIGMA_RSQRT_MAX_BITS) return FF_OK;
  FF_ERROR("%s: %d mantissa bits is outside %d..%d", fn, mant, FF_SIGMA_RSQRT_MIN_BITS - FF_SIGMA_RSQRT_EXP_BITS,
           FF_SIGMA_RSQRT_MAX_BITS - FF_SIGMA_RSQRT_EXP_BITS);
  return FF_EINVAL;
}

/* The options' table width b (layernorm.h ff_sigma_norm_opts). */
static ff_status ff__ln_rsqrt_bits(const char *fn, const ff_sigma_norm_opts *o, int *b) {
  *b = o && o->rsqrt_bits ? o->rsqrt_bits : FF_SIGMA_RSQRT_LUT_BITS;
  if (*b >= FF_SIGMA_RSQRT_MIN_BITS && *b <= FF_SIGMA_RSQRT_MAX_BITS) return FF_OK;
  FF_ERROR("%s: rsqrt_bits %d is outside %d..%d (0: SIGMA's %d)", fn, *b, FF_SIGMA_RSQRT_MIN_BITS,
           FF_SIGMA_RSQRT_MAX_BITS, FF_SIGMA_RSQRT_LUT_BITS);
  return FF_EINVAL;
}

int64_t ff_sigma_norm_eps_fixed(double eps, size_t d, int bw, int scale) {
  if (!(eps >= 0) || !isfinite(eps) || bw < 5 || bw > 64 || scale < 0 || scale > 30) return -1;
  const double c = nearbyint(eps * (double)d * ldexp(1.0, 2 * scale));
  return c < ldexp(1.0, bw - 4) ? (int64_t)c : -1;
}

/* The options' epsilon as V's constant (0 without options), or FF_EINVAL, logged. */
static ff_status ff__ln_eps(const char *fn, const ff_sigma_norm_opts *o, size_t d, int bw, int scale, uint64_t *c) {
  *c = 0;
  if (!o || o->eps == 0) return FF_OK;
  const int64_t v = ff_sigma_norm_eps_fixed(o->eps, d, bw, scale);
  if (v >= 0) {
    *c = (uint64_t)v;
    return FF_OK;
  }
  FF_ERROR("%s: epsilon %g is negative, not finite, or too large for rows of %zu at bw %d, scale %d (its fixed "
           "point eps d 2^(2 scale) must stay below 2^(bw - 4))", fn, o->eps, d, bw, scale);
  return FF_EINVAL;
}

/* log2 d for a power of two, else -1. */
static int ff__ln_log2(size_t d) {
  if (d < 2 || (d & (d - 1))) return -1;
  int s = 0;
  while (((size_t)1 << s) < d) s++;
  return s;
}

/* ---- Kernels ---------------------------------------------------------------------------------------- */

ff_status ff_sigma_ln_rowsum_cpu(ff_ctx *ctx, int bw, size_t R, size_t d, uint64_t mult, const uint64_t *x,
                                 uint64_t *sum) {
  (void)ctx;
  for (size_t i = 0; i < R; i++) {
    uint64_t acc = 0;
    for (size_t j = 0; j < d; j++) acc += x[i * d + j];
    sum[i] = ff_ring_reduce(acc * mult, bw);
  }
  return FF_OK;
}

ff_status ff_sigma_ln_center_cpu(ff_ctx *ctx, int bw, size_t R, size_t d, const uint64_t *x, const uint64_t *mu,
                                 uint64_t *xc) {
  (void)ctx;
  for (size_t i = 0; i < R; i++)
    for (size_t j = 0; j < d; j++) xc[i * d + j] = ff_ring_reduce(x[i * d + j] - mu[i], bw);
  return FF_OK;
}

ff_status ff_sigma_ln_square_cpu(ff_ctx *ctx, int bw, size_t R, size_t d, const uint64_t *xhat, const uint64_t *key,
                                 uint64_t *out) {
  const size_t N = R * d;
  const uint64_t *A = key, *B = key + N, p1 = ctx->party == 1;
  for (size_t i = 0; i < R; i++) {
    uint64_t acc = 0;
    for (size_t j = 0; j < d; j++) {
      const size_t e = i * d + j;
      acc += p1 * xhat[e] * xhat[e] - A[e] * xhat[e] + B[e];
    }
    out[i] = ff_ring_reduce(acc, bw);
  }
  return FF_OK;
}

ff_status ff_sigma_rsqrt_normalize_cpu(ff_ctx *ctx, int bw, int mant, size_t R, const uint64_t *chat,
                                       const uint64_t *vhat, const uint64_t *key, uint64_t *out) {
  ff_status st = ff__ln_mant_ok("ff_sigma_rsqrt_normalize_cpu", mant);
  if (st) return st;
  const int L = ff__ln_top(bw);
  const size_t J = (size_t)L + 1;
  const uint64_t *rho = key, *rhorv = key + J * R, *rv = key + 2 * J * R, *rvp = rv + R, *rk = rvp + R;
  const uint64_t p1 = ctx->party == 1;
  for (size_t i = 0; i < R; i++) {
    uint64_t vp = rvp[i], ex = rk[i];
    for (size_t j = 0; j <= (size_t)L; j++) {
      /* o^_j = c^_(j+1) ^ c^_j with the public ends c_0 = 0, c_(L+1) = 1. */
      const uint64_t lo = j == 0 ? 0 : chat[(j - 1) * R + i] & 1;
      const uint64_t hi = j == (size_t)L ? 1 : chat[j * R + i] & 1;
      const uint64_t oh = lo ^ hi, sgn = 1 - 2 * oh; /* 1 - 2 o^ as a ring element */
      const uint64_t pw = UINT64_C(1) << (L - (int)j);
      /* o_j V = o^ V^ - o^ r_V + (1 - 2 o^) (rho V^ - rho r_V), times 2^(L-j). */
      const uint64_t prod = p1 * oh * vhat[i] - oh * rv[i] + sgn * (rho[j * R + i] * vhat[i] - rhorv[j * R + i]);
      vp += pw * prod;
      /* o_j = [p1] o^ + (1 - 2 o^) rho, times 2^m j. */
      ex += ((uint64_t)j << mant) * (p1 * oh + sgn * rho[j * R + i]);
    }
    out[i] = ff_ring_reduce(vp, bw);
    out[R + i] = ff_ring_reduce(ex, mant + FF_SIGMA_RSQRT_EXP_BITS);
  }
  return FF_OK;
}

ff_status ff_sigma_ln_wmul_cpu(ff_ctx *ctx, int bw, size_t R, size_t d, int per_row, const uint64_t *xhat,
                               const uint64_t *what, const uint64_t *key, uint64_t *out) {
  const size_t N = R * d, W = per_row ? R : d;
  const uint64_t *A = key, *B = key + N, *C = key + N + W, p1 = ctx->party == 1;
  for (size_t i = 0; i < R; i++)
    for (size_t j = 0; j < d; j++) {
      const size_t e = i * d + j, w = per_row ? i : j;
      out[e] = ff_ring_reduce(p1 * xhat[e] * what[w] - xhat[e] * B[w] - what[w] * A[e] + C[e], bw);
    }
  return FF_OK;
}

ff_status ff_sigma_ln_addcol_cpu(ff_ctx *ctx, int bw, size_t R, size_t d, uint64_t *y, const uint64_t *b) {
  (void)ctx;
  for (size_t e = 0; e < R * d; e++) y[e] = ff_ring_reduce(y[e] + b[e % d], bw);
  return FF_OK;
}

ff_status ff_sigma_rsqrt_points_cpu(ff_ctx *ctx, int bw, size_t R, const uint64_t *vhat, uint64_t *pts) {
  (void)ctx;
  const size_t J = (size_t)ff__ln_top(bw) + 1;
  for (size_t i = 0; i < R; i++) pts[i] = vhat[i];
  for (size_t t = 1; t < J; t++)
    for (size_t i = 0; i < R; i++) pts[t * R + i] = ff_ring_reduce(vhat[i] - (UINT64_C(1) << t), bw);
  return FF_OK;
}

ff_status ff_sigma_rsqrt_bits_cpu(ff_ctx *ctx, int bw, size_t R, const uint64_t *vhat, const uint8_t *lt,
                                  const uint8_t *mask, uint64_t *c) {
  const size_t J = (size_t)ff__ln_top(bw) + 1;
  const uint64_t p1 = ctx->party == 1;
  for (size_t t = 1; t < J; t++)
    for (size_t i = 0; i < R; i++) {
      const size_t e = t * R + i, f = (t - 1) * R + i;
      const uint64_t pub = p1 & (vhat[i] < (UINT64_C(1) << t));
      c[f] = ((lt[e / 8] >> (e % 8)) ^ (lt[i / 8] >> (i % 8)) ^ (mask[f / 8] >> (f % 8)) ^ pub) & 1;
    }
  return FF_OK;
}

ff_status ff_sigma_rsqrt_index_cpu(ff_ctx *ctx, int mant, size_t R, const uint64_t *ehat, const uint64_t *mhat,
                                   uint64_t *idx) {
  (void)ctx;
  ff_status st = ff__ln_mant_ok("ff_sigma_rsqrt_index_cpu", mant);
  if (st) return st;
  for (size_t i = 0; i < R; i++)
    idx[i] = ff_ring_reduce(ehat[i] + mhat[i] - (UINT64_C(1) << mant), mant + FF_SIGMA_RSQRT_EXP_BITS);
  return FF_OK;
}

#ifndef FF_HAVE_CUDA
static ff_status ff__ln_no_cuda(const char *fn) {
  FF_ERROR("%s: this build of fusefss has no CUDA backend", fn);
  return FF_ENOTSUP;
}

ff_status ff_sigma_ln_rowsum_cuda(ff_ctx *ctx, int bw, size_t R, size_t d, uint64_t mult, const uint64_t *x,
                                  uint64_t *sum) {
  (void)ctx, (void)bw, (void)R, (void)d, (void)mult, (void)x, (void)sum;
  return ff__ln_no_cuda("ff_sigma_ln_rowsum_cuda");
}

ff_status ff_sigma_ln_center_cuda(ff_ctx *ctx, int bw, size_t R, size_t d, const uint64_t *x, const uint64_t *mu,
                                  uint64_t *xc) {
  (void)ctx, (void)bw, (void)R, (void)d, (void)x, (void)mu, (void)xc;
  return ff__ln_no_cuda("ff_sigma_ln_center_cuda");
}

ff_status ff_sigma_ln_square_cuda(ff_ctx *ctx, int bw, size_t R, size_t d, const uint64_t *xhat, const uint64_t *key,
                                  uint64_t *out) {
  (void)ctx, (void)bw, (void)R, (void)d, (void)xhat, (void)key, (void)out;
  return ff__ln_no_cuda("ff_sigma_ln_square_cuda");
}

ff_status ff_sigma_rsqrt_normalize_cuda(ff_ctx *ctx, int bw, int mant, size_t R, const uint64_t *chat,
                                        const uint64_t *vhat, const uint64_t *key, uint64_t *out) {
  (void)ctx, (void)bw, (void)mant, (void)R, (void)chat, (void)vhat, (void)key, (void)out;
  return ff__ln_no_cuda("ff_sigma_rsqrt_normalize_cuda");
}

ff_status ff_sigma_ln_wmul_cuda(ff_ctx *ctx, int bw, size_t R, size_t d, int per_row, const uint64_t *xhat,
                                const uint64_t *what, const uint64_t *key, uint64_t *out) {
  (void)ctx, (void)bw, (void)R, (void)d, (void)per_row, (void)xhat, (void)what, (void)key, (void)out;
  return ff__ln_no_cuda("ff_sigma_ln_wmul_cuda");
}

ff_status ff_sigma_ln_addcol_cuda(ff_ctx *ctx, int bw, size_t R, size_t d, uint64_t *y, const uint64_t *b) {
  (void)ctx, (void)bw, (void)R, (void)d, (void)y, (void)b;
  return ff__ln_no_cuda("ff_sigma_ln_addcol_cuda");
}

ff_status ff_sigma_rsqrt_points_cuda(ff_ctx *ctx, int bw, size_t R, const uint64_t *vhat, uint64_t *pts) {
  (void)ctx, (void)bw, (void)R, (void)vhat, (void)pts;
  return ff__ln_no_cuda("ff_sigma_rsqrt_points_cuda");
}

ff_status ff_sigma_rsqrt_bits_cuda(ff_ctx *ctx, int bw, size_t R, const uint64_t *vhat, const uint8_t *lt,
                                   const uint8_t *mask, uint64_t *c) {
  (void)ctx, (void)bw, (void)R, (void)vhat, (void)lt, (void)mask, (void)c;
  return ff__ln_no_cuda("ff_sigma_rsqrt_bits_cuda");
}

ff_status ff_sigma_rsqrt_index_cuda(ff_ctx *ctx, int mant, size_t R, const uint64_t *ehat, const uint64_t *mhat,
                                    uint64_t *idx) {
  (void)ctx, (void)mant, (void)R, (void)ehat, (void)mhat, (void)idx;
  return ff__ln_no_cuda("ff_sigma_rsqrt_index_cuda");
}
#endif

#define FF__LN_DISPATCH(ctx, name, ...) \
  ((ctx)->backend == FF_BACKEND_CUDA ? name##_cuda((ctx), __VA_ARGS__) : name##_cpu((ctx), __VA_ARGS__))

ff_status ff_sigma_ln_rowsum(ff_ctx *ctx, int bw, size_t R, size_t d, uint64_t mult, const uint64_t *x,
                             uint64_t *sum) {
  return FF__LN_DISPATCH(ctx, ff_sigma_ln_rowsum, bw, R, d, mult, x, sum);
}

ff_status ff_sigma_ln_center(ff_ctx *ctx, int bw, size_t R, size_t d, const uint64_t *x, const uint64_t *mu,
                             uint64_t *xc) {
  return FF__LN_DISPATCH(ctx, ff_sigma_ln_center, bw, R, d, x, mu, xc);
}

ff_status ff_sigma_ln_square(ff_ctx *ctx, int bw, size_t R, size_t d, const uint64_t *xhat, const uint64_t *key,
                             uint64_t *out) {
  return FF__LN_DISPATCH(ctx, ff_sigma_ln_square, bw, R, d, xhat, key, out);
}

ff_status ff_sigma_rsqrt_normalize(ff_ctx *ctx, int bw, int mant, size_t R, const uint64_t *chat, const uint64_t *vhat,
                                   const uint64_t *key, uint64_t *out) {
  return FF__LN_DISPATCH(ctx, ff_sigma_rsqrt_normalize, bw, mant, R, chat, vhat, key, out);
}

ff_status ff_sigma_ln_wmul(ff_ctx *ctx, int bw, size_t R, size_t d, int per_row, const uint64_t *xhat,
                           const uint64_t *what, const uint64_t *key, uint64_t *out) {
  return FF__LN_DISPATCH(ctx, ff_sigma_ln_wmul, bw, R, d, per_row, xhat, what, key, out);
}

ff_status ff_sigma_ln_addcol(ff_ctx *ctx, int bw, size_t R, size_t d, uint64_t *y, const uint64_t *b) {
  return FF__LN_DISPATCH(ctx, ff_sigma_ln_addcol, bw, R, d, y, b);
}

ff_status ff_sigma_rsqrt_points(ff_ctx *ctx, int bw, size_t R, const uint64_t *vhat, uint64_t *pts) {
  return FF__LN_DISPATCH(ctx, ff_sigma_rsqrt_points, bw, R, vhat, pts);
}

ff_status ff_sigma_rsqrt_bits(ff_ctx *ctx, int bw, size_t R, const uint64_t *vhat, const uint8_t *lt,
                              const uint8_t *mask, uint64_t *c) {
  return FF__LN_DISPATCH(ctx, ff_sigma_rsqrt_bits, bw, R, vhat, lt, mask, c);
}

ff_status ff_sigma_rsqrt_index(ff_ctx *ctx, int mant, size_t R, const uint64_t *ehat, const uint64_t *mhat,
                               uint64_t *idx) {
  return FF__LN_DISPATCH(ctx, ff_sigma_rsqrt_index, mant, R, ehat, mhat, idx);
}

/* ---- Table ------------------------------------------------------------------------------------------ */

void ff_sigma_rsqrt_table(int bw, int scale, size_t d, int mant, uint64_t *tab) {
  const int L = ff__ln_top(bw);
  for (uint64_t I = 0; I < (UINT64_C(1) << (mant + FF_SIGMA_RSQRT_EXP_BITS)); I++) {
    const int k = (int)(I >> mant);
    const uint64_t m = I & ((UINT64_C(1) << mant) - 1);
    if (k > L) {
      tab[I] = 0;
      continue;
    }
    const double w = k > mant ? ldexp(1.0, k - mant) : 1.0;
    const double v = ldexp((double)((UINT64_C(1) << mant) + m), k - mant) + (w - 1) / 2;
    tab[I] = ff_ring_reduce((uint64_t)llround(ldexp(sqrt((double)d / v), 2 * scale)), bw);
  }
}

/* ---- Costs ------------------------------------------------------------------------------------------ */

/* One message of n values of `bits` bits (ff_packed_size's ceil(n bits / 8) bytes, for bits > 64 too). */
static void ff__ln_msg(ff_gate_cost *c, uint64_t n, int bits) {
  c->bits_sent += n * (uint64_t)bits;
  c->bytes_sent += (n * (uint64_t)bits + 7) / 8;
  c->rounds += 1;
}

/* Step 4 with a table of b input bits. */
static void ff__ln_rsqrt_cost(size_t R, int bw, int b, ff_gate_cost *c) {
  const int L = ff__ln_top(bw), m = b - FF_SIGMA_RSQRT_EXP_BITS;
  ff_gate_cost t, lut;
  memset(c, 0, sizeof *c);
  c->key_bytes = ff_dpf_key_bytes(bw, R) + ((uint64_t)L * R + 7) / 8 + 8 * (2 * ((uint64_t)L + 1) + 3) * R;
  ff__ln_msg(c, (uint64_t)L * R, 1); /* a. the masked comparison bits */
  ff__ln_msg(c, R, bw + b);          /* b. V^' and E^ in one message */
  ff_sigma_trslack_cost(R, bw, L - m, b, &t); /* c. */
  ff_lut_cost_vec(b, bw, R, 1, 1, &lut);      /* d. */
  *c = ff_gate_cost_add(ff_gate_cost_add(*c, t), lut);
}

ff_status ff_sigma_rsqrt_cost_ex(size_t R, int bw, const ff_sigma_norm_opts *opts, ff_gate_cost *c) {
  int b;
  memset(c, 0, sizeof *c);
  ff_status st = ff__ln_rsqrt_bits("ff_sigma_rsqrt_cost_ex", opts, &b);
  if (!st) ff__ln_rsqrt_cost(R, bw, b, c);
  return st;
}

void ff_sigma_rsqrt_cost(size_t R, int bw, ff_gate_cost *c) { (void)ff_sigma_rsqrt_cost_ex(R, bw, NULL, c); }

static void ff__ln_wmul_cost(size_t N, size_t W, int bw, int scale, ff_gate_cost *c) {
  ff_gate_cost t;
  memset(c, 0, sizeof *c);
  c->key_bytes = 8 * (2 * (uint64_t)N + W);
  ff__ln_msg(c, N, bw);
  ff_sigma_trslack_cost(N, bw, scale, bw, &t);
  *c = ff_gate_cost_add(*c, t);
}

static void ff__ln_cost(size_t R, size_t d, int bw, int scale, int rms, int b, ff_gate_cost *c) {
  const size_t N = R * d;
  ff_gate_cost part;
  memset(c, 0, sizeof *c);
  if (!rms) {
    const int lg = ff__ln_log2(d);
    ff_sigma_trfloor_cost(R, bw, lg >= 0 ? lg : scale, &part);
    *c = ff_gate_cost_add(*c, part);
  }
  c->key_bytes += 16 * (uint64_t)N; /* squares */
  ff__ln_msg(c, R, bw);
  ff__ln_rsqrt_cost(R, bw, b, &part);
  *c = ff_gate_cost_add(*c, part);
  ff__ln_wmul_cost(N, R, bw, scale, &part);
  *c = ff_gate_cost_add(*c, part);
  ff__ln_wmul_cost(N, d, bw, scale, &part);
  *c = ff_gate_cost_add(*c, part);
}

ff_status ff_sigma_layernorm_cost_ex(size_t R, size_t d, int bw, int scale, const ff_sigma_norm_opts *opts,
                                     ff_gate_cost *c) {
  int b;
  memset(c, 0, sizeof *c);
  ff_status st = ff__ln_rsqrt_bits("ff_sigma_layernorm_cost_ex", opts, &b);
  if (!st) ff__ln_cost(R, d, bw, scale, 0, b, c);
  return st;
}

ff_status ff_sigma_rmsnorm_cost_ex(size_t R, size_t d, int bw, int scale, const ff_sigma_norm_opts *opts,
                                   ff_gate_cost *c) {
  int b;
  memset(c, 0, sizeof *c);
  ff_status st = ff__ln_rsqrt_bits("ff_sigma_rmsnorm_cost_ex", opts, &b);
  if (!st) ff__ln_cost(R, d, bw, scale, 1, b, c);
  return st;
}

void ff_sigma_layernorm_cost(size_t R, size_t d, int bw, int scale, ff_gate_cost *c) {
  (void)ff_sigma_layernorm_cost_ex(R, d, bw, scale, NULL, c);
}

void ff_sigma_rmsnorm_cost(size_t R, size_t d, int bw, int scale, ff_gate_cost *c) {
  (void)ff_sigma_rmsnorm_cost_ex(R, d, bw, scale, NULL, c);
}

/* ---- Emulation -------------------------------------------------------------------------------------- */

static int64_t ff__floor_shift(int64_t v, int s) { return v >= 0 ? v >> s : -((-v + ((int64_t)1 << s) - 1) >> s); }

ff_status ff_sigma_layernorm_emulate_ex(int bw, int scale, size_t R, size_t d, int rms, const ff_sigma_norm_opts *opts,
                                        const uint64_t *x, const uint64_t *gamma, const uint64_t *beta, uint64_t *y) {
  int b;
  uint64_t eps_c;
  ff_status st = ff__ln_rsqrt_bits("ff_sigma_layernorm_emulate_ex", opts, &b);
  if (!st) st = ff__ln_eps("ff_sigma_layernorm_emulate_ex", opts, d, bw, scale, &eps_c);
  if (st) return st;
  const int L = ff__ln_top(bw), lg = ff__ln_log2(d), m = b - FF_SIGMA_RSQRT_EXP_BITS;
  uint64_t *tab = malloc(((size_t)1 << b) * sizeof *tab), *xc = malloc(d * sizeof *xc);
  if (!tab || !xc) {
    FF_ERROR("ff_sigma_layernorm_emulate_ex: out of memory for rows of %zu", d);
    free(tab);
    free(xc);
    return FF_ENOMEM;
  }
  ff_sigma_rsqrt_table(bw, scale, d, m, tab);
  for (size_t i = 0; i < R; i++) {
    const uint64_t *row = x + i * d;
    uint64_t mu = 0;
    if (!rms) {
      uint64_t s = 0;
      for (size_t j = 0; j < d; j++) s += row[j];
      const uint64_t mult = lg >= 0 ? 1 : (UINT64_C(1) << scale) / d;
      mu = ff_ring_from_signed(ff__floor_shift(ff_ring_signed(ff_ring_reduce(s * mult, bw), bw), lg >= 0 ? lg : scale), bw);
    }
    uint64_t V = 0;
    for (size_t j = 0; j < d; j++) {
      xc[j] = ff_ring_reduce(row[j] - mu, bw);
      V += xc[j] * xc[j];
    }
    V = ff_ring_reduce(V + eps_c, bw);
    int k = 0;
    while (k < 63 && (V >> (k + 1)) != 0) k++; /* msnzb; 0 for V = 0, 1 */
    const uint64_t Vp = k <= L ? V << (L - k) : V >> (k - L); /* k > L breaks the precondition */
    const uint64_t M = ff_ring_reduce(Vp >> (L - m), b);
    const uint64_t I = ff_ring_reduce(((uint64_t)k << m) + M - (UINT64_C(1) << m), b);
    const int64_t rsq = ff_ring_signed(tab[I], bw);
    for (size_t j = 0; j < d; j++) {
      const uint64_t y1 = ff_ring_from_signed(ff__floor_shift(ff_ring_signed(ff_ring_reduce((uint64_t)ff_ring_signed(xc[j], bw) * (uint64_t)rsq, bw), bw), scale), bw);
      const uint64_t p = ff_ring_reduce((uint64_t)ff_ring_signed(y1, bw) * (uint64_t)ff_ring_signed(gamma[j], bw), bw);
      uint64_t y2 = ff_ring_from_signed(ff__floor_shift(ff_ring_signed(p, bw), scale), bw);
      if (beta) y2 = ff_ring_reduce(y2 + beta[j], bw);
      y[i * d + j] = y2;
    }
  }
  free(tab);
  free(xc);
  return FF_OK;
}

void ff_sigma_layernorm_emulate(int bw, int scale, size_t R, size_t d, int rms, const uint64_t *x,
                                const uint64_t *gamma, const uint64_t *beta, uint64_t *y) {
  (void)ff_sigma_layernorm_emulate_ex(bw, scale, R, d, rms, NULL, x, gamma, beta, y);
}

/* ---- Protocol pieces -------------------------------------------------------------------------------- */

/* Bits [pos, pos + bits) of the little-endian bit string buf (pack.h's order), bits <= 64. */
static void ff__ln_put_field(uint8_t *buf, size_t pos, uint64_t v, int bits) {
  for (int i = 0; i < bits; i++, pos++) buf[pos / 8] |= (uint8_t)(((v >> i) & 1) << (pos % 8));
}

static uint64_t ff__ln_get_field(const uint8_t *buf, size_t pos, int bits) {
  uint64_t v = 0;
  for (int i = 0; i < bits; i++, pos++) v |= (uint64_t)((buf[pos / 8] >> (pos % 8)) & 1) << i;
  return v;
}

/* The pairs of more than 64 bits (wide rsqrt tables at large bw): the same bit string as pack.h would make
 * of n values of bw_a + bw_b bits, built field by field. */
static ff_status ff__ln_reconstruct2_wide(ff_op *op, uint64_t *a, uint64_t *b, size_t n, int bw_a, int bw_b) {
  const size_t bits = (size_t)(bw_a + bw_b), nb = (n * bits + 7) / 8;
  uint8_t *buf = calloc(2 * nb + 1, 1);
  if (!buf) {
    FF_ERROR("LayerNorm reconstruct: out of memory for %zu bytes", 2 * nb);
    return FF_ENOMEM;
  }
  for (size_t i = 0; i < n; i++) {
    ff__ln_put_field(buf, i * bits, ff_ring_reduce(a[i], bw_a), bw_a);
    ff__ln_put_field(buf, i * bits + (size_t)bw_a, ff_ring_reduce(b[i], bw_b), bw_b);
  }
  ff_status st = ff_chan_exchange(op->ctx->chan, buf, buf + nb, nb);
  if (!st) {
    for (size_t i = 0; i < n; i++) {
      a[i] = ff_ring_reduce(a[i] + ff__ln_get_field(buf + nb, i * bits, bw_a), bw_a);
      b[i] = ff_ring_reduce(b[i] + ff__ln_get_field(buf + nb, i * bits + (size_t)bw_a, bw_b), bw_b);
    }
    op->cost[op->party].bits_sent += (uint64_t)n * bits;
  }
  free(buf);
  return st;
}

/* Reconstructs n pairs (a mod 2^bw_a, b mod 2^bw_b) in ONE exchange of bw_a + bw_b bits each: both
 * fields travel side by side in one packed word and are added field by field (scope Reconstruct). a and
 * b in ff__op_mem(op): up to 64 bits on either backend (gates/fss/select.h); wider pairs are staged
 * through host memory field by field (wide rsqrt tables at large bw, rare). */
static ff_status ff__ln_reconstruct2(ff_op *op, uint64_t *a, uint64_t *b, size_t n, int bw_a, int bw_b) {
  FF_SCOPE("Reconstruct");
  ff_status st;
  if (bw_a + bw_b <= 64) {
    if (!(st = ff__fss_reconstruct_fields(op->ctx, ff__op_mem(op), a, bw_a, b, bw_b, n)))
      op->cost[op->party].bits_sent += (uint64_t)n * (uint64_t)(bw_a + bw_b);
    return st;
  }
  if (!ff__op_on_device(op)) return ff__ln_reconstruct2_wide(op, a, b, n, bw_a, bw_b);
  uint64_t *h = ff__op_alloc(2 * n * sizeof *h, "LayerNorm reconstruct");
  st = h ? FF_OK : FF_ENOMEM;
  const size_t nb = n * sizeof *h;
  if (!st && !(st = ff__op_download(op, h, a, nb)) && !(st = ff__op_download(op, h + n, b, nb)) &&
      !(st = ff__ln_reconstruct2_wide(op, h, h + n, n, bw_a, bw_b)) && !(st = ff__op_upload(op, a, h, nb)))
    st = ff__op_upload(op, b, h + n, nb);
  free(h);
  return st;
}

typedef struct {
  int bw, scale;
  size_t d;
  int m;
} ff__ln_table_arg;

static ff_status ff__ln_table_fill(void *arg, uint64_t *host) {
  const ff__ln_table_arg *t = arg;
  ff_sigma_rsqrt_table(t->bw, t->scale, t->d, t->m, host);
  return FF_OK;
}

/* Step 4, party: every buffer and key in ff__op_mem(op) (device for a CUDA party); the LUT key read
 * straight into that memory, the table kept there for the op's life (ff__op_table). */
static ff_status ff__ln_rsqrt_eval(ff_op *op, const ff_wire *V, size_t d, int b, ff_wire *rsq, ff_wire *Vp,
                                   ff_wire *M) {
  ff_ctx *ctx = op->ctx;
  const int bw = V->bw, L = ff__ln_top(bw), m = b - FF_SIGMA_RSQRT_EXP_BITS;
  const size_t R = V->numel, J = (size_t)L + 1, nkey = (2 * J + 3) * R, nt = (size_t)1 << b;
  const size_t mb = ((size_t)L * R + 7) / 8, ltb = (J * R + 7) / 8;
  const size_t w64 = J * R + (size_t)L * R + nkey + 2 * R;
  ff_dpf_key dk = {0};
  ff_lut_key lk = {0};
  const uint64_t *tab = NULL;
  void *blk = NULL;
  ff_status st = ff__op_buf_alloc(op, w64 * sizeof(uint64_t) + ltb + mb, "rsqrt", &blk);
  if (st) goto done;
  uint64_t *pts = blk, *c = pts + J * R, *key = c + (size_t)L * R, *idx = key + nkey;
  uint8_t *lt = (uint8_t *)(idx + 2 * R), *mask = lt + ltb;
  /* a. comparisons at V^ and V^ - 2^t from one DCF key, reconstruct c^. */
  if ((st = ff_sigma_rsqrt_points(ctx, bw, R, V->v, pts)) || (st = ff__op_get_dpf_key(op, &dk, bw, R, "rsqrt")) ||
      (st = ff__op_get_mem(op, mask, mb, "rsqrt")) ||
      (st = ff_dpf_eval_lt(ctx, &dk, J, pts, lt)) || (st = ff_sigma_rsqrt_bits(ctx, bw, R, V->v, lt, mask, c)) ||
      (st = ff_op_reconstruct(op, c, (size_t)L * R, 1)))
    goto done;
  /* b. normalise, reconstruct V^' and E^ together. */
  if ((st = ff__op_get_mem(op, key, nkey * sizeof *key, "rsqrt")) ||
      (st = ff_sigma_rsqrt_normalize(ctx, bw, m, R, c, V->v, key, idx)) ||
      (st = ff__ln_reconstruct2(op, idx, idx + R, R, bw, b)) ||
      (st = ff__fss_buf_copy(ctx, "rsqrt", Vp->v, ff__op_mem(op), idx, ff__op_mem(op), R * sizeof *idx)))
    goto done;
  /* c. mantissa. */
  if ((st = ff_op_trslack(op, Vp, L - m, b, M))) goto done;
  /* d. LUT at I^ = E^ + M^ - 2^m, revealed; the table made on the host (uploaded for a CUDA party). */
  ff__ln_table_arg ta = {bw, op->scale, d, m};
  if ((st = ff_sigma_rsqrt_index(ctx, m, R, idx + R, M->v, idx)) ||
      (st = ff__op_table(op, ff__op_table_key_x(5, (uint32_t)d, (uint32_t)m, (uint32_t)bw, (uint64_t)op->scale), nt, ff__ln_table_fill, &ta,
                         &tab)) ||
      (st = ff__op_get_lut_key(op, &lk, b, bw, 1, R, "rsqrt")) || (st = ff_lut_eval(ctx, &lk, idx, tab, 1, rsq->v)))
    goto done;
  op->cost[op->party].bits_sent += (uint64_t)R * (1 + 2 * (uint64_t)bw); /* the LUT's exchanges */
done:
  ff_dpf_key_free(&dk);
  ff_lut_key_free(&lk);
  ff__op_buf_free(op, blk);
  return st;
}

/* Step 4: V (R) -> rsq (R), both bw bits; a table of b input bits. */
static ff_status ff__ln_rsqrt(ff_op *op, const ff_wire *V, size_t d, int b, ff_wire *rsq) {
  const int bw = V->bw, L = ff__ln_top(bw), m = b - FF_SIGMA_RSQRT_EXP_BITS;
  const size_t R = V->numel, J = (size_t)L + 1, nkey = (2 * J + 3) * R;
  const int64_t rshape[1] = {(int64_t)R};
  ff_wire Vp = {0}, M = {0};
  uint64_t *c = NULL, *key = NULL, *idx = NULL;
  ff_status st;
  if ((st = ff__op_wire_alloc(op, rsq, bw, 1, rshape)) || (st = ff__op_wire_alloc(op, &Vp, bw, 1, rshape))) goto done;
  if (op->role != FF_OP_DEALER) {
    st = ff__ln_rsqrt_eval(op, V, d, b, rsq, &Vp, &M);
    goto done;
  }
  c = ff__op_alloc((size_t)L * R * sizeof *c, "rsqrt");
  key = ff__op_alloc(nkey * sizeof *key, "rsqrt");
  idx = ff__op_alloc(2 * R * sizeof *idx, "rsqrt");
  if (!c || !key || !idx) {
    st = FF_ENOMEM;
    goto done;
  }
  {
    /* Dealer. */
    const uint64_t *rv = V->v;
    /* a. one DCF(bw) key per row at r_V, and the L mask bits m_t (c: (L, R)). */
    /* (ff__dcf_deal: bw >= 8, so a DPF key, made where the dealer makes trees and written from there) */
    if ((st = ff__dcf_deal(op, bw, R, rv)) || (st = ff__op_draw(op, c, (size_t)L * R, 1)) ||
        (st = ff__op_put_bit_shares(op, 1, (size_t)L * R, c)))
      goto done;
    /* b. rho_j = m_(j+1) ^ m_j (m_0 = m_(L+1) = 0), rho_j r_V, r_V, r_V' (Vp's mask), r_k. */
    uint64_t *rho = key, *rhorv = key + J * R, *krv = key + 2 * J * R, *rvp = krv + R, *rk = rvp + R;
    for (size_t j = 0; j < J; j++)
      for (size_t i = 0; i < R; i++) {
        const uint64_t lo = j == 0 ? 0 : c[(j - 1) * R + i], hi = j == (size_t)L ? 0 : c[j * R + i];
        rho[j * R + i] = lo ^ hi;
        rhorv[j * R + i] = ff_ring_reduce((lo ^ hi) * rv[i], bw);
      }
    memcpy(krv, rv, R * sizeof *rv);
    if ((st = ff__op_draw(op, Vp.v, R, bw)) || (st = ff__op_draw(op, rk, R, b))) goto done;
    memcpy(rvp, Vp.v, R * sizeof *rvp);
    if ((st = ff__op_put_shares(op, key, nkey, bw))) goto done;
    /* c. */
    if ((st = ff_op_trslack(op, &Vp, L - m, b, &M))) goto done;
    /* d. the LUT at mask r_k + r_M. */
    for (size_t i = 0; i < R; i++) idx[i] = ff_ring_reduce(rk[i] + M.v[i], b);
    st = ff__lut_deal(op, idx, b, bw, R, rsq->v);
  }
done:
  ff_wire_free(&Vp);
  ff_wire_free(&M);
  free(c);
  free(key);
  free(idx);
  if (st) ff_wire_free(rsq);
  return st;
}

/* Steps 5-6: y = TrWithSlack(x w, s) with w broadcast per row (w: R) or per column (w: d). */
static ff_status ff__ln_wmul(ff_op *op, const ff_wire *x, const ff_wire *w, size_t R, size_t d, int per_row,
                             ff_wire *y) {
  const int bw = x->bw;
  const size_t N = R * d, W = per_row ? R : d;
  ff_wire z = {0};
  uint64_t *key = NULL; /* in ff__op_mem(op) */
  ff_status st = ff__op_buf_alloc(op, (2 * N + W) * sizeof *key, "LayerNorm windowMul", (void **)&key);
  if (st || (st = ff__op_wire_alloc(op, &z, bw, x->ndim, x->shape))) goto done;
  if (op->role == FF_OP_DEALER) {
    if ((st = ff__op_draw(op, z.v, N, bw))) goto done;
    memcpy(key, x->v, N * sizeof *key);
    memcpy(key + N, w->v, W * sizeof *key);
    for (size_t i = 0; i < R; i++)
      for (size_t j = 0; j < d; j++) {
        const size_t e = i * d + j;
        key[N + W + e] = ff_ring_reduce(x->v[e] * w->v[per_row ? i : j] + z.v[e], bw);
      }
    if ((st = ff__op_put_shares(op, key, 2 * N + W, bw))) goto done;
  } else if ((st = ff__op_get_mem(op, key, (2 * N + W) * sizeof *key, "LayerNorm windowMul")) ||
             (st = ff_sigma_ln_wmul(op->ctx, bw, R, d, per_row, x->v, w->v, key, z.v)) ||
             (st = ff_op_reconstruct(op, z.v, N, bw))) {
    goto done;
  }
  st = ff_op_trslack(op, &z, op->scale, bw, y);
done:
  ff_wire_free(&z);
  ff__op_buf_free(op, key);
  return st;
}

/* ---- The gates ---------------------------------------------------------------------------------------- */

static ff_status ff__ln_run(ff_op *op, const ff_wire *x, const ff_wire *gamma, const ff_wire *beta, int rms,
                           const ff_sigma_norm_opts *opts, ff_wire *y) {
  const char *fn = rms ? "ff_op_rmsnorm" : "ff_op_layernorm";
  if (!op || !x || !gamma || !y || (!rms && !beta) ||
      (op->role != FF_OP_COST && (!x->v || !gamma->v || (!rms && !beta->v)))) {
    FF_ERROR("%s: op, an input or the output wire is NULL or empty", fn);
    return FF_EINVAL;
  }
  memset(y, 0, sizeof *y);
  const int bw = x->bw, s = op->scale;
  const size_t d = x->ndim >= 1 ? (size_t)x->shape[x->ndim - 1] : 0;
  if (bw != op->bw || bw < 20 || bw > 64 - FF_SIGMA_RSQRT_LUT_BITS || d < 2 || gamma->numel != d || gamma->bw != bw ||
      (!rms && (beta->numel != d || beta->bw != bw)) || s < 1 || 2 * s + 8 > bw) {
    FF_ERROR("%s: need the op's ring of 20..51 bits, a last dimension d >= 2, gamma and beta of d values of the same "
             "width, and 2 scale + 8 <= bw (bw %d, d %zu, scale %d)", fn, bw, d, s);
    return FF_EINVAL;
  }
  int b;
  uint64_t eps_c;
  ff_status st = ff__ln_rsqrt_bits(fn, opts, &b);
  if (!st) st = ff__ln_eps(fn, opts, d, bw, s, &eps_c);
  if (st) return st;
  FF_SCOPE("LayerNorm");
  const size_t N = x->numel, R = N / d;
  const int64_t rshape[1] = {(int64_t)R};
  if (op->role == FF_OP_COST) {
    ff_gate_cost c;
    ff__ln_cost(R, d, bw, s, rms, b, &c);
    ff__op_charge_both(op, &c);
    return ff__op_wire_alloc(op, y, bw, x->ndim, x->shape);
  }
  /* d[2]: the rsqrt table's bits when they are not SIGMA's 13 (0 keeps SIGMA's streams as they were), and
   * from bit 8 the epsilon's constant (0 without one; eps_c < 2^(bw-4) <= 2^56 fits). */
  const ff__sg_tag tag = {rms ? FF__SG_RMSNORM : FF__SG_LAYERNORM, (uint32_t)bw, (uint32_t)s, 0,
                          {R, d, (b != FF_SIGMA_RSQRT_LUT_BITS ? (uint64_t)b : 0) | eps_c << 8}};
  ff_wire S = {0}, mu = {0}, xc = {0}, V = {0}, rsq = {0}, y1 = {0};
  uint64_t *key = NULL;
  ff__op_enter(op);
  if ((st = ff__op_tag(op, &tag))) goto done;
  /* 1-2. mean and centring (RMSNorm: xc is x). Wires and keys in ff__op_mem(op). */
  const ff_wire *xcw = rms ? x : &xc;
  if (!rms) {
    const int lg = ff__ln_log2(d);
    const uint64_t mult = lg >= 0 ? 1 : (UINT64_C(1) << s) / d;
    if ((st = ff__op_wire_alloc(op, &xc, bw, x->ndim, x->shape)) ||
        (st = ff__op_wire_alloc(op, &S, bw, 1, rshape)) ||
        (st = ff_sigma_ln_rowsum(op->ctx, bw, R, d, mult, x->v, S.v)) ||
        (st = ff_op_trfloor(op, &S, lg >= 0 ? lg : s, &mu)) ||
        (st = ff_sigma_ln_center(op->ctx, bw, R, d, x->v, mu.v, xc.v)))
      goto done;
  }
  /* 3. squares and their row sums, reconstructed. */
  if ((st = ff__op_wire_alloc(op, &V, bw, 1, rshape)) ||
      (st = ff__op_buf_alloc(op, 2 * N * sizeof *key, "LayerNorm squares", (void **)&key)))
    goto done;
  if (op->role == FF_OP_DEALER) {
    const uint64_t *r = xcw->v;
    if ((st = ff__op_draw(op, V.v, R, bw))) goto done;
    for (size_t e = 0; e < N; e++) {
      key[e] = ff_ring_reduce(2 * r[e], bw);
      /* The row's mask of V, and the epsilon's public constant: V^ = V + eps_c + r_V (layernorm.h). */
      key[N + e] = ff_ring_reduce(r[e] * r[e] + (e % d == 0 ? V.v[e / d] + eps_c : 0), bw);
    }
    if ((st = ff__op_put_shares(op, key, 2 * N, bw))) goto done;
  } else if ((st = ff__op_get_mem(op, key, 2 * N * sizeof *key, "LayerNorm squares")) ||
             (st = ff_sigma_ln_square(op->ctx, bw, R, d, xcw->v, key, V.v)) ||
             (st = ff_op_reconstruct(op, V.v, R, bw))) {
    goto done;
  }
  /* 4-6 (+ beta: masks at the dealer, masked values at the parties). */
  if ((st = ff__ln_rsqrt(op, &V, d, b, &rsq)) || (st = ff__ln_wmul(op, xcw, &rsq, R, d, 1, &y1)) ||
      (st = ff__ln_wmul(op, &y1, gamma, R, d, 0, y)) ||
      (!rms && (st = ff_sigma_ln_addcol(op->ctx, bw, R, d, y->v, beta->v))))
    goto done;
done:
  ff__op_leave(op);
  ff_wire_free(&S);
  ff_wire_free(&mu);
  ff_wire_free(&xc);
  ff_wire_free(&V);
  ff_wire_free(&rsq);
  ff_wire_free(&y1);
  ff__op_buf_free(op, key);
  if (st) ff_wire_free(y);
  return st;
}

ff_status ff_op_layernorm_ex(ff_op *op, const ff_wire *x, const ff_wire *gamma, const ff_wire *beta, ff_wire *y,
                             const ff_sigma_norm_opts *opts) {
  return ff__ln_run(op, x, gamma, beta, 0, opts, y);
}

ff_status ff_op_rmsnorm_ex(ff_op *op, const ff_wire *x, const ff_wire *gamma, ff_wire *y,
                           const ff_sigma_norm_opts *opts) {
  return ff__ln_run(op, x, gamma, NULL, 1, opts, y);
}

ff_status ff_op_layernorm(ff_op *op, const ff_wire *x, const ff_wire *gamma, const ff_wire *beta, ff_wire *y) {
  return ff_op_layernorm_ex(op, x, gamma, beta, y, NULL);
}

ff_status ff_op_rmsnorm(ff_op *op, const ff_wire *x, const ff_wire *gamma, ff_wire *y) {
  return ff_op_rmsnorm_ex(op, x, gamma, y, NULL);
}
