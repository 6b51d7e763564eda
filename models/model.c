/* The transformer blocks written once over an engine (DESIGN.md §2, §7; research/sigma.md §4
 * "Attention" and §6 block orders): the secure engine calls the sigma op API, the fixed-point engine
 * each gate's cleartext emulation, the float engine the real functions. Weights and inputs.
 * Test: tests/test_models.c. */
#include "models/model.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ctx.h"
#include "core/log.h"
#include "core/rand.h"
#include "core/ring.h"
#include "gates/sigma/gelu.h"
#include "gates/sigma/layernorm.h"
#include "gates/sigma/linear.h"
#include "gates/sigma/mul.h"
#include "gates/sigma/rotary.h"
#include "gates/sigma/softmax.h"
#include "gates/suf/suf.h"
#include "gates/sigma/truncate.h"
#include "scope/scope.h"

/* ---- The tensor list ---------------------------------------------------------------------------------- */

enum { T_WQKV, T_BQKV, T_WO, T_BO, T_N1G, T_N1B, T_W1, T_B1, T_W2, T_B2, T_N2G, T_N2B, T_PER_LAYER_BERT };
enum { L_WQKV, L_WO, L_N1G, L_WGATE, L_WUP, L_WDOWN, L_N2G, T_PER_LAYER_LLAMA };

#define FF__TENSORS_MAX T_PER_LAYER_BERT /* the most tensors a layer has */

static int ff__per_layer(const ff_model_config *c) {
  return c->arch == FF_ARCH_LLAMA ? T_PER_LAYER_LLAMA : T_PER_LAYER_BERT;
}

/* Name and shape of tensor j of a layer. */
static void ff__spec(const ff_model_config *c, int layer, int j, char *name, int *ndim, int64_t shape[2]) {
  const int64_t d = c->d_model, F = c->d_ffn;
  static const char *bert[] = {"attn.wqkv", "attn.bqkv", "attn.wo", "attn.bo", "norm1.g", "norm1.b",
                               "ffn.w1",    "ffn.b1",    "ffn.w2",  "ffn.b2",  "norm2.g", "norm2.b"};
  static const char *llama[] = {"attn.wqkv", "attn.wo", "norm1.g", "ffn.wgate", "ffn.wup", "ffn.wdown", "norm2.g"};
  const int64_t bshape[][2] = {{d, 3 * d}, {3 * d, 0}, {d, d}, {d, 0}, {d, 0}, {d, 0},
                               {d, F},     {F, 0},     {F, d}, {d, 0}, {d, 0}, {d, 0}};
  const int64_t lshape[][2] = {{d, 3 * d}, {d, d}, {d, 0}, {d, F}, {d, F}, {F, d}, {d, 0}};
  const int ll = c->arch == FF_ARCH_LLAMA;
  snprintf(name, FF_MODEL_TENSOR_NAME_MAX, "layer%d.%s", layer, ll ? llama[j] : bert[j]);
  const int64_t *s = ll ? lshape[j] : bshape[j];
  shape[0] = s[0];
  shape[1] = s[1];
  *ndim = s[1] ? 2 : 1;
}

uint64_t ff_model_param_count(const ff_model_config *cfg) {
  const int P = ff__per_layer(cfg);
  uint64_t n = 0;
  for (int j = 0; j < P; j++) {
    char name[FF_MODEL_TENSOR_NAME_MAX];
    int ndim;
    int64_t shape[2];
    ff__spec(cfg, 0, j, name, &ndim, shape);
    n += (uint64_t)shape[0] * (uint64_t)(ndim == 2 ? shape[1] : 1);
  }
  return n * (uint64_t)cfg->layers;
}

ff_status ff_model_weights_alloc(const ff_model_config *cfg, ff_model_weights *w) {
  memset(w, 0, sizeof *w);
  if (!cfg) return FF_EINVAL;
  const int P = ff__per_layer(cfg);
  w->cfg = cfg;
  w->n = cfg->layers * P;
  if (!(w->t = calloc((size_t)w->n, sizeof *w->t))) return FF_ENOMEM;
  for (int i = 0; i < w->n; i++) {
    ff_model_tensor *t = &w->t[i];
    ff__spec(cfg, i / P, i % P, t->name, &t->ndim, t->shape);
    t->numel = (size_t)t->shape[0] * (size_t)(t->ndim == 2 ? t->shape[1] : 1);
    if (!(t->v = calloc(t->numel, sizeof *t->v))) {
      FF_ERROR("model %s: cannot allocate weight %s (%zu values)", cfg->name, t->name, t->numel);
      ff_model_weights_free(w);
      return FF_ENOMEM;
    }
  }
  return FF_OK;
}

void ff_model_weights_free(ff_model_weights *w) {
  if (!w) return;
  for (int i = 0; w->t && i < w->n; i++) free(w->t[i].v);
  free(w->t);
  memset(w, 0, sizeof *w);
}

const ff_model_tensor *ff_model_weights_get(const ff_model_weights *w, const char *name) {
  for (int i = 0; w && i < w->n; i++)
    if (!strcmp(w->t[i].name, name)) return &w->t[i];
  return NULL;
}

/* Uniform in [-a, a) at the given scale. */
static int64_t ff__uniform_fixed(ff_rng *rng, double a, int scale) {
  const double u = (double)(ff_rng_u64(rng) >> 11) * 0x1.0p-53; /* [0, 1) */
  return (int64_t)llround((2 * u - 1) * a * ldexp(1.0, scale));
}

ff_status ff_model_weights_random(const ff_model_config *cfg, uint64_t seed, ff_model_weights *w) {
  ff_status st = ff_model_weights_alloc(cfg, w);
  if (st) return st;
  ff_rng rng;
  ff_rng_init_seeded(&rng, seed ? seed : 1);
  for (int i = 0; i < w->n; i++) {
    ff_model_tensor *t = &w->t[i];
    const int gain = strstr(t->name, ".g") && t->ndim == 1;
    const double a = t->ndim == 2 ? sqrt(3.0 / (double)t->shape[0]) : 0.1;
    for (size_t k = 0; k < t->numel; k++)
      t->v[k] = (gain ? (int64_t)1 << cfg->scale : 0) + ff__uniform_fixed(&rng, a, cfg->scale);
  }
  return FF_OK;
}

ff_status ff_model_input_random(const ff_model_config *cfg, int seq, int batch, uint64_t seed, int64_t **out) {
  *out = NULL;
  if (!cfg || seq < 1 || batch < 1) return FF_EINVAL;
  const size_t n = (size_t)seq * (size_t)batch * (size_t)cfg->d_model;
  int64_t *x = malloc(n * sizeof *x);
  if (!x) return FF_ENOMEM;
  ff_rng rng;
  ff_rng_init_seeded(&rng, seed ? seed : 2);
  const int64_t lim = (int64_t)4 << cfg->scale;
  for (size_t i = 0; i < n; i++) {
    int64_t v = 0; /* sum of 4 uniforms in +-sqrt(3/4): variance 1 */
    for (int k = 0; k < 4; k++) v += ff__uniform_fixed(&rng, sqrt(0.75), cfg->scale);
    x[i] = v > lim ? lim : v < -lim ? -lim : v;
  }
  *out = x;
  return FF_OK;
}

/* ---- Engines ------------------------------------------------------------------------------------------
 * Tensors are ff_wire in every engine: the secure engine's are the op's wires; the fixed-point engine's
 * hold cleartext values mod 2^bw in host memory; the float engine's v holds doubles (their bits, 8 bytes
 * each, so that the shape-only operations -- permute, split -- are shared). */

typedef enum { FF__ENG_SECURE, FF__ENG_FIXED, FF__ENG_FLOAT } ff__eng_kind;

typedef struct {
  ff__eng_kind kind;
  ff_op *op;              /* secure */
  ff_ctx cpu;             /* host engines: the CPU context the host kernels take */
  const ff_model_config *cfg;
  int bw, scale;
  ff_suf_config suf;      /* the suite's switches: all off for sigma (gates/suf/spec.h) */
  struct ff_model_session *sess; /* secure: the session, whose weights enter layer by layer when
                                    cfg->weights_per_layer (ff__forward) */
} ff__eng;

static double *ff__d(const ff_wire *w) { return (double *)(void *)w->v; }

static ff_status ff__host_alloc(const ff__eng *e, ff_wire *w, int ndim, const int64_t *shape) {
  memset(w, 0, sizeof *w);
  size_t n = 1;
  for (int i = 0; i < ndim; i++) n *= (size_t)shape[i];
  w->bw = e->bw;
  w->ndim = ndim;
  memcpy(w->shape, shape, (size_t)ndim * sizeof *shape);
  w->numel = n;
  w->where = FF_MEM_HOST;
  if (!(w->v = calloc(n ? n : 1, sizeof *w->v))) {
    FF_ERROR("model reference: cannot allocate %zu values", n);
    return FF_ENOMEM;
  }
  return FF_OK;
}

static int64_t ff__ars(int64_t v, int s) { return v >= 0 ? v >> s : -((-v - 1) >> s) - 1; }

/* The host engines' matrix product over the B * M output rows (row r: batch r / M, row r % M): k outer,
 * j inner (w read along its rows); y accumulates in place, then is rescaled. */
typedef struct {
  const ff__eng *e;
  const ff_wire *x, *w;
  ff_wire *y;
  int shift, causal;
  size_t B, M, K, N;
  double f;
} ff__mm_job;

/* Items [lo, hi) of the rows taken in pairs from both ends (item 2q: row q, item 2q + 1: row R - 1 - q):
 * a causal row's work grows with its index, so every contiguous range of items holds short and long rows
 * alike and core/ctx.h ff_parallel_for's ranges cost about the same. */
static void ff__mm_rows(void *arg, size_t lo, size_t hi) {
  const ff__mm_job *j = arg;
  const ff__eng *e = j->e;
  const ff_wire *x = j->x, *w = j->w;
  ff_wire *y = j->y;
  const size_t M = j->M, K = j->K, N = j->N, R = j->B * M;
  for (size_t q = lo; q < hi; q++) {
    const size_t r = q % 2 == 0 ? q / 2 : R - 1 - q / 2;
    const size_t b = r / M, i = r % M;
    const size_t xo = b * M * K, wo = w->ndim == 3 ? b * K * N : 0, yo = b * M * N;
    const size_t jn = j->causal ? i + 1 : N;
    for (size_t k = 0; k < K; k++) {
      if (e->kind == FF__ENG_FLOAT) {
        const double a = ff__d(x)[xo + i * K + k], *wr = ff__d(w) + wo + k * N;
        double *yr = ff__d(y) + yo + i * N;
        for (size_t c = 0; c < jn; c++) yr[c] += a * wr[c];
      } else {
        const uint64_t a = x->v[xo + i * K + k], *wr = w->v + wo + k * N;
        uint64_t *yr = y->v + yo + i * N;
        for (size_t c = 0; c < jn; c++) yr[c] += a * wr[c];
      }
    }
    for (size_t c = 0; c < jn; c++) {
      if (e->kind == FF__ENG_FLOAT) ff__d(y)[yo + i * N + c] *= j->f;
      else y->v[yo + i * N + c] = ff_ring_from_signed(ff__ars(ff_ring_signed(y->v[yo + i * N + c], e->bw), j->shift), e->bw);
    }
  }
}

/* y (B, M, N) = x (B, M, K) w (B, K, N), 2^(scale - shift) (float) or >> shift (fixed); causal: 0 above
 * the diagonal. w may be 2-D (shared by every batch). */
static ff_status ff__eng_matmul(ff__eng *e, const ff_wire *x, const ff_wire *w, int shift, int causal, ff_wire *y) {
  if (e->kind == FF__ENG_SECURE) {
    const ff_sigma_mm_opts o = {shift, causal};
    return ff_op_matmul_ex(e->op, x, w, &o, y);
  }
  const int three = x->ndim == 3;
  const size_t B = three ? (size_t)x->shape[0] : 1, M = (size_t)x->shape[three], K = (size_t)x->shape[three + 1];
  const size_t N = (size_t)w->shape[w->ndim - 1];
  const int64_t shape3[3] = {(int64_t)B, (int64_t)M, (int64_t)N}, shape2[2] = {(int64_t)M, (int64_t)N};
  ff_status st = ff__host_alloc(e, y, three ? 3 : 2, three ? shape3 : shape2);
  if (st) return st;
  ff__mm_job job = {e, x, w, y, shift, causal, B, M, K, N, ldexp(1.0, e->scale - shift)};
  /* The host engines' time is in these products (a multiply-add per weight and token): the rows go to
   * threads when there is enough work (at least 2^18 multiply-adds each), each row computed as by one
   * thread, so the result is the same. */
  const size_t row_work = K * N > 0 ? K * N : 1, per_thread = row_work >= (1u << 18) ? 1 : (1u << 18) / row_work;
  ff_parallel_for(B * M, per_thread, 32, ff__mm_rows, &job);
  return FF_OK;
}

static ff_status ff__eng_add(ff__eng *e, const ff_wire *x, const ff_wire *b, int bias, ff_wire *y) {
  if (e->kind == FF__ENG_SECURE) return bias ? ff_op_add_bias(e->op, x, b, y) : ff_op_add(e->op, x, b, y);
  ff_status st = ff__host_alloc(e, y, x->ndim, x->shape);
  const size_t nb = b->numel;
  for (size_t i = 0; !st && i < x->numel; i++) {
    const size_t k = bias ? i % nb : i;
    if (e->kind == FF__ENG_FLOAT) ff__d(y)[i] = ff__d(x)[i] + ff__d(b)[k];
    else y->v[i] = ff_ring_reduce(x->v[i] + b->v[k], e->bw);
  }
  return st;
}

/* y = x * c for a real constant c: the secure engine multiplies by round(c 2^scale) and truncates. */
static ff_status ff__eng_scale(ff__eng *e, const ff_wire *x, double c, ff_wire *y) {
  const int64_t ci = llround(c * ldexp(1.0, e->scale));
  if (e->kind == FF__ENG_SECURE) {
    ff_wire t = {0};
    ff_status st = ff_op_mul_public(e->op, x, ci, &t);
    if (!st) st = ff_op_trfloor(e->op, &t, e->scale, y);
    ff_wire_free(&t);
    return st;
  }
  ff_status st = ff__host_alloc(e, y, x->ndim, x->shape);
  for (size_t i = 0; !st && i < x->numel; i++) {
    if (e->kind == FF__ENG_FLOAT) ff__d(y)[i] = ff__d(x)[i] * c;
    else y->v[i] = ff_ring_from_signed(ff__ars(ff_ring_signed(x->v[i] * (uint64_t)ci, e->bw), e->scale), e->bw);
  }
  return st;
}

static ff_status ff__eng_permute(ff__eng *e, const ff_wire *x, int nd, const int64_t *dims, const int *perm,
                                 ff_wire *y) {
  if (e->kind == FF__ENG_SECURE) return ff_op_permute(e->op, x, nd, dims, perm, y);
  int64_t shape[FF_SIGMA_PERMUTE_MAX_DIMS];
  for (int i = 0; i < nd; i++) shape[i] = dims[perm[i]];
  ff_status st = ff__host_alloc(e, y, nd, shape);
  if (!st) st = ff_sigma_permute_cpu(&e->cpu, nd, dims, perm, x->v, y->v);
  return st;
}

static ff_status ff__eng_split(ff__eng *e, const ff_wire *x, int parts, int ndim, const int64_t *shape, ff_wire *outs) {
  if (e->kind == FF__ENG_SECURE) return ff_op_split(e->op, x, parts, ndim, shape, outs);
  const size_t n = x->numel / (size_t)parts;
  for (int i = 0; i < parts; i++) {
    ff_status st = ff__host_alloc(e, &outs[i], ndim, shape);
    if (st) return st;
    memcpy(outs[i].v, x->v + (size_t)i * n, n * sizeof *x->v);
  }
  return FF_OK;
}

static ff_status ff__eng_softmax_at12(ff__eng *e, const ff_wire *x, int causal, ff_wire *y);

/* x * 2^up (up >= 0: a public multiply, exact and local) or floor(x / 2^-up) (up < 0: TrFloor); the softmax's
 * rescale to and from its scale of 12 when a run has another scale (models/config.h ff_model_scale_check). */
static ff_status ff__eng_pow2(ff__eng *e, const ff_wire *x, int up, ff_wire *y) {
  if (e->kind == FF__ENG_SECURE)
    return up >= 0 ? ff_op_mul_public(e->op, x, (int64_t)1 << up, y) : ff_op_trfloor(e->op, x, -up, y);
  ff_status st = ff__host_alloc(e, y, x->ndim, x->shape);
  for (size_t i = 0; !st && i < x->numel; i++) {
    if (e->kind == FF__ENG_FLOAT) ff__d(y)[i] = ff__d(x)[i];
    else if (up >= 0) y->v[i] = ff_ring_reduce(x->v[i] << up, e->bw);
    else y->v[i] = ff_ring_from_signed(ff__ars(ff_ring_signed(x->v[i], e->bw), -up), e->bw);
  }
  return st;
}

/* The softmax runs at scale 12 (SIGMA's nExp and reciprocal tables): at another scale s its input is
 * rescaled to 12 and its output back to s (TrFloor on the side that loses bits, a public multiply by a
 * power of two on the other). At s = 12 the graph is SIGMA's exactly. */
static ff_status ff__eng_softmax(ff__eng *e, const ff_wire *x, int causal, ff_wire *y) {
  const int up = 12 - e->scale;
  if (!up) return ff__eng_softmax_at12(e, x, causal, y);
  ff_wire a = {0}, b = {0};
  ff_status st = ff__eng_pow2(e, x, up, &a);
  if (!st) st = ff__eng_softmax_at12(e, &a, causal, &b);
  if (!st) st = ff__eng_pow2(e, &b, -up, y);
  ff_wire_free(&a);
  ff_wire_free(&b);
  return st;
}

static ff_status ff__eng_softmax_at12(ff__eng *e, const ff_wire *x, int causal, ff_wire *y) {
  ff_sigma_softmax_opts so;
  ff_suf_softmax_opts(&e->suf, &so); /* zeroed (sigma's softmax) unless SUF_SOFTMAX */
  if (e->kind == FF__ENG_SECURE) { /* at 12 (ff__eng_softmax has rescaled x): the gates see scale 12 */
    const int was = ff_op_set_scale(e->op, 12);
    const ff_status st = causal ? ff_op_softmax_causal_ex(e->op, x, y, &so) : ff_op_softmax_ex(e->op, x, y, &so);
    ff_op_set_scale(e->op, was);
    return st;
  }
  ff_status st = ff__host_alloc(e, y, x->ndim, x->shape);
  if (st) return st;
  const size_t n = (size_t)x->shape[x->ndim - 1], R = x->numel / n;
  if (e->kind == FF__ENG_FIXED)
    return causal ? ff_sigma_softmax_causal_emulate_ex(e->bw, R, n, &so, x->v, y->v)
                  : ff_sigma_softmax_emulate_ex(e->bw, R, n, &so, x->v, y->v);
  for (size_t r = 0; r < R; r++) {
    const double *xr = ff__d(x) + r * n;
    double *yr = ff__d(y) + r * n;
    const size_t len = causal ? r % n + 1 : n;
    double mx = xr[0], sum = 0;
    for (size_t j = 1; j < len; j++) mx = xr[j] > mx ? xr[j] : mx;
    for (size_t j = 0; j < len; j++) sum += (yr[j] = exp(xr[j] - mx));
    for (size_t j = 0; j < len; j++) yr[j] /= sum;
  }
  return FF_OK;
}

/* LayerNorm (b != NULL) or RMSNorm (b == NULL) over the last dimension. */
static ff_status ff__eng_norm(ff__eng *e, const ff_wire *x, const ff_wire *g, const ff_wire *b, ff_wire *y) {
  ff_sigma_norm_opts no;
  ff_suf_norm_opts(&e->suf, &no); /* zeroed (sigma's rsqrt) unless SUF_LAYERNORM */
  no.eps = e->cfg->sem.norm_eps;  /* 0: SIGMA's (no epsilon) */
  if (e->kind == FF__ENG_SECURE)
    return b ? ff_op_layernorm_ex(e->op, x, g, b, y, &no) : ff_op_rmsnorm_ex(e->op, x, g, y, &no);
  ff_status st = ff__host_alloc(e, y, x->ndim, x->shape);
  if (st) return st;
  const size_t d = (size_t)x->shape[x->ndim - 1], R = x->numel / d;
  if (e->kind == FF__ENG_FIXED)
    return ff_sigma_layernorm_emulate_ex(e->bw, e->scale, R, d, !b, &no, x->v, g->v, b ? b->v : NULL, y->v);
  for (size_t r = 0; r < R; r++) {
    const double *xr = ff__d(x) + r * d;
    double mu = 0, var = 0;
    if (b)
      for (size_t j = 0; j < d; j++) mu += xr[j] / (double)d;
    for (size_t j = 0; j < d; j++) var += (xr[j] - mu) * (xr[j] - mu) / (double)d;
    var += no.eps;
    const double inv = var > 0 ? 1 / sqrt(var) : 0;
    for (size_t j = 0; j < d; j++)
      ff__d(y)[r * d + j] = (xr[j] - mu) * inv * ff__d(g)[j] + (b ? ff__d(b)[j] : 0);
  }
  return FF_OK;
}

static ff_status ff__eng_act(ff__eng *e, ff_sigma_act a, const ff_wire *x, ff_wire *y) {
  const ff_suf_fn sf = a == FF_SIGMA_GELU ? FF_SUF_GELU : FF_SUF_SILU;
  if (a == FF_SIGMA_GELU && e->cfg->sem.gelu_tanh) {
    if (e->suf.activation) {
      FF_ERROR("model %s: the tanh GELU (gelu_new) is a sigma table; the suf suite's GELU is the erf form "
               "(turn SUF_ACTIVATION off, or use the erf GELU)", e->cfg->name);
      return FF_EINVAL;
    }
    a = FF_SIGMA_GELU_TANH;
  }
  if (e->kind == FF__ENG_SECURE) {
    if (!e->suf.activation) return ff_op_act(e->op, a, x, y);
    return a == FF_SIGMA_GELU ? ff_op_suf_gelu(e->op, &e->suf, x, y) : ff_op_suf_silu(e->op, &e->suf, x, y);
  }
  ff_status st = ff__host_alloc(e, y, x->ndim, x->shape);
  if (st) return st;
  if (e->kind == FF__ENG_FIXED && e->suf.activation) return ff_suf_act_emulate(sf, &e->suf, e->bw, e->scale, x->numel, x->v, y->v);
  if (e->kind == FF__ENG_FIXED) return ff_sigma_act_emulate(a, e->bw, e->scale, x->numel, x->v, y->v);
  for (size_t i = 0; i < x->numel; i++) {
    const double v = ff__d(x)[i];
    ff__d(y)[i] = ff_sigma_act_real(a, v);
  }
  return FF_OK;
}

static ff_status ff__eng_mul(ff__eng *e, const ff_wire *x, const ff_wire *y, ff_wire *z) {
  if (e->kind == FF__ENG_SECURE) return ff_op_mul(e->op, x, y, z);
  ff_status st = ff__host_alloc(e, z, x->ndim, x->shape);
  for (size_t i = 0; !st && i < x->numel; i++) {
    if (e->kind == FF__ENG_FLOAT) ff__d(z)[i] = ff__d(x)[i] * ff__d(y)[i];
    else z->v[i] = ff_ring_from_signed(ff__ars(ff_ring_signed(x->v[i] * y->v[i], e->bw), e->scale), e->bw);
  }
  return st;
}

/* Rotary embedding on (rows, T, d) with position = row index mod T. */
static ff_status ff__eng_rotary(ff__eng *e, const ff_wire *x, ff_wire *y) {
  const double base = ff_model_rope_base(e->cfg);
  if (e->kind == FF__ENG_SECURE) return ff_op_rotary_ex(e->op, x, base, y);
  ff_status st = ff__host_alloc(e, y, x->ndim, x->shape);
  if (st) return st;
  const int d = (int)x->shape[x->ndim - 1], T = (int)x->shape[x->ndim - 2], h = d / 2;
  const size_t rows = x->numel / (size_t)d;
  if (e->kind == FF__ENG_FIXED) {
    const int f = ff_sigma_rotary_frac_bits(e->scale);
    int64_t *cs = malloc((size_t)T * (size_t)h * 2 * sizeof *cs);
    if (!cs) return FF_ENOMEM;
    if (!(st = ff_sigma_rotary_table_ex(T, d, f, base, cs, cs + (size_t)T * h)) &&
        !(st = ff_sigma_rotary_apply_cpu(&e->cpu, e->bw, rows, T, d, cs, cs + (size_t)T * h, x->v, y->v)))
      for (size_t i = 0; i < x->numel; i++) y->v[i] = ff_ring_from_signed(ff__ars(ff_ring_signed(y->v[i], e->bw), f), e->bw);
    free(cs);
    return st;
  }
  for (size_t r = 0; r < rows; r++) {
    const double t = (double)(r % (size_t)T);
    const double *xr = ff__d(x) + r * (size_t)d;
    for (int j = 0; j < d; j++) {
      const int k = j % h;
      const double th = t / pow(base, 2.0 * k / (double)d);
      const double xp = xr[(j + h) % d];
      ff__d(y)[r * (size_t)d + (size_t)j] = cos(th) * xr[j] + (j < h ? -sin(th) : sin(th)) * xp;
    }
  }
  return FF_OK;
}

/* ---- The graph ------------------------------------------------------------------------------------------ */

struct ff_model_session {
  const ff_model_config *cfg;
  int n;
  ff_wire *w; /* (n) the weights' wires, in the list's order; with cfg->weights_per_layer only the layer
                 being run holds its wires (ff__forward), the others are empty */
  const ff_model_weights *plain; /* P0 with cfg->weights_per_layer: its plaintext weights, masked anew
                                    at every inference (borrowed: the caller keeps them alive) */
  void (*progress)(int done, int total, void *arg);
  void *progress_arg;
  ff_suf_config suf; /* the suite's switches (ff_model_session_set_suf); all off: sigma */
  uint64_t *io;      /* P1: its input, then its output, as ring values (io_n of them); kept across
                        inferences so that an inference of the same shape allocates nothing */
  size_t io_n;
};

static void ff__free_all(ff_wire *w, int n) {
  for (int i = 0; i < n; i++) ff_wire_free(&w[i]);
}

/* Attention on x (B*T, d) -> out (B*T, d), the output projection included. */
static ff_status ff__attention(ff__eng *e, const ff_wire *W, int B, int T, const ff_wire *x, ff_wire *out) {
  FF_SCOPE("Attention");
  const ff_model_config *c = e->cfg;
  const int llama = c->arch == FF_ARCH_LLAMA;
  const int H = c->heads, dh = ff_model_head_dim(c), d = c->d_model;
  const ff_wire *wqkv = &W[llama ? L_WQKV : T_WQKV], *wo = &W[llama ? L_WO : T_WO];
  ff_wire t[12] = {{0}};
  ff_wire *qkv = &t[0], *hs = &t[1], *q = &t[2], *k = &t[3], *v = &t[4], *kt = &t[5], *s = &t[6], *p = &t[7],
          *o = &t[8], *om = &t[9], *tmp = &t[10];
  ff_status st;
  /* QKV = x Wqkv (+ b), viewed (B, T, 3, H, dh) and permuted to (3, B, H, T, dh): Q, K, V (B H, T, dh). */
  if ((st = ff__eng_matmul(e, x, wqkv, e->scale, 0, qkv))) goto done;
  if (!llama) {
    if ((st = ff__eng_add(e, qkv, &W[T_BQKV], 1, tmp))) goto done;
    ff_wire_free(qkv);
    *qkv = *tmp;
    memset(tmp, 0, sizeof *tmp);
  }
  {
    const int64_t dims[5] = {B, T, 3, H, dh};
    const int perm[5] = {2, 0, 3, 1, 4};
    const int64_t hshape[3] = {(int64_t)B * H, T, dh};
    if ((st = ff__eng_permute(e, qkv, 5, dims, perm, hs))) goto done;
    ff_wire qkv3[3] = {{0}};
    if ((st = ff__eng_split(e, hs, 3, 3, hshape, qkv3))) goto done;
    *q = qkv3[0], *k = qkv3[1], *v = qkv3[2];
  }
  if (llama) { /* rotary on Q and K (positions t of each (T, dh) block) */
    if ((st = ff__eng_rotary(e, q, tmp))) goto done;
    ff_wire_free(q), *q = *tmp, memset(tmp, 0, sizeof *tmp);
    if ((st = ff__eng_rotary(e, k, tmp))) goto done;
    ff_wire_free(k), *k = *tmp, memset(tmp, 0, sizeof *tmp);
  }
  {
    const int64_t dims[3] = {(int64_t)B * H, T, dh};
    const int perm[3] = {0, 2, 1};
    if ((st = ff__eng_permute(e, k, 3, dims, perm, kt))) goto done;
  }
  /* S = Q K^T / sqrt(dh): folded into the truncation when log2(dh) is even (SIGMA), else a public
   * multiply with its own truncation; GPT-Neo does not scale. */
  int shift = e->scale, lg = 0;
  while ((1 << lg) < dh) lg++;
  const int fold = c->norm_qk && (1 << lg) == dh && lg % 2 == 0;
  if (fold) shift += lg / 2;
  if ((st = ff__eng_matmul(e, q, kt, shift, c->causal, s))) goto done;
  if (c->norm_qk && !fold) {
    if ((st = ff__eng_scale(e, s, 1 / sqrt((double)dh), tmp))) goto done;
    ff_wire_free(s), *s = *tmp, memset(tmp, 0, sizeof *tmp);
  }
  if ((st = ff__eng_softmax(e, s, c->causal, p))) goto done;
  if ((st = ff__eng_matmul(e, p, v, e->scale, 0, o))) goto done;
  {
    const int64_t dims[4] = {B, H, T, dh};
    const int perm[4] = {0, 2, 1, 3};
    const int64_t flat[2] = {(int64_t)B * T, d};
    if ((st = ff__eng_permute(e, o, 4, dims, perm, om))) goto done;
    if ((st = ff_wire_reshape(om, 2, flat))) goto done;
  }
  if (llama) {
    st = ff__eng_matmul(e, om, wo, e->scale, 0, out);
  } else if (!(st = ff__eng_matmul(e, om, wo, e->scale, 0, tmp))) {
    st = ff__eng_add(e, tmp, &W[T_BO], 1, out);
  }
done:
  ff__free_all(t, 12);
  return st;
}

static ff_status ff__ffn(ff__eng *e, const ff_wire *W, const ff_wire *x, ff_wire *out) {
  FF_SCOPE("FFN");
  ff_wire t[5] = {{0}};
  ff_status st;
  if (e->cfg->arch == FF_ARCH_LLAMA) { /* down(SiLU(x Wgate) * (x Wup)) */
    if ((st = ff__eng_matmul(e, x, &W[L_WGATE], e->scale, 0, &t[0])) || (st = ff__eng_act(e, FF_SIGMA_SILU, &t[0], &t[1])) ||
        (st = ff__eng_matmul(e, x, &W[L_WUP], e->scale, 0, &t[2])) || (st = ff__eng_mul(e, &t[1], &t[2], &t[3])))
      goto done;
    st = ff__eng_matmul(e, &t[3], &W[L_WDOWN], e->scale, 0, out);
  } else { /* GELU(x W1 + b1) W2 + b2 */
    if ((st = ff__eng_matmul(e, x, &W[T_W1], e->scale, 0, &t[0])) || (st = ff__eng_add(e, &t[0], &W[T_B1], 1, &t[1])) ||
        (st = ff__eng_act(e, FF_SIGMA_GELU, &t[1], &t[2])) || (st = ff__eng_matmul(e, &t[2], &W[T_W2], e->scale, 0, &t[3])))
      goto done;
    st = ff__eng_add(e, &t[3], &W[T_B2], 1, out);
  }
done:
  ff__free_all(t, 5);
  return st;
}

/* One block in the architecture's order; x (B*T, d) -> y. */
static ff_status ff__block(ff__eng *e, const ff_wire *W, int B, int T, const ff_wire *x, ff_wire *y) {
  const ff_model_config *c = e->cfg;
  const int llama = c->arch == FF_ARCH_LLAMA;
  const ff_wire *n1g = &W[llama ? L_N1G : T_N1G], *n2g = &W[llama ? L_N2G : T_N2G];
  const ff_wire *n1b = llama ? NULL : &W[T_N1B], *n2b = llama ? NULL : &W[T_N2B];
  ff_wire t[6] = {{0}};
  ff_status st;
  if (c->arch == FF_ARCH_BERT) { /* LN(h + FFN(h)), h = LN(x + Attn(x)) */
    if ((st = ff__attention(e, W, B, T, x, &t[0])) || (st = ff__eng_add(e, x, &t[0], 0, &t[1])) ||
        (st = ff__eng_norm(e, &t[1], n1g, n1b, &t[2])) || (st = ff__ffn(e, W, &t[2], &t[3])) ||
        (st = ff__eng_add(e, &t[2], &t[3], 0, &t[4])))
      goto done;
    st = ff__eng_norm(e, &t[4], n2g, n2b, y);
  } else { /* h + FFN(N2(h)), h = x + Attn(N1(x)) */
    if ((st = ff__eng_norm(e, x, n1g, n1b, &t[0])) || (st = ff__attention(e, W, B, T, &t[0], &t[1])) ||
        (st = ff__eng_add(e, x, &t[1], 0, &t[2])) || (st = ff__eng_norm(e, &t[2], n2g, n2b, &t[3])) ||
        (st = ff__ffn(e, W, &t[3], &t[4])))
      goto done;
    st = ff__eng_add(e, &t[2], &t[4], 0, y);
  }
done:
  ff__free_all(t, 6);
  return st;
}

typedef struct {
  void (*fn)(int done, int total, void *arg);
  void *arg;
} ff__progress;

static ff_status ff__input_weights(ff_op *op, const ff_model_config *cfg, const ff_model_weights *w,
                                   ff_model_weights *take, int lo, int hi, int one_flight, ff_wire *wires);

static ff_status ff__forward(ff__eng *e, const ff_wire *W, int B, int T, const ff_wire *x, ff_wire *y,
                             const ff__progress *pr) {
  FF_SCOPE("Forward");
  const int P = ff__per_layer(e->cfg);
  ff_model_session *ps = e->kind == FF__ENG_SECURE && e->cfg->weights_per_layer ? e->sess : NULL;
  ff_wire cur = {0}, next = {0};
  ff_status st = FF_OK;
  for (int l = 0; l < e->cfg->layers && !st; l++) {
    FF_SCOPE_LAYER("Layer", l);
    /* Weights per layer: this layer's tensors masked now (scope Weights, inside the layer) and freed after
     * it, so that one layer's masked weights exist at a time instead of the whole model's. */
    if (ps && (st = ff__input_weights(e->op, e->cfg, ps->plain, NULL, l * P, (l + 1) * P, 1, ps->w + (size_t)l * P)))
      break;
    st = ff__block(e, W + (size_t)l * P, B, T, l ? &cur : x, &next);
    if (ps) ff__free_all(ps->w + (size_t)l * P, P);
    if (!st && pr && pr->fn) pr->fn(l + 1, e->cfg->layers, pr->arg);
    ff_wire_free(&cur);
    cur = next;
    memset(&next, 0, sizeof next);
  }
  if (st) ff_wire_free(&cur);
  else *y = cur;
  return st;
}

static ff_status ff__check_shape(const ff_model_config *cfg, int seq, int batch) {
  if (!cfg || seq < 3 || batch < 1 || (int64_t)seq * batch > (1 << 24)) {
    FF_ERROR("model %s: need seq >= 3 and batch >= 1 (seq %d, batch %d)", cfg ? cfg->name : "?", seq, batch);
    return FF_EINVAL;
  }
  return FF_OK;
}

/* ---- Secure inference ---------------------------------------------------------------------------------- */

/* Tensors lo .. hi-1 of the list as inputs owned by P0 into wires[0 .. hi-lo-1], in scope Weights: P0
 * converts its plaintext (w, checked against the list) to the ring and, with take, frees each tensor once
 * converted; other roles pass w NULL. one_flight: all of them as one gate (ff_op_input_many: P0 holds the
 * range's ring copies at once; the layer's weights with --weights-per-layer), else one ff_op_input each
 * (one ring copy at a time; the whole model's, once per session). */
static ff_status ff__input_weights(ff_op *op, const ff_model_config *cfg, const ff_model_weights *w,
                                   ff_model_weights *take, int lo, int hi, int one_flight, ff_wire *wires) {
  ff_scope_register("Weights", "IO");
  FF_SCOPE("Weights");
  const int k = hi - lo;
  int ndim[FF__TENSORS_MAX];
  int64_t shapes[FF__TENSORS_MAX][2];
  const int64_t *shape[FF__TENSORS_MAX];
  uint64_t *plain[FF__TENSORS_MAX] = {NULL};
  size_t cap[FF__TENSORS_MAX] = {0}; /* values each ring copy holds: one copy grows and is reused */
  ff_status st = FF_OK;
  for (int i = lo; i < hi && !st; i++) {
    const int j = one_flight ? i - lo : 0; /* one ring copy at a time unless one flight */
    char name[FF_MODEL_TENSOR_NAME_MAX];
    ff__spec(cfg, i / ff__per_layer(cfg), i % ff__per_layer(cfg), name, &ndim[j], shapes[j]);
    shape[j] = shapes[j];
    if (w) {
      const ff_model_tensor *t = &w->t[i];
      if (!t->v || strcmp(t->name, name) || t->ndim != ndim[j] || t->shape[0] != shapes[j][0] ||
          (ndim[j] == 2 && t->shape[1] != shapes[j][1])) {
        FF_ERROR("model %s: weight %d is %s, expected %s", cfg->name, i, t->v ? t->name : "(freed)", name);
        st = FF_EINVAL;
        break;
      }
      if (t->numel > cap[j]) {
        free(plain[j]);
        cap[j] = 0;
        if (!(plain[j] = malloc(t->numel * sizeof *plain[j]))) {
          st = FF_ENOMEM;
          break;
        }
        cap[j] = t->numel;
      }
      for (size_t q = 0; q < t->numel; q++) plain[j][q] = ff_ring_from_signed(t->v[q], cfg->bw);
      if (take) { /* the ring copy is all that is needed from here on */
        free(take->t[i].v);
        take->t[i].v = NULL;
      }
    }
    if (!one_flight) st = ff_op_input(op, 0, ndim[0], shape[0], plain[0], &wires[i - lo]);
  }
  if (!st && one_flight) st = ff_op_input_many(op, 0, k, ndim, shape, w ? (const uint64_t *const *)plain : NULL, wires);
  for (int j = 0; j < FF__TENSORS_MAX; j++) free(plain[j]);
  if (st) ff__free_all(wires, k);
  return st;
}

static ff_status ff__session_begin(ff_op *op, const ff_model_config *cfg, const ff_model_weights *w, ff_model_weights *take,
                                  ff_model_session **out) {
  *out = NULL;
  if (!op || !cfg) return FF_EINVAL;
  if (ff_op_bw(op) != cfg->bw || ff_op_scale(op) != cfg->scale) {
    FF_ERROR("model %s needs bw %d and scale %d; the op has %d and %d", cfg->name, cfg->bw, cfg->scale, ff_op_bw(op),
             ff_op_scale(op));
    return FF_EINVAL;
  }
  const int owner = ff_op_get_role(op) == FF_OP_PARTY && ff_op_party(op) == 0;
  if (owner && (!w || w->cfg != cfg)) {
    FF_ERROR("model %s: party 0 needs the model's weights", cfg->name);
    return FF_EINVAL;
  }
  ff_model_session *s = calloc(1, sizeof *s);
  ff_status st = FF_OK;
  if (!s) return FF_ENOMEM;
  s->cfg = cfg;
  ff_suf_config_off(&s->suf);
  s->n = cfg->layers * ff__per_layer(cfg);
  if (!(s->w = calloc((size_t)s->n, sizeof *s->w))) {
    free(s);
    return FF_ENOMEM;
  }
  if (cfg->weights_per_layer) { /* masked at every inference, layer by layer (ff__forward) */
    s->plain = owner ? w : NULL;
    *out = s;
    return FF_OK;
  }
  st = ff__input_weights(op, cfg, owner ? w : NULL, take, 0, s->n, 0, s->w);
  if (st) {
    ff_model_session_free(s);
    return st;
  }
  *out = s;
  return FF_OK;
}

ff_status ff_model_session_begin(ff_op *op, const ff_model_config *cfg, const ff_model_weights *w,
                                 ff_model_session **out) {
  return ff__session_begin(op, cfg, w, NULL, out);
}

ff_status ff_model_session_begin_take(ff_op *op, const ff_model_config *cfg, ff_model_weights *w,
                                      ff_model_session **out) {
  const int owner = op && ff_op_get_role(op) == FF_OP_PARTY && ff_op_party(op) == 0;
  /* weights per layer: P0 masks them again at every inference, so it keeps them */
  return ff__session_begin(op, cfg, w, owner && cfg && !cfg->weights_per_layer ? w : NULL, out);
}

void ff_model_session_set_progress(ff_model_session *s, void (*fn)(int done, int total, void *arg), void *arg) {
  if (!s) return;
  s->progress = fn;
  s->progress_arg = arg;
}

void ff_model_session_free(ff_model_session *s) {
  if (!s) return;
  if (s->w) ff__free_all(s->w, s->n);
  free(s->w);
  free(s->io);
  free(s);
}

ff_status ff_model_infer(ff_op *op, ff_model_session *s, int seq, int batch, const int64_t *x, int64_t *y) {
  if (!op || !s) return FF_EINVAL;
  ff_status st = ff__check_shape(s->cfg, seq, batch);
  if (st) return st;
  const ff_model_config *c = s->cfg;
  ff__eng e = {.kind = FF__ENG_SECURE, .op = op, .cfg = c, .bw = c->bw, .scale = c->scale, .suf = s->suf, .sess = s};
  const size_t R = (size_t)seq * (size_t)batch, n = R * (size_t)c->d_model;
  const int64_t shape[2] = {(int64_t)R, c->d_model};
  const int p1 = ff_op_get_role(op) == FF_OP_PARTY && ff_op_party(op) == 1;
  uint64_t *buf = NULL;
  ff_wire in = {0}, out = {0};
  if (p1 && (!x || !y)) {
    FF_ERROR("model %s: party 1 needs its input and an output buffer", c->name);
    return FF_EINVAL;
  }
  if (p1 && s->io_n < n) {
    free(s->io);
    s->io_n = 0;
    if (!(s->io = malloc(n * sizeof *s->io))) return FF_ENOMEM;
    s->io_n = n;
  }
  if (p1) buf = s->io;
  for (size_t i = 0; p1 && i < n; i++) buf[i] = ff_ring_from_signed(x[i], c->bw);
  if (!(st = ff_op_input(op, 1, 2, shape, buf, &in)) && !(st = ff__forward(&e, s->w, batch, seq, &in, &out, &(ff__progress){s->progress, s->progress_arg})))
    st = ff_op_output(op, &out, buf);
  for (size_t i = 0; !st && p1 && i < n; i++) y[i] = ff_ring_signed(buf[i], c->bw);
  ff_wire_free(&in);
  ff_wire_free(&out);
  return st;
}

/* ---- Plaintext references ---------------------------------------------------------------------------- */

static ff_status ff__reference(const ff_model_config *cfg, const ff_suf_config *suf, const ff_model_weights *w, int seq,
                               int batch, const void *x, void *y, ff__eng_kind kind) {
  ff_status st = ff__check_shape(cfg, seq, batch);
  if (st) return st;
  if (!w || w->cfg != cfg || w->n != cfg->layers * ff__per_layer(cfg)) {
    FF_ERROR("model %s: the weights are for another model", cfg->name);
    return FF_EINVAL;
  }
  ff__eng e = {.kind = kind, .cfg = cfg, .bw = cfg->bw, .scale = cfg->scale};
  if (suf) e.suf = *suf;
  else ff_suf_config_off(&e.suf);
  if ((st = ff_ctx_init(&e.cpu, FF_BACKEND_CPU, 0))) return st;
  ff_wire *W = calloc((size_t)w->n, sizeof *W), in = {0}, out = {0};
  const double one = ldexp(1.0, cfg->scale);
  const int64_t shape[2] = {(int64_t)seq * batch, cfg->d_model};
  if (!W) st = FF_ENOMEM;
  for (int i = 0; !st && i < w->n; i++) {
    const ff_model_tensor *t = &w->t[i];
    if (!(st = ff__host_alloc(&e, &W[i], t->ndim, t->shape)))
      for (size_t k = 0; k < t->numel; k++) {
        if (kind == FF__ENG_FLOAT) ff__d(&W[i])[k] = (double)t->v[k] / one;
        else W[i].v[k] = ff_ring_from_signed(t->v[k], cfg->bw);
      }
  }
  if (!st && !(st = ff__host_alloc(&e, &in, 2, shape))) {
    for (size_t k = 0; k < in.numel; k++) {
      if (kind == FF__ENG_FLOAT) ff__d(&in)[k] = ((const double *)x)[k];
      else in.v[k] = ff_ring_from_signed(((const int64_t *)x)[k], cfg->bw);
    }
    st = ff__forward(&e, W, batch, seq, &in, &out, NULL);
  }
  for (size_t k = 0; !st && k < out.numel; k++) {
    if (kind == FF__ENG_FLOAT) ((double *)y)[k] = ff__d(&out)[k];
    else ((int64_t *)y)[k] = ff_ring_signed(out.v[k], cfg->bw);
  }
  if (W) ff__free_all(W, w->n);
  free(W);
  ff_wire_free(&in);
  ff_wire_free(&out);
  ff_ctx_destroy(&e.cpu);
  return st;
}

ff_status ff_model_emulate(const ff_model_config *cfg, const ff_model_weights *w, int seq, int batch,
                           const int64_t *x, int64_t *y) {
  return ff__reference(cfg, NULL, w, seq, batch, x, y, FF__ENG_FIXED);
}

ff_status ff_model_emulate_suf(const ff_model_config *cfg, const ff_suf_config *suf, const ff_model_weights *w, int seq,
                               int batch, const int64_t *x, int64_t *y) {
  return ff__reference(cfg, suf, w, seq, batch, x, y, FF__ENG_FIXED);
}

ff_status ff_model_float(const ff_model_config *cfg, const ff_model_weights *w, int seq, int batch,
                         const double *x, double *y) {
  return ff__reference(cfg, NULL, w, seq, batch, x, y, FF__ENG_FLOAT);
}

void ff_model_session_set_suf(ff_model_session *s, const ff_suf_config *suf) {
  if (!s) return;
  if (suf) s->suf = *suf;
  else ff_suf_config_off(&s->suf);
}
