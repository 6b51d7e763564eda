/* The suf suite's SPARSE regime (research/suf_spec.md "What we do differently" item 3; suf_origin.md §7
 * B.5, C.10 and D; suf.md §5): FSS::IntervalLookup as one vector-payload DCF per boundary (gates/fss/dcf.h)
 * over K <= 32 public pieces of degree 0 or 1, padded to K + 1 rotated pieces whatever the mask, then
 * public-x^ Horner on dealer-shifted coefficients and ONE reconstruct. CPU reference in sparse.c, CUDA
 * twins of the per-element kernels in sparse_cuda.cu. Tests: tests/test_suf_sparse.c,
 * tests/test_suf_sparse_cuda.c.
 *
 * Specification (public). The input x (bw_in bits) is read on the e-bit view v = x + off mod 2^e
 * (off = 2^(e-1) for a signed view, 0 for an unsigned one). K pieces start at 0 = alpha_0 < alpha_1 < ...
 * < alpha_{K-1} < 2^e on the view; piece i is P_i(x) = a_i + b_i x mod 2^bw, with integer ring slopes b_i.
 * Fixed-point slopes with fb fractional bits put P_i at scale + fb; the gate then applies sigma's exact
 * ARS (TrFloor, gates/sigma/truncate.h) by fb:
 *     y = floor(P_i(x) / 2^fb)   (P_i read as a signed bw-bit value; y = P_i(x) when fb = 0),
 * which is exact ring arithmetic for EVERY input (ff_suf_sparse_emulate computes exactly this). It stands
 * for the function (within err_bound, for the built-ins) on the legal range: the view's range (signed
 * |x| < 2^(e-1), unsigned 0 <= x < 2^e) where no |P_i(x)| reaches 2^(bw-1); ff_suf_sparse_spec_check refuses a
 * specification with fb > 0 for which some piece could, so for the built-ins (whose upper tail is x, slope
 * 2^fb) that is e + fb <= bw and the legal range is the whole view (bw 50, e 38, fb 6: |x| < 2^37).
 *
 * Dealer, per element with mask r (x^ = x + r mod 2^bw_in, rho = r mod 2^e, r_out fresh): rotate the
 * starts by rho (v^ = v + rho), sort, and PAD to exactly M = K + 1 pieces B_0 = 0 < B_1 < ... < B_K
 * (ff_suf_sparse_partition): when no start lands on 0 the piece through 0 wraps and is split there, its
 * payload on both sides; otherwise the first piece of length >= 2 is split at start + 1, its payload
 * duplicated. Nothing is ever deduplicated. Payload of rotated piece j from piece i: the coefficients
 * re-expressed on the public x^,
 *     c0 = a_i - b_i r + r_out,  c1 = b_i   (mod 2^bw; p = 2 words, p = 1 when every b_i = 0),
 * and out(v^) = v_K + sum_{j<K} (v_j - v_{j+1}) 1[v^ < B_{j+1}]: K DCF keys of n = e bits with payload
 * v_j - v_{j+1} (p words, inside the correction words, never in the clear) plus additive shares of v_K.
 * Party: evaluate the K DCFs at v^ (one point each, one batch), add the shares of v_K, then y = c0 + c1 x^
 * locally (= P_i(x) + r_out), open y^ (bw bits): 1 round; with fb > 0 TrFloor follows (4 rounds).
 *
 * Key per party and element (ff_suf_sparse_cost): K (16(e+1) + e/8 + ceil(bw/8) p (e+1)) + p ceil(bw/8)
 * [+ TrFloor(bw, fb)] (the e/8 bytes of bits rounded up once per call); online bw bits [+ TrFloor's
 * 2 + (bw - fb) + bw]. GELU, 16 window pieces + 2 tails
 * (K = 18), bw 50, e 38: degree 0 (p = 2: the upper tail needs x^) 21159.5 B, 50 bits, 1 round;
 * degree 1, fb 6: 21828.375 B, 146 bits, 5 rounds. The length depends on (specification, N) only
 * (tests/test_suf_sparse.c deals 40 times and compares).
 *
 * The ablation `--insecure-no-padding` (insecure_no_padding = 1; a measuring tool, never for use): the
 * dealer emits the rotated partition as it falls, M = K + 1 pieces when the rotation wraps and M = K when
 * a start lands on 0, and writes one bit per element so that the party can parse the keys. The key length
 * then depends on the mask: a rotation that does not wrap says rho = -alpha_i mod 2^e for some i, so the
 * view value v = v^ + alpha_i is one of K candidates given the public v^. Every call logs FF_WARN
 * "insecure: ... key shape depends on the mask", and its tag differs from the padded gate's. Padding
 * costs one DCF key on each element whose rotation does NOT wrap, K / 2^e keys per element on average at
 * uniform masks: nothing measurable at e = 38 (7.7e-8 B per GELU element), 0.4 % of the key on a narrow
 * view (e = 8, K = 18: 14.6 B of 3879 B). Its cost function cannot be exact per mask:
 * ff_suf_sparse_cost gives the bound where every rotation wraps (the padded DCF count plus the bits),
 * ff_suf_sparse_cost_unpadded the exact figure for a given number of non-wrapping elements. */
#ifndef FF_GATES_SUF_SPARSE_H
#define FF_GATES_SUF_SPARSE_H

#include <stddef.h>
#include <stdint.h>

#include "core/ctx.h"
#include "core/status.h"
#include "gates/fss/cost.h"
#include "gates/sigma/op.h"
#include "gates/suf/spec.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FF_SUF_SPARSE_MAX_PIECES 32 /* K, tails included */
#define FF_SUF_SPARSE_FB 6          /* the built-ins' default fractional bits of degree-1 slopes */

/* A sparse specification. A caller may fill the fields marked "in" and call ff_suf_sparse_spec_check;
 * the built-ins come from the template cache (ff_suf_sparse_spec_get). Public throughout. */
typedef struct {
  const char *name;          /* in: "GELU", "SiLU", "nExp", or the caller's */
  ff_suf_fn fn;              /* in: the function approximated; FF_SUF_NFN for a custom table */
  int bw_in, bw;             /* in: ring bits of the input wire and of the output (equal when p = 2) */
  int scale;                 /* in: fractional bits of input and output */
  int e;                     /* in: view width, 1 <= e <= min(bw_in, 63), K < 2^e */
  int is_signed;             /* in: off = 2^(e-1) (1) or 0 (0) */
  int K;                     /* in: pieces, 2..FF_SUF_SPARSE_MAX_PIECES */
  uint64_t alpha[FF_SUF_SPARSE_MAX_PIECES]; /* in: piece starts on the view, alpha[0] = 0, increasing */
  uint64_t a[FF_SUF_SPARSE_MAX_PIECES];     /* in: constant terms mod 2^bw (scale + fb) */
  uint64_t b[FF_SUF_SPARSE_MAX_PIECES];     /* in: slopes mod 2^bw (fb fractional bits) */
  int fb;                    /* in: TrFloor by fb after the lookup (0: none), 0 <= fb < bw */
  int insecure_no_padding;   /* in: 1 = the ablation above (mask-dependent key shape) */
  uint64_t off;              /* derived: the view's offset */
  int p;                     /* derived: payload words, 2 (some b_i != 0) or 1 */
  int degree;                /* derived: p - 1 */
  uint64_t hash;             /* derived: FNV-1a of the table (part of the gate's tag) */
  /* Built-ins only (0 for custom tables): the clip window [w_lo, w_hi) in input ulps cut into k_window
   * nearly equal pieces, the tails being pieces of their own; the float error over the legal range. */
  int k_window;
  int window_degree;         /* the window pieces' degree (0 or 1); `degree` counts the upper tail x too */
  int64_t w_lo, w_hi;
  double lipschitz;          /* max |f'| over the window (sampled secants, +1%) */
  double tail;               /* max |f - tail piece| outside the window, over the legal range */
  double err_inside;         /* bound inside the window: max over pieces of the sampled |L_i - f| + (|b_i| +
                                lipschitz) h / 2 (h the sample spacing), + 2^-(scale+1) when fb > 0 (the
                                rounded ARS) */
  double err_bound;          /* max(err_inside, tail): stated bound on |y - f(x)| over the legal range */
} ff_suf_sparse_spec;

/* Checks the "in" fields (FF_EINVAL with a message: widths, e, K < 2^e, starts, words reduced mod 2^bw,
 * bw_in = bw when some slope is nonzero, and for fb > 0 that no piece reaches 2^(bw-1) on its part of
 * the view) and fills the derived ones. */
ff_status ff_suf_sparse_spec_check(ff_suf_sparse_spec *sp);

/* The built-ins: GELU and SiLU (signed view, window +-4 / +-16, 0 below, x above: K = k_window + 2) and
 * nExp (unsigned view, window [0, 16), 0 above: K = k_window + 1). Degree 0: each window piece the value
 * at its midpoint, fb = 0. Degree 1: each window piece the least-squares line on it, slope rounded to fb
 * fractional bits, constant rounded at scale + fb plus 2^(fb-1) so that the ARS rounds to nearest. */
typedef struct {
  ff_suf_fn fn;
  int bw_in, bw, scale, e;
  int k_window;              /* window pieces, 1..FF_SUF_SPARSE_MAX_PIECES - 2 (suf_spec.md: <= 16) */
  int degree;                /* 0 or 1 */
  int fb;                    /* 0 for degree 0; for degree 1, 0..20 (FF_SUF_SPARSE_FB by default) */
  int insecure_no_padding;
} ff_suf_sparse_params;

/* The template cache: compiled at the first request, kept for the process (thread-safe). NULL (logged)
 * for parameters that do not fit (those of ff_suf_sparse_spec_check, a window not narrower than the
 * view, a window piece narrower than one ulp, GELU/SiLU with bw_in != bw). */
const ff_suf_sparse_spec *ff_suf_sparse_spec_get(const ff_suf_sparse_params *p);

/* The sparse GELU or SiLU a suite configuration asks for (ff_suf_config_sparse): k_window =
 * SUF_*_INTERVALS, degree SUF_DEGREE (fb FF_SUF_SPARSE_FB for degree 1), e = ff_suf_config_e (at most bw),
 * bw_in = bw, and the --insecure-no-padding ablation when cfg asks for it. NULL (logged) when fn is not
 * sparse under cfg or the parameters do not fit. */
const ff_suf_sparse_spec *ff_suf_sparse_spec_for(ff_suf_fn fn, const ff_suf_config *cfg, int bw, int scale);

/* The cleartext emulation on N inputs (x mod 2^bw_in, y mod 2^bw): exactly what the gate outputs. */
void ff_suf_sparse_emulate(const ff_suf_sparse_spec *sp, size_t N, const uint64_t *x, uint64_t *y);
/* x as the real number the specification reads it as (signed or unsigned, / 2^scale). */
double ff_suf_sparse_input_real(const ff_suf_sparse_spec *sp, uint64_t x);

/* The dealer's rotated partition for view mask rho: starts (ascending, starts[0] = 0) and the original
 * piece of each rotated piece, M entries (<= K + 1); returns M. pad = 1: always K + 1 (the gate);
 * pad = 0: K + 1 when the rotation wraps, K when a start lands on 0 (the ablation). */
int ff_suf_sparse_partition(const ff_suf_sparse_spec *sp, uint64_t rho, int pad, uint64_t *starts, int *piece);

/* ---- Kernels (twins: _cpu host pointers; _cuda device pointers on ctx->stream (sparse_cuda.cu, FF_ENOTSUP
 * without CUDA); the plain name dispatches on ctx->backend). sp is a host pointer in every twin.
 * The Nk DCF keys of a call are laid out boundary-major when padded (offs NULL: key j of element i at
 * j N + i, Nk = K N) and element-major by offsets for the ablation (offs (N + 1): element i's keys at
 * offs[i] .. offs[i+1) - 1, Nk = offs[N]). ---- */
/* pts (Nk): each key's evaluation point v^ = x^ + off mod 2^e of its element. */
ff_status ff_suf_sparse_points_cpu(ff_ctx *ctx, const ff_suf_sparse_spec *sp, size_t N, const uint64_t *xhat,
                                   const uint64_t *offs, size_t Nk, uint64_t *pts);
ff_status ff_suf_sparse_points_cuda(ff_ctx *ctx, const ff_suf_sparse_spec *sp, size_t N, const uint64_t *xhat,
                                    const uint64_t *offs, size_t Nk, uint64_t *pts);
ff_status ff_suf_sparse_points(ff_ctx *ctx, const ff_suf_sparse_spec *sp, size_t N, const uint64_t *xhat,
                               const uint64_t *offs, size_t Nk, uint64_t *pts);
/* y (N): this party's share of P_i(x) + r_out = c0 + c1 x^ mod 2^bw, c = base + the sum of the element's DCF
 * outputs; dcf (p, Nk) as ff_dcf_eval writes them for E = 1, base (p, N) the shares of v_K. */
ff_status ff_suf_sparse_combine_cpu(ff_ctx *ctx, const ff_suf_sparse_spec *sp, size_t N, const uint64_t *xhat,
                                    const uint64_t *offs, size_t Nk, const uint64_t *dcf, const uint64_t *base,
                                    uint64_t *y);
ff_status ff_suf_sparse_combine_cuda(ff_ctx *ctx, const ff_suf_sparse_spec *sp, size_t N, const uint64_t *xhat,
                                     const uint64_t *offs, size_t Nk, const uint64_t *dcf, const uint64_t *base,
                                     uint64_t *y);
ff_status ff_suf_sparse_combine(ff_ctx *ctx, const ff_suf_sparse_spec *sp, size_t N, const uint64_t *xhat,
                                const uint64_t *offs, size_t Nk, const uint64_t *dcf, const uint64_t *base,
                                uint64_t *y);

/* ---- The gate ------------------------------------------------------------------------------------------
 * y = the specification of x (x->bw == sp->bw_in; y gets sp->bw bits, x's shape) in the three roles of
 * the op API. Runs in the caller's scope (the wrappers of a model open Activation::...); the lookup in
 * FSS::IntervalLookup, then Reconstruct, then TruncRescale when fb > 0. Tag FF__SG_SUF_SPARSE (a = fn |
 * degree << 8 | fb << 16 | insecure << 24, b = K, d = {N, e | p << 8 | signed << 16 | bw_in << 24 |
 * bw << 32, the table's hash}). */
ff_status ff_op_suf_sparse(ff_op *op, const ff_suf_sparse_spec *sp, const ff_wire *x, ff_wire *y);

/* Exact per-party cost of N elements (both parties alike), see above; for the ablation, the bound where
 * every rotation wraps (K keys per element, as padded) plus its ceil(N/8) bytes of piece counts. */
void ff_suf_sparse_cost(const ff_suf_sparse_spec *sp, size_t N, ff_gate_cost *c);
/* The ablation's exact cost when n_nowrap of the N elements' rotations do not wrap (K - 1 keys each). */
void ff_suf_sparse_cost_unpadded(const ff_suf_sparse_spec *sp, size_t N, size_t n_nowrap, ff_gate_cost *c);

#ifdef __cplusplus
}
#endif

#endif
