/* SIGMA's select gate, CPU reference: keys, dealer, the local kernel and the gate with its optional
 * reconstruct (research/sigma.md §4 "Select"; GPU-MPC fss/gpu_select.cu), plus the reconstruct the
 * FSS gates share. Test: tests/test_lut.c. */
#include "gates/fss/select.h"

#include <stdlib.h>
#include <string.h>

#include "comm/chan.h"
#include "core/log.h"
#include "core/ring.h"
#include "gates/fss/dpf.h" /* ff__fss_buf_*: buffers on either backend */
#include "scope/scope.h"

#ifdef FF_HAVE_CUDA
#include "core/cuda_check.h"
#endif

/* ---- Reconstruct ---------------------------------------------------------------------------------- */

ff_status ff__fss_reconstruct(ff_ctx *ctx, ff_mem where, uint64_t *vals, size_t n, int bits) {
  if (!ctx || !ctx->chan) {
    FF_ERROR("reconstruct: the context is NULL or has no channel to the peer");
    return FF_EINVAL;
  }
  if (!n) return FF_OK;
  ff_status st = FF_OK;
  uint64_t *mine = NULL, *peer = malloc(n * sizeof *peer);
  if (where == FF_MEM_HOST) {
    mine = vals;
  } else {
    mine = malloc(n * sizeof *mine);
    if (mine && peer) st = ff__fss_buf_copy(ctx, "reconstruct", mine, FF_MEM_HOST, vals, where, n * sizeof *mine);
  }
  if (!mine || !peer) {
    FF_ERROR("reconstruct: cannot allocate %zu bytes of staging", 2 * n * sizeof *peer);
    st = FF_ENOMEM;
  }
  if (!st) st = ff_chan_exchange_bits(ctx->chan, mine, peer, n, bits);
  if (!st) {
    const uint64_t m = ff_ring_mask(bits);
    if (bits == 1)
      for (size_t i = 0; i < n; i++) mine[i] = (mine[i] ^ peer[i]) & 1;
    else
      for (size_t i = 0; i < n; i++) mine[i] = (mine[i] + peer[i]) & m;
    if (where != FF_MEM_HOST)
      st = ff__fss_buf_copy(ctx, "reconstruct", vals, where, mine, FF_MEM_HOST, n * sizeof *mine);
  }
  if (where != FF_MEM_HOST) {
    /* The upload must finish before `mine` goes away. */
#ifdef FF_HAVE_CUDA
    if (!st) st = FF_CUDA_CHECK(cudaStreamSynchronize((cudaStream_t)ctx->stream));
#endif
    free(mine);
  }
  free(peer);
  return st;
}

/* ---- Keys --------------------------------------------------------------------------------------- */

size_t ff_select_key_bytes(size_t N) {
  size_t bytes;
  if (!N || __builtin_mul_overflow(N, (size_t)(FF_SELECT_KEY_ELEMS * sizeof(uint64_t)), &bytes)) return 0;
  return bytes;
}

static void ff__select_key_layout(ff_select_key *k) {
  uint64_t *p = (uint64_t *)k->buf;
  k->a = p;
  k->b = p + k->N;
  k->c = p + 2 * k->N;
  k->d1 = p + 3 * k->N;
  k->d2 = p + 4 * k->N;
}

ff_status ff_select_key_alloc(ff_ctx *ctx, ff_select_key *k, int bw, size_t N) {
  if (!k || !ctx) {
    FF_ERROR("ff_select_key_alloc: key or context is NULL");
    return FF_EINVAL;
  }
  memset(k, 0, sizeof *k);
  size_t bytes = ff_select_key_bytes(N);
  if (bw < 1 || bw > 64 || !bytes) {
    FF_ERROR("ff_select_key_alloc: need 1 <= bw <= 64 and 0 < N with a size that fits (bw = %d, N = %zu)", bw, N);
    return FF_EINVAL;
  }
  ff_status st = ff__fss_buf_alloc(ctx, "ff_select_key_alloc", bytes, &k->buf, &k->where);
  if (st) return st;
  k->bw = bw;
  k->N = N;
  k->bytes = bytes;
  ff__select_key_layout(k);
  return FF_OK;
}

void ff_select_key_free(ff_select_key *k) {
  if (!k) return;
  ff__fss_buf_free(k->buf, k->where);
  memset(k, 0, sizeof *k);
}

static ff_status ff__select_key_check(const char *fn, const ff_select_key *k, ff_mem where) {
  if (!k || !k->buf || k->bytes != ff_select_key_bytes(k->N) || k->bw < 1 || k->bw > 64) {
    FF_ERROR("%s: select key is NULL or not allocated with ff_select_key_alloc", fn);
    return FF_EINVAL;
  }
  if (k->where != where) {
    FF_ERROR("%s: the select key is in %s memory, this call wants %s memory", fn,
             k->where == FF_MEM_HOST ? "host" : "device", where == FF_MEM_HOST ? "host" : "device");
    return FF_EINVAL;
  }
  return FF_OK;
}

ff_status ff_select_key_copy(ff_ctx *ctx, ff_select_key *dst, const ff_select_key *src) {
  if (!dst || !src || !dst->buf || !src->buf || dst->bw != src->bw || dst->N != src->N) {
    FF_ERROR("ff_select_key_copy: keys must be allocated with the same bw and N");
    return FF_EINVAL;
  }
  return ff__fss_buf_copy(ctx, "ff_select_key_copy", dst->buf, dst->where, src->buf, src->where, src->bytes);
}

ff_status ff_select_key_serialize(const ff_select_key *k, void *out, size_t cap) {
  ff_status st = ff__select_key_check("ff_select_key_serialize", k, FF_MEM_HOST);
  if (st) return st;
  if (!out || cap < k->bytes) {
    FF_ERROR("ff_select_key_serialize: need %zu bytes of output, have %zu", k->bytes, out ? cap : 0);
    return out ? FF_ERANGE : FF_EINVAL;
  }
  memcpy(out, k->buf, k->bytes);
  return FF_OK;
}

ff_status ff_select_key_deserialize(ff_select_key *k, int bw, size_t N, const void *in, size_t len) {
  ff_ctx host = {.backend = FF_BACKEND_CPU};
  if (!in) {
    FF_ERROR("ff_select_key_deserialize: input is NULL");
    return FF_EINVAL;
  }
  ff_status st = ff_select_key_alloc(&host, k, bw, N);
  if (st) return st;
  if (len != k->bytes) {
    FF_ERROR("ff_select_key_deserialize: %zu select keys take %zu bytes, got %zu", N, k->bytes, len);
    ff_select_key_free(k);
    return FF_EFORMAT;
  }
  memcpy(k->buf, in, len);
  return FF_OK;
}

/* ---- Dealer ------------------------------------------------------------------------------------- */

ff_status ff_select_keygen(ff_ctx *ctx, const uint64_t *r_x, const uint64_t *r_y, const uint64_t *r_out,
                           ff_select_key *k0, ff_select_key *k1) {
  ff_status st;
  if ((st = ff__select_key_check("ff_select_keygen", k0, FF_MEM_HOST)) ||
      (st = ff__select_key_check("ff_select_keygen", k1, FF_MEM_HOST)))
    return st;
  if (!ctx || !r_x || !r_y || !r_out || k0->bw != k1->bw || k0->N != k1->N) {
    FF_ERROR("ff_select_keygen: NULL argument or keys of different shapes");
    return FF_EINVAL;
  }
  const int bw = k0->bw;
  const size_t N = k0->N;
  /* Party 0's five shares are uniform; party 1 gets value - share. */
  if ((st = ff_rng_ring(&ctx->rng, (uint64_t *)k0->buf, FF_SELECT_KEY_ELEMS * N, bw))) return st;
  for (size_t j = 0; j < N; j++) {
    const uint64_t rx = r_x[j] & 1, ry = r_y[j];
    const uint64_t val[FF_SELECT_KEY_ELEMS] = {rx, ry, rx * ry + r_out[j], 2 * rx, (uint64_t)0 - 2 * rx * ry};
    for (int e = 0; e < FF_SELECT_KEY_ELEMS; e++) {
      const size_t i = (size_t)e * N + j;
      ((uint64_t *)k1->buf)[i] = ff_ring_reduce(val[e] - ((uint64_t *)k0->buf)[i], bw);
    }
  }
  return FF_OK;
}

/* ---- The local kernel ---------------------------------------------------------------------------- */

ff_status ff__select_eval_check(const char *fn, ff_ctx *ctx, const ff_select_key *k, ff_mem where, size_t n_bits,
                                const uint64_t *xhat, const uint64_t *yhat, const uint64_t *out) {
  ff_status st = ff__select_key_check(fn, k, where);
  if (st) return st;
  if (!ctx || !xhat || !yhat || !out || (ctx->party != 0 && ctx->party != 1)) {
    FF_ERROR("%s: NULL argument, or the context is not party 0 or 1", fn);
    return FF_EINVAL;
  }
  if (!n_bits || k->N % n_bits) {
    FF_ERROR("%s: the %zu masked bits must divide the %zu values", fn, n_bits, k->N);
    return FF_EINVAL;
  }
  return FF_OK;
}

ff_status ff_select_eval_cpu(ff_ctx *ctx, const ff_select_key *k, size_t n_bits, const uint64_t *xhat,
                             const uint64_t *yhat, uint64_t *out) {
  ff_status st = ff__select_eval_check("ff_select_eval_cpu", ctx, k, FF_MEM_HOST, n_bits, xhat, yhat, out);
  if (st) return st;
  const uint64_t p1 = (uint64_t)(ctx->party == 1), m = ff_ring_mask(k->bw);
  for (size_t i = 0; i < k->N; i++) {
    const uint64_t x = xhat[i % n_bits] & 1, y = yhat[i], nx = 1 - x;
    const uint64_t o = (uint64_t)0 - k->a[i] * y - k->b[i] * x + k->c[i] + nx * (k->d1[i] * y + k->d2[i]) + p1 * x * y;
    out[i] = o & m;
  }
  return FF_OK;
}

#ifndef FF_HAVE_CUDA
ff_status ff_select_eval_cuda(ff_ctx *ctx, const ff_select_key *k, size_t n_bits, const uint64_t *xhat,
                              const uint64_t *yhat, uint64_t *out) {
  (void)ctx, (void)k, (void)n_bits, (void)xhat, (void)yhat, (void)out;
  FF_ERROR("ff_select_eval_cuda: this build of fusefss has no CUDA backend");
  return FF_ENOTSUP;
}
#endif

ff_status ff_select_eval(ff_ctx *ctx, const ff_select_key *k, size_t n_bits, const uint64_t *xhat,
                         const uint64_t *yhat, uint64_t *out) {
  if (!ctx) {
    FF_ERROR("ff_select_eval: context is NULL");
    return FF_EINVAL;
  }
  return ctx->backend == FF_BACKEND_CUDA ? ff_select_eval_cuda(ctx, k, n_bits, xhat, yhat, out)
                                         : ff_select_eval_cpu(ctx, k, n_bits, xhat, yhat, out);
}

/* ---- The gate ---------------------------------------------------------------------------------------- */

ff_status ff_select(ff_ctx *ctx, const ff_select_key *k, size_t n_bits, const uint64_t *xhat, const uint64_t *yhat,
                    int reveal, uint64_t *out) {
  FF_SCOPE("FSS::Select");
  ff_status st = ff_select_eval(ctx, k, n_bits, xhat, yhat, out);
  if (st || !reveal) return st;
  FF_SCOPE("Reconstruct");
  return ff__fss_reconstruct(ctx, k->where, out, k->N, k->bw);
}

void ff_select_cost(int bw, size_t N, int reveal, ff_gate_cost *c) {
  memset(c, 0, sizeof *c);
  c->key_bytes = (uint64_t)N * FF_SELECT_KEY_ELEMS * sizeof(uint64_t);
  if (reveal) {
    c->bits_sent = (uint64_t)N * (uint64_t)bw;
    c->bytes_sent = (c->bits_sent + 7) / 8;
    c->rounds = 1;
  }
}
