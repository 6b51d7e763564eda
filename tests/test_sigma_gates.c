/* gates/sigma on the CPU: each gate is one small graph (inputs, the gate, output to P1) run by the
 * dealer into memory key streams, then by both parties in two threads over the in-memory channel,
 * then in cost-only mode. The revealed output equals the cleartext ring reference exactly; key
 * bytes, bits sent, bytes sent and rounds equal the cost functions, which equal research/sigma.md's
 * figures; wrong or exhausted key streams fail cleanly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm/chan.h"
#include "core/ctx.h"
#include "core/keystream.h"
#include "core/log.h"
#include "core/rand.h"
#include "core/ring.h"
#include "gates/sigma/matmul.h"
#include "gates/sigma/mul.h"
#include "gates/sigma/op.h"
#include "gates/sigma/relu.h"
#include "gates/sigma/truncate.h"
#include "scope/scope.h"
#include "sigma_harness.h"

/* ---- One gate as a graph ------------------------------------------------------------------------------ */

typedef sh_gate gate_kind;

typedef struct {
  gate_kind kind;
  int bw, scale, s, b_out;
  size_t M, K, N;      /* elementwise: N elements; matmul: X (M, K), W (K, N) */
  const uint64_t *x;   /* P1's input (N, or M*K), mod 2^bw */
  const uint64_t *y;   /* P0's input (mul: N; matmul: K*N) */
  /* Faults, party side only: */
  size_t party_N;      /* run with this N instead (wrong shape) */
  int party_s;         /* run with this shift instead (another gate parameter) */
  int party_repeat;    /* run the gate once more after the output (exhausted stream) */
  int party_other;     /* run party_kind instead of kind (another gate) */
  gate_kind party_kind;
} spec;

static ff_status run_gate(ff_op *op, const spec *sp, const ff_wire *x, const ff_wire *w, int s, ff_wire *y) {
  const gate_kind kind = ff_op_get_role(op) == FF_OP_PARTY && sp->party_other ? sp->party_kind : sp->kind;
  switch (kind) {
    case SH_TRFLOOR: return ff_op_trfloor(op, x, s, y);
    case SH_TRSLACK: return ff_op_trslack(op, x, s, sp->b_out, y);
    case SH_DRELU: return ff_op_drelu(op, x, y);
    case SH_RELU: return ff_op_relu(op, x, sp->b_out, y);
    case SH_MUL: return ff_op_mul(op, x, w, y);
    case SH_MATMUL: return ff_op_matmul(op, x, w, y);
    default: break; /* GELU/SiLU have their own test (test_sigma_gelu.c) */
  }
  return FF_EINVAL;
}

/* The graph, written once for every role. */
static ff_status graph(ff_op *op, const void *arg, sh_result *r) {
  const spec *sp = arg;
  const int party = ff_op_get_role(op) == FF_OP_PARTY;
  const size_t N = party && sp->party_N ? sp->party_N : sp->N;
  const int s = party && sp->party_s ? sp->party_s : sp->s;
  ff_wire x = {0}, w = {0}, y = {0}, y2 = {0};
  ff_status st;
  if (sp->kind == SH_MATMUL) {
    const int64_t xs[2] = {(int64_t)sp->M, (int64_t)sp->K}, ws[2] = {(int64_t)sp->K, (int64_t)N};
    if ((st = ff_op_input(op, 1, 2, xs, sp->x, &x)) || (st = ff_op_input(op, 0, 2, ws, sp->y, &w))) goto done;
  } else {
    const int64_t xs[1] = {(int64_t)N};
    if ((st = ff_op_input(op, 1, 1, xs, sp->x, &x))) goto done;
    if (sp->kind == SH_MUL && (st = ff_op_input(op, 0, 1, xs, sp->y, &w))) goto done;
  }
  ff_gate_cost before[2];
  sh_gate_begin(op, before);
  if ((st = run_gate(op, sp, &x, &w, s, &y))) goto done;
  sh_gate_end(op, before, r);
  if ((st = sh_output(op, &y, r))) goto done;
  if (party && sp->party_repeat) st = run_gate(op, sp, &x, &w, s, &y2);
done:
  ff_wire_free(&x);
  ff_wire_free(&w);
  ff_wire_free(&y);
  ff_wire_free(&y2);
  return st;
}

/* Dealer (seeded), both parties, cost-only (tests/sigma_harness.c). The dealer must succeed; the
 * parties' statuses are returned (the faults make them fail). prof: optional recorders of the parties. */
static void run_all(const spec *sp, uint64_t seed, sh_run *rr, ff_prof *prof[2]) {
  const sh_spec hs = {.bw = sp->bw, .scale = sp->scale, .graph = graph, .arg = sp};
  sh_run_all(&hs, seed, rr, prof);
}

/* ---- References and checks ------------------------------------------------------------------------------ */

/* The cleartext reference of the gate on the ring, into ref (n_out values). */
static void reference(const spec *sp, uint64_t *ref) {
  sh_gate_reference(sp->kind, sp->bw, sp->scale, sp->s, sp->b_out, sp->M, sp->K, sp->N, sp->x, sp->y, ref);
}

static void formula(const spec *sp, ff_gate_cost *c) {
  switch (sp->kind) {
    case SH_TRFLOOR: ff_sigma_trfloor_cost(sp->N, sp->bw, sp->s, c); break;
    case SH_TRSLACK: ff_sigma_trslack_cost(sp->N, sp->bw, sp->s, sp->b_out, c); break;
    case SH_DRELU: ff_sigma_drelu_cost(sp->N, sp->bw, c); break;
    case SH_RELU: ff_sigma_relu_cost(sp->N, sp->bw, sp->b_out, c); break;
    case SH_MUL: ff_sigma_mul_cost(sp->N, sp->bw, sp->scale, c); break;
    case SH_MATMUL: ff_sigma_matmul_cost(sp->M, sp->K, sp->N, sp->bw, sp->scale, c); break;
    default: fail_msg("gate %d is not covered by this test", (int)sp->kind);
  }
}

/* Runs sp for seed and checks output and every cost. */
static void check_gate(const spec *sp, uint64_t seed) {
  sh_run rr;
  run_all(sp, seed, &rr, NULL);
  assert_int_equal(rr.st[0], FF_OK);
  assert_int_equal(rr.st[1], FF_OK);
  const size_t n = rr.party[1].n_out;
  uint64_t *ref = sh_xmalloc(n * sizeof *ref);
  reference(sp, ref);
  for (size_t i = 0; i < n; i++) {
    if (rr.party[1].out[i] != ref[i])
      fail_msg("gate %d, seed %llu, element %zu: got %llu, want %llu (input %llu)", (int)sp->kind,
               (unsigned long long)seed, i, (unsigned long long)rr.party[1].out[i], (unsigned long long)ref[i],
               (unsigned long long)sp->x[i % (sp->kind == SH_MATMUL ? sp->M * sp->K : sp->N)]);
  }
  ff_gate_cost want;
  formula(sp, &want);
  const ff_gate_cost want2[2] = {want, want};
  sh_check_costs(&rr, want2);
  free(ref);
  sh_run_free(&rr);
}

/* ---- Inputs ------------------------------------------------------------------------------------------------ */

#define make_inputs sh_make_inputs

static const uint64_t seeds[] = {1, 2, 0x5eed5eedULL};

/* ---- Gates --------------------------------------------------------------------------------------------- */

static void test_trfloor(void **state) {
  (void)state;
  const struct {
    int bw, s;
    size_t N;
  } cases[] = {{50, 12, 64}, {37, 12, 200}, {50, 24, 8}, {16, 3, 64}, {64, 12, 64}, {50, 49, 16}, {12, 1, 24}};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    for (size_t k = 0; k < 3; k++) {
      ff_rng rng;
      ff_rng_init_seeded(&rng, 100 + seeds[k]);
      const int bw = cases[c].bw;
      const int64_t half = bw == 64 ? INT64_MAX : (int64_t)1 << (bw - 1);
      /* The whole ring: TrFloor is exact for every input. */
      uint64_t *x = make_inputs(&rng, cases[c].N, bw, bw == 64 ? INT64_MIN : -half, half, cases[c].s);
      spec sp = {.kind = SH_TRFLOOR, .bw = bw, .scale = bw > 12 ? 12 : bw - 1, .s = cases[c].s, .N = cases[c].N, .x = x};
      check_gate(&sp, seeds[k]);
      free(x);
    }
  }
}

static void test_trslack(void **state) {
  (void)state;
  const struct {
    int bw, s, b_out;
    size_t N;
  } cases[] = {{50, 12, 50, 64}, {50, 6, 33, 64}, {40, 8, 32, 48}, {50, 12, 38, 32}, {37, 6, 20, 40}, {20, 3, 30, 16}};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    for (size_t k = 0; k < 3; k++) {
      ff_rng rng;
      ff_rng_init_seeded(&rng, 200 + seeds[k]);
      const int bw = cases[c].bw;
      /* Inside the slack: -2^(bw-2) <= x < 2^(bw-2). */
      const int64_t q = (int64_t)1 << (bw - 2);
      uint64_t *x = make_inputs(&rng, cases[c].N, bw, -q, q, cases[c].s);
      spec sp = {.kind = SH_TRSLACK, .bw = bw, .scale = 12, .s = cases[c].s, .b_out = cases[c].b_out,
                 .N = cases[c].N, .x = x};
      check_gate(&sp, seeds[k]);
      free(x);
    }
  }
}

static void test_drelu_relu(void **state) {
  (void)state;
  const struct {
    int bin, b_out;
    size_t N;
  } cases[] = {{50, 50, 64}, {40, 40, 64}, {33, 33, 40}, {40, 16, 64}, {8, 8, 64}, {6, 4, 32}, {2, 2, 8}};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    for (size_t k = 0; k < 3; k++) {
      ff_rng rng;
      ff_rng_init_seeded(&rng, 300 + seeds[k]);
      const int bw = cases[c].bin;
      const int64_t half = (int64_t)1 << (bw - 1);
      uint64_t *x = make_inputs(&rng, cases[c].N, bw, -half, half, bw > 3 ? 2 : 0);
      spec sp = {.kind = SH_DRELU, .bw = bw, .scale = 1, .N = cases[c].N, .x = x};
      check_gate(&sp, seeds[k]);
      sp.kind = SH_RELU;
      sp.b_out = cases[c].b_out;
      check_gate(&sp, seeds[k]);
      free(x);
    }
  }
}

static void test_mul(void **state) {
  (void)state;
  const struct {
    int bw, scale;
    size_t N;
  } cases[] = {{50, 12, 64}, {37, 12, 48}, {64, 12, 16}, {20, 4, 32}};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    for (size_t k = 0; k < 3; k++) {
      ff_rng rng;
      ff_rng_init_seeded(&rng, 400 + seeds[k]);
      const int bw = cases[c].bw;
      /* |x|, |y| < 2^((bw-2)/2): the product fits the ring, so floor(x y / 2^scale) is the truth. */
      const int64_t m = (int64_t)1 << ((bw - 2) / 2);
      uint64_t *x = make_inputs(&rng, cases[c].N, bw, -m, m, cases[c].scale / 2);
      uint64_t *y = make_inputs(&rng, cases[c].N, bw, -m, m, 1);
      spec sp = {.kind = SH_MUL, .bw = bw, .scale = cases[c].scale, .N = cases[c].N, .x = x, .y = y};
      check_gate(&sp, seeds[k]);
      free(x);
      free(y);
    }
  }
}

static void test_matmul(void **state) {
  (void)state;
  const struct {
    int bw;
    size_t M, K, N;
  } cases[] = {{50, 4, 8, 8}, {50, 1, 16, 8}, {37, 8, 3, 5}, {50, 16, 32, 8}};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    for (size_t k = 0; k < 3; k++) {
      ff_rng rng;
      ff_rng_init_seeded(&rng, 500 + seeds[k]);
      const int bw = cases[c].bw;
      /* Fixed-point-sized entries (|v| < 2^16) so that the K-term sums stay inside the ring. */
      uint64_t *x = make_inputs(&rng, cases[c].M * cases[c].K, bw, -(1 << 16), 1 << 16, 12);
      uint64_t *w = make_inputs(&rng, cases[c].K * cases[c].N, bw, -(1 << 16), 1 << 16, 12);
      spec sp = {.kind = SH_MATMUL, .bw = bw, .scale = 12, .M = cases[c].M, .K = cases[c].K, .N = cases[c].N,
                 .x = x, .y = w};
      check_gate(&sp, seeds[k]);
      free(x);
      free(w);
    }
  }
}

/* ---- Costs against research/sigma.md ----------------------------------------------------------------------- */

/* Key bytes in eighths of a byte per element, exact for N a multiple of 8. */
static void test_cost_figures(void **state) {
  (void)state;
  for (size_t N = 8; N <= 8192; N *= 8) {
    ff_gate_cost c;
    /* TrFloor, bw 50, s 12: 676.75 B, 90 bits, 4 rounds. */
    ff_sigma_trfloor_cost(N, 50, 12, &c);
    assert_int_equal(8 * c.key_bytes, 5414 * N);
    assert_int_equal(c.bits_sent, 90 * N);
    assert_int_equal(8 * c.bytes_sent, c.bits_sent);
    assert_int_equal(c.rounds, 4);
    /* TrWithSlack: 136.75 B (s 12), 32.125 B (s 6, "32.1"); 1 + b_out bits; 2 rounds. */
    ff_sigma_trslack_cost(N, 50, 12, 50, &c);
    assert_int_equal(8 * c.key_bytes, 1094 * N);
    assert_int_equal(c.bits_sent, 51 * N);
    assert_int_equal(c.rounds, 2);
    ff_sigma_trslack_cost(N, 50, 6, 33, &c);
    assert_int_equal(8 * c.key_bytes, 257 * N);
    assert_int_equal(c.bits_sent, 34 * N);
    assert_int_equal(c.rounds, 2);
    /* ReLU(bin, b_out) = DCF(bin-1) + 1/8 + 40 B; 1 + b_out bits; 2 rounds. bin 39: 572 B, 40 bits
     * (sigma.md's "ReLU / max step in softmax": its DCF(38)); bin 40 -> 588.125 B. */
    ff_sigma_relu_cost(N, 39, 39, &c);
    assert_int_equal(8 * c.key_bytes, 572 * 8 * N);
    assert_int_equal(c.bits_sent, 40 * N);
    assert_int_equal(c.rounds, 2);
    ff_sigma_relu_cost(N, 40, 40, &c);
    assert_int_equal(8 * c.key_bytes, 4705 * N);
    assert_int_equal(c.bits_sent, 41 * N);
    ff_sigma_drelu_cost(N, 40, &c);
    assert_int_equal(8 * c.key_bytes, 4385 * N); /* DCF(39) + 1/8 = 548.125 */
    assert_int_equal(c.bits_sent, N);
    assert_int_equal(c.rounds, 1);
    /* Elementwise mul: 24 + 676.75 B, 140 bits, 5 rounds. */
    ff_sigma_mul_cost(N, 50, 12, &c);
    assert_int_equal(8 * c.key_bytes, 5606 * N);
    assert_int_equal(c.bits_sent, 140 * N);
    assert_int_equal(8 * c.bytes_sent, c.bits_sent);
    assert_int_equal(c.rounds, 5);
    /* bert-tiny's ring (bw 37): DCF(12) + DCF(25) + 32.25 = 112.625 + 322.25 + 32.25 = 467.125 B. */
    ff_sigma_trfloor_cost(N, 37, 12, &c);
    assert_int_equal(8 * c.key_bytes, 3737 * N);
    assert_int_equal(c.bits_sent, (1 + 25 + 1 + 37) * N);
  }
  /* Matmul: 8(|A| + |B|)/|C| + 8 + 676.75 B per output; 140 bits per output; 5 rounds. X (4, 8),
   * W (8, 8): |A| = 32, |B| = 64, |C| = 32 -> 24 + 8 + 676.75 = 708.75 B per output. And bert-base's
   * FFN-up at seq 128: X (128, 768), W (768, 3072). */
  ff_gate_cost c;
  ff_sigma_matmul_cost(4, 8, 8, 50, 12, &c);
  assert_int_equal(8 * c.key_bytes, 5670 * 32);
  assert_int_equal(c.bits_sent, 140 * 32);
  assert_int_equal(c.rounds, 5);
  ff_sigma_matmul_cost(128, 768, 3072, 50, 12, &c);
  const uint64_t A = 128 * 768, B = 768 * 3072, C = 128 * 3072;
  assert_int_equal(4 * c.key_bytes, 4 * 8 * (A + B + C) + 2707 * C);
  assert_int_equal(c.bits_sent, 140 * C);
}

/* Inputs and outputs: key bytes, bits and rounds as documented (merged rounds: max over parties). */
static void test_io_cost(void **state) {
  (void)state;
  ff_gate_cost c[2];
  ff_sigma_input_cost(64, 50, 1, c);
  assert_int_equal(c[1].key_bytes, 512);
  assert_int_equal(c[0].key_bytes, 0);
  assert_int_equal(c[1].bits_sent, 3200);
  assert_int_equal(c[0].bits_sent, 0);
  assert_int_equal(c[0].rounds, 1);
  ff_sigma_output_cost(64, c);
  assert_int_equal(c[1].key_bytes, 512);
  assert_int_equal(c[0].key_bytes + c[0].bits_sent + c[1].bits_sent + c[0].rounds + c[1].rounds, 0);
}

/* Scopes: the recorder sees Mul, its Reconstruct, and TruncRescale with its 4 reconstructs nested in
 * it, each with the formula's bytes and rounds. */
static void test_scopes(void **state) {
  (void)state;
  ff_rng rng;
  ff_rng_init_seeded(&rng, 9);
  const size_t N = 64;
  uint64_t *x = make_inputs(&rng, N, 50, -(1 << 20), 1 << 20, 6), *y = make_inputs(&rng, N, 50, -(1 << 20), 1 << 20, 6);
  spec sp = {.kind = SH_MUL, .bw = 50, .scale = 12, .N = N, .x = x, .y = y};
  ff_prof *prof[2];
  for (int p = 0; p < 2; p++) {
    ff_prof_opts o = {.party = p, .run_id = "test-sigma"};
    assert_int_equal(ff_prof_create(&prof[p], &o), FF_OK);
  }
  sh_run rr;
  run_all(&sp, 7, &rr, prof);
  assert_int_equal(rr.st[0], FF_OK);
  assert_int_equal(rr.st[1], FF_OK);
  ff_gate_cost mul, tr;
  ff_sigma_mul_cost(N, 50, 12, &mul);
  ff_sigma_trfloor_cost(N, 50, 12, &tr);
  for (int p = 0; p < 2; p++) {
    const ff_prof_rep *rep = ff_prof_rep_get(prof[p], 0);
    const int m = ff_prof_find(rep, "Mul"), mr = ff_prof_find(rep, "Mul/Reconstruct"),
              t = ff_prof_find(rep, "Mul/TruncRescale"), tr_rec = ff_prof_find(rep, "Mul/TruncRescale/Reconstruct"),
              in = ff_prof_find(rep, "Input"), out = ff_prof_find(rep, "Output");
    assert_true(m >= 0 && mr >= 0 && t >= 0 && tr_rec >= 0 && in >= 0 && out >= 0);
    assert_int_equal(rep->nodes[m].sent_B, mul.bytes_sent);
    assert_int_equal(rep->nodes[m].rounds, mul.rounds);
    assert_int_equal(rep->nodes[mr].calls, 1);
    assert_int_equal(rep->nodes[t].sent_B, tr.bytes_sent);
    assert_int_equal(rep->nodes[t].rounds, 4);
    assert_int_equal(rep->nodes[tr_rec].calls, 4);
    assert_int_equal(rep->nodes[tr_rec].sent_B, tr.bytes_sent);
    assert_int_equal(rep->nodes[out].sent_B, 0);
    ff_prof_destroy(prof[p]);
  }
  sh_run_free(&rr);
  free(x);
  free(y);
}

/* ---- Faults -------------------------------------------------------------------------------------------------- */

static void test_wrong_keys(void **state) {
  (void)state;
  const ff_log_level saved = ff_log_get_level();
  ff_log_set_level(FF_LOG_OFF); /* the failures below log on purpose */
  ff_rng rng;
  ff_rng_init_seeded(&rng, 11);
  uint64_t *x = make_inputs(&rng, 72, 50, -(1 << 30), 1 << 30, 12);
  sh_run rr;
  /* Another shape: the parties' first op (Input) finds the dealer's tag for 64 elements. */
  spec sp = {.kind = SH_TRFLOOR, .bw = 50, .scale = 12, .s = 12, .N = 64, .x = x, .party_N = 72};
  run_all(&sp, 1, &rr, NULL);
  assert_int_equal(rr.st[0], FF_EMISMATCH);
  assert_int_equal(rr.st[1], FF_EMISMATCH);
  sh_run_free(&rr);
  /* Another gate parameter: inputs pass, the truncation's tag differs, before any of its traffic. */
  sp.party_N = 0;
  sp.party_s = 11;
  run_all(&sp, 1, &rr, NULL);
  assert_int_equal(rr.st[0], FF_EMISMATCH);
  assert_int_equal(rr.st[1], FF_EMISMATCH);
  sh_run_free(&rr);
  /* Another gate altogether: the dealer made ReLU keys, the parties run DReLU. */
  spec relu = {.kind = SH_RELU, .bw = 40, .scale = 12, .b_out = 40, .N = 64, .x = x, .party_other = 1,
               .party_kind = SH_DRELU};
  run_all(&relu, 1, &rr, NULL);
  assert_int_equal(rr.st[0], FF_EMISMATCH);
  assert_int_equal(rr.st[1], FF_EMISMATCH);
  sh_run_free(&rr);
  /* Exhausted: after the output the parties run the gate once more; the stream has nothing left. */
  sp.party_s = 0;
  sp.party_repeat = 1;
  run_all(&sp, 1, &rr, NULL);
  assert_int_equal(rr.st[0], FF_ERANGE);
  assert_int_equal(rr.st[1], FF_ERANGE);
  sh_run_free(&rr);
  ff_log_set_level(saved);
  free(x);
}

/* A stream that ends where the graph goes on, and a stream of the other party. */
static void test_exhausted_and_wrong_party(void **state) {
  (void)state;
  const ff_log_level saved = ff_log_get_level();
  ff_log_set_level(FF_LOG_OFF);
  ff_ctx dealer, p0;
  assert_int_equal(ff_ctx_init(&dealer, FF_BACKEND_CPU, FF_DEALER), FF_OK);
  assert_int_equal(ff_ctx_init(&p0, FF_BACKEND_CPU, 0), FF_OK);
  ff_chan *ends[2];
  assert_int_equal(ff_chan_mem_pair(ends, NULL), FF_OK);
  p0.chan = ends[0];
  ff_keystream *w[2], *rd;
  for (int p = 0; p < 2; p++) {
    ff_keystream_params kp = {.party = p};
    assert_int_equal(ff_keystream_create_mem(&kp, &w[p]), FF_OK);
  }
  /* The dealer writes nothing at all: empty streams. */
  for (int p = 0; p < 2; p++) assert_int_equal(ff_keystream_finish(w[p]), FF_OK);
  const void *img;
  size_t len;
  ff_op *op;
  /* Party 0 given party 1's stream. */
  assert_int_equal(ff_keystream_mem_image(w[1], &img, &len), FF_OK);
  assert_int_equal(ff_keystream_open_mem(img, len, &rd), FF_OK);
  ff_op_params pp = {.role = FF_OP_PARTY, .bw = 50, .scale = 12, .ctx = &p0, .keys = {rd, NULL}};
  assert_int_equal(ff_op_create(&op, &pp), FF_EMISMATCH);
  ff_keystream_close(rd, 0);
  /* Party 0's own, empty: the first op fails with FF_ERANGE and sends nothing. */
  assert_int_equal(ff_keystream_mem_image(w[0], &img, &len), FF_OK);
  assert_int_equal(ff_keystream_open_mem(img, len, &rd), FF_OK);
  pp.keys[0] = rd;
  assert_int_equal(ff_op_create(&op, &pp), FF_OK);
  const int64_t shape[1] = {8};
  const uint64_t plain[8] = {0};
  ff_wire x;
  const ff_comm_delta before = ff_scope_thread_comm();
  assert_int_equal(ff_op_input(op, 0, 1, shape, plain, &x), FF_ERANGE);
  assert_int_equal(ff_scope_thread_comm().sent_B, before.sent_B);
  assert_null(x.v);
  /* Bad arguments. */
  ff_wire y;
  assert_int_equal(ff_op_trfloor(op, &x, 12, &y), FF_EINVAL);
  ff_op_destroy(op);
  ff_keystream_close(rd, 0);
  ff_op_params bad = {.role = FF_OP_COST, .bw = 65, .scale = 12};
  assert_int_equal(ff_op_create(&op, &bad), FF_EINVAL);
  bad.bw = 50;
  bad.role = FF_OP_DEALER; /* no context, no streams */
  assert_int_equal(ff_op_create(&op, &bad), FF_EINVAL);
  for (int p = 0; p < 2; p++) ff_keystream_close(w[p], 0);
  ff_chan_close(ends[0]);
  ff_chan_close(ends[1]);
  ff_ctx_destroy(&dealer);
  ff_ctx_destroy(&p0);
  ff_log_set_level(saved);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cost_figures),  cmocka_unit_test(test_io_cost),
      cmocka_unit_test(test_trfloor),       cmocka_unit_test(test_trslack),
      cmocka_unit_test(test_drelu_relu),    cmocka_unit_test(test_mul),
      cmocka_unit_test(test_matmul),        cmocka_unit_test(test_scopes),
      cmocka_unit_test(test_wrong_keys),    cmocka_unit_test(test_exhausted_and_wrong_party),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
