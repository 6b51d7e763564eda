// CUDA twins of ring_gemm.c: C = A * B mod 2^bw by a tiled u64 SIMT kernel, or by int8 tensor-core
// GEMMs (cuBLAS) on signed 8-bit limbs, recombined with shifts mod 2^bw (ring_gemm.h compares them).
// Bit-identical to the CPU reference. Test: tests/test_gemm_cuda.c; timings: `fusefss bench gemm`.
#include <climits>
#include <pthread.h>

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "core/cuda.h"
#include "core/cuda_check.h"
#include "core/log.h"
#include "gates/gemm/ring_gemm.h"

static inline cudaStream_t ff__stream(const ff_ctx *ctx) { return (cudaStream_t)ctx->stream; }
static inline uint64_t ff__mask(int bw) { return bw >= 64 ? ~0ull : (1ull << bw) - 1; }
static inline size_t ff__round_up(size_t x, size_t m) { return (x + m - 1) / m * m; }

static ff_status ff__cublas_check(cublasStatus_t s, const char *stmt, const char *file, int line) {
  if (s == CUBLAS_STATUS_SUCCESS) return FF_OK;
  FF_ERROR("%s:%d: %s failed: %s (%s)", file, line, stmt, cublasGetStatusString(s), cublasGetStatusName(s));
  return s == CUBLAS_STATUS_ALLOC_FAILED ? FF_ENOMEM : FF_ECUDA; /* out of memory, like FF_CUDA_CHECK's */
}
#define FF__CUBLAS_CHECK(stmt) ff__cublas_check((stmt), #stmt, __FILE__, __LINE__)

// ---- SIMT: 64x64 output tiles, 256 threads, 4x4 outputs per thread ---------------------------------------
// Thread (ty, tx) of a 16x16 layout owns rows ty + 16i and columns tx + 16j of the tile: a warp (two
// values of ty) reads As as broadcasts and 16 consecutive words of Bs, so no bank conflicts, and the
// stores are coalesced along a row. A 64-bit multiply-add wraps mod 2^64, which 2^bw divides: reducing
// once at the store is exact. When the output has too few tiles to fill the GPU (M = 128 rows give 2),
// the K range is split over blockIdx.y and the partial sums meet through 64-bit atomic adds, which also
// wrap mod 2^64 (exact and order-independent), and one more pass reduces mod 2^bw.

#define FF__BM 64
#define FF__BN 64
#define FF__BK 16
#define FF__SIMT_THREADS 256
#define FF__MAX_GRID_Z 65535

__global__ void __launch_bounds__(FF__SIMT_THREADS)
    ff__gemm_simt_kernel(const uint64_t *A, size_t sa, const uint64_t *B, size_t sb, uint64_t *C, size_t sc,
                         size_t batch, size_t M, size_t N, size_t K, size_t tiles_n, size_t k_chunk, uint64_t mask,
                         int accumulate) {
  __shared__ uint64_t As[FF__BK][FF__BM + 1];  // (k, m): transposed, padded against store conflicts
  __shared__ uint64_t Bs[FF__BK][FF__BN];      // (k, n)
  const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
  const size_t m0 = (size_t)(blockIdx.x / tiles_n) * FF__BM, n0 = (size_t)(blockIdx.x % tiles_n) * FF__BN;
  const size_t k_begin = (size_t)blockIdx.y * k_chunk, k_end = min(K, k_begin + k_chunk);
  for (size_t b = blockIdx.z; b < batch; b += gridDim.z) {
    const uint64_t *Ab = A + b * sa, *Bb = B + b * sb;
    uint64_t *Cb = C + b * sc;
    uint64_t acc[4][4] = {};
    for (size_t k0 = k_begin; k0 < k_end; k0 += FF__BK) {
#pragma unroll
      for (int r = 0; r < 4; r++) {
        const int i = tid + FF__SIMT_THREADS * r;
        const int row = i / FF__BK, col = i % FF__BK;  // A tile: 64 rows of 16
        const size_t m = m0 + row, k = k0 + col;
        As[col][row] = m < M && k < k_end ? Ab[m * K + k] : 0;
        const int brow = i / FF__BN, bcol = i % FF__BN;  // B tile: 16 rows of 64
        const size_t kb = k0 + brow, n = n0 + bcol;
        Bs[brow][bcol] = kb < k_end && n < N ? Bb[kb * N + n] : 0;
      }
      __syncthreads();
#pragma unroll
      for (int kk = 0; kk < FF__BK; kk++) {
        uint64_t a[4], bv[4];
#pragma unroll
        for (int i = 0; i < 4; i++) a[i] = As[kk][ty + 16 * i];
#pragma unroll
        for (int j = 0; j < 4; j++) bv[j] = Bs[kk][tx + 16 * j];
#pragma unroll
        for (int i = 0; i < 4; i++)
#pragma unroll
          for (int j = 0; j < 4; j++) acc[i][j] += a[i] * bv[j];
      }
      __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < 4; i++) {
      const size_t m = m0 + ty + 16 * i;
      if (m >= M) continue;
#pragma unroll
      for (int j = 0; j < 4; j++) {
        const size_t n = n0 + tx + 16 * j;
        if (n >= N) continue;
        if (accumulate)
          atomicAdd((unsigned long long *)&Cb[m * N + n], (unsigned long long)acc[i][j]);
        else
          Cb[m * N + n] = acc[i][j] & mask;
      }
    }
  }
}

// C[b][0..mn) = 0 (zero) or &= mask, for every b < batch.
__global__ void ff__fill_kernel(uint64_t *C, size_t sc, size_t batch, size_t mn, uint64_t mask, int zero) {
  const size_t total = batch * mn;
  for (size_t t = (size_t)blockIdx.x * blockDim.x + threadIdx.x; t < total; t += (size_t)gridDim.x * blockDim.x) {
    uint64_t *c = C + (t / mn) * sc + t % mn;
    *c = zero ? 0 : *c & mask;
  }
}

static unsigned ff__blocks(size_t items, unsigned threads) {
  size_t b = (items + threads - 1) / threads;
  return (unsigned)(b < 4096 ? b : 4096);
}

static ff_status ff__sm_count(int *sms) {
  int dev = 0;
  ff_status st;
  if ((st = FF_CUDA_CHECK(cudaGetDevice(&dev)))) return st;
  return FF_CUDA_CHECK(cudaDeviceGetAttribute(sms, cudaDevAttrMultiProcessorCount, dev));
}

static ff_status ff__gemm_simt(ff_ctx *ctx, int bw, size_t batch, size_t M, size_t N, size_t K, const uint64_t *A,
                               size_t sa, const uint64_t *B, size_t sb, uint64_t *C, size_t sc) {
  const cudaStream_t s = ff__stream(ctx);
  const uint64_t mask = ff__mask(bw);
  const size_t tiles_n = (N + FF__BN - 1) / FF__BN, tiles = (M + FF__BM - 1) / FF__BM * tiles_n;
  if (tiles > INT_MAX) {
    FF_ERROR("ff_ring_gemm (simt): %zu x %zu output tiles exceed the grid", M, N);
    return FF_ERANGE;
  }
  int sms = 0;
  ff_status st;
  if ((st = ff__sm_count(&sms))) return st;
  // Split K until about two blocks per multiprocessor, keeping at least 4 k-tiles per split.
  const size_t want = 2 * (size_t)sms, have = tiles * batch;
  size_t splits = have >= want ? 1 : (want + have - 1) / have;
  const size_t max_splits = (K + 4 * FF__BK - 1) / (4 * FF__BK);
  if (splits > max_splits) splits = max_splits;
  if (splits < 1) splits = 1;
  const size_t k_chunk = ff__round_up((K + splits - 1) / splits, FF__BK);
  splits = K ? (K + k_chunk - 1) / k_chunk : 1;
  const int accumulate = splits > 1;
  const dim3 grid((unsigned)tiles, (unsigned)splits, (unsigned)(batch < FF__MAX_GRID_Z ? batch : FF__MAX_GRID_Z));
  if (accumulate) {
    ff__fill_kernel<<<ff__blocks(batch * M * N, 256), 256, 0, s>>>(C, sc, batch, M * N, mask, 1);
    if ((st = FF_CUDA_CHECK(cudaGetLastError()))) return st;
  }
  ff__gemm_simt_kernel<<<grid, FF__SIMT_THREADS, 0, s>>>(A, sa, B, sb, C, sc, batch, M, N, K, tiles_n, k_chunk, mask,
                                                          accumulate);
  if ((st = FF_CUDA_CHECK(cudaGetLastError()))) return st;
  if (accumulate && bw < 64) {
    ff__fill_kernel<<<ff__blocks(batch * M * N, 256), 256, 0, s>>>(C, sc, batch, M * N, mask, 0);
    st = FF_CUDA_CHECK(cudaGetLastError());
  }
  return st;
}

// ---- INT8 limbs on the tensor cores -----------------------------------------------------------------------
// Limbs. x mod 2^bw is written in L = ceil(bw/8) signed base-256 digits d_0..d_{L-1} in [-128, 127]:
// byte by byte from the bottom, a byte (plus the carry in) of 128 or more becomes itself minus 256 with
// a carry of 1 into the next byte. The carry out of the top digit is worth 2^(8L), a multiple of 2^bw,
// so x = sum_i d_i 2^(8i) mod 2^bw. Signed digits are what CUDA_R_8I holds, so no offset correction
// is needed. Then
//   A B = sum_s 2^(8s) P_s  mod 2^bw,   P_s = sum_{i+j=s} A_i B_j   (digit matrices A_i, B_j),
// and only s < L matter: 8s >= bw vanishes mod 2^bw.
//
// The int32 bound. A digit product lies in [-128*127, 128*128], so |A_i B_j| <= 2^14 per term, and a
// GEMM summing g limb pairs over K sums g*K terms: |sum| <= g*K*2^14, as is every partial sum that
// cuBLAS forms in any order or split. It is exact when g*K*2^14 <= 2^31 - 1, i.e.
//   g <= g_max(K) = floor((2^31 - 1) / (K * 2^14)):   K <= 8192 -> g_max >= 15 (all of P_s, s <= 7, in
//   one GEMM); K <= 16384 -> g_max >= 7 (two GEMMs for s = 7); K <= FF_GEMM_INT8_MAX_K = 131071 -> g_max
//   >= 1. Beyond that the algorithm is refused (AUTO takes SIMT).
// tests/test_gemm_cuda.c runs the worst case, every digit -128, at K = 16384 and K = 20000.
//
// Layout. Each P_s is one GEMM (or ceil((s+1)/g_max)) over the concatenated K: with K padded to Kp (a
// multiple of 16, padding digits zero) and LK = L*Kp,
//   A8[m][i*Kp + k] = digit i of A[m][k]            (M rows of LK bytes)
//   B8[n][(L-1-j)*Kp + k] = digit j of B[k][n]      (N rows of LK bytes: transposed, limbs reversed)
// so that for s and limbs i0..i0+g-1 of A, the matching limbs j = s-i0 .. s-i0-g+1 of B sit at the
// same K offsets, both contiguous: P = A8[:, i0*Kp : (i0+g)*Kp] . B8[:, (L-1-s+i0)*Kp : ...]^T, the
// K-contiguous "TN" layout that int8 tensor-core GEMMs want, with every pointer and leading dimension
// a multiple of 16 bytes. In cuBLAS's column-major terms: P^T (N x M, ld Np) = op_T(B8) . A8.
// Each GEMM writes an int32 slice; one pass sums the slices, shifted, into C mod 2^bw.

#define FF__KPAD 16
#define FF__MAX_SLICES 64

struct ff__slices {
  int n;
  int shift[FF__MAX_SLICES];  // bits, 8s
};

// All eight digits of x (< 2^bw); callers use the first L. Unrolled, so d stays in registers.
__device__ __forceinline__ void ff__digits(uint64_t x, int8_t d[8]) {
  int carry = 0;
#pragma unroll
  for (int i = 0; i < 8; i++) {
    const int u = (int)((x >> (8 * i)) & 0xffu) + carry;
    carry = u >= 128;
    d[i] = (int8_t)(u - (carry << 8));
  }
}

// A (batch, M, K) u64 -> A8 (batch, M, LK) digits; four consecutive k per thread, one 32-bit store per
// limb.
__global__ void ff__limbs_a_kernel(const uint64_t *A, size_t sa, size_t batch, size_t M, size_t K, size_t Kp, int L,
                                   uint64_t mask, int8_t *A8) {
  const size_t q = Kp / 4, total = batch * M * q, LK = (size_t)L * Kp;
  for (size_t t = (size_t)blockIdx.x * blockDim.x + threadIdx.x; t < total; t += (size_t)gridDim.x * blockDim.x) {
    const size_t row = t / q, k = (t % q) * 4, b = row / M, m = row % M;
    const uint64_t *a = A + b * sa + m * K;
    int8_t d[4][8];
#pragma unroll
    for (int e = 0; e < 4; e++) ff__digits(k + e < K ? a[k + e] & mask : 0, d[e]);
    int8_t *out = A8 + row * LK + k;
#pragma unroll
    for (int i = 0; i < 8; i++) {
      if (i >= L) break;
      const uint32_t w = (uint32_t)(uint8_t)d[0][i] | (uint32_t)(uint8_t)d[1][i] << 8 | (uint32_t)(uint8_t)d[2][i] << 16 |
                         (uint32_t)(uint8_t)d[3][i] << 24;
      *(uint32_t *)(out + (size_t)i * Kp) = w;
    }
  }
}

// B (batch, K, N) u64 -> B8 (batch, N, LK) digits, transposed through shared memory in 32x32 tiles:
// coalesced u64 reads along n, 32-bit stores along k. Block (32, 8).
__global__ void ff__limbs_b_kernel(const uint64_t *B, size_t sb, size_t batch, size_t K, size_t N, size_t Kp, int L,
                                   uint64_t mask, size_t tiles_n, int8_t *B8) {
  __shared__ __align__(4) int8_t t[8][32][36];  // (limb, n, k); rows padded to 36 bytes (9 words) against conflicts
  const int tx = threadIdx.x, ty = threadIdx.y, tid = ty * 32 + tx;
  const size_t k0 = (size_t)(blockIdx.x / tiles_n) * 32, n0 = (size_t)(blockIdx.x % tiles_n) * 32;
  const size_t LK = (size_t)L * Kp;
  for (size_t b = blockIdx.z; b < batch; b += gridDim.z) {
    const uint64_t *Bb = B + b * sb;
#pragma unroll
    for (int r = 0; r < 4; r++) {
      const size_t k = k0 + ty + 8 * r, n = n0 + tx;
      int8_t d[8];
      ff__digits(k < K && n < N ? Bb[k * N + n] & mask : 0, d);
#pragma unroll
      for (int i = 0; i < 8; i++)
        if (i < L) t[i][tx][ty + 8 * r] = d[i];
    }
    __syncthreads();
    for (int w = tid; w < L * 256; w += 256) {
      const int i = w >> 8, n = (w >> 3) & 31, kq = w & 7;
      const size_t k = k0 + 4 * kq;
      if (n0 + n < N && k < Kp)
        *(uint32_t *)(B8 + (b * N + n0 + n) * LK + (size_t)(L - 1 - i) * Kp + k) = *(const uint32_t *)&t[i][n][4 * kq];
    }
    __syncthreads();
  }
}

// C[b][m][n] = sum_slices P[slice][b][m][n] << shift mod 2^bw (P rows of Np int32).
__global__ void ff__combine_kernel(const int32_t *P, ff__slices sl, size_t batch, size_t M, size_t N, size_t Np,
                                   uint64_t mask, uint64_t *C, size_t sc) {
  const size_t mn = M * N, total = batch * mn, slice = batch * M * Np;
  for (size_t t = (size_t)blockIdx.x * blockDim.x + threadIdx.x; t < total; t += (size_t)gridDim.x * blockDim.x) {
    const size_t b = t / mn, m = (t % mn) / N, n = t % N;
    const int32_t *p = P + (b * M + m) * Np + n;
    uint64_t acc = 0;
    for (int i = 0; i < sl.n; i++) acc += (uint64_t)(int64_t)p[i * slice] << sl.shift[i];
    C[b * sc + m * N + n] = acc & mask;
  }
}

// Most pairs one int32 GEMM may sum exactly over K terms (the bound above); 0 beyond FF_GEMM_INT8_MAX_K.
static int ff__int8_pairs_max(size_t K) {
  if (K == 0 || K > FF_GEMM_INT8_MAX_K) return 0;
  const size_t g = (size_t)INT32_MAX / (K << 14);
  return g > 8 ? 8 : (int)g;
}

// 1 when the limb algorithm can take this shape: K within the bound, and every size cuBLAS sees an int.
static int ff__int8_fits(int bw, size_t batch, size_t M, size_t N, size_t K) {
  if (!ff__int8_pairs_max(K)) return 0;
  const size_t L = (size_t)(bw + 7) / 8, Kp = ff__round_up(K, FF__KPAD);
  return M <= INT_MAX && N <= INT_MAX && batch <= INT_MAX && L * Kp <= INT_MAX;
}

// ---- cuBLAS handles and workspace ---------------------------------------------------------------------
// ff_ctx has no field for a cuBLAS handle, so handles live in a small table keyed by (device, stream),
// created on first use and kept for the life of the process (cublasCreate costs milliseconds and
// cublasDestroy synchronises the device: neither belongs in a GEMM call). One handle per stream keeps
// parties on separate threads and streams from sharing one, which cuBLAS does not allow. When the table
// is full, a call makes and destroys its own handle (slow; logged once). Workspaces come from one private
// memory pool per device that keeps up to FF__POOL_KEEP bytes cached across synchronisations, so that
// repeated GEMMs do not go back to the driver for their limb buffers.

#define FF__HANDLES 32
#define FF__DEVICES 16
#define FF__POOL_KEEP ((uint64_t)1 << 30)

static struct {
  int dev;
  cudaStream_t stream;
  cublasHandle_t h;
} ff__handles[FF__HANDLES];
static int ff__n_handles;
static cudaMemPool_t ff__pools[FF__DEVICES];
static pthread_mutex_t ff__lock = PTHREAD_MUTEX_INITIALIZER;

// *h for s on the current device; *own = 1 when the caller must destroy it.
static ff_status ff__handle_get(cudaStream_t s, cublasHandle_t *h, int *own) {
  int dev = 0;
  ff_status st;
  *own = 0;
  if ((st = FF_CUDA_CHECK(cudaGetDevice(&dev)))) return st;
  pthread_mutex_lock(&ff__lock);
  for (int i = 0; i < ff__n_handles; i++)
    if (ff__handles[i].dev == dev && ff__handles[i].stream == s) {
      *h = ff__handles[i].h;
      pthread_mutex_unlock(&ff__lock);
      return FF__CUBLAS_CHECK(cublasSetStream(*h, s));
    }
  if ((st = FF__CUBLAS_CHECK(cublasCreate(h)))) {
    pthread_mutex_unlock(&ff__lock);
    return st;
  }
  if (ff__n_handles < FF__HANDLES) {
    ff__handles[ff__n_handles].dev = dev;
    ff__handles[ff__n_handles].stream = s;
    ff__handles[ff__n_handles].h = *h;
    ff__n_handles++;
  } else {
    static int warned;
    if (!warned) FF_WARN("ff_ring_gemm: more than %d CUDA streams use cuBLAS; handles are made per call", FF__HANDLES);
    warned = 1;
    *own = 1;
  }
  pthread_mutex_unlock(&ff__lock);
  if ((st = FF__CUBLAS_CHECK(cublasSetStream(*h, s))) && *own) {
    cublasDestroy(*h);
    *own = 0;
  }
  return st;
}

static ff_status ff__pool_get(cudaMemPool_t *pool) {
  int dev = 0;
  ff_status st;
  if ((st = FF_CUDA_CHECK(cudaGetDevice(&dev)))) return st;
  if (dev >= FF__DEVICES) return FF_CUDA_CHECK(cudaDeviceGetDefaultMemPool(pool, dev));
  pthread_mutex_lock(&ff__lock);
  if (!ff__pools[dev]) {
    cudaMemPoolProps props = {};
    props.allocType = cudaMemAllocationTypePinned;
    props.location.type = cudaMemLocationTypeDevice;
    props.location.id = dev;
    cudaMemPool_t p = NULL;
    st = FF_CUDA_CHECK(cudaMemPoolCreate(&p, &props));
    uint64_t keep = FF__POOL_KEEP;
    if (!st && (st = FF_CUDA_CHECK(cudaMemPoolSetAttribute(p, cudaMemPoolAttrReleaseThreshold, &keep))))
      (void)cudaMemPoolDestroy(p);
    if (!st) ff__pools[dev] = p;
  }
  *pool = ff__pools[dev];
  pthread_mutex_unlock(&ff__lock);
  return st;
}

static ff_status ff__gemm_int8(ff_ctx *ctx, int bw, size_t batch, size_t M, size_t N, size_t K, const uint64_t *A,
                               size_t sa, const uint64_t *B, size_t sb, uint64_t *C, size_t sc) {
  const cudaStream_t s = ff__stream(ctx);
  const uint64_t mask = ff__mask(bw);
  const int L = (bw + 7) / 8, g_max = ff__int8_pairs_max(K);
  const size_t Kp = ff__round_up(K, FF__KPAD), LK = (size_t)L * Kp, Np = ff__round_up(N, 4);
  // A matrix shared by the batch (stride 0) is converted once and read with stride 0.
  const size_t batch_a = sa ? batch : 1, batch_b = sb ? batch : 1;
  ff__slices sl = {};
  for (int sh = 0; sh < L; sh++)
    for (int i0 = 0; i0 <= sh; i0 += g_max) sl.shift[sl.n++] = 8 * sh;  // at most 36 slices (g_max = 1, L = 8)

  const size_t a_bytes = ff__round_up(batch_a * M * LK, 256), b_bytes = ff__round_up(batch_b * N * LK, 256);
  const size_t p_bytes = (size_t)sl.n * batch * M * Np * sizeof(int32_t);
  cublasHandle_t h = NULL;
  int own = 0;
  cudaMemPool_t pool = NULL;
  char *ws = NULL;
  ff_status st;
  if ((st = ff__handle_get(s, &h, &own)) || (st = ff__pool_get(&pool))) goto done;
  if ((st = FF_CUDA_CHECK(cudaMallocFromPoolAsync((void **)&ws, a_bytes + b_bytes + p_bytes, pool, s)))) {
    ws = NULL;
    goto done;
  }
  {
    int8_t *A8 = (int8_t *)ws, *B8 = (int8_t *)(ws + a_bytes);
    int32_t *P = (int32_t *)(ws + a_bytes + b_bytes);
    ff__limbs_a_kernel<<<ff__blocks(batch_a * M * (Kp / 4), 256), 256, 0, s>>>(A, sa, batch_a, M, K, Kp, L, mask, A8);
    if ((st = FF_CUDA_CHECK(cudaGetLastError()))) goto done;
    const size_t tn = (N + 31) / 32, tk = (Kp + 31) / 32;
    if (tn * tk > INT_MAX) {
      FF_ERROR("ff_ring_gemm (int8 limbs): B of %zu x %zu is too large to convert", K, N);
      st = FF_ERANGE;
      goto done;
    }
    const dim3 bgrid((unsigned)(tn * tk), 1, (unsigned)(batch_b < FF__MAX_GRID_Z ? batch_b : FF__MAX_GRID_Z));
    ff__limbs_b_kernel<<<bgrid, dim3(32, 8), 0, s>>>(B, sb, batch_b, K, N, Kp, L, mask, tn, B8);
    if ((st = FF_CUDA_CHECK(cudaGetLastError()))) goto done;

    const int32_t one = 1, zero = 0;
    int slice = 0;
    for (int sh = 0; sh < L && !st; sh++)
      for (int i0 = 0; i0 <= sh && !st; i0 += g_max, slice++) {
        const int g = sh + 1 - i0 < g_max ? sh + 1 - i0 : g_max;
        const int8_t *a = A8 + (size_t)i0 * Kp, *b = B8 + (size_t)(L - 1 - sh + i0) * Kp;
        int32_t *p = P + (size_t)slice * batch * M * Np;
        if (batch == 1)
          st = FF__CUBLAS_CHECK(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, (int)N, (int)M, (int)(g * Kp), &one, b,
                                             CUDA_R_8I, (int)LK, a, CUDA_R_8I, (int)LK, &zero, p, CUDA_R_32I, (int)Np,
                                             CUBLAS_COMPUTE_32I, CUBLAS_GEMM_DEFAULT));
        else
          st = FF__CUBLAS_CHECK(cublasGemmStridedBatchedEx(
              h, CUBLAS_OP_T, CUBLAS_OP_N, (int)N, (int)M, (int)(g * Kp), &one, b, CUDA_R_8I, (int)LK,
              sb ? (long long)(N * LK) : 0, a, CUDA_R_8I, (int)LK, sa ? (long long)(M * LK) : 0, &zero, p, CUDA_R_32I,
              (int)Np, (long long)(M * Np), (int)batch, CUBLAS_COMPUTE_32I, CUBLAS_GEMM_DEFAULT));
      }
    if (st) goto done;
    ff__combine_kernel<<<ff__blocks(batch * M * N, 256), 256, 0, s>>>(P, sl, batch, M, N, Np, mask, C, sc);
    st = FF_CUDA_CHECK(cudaGetLastError());
  }
done:
  if (ws) {
    ff_status st2 = FF_CUDA_CHECK(cudaFreeAsync(ws, s));
    if (!st) st = st2;
  }
  if (own) cublasDestroy(h);
  return st;
}

// ---- Entry points ---------------------------------------------------------------------------------------

// AUTO: the limbs once the product has at least this many multiply-adds (below it the conversions and
// up to 8 cuBLAS launches cost more than SIMT's one kernel). Set from `fusefss bench gemm` on an H200
// at bw 50 (docs/results.md): SIMT wins at 128x768x768 (75M MACs, 1.8x) and on the 12-head attention
// products (12.6M, 2.2-2.9x); the limbs win at 128x768x3072 (302M, 1.6x) and tie at 128x3072x768.
#define FF__AUTO_INT8_MIN_MACS ((size_t)1 << 28)

// 1 when batch*M*N*K >= at_least (saturating).
static int ff__macs_at_least(size_t batch, size_t M, size_t N, size_t K, size_t at_least) {
  size_t x;
  if (__builtin_mul_overflow(batch, M, &x) || __builtin_mul_overflow(x, N, &x) || __builtin_mul_overflow(x, K, &x)) return 1;
  return x >= at_least;
}

ff_status ff_ring_gemm_batched_cuda_ex(ff_ctx *ctx, ff_gemm_algo algo, int bw, size_t batch, size_t M, size_t N,
                                       size_t K, const uint64_t *A, size_t stride_a, const uint64_t *B, size_t stride_b,
                                       uint64_t *C, size_t stride_c) {
  const char *fn = "ff_ring_gemm_cuda";
  ff_status st = ff__ring_gemm_check(fn, ctx, bw, batch, M, N, K, A, stride_a, B, stride_b, C, stride_c);
  if (st) return st;
  if (batch == 0 || M == 0 || N == 0) return FF_OK;
  if (batch == 1) stride_a = stride_b = stride_c = 0;
  if (K == 0) {
    ff__fill_kernel<<<ff__blocks(batch * M * N, 256), 256, 0, ff__stream(ctx)>>>(C, stride_c, batch, M * N, 0, 1);
    return FF_CUDA_CHECK(cudaGetLastError());
  }
  switch (algo) {
    case FF_GEMM_AUTO:
      if (ff__int8_fits(bw, batch, M, N, K) && ff__macs_at_least(batch, M, N, K, FF__AUTO_INT8_MIN_MACS))
        return ff__gemm_int8(ctx, bw, batch, M, N, K, A, stride_a, B, stride_b, C, stride_c);
      return ff__gemm_simt(ctx, bw, batch, M, N, K, A, stride_a, B, stride_b, C, stride_c);
    case FF_GEMM_SIMT: return ff__gemm_simt(ctx, bw, batch, M, N, K, A, stride_a, B, stride_b, C, stride_c);
    case FF_GEMM_INT8_LIMBS:
      if (!ff__int8_fits(bw, batch, M, N, K)) {
        FF_ERROR("%s: int8 limbs need K <= %zu and int-sized dimensions (batch %zu, M %zu, N %zu, K %zu); use SIMT",
                 fn, FF_GEMM_INT8_MAX_K, batch, M, N, K);
        return FF_EINVAL;
      }
      return ff__gemm_int8(ctx, bw, batch, M, N, K, A, stride_a, B, stride_b, C, stride_c);
  }
  FF_ERROR("%s: unknown algorithm %d", fn, (int)algo);
  return FF_EINVAL;
}

ff_status ff_ring_gemm_batched_cuda(ff_ctx *ctx, int bw, size_t batch, size_t M, size_t N, size_t K, const uint64_t *A,
                                    size_t stride_a, const uint64_t *B, size_t stride_b, uint64_t *C, size_t stride_c) {
  return ff_ring_gemm_batched_cuda_ex(ctx, FF_GEMM_AUTO, bw, batch, M, N, K, A, stride_a, B, stride_b, C, stride_c);
}

ff_status ff_ring_gemm_cuda_ex(ff_ctx *ctx, ff_gemm_algo algo, int bw, size_t M, size_t N, size_t K, const uint64_t *A,
                               const uint64_t *B, uint64_t *C) {
  return ff_ring_gemm_batched_cuda_ex(ctx, algo, bw, 1, M, N, K, A, 0, B, 0, C, 0);
}

ff_status ff_ring_gemm_cuda(ff_ctx *ctx, int bw, size_t M, size_t N, size_t K, const uint64_t *A, const uint64_t *B,
                            uint64_t *C) {
  return ff_ring_gemm_batched_cuda_ex(ctx, FF_GEMM_AUTO, bw, 1, M, N, K, A, 0, B, 0, C, 0);
}

// ---- The dealer's products, staged (ring_gemm.h ff_ring_gemm_batched_host) ---------------------------------
// A and B are packed on upload (a stride of 0, or a batch of one, stays one matrix) and C is unpacked on
// download by 2D copies, so gaps that the host strides leave are never written. The copies are from and to
// pageable memory: each returns once its bytes are staged, and the last one waits for the product.

static ff_status ff__stage_copy(cudaStream_t s, void *dst, size_t dpitch, const void *src, size_t spitch, size_t width,
                                size_t height, cudaMemcpyKind kind) {
  if (height == 1 || dpitch == spitch) return FF_CUDA_CHECK(cudaMemcpyAsync(dst, src, width * height, kind, s));
  return FF_CUDA_CHECK(cudaMemcpy2DAsync(dst, dpitch, src, spitch, width, height, kind, s));
}

// One operand: its device copy's element count and stride. A batch of one or a stride of 0 is one matrix,
// a stride of at least one matrix is packed, and a smaller stride (overlapping matrices) keeps its span.
static void ff__stage_shape(size_t batch, size_t stride, size_t size, size_t *n, size_t *dstride) {
  if (batch == 1 || stride == 0) *n = size, *dstride = 0;
  else if (stride >= size) *n = batch * size, *dstride = size;
  else *n = (batch - 1) * stride + size, *dstride = stride;
}

static ff_status ff__stage_up(cudaStream_t s, void *d, const uint64_t *h, size_t batch, size_t stride, size_t size,
                              size_t dstride) {
  const size_t w = sizeof(uint64_t);
  if (dstride == size && batch > 1) return ff__stage_copy(s, d, size * w, h, stride * w, size * w, batch, cudaMemcpyHostToDevice);
  const size_t n = dstride ? (batch - 1) * dstride + size : size;
  return FF_CUDA_CHECK(cudaMemcpyAsync(d, h, n * w, cudaMemcpyHostToDevice, s));
}

ff_status ff__ring_gemm_staged(ff_ctx *dev, int bw, size_t batch, size_t M, size_t N, size_t K, const uint64_t *A,
                               size_t stride_a, const uint64_t *B, size_t stride_b, uint64_t *C, size_t stride_c) {
  const cudaStream_t s = ff__stream(dev);
  const size_t w = sizeof(uint64_t), mn = M * N;
  size_t na, sa, nb, sb;
  ff__stage_shape(batch, stride_a, M * K, &na, &sa);
  ff__stage_shape(batch, stride_b, K * N, &nb, &sb);
  void *dA = NULL, *dB = NULL, *dC = NULL;
  ff_status st;
  if ((st = ff_dev_alloc(dev->stream, na * w, &dA)) || (st = ff_dev_alloc(dev->stream, nb * w, &dB)) ||
      (st = ff_dev_alloc(dev->stream, batch * mn * w, &dC))) {
    /* The caller may go on without the device (FF_ENOMEM: the host makes the product): the failed
     * allocation's error must not be left for the next launch's cudaGetLastError to find. */
    (void)cudaGetLastError();
    ff_dev_free(dA);
    ff_dev_free(dB);
    return st;
  }
  if (!(st = ff__stage_up(s, dA, A, batch, stride_a, M * K, sa)) &&
      !(st = ff__stage_up(s, dB, B, batch, stride_b, K * N, sb)) &&
      !(st = ff_ring_gemm_batched_cuda(dev, bw, batch, M, N, K, (const uint64_t *)dA, sa, (const uint64_t *)dB, sb,
                                       (uint64_t *)dC, mn)) &&
      !(st = ff__stage_copy(s, C, (batch > 1 ? stride_c : mn) * w, dC, mn * w, mn * w, batch,
                            cudaMemcpyDeviceToHost)))
    st = FF_CUDA_CHECK(cudaStreamSynchronize(s));
  if (st == FF_ENOMEM) (void)cudaGetLastError(); // the host takes over (as above): no error left behind
  ff_dev_free(dA); // stream-ordered
  ff_dev_free(dB);
  ff_dev_free(dC);
  return st;
}
