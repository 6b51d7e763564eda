/* GELU and SiLU, CPU reference (research/sigma.md §4 "GELU per element"; GPU-MPC fss/gpu_gelu.cu):
 * tables, kernels, cost and gate; gelu.h gives the algebra of each step.
 * Test: tests/test_sigma_gelu.c. */
#include "gates/sigma/gelu.h"

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

/* ---- Tables -------------------------------------------------------------------------------------------- */

int ff_sigma_act_clip_bits(ff_sigma_act a) {
  return a == FF_SIGMA_GELU || a == FF_SIGMA_GELU_TANH ? 8 : a == FF_SIGMA_SILU ? 10 : 0;
}

int ff_sigma_act_trunc_bits(int bw, int scale) { return bw - 2 * scale + 7; }

double ff_sigma_act_real(ff_sigma_act a, double x) {
  switch (a) {
    case FF_SIGMA_GELU: return x * 0.5 * (1 + erf(x * (1.0 / sqrt(2.0))));
    case FF_SIGMA_GELU_TANH: return 0.5 * x * (1 + tanh(0.7978845608028654 /* sqrt(2 / pi) */ * (x + 0.044715 * x * x * x)));
    case FF_SIGMA_SILU: return x / (1 + exp(-x));
  }
  return 0;
}

ff_status ff_sigma_act_table(ff_sigma_act a, int scale, int bw, uint64_t *tab) {
  const int k = ff_sigma_act_clip_bits(a);
  if (!k || !tab || scale < 0 || scale > 40 || bw < 1 || bw > 64) return FF_EINVAL;
  for (uint64_t i = 0; i < (UINT64_C(1) << k); i++) {
    const double x = (double)i / 64.0;
    const double f = ff_sigma_act_real(a, x);
    tab[i] = ff_ring_reduce((uint64_t)((fmax(0.0, x) - f) * (double)(UINT64_C(1) << scale)), bw);
  }
  return FF_OK;
}

ff_status ff_sigma_act_emulate(ff_sigma_act a, int bw, int scale, size_t N, const uint64_t *x, uint64_t *y) {
  const int k = ff_sigma_act_clip_bits(a);
  if (!k || scale < 6 || !x || !y) return FF_EINVAL;
  uint64_t *tab = malloc(((size_t)1 << k) * sizeof *tab);
  if (!tab) return FF_ENOMEM;
  ff_status st = ff_sigma_act_table(a, scale, bw, tab);
  const int64_t c = ((int64_t)1 << k) - 1;
  for (size_t i = 0; !st && i < N; i++) {
    const int64_t v = ff_ring_signed(x[i], bw);
    const int64_t t = v >> (scale - 6); /* arithmetic shift = floor */
    const int64_t m = t < 0 ? -t : t;
    y[i] = ff_ring_from_signed((v > 0 ? v : 0) - (int64_t)tab[m < c ? m : c], bw);
  }
  free(tab);
  return st;
}

/* ---- Kernels --------------------------------------------------------------------------------------------- */

static inline uint64_t ff__msb(uint64_t v, int bits) { return (v >> (bits - 1)) & 1; }

ff_status ff_sigma_gelu_points_cpu(ff_ctx *ctx, int bt, uint64_t clip, size_t N, const uint64_t *xthat,
                                   uint64_t *pts) {
  (void)ctx;
  for (size_t i = 0; i < N; i++) {
    pts[i] = ff_ring_reduce(xthat[i], bt - 1);
    pts[N + i] = ff_ring_reduce(xthat[i] - clip, bt - 1);
    pts[2 * N + i] = ff_ring_reduce(xthat[i] + clip, bt - 1);
  }
  return FF_OK;
}

ff_status ff_sigma_gelu_bits_cpu(ff_ctx *ctx, int bt, uint64_t clip, size_t N, const uint64_t *xthat,
                                 const uint64_t *cmp, const uint64_t *md, const uint64_t *mic, uint64_t *out) {
  const uint64_t p1 = ctx->party == 1;
  for (size_t i = 0; i < N; i++) {
    const uint64_t x = xthat[i];
    out[i] = (cmp[i] ^ md[i] ^ (p1 & (1 ^ ff__msb(x, bt)))) & 1;
    out[N + i] = (cmp[N + i] ^ cmp[2 * N + i] ^ mic[i] ^
                  (p1 & (ff__msb(ff_ring_reduce(x - clip, bt), bt) ^ ff__msb(ff_ring_reduce(x + clip, bt), bt)))) &
                 1;
  }
  return FF_OK;
}

ff_status ff_sigma_gelu_mux_cpu(ff_ctx *ctx, int k, size_t N, const uint64_t *dhat, const uint64_t *ichat,
                                const uint64_t *xthat, const uint64_t *c0, const uint64_t *c1, uint64_t *out) {
  (void)ctx;
  for (size_t i = 0; i < N; i++) {
    const size_t j = 4 * i + 2 * (ichat[i] & 1) + (dhat[i] & 1);
    out[i] = ff_ring_reduce(c1[j] * xthat[i] + c0[j], k);
  }
  return FF_OK;
}

ff_status ff_sigma_gelu_final_cpu(ff_ctx *ctx, int bw, size_t N, uint64_t *relu, const uint64_t *lut) {
  (void)ctx;
  for (size_t i = 0; i < N; i++) relu[i] = ff_ring_reduce(relu[i] - lut[i], bw);
  return FF_OK;
}

ff_status ff_sigma_gelu_deal_mux_cpu(ff_ctx *ctx, int k, size_t N, const uint64_t *rt, const uint64_t *md,
                                     const uint64_t *mic, const uint64_t *rclip, uint64_t *c01) {
  (void)ctx;
  const uint64_t clip = ff_ring_mask(k), L0[4] = {clip, clip, 0, 0}, L1[4] = {0, 0, clip, 1};
  uint64_t *c0 = c01, *c1 = c01 + 4 * N;
  for (size_t i = 0; i < N; i++) {
    const size_t mm = 2 * (mic[i] & 1) + (md[i] & 1);
    for (size_t j = 0; j < 4; j++) {
      const size_t idx = 4 * i + (j ^ mm);
      c0[idx] = ff_ring_reduce(L0[j] - L1[j] * rt[i] + rclip[i], k);
      c1[idx] = L1[j];
    }
  }
  return FF_OK;
}

#ifndef FF_HAVE_CUDA
static ff_status ff__gelu_no_cuda(const char *fn) {
  FF_ERROR("%s: this build of fusefss has no CUDA backend", fn);
  return FF_ENOTSUP;
}

ff_status ff_sigma_gelu_points_cuda(ff_ctx *ctx, int bt, uint64_t clip, size_t N, const uint64_t *xthat,
                                    uint64_t *pts) {
  (void)ctx, (void)bt, (void)clip, (void)N, (void)xthat, (void)pts;
  return ff__gelu_no_cuda("ff_sigma_gelu_points_cuda");
}

ff_status ff_sigma_gelu_bits_cuda(ff_ctx *ctx, int bt, uint64_t clip, size_t N, const uint64_t *xthat,
                                  const uint64_t *cmp, const uint64_t *md, const uint64_t *mic, uint64_t *out) {
  (void)ctx, (void)bt, (void)clip, (void)N, (void)xthat, (void)cmp, (void)md, (void)mic, (void)out;
  return ff__gelu_no_cuda("ff_sigma_gelu_bits_cuda");
}

ff_status ff_sigma_gelu_mux_cuda(ff_ctx *ctx, int k, size_t N, const uint64_t *dhat, const uint64_t *ichat,
                                 const uint64_t *xthat, const uint64_t *c0, const uint64_t *c1, uint64_t *out) {
  (void)ctx, (void)k, (void)N, (void)dhat, (void)ichat, (void)xthat, (void)c0, (void)c1, (void)out;
  return ff__gelu_no_cuda("ff_sigma_gelu_mux_cuda");
}

ff_status ff_sigma_gelu_final_cuda(ff_ctx *ctx, int bw, size_t N, uint64_t *relu, const uint64_t *lut) {
  (void)ctx, (void)bw, (void)N, (void)relu, (void)lut;
  return ff__gelu_no_cuda("ff_sigma_gelu_final_cuda");
}

ff_status ff_sigma_gelu_deal_mux_cuda(ff_ctx *ctx, int k, size_t N, const uint64_t *rt, const uint64_t *md,
                                      const uint64_t *mic, const uint64_t *rclip, uint64_t *c01) {
  (void)ctx, (void)k, (void)N, (void)rt, (void)md, (void)mic, (void)rclip, (void)c01;
  return ff__gelu_no_cuda("ff_sigma_gelu_deal_mux_cuda");
}
#endif

ff_status ff_sigma_gelu_points(ff_ctx *ctx, int bt, uint64_t clip, size_t N, const uint64_t *xthat, uint64_t *pts) {
  if (ctx->backend == FF_BACKEND_CUDA) return ff_sigma_gelu_points_cuda(ctx, bt, clip, N, xthat, pts);
  return ff_sigma_gelu_points_cpu(ctx, bt, clip, N, xthat, pts);
}

ff_status ff_sigma_gelu_bits(ff_ctx *ctx, int bt, uint64_t clip, size_t N, const uint64_t *xthat,
                             const uint64_t *cmp, const uint64_t *md, const uint64_t *mic, uint64_t *out) {
  if (ctx->backend == FF_BACKEND_CUDA) return ff_sigma_gelu_bits_cuda(ctx, bt, clip, N, xthat, cmp, md, mic, out);
  return ff_sigma_gelu_bits_cpu(ctx, bt, clip, N, xthat, cmp, md, mic, out);
}

ff_status ff_sigma_gelu_mux(ff_ctx *ctx, int k, size_t N, const uint64_t *dhat, const uint64_t *ichat,
                            const uint64_t *xthat, const uint64_t *c0, const uint64_t *c1, uint64_t *out) {
  if (ctx->backend == FF_BACKEND_CUDA) return ff_sigma_gelu_mux_cuda(ctx, k, N, dhat, ichat, xthat, c0, c1, out);
  return ff_sigma_gelu_mux_cpu(ctx, k, N, dhat, ichat, xthat, c0, c1, out);
}

ff_status ff_sigma_gelu_final(ff_ctx *ctx, int bw, size_t N, uint64_t *relu, const uint64_t *lut) {
  if (ctx->backend == FF_BACKEND_CUDA) return ff_sigma_gelu_final_cuda(ctx, bw, N, relu, lut);
  return ff_sigma_gelu_final_cpu(ctx, bw, N, relu, lut);
}

/* ---- Costs ------------------------------------------------------------------------------------------------ */

/* Bytes of one mux table entry: SIGMA's TClip (u8 for GELU, u16 for SiLU). */
static size_t ff__mux_entry_bytes(int k) { return k <= 8 ? 1 : 2; }

void ff_sigma_act_cost(size_t N, ff_sigma_act a, int bw, int scale, ff_gate_cost *c) {
  memset(c, 0, sizeof *c);
  const int k = ff_sigma_act_clip_bits(a), bt = ff_sigma_act_trunc_bits(bw, scale);
  ff_gate_cost part;
  ff_sigma_trslack_cost(N, bw, scale - 6, bt, c);
  /* DCF(bt-1) with the DReLU mask bits, the ic mask bits; 2 bits in one message. */
  part = (ff_gate_cost){ff__cmp_key_bytes(bt - 1, N) + (N + 7) / 8, 2 * (uint64_t)N, ff_packed_size(2 * N, 1), 1};
  *c = ff_gate_cost_add(*c, part);
  /* The mux: two 4-entry tables; k bits. */
  part = (ff_gate_cost){8 * (uint64_t)N * ff__mux_entry_bytes(k), (uint64_t)N * (uint64_t)k, ff_packed_size(N, k), 1};
  *c = ff_gate_cost_add(*c, part);
  ff_lut_cost_vec(k, bw, N, 1, 0, &part);
  *c = ff_gate_cost_add(*c, part);
  ff_select_cost(bw, N, 0, &part);
  *c = ff_gate_cost_add(*c, part);
  /* The final reconstruct of ReLU - LUT. */
  part = (ff_gate_cost){0, (uint64_t)N * (uint64_t)bw, ff_packed_size(N, bw), 1};
  *c = ff_gate_cost_add(*c, part);
}

void ff_sigma_gelu_cost(size_t N, int bw, int scale, ff_gate_cost *c) {
  ff_sigma_act_cost(N, FF_SIGMA_GELU, bw, scale, c);
}

void ff_sigma_silu_cost(size_t N, int bw, int scale, ff_gate_cost *c) {
  ff_sigma_act_cost(N, FF_SIGMA_SILU, bw, scale, c);
}

/* ---- Dealer ------------------------------------------------------------------------------------------------ */

/* The host path's steps 2-5: md, mic, r_clip drawn here; alpha = r_t mod 2^(bt-1), r_clip and r_lut (out)
 * host arrays; y->v gets r_relu. */
static ff_status ff__gelu_deal_host(ff_op *op, int k, const ff_wire *x, const ff_wire *xt, ff_wire *y,
                                    const uint64_t *alpha, uint64_t *rclip, uint64_t *rlut) {
  const size_t N = x->numel;
  const int bw = x->bw, bt = xt->bw;
  ff_status st = FF_OK;
  uint64_t *md = ff__op_alloc(N * sizeof *md, "GELU"), *mic = ff__op_alloc(N * sizeof *mic, "GELU"),
           *tmp = ff__op_alloc(N * sizeof *tmp, "GELU"), *c01 = ff__op_alloc(8 * N * sizeof *c01, "GELU");
  ff_select_key sk[2] = {{0}, {0}};
  if (!md || !mic || !tmp || !c01) {
    st = FF_ENOMEM;
    goto done;
  }
  /* 2. The comparison key and the two mask rows. */
  if ((st = ff__op_draw(op, md, N, 1)) || (st = ff__op_draw(op, mic, N, 1)) ||
      (st = ff__sigma_cmp_bits_cpu(op->ctx, bt, N, xt->v, md, tmp)) ||
      (st = ff__cmp_deal(op, bt - 1, N, alpha, tmp)) || (st = ff__op_put_bit_shares(op, 1, N, mic)))
    goto done;
  /* 3. The mux tables (k-bit words). */
  if ((st = ff__op_draw(op, rclip, N, k)) ||
      (st = ff_sigma_gelu_deal_mux_cpu(op->ctx, k, N, xt->v, md, mic, rclip, c01)) ||
      (st = ff__op_put_shares_words(op, c01, 8 * N, k, (int)ff__mux_entry_bytes(k))))
    goto done;
  /* 4. The LUT key at r_clip; its output mask r_lut (mod 2^bw). */
  if ((st = ff__lut_deal(op, rclip, k, bw, N, rlut))) goto done;
  /* 5. ReLU's select key: r_x = m_d, r_y = x's mask, r_out = r_relu (into y->v). */
  if ((st = ff__op_draw(op, y->v, N, bw)) || (st = ff_select_key_alloc(op->ctx, &sk[0], bw, N)) ||
      (st = ff_select_key_alloc(op->ctx, &sk[1], bw, N)) ||
      (st = ff_select_keygen(op->ctx, md, x->v, y->v, &sk[0], &sk[1])))
    goto done;
  for (int p = 0; p < 2 && !st; p++) st = ff__op_put(op, p, sk[p].buf, sk[p].bytes);
done:
  ff_select_key_free(&sk[0]);
  ff_select_key_free(&sk[1]);
  free(md);
  free(mic);
  free(tmp);
  free(c01);
  return st;
}

/* The same steps on the dealer's device path (op_internal.h): the same draws, keys and shares in the same
 * order, made where op->deal_ctx works; the LUT key from the host copy of r_clip. */
static ff_status ff__gelu_deal_dev(ff_op *op, int k, const ff_wire *x, const ff_wire *xt, ff_wire *y,
                                   const uint64_t *alpha, uint64_t *rclip, uint64_t *rlut) {
  const size_t N = x->numel, w = N * sizeof(uint64_t);
  const int bw = x->bw, bt = xt->bw;
  uint64_t *d = NULL; /* r_t | md | mic | bits | r_clip | r_y (x's masks) | r_relu | c01 (8) | select values (5) */
  ff_status st = ff__op_dev_scratch(op, 20 * w, "GELU dealer", (void **)&d);
  if (st) return st;
  uint64_t *drt = d, *dmd = d + N, *dmic = d + 2 * N, *dbits = d + 3 * N, *drc = d + 4 * N, *dry = d + 5 * N,
           *drelu = d + 6 * N, *dc01 = d + 7 * N, *dval = d + 15 * N;
  if (!(st = ff__op_dev_upload(op, drt, xt->v, w)) && !(st = ff__op_draw_dev(op, dmd, N, 1)) &&
      !(st = ff__op_draw_dev(op, dmic, N, 1)) &&
      !(st = FF__OP_DEV(op, ff__sigma_cmp_bits, bt, N, drt, dmd, dbits)) &&
      !(st = ff__dcf_deal(op, bt - 1, N, alpha)) && !(st = ff__op_put_bit_shares_dev(op, 1, N, dbits)) &&
      !(st = ff__op_put_bit_shares_dev(op, 1, N, dmic)) && !(st = ff__op_draw_dev(op, drc, N, k)) &&
      !(st = FF__OP_DEV(op, ff_sigma_gelu_deal_mux, k, N, drt, dmd, dmic, drc, dc01)) &&
      !(st = ff__op_put_shares_words_dev(op, dc01, 8 * N, k, (int)ff__mux_entry_bytes(k))) &&
      !(st = ff__op_dev_download(op, rclip, drc, w)) && !(st = ff__lut_deal(op, rclip, k, bw, N, rlut)) &&
      !(st = ff__op_draw_dev(op, drelu, N, bw)) && !(st = ff__op_dev_upload(op, dry, x->v, w)) &&
      !(st = FF__OP_DEV(op, ff_select_key_values, N, dmd, dry, drelu, dval)) &&
      !(st = ff__op_put_shares_words_dev(op, dval, FF_SELECT_KEY_ELEMS * N, bw, 8)))
    st = ff__op_dev_download(op, y->v, drelu, w);
  ff__op_dev_free(op, d);
  return st;
}

/* Dealer body: xt holds r_xt; y->v gets the output mask r_relu - r_lut. */
static ff_status ff__gelu_deal(ff_op *op, ff_sigma_act a, const ff_wire *x, const ff_wire *xt, ff_wire *y) {
  const size_t N = x->numel;
  const int k = ff_sigma_act_clip_bits(a);
  ff_status st = FF_OK;
  uint64_t *alpha = ff__op_alloc(N * sizeof *alpha, "GELU"), *rclip = ff__op_alloc(N * sizeof *rclip, "GELU"),
           *rlut = ff__op_alloc(N * sizeof *rlut, "GELU");
  if (!alpha || !rclip || !rlut) st = FF_ENOMEM;
  for (size_t i = 0; !st && i < N; i++) alpha[i] = ff_ring_reduce(xt->v[i], xt->bw - 1);
  if (!st) st = (ff__op_deal_dev(op) ? ff__gelu_deal_dev : ff__gelu_deal_host)(op, k, x, xt, y, alpha, rclip, rlut);
  if (!st) st = ff_sigma_gelu_final_cpu(op->ctx, x->bw, N, y->v, rlut);
  free(alpha);
  free(rclip);
  free(rlut);
  return st;
}

/* ---- Party ------------------------------------------------------------------------------------------------- */

/* Every wire-sized buffer and key in ff__op_mem(op) (device for a CUDA party); only the LUT key's
 * serialized bytes and the table are made on the host. */
typedef struct {
  ff_sigma_act a;
  int scale, bw;
} ff__act_table_arg;

static ff_status ff__act_table_fill(void *arg, uint64_t *host) {
  const ff__act_table_arg *t = arg;
  return ff_sigma_act_table(t->a, t->scale, t->bw, host);
}

static ff_status ff__gelu_eval(ff_op *op, ff_sigma_act a, const ff_wire *x, const ff_wire *xt, ff_wire *y) {
  ff_ctx *ctx = op->ctx;
  const size_t N = x->numel;
  const int bw = x->bw, bt = xt->bw, k = ff_sigma_act_clip_bits(a), n = bt - 1;
  const uint64_t clip = (UINT64_C(1) << k) - 1;
  const size_t mb = (N + 7) / 8, eb = ff__mux_entry_bytes(k);
  const size_t nt = (size_t)1 << k;
  ff_status st = FF_OK;
  /* The op's memory: one scratch block, carved below. */
  const size_t cmpb = (3 * N + 7) / 8, bytes8 = (3 * N + 2 * N + 2 * N + 8 * N + N + N) * sizeof(uint64_t);
  const size_t total = bytes8 + 2 * mb + cmpb + 8 * N * eb;
  void *blk = NULL;
  const uint64_t *tab = NULL;
  ff_dpf_key dk = {0};
  ff_lut_key lk = {0};
  ff_select_key sk = {0};
  if ((st = ff__op_buf_alloc(op, total, "GELU", &blk))) goto done;
  uint64_t *pts = blk, *md = pts + 3 * N, *dic = md + 2 * N, *c01 = dic + 2 * N, *cl = c01 + 8 * N, *lut = cl + N;
  uint8_t *maskbits = (uint8_t *)(lut + N), *cmpbits = maskbits + 2 * mb, *craw = cmpbits + cmpb;
  /* 2. Three comparisons from one key; d and ic in one 2-bit reconstruct. */
  if ((st = ff__op_get_dpf_key(op, &dk, n, N, "GELU comparison")) ||
      (st = ff__op_get_mem(op, maskbits, 2 * mb, "GELU comparison")) ||
      (st = ff_sigma_gelu_points(ctx, bt, clip, N, xt->v, pts)) || (st = ff_dpf_eval_lt(ctx, &dk, 3, pts, cmpbits)) ||
      (st = ff__op_unpack_bits(op, 3 * N, cmpbits, pts)) || /* pts now holds cmp */
      (st = ff__op_unpack_bits(op, N, maskbits, md)) || (st = ff__op_unpack_bits(op, N, maskbits + mb, md + N)) ||
      (st = ff_sigma_gelu_bits(ctx, bt, clip, N, xt->v, pts, md, md + N, dic)) ||
      (st = ff_op_reconstruct(op, dic, 2 * N, 1)))
    goto done;
  /* 3. The mux, reconstructed in k bits. */
  if ((st = ff__op_get_mem(op, craw, 8 * N * eb, "GELU mux")) || (st = ff__op_widen(op, 8 * N, (int)eb, craw, c01)) ||
      (st = ff_sigma_gelu_mux(ctx, k, N, dic, dic + N, xt->v, c01, c01 + 4 * N, cl)) ||
      (st = ff_op_reconstruct(op, cl, N, k)))
    goto done;
  /* 4. The LUT, output kept shared. */
  ff__act_table_arg ta = {a, op->scale, bw};
  if ((st = ff__op_get_lut_key(op, &lk, k, bw, 1, N, "GELU LUT")) ||
      (st = ff__op_table(op, ff__op_table_key(1, (uint32_t)a, (uint32_t)op->scale, (uint32_t)bw), nt, ff__act_table_fill,
                         &ta, &tab)) ||
      (st = ff_lut_eval(ctx, &lk, cl, tab, 0, lut)))
    goto done;
  op->cost[op->party].bits_sent += (uint64_t)N * (1 + (uint64_t)bw); /* u, then v (lut.h) */
  /* 5. ReLU = select(d^, x^), kept shared; ReLU - LUT reconstructed in bw bits. */
  if ((st = ff_select_key_alloc(ctx, &sk, bw, N)) || (st = ff__op_get_mem(op, sk.buf, sk.bytes, "GELU ReLU select")) ||
      (st = ff_select_eval(ctx, &sk, N, dic, x->v, y->v)) || (st = ff_sigma_gelu_final(ctx, bw, N, y->v, lut)))
    goto done;
  st = ff_op_reconstruct(op, y->v, N, bw);
done:
  ff_dpf_key_free(&dk);
  ff_lut_key_free(&lk);
  ff_select_key_free(&sk);
  ff__op_buf_free(op, blk);
  return st;
}

/* ---- Gate -------------------------------------------------------------------------------------------------- */

/* The gate body; the caller has opened the activation's scope (FF_SCOPE caches one name per site). */
static ff_status ff__act_run(ff_op *op, ff_sigma_act a, const ff_wire *x, ff_wire *y) {
  const char *fn = a == FF_SIGMA_SILU ? "ff_op_silu" : "ff_op_gelu";
  if (!op || !x || !y || (op->role != FF_OP_COST && !x->v)) {
    FF_ERROR("%s: op, input or output wire is NULL or empty", fn);
    return FF_EINVAL;
  }
  memset(y, 0, sizeof *y);
  const int k = ff_sigma_act_clip_bits(a), scale = op->scale, bw = x->bw, bt = ff_sigma_act_trunc_bits(bw, scale);
  if (!k || scale < 7 || bt < FF_DPF_MIN_BITS + 1 || k > bt - 2 || bt > bw) {
    FF_ERROR("%s: unsupported activation or widths (bw %d, scale %d: truncated ring %d bits, clip %d bits; "
             "needs scale >= 7, %d <= truncated ring <= bw, clip <= truncated ring - 2)",
             fn, bw, scale, bt, k, FF_DPF_MIN_BITS + 1);
    return FF_EINVAL;
  }
  const size_t N = x->numel;
  if (op->role == FF_OP_COST) {
    ff_gate_cost c;
    ff_sigma_act_cost(N, a, bw, scale, &c);
    ff__op_charge_both(op, &c);
    return ff__op_wire_alloc(op, y, bw, x->ndim, x->shape);
  }
  /* d[1]: the GELU variant's table (0: erf, SIGMA's; 1: tanh) -- the keys are the same, the parties' table
   * is not, so a party with the other variant is refused at the tag. */
  const ff__sg_tag tag = {FF__SG_GELU, (uint32_t)bw, (uint32_t)k, (uint32_t)scale, {N, a == FF_SIGMA_GELU_TANH, 0}};
  ff_wire xt = {0};
  ff_status st;
  ff__op_enter(op);
  if ((st = ff__op_tag(op, &tag)) || (st = ff_op_trslack(op, x, scale - 6, bt, &xt)) ||
      (st = ff__op_wire_alloc(op, y, bw, x->ndim, x->shape)))
    goto done;
  st = op->role == FF_OP_DEALER ? ff__gelu_deal(op, a, x, &xt, y) : ff__gelu_eval(op, a, x, &xt, y);
done:
  ff__op_leave(op);
  ff_wire_free(&xt);
  if (st) ff_wire_free(y);
  return st;
}

ff_status ff_op_gelu(ff_op *op, const ff_wire *x, ff_wire *y) {
  FF_SCOPE("Activation::GELU");
  return ff__act_run(op, FF_SIGMA_GELU, x, y);
}

ff_status ff_op_silu(ff_op *op, const ff_wire *x, ff_wire *y) {
  FF_SCOPE("Activation::SiLU");
  return ff__act_run(op, FF_SIGMA_SILU, x, y);
}

ff_status ff_op_gelu_tanh(ff_op *op, const ff_wire *x, ff_wire *y) {
  FF_SCOPE("Activation::GELU");
  return ff__act_run(op, FF_SIGMA_GELU_TANH, x, y);
}

ff_status ff_op_act(ff_op *op, ff_sigma_act a, const ff_wire *x, ff_wire *y) {
  if (a == FF_SIGMA_GELU) return ff_op_gelu(op, x, y);
  if (a == FF_SIGMA_SILU) return ff_op_silu(op, x, y);
  if (a == FF_SIGMA_GELU_TANH) return ff_op_gelu_tanh(op, x, y);
  FF_ERROR("ff_op_act: unknown activation %d", (int)a);
  return FF_EINVAL;
}
