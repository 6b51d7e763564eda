/* Distributed point functions (Boyle-Gilboa-Ishai 2016, tree construction) with 1-bit output and
 * early termination at 7 levels, and the comparison 1{x < alpha} read off the same key along x's
 * path, as SIGMA does (research/sigma.md §3 "DPF" and "Comparison"). Batched over N elements, one
 * secret point each; CPU reference in dpf.c, CUDA twins in dpf_cuda.cu.
 * Test: tests/test_dpf.c, tests/test_fss_cuda.c (CUDA against CPU). */
#ifndef FF_GATES_FSS_DPF_H
#define FF_GATES_FSS_DPF_H

#include <stddef.h>
#include <stdint.h>

#include "core/ctx.h"
#include "core/status.h"
#include "core/tensor.h"
#include "gates/fss/prg.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FF_DPF_MIN_BITS 8   /* below this, use the truth tables of gates/fss/sstab.h */
#define FF_DPF_MAX_BITS 64
#define FF_DPF_LEAF_BITS 7  /* early termination: the last level is one block of 2^7 = 128 leaves */
#define FF_DPF_EVAL_ALL_MAX_BITS 16

/* One party's keys for N elements on n-bit inputs. The tree has L = n-7 levels: levels 0..n-9 are
 * ordinary GGM levels with a seed CW, level n-8 turns each child seed straight into a leaf block
 * with the leaf CW l0 (left child) or l1 (right child). Arrays are element-major stripes (the value
 * of level i for element j at [i*N + j]) so that one GPU thread per element reads coalesced.
 *
 * All arrays live in one buffer, in this order, which is also the serialized form (little-endian):
 *   seed (N) blocks | scw (n-8, N) blocks | l0 (N) blocks | l1 (N) blocks | tR ceil((n-7)N/8) bytes
 * i.e. ff_dpf_key_bytes(n, N) = 16(n-7)N + 32N + ceil((n-7)N/8), SIGMA's 16(n-7) + 32 + (n-7)/8 B
 * per element. SIGMA keeps one tR row per level, n-7 rows, although the last level uses l0/l1
 * instead; we keep that row too (always zero) so the bytes match exactly. The buffer is allocated
 * rounded up to a multiple of 16 bytes (zero, not part of the key) so that device code may update
 * tR with 32-bit atomics. The layout is the same in host and device memory: `where` says which
 * holds the buffer, and the pointers below point into it (device pointers when FF_MEM_DEVICE). */
typedef struct {
  int n;            /* input bits, 8..64; inputs and points are taken mod 2^n */
  size_t N;         /* elements */
  ff_block *seed;   /* (N) root seeds; bit 0 is the control bit t */
  ff_block *scw;    /* (n-8, N) seed CWs of levels 0..n-9; bit 0 holds the left control CW tL */
  ff_block *l0;     /* (N) leaf CW of a left child at the last level */
  ff_block *l1;     /* (N) leaf CW of a right child at the last level */
  uint8_t *tR;      /* (n-7, N) bits, bit i*N + j (LSB first): right control CW of level i of element j */
  void *buf;        /* the one allocation holding all of the above */
  size_t bytes;     /* = ff_dpf_key_bytes(n, N) */
  ff_mem where;     /* FF_MEM_HOST or FF_MEM_DEVICE */
  int view;         /* buf is borrowed (ff_dpf_key_view): read only, never freed here */
} ff_dpf_key;

/* Exact serialized size of one party's key for N elements: 16(n-7)N + 32N + ceil((n-7)N/8) bytes
 * (the tR bits are packed across elements and rounded up once per batch). 0 when n is outside
 * 8..64, N is 0 or the size overflows size_t. */
size_t ff_dpf_key_bytes(int n, size_t N);

/* Allocates a zeroed key for N elements of n bits in the memory of ctx's backend: host memory on
 * the CPU, device memory on CUDA (zeroed in order on ctx's stream). FF_EINVAL for bad n/N,
 * FF_ENOMEM, FF_ENOTSUP for CUDA in a build without it. */
ff_status ff_dpf_key_alloc(ff_ctx *ctx, ff_dpf_key *k, int n, size_t N);
/* Copies src's buffer into dst (allocated beforehand with the same n and N, in either memory):
 * host to host, host to device, device to host or device to device, one copy on ctx's stream (pass
 * the context whose stream made or will use the device key: a CPU context's NULL stream does not
 * order against non-blocking streams). When dst is in host memory the call waits for the stream,
 * so dst is readable on return. */
ff_status ff_dpf_key_copy(ff_ctx *ctx, ff_dpf_key *dst, const ff_dpf_key *src);
/* Frees k's buffer (host or device; cudaFree waits for the device, so free keys outside hot loops)
 * and zeroes k; safe on a zeroed or already freed key. A view is only forgotten. */
void ff_dpf_key_free(ff_dpf_key *k);
/* A key over ff_dpf_key_bytes(n, N) bytes of serialized key that the caller owns and keeps alive and
 * unchanged while k is used (a key read in place from a preloaded key image), in `where` memory: no
 * allocation, no copy. The evaluations only read it; a keygen must not be given a view. buf must be
 * 16-byte aligned (the blocks are loaded whole): FF_EINVAL otherwise, and for a bad n or N. */
ff_status ff_dpf_key_view(ff_dpf_key *k, int n, size_t N, const void *buf, ff_mem where);
/* Writes k's serialized form (k->bytes bytes) to out; FF_ERANGE when cap is smaller. Host keys only
 * (copy a device key to the host first). */
ff_status ff_dpf_key_serialize(const ff_dpf_key *k, void *out, size_t cap);
/* Allocates a host key k and reads a key of N elements of n bits from in; FF_EFORMAT unless len is
 * exactly ff_dpf_key_bytes(n, N). */
ff_status ff_dpf_key_deserialize(ff_dpf_key *k, int n, size_t N, const void *in, size_t len);

/* ---- Kernels ----------------------------------------------------------------------------------------
 * Each kernel comes three times with the same arguments: ff_X_cpu (the reference; host pointers
 * and host keys), ff_X_cuda (device pointers and device keys; the work is enqueued on ctx->stream
 * and the call returns without waiting unless its comment says otherwise) and ff_X, which picks
 * by ctx->backend (pointers as that backend wants them) and bills the call to the scope FSS::DPF.
 * In a build without CUDA, ff_X_cuda and a CUDA ff_X log an error and return FF_ENOTSUP. CPU and
 * CUDA give byte-identical keys and outputs (tests/test_fss_cuda.c). */

/* Dealer: keys of both parties for the point functions f_j(x) = 1{x == alpha[j] mod 2^n}, j < N.
 * k0 and k1 must be allocated with the same n and N (ff_dpf_key_alloc). roots is (2, N): party 0's
 * root seeds, then party 1's; keygen keeps party 0's control bit (bit 0) and sets party 1's to its
 * complement, ignoring the given bit. The keys are a deterministic function of alpha and roots. The
 * CPU version splits the elements over the CPUs the process may use (core/ctx.h ff_parallel_for; the
 * same bytes for any split: tests/test_dpf.c). */
ff_status ff_dpf_keygen_cpu(ff_ctx *ctx, const uint64_t *alpha, const ff_block *roots, ff_dpf_key *k0, ff_dpf_key *k1);
ff_status ff_dpf_keygen_cuda(ff_ctx *ctx, const uint64_t *alpha, const ff_block *roots, ff_dpf_key *k0, ff_dpf_key *k1);
/* As above with the 2N roots drawn from ctx->rng on the host (and uploaded for CUDA, through a
 * temporary device buffer freed in stream order). Host keys with a CPU context whose keygen_dev is set
 * (a dealer with a GPU, core/ctx.h) are made by ff_dpf_keygen_cuda on that context's stream through host
 * staging (ff__dpf_keygen_staged): the same bytes as ff_dpf_keygen_cpu. Opens no scope: the dealer's
 * callers do (FSS::DPF in gates/sigma/op.c, for `keygen --profile`). */
ff_status ff_dpf_keygen(ff_ctx *ctx, const uint64_t *alpha, ff_dpf_key *k0, ff_dpf_key *k1);
/* Dealer, for keys that go straight to where they are kept: both parties' keys of N elements of n bits
 * for alpha, made in the memory where ctx's dealer makes tree keys (on ctx->keygen_dev's GPU when set,
 * else in ctx's backend's memory), handed to emit(arg, p, mem, k) for p = 0 then 1 (mem: the context
 * whose stream orders k's memory) and freed after. The same keys and the same draws from ctx->rng as
 * ff_dpf_keygen; so a dealer with a GPU writes a key from device memory into its key stream (one
 * download per chunk, gates/sigma/op.c) without a host key and a copy of it in between. emit's first
 * failure is returned. */
typedef ff_status (*ff_dpf_key_emit)(void *arg, int p, ff_ctx *mem, const ff_dpf_key *k);
ff_status ff_dpf_keygen_emit(ff_ctx *ctx, int n, size_t N, const uint64_t *alpha, ff_dpf_key_emit emit, void *arg);

/* Evaluation at E public points per element. Points are laid out like the key, element fastest:
 * point e of element j is x[e*N + j] (taken mod 2^n). The result bit for (e, j) is bit e*N + j of
 * out (LSB first, ceil(E*N/8) bytes, pad bits zero), the packing of comm/pack.h for 1-bit values.
 * Output shares are XOR shares: party 0's bit ^ party 1's bit is the function value. The result
 * does not depend on which party evaluates (no party argument is needed). */

/* Shares of 1{x == alpha}: n-7 AES per point. */
ff_status ff_dpf_eval_point_cpu(ff_ctx *ctx, const ff_dpf_key *k, size_t E, const uint64_t *x, uint8_t *out);
ff_status ff_dpf_eval_point_cuda(ff_ctx *ctx, const ff_dpf_key *k, size_t E, const uint64_t *x, uint8_t *out);
ff_status ff_dpf_eval_point(ff_ctx *ctx, const ff_dpf_key *k, size_t E, const uint64_t *x, uint8_t *out);

/* Shares of 1{x < alpha} (unsigned n-bit comparison, strict; the same key as the point function):
 * n-7 AES per point plus one parity of the leaf block. Each node's control bit is a share of "alpha
 * lies in this node's subtree", and alpha > x iff alpha lies in a subtree hanging right of x's path
 * (at a level where x turns left) or above x in x's leaf block. A sibling's bit is the XOR of its
 * parent's and the on-path child's, so a run of left turns from level a to level c adds up to
 * t(v_a) ^ t(v_c+1): the party XORs its control bit wherever x's direction changes (the path is
 * taken to arrive from the right), then the parity of the leaves above x, or, when a run of left
 * turns reaches the leaf block, of the leaves at or below x (the whole block's parity closes the run).
 * (SIGMA accumulates 1{alpha <= x} and has party 1 flip it; this form needs no party argument.) */
ff_status ff_dpf_eval_lt_cpu(ff_ctx *ctx, const ff_dpf_key *k, size_t E, const uint64_t *x, uint8_t *out);
ff_status ff_dpf_eval_lt_cuda(ff_ctx *ctx, const ff_dpf_key *k, size_t E, const uint64_t *x, uint8_t *out);
ff_status ff_dpf_eval_lt(ff_ctx *ctx, const ff_dpf_key *k, size_t E, const uint64_t *x, uint8_t *out);

/* Full-domain evaluation for n <= 16 (FF_EINVAL above): shares of 1{y == alpha[j]} for every
 * y < 2^n. Element j's 2^n bits start at out + j * 2^(n-3) bytes, bit y at byte y/8, bit y%8
 * (N * 2^(n-3) bytes in all). About 2^(n-7) AES per element on the CPU; the CUDA twin walks one
 * path per last-level node (dpf_cuda.cu says why) and needs out 16-byte aligned. */
ff_status ff_dpf_eval_all_cpu(ff_ctx *ctx, const ff_dpf_key *k, uint8_t *out);
ff_status ff_dpf_eval_all_cuda(ff_ctx *ctx, const ff_dpf_key *k, uint8_t *out);
ff_status ff_dpf_eval_all(ff_ctx *ctx, const ff_dpf_key *k, uint8_t *out);

/* Internal, shared with lut.c: host keys k0, k1 (alpha, roots on the host too) made on
 * ctx->keygen_dev's stream by ff_dpf_keygen_cuda: alpha and roots uploaded into stream-ordered scratch,
 * device keys downloaded into k0, k1 (the call waits). FF_EINVAL without a CUDA keygen_dev, FF_ENOTSUP
 * in a build without CUDA. */
ff_status ff__dpf_keygen_staged(ff_ctx *ctx, const uint64_t *alpha, const ff_block *roots, ff_dpf_key *k0,
                                ff_dpf_key *k1);
/* Internal, shared with lut.c: a dealer's (ctx, a host context) both keys of N elements of n bits made on
 * its GPU (ctx->keygen_dev) and left in device memory (d[0], d[1] allocated here; the caller frees them,
 * also on failure): the 2N roots drawn from ctx->rng as ff_dpf_keygen draws them, staged and wiped. Not
 * waited for. FF_EINVAL for a bad n or N (before any draw) or without a CUDA keygen_dev. */
ff_status ff__dpf_keygen_on_dev(ff_ctx *ctx, const char *fn, int n, size_t N, const uint64_t *alpha, ff_dpf_key d[2]);
/* Internal, shared with dcf.c: stream-ordered device scratch on ctx's stream holding a copy of `bytes`
 * host bytes (*out NULL on failure). A copy from pageable memory returns once the bytes are staged, so
 * src may be wiped right after. ff__fss_stage_free releases it on the same stream; NULL is a no-op and
 * so is a failure, which is logged. FF_ENOTSUP in a build without CUDA. */
ff_status ff__fss_stage(ff_ctx *ctx, const char *fn, const void *src, size_t bytes, void **out);
void ff__fss_stage_free(ff_ctx *ctx, void *p);
/* Internal, shared by dpf.c and dpf_cuda.cu: argument checks that log under fn's name. The key
 * must be allocated and in memory `where`; for the evaluations E*N must fit size_t (*total). */
ff_status ff__dpf_key_check(const char *fn, const ff_dpf_key *k, ff_mem where);
ff_status ff__dpf_keygen_check(const char *fn, const uint64_t *alpha, const ff_block *roots, const ff_dpf_key *k0,
                               const ff_dpf_key *k1, ff_mem where);
ff_status ff__dpf_eval_check(const char *fn, const ff_dpf_key *k, ff_mem where, size_t E, const uint64_t *x,
                             const uint8_t *out, size_t *total);
ff_status ff__dpf_eval_all_check(const char *fn, const ff_dpf_key *k, ff_mem where, const uint8_t *out);
/* Internal, shared with sstab.c: a zeroed buffer of `bytes` (rounded up to 16) in the memory of
 * ctx's backend (device memory: stream-ordered from the pool, core/cuda.h ff_dev_alloc, zeroed on ctx's
 * stream), its release (device memory: ordered after the allocating stream's work, no device-wide
 * synchronisation), and a copy between any two memories on ctx's stream that waits for the stream when
 * dst is host memory. */
ff_status ff__fss_buf_alloc(ff_ctx *ctx, const char *fn, size_t bytes, void **buf, ff_mem *where);
void ff__fss_buf_free(void *buf, ff_mem where);
ff_status ff__fss_buf_copy(ff_ctx *ctx, const char *fn, void *dst, ff_mem dst_where, const void *src, ff_mem src_where,
                           size_t bytes);
/* Internal, shared with dcf.c: sets bit i of both keys' control-bit arrays tR with an atomic OR, for the
 * CPU keygens split over threads (two ranges' bits of one level can meet in a byte). */
static inline void ff__fss_set_tr_bit(uint8_t *tr0, uint8_t *tr1, size_t i) {
  const uint8_t m = (uint8_t)(1u << (i & 7));
  __atomic_fetch_or(&tr0[i >> 3], m, __ATOMIC_RELAXED);
  __atomic_fetch_or(&tr1[i >> 3], m, __ATOMIC_RELAXED);
}

#ifdef __cplusplus
}
#endif

#endif
