/* The GGM-tree PRG of every DPF in fusefss: fixed-key AES in Matyas-Meyer-Oseas form,
 * G(s) = (AES_k0(s) ^ s, AES_k1(s) ^ s) (DESIGN.md §2; SIGMA re-keys AES per node instead, see
 * research/sigma.md §3). The AES-128 block cipher is core/aes.h's on the CPU (AES-NI, or portable
 * byte-wise code where the CPU lacks it), table AES in shared memory on CUDA (prg_cuda.cu), with
 * CUDA twins of the block API here. Test: tests/test_prg.c, tests/test_fss_cuda.c. */
#ifndef FF_GATES_FSS_PRG_H
#define FF_GATES_FSS_PRG_H

#include <stddef.h>
#include <stdint.h>

#include "core/aes.h" /* ff_block, ff_aes128_key and the AES-128 block cipher */
#include "core/ctx.h"
#include "core/rand.h"
#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- The PRG --------------------------------------------------------------------------------------
 * The two fixed public keys are the 16 ASCII bytes "fusefss:prg:key0" (k0, left child) and
 * "fusefss:prg:key1" (k1, right child); their schedules are expanded once per process. The PRG
 * applies to the block as given: callers that keep a control bit in the LSB clear it first. */

/* left[i] = AES_k0(s[i]) ^ s[i], right[i] = AES_k1(s[i]) ^ s[i] for i < n (the GGM expansion).
 * s must not overlap left or right. */
void ff_prg_expand(const ff_block *s, ff_block *left, ff_block *right, size_t n);
/* out[i] = AES_k(dir[i])(s[i]) ^ s[i]: only the child a DPF evaluation follows (dir[i] = 0 left,
 * nonzero right), one AES per block. s and out may be the same array. */
void ff_prg_expand_dir(const ff_block *s, const uint8_t *dir, ff_block *out, size_t n);
/* The expanded schedule of k0 (side 0) or k1 (side 1). The CUDA kernels take both schedules from
 * here as a kernel parameter (fss_cuda.h), so no device computes a key schedule. */
const ff_aes128_key *ff_prg_key(int side);

/* CUDA twins of the three calls above (prg_cuda.cu), bit-identical to them: in, out, s, left, right,
 * dir are device arrays, the block arrays 16-byte aligned (cudaMalloc's are; FF_EINVAL otherwise);
 * ks is a host pointer whose round keys travel as a kernel parameter. The work is enqueued on
 * ctx->stream and the calls return without waiting. FF_ENOTSUP in a build without CUDA. Aliasing as
 * for the CPU versions. */
ff_status ff_aes128_encrypt_blocks_cuda(ff_ctx *ctx, const ff_aes128_key *ks, const ff_block *in, ff_block *out, size_t n);
ff_status ff_prg_expand_cuda(ff_ctx *ctx, const ff_block *s, ff_block *left, ff_block *right, size_t n);
ff_status ff_prg_expand_dir_cuda(ff_ctx *ctx, const ff_block *s, const uint8_t *dir, ff_block *out, size_t n);

/* ---- The dealer's generator, on the device ---------------------------------------------------------
 * The next n bytes of rng's stream (core/rand.h), exactly what ff_rng_bytes(rng, out, n) would give, rng
 * advanced alike (a shared handle followed, an OS generator keyed first), made where ctx's backend works:
 * _cpu in host memory (from the claim, core/rand.h ff__rng_claim_bytes, on one thread: the twin of the
 * kernels), _cuda in device memory `out` (any alignment) on ctx->stream, not waited for: counter mode one
 * thread per block (the key's round keys as a kernel parameter, table AES as the PRG's), seeded mode one
 * thread per range of 4096 words, each jumped ahead to its range (the powers T^(2^i), 512 KiB, uploaded
 * into each device's memory at its first seeded draw and kept for the process). For masks made where the
 * keys that use them are made (docs/architecture.md, "The dealer", step 2). FF_EIO when keying from the OS fails; FF_ENOTSUP for _cuda in a build without CUDA.
 * tests/test_prg.c (the CPU twin against ff_rng_bytes), tests/test_fss_cuda.c (the device's against it). */
ff_status ff_rng_draw_cpu(ff_ctx *ctx, ff_rng *rng, void *out, size_t n);
ff_status ff_rng_draw_cuda(ff_ctx *ctx, ff_rng *rng, void *out, size_t n);
ff_status ff_rng_draw(ff_ctx *ctx, ff_rng *rng, void *out, size_t n);

#ifdef __cplusplus
}
#endif

#endif
