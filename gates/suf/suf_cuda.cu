// CUDA twins of the suf gate's per-element kernels (suf.h) and the device side of the template cache.
// Same signatures and bit-identical outputs as the _cpu references in suf.c; device pointers, enqueued
// on ctx->stream, no waiting. Test: tests/test_suf_cuda.c.
#include <cuda_runtime.h>
#include <pthread.h>

#include "core/cuda.h"
#include "core/cuda_check.h"
#include "core/log.h"
#include "core/ring.h"
#include "gates/suf/suf.h"

namespace {

#include "gates/sigma/sigma_cuda_util.cuh"

// The public fields of a specification the kernels read, passed by value.
struct Shape {
  int e, s, kl, bw_in, bw, n_thr, n_help, carry, relu, w_helper, d_helper;
  uint64_t off, w_lo;
  uint64_t thr[FF_SUF_MAX_THR];
  uint32_t cmask[FF_SUF_MAX_HELP], cconst[FF_SUF_MAX_HELP];
};

Shape shape_of(const ff_suf_spec *sp) {
  Shape h = {};
  h.e = sp->e, h.s = sp->s, h.kl = sp->kl, h.bw_in = sp->bw_in, h.bw = sp->bw, h.n_thr = sp->n_thr;
  h.n_help = sp->n_help, h.carry = sp->s > 0, h.relu = sp->base == FF_SUF_BASE_RELU;
  h.w_helper = sp->w_helper, h.d_helper = sp->d_helper, h.off = sp->off, h.w_lo = (uint64_t)sp->w_lo;
  for (int t = 0; t < FF_SUF_MAX_THR; t++) h.thr[t] = sp->thr[t];
  for (int i = 0; i < FF_SUF_MAX_HELP; i++) h.cmask[i] = sp->helpers[i].cmp_mask, h.cconst[i] = sp->helpers[i].constant;
  return h;
}

__global__ void points_kernel(Shape h, size_t N, const uint64_t *xhat, uint64_t *pts) {
  const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= N) return;
  const uint64_t em = ring_mask(h.e), x = xhat[i], v = (x + h.off) & em;
  pts[i] = v;
  for (int t = 0; t < h.n_thr; t++) pts[(size_t)(t + 1) * N + i] = (v - h.thr[t]) & em;
  if (h.carry) pts[(size_t)(h.n_thr + 1) * N + i] = (x - h.w_lo) & ring_mask(h.s);
}

__global__ void helpers_kernel(Shape h, uint64_t p0, size_t N, const uint64_t *xhat, const uint64_t *cmp,
                               const uint64_t *masks, uint64_t *out) {
  const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= N) return;
  const uint64_t v = (xhat[i] + h.off) & ring_mask(h.e);
  const int nh = h.n_help - h.carry;
  for (int k = 0; k < nh; k++) {
    uint64_t b = ((uint64_t)(__popc(h.cmask[k]) & 1) & cmp[i]) ^ masks[(size_t)k * N + i], pub = h.cconst[k];
    for (int t = 0; t < h.n_thr; t++)
      if ((h.cmask[k] >> t) & 1) b ^= cmp[(size_t)(t + 1) * N + i], pub ^= (uint64_t)(v < h.thr[t]);
    out[(size_t)k * N + i] = (b ^ (p0 & pub)) & 1;
  }
  if (h.carry) out[(size_t)nh * N + i] = (cmp[(size_t)(h.n_thr + 1) * N + i] ^ masks[(size_t)nh * N + i]) & 1;
}

__global__ void index_kernel(Shape h, uint64_t p0, size_t N, const uint64_t *xhat, const uint64_t *chat,
                             const uint64_t *words, uint64_t *idx) {
  const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= N) return;
  const uint64_t c = h.carry ? chat[i] & 1 : 0, ahat = (xhat[i] - h.w_lo) & ring_mask(h.bw_in);
  uint64_t v = words[N + i] - (1 - 2 * c) * words[i];
  if (p0) v += (ahat >> h.s) - c;
  idx[i] = v & ring_mask(h.kl);
}

__global__ void final_kernel(Shape h, uint64_t p0, size_t N, const uint64_t *xhat, const uint64_t *hhat,
                             const uint64_t *uhat, const uint64_t *vhat, const uint64_t *words, uint64_t *y) {
  const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= N) return;
  const size_t wo = h.relu ? 3 : 0;
  const uint64_t w = hhat[(size_t)h.w_helper * N + i] & 1, g = 2 * (uhat[i] & 1) - 1, V = vhat[i];
  const uint64_t *W = words + i;
  uint64_t out = g * (w * (V * W[wo * N] - W[(wo + 1) * N]) + (1 - 2 * w) * (V * W[(wo + 2) * N] - W[(wo + 3) * N]));
  if (h.relu) {
    const uint64_t d = hhat[(size_t)h.d_helper * N + i] & 1, x = xhat[i];
    out += (1 - 2 * d) * (x * W[N] - W[2 * N]) - d * W[0];
    if (p0) out += d * x;
  }
  y[i] = (out + W[(wo + 4) * N]) & ring_mask(h.bw);
}

// The device tables: one upload per (specification, device), kept for the process.
struct TableEntry {
  const ff_suf_spec *sp;
  int device;
  uint64_t *tab;
};
constexpr int kMaxTables = 256;
pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
TableEntry tables[kMaxTables];
int n_tables;

}  // namespace

extern "C" ff_status ff_suf_points_cuda(ff_ctx *ctx, const ff_suf_spec *sp, size_t N, const uint64_t *xhat,
                                        uint64_t *pts) {
  ff_status st = check(__func__, ctx, N, xhat, pts);
  if (st || !N) return st;
  points_kernel<<<blocks_for(N), kThreads, 0, stream_of(ctx)>>>(shape_of(sp), N, xhat, pts);
  return launched();
}

extern "C" ff_status ff_suf_helpers_cuda(ff_ctx *ctx, const ff_suf_spec *sp, size_t N, const uint64_t *xhat,
                                         const uint64_t *cmp, const uint64_t *masks, uint64_t *out) {
  ff_status st = check(__func__, ctx, N, xhat, out);
  if (!st && N && (!cmp || !masks)) st = check(__func__, ctx, N, cmp, masks);
  if (st || !N) return st;
  helpers_kernel<<<blocks_for(N), kThreads, 0, stream_of(ctx)>>>(shape_of(sp), ctx->party == 0, N, xhat, cmp, masks,
                                                                 out);
  return launched();
}

extern "C" ff_status ff_suf_index_cuda(ff_ctx *ctx, const ff_suf_spec *sp, size_t N, const uint64_t *xhat,
                                       const uint64_t *chat, const uint64_t *words, uint64_t *idx) {
  ff_status st = check(__func__, ctx, N, xhat, idx);
  if (!st && N && !words) st = check(__func__, ctx, N, words, words);
  if (!st && N && sp->s > 0 && !chat) st = check(__func__, ctx, N, chat, chat);
  if (st || !N) return st;
  index_kernel<<<blocks_for(N), kThreads, 0, stream_of(ctx)>>>(shape_of(sp), ctx->party == 0, N, xhat, chat, words,
                                                               idx);
  return launched();
}

extern "C" ff_status ff_suf_final_cuda(ff_ctx *ctx, const ff_suf_spec *sp, size_t N, const uint64_t *xhat,
                                       const uint64_t *hhat, const uint64_t *uhat, const uint64_t *vhat,
                                       const uint64_t *words, uint64_t *y) {
  ff_status st = check(__func__, ctx, N, xhat, y);
  if (!st && N && (!hhat || !uhat || !vhat || !words)) st = check(__func__, ctx, N, NULL, NULL);
  if (st || !N) return st;
  final_kernel<<<blocks_for(N), kThreads, 0, stream_of(ctx)>>>(shape_of(sp), ctx->party == 0, N, xhat, hhat, uhat,
                                                               vhat, words, y);
  return launched();
}

extern "C" ff_status ff_suf_table_cuda(ff_ctx *ctx, const ff_suf_spec *sp, const uint64_t **tab) {
  ff_status st = check(__func__, ctx, 0, NULL, NULL);
  if (st) return st;
  int dev = 0;
  if ((st = FF_CUDA_CHECK(cudaGetDevice(&dev)))) return st;
  pthread_mutex_lock(&table_lock);
  *tab = NULL;
  for (int i = 0; i < n_tables && !*tab; i++)
    if (tables[i].sp == sp && tables[i].device == dev) *tab = tables[i].tab;
  if (!*tab) {
    const size_t bytes = ((size_t)1 << sp->kl) * sizeof(uint64_t);
    uint64_t *d = NULL;
    if (n_tables == kMaxTables) {
      FF_ERROR("%s: more than %d suf tables resident", __func__, kMaxTables);
      st = FF_ENOMEM;
    } else if (!(st = FF_CUDA_CHECK(cudaMalloc(&d, bytes))) &&
               // On the context's stream and waited for before the table is published: a pageable copy on
               // the legacy stream may return before its data lands, and the context's stream (non-blocking)
               // is not ordered after it, so a first evaluation could read a half-written table.
               !(st = FF_CUDA_CHECK(cudaMemcpyAsync(d, sp->tab, bytes, cudaMemcpyHostToDevice, stream_of(ctx)))) &&
               !(st = FF_CUDA_CHECK(cudaStreamSynchronize(stream_of(ctx))))) {
      ff__alloc_note_sync_alloc();
      tables[n_tables++] = TableEntry{sp, dev, d};
      *tab = d;
    } else if (d) {
      cudaFree(d);
    }
  }
  pthread_mutex_unlock(&table_lock);
  return st;
}
