/* SIGMA's truncations (GPU-MPC fss/gpu_truncate.cu; research/sigma.md §4 rows "TrFloor" and
 * "TrWithSlack", §10): exact arithmetic shift right (TrFloor, after every multiplication) and the
 * cheaper shift that relies on slack in the input (TrWithSlack, inside the nonlinear gates). Both run
 * in scope TruncRescale. CPU reference in truncate.c, CUDA twins of the kernels in sigma_cuda.cu.
 * Test: tests/test_sigma_gates.c, tests/test_sigma_cuda.c (CUDA parties against CPU parties).
 *
 * Both are built from one "TR stage" (x^ = x + r mod 2^bw_in, public constant `add`, shift s):
 *   x' = x + add, x^' = x^ + add = x' + r;  as integers x' = x^' - r + 2^bw_in [x^' < r], so
 *   x' >> s = (x^' >> s) - (r >> s) - c + 2^(bw_in - s) [x^' < r],   c = [x^' mod 2^s < r mod 2^s].
 * The dealer gives a comparison key DCF(n) at r mod 2^n plus a mask bit m; the parties reconstruct
 * c^ = c ^ m (1 bit), and the 2-entry correction K[c^] = -(r >> s) + coef*(c^ ^ m) + cst + r_out
 * (two ring elements, shared) finishes the masked output, which one more reconstruct makes public.
 *   TrFloor stage 1 (TR):  add 0, n = s, output mod 2^(bw-s) where the wrap term vanishes, coef -1.
 *   TrFloor stage 2 (sign extension of y in m = bw-s bits): add 2^(m-1), shift 0, n = m, so c is
 *     the wrap itself: z = y + 2^(m-1) mod 2^m = z^ - r1 + 2^m c, and signed_m(y) = z - 2^(m-1);
 *     coef 2^m, cst -2^(m-1), output mod 2^bw. Together: floor(x / 2^s) exactly, for every x.
 *   TrWithSlack: add 2^(bw-2). When -2^(bw-2) <= x < 2^(bw-2), x' lies in [0, 2^(bw-1)), its MSB is
 *     0, and the full wrap is [x^' < r] = msb(r) & !msb(x^'): a third key element W = 2^(bw-s) msb(r)
 *     (shared) times the public 1 - msb(x^') replaces SIGMA's second DCF. cst -2^(bw-2-s) removes the
 *     slack again. Outside that range the output is wrong (SIGMA's precondition, not checked). */
#ifndef FF_GATES_SIGMA_TRUNCATE_H
#define FF_GATES_SIGMA_TRUNCATE_H

#include <stddef.h>
#include <stdint.h>

#include "core/ctx.h"
#include "core/status.h"
#include "gates/fss/cost.h"
#include "gates/sigma/op.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One TR stage's public parameters (see above). */
typedef struct {
  int bw_in;      /* ring bits of the input */
  uint64_t add;   /* public constant added to x^ first, mod 2^bw_in */
  int shift;      /* s: low bits dropped (0 for the sign extension) */
  int n_cmp;      /* bits of the comparison: s, or bw_in when shift is 0 */
  int bw_out;     /* ring bits of the output */
  uint64_t coef;  /* the comparison bit's coefficient mod 2^bw_out: -1 (borrow) or 2^m (wrap) */
  uint64_t cst;   /* public constant folded into the correction by the dealer */
  int slack;      /* 1: the key has the third element W (TrWithSlack) */
} ff_sigma_tr_params;

/* ---- Kernels: ff_X_cpu (host pointers), ff_X_cuda (device pointers, enqueued on ctx->stream without
 * waiting; sigma_cuda.cu; FF_ENOTSUP in a build without CUDA), ff_X dispatching on ctx->backend.
 * CPU and CUDA give identical outputs (tests/test_sigma_cuda.c). -------------------------------------- */

/* pts[i] = ((x^[i] + add) mod 2^bw_in) mod 2^n_cmp: the comparison points. */
ff_status ff_sigma_tr_points_cpu(ff_ctx *ctx, const ff_sigma_tr_params *p, size_t N, const uint64_t *xhat,
                                 uint64_t *pts);
ff_status ff_sigma_tr_points_cuda(ff_ctx *ctx, const ff_sigma_tr_params *p, size_t N, const uint64_t *xhat,
                                  uint64_t *pts);
ff_status ff_sigma_tr_points(ff_ctx *ctx, const ff_sigma_tr_params *p, size_t N, const uint64_t *xhat,
                             uint64_t *pts);
/* Party ctx->party's share of the masked output, mod 2^bw_out:
 *   out = [party 1] (x^' >> s) + K[c^][i] (+ (1 - msb(x^')) W[i] with slack)
 * chat (N) the public masked comparison bits; key (2 or 3, N): K0 | K1 | W. */
ff_status ff_sigma_tr_local_cpu(ff_ctx *ctx, const ff_sigma_tr_params *p, size_t N, const uint64_t *xhat,
                                const uint64_t *chat, const uint64_t *key, uint64_t *out);
ff_status ff_sigma_tr_local_cuda(ff_ctx *ctx, const ff_sigma_tr_params *p, size_t N, const uint64_t *xhat,
                                 const uint64_t *chat, const uint64_t *key, uint64_t *out);
ff_status ff_sigma_tr_local(ff_ctx *ctx, const ff_sigma_tr_params *p, size_t N, const uint64_t *xhat,
                            const uint64_t *chat, const uint64_t *key, uint64_t *out);

/* Dealer: the correction words key (2 or 3, N) = K0 | K1 | W of N elements from the input masks r (N,
 * bw_in bits), the mask bits m (N, 0 or 1) and the output masks r_out (N), mod 2^bw_out:
 *   K[c] = -(r >> s) + cst + r_out + coef (m ^ c),  W = 2^(bw_in - s) msb(r)  (with slack).
 * _cuda in device memory (a dealer with a GPU, its keygen_dev context; gates/sigma/op_internal.h). */
ff_status ff_sigma_tr_deal_cpu(ff_ctx *ctx, const ff_sigma_tr_params *p, size_t N, const uint64_t *r,
                               const uint64_t *m, const uint64_t *r_out, uint64_t *key);
ff_status ff_sigma_tr_deal_cuda(ff_ctx *ctx, const ff_sigma_tr_params *p, size_t N, const uint64_t *r,
                                const uint64_t *m, const uint64_t *r_out, uint64_t *key);

/* ---- Gates (scope TruncRescale) ---------------------------------------------------------------------
 * TrFloor: y = floor(x / 2^s) on the signed value of x, exactly, same width; 1 <= s <= bw-1.
 * TrWithSlack: y = floor(x / 2^s) mod 2^b_out for -2^(bw-2) <= x < 2^(bw-2); 1 <= s <= bw-2,
 * 1 <= b_out <= 64. y is allocated (free with ff_wire_free). */
ff_status ff_op_trfloor(ff_op *op, const ff_wire *x, int s, ff_wire *y);
ff_status ff_op_trslack(ff_op *op, const ff_wire *x, int s, int b_out, ff_wire *y);

/* Exact per-party cost for N elements (sigma.md §4):
 *   TrFloor: DCF(s) + DCF(bw-s) + 2 (N/8 mask bytes + 16N) = 676.75 B/elem at bw 50, s 12;
 *            1 + (bw-s) + 1 + bw bits (90), 4 rounds.
 *   TrWithSlack: DCF(s) + N/8 + 24N = 136.75 B/elem (s 12), 32.125 (s 6); 1 + b_out bits, 2 rounds.
 * DCF(n) = 16(n-7) + 32 + (n-7)/8 B for n >= 8, else a truth table of max(1, 2^n/8) B; fractional
 * bytes are rounded up once per batch (exact for N a multiple of 8). */
void ff_sigma_trfloor_cost(size_t N, int bw, int s, ff_gate_cost *c);
void ff_sigma_trslack_cost(size_t N, int bw, int s, int b_out, ff_gate_cost *c);

/* Internal, for gates that end in a truncation (mul, matmul): TrFloor without its own tag and
 * bracket, in scope TruncRescale. */
ff_status ff__sigma_trfloor_run(ff_op *op, const ff_wire *x, int s, ff_wire *y);
/* Internal: TrWithSlack with SIGMA's narrow key words, ceil(b_out / 8) bytes per correction element
 * (u8 / u16 where b_out <= 8 / 16; the softmax's 16 -> 8 and inverse truncations): DCF(s) + N/8 +
 * 3 ceil(b_out/8) N B. Same tag as ff_op_trslack with d[1] = the word bytes. */
ff_status ff__sigma_trslack_narrow(ff_op *op, const ff_wire *x, int s, int b_out, ff_wire *y);
void ff__sigma_trslack_narrow_cost(size_t N, int bw, int s, int b_out, ff_gate_cost *c);

#ifdef __cplusplus
}
#endif

#endif
