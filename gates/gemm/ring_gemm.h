/* Matrix products over the ring Z_2^bw: the local products of SIGMA's masked Beaver matmul
 * (research/sigma.md §4, "Matmul / FC"), plain and batched. CPU reference in ring_gemm.c; CUDA in
 * ring_gemm_cuda.cu, with two algorithms (u64 SIMT tiles; int8 tensor cores on 8-bit limbs).
 * Large CPU products are split by output rows over the CPUs the process may use (core/ctx.h
 * ff_parallel_for; the result does not depend on the split). Test: tests/test_gemm.c (CPU), tests/test_gemm_cuda.c (CUDA against CPU, bit for bit). */
#ifndef FF_GATES_GEMM_RING_GEMM_H
#define FF_GATES_GEMM_RING_GEMM_H

#include <stddef.h>
#include <stdint.h>

#include "core/ctx.h"
#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The CUDA algorithm.
 *   FF_GEMM_SIMT: tiled u64 multiply-add on the CUDA cores (64x64 output tiles, 4x4 per thread,
 *     split over K with 64-bit atomic adds when the output has too few tiles to fill the GPU).
 *     64-bit arithmetic wraps mod 2^64, and 2^bw divides 2^64, so reducing once at the end is exact.
 *   FF_GEMM_INT8_LIMBS: each value mod 2^bw as L = ceil(bw/8) signed 8-bit limbs, the limb products
 *     whose shift 8(i+j) is below bw as cuBLAS int8 x int8 -> int32 GEMMs (tensor cores), summed
 *     with shifts mod 2^bw. Exact for K <= FF_GEMM_INT8_MAX_K (ring_gemm_cuda.cu proves the bound).
 *   FF_GEMM_AUTO: INT8_LIMBS when K allows it and the product is large enough to amortise its
 *     conversions and several cuBLAS calls, else SIMT (the threshold is in ring_gemm_cuda.cu). */
typedef enum { FF_GEMM_AUTO = 0, FF_GEMM_SIMT = 1, FF_GEMM_INT8_LIMBS = 2 } ff_gemm_algo;

/* Largest K for FF_GEMM_INT8_LIMBS: one limb-pair GEMM sums K products of two digits in
 * [-128, 127], each at most 2^14 in magnitude, so K * 2^14 <= 2^31 - 1 keeps int32 exact. Beyond it
 * the explicit algorithm fails with FF_EINVAL and AUTO uses SIMT. */
#define FF_GEMM_INT8_MAX_K ((size_t)131071)

/* "auto", "simt", "int8-limbs". */
const char *ff_gemm_algo_name(ff_gemm_algo algo);

/* ---- Kernels ----------------------------------------------------------------------------------------
 * C = A * B mod 2^bw for A (M, K) and B (K, N) row-major, C (M, N) row-major. Inputs are taken mod
 * 2^bw (bits above bw are ignored); outputs are reduced mod 2^bw. 1 <= bw <= 64; M, N, K may be 0
 * (K = 0 gives C = 0). C must not overlap A or B.
 * As elsewhere: ff_X_cpu takes host pointers; ff_X_cuda device pointers, enqueued on ctx->stream
 * without waiting (temporary device buffers are allocated and freed in stream order); ff_X picks by
 * ctx->backend and bills the call to the scope Linear::GEMM. In a build without CUDA the CUDA
 * functions log an error and return FF_ENOTSUP. All algorithms give identical results. */
ff_status ff_ring_gemm_cpu(ff_ctx *ctx, int bw, size_t M, size_t N, size_t K, const uint64_t *A, const uint64_t *B,
                           uint64_t *C);
ff_status ff_ring_gemm_cuda(ff_ctx *ctx, int bw, size_t M, size_t N, size_t K, const uint64_t *A, const uint64_t *B,
                            uint64_t *C);
ff_status ff_ring_gemm(ff_ctx *ctx, int bw, size_t M, size_t N, size_t K, const uint64_t *A, const uint64_t *B,
                       uint64_t *C);
/* ff_ring_gemm_cuda with FF_GEMM_AUTO is this with a chosen algorithm. */
ff_status ff_ring_gemm_cuda_ex(ff_ctx *ctx, ff_gemm_algo algo, int bw, size_t M, size_t N, size_t K, const uint64_t *A,
                               const uint64_t *B, uint64_t *C);

/* Batched: for b < batch, C + b*stride_c = (A + b*stride_a) * (B + b*stride_b) mod 2^bw (strides
 * in elements). A stride of 0 reuses one matrix for every product (a weight shared by the batch);
 * stride_c must be at least M*N when batch > 1. Attention's per-head products are one call. */
ff_status ff_ring_gemm_batched_cpu(ff_ctx *ctx, int bw, size_t batch, size_t M, size_t N, size_t K, const uint64_t *A,
                                   size_t stride_a, const uint64_t *B, size_t stride_b, uint64_t *C, size_t stride_c);
ff_status ff_ring_gemm_batched_cuda(ff_ctx *ctx, int bw, size_t batch, size_t M, size_t N, size_t K, const uint64_t *A,
                                    size_t stride_a, const uint64_t *B, size_t stride_b, uint64_t *C, size_t stride_c);
ff_status ff_ring_gemm_batched(ff_ctx *ctx, int bw, size_t batch, size_t M, size_t N, size_t K, const uint64_t *A,
                               size_t stride_a, const uint64_t *B, size_t stride_b, uint64_t *C, size_t stride_c);
ff_status ff_ring_gemm_batched_cuda_ex(ff_ctx *ctx, ff_gemm_algo algo, int bw, size_t batch, size_t M, size_t N,
                                       size_t K, const uint64_t *A, size_t stride_a, const uint64_t *B, size_t stride_b,
                                       uint64_t *C, size_t stride_c);

/* The dealer's products, host pointers in and out (gates/sigma/linear.c: R_X R_W of every matmul key),
 * batched as above. ctx is a host context (CPU backend): with a keygen_dev (a dealer with a GPU,
 * core/ctx.h) the product runs on that context's stream, staged (A and B uploaded into stream-ordered
 * scratch, C downloaded; the call waits); without one on the host, as ff_ring_gemm_batched_cpu. The same
 * C either way (tests/test_gemm_cuda.c; the key streams: tests/test_dealer_cuda.c). Not billed to a
 * scope of its own: the dealer's gate scope holds it. */
ff_status ff_ring_gemm_batched_host(ff_ctx *ctx, int bw, size_t batch, size_t M, size_t N, size_t K, const uint64_t *A,
                                    size_t stride_a, const uint64_t *B, size_t stride_b, uint64_t *C, size_t stride_c);
/* Internal: the staged path of ff_ring_gemm_batched_host on the CUDA context dev (ring_gemm_cuda.cu), for
 * checked arguments with batch, M, N, K > 0; FF_ENOTSUP in a build without CUDA. */
ff_status ff__ring_gemm_staged(ff_ctx *dev, int bw, size_t batch, size_t M, size_t N, size_t K, const uint64_t *A,
                               size_t stride_a, const uint64_t *B, size_t stride_b, uint64_t *C, size_t stride_c);

/* Internal, shared by ring_gemm.c and ring_gemm_cuda.cu: argument checks that log under fn's name
 * (bw range, NULL pointers when there is work, stride_c, sizes that overflow size_t). */
ff_status ff__ring_gemm_check(const char *fn, const ff_ctx *ctx, int bw, size_t batch, size_t M, size_t N, size_t K,
                              const uint64_t *A, size_t stride_a, const uint64_t *B, size_t stride_b, const uint64_t *C,
                              size_t stride_c);

#ifdef __cplusplus
}
#endif

#endif
