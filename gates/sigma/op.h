/* The sigma suite's op API: one model graph written once and run in three roles (DESIGN.md §2 "One
 * model graph, two roles"; research/sigma.md §4 "Masked-wire model"). The dealer draws masks and
 * writes keys into one key stream per party; a party reads its stream back in the same order and
 * evaluates on public masked values; the cost-only mode adds up every gate's exact cost without any
 * cryptography (`fusefss cost`). Shapes drive all three roles, never data. Test: tests/test_sigma_gates.c.
 *
 * Key stream framing. Before its key material every op writes a 48-byte tag into BOTH parties'
 * streams: magic "FFSG", gate id, bw, two gate parameters and three shape words. A party reads the
 * tag back and compares it with the op it is running, so a stream made for another graph or shape
 * fails with FF_EMISMATCH naming both ops, and an exhausted stream fails with FF_ERANGE, before any
 * key byte is misread or any message is sent. The tags are always written (one per op call, not per
 * element: negligible next to the keys) and are NOT key material: ff_op_cost's key_bytes and the
 * gates' cost functions exclude them, ff_op_tag_bytes reports them separately, and
 * ff_keystream_size = key bytes + tag bytes exactly.
 *
 * What runs where (DESIGN.md §2 "Where keys live"). The dealer runs on the host: its wires, masks and keys
 * are host memory. Given a CUDA context it still does, except that the tree keygens of gates/fss (DPF, DCF,
 * LUT) and the matmul keys' products (gates/gemm ff_ring_gemm_batched_host): most of its arithmetic, run on
 * that context's stream through host staging (the gates then see a host view of the context, core/ctx.h
 * keygen_dev), and with deal_on_device (below) nearly all of the rest too (the masks, correction words and
 * shares of every gate but LayerNorm's and suf's); the key streams are byte-identical to a CPU dealer's
 * with the same generator (tests/test_dealer_cuda.c). Keys it makes are evaluated by parties on either
 * backend (the same stream bytes). A party on the CPU keeps its wires and key material in host memory. A
 * party on CUDA keeps its wires (ff_wire.v) in device memory and runs the gates' per-element kernels (the
 * ff_X_cuda twins of truncate.h, relu.h, mul.h, matmul.h, gelu.h, softmax.h, layernorm.h, rotary.h;
 * gates/fss's DPF, truth tables and select; gates/gemm's ring GEMM) on its context's stream; key placement
 * is "device": each gate's keys are read from the stream on the host into a staging buffer and uploaded
 * before its kernels run (FF_KEYS_STREAM), or all uploaded once before the online phase (FF_KEYS_PRELOAD,
 * below). Reconstructs on a CUDA party stay on the device except for their packed bytes: the share is
 * packed to its exact width by a kernel, copied piece by piece into pinned staging while earlier pieces are
 * on the link, and the peer's bytes are uploaded and added by a kernel (gates/fss/select.h); the host waits
 * only for the bytes it sends. Device memory comes from a stream-ordered pool (core/cuda.h ff_dev_alloc),
 * public tables are made once per op, and LUT keys are read straight into device memory, so once an
 * inference has run the next allocates nothing and waits for nothing but the link
 * (tests/test_online_alloc_cuda.c). Inputs and outputs take and give host plaintext. The gates that do not
 * yet have CUDA twins refuse a CUDA party (FF_ENOTSUP). */
#ifndef FF_GATES_SIGMA_OP_H
#define FF_GATES_SIGMA_OP_H

#include <stddef.h>
#include <stdint.h>

#include "core/ctx.h"
#include "core/keystream.h"
#include "core/status.h"
#include "core/tensor.h"
#include "gates/fss/cost.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
  FF_OP_DEALER = 0, /* draws masks, writes keys; holds the masks r on its wires */
  FF_OP_PARTY = 1,  /* reads keys, talks to the peer; holds the public x^ = x + r on its wires */
  FF_OP_COST = 2,   /* no cryptography, no data: adds every gate's cost function for both parties */
} ff_op_role;

#define FF_OP_TAG_BYTES 48 /* per op call, in both parties' streams; not key material */

/* A tensor wire of the graph. Its shape and width are the same in every role; only v differs. */
typedef struct {
  int bw;                              /* ring bits of the wire, 1..64 (1: a bit, XOR-masked) */
  int ndim;
  int64_t shape[FF_TENSOR_MAX_DIMS];
  size_t numel;
  uint64_t *v; /* (shape...) mod 2^bw. dealer: the mask r; party: the masked value x^ = x + r;
                  NULL in cost-only mode */
  ff_mem where; /* which memory holds v: host (dealer, CPU party; a zeroed wire) or device (CUDA party) */
} ff_wire;

/* Frees v (host or device memory) and zeroes the wire; safe on a zeroed or already freed wire. A
 * device wire is freed in the order of the stream that allocated it (core/cuda.h ff_dev_free): no wait. */
void ff_wire_free(ff_wire *w);

typedef struct ff_op ff_op;

/* Where a party's keys live in the online phase (DESIGN.md §2 "Where keys live"; recorded in the
 * log by the tools). Both serve the same bytes in the same order with the same accounting. */
typedef enum {
  FF_KEYS_STREAM = 0,  /* read from the key stream per gate (a CUDA party stages each gate's keys
                          through a host buffer and uploads them before its kernels run) */
  FF_KEYS_PRELOAD = 1, /* the whole remaining stream read once (ff_op_preload_keys: CRCs checked by the
                          stream) into a host image and, on a CUDA party, uploaded once into one device
                          buffer; every key read is then a copy from the image at a cursor (a
                          device-to-device copy on ctx's stream for device destinations) */
  FF_KEYS_HOST = 2,    /* as FF_KEYS_PRELOAD into the host image (pinned on a CUDA party), but nothing is
                          uploaded ahead: a CUDA party copies each gate's keys host-to-device when the gate
                          needs them, in the gate's KeyTransfer scope (what SIGMA does); on a CPU party the
                          same as FF_KEYS_PRELOAD */
} ff_op_key_placement;

typedef struct {
  ff_op_role role;
  int bw;               /* ring bits of the model's wires (37, 50, 51, 48 for SIGMA's models) */
  int scale;            /* fractional bits (12); the multiplications truncate by it */
  ff_ctx *ctx;          /* dealer: the randomness (ctx->rng) and, on CUDA, the stream for the tree
                           keygens; party: party, backend (CPU or CUDA) and chan; unused (may be NULL) in
                           cost-only mode. Borrowed. */
  ff_keystream *keys[2];/* dealer: writers for P0 and P1; party: keys[ctx->party] is its reader (the
                           other entry is ignored); unused in cost-only mode. Borrowed. */
  ff_op_key_placement key_placement; /* party role: FF_KEYS_STREAM (0, the default), FF_KEYS_PRELOAD or
                                        FF_KEYS_HOST; ignored by the dealer and cost-only */
  int deal_on_device;   /* dealer on a CUDA context: 1 also makes the masks, correction words and shares of
                           the gates that have a device path (inputs, TrFloor, TrWithSlack, the matmuls,
                           mul, DReLU, ReLU, GELU, SiLU, softmax, every DPF comparison and LUT) in the
                           GPU's memory (docs/architecture.md "The dealer", step 2): the same key bytes.
                           0 (the default until it has run on a GPU): those stay on the host. Ignored
                           otherwise */
  /* Cost-only, optional: called with both parties' cost of every charge as it is added, in the scope
   * that charges it (ff_scope_current_path tells which): `fusefss cost` builds its per-scope table so. */
  void (*on_cost)(void *arg, const ff_gate_cost c[2]);
  void *on_cost_arg;
} ff_op_params;

/* FF_EINVAL (logged) for a bad role, bw/scale, a missing context/channel/stream, or a party
 * stream whose header names the other party. */
ff_status ff_op_create(ff_op **out, const ff_op_params *p);
void ff_op_destroy(ff_op *op);

ff_op_role ff_op_get_role(const ff_op *op);
/* The party (0 or 1) of a party-role op; -1 for the dealer and cost-only. */
int ff_op_party(const ff_op *op);
int ff_op_bw(const ff_op *op);
int ff_op_scale(const ff_op *op);
/* Sets the scale the following gates see and returns the previous one: for a part of a graph that runs at
 * another scale than the rest (models/model.c: the softmax at SIGMA's 12, its input and output rescaled
 * exactly, in a run of another scale). The caller restores it. */
int ff_op_set_scale(ff_op *op, int scale);

/* Running totals for party p (0 or 1) since create:
 *   dealer: key_bytes = key bytes written into p's stream (tags excluded); nothing else.
 *   party: its own entry only: key bytes read (tags excluded), payload bits it sent (exact widths),
 *          bytes it sent and rounds it began as its channel charged them (chan.h). The other
 *          party's entry stays zero.
 *   cost-only: the sum of the gates' cost functions, both parties.
 * Rounds are per party: the merged run's rounds are the max over the parties (DESIGN.md §6). */
ff_gate_cost ff_op_cost(const ff_op *op, int p);
/* Tag bytes written into / read from party p's stream so far (FF_OP_TAG_BYTES per op call). */
uint64_t ff_op_tag_bytes(const ff_op *op, int p);

/* Party with FF_KEYS_PRELOAD: reads the stream's remaining key bytes (ff_keystream_read: CRCs checked
 * there, FF_EFORMAT as there) into a host image (pinned memory on a CUDA party) and uploads it into one
 * device buffer on ctx's stream (CUDA party; waits for the upload), all in one scope KeyTransfer at
 * the caller's level: call it before the online phase, outside any gate, so profiles show it once. Done
 * implicitly at the first key read if not called. A second call, the dealer, cost-only and
 * FF_KEYS_STREAM do nothing (FF_OK). FF_ENOMEM when the image does not fit (host or device). */
ff_status ff_op_preload_keys(ff_op *op);
/* 1 when op is a party with FF_KEYS_PRELOAD or FF_KEYS_HOST whose image is loaded. */
int ff_op_keys_preloaded(const ff_op *op);
/* Repetitions over one image (benchmark mode: every repetition re-reads the SAME key bytes, so masks
 * repeat; never for real inference): ff_op_key_cursor gives the image bytes served so far (0 without an
 * image), ff_op_rewind_keys serves the image again from byte pos. FF_ESTATE without a loaded image. */
uint64_t ff_op_key_cursor(const ff_op *op);
ff_status ff_op_rewind_keys(ff_op *op, uint64_t pos);
/* Party: FF_EMISMATCH (logged, naming the key stream and the counts) when key bytes are left unread,
 * in the stream or in the preloaded image: the dealer and this party ran different graphs. Call it
 * after the graph, before ff_keystream_close (which cannot see what the image holds unread). FF_OK
 * otherwise and in the other roles. */
ff_status ff_op_check_consumed(const ff_op *op);

/* ---- Inputs and outputs ----------------------------------------------------------------------------
 * ff_op_input, scope Input: a wire of shape (ndim, shape) holding `owner`'s plaintext (values taken
 * mod 2^bw). The dealer draws r and gives it to the owner through the owner's key stream (8 B per
 * element); the owner sends x^ = x + r (bw bits per element, packed) to the other party: one
 * one-way message. `plain` (host memory) is read by the owning party only (NULL elsewhere is fine). */
ff_status ff_op_input(ff_op *op, int owner, int ndim, const int64_t *shape, const uint64_t *plain, ff_wire *out);
/* k inputs of one owner as one gate, scope Input: the same keys (each tensor's tag and mask, in order) and
 * the same k messages as k calls of ff_op_input, but charged as one round, as the owner sends them back
 * to back (the layer's weights with --weights-per-layer). plain: the owner's k plaintexts (NULL elsewhere);
 * out: k wires. On failure no wire is left allocated. */
ff_status ff_op_input_many(ff_op *op, int owner, int k, const int *ndim, const int64_t *const *shape,
                           const uint64_t *const *plain, ff_wire *out);
/* ff_op_output, scope Output: reveals x to P1, which receives the wire's mask r in its key stream
 * (8 B per element) and computes x = x^ - r mod 2^bw into plain (x->numel values). Nothing is sent:
 * both parties already hold x^, and P0 learns nothing. plain (host memory) is written by P1 only. */
ff_status ff_op_output(ff_op *op, const ff_wire *x, uint64_t *plain);

/* Costs for both parties (c[0], c[1]). Input: the owner holds 8N key bytes and sends bw*N bits in
 * one message, the other party receives it; the merged run counts 1 round (a one-way message).
 * Output: P1 holds 8N key bytes; no traffic, no round. */
void ff_sigma_input_cost(size_t N, int bw, int owner, ff_gate_cost c[2]);
void ff_sigma_output_cost(size_t N, ff_gate_cost c[2]);

/* ---- Reconstruct -------------------------------------------------------------------------------------
 * In scope Reconstruct (nested in the calling gate's scope): both parties send their additive shares
 * of n values of `bits` bits, packed to exactly that width, and add the peer's (XOR for bits == 1):
 * one exchange, one round. vals (n) in the memory of the party's wires (host on the CPU, device on
 * CUDA: packed and added there, only the packed bytes staged): this party's shares in, the public sums
 * out (on CUDA ordered on the party's stream, not waited for).
 * Party role only (FF_ESTATE otherwise). */
ff_status ff_op_reconstruct(ff_op *op, uint64_t *vals, size_t n, int bits);

#ifdef __cplusplus
}
#endif

#endif
