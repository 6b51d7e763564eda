/* SIGMA's select gate (GPU-MPC fss/gpu_select.cu; research/sigma.md §4 "Select"): from a public
 * masked bit x^ = x ^ r_x and a public masked value y^ = y + r_y mod 2^bw, each party computes an
 * additive share of x*y + r_out with a key of 5 ring elements (40 B at u64 storage) and no
 * interaction; an optional reconstruct (bw bits, 1 round) makes the masked output public.
 * Test: tests/test_lut.c (directly and inside the LUT), tests/test_lut_cuda.c. */
#ifndef FF_GATES_FSS_SELECT_H
#define FF_GATES_FSS_SELECT_H

#include <stddef.h>
#include <stdint.h>

#include "core/ctx.h"
#include "core/status.h"
#include "core/tensor.h"
#include "gates/fss/cost.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FF_SELECT_KEY_ELEMS 5

/* One party's select keys for N elements: additive shares mod 2^bw of
 *   a = r_x, b = r_y, c = r_x*r_y + r_out, d1 = 2*r_x, d2 = -2*r_x*r_y
 * (SIGMA's a, b, c, d1, d2). The share of r_y doubles as the mask share of a value the caller
 * builds locally (the LUT's v). One buffer holds a | b | c | d1 | d2, each (N) u64 little-endian,
 * which is also the serialized form: 40N bytes. `where` says which memory holds it. */
typedef struct {
  int bw;           /* ring bits of y and of the output, 1..64 */
  size_t N;         /* elements */
  uint64_t *a, *b, *c, *d1, *d2; /* (N) each, pointers into buf */
  void *buf;
  size_t bytes;     /* = ff_select_key_bytes(N) */
  ff_mem where;
} ff_select_key;

/* 40N (5 u64 per element); 0 for N = 0 or overflow. */
size_t ff_select_key_bytes(size_t N);
/* A zeroed key in the memory of ctx's backend (FF_EINVAL for a bad bw or N, FF_ENOMEM, FF_ENOTSUP
 * for CUDA in a build without it). */
ff_status ff_select_key_alloc(ff_ctx *ctx, ff_select_key *k, int bw, size_t N);
/* Copies src into dst (same bw and N, either memory) on ctx's stream; waits when dst is on the host. */
ff_status ff_select_key_copy(ff_ctx *ctx, ff_select_key *dst, const ff_select_key *src);
void ff_select_key_free(ff_select_key *k);
/* Host keys only; deserialize allocates a host key and wants len == ff_select_key_bytes(N). */
ff_status ff_select_key_serialize(const ff_select_key *k, void *out, size_t cap);
ff_status ff_select_key_deserialize(ff_select_key *k, int bw, size_t N, const void *in, size_t len);

/* Dealer, on the host: keys of both parties (host keys of the same bw and N) for the masks r_x
 * (N values, bit 0 used), r_y and r_out (N values mod 2^bw). Party 0's shares come from ctx->rng. */
ff_status ff_select_keygen(ff_ctx *ctx, const uint64_t *r_x, const uint64_t *r_y, const uint64_t *r_out,
                           ff_select_key *k0, ff_select_key *k1);
/* The values the keygen shares, vals (5, N) in the key's layout (not reduced): r_x, r_y, r_x r_y + r_out,
 * 2 r_x, -2 r_x r_y (r_x: bit 0). A dealer that shares them elsewhere (a GPU dealer, gates/sigma/op_internal.h)
 * gets the same key as ff_select_keygen by sharing vals mod 2^bw with party 0's shares drawn as there. Twins
 * as below (select_cuda.cu). */
ff_status ff_select_key_values_cpu(ff_ctx *ctx, size_t N, const uint64_t *r_x, const uint64_t *r_y,
                                   const uint64_t *r_out, uint64_t *vals);
ff_status ff_select_key_values_cuda(ff_ctx *ctx, size_t N, const uint64_t *r_x, const uint64_t *r_y,
                                    const uint64_t *r_out, uint64_t *vals);

/* ---- The local kernel (twins as in dpf.h: _cpu host pointers, _cuda device pointers on ctx->stream,
 * the plain name dispatches on ctx->backend) ------------------------------------------------------------
 * Party ctx->party's share of x*y + r_out for each of the k->N elements, mod 2^bw:
 *   out = -a*y^ - b*x^ + c + (1-x^)*(d1*y^ + d2) + [party 1]*x^*y^
 * Element i reads the bit xhat[i % n_bits] (bit 0 of a u64; n_bits divides N, so one bit may serve
 * several values, as the LUT's vector payloads need) and the value yhat[i]. out may alias yhat. */
ff_status ff_select_eval_cpu(ff_ctx *ctx, const ff_select_key *k, size_t n_bits, const uint64_t *xhat,
                             const uint64_t *yhat, uint64_t *out);
ff_status ff_select_eval_cuda(ff_ctx *ctx, const ff_select_key *k, size_t n_bits, const uint64_t *xhat,
                              const uint64_t *yhat, uint64_t *out);
ff_status ff_select_eval(ff_ctx *ctx, const ff_select_key *k, size_t n_bits, const uint64_t *xhat,
                         const uint64_t *yhat, uint64_t *out);

/* The gate, in scope FSS::Select: the local kernel, then, when `reveal`, one reconstruct (bw bits
 * per element, scope Reconstruct) so that out holds the public x*y + r_out; otherwise out holds this
 * party's share of it. Pointers as ctx's backend wants them. */
ff_status ff_select(ff_ctx *ctx, const ff_select_key *k, size_t n_bits, const uint64_t *xhat, const uint64_t *yhat,
                    int reveal, uint64_t *out);

/* Exact cost for N elements: 40N key bytes; bw*N bits and 1 round when revealed, else nothing. */
void ff_select_cost(int bw, size_t N, int reveal, ff_gate_cost *c);

/* ---- Internal, shared by the FSS gates built on select (lut.c) -------------------------------------
 * Buffers on either backend are dpf.h's ff__fss_buf_*. This is a reconstruct of n values of `bits`
 * bits held in memory `where`: one exchange of ff_packed_size(n, bits) bytes each way (one round), then
 * addition mod 2^bits (XOR for one bit). Device memory is packed and added on the device and only the
 * packed bytes are staged, through pinned buffers, piece by piece (select.c); the result is ordered on
 * ctx's stream, not waited for. No scope. The _fields form reconstructs two fields per element in one
 * exchange (comm/pack.h ff_pack_fields: bits_a + bits_b <= 64; b NULL when bits_b is 0). */
ff_status ff__fss_reconstruct(ff_ctx *ctx, ff_mem where, uint64_t *vals, size_t n, int bits);
ff_status ff__fss_reconstruct_fields(ff_ctx *ctx, ff_mem where, uint64_t *a, int bits_a, uint64_t *b, int bits_b,
                                     size_t n);
/* The general form: up to FF_RECON_MAX_SEGS segments of n elements of one or two fields each, whose
 * packed bytes travel one after the other in ONE exchange (segment i starts at the byte where segment
 * i - 1 ends), e.g. suf's 1-bit u beside its bw-bit V. */
#define FF_RECON_MAX_SEGS 4
typedef struct {
  uint64_t *a;
  int bits_a;
  uint64_t *b;
  int bits_b;
  size_t n;
} ff_recon_seg;
ff_status ff__fss_reconstruct_segs(ff_ctx *ctx, ff_mem where, const ff_recon_seg *seg, int nseg);
/* Argument checks of the select kernels, logging under fn's name (select.c, select_cuda.cu). */
ff_status ff__select_eval_check(const char *fn, ff_ctx *ctx, const ff_select_key *k, ff_mem where, size_t n_bits,
                                const uint64_t *xhat, const uint64_t *yhat, const uint64_t *out);
/* The memory kind of ctx's backend. */
static inline ff_mem ff__fss_mem(const ff_ctx *ctx) {
  return ctx->backend == FF_BACKEND_CUDA ? FF_MEM_DEVICE : FF_MEM_HOST;
}

#ifdef __cplusplus
}
#endif

#endif
