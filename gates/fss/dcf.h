/* Distributed comparison functions with a vector arithmetic payload: f(x) = beta if x < alpha else 0,
 * beta a vector of p words of Z_2^bw, shared additively (Boyle, Chandran, Gilboa, Gupta, Ishai, Kumar,
 * Rathee, "Function Secret Sharing for Mixed-Mode and Fixed-Point Secure Computation", Eurocrypt 2021,
 * Fig. 1, on BGI16's GGM tree). Batched over N elements, one secret (alpha, beta) each; CPU reference
 * in dcf.c, CUDA twins in dcf_cuda.cu. Test: tests/test_dcf.c, tests/test_dcf_cuda.c (CUDA vs CPU). */
#ifndef FF_GATES_FSS_DCF_H
#define FF_GATES_FSS_DCF_H

#include <stddef.h>
#include <stdint.h>

#include "core/ctx.h"
#include "core/status.h"
#include "core/tensor.h"
#include "gates/fss/prg.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FF_DCF_MIN_BITS 1
#define FF_DCF_MAX_BITS 64
#define FF_DCF_MAX_WORDS 8 /* payload words p per element */

/* ---- The construction --------------------------------------------------------------------------------
 * A GGM tree of n levels (no early termination), inputs MSB first. Every node holds a seed whose bit 0
 * is its control bit t; a party at a node with seed s expands u = s with bit 0 cleared into, for each
 * child side d (0 left, 1 right, the PRG keys k0, k1 of prg.h):
 *   child seed  c_d      = AES_kd(u) ^ u                    (ff_prg_expand: the DPF's own expansion)
 *   value block V_d[m]   = AES_kd(u ^ T_m) ^ u ^ T_m,  m = 1 .. h,  h = ceil(p/2)
 * with the tweak T_m the block whose hi word is m (lo word 0), so every AES input is u or u plus a
 * tweak in bits 64..66 under the same two fixed keys: no new key schedule, and domain separation from
 * the seed expansion by the tweak. Convert (BCGGIKR21's map from strings to the group): payload word w
 * of side d is the lo (w even) or hi (w odd) half of V_d[w/2 + 1], reduced mod 2^bw. The final
 * conversion of a leaf seed s^(n) is its side-0 value blocks, Convert(s^(n)) = words of V_0(s^(n)).
 *
 * Keygen (Fig. 1; both parties' paths along alpha; sigma = (-1)^t1, t1 party 1's control bit at the
 * node; Keep = alpha's bit, Lose the other side; V_alpha the shares accumulated along alpha's path):
 *   seed CW  = c_0^Lose ^ c_1^Lose (seed part)      tL CW = t_0^L ^ t_1^L ^ alpha_i ^ 1
 *   value CW = sigma (v_1^Lose - v_0^Lose - V_alpha) [+ sigma beta when Lose = L]
 *                                                   tR CW = t_0^R ^ t_1^R ^ alpha_i
 *   V_alpha += v_0^Keep - v_1^Keep + sigma value CW
 * and the final CW = (-1)^t1 (Convert(s_1^(n)) - Convert(s_0^(n)) - V_alpha) at the leaf.
 * Evaluation by party b along x's path: y += (-1)^b (v^x_i + t value CW) per level, and
 * y += (-1)^b (Convert(s^(n)) + t final CW) at the leaf. Leaving alpha's path to the left at level i
 * (x_i = 0 < alpha_i = 1, i.e. x < alpha) adds beta; leaving to the right or staying on the path to the
 * leaf adds 0; off the path both parties' seeds and control bits agree and their terms cancel.
 *
 * The party: the root control bit is the party's index, t_b^(0) = b (bit 0 of the root seed, as in
 * Fig. 1), and the sign (-1)^b is read from it. Evaluation therefore needs no party argument and
 * ignores ctx->party: a key evaluates as its own party's whatever context runs it. */

/* One party's keys for N elements: n-bit inputs, p payload words in Z_2^bw. Word-valued arrays store
 * each word as W = ceil(bw/8) little-endian bytes (the word mod 2^bw; the bits above bw are zero).
 * Arrays are element-major stripes (the value of level i for element j at [i*N + j]) so that one GPU
 * thread per element reads coalesced. All arrays live in one buffer, in this order, which is also the
 * serialized form (little-endian):
 *   seed (N) blocks | scw (n, N) blocks | tR ceil(nN/8) bytes | vcw (n, p, N) words | fcw (p, N) words
 * so ff_dcf_key_bytes(n, p, bw, N) = 16(n+1)N + ceil(nN/8) + W p (n+1) N bytes, i.e. per element
 *   16(n+1) + n/8 + ceil(bw/8) p (n+1) bytes
 * (the tR bits are packed across elements and rounded up once per batch): 1174.75 B at n = 38, p = 2,
 * bw = 50 and 901.75 B at n = 38, p = 1, bw = 50. The size depends on (n, p, bw, N) only, never on
 * alpha or beta. The buffer is allocated rounded up to a multiple of 16 bytes (zero, not part of the
 * key). `where` says which memory holds it; the pointers below point into it (device pointers when
 * FF_MEM_DEVICE). */
typedef struct {
  int n;           /* input bits, 1..64; inputs and alpha are taken mod 2^n */
  int p;           /* payload words per element, 1..8 */
  int bw;          /* payload ring bits, 1..64 */
  size_t N;        /* elements */
  ff_block *seed;  /* (N) root seeds; bit 0 is the root control bit = this key's party (0 or 1) */
  ff_block *scw;   /* (n, N) seed CWs of levels 0..n-1; bit 0 holds the left control CW tL */
  uint8_t *tR;     /* (n, N) bits, bit i*N + j (LSB first): right control CW of level i of element j */
  uint8_t *vcw;    /* (n, p, N) words: value CW of level i, payload word w of element j at [(i*p + w)*N + j] */
  uint8_t *fcw;    /* (p, N) words: final CW, word w of element j at [w*N + j] */
  void *buf;       /* the one allocation holding all of the above */
  size_t bytes;    /* = ff_dcf_key_bytes(n, p, bw, N) */
  ff_mem where;    /* FF_MEM_HOST or FF_MEM_DEVICE */
} ff_dcf_key;

/* Bytes of one stored payload word: ceil(bw/8); 0 when bw is outside 1..64. */
size_t ff_dcf_word_bytes(int bw);
/* Exact serialized size of one party's key for N elements (formula above). 0 when n, p or bw is out
 * of range, N is 0 or the size overflows size_t. */
size_t ff_dcf_key_bytes(int n, int p, int bw, size_t N);

/* Allocates a zeroed key in the memory of ctx's backend (host on the CPU, device on CUDA, zeroed in
 * order on ctx's stream). FF_EINVAL for a bad shape, FF_ENOMEM, FF_ENOTSUP for CUDA without it. */
ff_status ff_dcf_key_alloc(ff_ctx *ctx, ff_dcf_key *k, int n, int p, int bw, size_t N);
/* Copies src's buffer into dst (same shape, any two memories) on ctx's stream; waits for the stream
 * when dst is host memory (as ff_dpf_key_copy). */
ff_status ff_dcf_key_copy(ff_ctx *ctx, ff_dcf_key *dst, const ff_dcf_key *src);
/* Frees k's buffer (host or device) and zeroes k; safe on a zeroed or already freed key. */
void ff_dcf_key_free(ff_dcf_key *k);
/* Writes k's serialized form (k->bytes bytes); FF_ERANGE when cap is smaller. Host keys only. */
ff_status ff_dcf_key_serialize(const ff_dcf_key *k, void *out, size_t cap);
/* Allocates a host key k and reads a key of the given shape from in; FF_EFORMAT unless len is exactly
 * ff_dcf_key_bytes(n, p, bw, N), when the root control bits disagree (all roots of one key carry its
 * party) or when a stored word has bits set above bw. */
ff_status ff_dcf_key_deserialize(ff_dcf_key *k, int n, int p, int bw, size_t N, const void *in, size_t len);

/* ---- Kernels ----------------------------------------------------------------------------------------
 * As in dpf.h: ff_X_cpu (the reference; host pointers and keys), ff_X_cuda (device pointers and keys,
 * enqueued on ctx->stream, returning without waiting) and ff_X, which picks by ctx->backend. CPU and
 * CUDA give byte-identical keys and outputs (tests/test_dcf_cuda.c). In a build without CUDA the
 * _cuda functions log an error and return FF_ENOTSUP. */

/* Dealer: keys of both parties for f_j(x) = beta_j * 1{x < alpha[j] mod 2^n}, j < N. alpha is (N);
 * beta is (p, N): word w of element j's payload at beta[w*N + j], taken mod 2^bw. k0 and k1 must be
 * allocated with the same shape. roots is (2, N): party 0's root seeds, then party 1's; keygen sets
 * the root control bits to 0 and 1 (ignoring the given bit 0). The keys are a deterministic function
 * of alpha, beta and roots. The CPU version splits the elements over the CPUs the process may use
 * (core/ctx.h ff_parallel_for; the same bytes for any split: tests/test_dcf.c). The CUDA twin runs one
 * thread per element and writes the tR bits through a stream-ordered scratch of n*N bytes (no atomics);
 * roots must be 16-byte aligned. */
ff_status ff_dcf_keygen_cpu(ff_ctx *ctx, const uint64_t *alpha, const uint64_t *beta, const ff_block *roots,
                            ff_dcf_key *k0, ff_dcf_key *k1);
ff_status ff_dcf_keygen_cuda(ff_ctx *ctx, const uint64_t *alpha, const uint64_t *beta, const ff_block *roots,
                             ff_dcf_key *k0, ff_dcf_key *k1);
/* As above with the 2N roots drawn from ctx->rng on the host (uploaded for CUDA through a temporary
 * device buffer freed in stream order), so both backends make the same keys from the same rng state.
 * Host keys with a CPU context whose keygen_dev is set (a dealer with a GPU, core/ctx.h) are made by
 * ff_dcf_keygen_cuda on that context's stream through host staging: the same bytes again. Opens no
 * scope: keygen is the dealer's. */
ff_status ff_dcf_keygen(ff_ctx *ctx, const uint64_t *alpha, const uint64_t *beta, ff_dcf_key *k0, ff_dcf_key *k1);

/* Evaluation at E public points per element: point e of element j is x[e*N + j] (taken mod 2^n). The
 * result is (E, p, N) ring words mod 2^bw, one uint64_t each: word w of point e of element j at
 * out[(e*p + w)*N + j]. Party 0's word + party 1's word = beta_j[w] * 1{x < alpha_j} mod 2^bw.
 * n (1 + ceil(p/2)) + ceil(p/2) AES per point. The dispatcher bills the scope FSS::DCF. */
ff_status ff_dcf_eval_cpu(ff_ctx *ctx, const ff_dcf_key *k, size_t E, const uint64_t *x, uint64_t *out);
ff_status ff_dcf_eval_cuda(ff_ctx *ctx, const ff_dcf_key *k, size_t E, const uint64_t *x, uint64_t *out);
ff_status ff_dcf_eval(ff_ctx *ctx, const ff_dcf_key *k, size_t E, const uint64_t *x, uint64_t *out);

/* Internal, shared by dcf.c and dcf_cuda.cu: argument checks that log under fn's name. The keys must
 * be allocated and in memory `where`; for evaluation E*N*p words must fit memory (*total = E*N). */
ff_status ff__dcf_key_check(const char *fn, const ff_dcf_key *k, ff_mem where);
ff_status ff__dcf_keygen_check(const char *fn, const uint64_t *alpha, const uint64_t *beta, const ff_block *roots,
                               const ff_dcf_key *k0, const ff_dcf_key *k1, ff_mem where);
ff_status ff__dcf_eval_check(const char *fn, const ff_dcf_key *k, ff_mem where, size_t E, const uint64_t *x,
                             const uint64_t *out, size_t *total);

#ifdef __cplusplus
}
#endif

#endif
