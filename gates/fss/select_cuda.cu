/* SIGMA's select gate, CUDA twins of the local kernel and of the dealer's key values in select.c
 * (research/sigma.md §4 "Select"; GPU-MPC selectKernel): one thread per element, the same ring
 * arithmetic, bit-identical output. Test: tests/test_lut_cuda.c, tests/test_sigma_cuda.c (the values). */
#include <cuda_runtime.h>

#include "core/cuda_check.h"
#include "core/log.h"
#include "core/ring.h"
#include "gates/fss/select.h"

namespace {

__global__ void ff__select_kernel(size_t N, size_t n_bits, uint64_t p1, uint64_t m, const uint64_t *__restrict__ a,
                                  const uint64_t *__restrict__ b, const uint64_t *__restrict__ c,
                                  const uint64_t *__restrict__ d1, const uint64_t *__restrict__ d2,
                                  const uint64_t *xhat, const uint64_t *yhat, uint64_t *out) {
  const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= N) return;
  const uint64_t x = xhat[i % n_bits] & 1, y = yhat[i], nx = 1 - x;
  const uint64_t o = (uint64_t)0 - a[i] * y - b[i] * x + c[i] + nx * (d1[i] * y + d2[i]) + p1 * x * y;
  out[i] = o & m;
}

__global__ void ff__select_values_kernel(size_t N, const uint64_t *r_x, const uint64_t *r_y, const uint64_t *r_out,
                                         uint64_t *vals) {
  const size_t j = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (j >= N) return;
  const uint64_t rx = r_x[j] & 1, ry = r_y[j];
  vals[j] = rx;
  vals[N + j] = ry;
  vals[2 * N + j] = rx * ry + r_out[j];
  vals[3 * N + j] = 2 * rx;
  vals[4 * N + j] = (uint64_t)0 - 2 * rx * ry;
}

} // namespace

extern "C" ff_status ff_select_key_values_cuda(ff_ctx *ctx, size_t N, const uint64_t *r_x, const uint64_t *r_y,
                                               const uint64_t *r_out, uint64_t *vals) {
  if (!ctx || ctx->backend != FF_BACKEND_CUDA || (N && (!r_x || !r_y || !r_out || !vals))) {
    FF_ERROR("ff_select_key_values_cuda: needs a CUDA context and device arrays");
    return FF_EINVAL;
  }
  if (!N) return FF_OK;
  const unsigned threads = 256;
  ff__select_values_kernel<<<(unsigned)((N + threads - 1) / threads), threads, 0, (cudaStream_t)ctx->stream>>>(
      N, r_x, r_y, r_out, vals);
  return FF_CUDA_CHECK(cudaGetLastError());
}

extern "C" ff_status ff_select_eval_cuda(ff_ctx *ctx, const ff_select_key *k, size_t n_bits, const uint64_t *xhat,
                                         const uint64_t *yhat, uint64_t *out) {
  ff_status st = ff__select_eval_check("ff_select_eval_cuda", ctx, k, FF_MEM_DEVICE, n_bits, xhat, yhat, out);
  if (st) return st;
  const unsigned threads = 256;
  const size_t blocks = (k->N + threads - 1) / threads;
  ff__select_kernel<<<(unsigned)blocks, threads, 0, (cudaStream_t)ctx->stream>>>(
      k->N, n_bits, (uint64_t)(ctx->party == 1), ff_ring_mask(k->bw), k->a, k->b, k->c, k->d1, k->d2, xhat, yhat, out);
  return FF_CUDA_CHECK(cudaGetLastError());
}
