/* SIGMA's DPF lookup table, CUDA twins of lut.c (research/sigma.md §3 "LUT"; GPU-MPC dpfLUT): the
 * dealer with its DPF part on the device, the local kernel (ff_dpf_eval_all_cuda into stream-ordered
 * scratch, then one warp per element summing over the 2^b leaves) and the sign fix. Bit-identical to
 * the CPU reference. Test: tests/test_lut_cuda.c. */
#include <cuda_runtime.h>

#include <stdlib.h>

#include "core/cuda_check.h"
#include "core/log.h"
#include "core/ring.h"
#include "gates/fss/lut.h"

#define FF__LUT_CUDA_CHUNK_BYTES ((size_t)256 << 20) /* leaf bits per full-domain batch on the device */

namespace {

/* Sub-key tR: bits i*N + j0 + q of the key into bits i*c + q of the slice, one thread per slice byte. */
__global__ void ff__lut_slice_tR(const uint8_t *tR, size_t N, size_t j0, size_t c, size_t nbits, uint8_t *out) {
  const size_t byte = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (byte * 8 >= nbits) return;
  uint8_t acc = 0;
  for (int r = 0; r < 8; r++) {
    const size_t o = byte * 8 + r;
    if (o >= nbits) break;
    const size_t src = (o / c) * N + j0 + o % c;
    acc |= (uint8_t)(((tR[src >> 3] >> (src & 7)) & 1) << r);
  }
  out[byte] = acc;
}

__device__ __forceinline__ uint64_t ff__warp_sum(uint64_t x) {
  for (int off = 16; off > 0; off >>= 1) x += __shfl_xor_sync(0xffffffffu, x, off);
  return x;
}

/* One warp per element j = j0 + e: lane l looks at leaf y = 32w + l of each 32-bit word w, so the
 * table reads of a warp fall on 32 neighbouring entries. Same sums and shares as lut.c. */
__global__ void ff__lut_sums_kernel(size_t c, size_t j0, size_t N, int b, int n_tables, uint64_t m, int party,
                                    const uint32_t *__restrict__ leaves, const uint64_t *__restrict__ xhat,
                                    const uint64_t *__restrict__ tab, const uint64_t *__restrict__ rv,
                                    const uint8_t *__restrict__ u_mask, uint64_t *u, uint64_t *v) {
  const size_t e = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) / 32;
  const unsigned lane = threadIdx.x & 31;
  if (e >= c) return; /* uniform across the warp */
  const size_t j = j0 + e, D = (size_t)1 << b, words = D / 32;
  const uint64_t dm = D - 1, x = xhat[j] & dm;
  const uint32_t *L = leaves + e * words;
  uint64_t cnt = 0;
  for (int t = 0; t < n_tables; t++) {
    const uint64_t *T = tab + (size_t)t * D;
    uint64_t acc = 0;
    for (size_t w = 0; w < words; w++) {
      if ((L[w] >> lane) & 1) {
        acc += T[(x - (32 * w + lane)) & dm];
        if (t == 0) cnt++;
      }
    }
    acc = ff__warp_sum(acc);
    if (lane == 0) {
      const uint64_t vs = party ? (uint64_t)0 - acc : acc;
      v[(size_t)t * N + j] = (vs + rv[(size_t)t * N + j]) & m;
    }
  }
  cnt = ff__warp_sum(cnt);
  if (lane == 0) {
    const uint64_t cs = party ? (cnt >> 1) & 1 : ((cnt >> 1) ^ cnt) & 1;
    u[j] = cs ^ (uint64_t)((u_mask[j >> 3] >> (j & 7)) & 1);
  }
}

__global__ void ff__lut_sign_fix_kernel(size_t n, uint64_t p1, uint64_t m, const uint64_t *vhat, uint64_t *out) {
  const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = (2 * out[i] - p1 * vhat[i]) & m;
}

/* Device sub-key of elements j0 .. j0+c-1 of k (sub: a device key with n = k->n, N = c). */
ff_status ff__dpf_slice_device(cudaStream_t s, const ff_dpf_key *k, size_t j0, size_t c, ff_dpf_key *sub) {
  const size_t N = k->N, B = sizeof(ff_block);
  const int levels = k->n - FF_DPF_LEAF_BITS;
  ff_status st;
  if ((st = FF_CUDA_CHECK(cudaMemcpyAsync(sub->seed, k->seed + j0, c * B, cudaMemcpyDeviceToDevice, s))) ||
      (st = FF_CUDA_CHECK(cudaMemcpyAsync(sub->l0, k->l0 + j0, c * B, cudaMemcpyDeviceToDevice, s))) ||
      (st = FF_CUDA_CHECK(cudaMemcpyAsync(sub->l1, k->l1 + j0, c * B, cudaMemcpyDeviceToDevice, s))))
    return st;
  if (levels > 1 && (st = FF_CUDA_CHECK(cudaMemcpy2DAsync(sub->scw, c * B, k->scw + j0, N * B, c * B,
                                                          (size_t)(levels - 1), cudaMemcpyDeviceToDevice, s))))
    return st;
  const size_t nbits = (size_t)levels * c, nbytes = (nbits + 7) / 8;
  ff__lut_slice_tR<<<(unsigned)((nbytes + 255) / 256), 256, 0, s>>>(k->tR, N, j0, c, nbits, sub->tR);
  return FF_CUDA_CHECK(cudaGetLastError());
}

/* The serialization's tR words: one thread per element, its levels' bits into one little-endian u32. */
__global__ void ff__lut_tr_words_kernel(const uint8_t *tR, int levels, size_t N, uint8_t *out) {
  const size_t j = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (j >= N) return;
  uint32_t w = 0;
  for (int i = 0; i < levels; i++) {
    const size_t q = (size_t)i * N + j;
    w |= (uint32_t)((tR[q >> 3] >> (q & 7)) & 1) << i;
  }
  for (int by = 0; by < 4; by++) out[4 * j + by] = (uint8_t)(w >> (8 * by));
}

/* The dealer's mask part after its draws: thread t clears the pad bits of byte t of u0 and writes u1's
 * byte (t < nb), and makes r_x and r_out of value t (t < TN). r_u is only read. */
__global__ void ff__lut_masks_kernel(size_t N, size_t TN, size_t nb, uint64_t m, const uint8_t *r_u, uint8_t *u0,
                                     uint8_t *u1, uint64_t *r_x, const uint64_t *r_v, const uint64_t *r_sel,
                                     uint64_t *r_out) {
  const size_t t = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (t < TN) {
    const size_t i = t % N;
    r_x[t] = (r_u[i >> 3] >> (i & 7)) & 1;
    r_out[t] = (2 * r_sel[t] - r_v[t]) & m;
  }
  if (t < nb) {
    const uint8_t keep = (t == nb - 1 && N % 8) ? (uint8_t)((1u << (N % 8)) - 1) : (uint8_t)0xff;
    const uint8_t b = u0[t] & keep;
    u0[t] = b;
    u1[t] = (uint8_t)((r_u[t] ^ b) & keep);
  }
}

} // namespace

extern "C" ff_status ff__lut_tr_words_cuda(ff_ctx *ctx, const uint8_t *tR, int levels, size_t N, uint8_t *out) {
  if (!N) return FF_OK;
  const unsigned threads = 256;
  ff__lut_tr_words_kernel<<<(unsigned)((N + threads - 1) / threads), threads, 0, (cudaStream_t)ctx->stream>>>(
      tR, levels, N, out);
  return FF_CUDA_CHECK(cudaGetLastError());
}

extern "C" ff_status ff__lut_masks_cuda(ff_ctx *ctx, size_t N, size_t TN, int b_out, const uint8_t *r_u, uint8_t *u0,
                                        uint8_t *u1, uint64_t *r_x, const uint64_t *r_v, const uint64_t *r_sel,
                                        uint64_t *r_out) {
  const size_t nb = (N + 7) / 8, n = TN > nb ? TN : nb;
  if (!n) return FF_OK;
  const unsigned threads = 256;
  ff__lut_masks_kernel<<<(unsigned)((n + threads - 1) / threads), threads, 0, (cudaStream_t)ctx->stream>>>(
      N, TN, nb, ff_ring_mask(b_out), r_u, u0, u1, r_x, r_v, r_sel, r_out);
  return FF_CUDA_CHECK(cudaGetLastError());
}

extern "C" ff_status ff_lut_keygen_cuda(ff_ctx *ctx, const uint64_t *r_in, const ff_block *roots, ff_lut_key *k0,
                                        ff_lut_key *k1, uint64_t *r_out) {
  ff_status st = ff__lut_keygen_check("ff_lut_keygen_cuda", r_in, roots, k0, k1, r_out, FF_MEM_DEVICE);
  if (st) return st;
  if (!ctx) {
    FF_ERROR("ff_lut_keygen_cuda: context is NULL");
    return FF_EINVAL;
  }
  if ((st = ff_dpf_keygen_cuda(ctx, r_in, roots, &k0->dpf, &k1->dpf))) return st;
  /* The mask and select part does not depend on r_in: made on the host from ctx->rng, then uploaded. */
  ff_ctx host = *ctx;
  host.backend = FF_BACKEND_CPU;
  host.stream = NULL;
  const size_t N = k0->N, TN = k0->sel.N, nb = (N + 7) / 8;
  ff_select_key s0 = {}, s1 = {};
  uint8_t *um = (uint8_t *)malloc(2 * nb);
  uint64_t *ro = (uint64_t *)malloc(TN * sizeof *ro);
  if (!um || !ro) {
    FF_ERROR("ff_lut_keygen_cuda: cannot allocate host staging for %zu elements", TN);
    st = FF_ENOMEM;
    goto done;
  }
  if ((st = ff_select_key_alloc(&host, &s0, k0->b_out, TN)) || (st = ff_select_key_alloc(&host, &s1, k0->b_out, TN)) ||
      (st = ff__lut_keygen_masks(&host, N, um, um + nb, &s0, &s1, ro)))
    goto done;
  if ((st = ff__fss_buf_copy(ctx, "ff_lut_keygen_cuda", k0->u_mask, FF_MEM_DEVICE, um, FF_MEM_HOST, nb)) ||
      (st = ff__fss_buf_copy(ctx, "ff_lut_keygen_cuda", k1->u_mask, FF_MEM_DEVICE, um + nb, FF_MEM_HOST, nb)) ||
      (st = ff_select_key_copy(ctx, &k0->sel, &s0)) || (st = ff_select_key_copy(ctx, &k1->sel, &s1)) ||
      (st = ff__fss_buf_copy(ctx, "ff_lut_keygen_cuda", r_out, FF_MEM_DEVICE, ro, FF_MEM_HOST, TN * sizeof *ro)))
    goto done;
  st = FF_CUDA_CHECK(cudaStreamSynchronize((cudaStream_t)ctx->stream)); /* staging is freed below */
done:
  ctx->rng = host.rng; /* the draws advance the caller's generator */
  ff_select_key_free(&s0);
  ff_select_key_free(&s1);
  free(um);
  free(ro);
  return st;
}

extern "C" ff_status ff_lut_eval_local_cuda(ff_ctx *ctx, const ff_lut_key *k, const uint64_t *xhat,
                                            const uint64_t *tab, uint64_t *u, uint64_t *v) {
  ff_status st = ff__lut_eval_local_check("ff_lut_eval_local_cuda", ctx, k, FF_MEM_DEVICE, xhat, tab, u, v);
  if (st) return st;
  cudaStream_t s = (cudaStream_t)ctx->stream;
  const size_t N = k->N, per = ((size_t)1 << k->b) / 8;
  const size_t chunk = FF__LUT_CUDA_CHUNK_BYTES / per > 0 ? FF__LUT_CUDA_CHUNK_BYTES / per : 1;
  const size_t C = chunk < N ? chunk : N;
  ff_dpf_key sub = {};
  void *leaves = NULL;
  if ((st = FF_CUDA_CHECK(cudaMallocAsync(&leaves, C * per, s)))) return st;
  if (C < N && (st = ff_dpf_key_alloc(ctx, &sub, k->b, C))) goto done;
  for (size_t j0 = 0; j0 < N; j0 += C) {
    const size_t c = N - j0 < C ? N - j0 : C;
    const ff_dpf_key *dk = &k->dpf;
    if (C < N) {
      if (c < C) { /* the last, shorter chunk */
        ff_dpf_key_free(&sub);
        if ((st = ff_dpf_key_alloc(ctx, &sub, k->b, c))) goto done;
      }
      if ((st = ff__dpf_slice_device(s, &k->dpf, j0, c, &sub))) goto done;
      dk = &sub;
    }
    if ((st = ff_dpf_eval_all_cuda(ctx, dk, (uint8_t *)leaves))) goto done;
    const unsigned threads = 256, per_block = threads / 32;
    ff__lut_sums_kernel<<<(unsigned)((c + per_block - 1) / per_block), threads, 0, s>>>(
        c, j0, N, k->b, k->n_tables, ff_ring_mask(k->b_out), ctx->party, (const uint32_t *)leaves, xhat, tab, k->sel.b,
        k->u_mask, u, v);
    if ((st = FF_CUDA_CHECK(cudaGetLastError()))) goto done;
  }
done:
  ff_dpf_key_free(&sub); /* stream-ordered */
  {
    ff_status st2 = FF_CUDA_CHECK(cudaFreeAsync(leaves, s));
    if (!st) st = st2;
  }
  return st;
}

extern "C" ff_status ff_lut_sign_fix_cuda(ff_ctx *ctx, size_t n, int b_out, const uint64_t *vhat, uint64_t *out) {
  if (!ctx || (n && (!vhat || !out)) || b_out < 1 || b_out > 64) {
    FF_ERROR("ff_lut_sign_fix_cuda: NULL argument or b_out outside 1..64");
    return FF_EINVAL;
  }
  if (!n) return FF_OK;
  ff__lut_sign_fix_kernel<<<(unsigned)((n + 255) / 256), 256, 0, (cudaStream_t)ctx->stream>>>(
      n, (uint64_t)(ctx->party == 1), ff_ring_mask(b_out), vhat, out);
  return FF_CUDA_CHECK(cudaGetLastError());
}

// One thread per byte of the packed tR bits: bit q of the string is level q / N of element q % N.
static __global__ void ff__lut_tr_pack_kernel(size_t N, int levels, const uint8_t *words, uint8_t *tR, size_t nbytes) {
  const size_t byte = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (byte >= nbytes) return;
  const size_t total = (size_t)levels * N;
  uint8_t out = 0;
  for (int k = 0; k < 8; k++) {
    const size_t q = byte * 8 + (size_t)k;
    if (q >= total) break;
    const size_t i = q / N, j = q % N;
    out |= (uint8_t)(((words[4 * j + i / 8] >> (i % 8)) & 1) << k);
  }
  tR[byte] = out;
}

extern "C" ff_status ff__lut_tr_pack_cuda(ff_ctx *ctx, size_t N, int levels, const uint8_t *words, uint8_t *tR) {
  const size_t nbytes = ((size_t)levels * N + 7) / 8;
  if (!nbytes) return FF_OK;
  const unsigned threads = 256;
  ff__lut_tr_pack_kernel<<<(unsigned)((nbytes + threads - 1) / threads), threads, 0, (cudaStream_t)ctx->stream>>>(
      N, levels, words, tR, nbytes);
  return FF_CUDA_CHECK(cudaGetLastError());
}
