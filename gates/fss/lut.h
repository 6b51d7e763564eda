/* SIGMA's DPF lookup table (GPU-MPC fss/gpu_lut.cu; research/sigma.md §3 "LUT", §4, §10): a public
 * table T of 2^b entries (8 <= b <= 16) evaluated on a masked b-bit input x^ = x + r_in by
 * full-domain evaluation of a DPF at r_in, a sign fix through two reconstructs (u: 1 bit, v: b_out
 * bits) and a select, giving the masked output T[x] + r_out. Several tables may share one DPF key
 * ("vector payloads"). Tests: tests/test_lut.c, tests/test_lut_cuda.c.
 *
 * The protocol, per element (party p in {0,1}, t_p(y) its DPF share of 1{y == r_in}):
 *   cnt_p = sum_y t_p(y), acc_p = sum_y t_p(y) T[x^ - y]; w_y = (-1)^p t_p(y) as SIGMA, so
 *   u_0 + u_1 = cnt_0 - cnt_1 = s in {+1, -1} and v_0 + v_1 = s T[x].
 *   The bit c = [s == +1] has the XOR shares bit1(cnt_0)^bit0(cnt_0) and bit1(cnt_1) (cnt_0 - cnt_1
 *   = s mod 4 decides it); each party masks it with its share of r_u and adds its share of r_v to v.
 *   Reconstruct u^ = c ^ r_u (1 bit), then v^ = s T[x] + r_v (b_out bits): two exchanges, 2 rounds.
 *   select(u^, v^) gives shares of c*s*T[x] + r_sel, and out = 2 select - v^ = (2c-1) s T[x] +
 *   2 r_sel - r_v = T[x] + r_out since (2c-1) s = s^2 = 1; r_out = 2 r_sel - r_v.
 * With reveal, a third exchange (b_out bits) makes T[x] + r_out public (SIGMA's opMasked = true, the
 * default); without, each party keeps an additive share of the masked output T[x] + r_out, which the
 * caller reconstructs later, fused with its own arithmetic (SIGMA's GELU does that). */
#ifndef FF_GATES_FSS_LUT_H
#define FF_GATES_FSS_LUT_H

#include <stddef.h>
#include <stdint.h>

#include "core/ctx.h"
#include "core/status.h"
#include "core/tensor.h"
#include "gates/fss/cost.h"
#include "gates/fss/dpf.h"
#include "gates/fss/select.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FF_LUT_MIN_BITS 8  /* FF_DPF_MIN_BITS */
#define FF_LUT_MAX_BITS 16 /* FF_DPF_EVAL_ALL_MAX_BITS */

/* One party's LUT keys for N elements and n_tables tables. Its shape depends on (b, b_out,
 * n_tables, N) only, never on the masks.
 * Serialized form (ff_lut_key_serialize), SIGMA's key with the DPF in its evalAll layout:
 *   dpf seed | scw | l0 | l1 (as in dpf.h, 16(b-5)N bytes) | tR as one u32 per element, bit i = level i
 *   (4N bytes) | u_mask ceil(N/8) bytes | select key of n_tables*N elements (40 n_tables N bytes)
 * = 16(b-7)N + 36N + ceil(N/8) + 40 n_tables N bytes: 92.125 B per element at b = 8, 124.125 at
 * b = 10, 172.125 at b = 13 for one table (research/sigma.md §10). In memory the DPF keeps dpf.h's
 * packed tR (ceil((b-7)N/8) bytes); only the serialized form, which is what a key file and the cost
 * count, uses SIGMA's u32 per element. */
typedef struct {
  int b;              /* input bits, 8..16 */
  int b_out;          /* output ring bits, 1..64 */
  int n_tables;       /* tables evaluated against one DPF key, >= 1 */
  size_t N;           /* elements */
  ff_dpf_key dpf;     /* (N) DPF keys at r_in */
  uint8_t *u_mask;    /* ceil(N/8) bytes: this party's XOR share of r_u, bit j for element j */
  ff_select_key sel;  /* (n_tables, N) select keys mod 2^b_out: r_x = r_u, r_y = r_v, r_out = r_sel;
                         sel.b (the share of r_v) is also v's mask share */
  ff_mem where;       /* memory of all three parts */
} ff_lut_key;

/* Serialized bytes (layout above); 0 for bad arguments or overflow. */
size_t ff_lut_key_bytes(int b, int b_out, int n_tables, size_t N);
/* Zeroed key in the memory of ctx's backend. */
ff_status ff_lut_key_alloc(ff_ctx *ctx, ff_lut_key *k, int b, int b_out, int n_tables, size_t N);
/* Copies src into dst (same shape, either memory) on ctx's stream; waits when dst is on the host. */
ff_status ff_lut_key_copy(ff_ctx *ctx, ff_lut_key *dst, const ff_lut_key *src);
void ff_lut_key_free(ff_lut_key *k);
/* Host keys only. deserialize allocates a host key, wants len == ff_lut_key_bytes(...) and refuses
 * (FF_EFORMAT) a tR word with bits set above level b-8. */
ff_status ff_lut_key_serialize(const ff_lut_key *k, void *out, size_t cap);
ff_status ff_lut_key_deserialize(ff_lut_key *k, int b, int b_out, int n_tables, size_t N, const void *in, size_t len);

/* Reads one serialized key (the layout above) into k, allocated beforehand in the memory of ctx's
 * backend with the right shape, piece by piece through get(arg, dst, n), which must fill n bytes of dst
 * (in k's memory) with the next bytes of the serialization: the DPF blocks, u_mask and the select key go
 * straight into k's buffers, the tR words into `scratch` (4N bytes in k's memory) and are packed from
 * there by ff__lut_tr_pack (on ctx's stream for a device key, not waited for). So a party reads a key
 * into device memory with no host copy. The CPU packer refuses (FF_EFORMAT) a word with bits above level
 * b-8, as ff_lut_key_deserialize does; the CUDA packer ignores such bits (the key stream's checks stand
 * for it on that path). */
typedef ff_status (*ff_lut_reader)(void *arg, void *dst, size_t n);
ff_status ff_lut_key_read(ff_ctx *ctx, ff_lut_key *k, ff_lut_reader get, void *arg, uint8_t *scratch);
/* Internal: N little-endian u32 words (bit i = level i) into dpf.h's packed (levels, N) tR bits, every
 * byte of tR written. _cpu: host pointers; _cuda: device pointers, on ctx's stream. */
ff_status ff__lut_tr_pack_cpu(ff_ctx *ctx, size_t N, int levels, const uint8_t *words, uint8_t *tR);
ff_status ff__lut_tr_pack_cuda(ff_ctx *ctx, size_t N, int levels, const uint8_t *words, uint8_t *tR);
/* Internal, its inverse as the serialization writes it: the (levels, N) tR bits as N little-endian u32
 * words (4N bytes into out). Twins as above; a dealer's device path uses the _cuda one
 * (gates/sigma/op_internal.h). */
ff_status ff__lut_tr_words_cpu(ff_ctx *ctx, const uint8_t *tR, int levels, size_t N, uint8_t *out);
ff_status ff__lut_tr_words_cuda(ff_ctx *ctx, const uint8_t *tR, int levels, size_t N, uint8_t *out);
/* Internal: the bytes of a serialized key's DPF blocks ((b - 5) N blocks of 16 bytes), which lead both the
 * serialization and the key's DPF buffer. */
size_t ff__lut_dpf_block_bytes(int b, size_t N);

/* ---- Dealer ------------------------------------------------------------------------------------------
 * Keys of both parties (allocated with the same shape) for the input masks r_in (N values, taken mod
 * 2^b); writes the output masks r_out (n_tables, N) mod 2^b_out. roots are the DPF's (2, N) root
 * seeds (dpf.h); r_u, r_v, r_sel and the shares of the mask bit and of the select key are drawn from
 * ctx->rng on the host (in that order, after any roots the dispatcher draws), so the keys are a
 * function of the arguments and ctx->rng's stream. _cpu: host pointers and keys. _cuda: device
 * pointers and keys; the DPF part is made by ff_dpf_keygen_cuda, the mask and select part (which does
 * not depend on r_in) on the host and uploaded; the call waits for ctx's stream. ff_lut_keygen draws
 * the roots from ctx->rng and picks by ctx->backend; host keys with a CPU context whose keygen_dev is set
 * (a dealer with a GPU, core/ctx.h) get their DPF part from the device through host staging
 * (ff__dpf_keygen_staged), the rest as _cpu: the same bytes. ff_lut_keygen opens FSS::LUT (the dealer's
 * own profile, `keygen --profile`); _cpu and _cuda open no scope. */
ff_status ff_lut_keygen_cpu(ff_ctx *ctx, const uint64_t *r_in, const ff_block *roots, ff_lut_key *k0, ff_lut_key *k1,
                            uint64_t *r_out);
ff_status ff_lut_keygen_cuda(ff_ctx *ctx, const uint64_t *r_in, const ff_block *roots, ff_lut_key *k0, ff_lut_key *k1,
                             uint64_t *r_out);
ff_status ff_lut_keygen(ff_ctx *ctx, const uint64_t *r_in, ff_lut_key *k0, ff_lut_key *k1, uint64_t *r_out);
/* Dealer, for keys that go straight to where they are kept (the LUT twin of dpf.h's ff_dpf_keygen_emit):
 * both parties' serialized keys (the layout above) of N elements for r_in, b input bits, b_out output
 * bits and n_tables tables, handed to emit(arg, p, mem, bytes, where, n) piece by piece in order, party
 * 0's whole key first; r_out (n_tables, N) gets the output masks. ctx is the dealer's host context: with
 * keygen_dev set, the DPF's blocks (16(b-5)N bytes of each key) stay in that GPU's memory (where =
 * FF_MEM_DEVICE, mem = keygen_dev) and the rest (the tR words, u_mask, the select key) are host pieces;
 * without, each key is one host piece. The same keys and the same draws from ctx->rng as ff_lut_keygen
 * followed by ff_lut_key_serialize. Opens FSS::LUT. FF_EINVAL for a CUDA context or bad shapes. */
typedef ff_status (*ff_lut_piece_emit)(void *arg, int p, ff_ctx *mem, const void *bytes, ff_mem where, size_t n);
ff_status ff_lut_keygen_emit(ff_ctx *ctx, int b, int b_out, int n_tables, size_t N, const uint64_t *r_in,
                             uint64_t *r_out, ff_lut_piece_emit emit, void *arg);

/* ---- Kernels (twins as in dpf.h: _cpu host, _cuda device on ctx->stream, plain name dispatches) ---- */

/* The per-element local work of party ctx->party: full-domain DPF evaluation and the sums above.
 * xhat (N) masked inputs (taken mod 2^b); tab (n_tables, 2^b) table entries (taken mod 2^b_out);
 * u (N) gets this party's share of u^ = c ^ r_u (0 or 1); v (n_tables, N) its share of
 * v^ = s T_t[x] + r_v mod 2^b_out. The CPU twin evaluates the DPF in chunks of at most 1 MiB of
 * leaf bits; the CUDA twin in chunks of at most 256 MiB (scratch freed in stream order). */
ff_status ff_lut_eval_local_cpu(ff_ctx *ctx, const ff_lut_key *k, const uint64_t *xhat, const uint64_t *tab,
                                uint64_t *u, uint64_t *v);
ff_status ff_lut_eval_local_cuda(ff_ctx *ctx, const ff_lut_key *k, const uint64_t *xhat, const uint64_t *tab,
                                 uint64_t *u, uint64_t *v);
ff_status ff_lut_eval_local(ff_ctx *ctx, const ff_lut_key *k, const uint64_t *xhat, const uint64_t *tab,
                            uint64_t *u, uint64_t *v);

/* The sign fix after the select: out[i] = 2 out[i] - [party 1] vhat[i] mod 2^b_out, i < n. */
ff_status ff_lut_sign_fix_cpu(ff_ctx *ctx, size_t n, int b_out, const uint64_t *vhat, uint64_t *out);
ff_status ff_lut_sign_fix_cuda(ff_ctx *ctx, size_t n, int b_out, const uint64_t *vhat, uint64_t *out);
ff_status ff_lut_sign_fix(ff_ctx *ctx, size_t n, int b_out, const uint64_t *vhat, uint64_t *out);

/* ---- The gate --------------------------------------------------------------------------------------
 * In scope FSS::LUT: the local kernel, the two reconstructs (u then v, scope Reconstruct), the select
 * and the sign fix, and with `reveal` a third reconstruct. out (n_tables, N): T_t[x] + r_out public
 * (reveal) or this party's additive share of it. Pointers and key in the memory of ctx's backend;
 * ctx->chan must be set. */
ff_status ff_lut_eval(ff_ctx *ctx, const ff_lut_key *k, const uint64_t *xhat, const uint64_t *tab, int reveal,
                      uint64_t *out);

/* Exact cost per party: one table, output revealed (3 rounds, 1 + 2 b_out bits per element). */
void ff_lut_cost(int b, int b_out, size_t N, ff_gate_cost *c);
/* Any number of tables, revealed or not: key ff_lut_key_bytes; sent N + n_tables N b_out bits
 * (+ n_tables N b_out revealed) in 2 (+1) messages; 2 (+1) rounds. */
void ff_lut_cost_vec(int b, int b_out, size_t N, int n_tables, int reveal, ff_gate_cost *c);

/* Internal, shared by lut.c and lut_cuda.cu: argument checks logging under fn's name, and the
 * dealer's mask part on the host (u_mask shares of N elements, host select keys s0/s1 whose r_y and
 * r_out are r_v and r_sel, and r_out = 2 r_sel - r_v), drawn from ctx->rng. */
ff_status ff__lut_key_check(const char *fn, const ff_lut_key *k, ff_mem where);
ff_status ff__lut_keygen_check(const char *fn, const uint64_t *r_in, const ff_block *roots, const ff_lut_key *k0,
                               const ff_lut_key *k1, const uint64_t *r_out, ff_mem where);
ff_status ff__lut_keygen_masks(ff_ctx *ctx, size_t N, uint8_t *u_mask0, uint8_t *u_mask1, ff_select_key *s0,
                               ff_select_key *s1, uint64_t *r_out);
/* Its arithmetic after the draws (twins; TN = n_tables N): the pad bits of u0 (ceil(N/8) bytes) cleared,
 * u1 = r_u ^ u0 with its pad bits clear, r_x[i] = bit (i mod N) of r_u and r_out[i] = 2 r_sel[i] - r_v[i]
 * mod 2^b_out for i < TN. */
ff_status ff__lut_masks_cpu(ff_ctx *ctx, size_t N, size_t TN, int b_out, const uint8_t *r_u, uint8_t *u0,
                            uint8_t *u1, uint64_t *r_x, const uint64_t *r_v, const uint64_t *r_sel, uint64_t *r_out);
ff_status ff__lut_masks_cuda(ff_ctx *ctx, size_t N, size_t TN, int b_out, const uint8_t *r_u, uint8_t *u0,
                             uint8_t *u1, uint64_t *r_x, const uint64_t *r_v, const uint64_t *r_sel, uint64_t *r_out);
ff_status ff__lut_eval_local_check(const char *fn, ff_ctx *ctx, const ff_lut_key *k, ff_mem where,
                                   const uint64_t *xhat, const uint64_t *tab, const uint64_t *u, const uint64_t *v);

#ifdef __cplusplus
}
#endif

#endif
