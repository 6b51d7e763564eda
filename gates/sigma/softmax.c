/* Softmax per attention row (research/sigma.md §4; GPU-MPC fss/gpu_softmax.cu and the gates it calls):
 * _cpu kernels, tables, dealer and parties (either backend; _cuda twins in softmax_cuda.cu), cost and the
 * fixed-point emulation; softmax.h gives the steps. Tests: tests/test_sigma_softmax.c, test_sigma_cuda_softmax.c. */
#include "gates/sigma/softmax.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "comm/pack.h"
#include "core/log.h"
#include "core/ring.h"
#include "gates/fss/lut.h"
#include "gates/fss/select.h"
#include "gates/sigma/mul.h"
#include "gates/sigma/op_internal.h"
#include "gates/sigma/relu.h"
#include "gates/sigma/truncate.h"

#define FF__SM_SCALE 12
#define FF__SM_CLIP ((UINT64_C(1) << 16) - 1)

/* ---- Kernels ---------------------------------------------------------------------------------------- */

ff_status ff_sigma_maxtree_diff_cpu(ff_ctx *ctx, int ring, size_t R, size_t m, const uint64_t *v, uint64_t *d) {
  (void)ctx;
  const size_t h = m / 2;
  for (size_t r = 0; r < R; r++)
    for (size_t j = 0; j < h; j++) d[r * h + j] = ff_ring_reduce(v[r * m + 2 * j] - v[r * m + 2 * j + 1], ring);
  return FF_OK;
}

ff_status ff_sigma_maxtree_next_cpu(ff_ctx *ctx, int ring, size_t R, size_t m, const uint64_t *v,
                                    const uint64_t *relu, uint64_t *next) {
  (void)ctx;
  const size_t h = m / 2, m2 = (m + 1) / 2;
  for (size_t r = 0; r < R; r++) {
    for (size_t j = 0; j < h; j++) next[r * m2 + j] = ff_ring_reduce(relu[r * h + j] + v[r * m + 2 * j + 1], ring);
    if (m % 2) next[r * m2 + h] = v[r * m + m - 1];
  }
  return FF_OK;
}

ff_status ff_sigma_softmax_sub_cpu(ff_ctx *ctx, int ring, size_t R, size_t n, const uint64_t *max, const uint64_t *x,
                                   uint64_t *x1) {
  (void)ctx;
  for (size_t r = 0; r < R; r++)
    for (size_t j = 0; j < n; j++) x1[r * n + j] = ff_ring_reduce(max[r] - x[r * n + j], ring);
  return FF_OK;
}

ff_status ff_sigma_rowsum_cpu(ff_ctx *ctx, int ring, size_t R, size_t n, const uint64_t *e, uint64_t *sum) {
  (void)ctx;
  for (size_t r = 0; r < R; r++) {
    uint64_t s = 0;
    for (size_t j = 0; j < n; j++) s += e[r * n + j];
    sum[r] = ff_ring_reduce(s, ring);
  }
  return FF_OK;
}

ff_status ff_sigma_add_const_cpu(ff_ctx *ctx, int ring, size_t N, const uint64_t *in, uint64_t c, uint64_t *out) {
  (void)ctx;
  for (size_t i = 0; i < N; i++) out[i] = ff_ring_reduce(in[i] + c, ring);
  return FF_OK;
}

ff_status ff_sigma_row_bcast_cpu(ff_ctx *ctx, size_t R, size_t n, const uint64_t *in, uint64_t *out) {
  (void)ctx;
  for (size_t r = 0; r < R; r++)
    for (size_t j = 0; j < n; j++) out[r * n + j] = in[r];
  return FF_OK;
}

/* ---- Causal kernels: the references walk the rows with a running offset (the CUDA twins compute each
 * row's offset in closed form, so the tests check one against the other). ---------------------------------- */

/* ceil(a / 2^l) */
static size_t ff__ceil_shr(size_t a, int l) { return (a + ((size_t)1 << l) - 1) >> l; }

static ff_status ff__causal_level_ok(const char *fn, int level) {
  if (level < 0 || level > 62) {
    FF_ERROR("%s: max-tree level %d is outside 0..62", fn, level);
    return FF_EINVAL;
  }
  return FF_OK;
}

size_t ff_sigma_causal_numel(size_t R, size_t n, int level) {
  size_t t = 0;
  if (!n || level < 0 || level > 62) return 0;
  for (size_t r = 0; r < R; r++) t += ff__ceil_shr(r % n + 1, level);
  return t;
}

ff_status ff_sigma_causal_pack_cpu(ff_ctx *ctx, int ring, size_t R, size_t n, const uint64_t *x, uint64_t *xp) {
  (void)ctx;
  if (!n) return FF_OK;
  for (size_t r = 0, k = 0; r < R; r++)
    for (size_t j = 0; j <= r % n; j++) xp[k++] = ff_ring_reduce(x[r * n + j], ring);
  return FF_OK;
}

ff_status ff_sigma_causal_unpack_cpu(ff_ctx *ctx, size_t R, size_t n, const uint64_t *xp, uint64_t *y) {
  (void)ctx;
  if (!n) return FF_OK;
  for (size_t r = 0, k = 0; r < R; r++)
    for (size_t j = 0; j < n; j++) y[r * n + j] = j <= r % n ? xp[k++] : 0;
  return FF_OK;
}

ff_status ff_sigma_causal_maxtree_diff_cpu(ff_ctx *ctx, int ring, size_t R, size_t n, int level, const uint64_t *v,
                                           uint64_t *d) {
  (void)ctx;
  ff_status st = ff__causal_level_ok("ff_sigma_causal_maxtree_diff_cpu", level);
  if (st || !n) return st;
  for (size_t r = 0, off = 0, k = 0; r < R; r++) {
    const size_t m = ff__ceil_shr(r % n + 1, level);
    for (size_t j = 0; j < (m + 1) / 2; j++)
      d[k++] = 2 * j + 1 < m ? ff_ring_reduce(v[off + 2 * j] - v[off + 2 * j + 1], ring) : 0;
    off += m;
  }
  return FF_OK;
}

ff_status ff_sigma_causal_maxtree_next_cpu(ff_ctx *ctx, int ring, size_t R, size_t n, int level, const uint64_t *v,
                                           const uint64_t *relu, uint64_t *next) {
  (void)ctx;
  ff_status st = ff__causal_level_ok("ff_sigma_causal_maxtree_next_cpu", level);
  if (st || !n) return st;
  for (size_t r = 0, off = 0, k = 0; r < R; r++) {
    const size_t m = ff__ceil_shr(r % n + 1, level);
    for (size_t j = 0; j < (m + 1) / 2; j++, k++)
      next[k] = ff_ring_reduce(relu[k] + v[off + 2 * j + (2 * j + 1 < m)], ring);
    off += m;
  }
  return FF_OK;
}

ff_status ff_sigma_causal_sub_cpu(ff_ctx *ctx, int ring, size_t R, size_t n, const uint64_t *max, const uint64_t *xp,
                                  uint64_t *x1) {
  (void)ctx;
  if (!n) return FF_OK;
  for (size_t r = 0, k = 0; r < R; r++)
    for (size_t j = 0; j <= r % n; j++, k++) x1[k] = ff_ring_reduce(max[r] - xp[k], ring);
  return FF_OK;
}

ff_status ff_sigma_causal_rowsum_cpu(ff_ctx *ctx, int ring, size_t R, size_t n, const uint64_t *e, uint64_t *sum) {
  (void)ctx;
  if (!n) return FF_OK;
  for (size_t r = 0, k = 0; r < R; r++) {
    uint64_t s = 0;
    for (size_t j = 0; j <= r % n; j++) s += e[k++];
    sum[r] = ff_ring_reduce(s, ring);
  }
  return FF_OK;
}

ff_status ff_sigma_causal_bcast_cpu(ff_ctx *ctx, size_t R, size_t n, const uint64_t *in, uint64_t *out) {
  (void)ctx;
  if (!n) return FF_OK;
  for (size_t r = 0, k = 0; r < R; r++)
    for (size_t j = 0; j <= r % n; j++) out[k++] = in[r];
  return FF_OK;
}

#ifndef FF_HAVE_CUDA
static ff_status ff__sm_no_cuda(const char *fn) {
  FF_ERROR("%s: this build of fusefss has no CUDA backend", fn);
  return FF_ENOTSUP;
}

ff_status ff_sigma_maxtree_diff_cuda(ff_ctx *ctx, int ring, size_t R, size_t m, const uint64_t *v, uint64_t *d) {
  (void)ctx, (void)ring, (void)R, (void)m, (void)v, (void)d;
  return ff__sm_no_cuda("ff_sigma_maxtree_diff_cuda");
}

ff_status ff_sigma_maxtree_next_cuda(ff_ctx *ctx, int ring, size_t R, size_t m, const uint64_t *v,
                                     const uint64_t *relu, uint64_t *next) {
  (void)ctx, (void)ring, (void)R, (void)m, (void)v, (void)relu, (void)next;
  return ff__sm_no_cuda("ff_sigma_maxtree_next_cuda");
}

ff_status ff_sigma_softmax_sub_cuda(ff_ctx *ctx, int ring, size_t R, size_t n, const uint64_t *max, const uint64_t *x,
                                    uint64_t *x1) {
  (void)ctx, (void)ring, (void)R, (void)n, (void)max, (void)x, (void)x1;
  return ff__sm_no_cuda("ff_sigma_softmax_sub_cuda");
}

ff_status ff_sigma_rowsum_cuda(ff_ctx *ctx, int ring, size_t R, size_t n, const uint64_t *e, uint64_t *sum) {
  (void)ctx, (void)ring, (void)R, (void)n, (void)e, (void)sum;
  return ff__sm_no_cuda("ff_sigma_rowsum_cuda");
}

ff_status ff_sigma_add_const_cuda(ff_ctx *ctx, int ring, size_t N, const uint64_t *in, uint64_t c, uint64_t *out) {
  (void)ctx, (void)ring, (void)N, (void)in, (void)c, (void)out;
  return ff__sm_no_cuda("ff_sigma_add_const_cuda");
}

ff_status ff_sigma_row_bcast_cuda(ff_ctx *ctx, size_t R, size_t n, const uint64_t *in, uint64_t *out) {
  (void)ctx, (void)R, (void)n, (void)in, (void)out;
  return ff__sm_no_cuda("ff_sigma_row_bcast_cuda");
}

ff_status ff_sigma_causal_pack_cuda(ff_ctx *ctx, int ring, size_t R, size_t n, const uint64_t *x, uint64_t *xp) {
  (void)ctx, (void)ring, (void)R, (void)n, (void)x, (void)xp;
  return ff__sm_no_cuda("ff_sigma_causal_pack_cuda");
}

ff_status ff_sigma_causal_unpack_cuda(ff_ctx *ctx, size_t R, size_t n, const uint64_t *xp, uint64_t *y) {
  (void)ctx, (void)R, (void)n, (void)xp, (void)y;
  return ff__sm_no_cuda("ff_sigma_causal_unpack_cuda");
}

ff_status ff_sigma_causal_maxtree_diff_cuda(ff_ctx *ctx, int ring, size_t R, size_t n, int level, const uint64_t *v,
                                            uint64_t *d) {
  (void)ctx, (void)ring, (void)R, (void)n, (void)level, (void)v, (void)d;
  return ff__sm_no_cuda("ff_sigma_causal_maxtree_diff_cuda");
}

ff_status ff_sigma_causal_maxtree_next_cuda(ff_ctx *ctx, int ring, size_t R, size_t n, int level, const uint64_t *v,
                                            const uint64_t *relu, uint64_t *next) {
  (void)ctx, (void)ring, (void)R, (void)n, (void)level, (void)v, (void)relu, (void)next;
  return ff__sm_no_cuda("ff_sigma_causal_maxtree_next_cuda");
}

ff_status ff_sigma_causal_sub_cuda(ff_ctx *ctx, int ring, size_t R, size_t n, const uint64_t *max, const uint64_t *xp,
                                   uint64_t *x1) {
  (void)ctx, (void)ring, (void)R, (void)n, (void)max, (void)xp, (void)x1;
  return ff__sm_no_cuda("ff_sigma_causal_sub_cuda");
}

ff_status ff_sigma_causal_rowsum_cuda(ff_ctx *ctx, int ring, size_t R, size_t n, const uint64_t *e, uint64_t *sum) {
  (void)ctx, (void)ring, (void)R, (void)n, (void)e, (void)sum;
  return ff__sm_no_cuda("ff_sigma_causal_rowsum_cuda");
}

ff_status ff_sigma_causal_bcast_cuda(ff_ctx *ctx, size_t R, size_t n, const uint64_t *in, uint64_t *out) {
  (void)ctx, (void)R, (void)n, (void)in, (void)out;
  return ff__sm_no_cuda("ff_sigma_causal_bcast_cuda");
}
#endif

ff_status ff_sigma_maxtree_diff(ff_ctx *ctx, int ring, size_t R, size_t m, const uint64_t *v, uint64_t *d) {
  if (ctx->backend == FF_BACKEND_CUDA) return ff_sigma_maxtree_diff_cuda(ctx, ring, R, m, v, d);
  return ff_sigma_maxtree_diff_cpu(ctx, ring, R, m, v, d);
}

ff_status ff_sigma_maxtree_next(ff_ctx *ctx, int ring, size_t R, size_t m, const uint64_t *v, const uint64_t *relu,
                                uint64_t *next) {
  if (ctx->backend == FF_BACKEND_CUDA) return ff_sigma_maxtree_next_cuda(ctx, ring, R, m, v, relu, next);
  return ff_sigma_maxtree_next_cpu(ctx, ring, R, m, v, relu, next);
}

ff_status ff_sigma_softmax_sub(ff_ctx *ctx, int ring, size_t R, size_t n, const uint64_t *max, const uint64_t *x,
                               uint64_t *x1) {
  if (ctx->backend == FF_BACKEND_CUDA) return ff_sigma_softmax_sub_cuda(ctx, ring, R, n, max, x, x1);
  return ff_sigma_softmax_sub_cpu(ctx, ring, R, n, max, x, x1);
}

ff_status ff_sigma_rowsum(ff_ctx *ctx, int ring, size_t R, size_t n, const uint64_t *e, uint64_t *sum) {
  if (ctx->backend == FF_BACKEND_CUDA) return ff_sigma_rowsum_cuda(ctx, ring, R, n, e, sum);
  return ff_sigma_rowsum_cpu(ctx, ring, R, n, e, sum);
}

ff_status ff_sigma_add_const(ff_ctx *ctx, int ring, size_t N, const uint64_t *in, uint64_t c, uint64_t *out) {
  if (ctx->backend == FF_BACKEND_CUDA) return ff_sigma_add_const_cuda(ctx, ring, N, in, c, out);
  return ff_sigma_add_const_cpu(ctx, ring, N, in, c, out);
}

ff_status ff_sigma_row_bcast(ff_ctx *ctx, size_t R, size_t n, const uint64_t *in, uint64_t *out) {
  if (ctx->backend == FF_BACKEND_CUDA) return ff_sigma_row_bcast_cuda(ctx, R, n, in, out);
  return ff_sigma_row_bcast_cpu(ctx, R, n, in, out);
}

ff_status ff_sigma_causal_pack(ff_ctx *ctx, int ring, size_t R, size_t n, const uint64_t *x, uint64_t *xp) {
  if (ctx->backend == FF_BACKEND_CUDA) return ff_sigma_causal_pack_cuda(ctx, ring, R, n, x, xp);
  return ff_sigma_causal_pack_cpu(ctx, ring, R, n, x, xp);
}

ff_status ff_sigma_causal_unpack(ff_ctx *ctx, size_t R, size_t n, const uint64_t *xp, uint64_t *y) {
  if (ctx->backend == FF_BACKEND_CUDA) return ff_sigma_causal_unpack_cuda(ctx, R, n, xp, y);
  return ff_sigma_causal_unpack_cpu(ctx, R, n, xp, y);
}

ff_status ff_sigma_causal_maxtree_diff(ff_ctx *ctx, int ring, size_t R, size_t n, int level, const uint64_t *v,
                                       uint64_t *d) {
  if (ctx->backend == FF_BACKEND_CUDA) return ff_sigma_causal_maxtree_diff_cuda(ctx, ring, R, n, level, v, d);
  return ff_sigma_causal_maxtree_diff_cpu(ctx, ring, R, n, level, v, d);
}

ff_status ff_sigma_causal_maxtree_next(ff_ctx *ctx, int ring, size_t R, size_t n, int level, const uint64_t *v,
                                       const uint64_t *relu, uint64_t *next) {
  if (ctx->backend == FF_BACKEND_CUDA) return ff_sigma_causal_maxtree_next_cuda(ctx, ring, R, n, level, v, relu, next);
  return ff_sigma_causal_maxtree_next_cpu(ctx, ring, R, n, level, v, relu, next);
}

ff_status ff_sigma_causal_sub(ff_ctx *ctx, int ring, size_t R, size_t n, const uint64_t *max, const uint64_t *xp,
                              uint64_t *x1) {
  if (ctx->backend == FF_BACKEND_CUDA) return ff_sigma_causal_sub_cuda(ctx, ring, R, n, max, xp, x1);
  return ff_sigma_causal_sub_cpu(ctx, ring, R, n, max, xp, x1);
}

ff_status ff_sigma_causal_rowsum(ff_ctx *ctx, int ring, size_t R, size_t n, const uint64_t *e, uint64_t *sum) {
  if (ctx->backend == FF_BACKEND_CUDA) return ff_sigma_causal_rowsum_cuda(ctx, ring, R, n, e, sum);
  return ff_sigma_causal_rowsum_cpu(ctx, ring, R, n, e, sum);
}

ff_status ff_sigma_causal_bcast(ff_ctx *ctx, size_t R, size_t n, const uint64_t *in, uint64_t *out) {
  if (ctx->backend == FF_BACKEND_CUDA) return ff_sigma_causal_bcast_cuda(ctx, R, n, in, out);
  return ff_sigma_causal_bcast_cpu(ctx, R, n, in, out);
}

/* ---- Tables --------------------------------------------------------------------------------------------- */

void ff_sigma_nexp_lsb_table(uint64_t *tab) {
  for (int i = 0; i < 256; i++) tab[i] = (uint64_t)(exp(-i / 4096.0) * 4096.0);
}

void ff_sigma_nexp_msb_table(uint64_t *tab) {
  for (int i = 0; i < 256; i++) tab[i] = (uint64_t)(exp(-i / 16.0) * 4096.0);
}

void ff_sigma_inv_table_ex(int bits, int shift, uint64_t *tab) {
  const size_t n = (size_t)1 << bits;
  const double one = ldexp(1.0, 2 * FF__SM_SCALE - shift); /* 2^18 = 262144.0 at SIGMA's shift 6 */
  tab[0] = (uint64_t)(one / (double)n);
  for (size_t i = 1; i < n; i++) tab[i] = (uint64_t)(one / (double)i);
}

void ff_sigma_inv_table(int bits, uint64_t *tab) { ff_sigma_inv_table_ex(bits, 6, tab); }

/* ---- Shapes and costs ------------------------------------------------------------------------------------ */

static int ff__ceil_log2(size_t n) {
  int k = 0;
  while (((size_t)1 << k) < n) k++;
  return k;
}

/* The options resolved for rows of n (softmax.h ff_sigma_softmax_opts). */
typedef struct {
  int k, b;                          /* the inverse: row sums mod 2^k, LUT of b input bits (shift t = k - b) */
  const ff_sigma_softmax_opts *hook; /* the options when their nExp hooks are set, else NULL (SIGMA's nExp) */
} ff__sm_cfg;

static ff_status ff__sm_config(const char *fn, const ff_sigma_softmax_opts *o, size_t n, ff__sm_cfg *cfg) {
  cfg->k = FF__SM_SCALE + ff__ceil_log2(n);
  cfg->b = cfg->k - 6;
  cfg->hook = NULL;
  if (!o) return FF_OK;
  if (o->inv_bits) {
    if (o->inv_bits < FF_LUT_MIN_BITS || o->inv_bits > 16 || o->inv_bits >= cfg->k) {
      FF_ERROR("%s: inv_bits %d is outside 8..16 or not below k = %d (rows of %zu)", fn, o->inv_bits, cfg->k, n);
      return FF_EINVAL;
    }
    cfg->b = o->inv_bits;
  }
  const int hooks = !!o->nexp + !!o->nexp_cost + !!o->nexp_emulate;
  if (hooks != 0 && hooks != 3) {
    FF_ERROR("%s: nexp, nexp_cost and nexp_emulate are set together or not at all (%d of 3 set)", fn, hooks);
    return FF_EINVAL;
  }
  if (hooks) cfg->hook = o;
  return FF_OK;
}

/* The tag's d[2] (op_internal.h FF__SG_SOFTMAX): b when it is not SIGMA's k - 6, plus 2^8 when nExp is
 * hooked; 0 for SIGMA's softmax, so its key streams keep their bytes. */
static uint64_t ff__sm_tag_opts(const ff__sm_cfg *cfg) {
  return (cfg->b != cfg->k - 6 ? (uint64_t)cfg->b : 0) | (cfg->hook ? UINT64_C(1) << 8 : 0);
}

/* DReLU(bin) then select revealed in b_out bits, C elements (relu.h's cost for any bin/b_out pair),
 * the select key's 5 elements in eb-byte words (8, or 2 for SIGMA's u16 clip). */
static void ff__relu_sel_cost(size_t C, int bin, int b_out, int eb, ff_gate_cost *c) {
  ff_gate_cost sel;
  ff_sigma_drelu_cost(C, bin, c);
  ff_select_cost(b_out, C, 1, &sel);
  sel.key_bytes = (uint64_t)FF_SELECT_KEY_ELEMS * (uint64_t)eb * C;
  *c = ff_gate_cost_add(*c, sel);
}

/* Beaver product (key_words u64 words per party) revealed in bw bits, then TrWithSlack by 12. */
static void ff__beaver_cost(size_t N, uint64_t key_words, int bw, ff_gate_cost *c) {
  ff_gate_cost t;
  memset(c, 0, sizeof *c);
  c->key_bytes = 8 * key_words;
  c->bits_sent = (uint64_t)N * (uint64_t)bw;
  c->bytes_sent = ff_packed_size(N, bw);
  c->rounds = 1;
  ff_sigma_trslack_cost(N, bw, FF__SM_SCALE, bw, &t);
  *c = ff_gate_cost_add(*c, t);
}

static void ff__max_cost(size_t R, size_t n, int bw, ff_gate_cost *c) {
  const int bin = bw - FF__SM_SCALE;
  memset(c, 0, sizeof *c);
  for (size_t m = n; m > 1; m = (m + 1) / 2) {
    ff_gate_cost l;
    ff__relu_sel_cost(R * (m / 2), bin + 1, bin + 2, 8, &l);
    *c = ff_gate_cost_add(*c, l);
  }
}

void ff_sigma_nexp_cost(void *arg, size_t N, int bw, int ring, ff_gate_cost *c) {
  (void)arg;
  ff_gate_cost t;
  ff__relu_sel_cost(N, ring, 16, ff__op_word_bytes(16), c);
  ff_lut_cost(8, bw, N, &t);
  *c = ff_gate_cost_add(*c, t);
  ff__sigma_trslack_narrow_cost(N, 16, 8, 8, &t);
  *c = ff_gate_cost_add(*c, t);
  ff_lut_cost(8, bw, N, &t);
  *c = ff_gate_cost_add(*c, t);
  ff__beaver_cost(N, 3 * (uint64_t)N, bw, &t);
  *c = ff_gate_cost_add(*c, t);
}

static void ff__inv_cost(size_t R, int bw, const ff__sm_cfg *cfg, ff_gate_cost *c) {
  ff_gate_cost t;
  ff__sigma_trslack_narrow_cost(R, cfg->k, cfg->k - cfg->b, cfg->b, c);
  ff_lut_cost(cfg->b, bw, R, &t);
  *c = ff_gate_cost_add(*c, t);
}

/* Causal max tree: L = ceil(log2 n) levels for every row; at level l a row of len entries makes
 * ceil(len / 2^l) comparisons (an unpaired value is compared against itself through a 0 difference). */
static void ff__max_causal_cost(size_t R, size_t n, int bw, ff_gate_cost *c) {
  const int bin = bw - FF__SM_SCALE, L = ff__ceil_log2(n);
  memset(c, 0, sizeof *c);
  for (int l = 1; l <= L; l++) {
    size_t C = 0;
    for (size_t r = 0; r < R; r++) C += ((r % n + 1) + ((size_t)1 << l) - 1) >> l;
    ff_gate_cost t;
    ff__relu_sel_cost(C, bin + 1, bin + 2, 8, &t);
    *c = ff_gate_cost_add(*c, t);
  }
}

/* The whole gate (nExp left out with with_nexp 0: the cost-only role runs a hook as a gate instead). */
static void ff__sm_cost(size_t R, size_t n, int bw, int causal, const ff__sm_cfg *cfg, int with_nexp,
                        ff_gate_cost *c) {
  const size_t N = causal ? ff_sigma_causal_numel(R, n, 0) : R * n;
  const int ring = bw - FF__SM_SCALE + 2;
  ff_gate_cost t;
  (causal ? ff__max_causal_cost : ff__max_cost)(R, n, bw, c);
  if (with_nexp) {
    if (cfg->hook) cfg->hook->nexp_cost(cfg->hook->arg, N, bw, ring, &t);
    else ff_sigma_nexp_cost(NULL, N, bw, ring, &t);
    *c = ff_gate_cost_add(*c, t);
  }
  ff__inv_cost(R, bw, cfg, &t);
  *c = ff_gate_cost_add(*c, t);
  ff__beaver_cost(N, 2 * (uint64_t)N + R, bw, &t);
  *c = ff_gate_cost_add(*c, t);
}

static ff_status ff__sm_cost_ex(const char *fn, size_t R, size_t n, int bw, int causal,
                                const ff_sigma_softmax_opts *opts, ff_gate_cost *c) {
  ff__sm_cfg cfg;
  memset(c, 0, sizeof *c);
  ff_status st = ff__sm_config(fn, opts, n, &cfg);
  if (!st) ff__sm_cost(R, n, bw, causal, &cfg, 1, c);
  return st;
}

ff_status ff_sigma_softmax_cost_ex(size_t R, size_t n, int bw, const ff_sigma_softmax_opts *opts, ff_gate_cost *c) {
  return ff__sm_cost_ex("ff_sigma_softmax_cost_ex", R, n, bw, 0, opts, c);
}

ff_status ff_sigma_softmax_causal_cost_ex(size_t R, size_t n, int bw, const ff_sigma_softmax_opts *opts,
                                          ff_gate_cost *c) {
  return ff__sm_cost_ex("ff_sigma_softmax_causal_cost_ex", R, n, bw, 1, opts, c);
}

void ff_sigma_softmax_cost(size_t R, size_t n, int bw, ff_gate_cost *c) {
  (void)ff_sigma_softmax_cost_ex(R, n, bw, NULL, c);
}

void ff_sigma_softmax_causal_cost(size_t R, size_t n, int bw, ff_gate_cost *c) {
  (void)ff_sigma_softmax_causal_cost_ex(R, n, bw, NULL, c);
}

/* ---- Emulation ---------------------------------------------------------------------------------------------- */

void ff_sigma_nexp_emulate(void *arg, int bw, int ring, size_t N, const uint64_t *x1, uint64_t *e) {
  (void)arg, (void)bw;
  uint64_t lsb[256], msb[256];
  ff_sigma_nexp_lsb_table(lsb);
  ff_sigma_nexp_msb_table(msb);
  for (size_t i = 0; i < N; i++) {
    const uint64_t v = ff_ring_reduce(x1[i], ring), cl = v < FF__SM_CLIP ? v : FF__SM_CLIP;
    e[i] = (msb[cl >> 8] * lsb[cl & 255]) >> FF__SM_SCALE;
  }
}

/* Row r keeps len = n values (causal: (r mod n) + 1), packed one row after another as the gate packs them:
 * x1 for all rows, nExp on all of them at once, then the inverse and the product per row. */
static ff_status ff__emulate(const char *fn, int bw, size_t R, size_t n, int causal, const ff_sigma_softmax_opts *opts,
                             const uint64_t *x, uint64_t *y) {
  ff__sm_cfg cfg;
  ff_status st = ff__sm_config(fn, opts, n, &cfg);
  if (st) return st;
  const size_t N = causal ? ff_sigma_causal_numel(R, n, 0) : R * n;
  const int ring = bw - FF__SM_SCALE + 2, t = cfg.k - cfg.b;
  uint64_t *inv = malloc(((size_t)1 << cfg.b) * sizeof *inv), *x1 = malloc((N + 1) * sizeof *x1),
           *e = malloc((N + 1) * sizeof *e);
  if (!inv || !x1 || !e) {
    FF_ERROR("%s: out of memory for %zu values", fn, N);
    st = FF_ENOMEM;
    goto done;
  }
  for (size_t r = 0, o = 0; r < R; r++) {
    const size_t len = causal ? r % n + 1 : n;
    const uint64_t *xr = x + r * n;
    int64_t mx = ff_ring_signed(xr[0], bw);
    for (size_t j = 1; j < len; j++)
      if (ff_ring_signed(xr[j], bw) > mx) mx = ff_ring_signed(xr[j], bw);
    for (size_t j = 0; j < len; j++) x1[o++] = ff_ring_reduce((uint64_t)(mx - ff_ring_signed(xr[j], bw)), ring);
  }
  if (cfg.hook)
    cfg.hook->nexp_emulate(cfg.hook->arg, bw, ring, N, x1, e);
  else
    ff_sigma_nexp_emulate(NULL, bw, ring, N, x1, e);
  ff_sigma_inv_table_ex(cfg.b, t, inv);
  for (size_t r = 0, o = 0; r < R; r++) {
    const size_t len = causal ? r % n + 1 : n;
    uint64_t s = 0;
    for (size_t j = 0; j < len; j++) s += e[o + j];
    const uint64_t iv = inv[ff_ring_reduce(s, cfg.k) >> t];
    for (size_t j = 0; j < n; j++) y[r * n + j] = j < len ? ff_ring_reduce((e[o + j] * iv) >> FF__SM_SCALE, bw) : 0;
    o += len;
  }
done:
  free(inv);
  free(x1);
  free(e);
  return st;
}

ff_status ff_sigma_softmax_emulate_ex(int bw, size_t R, size_t n, const ff_sigma_softmax_opts *opts,
                                      const uint64_t *x, uint64_t *y) {
  return ff__emulate("ff_sigma_softmax_emulate_ex", bw, R, n, 0, opts, x, y);
}

ff_status ff_sigma_softmax_causal_emulate_ex(int bw, size_t R, size_t n, const ff_sigma_softmax_opts *opts,
                                             const uint64_t *x, uint64_t *y) {
  return ff__emulate("ff_sigma_softmax_causal_emulate_ex", bw, R, n, 1, opts, x, y);
}

void ff_sigma_softmax_emulate(int bw, size_t R, size_t n, const uint64_t *x, uint64_t *y) {
  (void)ff_sigma_softmax_emulate_ex(bw, R, n, NULL, x, y);
}

void ff_sigma_softmax_causal_emulate(int bw, size_t R, size_t n, const uint64_t *x, uint64_t *y) {
  (void)ff_sigma_softmax_causal_emulate_ex(bw, R, n, NULL, x, y);
}

/* ---- Steps (dealer: v holds masks; party: masked values) ------------------------------------------------- */

/* A temporary wire of shape (R, m) that shares nothing with the graph's wires. */
static ff_status ff__sm_wire(ff_op *op, ff_wire *w, int bw, size_t R, size_t m) {
  const int64_t shape[2] = {(int64_t)R, (int64_t)m};
  return ff__op_wire_alloc(op, w, bw, 2, shape);
}

/* y = select(DReLU_bin(x) ^ flip, x mod 2^b_out), revealed in b_out bits; x's values mod 2^ring >= bin
 * (only the low bin bits decide the sign). relu.c's ReLU with a DReLU narrower than the select, whose
 * key elements travel as eb-byte words (8, or ff__op_word_bytes(b_out)). x, y and the scratch in
 * ff__op_mem(op). */
/* ff__relu_sel's dealer on the device path (op_internal.h): the host path's draws and keys in the same order,
 * made where op->deal_ctx works. x (the input masks), xs = x mod 2^b_out, alpha = x mod 2^(bin-1) and y (out:
 * the output masks) are host arrays. */
static ff_status ff__relu_sel_deal_dev(ff_op *op, int bin, int b_out, int eb, size_t C, const uint64_t *x,
                                       const uint64_t *xs, const uint64_t *alpha, uint64_t *y) {
  const size_t w = C * sizeof(uint64_t);
  uint64_t *dv = NULL; /* x | xs | d | y | bits | select values (5) */
  ff_status st = ff__op_dev_scratch(op, 10 * w, "Softmax dealer", (void **)&dv);
  if (st) return st;
  uint64_t *dx = dv, *dxs = dv + C, *dd = dv + 2 * C, *dy = dv + 3 * C, *dbits = dv + 4 * C, *dval = dv + 5 * C;
  if (!(st = ff__op_dev_upload(op, dx, x, w)) && !(st = ff__op_dev_upload(op, dxs, xs, w)) &&
      !(st = ff__op_draw_dev(op, dd, C, 1)) && !(st = ff__op_draw_dev(op, dy, C, b_out)) &&
      !(st = FF__OP_DEV(op, ff__sigma_cmp_bits, bin, C, dx, dd, dbits)) &&
      !(st = ff__dcf_deal(op, bin - 1, C, alpha)) &&
      !(st = ff__op_put_bit_shares_dev(op, 1, C, dbits)) &&
      !(st = FF__OP_DEV(op, ff_select_key_values, C, dd, dxs, dy, dval)) &&
      !(st = ff__op_put_shares_words_dev(op, dval, FF_SELECT_KEY_ELEMS * C, b_out, eb)))
    st = ff__op_dev_download(op, y, dy, w);
  ff__op_dev_free(op, dv);
  return st;
}

static ff_status ff__relu_sel(ff_op *op, int bin, int b_out, int eb, int flip, size_t C, const uint64_t *x,
                              uint64_t *y, const char *what) {
  ff_ctx *ctx = op->ctx;
  ff_status st = FF_OK;
  ff_select_key k[2] = {{0}, {0}};
  void *blk = NULL; /* d | t | xs, C values each */
  if ((st = ff__op_buf_alloc(op, 3 * C * sizeof(uint64_t), what, &blk))) return st;
  uint64_t *d = blk, *t = d + C, *xs = t + C;
  if ((st = ff__op_reduce(op, x, xs, C, b_out))) goto done;
  if (op->role == FF_OP_DEALER && ff__op_deal_dev(op)) {
    for (size_t i = 0; i < C; i++) t[i] = ff_ring_reduce(x[i], bin - 1);
    st = ff__relu_sel_deal_dev(op, bin, b_out, eb, C, x, xs, t, y);
    goto done;
  }
  if (op->role == FF_OP_DEALER) {
    /* d: the DReLU output mask m; t: alpha = r mod 2^(bin-1), then msb_bin(r) ^ m; y: the output mask. */
    if ((st = ff__op_draw(op, d, C, 1)) || (st = ff__op_draw(op, y, C, b_out))) goto done;
    for (size_t i = 0; i < C; i++) t[i] = ff_ring_reduce(x[i], bin - 1);
    uint64_t *bits = ff__op_alloc(C * sizeof *bits, what);
    if (!bits) {
      st = FF_ENOMEM;
      goto done;
    }
    if (!(st = ff__sigma_cmp_bits_cpu(ctx, bin, C, x, d, bits))) st = ff__cmp_deal(op, bin - 1, C, t, bits);
    free(bits);
    if (st || (st = ff_select_key_alloc(ctx, &k[0], b_out, C)) || (st = ff_select_key_alloc(ctx, &k[1], b_out, C)) ||
        (st = ff_select_keygen(ctx, d, xs, y, &k[0], &k[1])))
      goto done;
    for (int p = 0; p < 2 && !st; p++) st = ff__op_put_words(op, p, k[p].buf, FF_SELECT_KEY_ELEMS * C, eb);
    goto done;
  }
  if ((st = ff_sigma_drelu_points(ctx, bin, C, x, t)) || (st = ff__cmp_eval(op, bin - 1, C, t, d, what)) ||
      (st = ff_sigma_drelu_local(ctx, bin, C, x, d)) || (st = ff_op_reconstruct(op, d, C, 1)))
    goto done;
  /* The revealed bit's flip: d ^ 1 = d + 1 mod 2. */
  if (flip && (st = ff_sigma_add_const(ctx, 1, C, d, 1, d))) goto done;
  /* The select key's buffer is its 5 C u64 elements: widen the words straight into a key in the party's memory. */
  if ((st = ff_select_key_alloc(ctx, &k[0], b_out, C)) ||
      (st = ff__op_get_words(op, k[0].buf, FF_SELECT_KEY_ELEMS * C, eb, what)) ||
      (st = ff_select_eval(ctx, &k[0], C, d, xs, y)))
    goto done;
  st = ff_op_reconstruct(op, y, C, b_out);
done:
  ff_select_key_free(&k[0]);
  ff_select_key_free(&k[1]);
  ff__op_buf_free(op, blk);
  return st;
}

/* The public tables of the softmax's lookups, made on first use (ff__op_table's fill functions). */
static ff_status ff__nexp_lsb_fill(void *arg, uint64_t *host) {
  (void)arg;
  ff_sigma_nexp_lsb_table(host);
  return FF_OK;
}

static ff_status ff__nexp_msb_fill(void *arg, uint64_t *host) {
  (void)arg;
  ff_sigma_nexp_msb_table(host);
  return FF_OK;
}

static ff_status ff__inv_fill(void *arg, uint64_t *host) {
  const int *bits_shift = arg;
  ff_sigma_inv_table_ex(bits_shift[0], bits_shift[1], host);
  return FF_OK;
}

/* y = T[x mod 2^b] revealed in b_out bits (dealer: y gets the output mask), C elements; x, y in
 * ff__op_mem(op). The public table T (2^b entries) is named by table_key and made by fill(fill_arg) only
 * when a party first needs it, then kept in the party's memory for the op's life (ff__op_table); the
 * dealer's keys do not depend on it. A party reads the LUT key straight into its memory
 * (ff__op_get_lut_key). */
static ff_status ff__lut(ff_op *op, ff__op_table_id table_key, ff__op_table_fill fill, void *fill_arg, int b, int b_out,
                         size_t C, const uint64_t *x, uint64_t *y) {
  ff_ctx *ctx = op->ctx;
  const size_t nt = (size_t)1 << b;
  ff_status st = FF_OK;
  ff_lut_key k[2] = {{0}, {0}};
  void *blk = NULL; /* xs (C) */
  const uint64_t *tab = NULL;
  if ((st = ff__op_buf_alloc(op, C * sizeof(uint64_t), "LUT", &blk))) goto done;
  uint64_t *xs = blk;
  if ((st = ff__op_reduce(op, x, xs, C, b))) goto done;
  if (op->role == FF_OP_DEALER) {
    st = ff__lut_deal(op, xs, b, b_out, C, y);
    goto done;
  }
  if ((st = ff__op_get_lut_key(op, &k[0], b, b_out, 1, C, "LUT")) ||
      (st = ff__op_table(op, table_key, nt, fill, fill_arg, &tab)))
    goto done;
  st = ff_lut_eval(ctx, &k[0], xs, tab, 1, y);
  /* ff_lut_eval talks to the channel itself (which charges bytes and rounds to the op); the payload
   * bits, which only ff_op_reconstruct counts, are added here: u, v and the revealed output. */
  if (!st) op->cost[op->party].bits_sent += (uint64_t)C * (1 + 2 * (uint64_t)b_out);
done:
  ff_lut_key_free(&k[0]);
  ff_lut_key_free(&k[1]);
  ff__op_buf_free(op, blk);
  return st;
}

/* z = floor(x y / 2^12) mod 2^bw, x (R, n), y (R, per): per = n elementwise, per = 1 one value per
 * row (windowMul). Beaver key a (N) | b (R per) | c (N); b expanded to N on use. causal: x is packed
 * (ff_sigma_causal_numel(R, n, 0) values), y one value per row. */
/* ff__beaver_slack's dealer on the device path (op_internal.h): the key x | y | x yfull + r_prod and its shares,
 * the host path's draws in the same order; x (N), y (Ny), yfull (N) host masks, r_prod (N, out) host. */
static ff_status ff__beaver_deal_dev(ff_op *op, int bw, size_t N, size_t Ny, const uint64_t *x, const uint64_t *y,
                                     const uint64_t *yfull, uint64_t *r_prod) {
  const size_t nk = 2 * N + Ny, w = sizeof(uint64_t);
  uint64_t *dv = NULL; /* key (nk) | yfull (N) | r_prod (N) */
  ff_status st = ff__op_dev_scratch(op, (nk + 2 * N) * w, "windowMul dealer", (void **)&dv);
  if (st) return st;
  uint64_t *dyf = dv + nk, *dp = dyf + N;
  if (!(st = ff__op_dev_upload(op, dv, x, N * w)) && !(st = ff__op_dev_upload(op, dv + N, y, Ny * w)) &&
      !(st = ff__op_dev_upload(op, dyf, yfull, N * w)) && !(st = ff__op_draw_dev(op, dp, N, bw)) &&
      !(st = FF__OP_DEV(op, ff__sigma_mul_add, N, bw, dv, dyf, dp, dv + N + Ny)) &&
      !(st = ff__op_put_shares_words_dev(op, dv, nk, bw, 8)))
    st = ff__op_dev_download(op, r_prod, dp, N * w);
  ff__op_dev_free(op, dv);
  return st;
}

static ff_status ff__beaver_slack(ff_op *op, const ff_wire *x, const ff_wire *y, size_t R, size_t n, int causal,
                                  ff_wire *z) {
  ff_ctx *ctx = op->ctx;
  const int bw = x->bw;
  const size_t N = causal ? x->numel : R * n, Ny = y->numel, nk = 2 * N + Ny;
  const size_t yr = Ny == N ? N : R, yn = Ny == N ? 1 : n; /* y broadcast as yr rows of yn */
  ff_wire prod = {0};
  void *blk = NULL; /* key (nk) | full (3N) | yfull (N) */
  ff_status st = ff__op_buf_alloc(op, (nk + 4 * N) * sizeof(uint64_t), "windowMul", &blk);
  if (st) return st;
  uint64_t *key = blk, *full = key + nk, *yfull = full + 3 * N;
  if (causal) {
    if ((st = ff__sm_wire(op, &prod, bw, 1, N)) || (st = ff_sigma_causal_bcast(ctx, R, n, y->v, yfull))) goto done;
  } else if ((st = ff__sm_wire(op, &prod, bw, R, n)) || (st = ff_sigma_row_bcast(ctx, yr, yn, y->v, yfull))) {
    goto done;
  }
  if (op->role == FF_OP_DEALER && ff__op_deal_dev(op)) {
    if ((st = ff__beaver_deal_dev(op, bw, N, Ny, x->v, y->v, yfull, prod.v))) goto done;
  } else if (op->role == FF_OP_DEALER) {
    if ((st = ff__op_draw(op, prod.v, N, bw))) goto done;
    memcpy(key, x->v, N * sizeof *key);
    memcpy(key + N, y->v, Ny * sizeof *key);
    if ((st = ff__sigma_mul_add_cpu(ctx, N, bw, x->v, yfull, prod.v, key + N + Ny)) ||
        (st = ff__op_put_shares(op, key, nk, bw)))
      goto done;
  } else {
    if ((st = ff__op_get_mem(op, key, nk * sizeof *key, "windowMul")) ||
        (st = ff_sigma_row_bcast(ctx, N, 1, key, full)) ||
        (st = causal ? ff_sigma_causal_bcast(ctx, R, n, key + N, full + N)
                     : ff_sigma_row_bcast(ctx, yr, yn, key + N, full + N)) ||
        (st = ff_sigma_row_bcast(ctx, N, 1, key + N + Ny, full + 2 * N)) ||
        (st = ff_sigma_mul_local(ctx, bw, N, x->v, yfull, full, prod.v)) ||
        (st = ff_op_reconstruct(op, prod.v, N, bw)))
      goto done;
  }
  st = ff_op_trslack(op, &prod, FF__SM_SCALE, bw, z);
done:
  ff_wire_free(&prod);
  ff__op_buf_free(op, blk);
  return st;
}

/* Step 1: mx (R, 1) in ring bits from xr (R, n) in ring bits. */
static ff_status ff__sm_max(ff_op *op, int bin, size_t R, size_t n, const ff_wire *xr, ff_wire *mx) {
  FF_SCOPE("Softmax::Max");
  ff_ctx *ctx = op->ctx;
  const int ring = bin + 2;
  void *blk = NULL; /* two level buffers and the ReLU outputs, R n values each */
  ff_status st = ff__op_buf_alloc(op, 3 * R * n * sizeof(uint64_t), "Softmax::Max", &blk);
  if (st) return st;
  uint64_t *cur = blk, *d = cur + R * n, *rl = d + R * n;
  if ((st = ff_sigma_row_bcast(ctx, R * n, 1, xr->v, cur))) goto done;
  for (size_t m = n; m > 1; m = (m + 1) / 2) {
    /* The dealer runs the same linear kernels on the masks: the ReLU's fresh output mask lands in rl. */
    if ((st = ff_sigma_maxtree_diff(ctx, ring, R, m, cur, d)) ||
        (st = ff__relu_sel(op, bin + 1, ring, 8, 0, R * (m / 2), d, rl, "Softmax::Max")) ||
        (st = ff_sigma_maxtree_next(ctx, ring, R, m, cur, rl, d)))
      goto done;
    uint64_t *tmp = cur; /* the next level becomes the current one */
    cur = d;
    d = tmp;
  }
  if (!(st = ff__sm_wire(op, mx, ring, R, 1))) st = ff_sigma_row_bcast(ctx, R, 1, cur, mx->v);
done:
  ff__op_buf_free(op, blk);
  return st;
}

/* Step 3 (dealer or party): e bw bits from x1 in ring = x1->bw bits, elementwise; every temporary wire has
 * x1's shape. */
static ff_status ff__sm_nexp(ff_op *op, const ff_wire *x1, ff_wire *e) {
  ff_ctx *ctx = op->ctx;
  const int bw = op->bw, ring = x1->bw;
  const size_t N = x1->numel;
  ff_wire clip = {0}, hi = {0}, lsb = {0}, msb = {0}, z = {0};
  ff_status st;
  if ((st = ff__op_wire_alloc(op, &clip, 16, x1->ndim, x1->shape)) ||
      (st = ff__op_wire_alloc(op, &lsb, bw, x1->ndim, x1->shape)) ||
      (st = ff__op_wire_alloc(op, &msb, bw, x1->ndim, x1->shape)) ||
      (st = ff__op_wire_alloc(op, &z, ring, x1->ndim, x1->shape)))
    goto done;
  /* z = x1 - p: the dealer's mask is x1's; the party shifts x1^. */
  if (op->role == FF_OP_DEALER)
    st = ff_sigma_row_bcast(ctx, N, 1, x1->v, z.v);
  else
    st = ff_sigma_add_const(ctx, ring, N, x1->v, (uint64_t)0 - FF__SM_CLIP, z.v);
  if (st || (st = ff__relu_sel(op, ring, 16, ff__op_word_bytes(16), 1, N, z.v, clip.v, "Softmax::nExp"))) goto done;
  if (op->role == FF_OP_PARTY && (st = ff_sigma_add_const(ctx, 16, N, clip.v, FF__SM_CLIP, clip.v))) goto done;
  if ((st = ff__lut(op, ff__op_table_key(2, 8, 0, 0), ff__nexp_lsb_fill, NULL, 8, bw, N, clip.v, lsb.v)) ||
      (st = ff__sigma_trslack_narrow(op, &clip, 8, 8, &hi)) ||
      (st = ff__lut(op, ff__op_table_key(3, 8, 0, 0), ff__nexp_msb_fill, NULL, 8, bw, N, hi.v, msb.v)))
    goto done;
  /* Elementwise Beaver product (one row of N); e takes x1's shape. */
  if ((st = ff__beaver_slack(op, &msb, &lsb, 1, N, 0, e))) goto done;
  e->ndim = x1->ndim;
  memcpy(e->shape, x1->shape, sizeof e->shape);
done:
  ff_wire_free(&clip);
  ff_wire_free(&hi);
  ff_wire_free(&lsb);
  ff_wire_free(&msb);
  ff_wire_free(&z);
  return st;
}

ff_status ff_sigma_nexp(void *arg, ff_op *op, const ff_wire *x1, ff_wire *e) {
  (void)arg;
  if (!op || !x1 || !e || (op->role != FF_OP_COST && !x1->v)) {
    FF_ERROR("ff_sigma_nexp: op, input or output wire is NULL or empty");
    return FF_EINVAL;
  }
  memset(e, 0, sizeof *e);
  if (op->scale != FF__SM_SCALE || x1->bw < 18 || x1->bw > op->bw) {
    FF_ERROR("ff_sigma_nexp: need scale 12 (have %d) and x1 in a ring of 18..%d bits (have %d)", op->scale, op->bw,
             x1->bw);
    return FF_EINVAL;
  }
  if (op->role == FF_OP_COST) {
    ff_gate_cost c;
    ff_sigma_nexp_cost(NULL, x1->numel, op->bw, x1->bw, &c);
    ff__op_charge_both(op, &c);
    return ff__op_wire_alloc(op, e, op->bw, x1->ndim, x1->shape);
  }
  ff__op_enter(op);
  ff_status st = ff__sm_nexp(op, x1, e);
  ff__op_leave(op);
  if (st) ff_wire_free(e);
  return st;
}

/* Step 3 in every role, in scope Softmax::nExp: SIGMA's nExp or the options' hook (whose result is checked
 * against the contract of softmax.h). The cost-only role runs only a hook: ff__sm_cost charges SIGMA's. */
static ff_status ff__sm_nexp_step(ff_op *op, const ff__sm_cfg *cfg, const ff_wire *x1, ff_wire *e) {
  FF_SCOPE("Softmax::nExp");
  memset(e, 0, sizeof *e);
  if (!cfg->hook) return ff__sm_nexp(op, x1, e);
  ff_status st = cfg->hook->nexp(cfg->hook->arg, op, x1, e);
  if (!st && (e->bw != op->bw || e->numel != x1->numel ||
              (op->role != FF_OP_COST && (!e->v || e->where != ff__op_mem(op))))) {
    FF_ERROR("softmax: the nexp hook gave %zu values of %d bits%s; want %zu of the op's %d bits in the memory of "
             "the op's wires",
             e->numel, e->bw, op->role != FF_OP_COST && !e->v ? " (none allocated)" : "", x1->numel, op->bw);
    st = FF_EINVAL;
  }
  if (st) ff_wire_free(e);
  return st;
}

/* Cost-only role: the whole gate's cost, nExp's included unless a hook runs as a gate in its scope. */
static ff_status ff__sm_cost_role(ff_op *op, const ff__sm_cfg *cfg, size_t R, size_t n, int causal, const ff_wire *x,
                                  ff_wire *y) {
  ff_gate_cost c;
  ff_wire x1 = {0}, e = {0};
  ff_status st = FF_OK;
  ff__sm_cost(R, n, x->bw, causal, cfg, !cfg->hook, &c);
  ff__op_charge_both(op, &c);
  if (cfg->hook) {
    const size_t r1 = causal ? 1 : R, n1 = causal ? ff_sigma_causal_numel(R, n, 0) : n;
    if (!(st = ff__sm_wire(op, &x1, x->bw - FF__SM_SCALE + 2, r1, n1))) st = ff__sm_nexp_step(op, cfg, &x1, &e);
    ff_wire_free(&x1);
    ff_wire_free(&e);
  }
  return st ? st : ff__op_wire_alloc(op, y, x->bw, x->ndim, x->shape);
}

/* Step 5: inv (R, 1) bw bits from the row sums s (R, 1) bw bits. */
static ff_status ff__sm_inverse(ff_op *op, size_t R, const ff__sm_cfg *cfg, const ff_wire *s, ff_wire *inv) {
  FF_SCOPE("Softmax::Inverse");
  const int k = cfg->k, b = cfg->b, bw = op->bw;
  ff_wire sk = {0}, t = {0};
  ff_status st;
  if ((st = ff__sm_wire(op, &sk, k, R, 1)) || (st = ff__sm_wire(op, inv, bw, R, 1)) ||
      (st = ff__op_reduce(op, s->v, sk.v, R, k)))
    goto done;
  int bits_shift[2] = {b, k - b};
  if (!(st = ff__sigma_trslack_narrow(op, &sk, k - b, b, &t)))
    st = ff__lut(op, ff__op_table_key(4, (uint32_t)b, (uint32_t)(k - b), 0), ff__inv_fill, bits_shift, b, bw, R, t.v,
                 inv->v);
done:
  ff_wire_free(&sk);
  ff_wire_free(&t);
  return st;
}

/* ---- The gate ---------------------------------------------------------------------------------------------- */

ff_status ff_op_softmax(ff_op *op, const ff_wire *x, ff_wire *y) { return ff_op_softmax_ex(op, x, y, NULL); }

ff_status ff_op_softmax_ex(ff_op *op, const ff_wire *x, ff_wire *y, const ff_sigma_softmax_opts *opts) {
  if (!op || !x || !y || (op->role != FF_OP_COST && !x->v)) {
    FF_ERROR("ff_op_softmax: op, input or output wire is NULL or empty");
    return FF_EINVAL;
  }
  memset(y, 0, sizeof *y);
  const int bw = x->bw, bin = bw - FF__SM_SCALE;
  const size_t n = x->ndim >= 1 ? (size_t)x->shape[x->ndim - 1] : 0;
  if (op->scale != FF__SM_SCALE || bw != op->bw || bin + 2 > bw || bin < 8 || n < 3 ||
      FF__SM_SCALE + ff__ceil_log2(n) - 6 > FF_LUT_MAX_BITS) {
    FF_ERROR("ff_op_softmax: need scale 12 (have %d), the op's ring (bw %d, op %d) of at least 22 bits and rows of "
             "3..%d values (have %zu)",
             op->scale, bw, op->bw, 1 << (FF_LUT_MAX_BITS - 6), n);
    return FF_EINVAL;
  }
  const size_t N = x->numel, R = N / n;
  ff__sm_cfg cfg;
  ff_status st = ff__sm_config("ff_op_softmax", opts, n, &cfg);
  if (st) return st;
  FF_SCOPE("Softmax");
  if (op->role == FF_OP_COST) return ff__sm_cost_role(op, &cfg, R, n, 0, x, y);
  const ff__sg_tag tag = {FF__SG_SOFTMAX, (uint32_t)bw, (uint32_t)op->scale, 0, {R, n, ff__sm_tag_opts(&cfg)}};
  ff_wire xr = {0}, mx = {0}, x1 = {0}, e = {0}, s = {0}, inv = {0}, out = {0};
  ff__op_enter(op);
  if ((st = ff__op_tag(op, &tag)) || (st = ff__sm_wire(op, &xr, bin + 2, R, n)) ||
      (st = ff__op_reduce(op, x->v, xr.v, N, bin + 2)))
    goto done;
  if ((st = ff__sm_max(op, bin, R, n, &xr, &mx)) || (st = ff__sm_wire(op, &x1, bin + 2, R, n)) ||
      (st = ff_sigma_softmax_sub(op->ctx, bin + 2, R, n, mx.v, xr.v, x1.v)) ||
      (st = ff__sm_nexp_step(op, &cfg, &x1, &e)) || (st = ff__sm_wire(op, &s, bw, R, 1)) ||
      (st = ff_sigma_rowsum(op->ctx, bw, R, n, e.v, s.v)) || (st = ff__sm_inverse(op, R, &cfg, &s, &inv)) ||
      (st = ff__beaver_slack(op, &e, &inv, R, n, 0, &out)))
    goto done;
  /* out has shape (R, n); give y x's shape. */
  *y = out;
  y->ndim = x->ndim;
  memcpy(y->shape, x->shape, (size_t)x->ndim * sizeof x->shape[0]);
  memset(&out, 0, sizeof out);
done:
  ff__op_leave(op);
  ff_wire_free(&xr);
  ff_wire_free(&mx);
  ff_wire_free(&x1);
  ff_wire_free(&e);
  ff_wire_free(&s);
  ff_wire_free(&inv);
  ff_wire_free(&out);
  return st;
}

/* ---- Causal (lower-triangle) softmax ------------------------------------------------------------------------ */

/* Step 1 on packed rows (row r: (r mod n) + 1 values): L = ceil(log2 n) levels for every row as SIGMA
 * pads them; an unpaired value takes part through a 0 difference (ReLU(0) + itself). mx (R, 1). */
static ff_status ff__sm_max_causal(ff_op *op, int bin, size_t R, size_t n, const ff_wire *xp, ff_wire *mx) {
  FF_SCOPE("Softmax::Max");
  ff_ctx *ctx = op->ctx;
  const int ring = bin + 2, L = ff__ceil_log2(n);
  const size_t Np = xp->numel;
  void *blk = NULL; /* two level buffers and the ReLU outputs, Np values each (level 0 holds the most) */
  ff_status st = ff__op_buf_alloc(op, 3 * Np * sizeof(uint64_t), "Softmax::Max", &blk);
  if (st) return st;
  uint64_t *cur = blk, *d = cur + Np, *rl = d + Np;
  if ((st = ff_sigma_row_bcast(ctx, Np, 1, xp->v, cur))) goto done;
  for (int l = 0; l < L; l++) {
    /* The dealer runs the same linear kernels on the masks: the ReLU's fresh output mask lands in rl. */
    const size_t C = ff_sigma_causal_numel(R, n, l + 1);
    if ((st = ff_sigma_causal_maxtree_diff(ctx, ring, R, n, l, cur, d)) ||
        (st = ff__relu_sel(op, bin + 1, ring, 8, 0, C, d, rl, "Softmax::Max")) ||
        (st = ff_sigma_causal_maxtree_next(ctx, ring, R, n, l, cur, rl, d)))
      goto done;
    uint64_t *tmp = cur; /* the next level becomes the current one */
    cur = d;
    d = tmp;
  }
  if (!(st = ff__sm_wire(op, mx, ring, R, 1))) st = ff_sigma_row_bcast(ctx, R, 1, cur, mx->v);
done:
  ff__op_buf_free(op, blk);
  return st;
}

ff_status ff_op_softmax_causal(ff_op *op, const ff_wire *x, ff_wire *y) {
  return ff_op_softmax_causal_ex(op, x, y, NULL);
}

ff_status ff_op_softmax_causal_ex(ff_op *op, const ff_wire *x, ff_wire *y, const ff_sigma_softmax_opts *opts) {
  if (!op || !x || !y || (op->role != FF_OP_COST && !x->v)) {
    FF_ERROR("ff_op_softmax_causal: op, input or output wire is NULL or empty");
    return FF_EINVAL;
  }
  memset(y, 0, sizeof *y);
  const int bw = x->bw, bin = bw - FF__SM_SCALE;
  const size_t n = x->ndim >= 2 ? (size_t)x->shape[x->ndim - 1] : 0;
  if (op->scale != FF__SM_SCALE || bw != op->bw || bin + 2 > bw || bin < 8 || n < 3 ||
      (size_t)x->shape[x->ndim - 2] != n || FF__SM_SCALE + ff__ceil_log2(n) - 6 > FF_LUT_MAX_BITS) {
    FF_ERROR("ff_op_softmax_causal: need scale 12 (have %d), the op's ring (bw %d, op %d) of at least 22 bits and "
             "square (.., n, n) scores, n in 3..%d (have %zu)",
             op->scale, bw, op->bw, 1 << (FF_LUT_MAX_BITS - 6), n);
    return FF_EINVAL;
  }
  const size_t N = x->numel, R = N / n, Np = ff_sigma_causal_numel(R, n, 0);
  ff__sm_cfg cfg;
  ff_status st = ff__sm_config("ff_op_softmax_causal", opts, n, &cfg);
  if (st) return st;
  FF_SCOPE("Softmax");
  if (op->role == FF_OP_COST) return ff__sm_cost_role(op, &cfg, R, n, 1, x, y);
  const ff__sg_tag tag = {FF__SG_SOFTMAX, (uint32_t)bw, (uint32_t)op->scale, 1, {R, n, ff__sm_tag_opts(&cfg)}};
  ff_wire xp = {0}, mx = {0}, x1 = {0}, e = {0}, s = {0}, inv = {0}, out = {0};
  ff__op_enter(op);
  /* Pack the lower triangle (masks for the dealer, masked values for the party); the max tree on the
   * packed rows, then the non-causal steps on the Np packed values as one row (nExp) or per row. */
  if ((st = ff__op_tag(op, &tag)) || (st = ff__sm_wire(op, &xp, bin + 2, 1, Np)) ||
      (st = ff_sigma_causal_pack(op->ctx, bin + 2, R, n, x->v, xp.v)))
    goto done;
  if ((st = ff__sm_max_causal(op, bin, R, n, &xp, &mx)) || (st = ff__sm_wire(op, &x1, bin + 2, 1, Np)) ||
      (st = ff_sigma_causal_sub(op->ctx, bin + 2, R, n, mx.v, xp.v, x1.v)) ||
      (st = ff__sm_nexp_step(op, &cfg, &x1, &e)) || (st = ff__sm_wire(op, &s, bw, R, 1)) ||
      (st = ff_sigma_causal_rowsum(op->ctx, bw, R, n, e.v, s.v)) || (st = ff__sm_inverse(op, R, &cfg, &s, &inv)) ||
      (st = ff__beaver_slack(op, &e, &inv, R, n, 1, &out)) || (st = ff__op_wire_alloc(op, y, bw, x->ndim, x->shape)))
    goto done;
  /* Re-expand: the upper triangle is a public 0 (mask 0, masked value 0), as SIGMA's expansion. */
  st = ff_sigma_causal_unpack(op->ctx, R, n, out.v, y->v);
done:
  ff__op_leave(op);
  if (st) ff_wire_free(y);
  ff_wire_free(&xp);
  ff_wire_free(&mx);
  ff_wire_free(&x1);
  ff_wire_free(&e);
  ff_wire_free(&s);
  ff_wire_free(&inv);
  ff_wire_free(&out);
  return st;
}
