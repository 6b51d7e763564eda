/* The two-party gate-test harness of the gates/sigma tests (tests/test_sigma_gates.c and the
 * per-gate tests): a graph written once for every role, run by the dealer into memory key streams,
 * then by both parties in two threads over ff_chan_mem_pair, then cost-only (DESIGN.md §2). */
#ifndef FF_TESTS_SIGMA_HARNESS_H
#define FF_TESTS_SIGMA_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include "core/ctx.h"
#include "core/keystream.h"
#include "core/rand.h"
#include "core/status.h"
#include "gates/fss/cost.h"
#include "gates/sigma/op.h"
#include "scope/scope.h"

/* What one role's run of the graph recorded. The graph fills gate[] (sh_gate_begin/end) and out
 * (sh_output); the harness fills total[] and tags[] after the graph returns. */
typedef struct {
  ff_gate_cost gate[2];  /* what the gate alone cost, per party, in this role */
  ff_gate_cost total[2]; /* the whole graph */
  uint64_t tags[2];
  uint64_t *out; /* P1: the revealed output (every role allocates it; only P1's holds values) */
  size_t n_out;
  int out_bw;
} sh_result;

/* A graph: the same calls for the dealer, each party and cost-only (ff_op_get_role tells which).
 * arg is the test's description; r is this role's record. */
typedef ff_status (*sh_graph_fn)(ff_op *op, const void *arg, sh_result *r);

typedef struct {
  int bw, scale;       /* the op's ring and fixed-point scale */
  sh_graph_fn graph;
  const void *arg;
} sh_spec;

typedef struct {
  sh_result dealer, party[2], cost;
  uint64_t stream_bytes[2]; /* each party's key stream, tags included */
  ff_status st[2];          /* the parties' statuses (the dealer and cost-only runs must succeed) */
} sh_run;

/* calloc that fails the test on NULL (n = 0 gives a 1-byte block). */
void *sh_xmalloc(size_t n);
ff_gate_cost sh_cost_sub(ff_gate_cost a, ff_gate_cost b);
void sh_assert_cost_equal(ff_gate_cost got, ff_gate_cost want);
/* floor(v / 2^s), s < 63. */
int64_t sh_floor_div_pow2(int64_t v, int s);

/* Dealer (seeded with seed), both parties, cost-only. prof: optional recorders of the parties. */
void sh_run_all(const sh_spec *sp, uint64_t seed, sh_run *rr, ff_prof *prof[2]);
void sh_run_free(sh_run *rr);

/* The steps of sh_run_all, for runs on other backends (tests/sigma_cuda_harness.h). sh_deal: the
 * dealer (CPU, seeded with seed) into memory key streams named run_id, its record into dealer;
 * sh_run_parties: both parties of backend on those keys, in two threads over ff_chan_mem_pair (prof:
 * optional recorders); sh_keys_free closes the streams once every run is done. */
typedef struct {
  ff_keystream *w[2];
  const void *img[2];
  size_t len[2];
} sh_keys;
void sh_deal(const sh_spec *sp, uint64_t seed, const char *run_id, sh_result *dealer, sh_keys *k);
/* sh_deal with the dealer on `backend` (FF_BACKEND_CUDA: the GPU dealer, `keygen --backend cuda`'s). sh_deal
 * also deals the gate by sh_deal_device_path on the CPU and asserts the same key bytes. */
void sh_deal_on(const sh_spec *sp, ff_backend backend, uint64_t seed, const char *run_id, sh_result *dealer,
                sh_keys *k);
/* The dealer's device path (gates/sigma/op_internal.h): on CUDA, the GPU dealer with deal_on_device
 * (`--dealer-masks device`); on the CPU, the same path on the kernels' CPU twins (a host stand-in). */
void sh_deal_device_path(const sh_spec *sp, ff_backend backend, uint64_t seed, const char *run_id, sh_result *dealer,
                         sh_keys *k);
/* Fails, naming party and byte, unless got's key streams equal want's. */
void sh_assert_same_keys(const char *run_id, const char *what, const sh_keys *want, const sh_keys *got);
void sh_run_parties(const sh_spec *sp, ff_backend backend, const sh_keys *k, sh_result r[2], uint64_t stream_bytes[2],
                    ff_status st[2], ff_prof *prof[2]);
void sh_keys_free(sh_keys *k);

/* Inside a graph: measure the gate between begin and end (before: 2 entries), then reveal y to P1. */
void sh_gate_begin(ff_op *op, ff_gate_cost before[2]);
void sh_gate_end(ff_op *op, const ff_gate_cost before[2], sh_result *r);
ff_status sh_output(ff_op *op, const ff_wire *y, sh_result *r);

/* x narrowed to bw <= x->bw bits for a gate that reads a narrower ring (suf's nExp reads softmax's
 * bin + 2 bits): mask and masked value alike reduce mod 2^bw, which is again a masked wire, into a
 * buffer in the op's memory (device on a CUDA party); *xn shares x's values when bw == x->bw. Release
 * with sh_narrow_free (x itself stays the caller's). */
ff_status sh_narrow(ff_op *op, const ff_wire *x, int bw, ff_wire *xn);
void sh_narrow_free(ff_op *op, const ff_wire *x, ff_wire *xn);

/* Checks both parties' runs succeeded and every cost: each party's measured gate == want (per
 * party: want[p]), the dealer wrote want[p].key_bytes, cost-only == want, the streams held exactly
 * the key bytes plus tags, and the cost-only totals equal the run's. */
void sh_check_costs(const sh_run *rr, const ff_gate_cost want[2]);

/* The common unary case: P1 inputs N values x (bw bits), fn computes y from x, y is revealed to P1. */
typedef ff_status (*sh_unary_fn)(ff_op *op, const ff_wire *x, ff_wire *y, const void *user);
typedef struct {
  size_t N;
  const uint64_t *x;
  sh_unary_fn fn;
  const void *user;
} sh_unary;
ff_status sh_unary_graph(ff_op *op, const void *arg, sh_result *r); /* arg: const sh_unary * */

/* n values: edge cases first (0, +-1, the extremes of [lo, hi), multiples of 2^s and their
 * neighbours), then uniform in [lo, hi), as ring elements mod 2^bw. Caller frees. */
uint64_t *sh_make_inputs(ff_rng *rng, size_t n, int bw, int64_t lo, int64_t hi, int s);

/* The elementwise and matmul gates the gate tests share, and their cleartext references. */
typedef enum { SH_TRFLOOR, SH_TRSLACK, SH_DRELU, SH_RELU, SH_MUL, SH_MATMUL, SH_GELU, SH_SILU } sh_gate;

/* The gate's output on the ring, into ref: TrFloor/TrWithSlack floor(x / 2^s) (mod 2^bw / 2^b_out),
 * DReLU [x >= 0], ReLU max(x, 0) mod 2^b_out, mul floor(x y / 2^scale), matmul floor(X W / 2^scale)
 * (x: (M, K), y: (K, N)), GELU/SiLU gelu.h's fixed-point emulation. Inputs are signed views mod 2^bw;
 * elementwise gates use N elements. */
void sh_gate_reference(sh_gate kind, int bw, int scale, int s, int b_out, size_t M, size_t K, size_t N,
                       const uint64_t *x, const uint64_t *y, uint64_t *ref);

/* Rotary embedding on the ring (rotate-half form, rotary.h): for row r at position t = r mod T,
 * y_j = floor((c x_j -+ s x_partner) / 2^f) with cs/sn the (T, d/2) fixed-point table; computed in
 * the integers (no wrap for the tests' inputs). */
void sh_rotary_reference(int bw, int f, size_t rows, int T, int d, const int64_t *cs, const int64_t *sn,
                         const uint64_t *x, uint64_t *y);

#endif
