// CUDA twins of prg.c: AES-128 blocks and the fixed-key MMO PRG G(s) = (AES_k0(s) ^ s, AES_k1(s) ^ s)
// of DESIGN.md §2, with the shared-memory table AES of fss_cuda.h (SIGMA's layout, research/sigma.md
// §3). Test: tests/test_fss_cuda.c (known answers and CUDA == CPU on random blocks).
#include "core/cuda_check.h"
#include "gates/fss/fss_cuda.h"
#include "gates/fss/prg.h"

// One thread per block of data, grid-stride. mode 0: out = AES_k0(in) (plain encryption, k0 is the
// caller's key); mode 1: left/right = both MMO children; mode 2: out = the child named by dir.
__global__ void __launch_bounds__(FF__CUDA_THREADS) ff__prg_kernel(ff__aes_keys keys, int mode, const uint4 *in,
                                                                  const uint8_t *dir, uint4 *out, uint4 *out2, size_t n) {
  __shared__ ff__aes_smem sm;
  ff__aes_smem_init(sm, keys);
  for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
    const uint4 s = in[i];  // read before any write: in place is allowed for modes 0 and 2
    if (mode == 0) {
      out[i] = ff__aes_enc(sm, 0, s);
    } else if (mode == 1) {
      out[i] = ff__mmo(sm, 0, s);
      out2[i] = ff__mmo(sm, 1, s);
    } else {
      out[i] = ff__mmo(sm, dir[i] != 0, s);
    }
  }
}

static int ff__misaligned(const void *p) { return ((uintptr_t)p & 15) != 0; }

static ff_status ff__prg_launch(const char *fn, ff_ctx *ctx, const ff__aes_keys &keys, int mode, const ff_block *in,
                                const uint8_t *dir, ff_block *out, ff_block *out2, size_t n) {
  ff_status st = ff__cuda_ctx_check(fn, ctx);
  if (st) return st;
  if (n == 0) return FF_OK;
  if (!in || !out || (mode == 1 && !out2) || (mode == 2 && !dir)) {
    FF_ERROR("%s: an array is NULL", fn);
    return FF_EINVAL;
  }
  if (ff__misaligned(in) || ff__misaligned(out) || (out2 && ff__misaligned(out2))) {
    FF_ERROR("%s: block arrays must be 16-byte aligned (as cudaMalloc returns them)", fn);
    return FF_EINVAL;
  }
  ff__prg_kernel<<<ff__cuda_blocks(n), FF__CUDA_THREADS, 0, ff__cuda_stream(ctx)>>>(
      keys, mode, (const uint4 *)in, dir, (uint4 *)out, (uint4 *)out2, n);
  return FF_CUDA_CHECK(cudaGetLastError());
}

extern "C" ff_status ff_aes128_encrypt_blocks_cuda(ff_ctx *ctx, const ff_aes128_key *ks, const ff_block *in, ff_block *out,
                                                   size_t n) {
  if (!ks) {
    FF_ERROR("ff_aes128_encrypt_blocks_cuda: key is NULL");
    return FF_EINVAL;
  }
  ff__aes_keys keys;
  memcpy(keys.rk[0], ks->rk, sizeof keys.rk[0]);
  memcpy(keys.rk[1], ks->rk, sizeof keys.rk[1]);
  return ff__prg_launch("ff_aes128_encrypt_blocks_cuda", ctx, keys, 0, in, NULL, out, NULL, n);
}

extern "C" ff_status ff_prg_expand_cuda(ff_ctx *ctx, const ff_block *s, ff_block *left, ff_block *right, size_t n) {
  return ff__prg_launch("ff_prg_expand_cuda", ctx, ff__aes_prg_keys(), 1, s, NULL, left, right, n);
}

extern "C" ff_status ff_prg_expand_dir_cuda(ff_ctx *ctx, const ff_block *s, const uint8_t *dir, ff_block *out, size_t n) {
  return ff__prg_launch("ff_prg_expand_dir_cuda", ctx, ff__aes_prg_keys(), 2, s, dir, out, NULL, n);
}
