/* Internal to gates/sigma: the op session's fields and the helpers every gate uses (key stream
 * framing and accounting, additive sharing, the masked comparison built on gates/fss). Not a public
 * header. Test: tests/test_sigma_gates.c. */
#ifndef FF_GATES_SIGMA_OP_INTERNAL_H
#define FF_GATES_SIGMA_OP_INTERNAL_H

#include "comm/chan.h"
#include "gates/fss/lut.h"
#include "gates/sigma/op.h"
#include "scope/scope.h"

#define FF__OP_TABLES 16 /* distinct public tables one graph uses (GELU, SiLU, nExp, reciprocal, rsqrt, rotary) */

struct ff_op {
  ff_op_role role;
  int bw, scale;
  int party;                /* party role: 0 or 1; else -1 */
  ff_ctx *ctx;              /* the caller's, or &host for a dealer on a CUDA context */
  ff_ctx host;              /* dealer on CUDA: the host context the gates see (ff_op_create) */
  ff_keystream *keys[2];
  ff_gate_cost cost[2];
  void (*on_cost)(void *arg, const ff_gate_cost c[2]); /* cost-only: told of every charge */
  void *on_cost_arg;
  uint64_t tag_bytes[2];
  uint64_t dev_put[2];      /* dealer: key bytes written from device memory (ff__op_put_device), per party */
  uint64_t dev_down[2];     /* dealer: of those, the bytes downloaded (none into a stream that keeps none) */
  int depth;                /* nesting of op calls: only the outermost charges the channel's deltas */
  ff_comm_delta comm0;      /* the thread's channel totals when the outermost op call began */
  uint8_t *stage;           /* CUDA party: host staging buffer for key uploads (grown on demand) */
  size_t stage_cap;
  ff_op_key_placement placement; /* party role; FF_KEYS_STREAM otherwise */
  ff_ctx *deal_ctx;         /* dealer: where its device path works (ff__op_deal_dev), or NULL */
  uint64_t dev_path_B[2];   /* dealer: key bytes its device path made, per party */
  int preloaded;            /* FF_KEYS_PRELOAD: the image below is loaded */
  int img_pinned;           /* img is cudaHostAlloc'd (CUDA party) */
  uint8_t *img;             /* FF_KEYS_PRELOAD: the host image of the keys (img_len bytes) */
  void *dimg;               /* FF_KEYS_PRELOAD, CUDA party: the device image (img_len bytes) */
  uint64_t img_len, img_pos;/* image size and cursor (bytes served so far) */
  struct {                  /* public tables, made once per op in ff__op_mem(op) (ff__op_table) */
    uint32_t key[4];
    uint64_t x;
    size_t n;
    uint64_t *v;
  } tables[FF__OP_TABLES];
  int n_tables;
};

/* Gate ids in the tags (never reorder: they are part of key files). */
typedef enum {
  FF__SG_INPUT = 1,
  FF__SG_OUTPUT = 2,
  FF__SG_TRFLOOR = 3,
  FF__SG_TRSLACK = 4,
  FF__SG_DRELU = 5,
  FF__SG_RELU = 6,
  FF__SG_MUL = 7,
  FF__SG_MATMUL = 8,
  FF__SG_MATMUL_EX = 9, /* linear.h ff_op_matmul_ex: a = shift, b = causal, d = {B, M, K 2^32 + N} */
  FF__SG_GELU = 16,   /* GELU and SiLU (gelu.h): parameter a = clip bits (8 / 10), b = scale */
  FF__SG_SOFTMAX = 24, /* softmax.h: parameter a = scale, b = causal, R rows of n in d[0], d[1]; d[2] the
                          options: inv_bits when not SIGMA's k - 6, | 2^8 when nExp is hooked (0: SIGMA's) */
  FF__SG_LAYERNORM = 32, /* layernorm.h: parameter a = scale, R rows of d in d[0], d[1]; d[2] rsqrt_bits
                            when not SIGMA's 13 (else 0) */
  FF__SG_RMSNORM = 33,   /* layernorm.h: as LayerNorm */
  FF__SG_ROTARY = 40,    /* rotary.h: parameter a = fractional bits of the table */
  FF__SG_SUF = 48,       /* gates/suf/suf.h: a = function, b = k, d = {N, e | s << 8 | kl << 16, bw_in | bw << 8} */
  FF__SG_SUF_SPARSE = 49, /* gates/suf/sparse.h: a = function | degree, fb, insecure; b = K; d = {N, shape, hash} */
} ff__sg_gate;

/* One op call: the tag (below) and the bracket that charges the channel's deltas to the party. */
typedef struct {
  uint32_t gate, bw, a, b;
  uint64_t d[3];
} ff__sg_tag;

/* Dealer: writes the tag into both streams. Party: reads its stream's tag and compares
 * (FF_EMISMATCH naming both ops; FF_ERANGE when the stream is exhausted). Cost-only: nothing.
 * A CUDA party gets FF_ENOTSUP for a gate not listed in op.c's ff__sg_on_cuda (no CUDA twins yet). */
ff_status ff__op_tag(ff_op *op, const ff__sg_tag *t);
/* ff_op_matmul's gate, run by linear.c's batched matmul with B = 1 and ff_op_matmul's tag; the caller
 * has checked the shapes and opened the Linear scope. */
ff_status ff__sigma_matmul_plain(ff_op *op, const ff_wire *x, const ff_wire *w, ff_wire *y);
/* Opens/closes an op call (party role: channel deltas to cost[party] at the outermost level). */
void ff__op_enter(ff_op *op);
void ff__op_leave(ff_op *op);
/* Cost-only role: adds c[0], c[1]. */
void ff__op_charge(ff_op *op, const ff_gate_cost c[2]);
/* Symmetric gates: both parties pay c. */
void ff__op_charge_both(ff_op *op, const ff_gate_cost *c);

/* Dealer: n raw key bytes into party p's stream (counted as key bytes). */
ff_status ff__op_put(ff_op *op, int p, const void *src, size_t n);
/* Dealer: the same for n key bytes in device memory (src, ordered by mem's stream: a key the dealer made
 * on its GPU), downloaded span by span straight into the stream's memory (core/keystream.h
 * ff_keystream_write_fill); a stream that keeps nothing (the peer's under --dealer inproc) gets no
 * download. */
ff_status ff__op_put_device(ff_op *op, int p, ff_ctx *mem, const void *src, size_t n);
/* Dealer: additive shares mod 2^bits of v (n values) as n u64 words per party: P0's share from
 * the dealer's rng, P1's = v - P0's. */
ff_status ff__op_put_shares(ff_op *op, const uint64_t *v, size_t n, int bits);
/* Party: n key bytes from its stream; `what` names the op in the error message. This, ff__op_get_mem
 * and ff__op_get_words each run inside one FF_SCOPE("KeyTransfer") (stream read, CRC, staging, upload),
 * as does every party's tag read in ff__op_tag; no channel traffic happens there. With FF_KEYS_PRELOAD
 * they are served from the op's image at its cursor (op.h ff_op_preload_keys), loading it at the first
 * read; the accounting and the errors are those of the stream. */
ff_status ff__op_get(ff_op *op, void *dst, size_t n, const char *what);

/* Party: one serialized LUT key (gates/fss/lut.h) of the given shape into k, allocated here in
 * ff__op_mem(op) (free it with ff_lut_key_free), its bytes read as ff__op_get_mem reads them: on a CUDA
 * party with preloaded keys, copies on ctx's stream out of the device image and the tR words packed on
 * the device, with no host copy and no wait. One KeyTransfer scope. */
ff_status ff__op_get_lut_key(ff_op *op, ff_lut_key *k, int b, int b_out, int n_tables, size_t N, const char *what);

/* Party: one serialized DPF/DCF key of N elements on n bits (gates/fss/dpf.h) into dk, free it with
 * ff_dpf_key_free. Read in place (ff_dpf_key_view, no copy) when the preloaded image lies in
 * ff__op_mem(op) and the key starts 16-byte aligned there, else allocated and read as ff__op_get_mem
 * reads. One KeyTransfer scope either way. */
ff_status ff__op_get_dpf_key(ff_op *op, ff_dpf_key *dk, int n, size_t N, const char *what);

/* Public tables (lookup tables of functions, rotary angles): the n words that fill(arg, host) computes on
 * the host, kept in ff__op_mem(op) for the op's life under the key {kind, a, b, c} (the caller's name
 * for the table and every parameter it depends on; a double goes in x as its bits). The first request computes and (on a CUDA party)
 * uploads them, waiting once for the upload; later requests return the same pointer with no work, so a
 * gate's online phase does not recompute or re-upload its table. */
typedef ff_status (*ff__op_table_fill)(void *arg, uint64_t *host);
typedef struct {
  uint32_t k[4];
  uint64_t x; /* a 64-bit parameter (e.g. a double's bits), 0 if none */
} ff__op_table_id;
ff_status ff__op_table(ff_op *op, ff__op_table_id id, size_t n, ff__op_table_fill fill, void *arg, const uint64_t **out);
static inline ff__op_table_id ff__op_table_key_x(uint32_t kind, uint32_t a, uint32_t b, uint32_t c, uint64_t x) {
  ff__op_table_id id = {{kind, a, b, c}, x};
  return id;
}
static inline ff__op_table_id ff__op_table_key(uint32_t kind, uint32_t a, uint32_t b, uint32_t c) {
  return ff__op_table_key_x(kind, a, b, c, 0);
}

/* ---- Narrow key words ------------------------------------------------------------------------------------
 * SIGMA keeps a key element of a narrow ring in its narrowest type (u8, u16): these put and get n key
 * elements as eb-byte little-endian words (1 <= eb <= 8; the value must fit, i.e. be < 2^(8 eb)), widened
 * to u64 on read. ff__op_word_bytes(bits) = ceil(bits / 8) is the width for a ring of `bits`. Gates that
 * keep u64 words (eb 8) read exactly what ff__op_put / ff__op_put_shares wrote. */
static inline int ff__op_word_bytes(int bits) { return (bits + 7) / 8; }
/* Dealer: n values (host) as eb-byte words into party p's stream (counted as key bytes). */
ff_status ff__op_put_words(ff_op *op, int p, const uint64_t *v, size_t n, int eb);
/* Dealer: as ff__op_put_shares, each share written as eb-byte words (bits <= 8 eb). */
ff_status ff__op_put_shares_words(ff_op *op, const uint64_t *v, size_t n, int bits, int eb);
/* The kernels of the two above, CPU twins here (op.c) and CUDA in sigma_cuda.cu (FF_ENOTSUP without
 * CUDA): s0 (n, drawn bytes) reduced mod 2^bits in place and s1 = v - s0 mod 2^bits; out = in's values as
 * eb-byte little-endian words (1 <= eb <= 8). */
ff_status ff__sigma_share_split_cpu(ff_ctx *ctx, size_t n, int bits, const uint64_t *v, uint64_t *s0, uint64_t *s1);
ff_status ff__sigma_share_split_cuda(ff_ctx *ctx, size_t n, int bits, const uint64_t *v, uint64_t *s0, uint64_t *s1);
ff_status ff__sigma_narrow_cpu(ff_ctx *ctx, size_t n, int eb, const uint64_t *in, uint8_t *out);
/* The dealer's comparison bits out[i] = msb_bits(r[i]) ^ (m[i] & 1) (bits: the compared ring's width; m
 * the output mask bits): what ff__cmp_deal shares for DReLU-style comparisons. */
ff_status ff__sigma_cmp_bits_cpu(ff_ctx *ctx, int bits, size_t n, const uint64_t *r, const uint64_t *m, uint64_t *out);
ff_status ff__sigma_cmp_bits_cuda(ff_ctx *ctx, int bits, size_t n, const uint64_t *r, const uint64_t *m, uint64_t *out);
/* out[i] = a[i] b[i] + c[i] mod 2^bits (out may alias c): a Beaver product's key word. */
ff_status ff__sigma_mul_add_cpu(ff_ctx *ctx, size_t n, int bits, const uint64_t *a, const uint64_t *b,
                                const uint64_t *c, uint64_t *out);
ff_status ff__sigma_mul_add_cuda(ff_ctx *ctx, size_t n, int bits, const uint64_t *a, const uint64_t *b,
                                 const uint64_t *c, uint64_t *out);
/* out[i] = a[i] + b[i] mod 2^bits (out may alias a or b): a dealer's mask folded into a key word. */
ff_status ff__sigma_add_reduce_cpu(ff_ctx *ctx, size_t n, int bits, const uint64_t *a, const uint64_t *b,
                                   uint64_t *out);
ff_status ff__sigma_add_reduce_cuda(ff_ctx *ctx, size_t n, int bits, const uint64_t *a, const uint64_t *b,
                                    uint64_t *out);
ff_status ff__sigma_narrow_cuda(ff_ctx *ctx, size_t n, int eb, const uint64_t *in, uint8_t *out);
/* Party: n eb-byte words from its stream into dst (n u64 values in ff__op_mem(op)). */
ff_status ff__op_get_words(ff_op *op, uint64_t *dst, size_t n, int eb, const char *what);

/* A wire of the given shape and width, v allocated (zeroed) except in cost-only mode. */
ff_status ff__op_wire_alloc(ff_op *op, ff_wire *w, int bw, int ndim, const int64_t *shape);
/* Dealer: draws v uniformly mod 2^bw (a fresh mask). */
ff_status ff__op_draw(ff_op *op, uint64_t *v, size_t n, int bw);
/* Allocation helper that logs. */
void *ff__op_alloc(size_t n, const char *what);

/* ---- Memory of the party's wires (op.h "What runs where") --------------------------------------------
 * Device memory for a CUDA party, host memory otherwise (dealer, CPU party). Gates whose kernels
 * have no CUDA twin yet refuse a CUDA party at entry: if (ff__op_on_device(op)) return FF_ENOTSUP. */
static inline ff_mem ff__op_mem(const ff_op *op) {
  return op->role == FF_OP_PARTY && op->ctx->backend == FF_BACKEND_CUDA ? FF_MEM_DEVICE : FF_MEM_HOST;
}
static inline int ff__op_on_device(const ff_op *op) { return ff__op_mem(op) == FF_MEM_DEVICE; }
/* A zeroed scratch buffer of n bytes in ff__op_mem(op) (device: allocated, zeroed and freed in the
 * order of ctx's stream), and its release (NULL is fine). */
ff_status ff__op_buf_alloc(ff_op *op, size_t n, const char *what, void **out);
void ff__op_buf_free(ff_op *op, void *p);
/* Party: n key bytes from its stream into dst in ff__op_mem(op): on CUDA read into the op's host
 * staging buffer and uploaded on ctx's stream (the call waits for the upload before returning, so
 * the staging buffer may be reused); with FF_KEYS_PRELOAD one device-to-device copy from the device
 * image on ctx's stream (not waited for: stream-ordered before the kernels that use dst). */
ff_status ff__op_get_mem(ff_op *op, void *dst, size_t n, const char *what);
/* n bytes between host memory and ff__op_mem(op) on ctx's stream; returns once host memory on
 * either side may be used again (waits for the stream when the op's memory is the device's). */
ff_status ff__op_download(ff_op *op, void *host_dst, const void *src, size_t n);
ff_status ff__op_upload(ff_op *op, void *dst, const void *host_src, size_t n);
/* out[i] = in[i] mod 2^bits (n values in ff__op_mem(op); out may alias in). */
ff_status ff__op_reduce(ff_op *op, const uint64_t *in, uint64_t *out, size_t n, int bits);
/* CUDA kernels of the helpers above and of the comparison (sigma_cuda.cu; FF_ENOTSUP without CUDA):
 * out[i] = in[i] mod 2^bits; share[i] = bit i of (dcf ^ mask) (both ceil(N/8) bytes). */
ff_status ff__sigma_reduce_cpu(ff_ctx *ctx, size_t n, int bits, const uint64_t *in, uint64_t *out);
ff_status ff__sigma_reduce_cuda(ff_ctx *ctx, size_t n, int bits, const uint64_t *in, uint64_t *out);
ff_status ff__sigma_cmp_share_cuda(ff_ctx *ctx, size_t N, const uint8_t *dcf, const uint8_t *mask, uint64_t *share);
/* out[i] = bit i of bits (LSB first, comm/pack.h's 1-bit packing), i < n; out[i] = the eb-byte
 * little-endian value i of in (1 <= eb <= 8), i < n. In ff__op_mem(op); CUDA twins in sigma_act_cuda.cu. */
ff_status ff__op_unpack_bits(ff_op *op, size_t n, const uint8_t *bits, uint64_t *out);
ff_status ff__op_widen(ff_op *op, size_t n, int eb, const uint8_t *in, uint64_t *out);
ff_status ff__sigma_unpack_bits_cuda(ff_ctx *ctx, size_t n, const uint8_t *bits, uint64_t *out);
ff_status ff__sigma_widen_cuda(ff_ctx *ctx, size_t n, int eb, const uint8_t *in, uint64_t *out);
/* Waits for ctx's stream when the op's memory is the device's (host memory handed to an async copy
 * may then be freed or reused); nothing otherwise. */
ff_status ff__op_sync(ff_op *op);

/* ---- Masked comparison --------------------------------------------------------------------------------
 * SIGMA's comparison step shared by TR and DReLU (research/sigma.md §3 "Comparison"): a comparison
 * key DCF(n) for 1{x < alpha} on n-bit points (the DPF of gates/fss/dpf.h for n >= 8, the truth
 * table of gates/fss/sstab.h below) followed by one mask bit per element (ceil(N/8) bytes): an XOR
 * share of a bit the dealer chooses (the output mask, possibly XOR a public-to-the-dealer term). */
/* DCF(n) + ceil(N/8): the serialized bytes one party holds. */
uint64_t ff__cmp_key_bytes(int n, size_t N);
uint64_t ff__dcf_key_bytes(int n, size_t N);
/* Dealer: keys for alpha (N values mod 2^n) and the shared bits (N values, bit 0): ff__dcf_deal, then
 * ff__op_put_bit_shares of one row. */
ff_status ff__cmp_deal(ff_op *op, int n, size_t N, const uint64_t *alpha, const uint64_t *bits);
/* Dealer: the comparison key DCF(n) alone (ff__dcf_key_bytes per party). */
ff_status ff__dcf_deal(ff_op *op, int n, size_t N, const uint64_t *alpha);
/* Dealer: one table's LUT keys (gates/fss/lut.h, b input bits, b_out output bits, N elements) at the input
 * masks r_in into both streams, from where the dealer makes them (ff_lut_keygen_emit: a GPU dealer's DPF
 * blocks straight from device memory); r_out (N) gets the output masks. */
ff_status ff__lut_deal(ff_op *op, const uint64_t *r_in, int b, int b_out, size_t N, uint64_t *r_out);
/* Dealer: XOR shares of `rows` rows of N bits (bit 0 of bits[r N + i]), each row packed into ceil(N/8)
 * bytes (pad bits zero) in both streams. */
ff_status ff__op_put_bit_shares(ff_op *op, size_t rows, size_t N, const uint64_t *bits);
/* Its kernel: m (2, rows, ceil(N/8)) holds party 0's drawn bytes in its first half; the pad bits of each
 * row are cleared there and the second half gets party 1's (the same XOR the packed bits). */
ff_status ff__sigma_bit_shares_cpu(ff_ctx *ctx, size_t rows, size_t N, const uint64_t *bits, uint8_t *m);
ff_status ff__sigma_bit_shares_cuda(ff_ctx *ctx, size_t rows, size_t N, const uint64_t *bits, uint8_t *m);

/* ---- The dealer's device path (docs/architecture.md "The dealer", step 2) -----------------------------
 * A dealer on a CUDA context created with deal_on_device (op.h) makes the masks, correction words and
 * shares of the gates that have a device path (inputs, DPF comparisons and LUTs: op.c; the TR stage:
 * truncate.c; the matmuls: linear.c; mul: mul.c; DReLU and ReLU: relu.c; GELU and SiLU: gelu.c; softmax's
 * selects and products: softmax.c) in that GPU's memory (op->deal_ctx, the caller's CUDA context): drawn by
 * ff_rng_draw_cuda from op->ctx->rng in the order the host path draws them, computed by the CUDA twins of
 * the host path's kernels and written with ff__op_put_device. So the key bytes are the host path's
 * (tests/test_dealer_cuda.c). Device pointers are ordered by deal_ctx's stream. The dealer's wires stay
 * host memory: a gate uploads its input masks and downloads its output masks. deal_ctx may also be a host
 * context (white box, tests/test_models.c): the same path then runs on the kernels' CPU twins in host
 * memory, which checks its draws, layouts and writes against the host path without a GPU. */
static inline ff_ctx *ff__op_deal_dev(const ff_op *op) { return op->role == FF_OP_DEALER ? op->deal_ctx : NULL; }
static inline ff_mem ff__op_deal_mem(const ff_op *op) {
  return op->deal_ctx->backend == FF_BACKEND_CUDA ? FF_MEM_DEVICE : FF_MEM_HOST;
}
/* The kernel X on the device path's context: X_cuda on a GPU, X_cpu on a host stand-in. */
#define FF__OP_DEV(op, X, ...)                                                                                \
  ((op)->deal_ctx->backend == FF_BACKEND_CUDA ? X##_cuda((op)->deal_ctx, __VA_ARGS__)                        \
                                              : X##_cpu((op)->deal_ctx, __VA_ARGS__))
/* n bytes of the device path's memory (logged on failure), its release, and copies from and to the host
 * (a download returns once the bytes are there; an upload once the host buffer may change). */
ff_status ff__op_dev_scratch(ff_op *op, size_t n, const char *what, void **out);
void ff__op_dev_free(ff_op *op, void *p);
ff_status ff__op_dev_upload(ff_op *op, void *dst, const void *host_src, size_t n);
/* Zeroes n bytes of that memory (secrets, before the memory is reused), in the order of deal_ctx's stream. */
ff_status ff__op_dev_wipe(ff_op *op, void *p, size_t n);
ff_status ff__op_dev_download(ff_op *op, void *host_dst, const void *src, size_t n);
/* ff__op_draw, ff__op_put_shares_words and ff__op_put_bit_shares with v and bits in that memory. */
ff_status ff__op_draw_dev(ff_op *op, uint64_t *v, size_t n, int bw);
ff_status ff__op_put_shares_words_dev(ff_op *op, const uint64_t *v, size_t n, int bits, int eb);
ff_status ff__op_put_bit_shares_dev(ff_op *op, size_t rows, size_t N, const uint64_t *bits);

/* Party: reads DCF(n) for N elements and writes this party's XOR shares of 1{point < alpha} at E points per
 * element (points (E, N) as dpf.h) into out, packed (ceil(E N / 8) bytes, in ff__op_mem(op), zeroed by the
 * caller where a device kernel needs it). */
ff_status ff__dcf_eval(ff_op *op, int n, size_t N, size_t E, const uint64_t *points, uint8_t *out, const char *what);
/* Party: reads the key, evaluates at points (N values mod 2^n) and writes this party's XOR share of
 * 1{point < alpha} ^ bit into share (N values, 0 or 1). points and share in ff__op_mem(op); they may
 * alias. */
ff_status ff__cmp_eval(ff_op *op, int n, size_t N, const uint64_t *points, uint64_t *share, const char *what);

#endif
