/* The local two-party runner behind `fusefss bench gate` (gates/sigma/local.h): a small TrFloor and
 * GELU graph run by the dealer and both CPU parties over several repetitions; the measured gate costs
 * equal the cost functions, the revealed output is exact, and the error paths report clearly; with
 * prof_dir both parties' scope logs merge, with KeyTransfer and Reconstruct under the gate's scope. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/rand.h"
#include "core/ring.h"
#include "gates/sigma/gelu.h"
#include "gates/sigma/local.h"
#include "gates/sigma/truncate.h"
#include "tools/breakdown.h"
#include "tools/merge.h"

enum { BW = 50, SCALE = 12 };

typedef struct {
  int gelu; /* 0: TrFloor by shift, 1: GELU */
  int shift;
  size_t N;
  const uint64_t *x; /* (N) P1's input */
  int break_brackets; /* 1: call gate_end without begin */
  int p1_enotsup;     /* 1: party 1's gate "is not supported" (a backend without the gate) */
  int extra;          /* 1: the dealer runs one more Output than the parties (trailing key bytes);
                         2: the parties run one more Output than the dealer (too few key bytes) */
} unary_arg;

static ff_status unary_graph(ff_op *op, void *arg, ff_sigma_local_rec *rec) {
  const unary_arg *u = arg;
  ff_wire x = {0}, y = {0};
  const int64_t shape[1] = {(int64_t)u->N};
  ff_status st;
  if ((st = ff_op_input(op, 1, 1, shape, u->x, &x))) goto done;
  if (u->break_brackets) {
    st = ff_sigma_local_gate_end(rec);
    goto done;
  }
  ff_sigma_local_gate_begin(rec);
  if (u->p1_enotsup && ff_op_get_role(op) == FF_OP_PARTY && ff_op_cost(op, 1).key_bytes > 0) {
    st = FF_ENOTSUP; /* party 1 (the only party whose own entry counts key bytes) stops; P0 sees ECONN */
    goto done;
  }
  st = u->gelu ? ff_op_gelu(op, &x, &y) : ff_op_trfloor(op, &x, u->shift, &y);
  if (st || (st = ff_sigma_local_gate_end(rec))) goto done;
  st = ff_sigma_local_output(rec, &y);
  if (!st && ((u->extra == 1 && ff_op_get_role(op) == FF_OP_DEALER) ||
              (u->extra == 2 && ff_op_get_role(op) == FF_OP_PARTY))) {
    uint64_t *plain = calloc(y.numel, sizeof *plain);
    st = plain ? ff_op_output(op, &y, plain) : FF_ENOMEM;
    free(plain);
  }
done:
  ff_wire_free(&x);
  ff_wire_free(&y);
  return st;
}

/* N values uniform in [-lim, lim) as ring elements. */
static uint64_t *inputs(size_t N, int64_t lim, uint64_t seed) {
  ff_rng rng;
  ff_rng_init_seeded(&rng, seed);
  uint64_t *x = calloc(N, sizeof *x);
  assert_non_null(x);
  for (size_t i = 0; i < N; i++)
    x[i] = ff_ring_from_signed(-lim + (int64_t)(ff_rng_u64(&rng) % (uint64_t)(2 * lim)), BW);
  return x;
}

static void assert_cost_equal(ff_gate_cost got, ff_gate_cost want) {
  assert_int_equal(got.key_bytes, want.key_bytes);
  assert_int_equal(got.bits_sent, want.bits_sent);
  assert_int_equal(got.bytes_sent, want.bytes_sent);
  assert_int_equal(got.rounds, want.rounds);
}

/* Every measured and counted cost of the gate equals `want` (both parties alike). */
static void check_result(const ff_sigma_local_result *r, ff_gate_cost want, int reps) {
  assert_int_equal(r->reps, reps);
  assert_true(r->keygen_s > 0 && r->keygen_gate_s > 0 && r->keygen_gate_s <= r->keygen_s);
  for (int p = 0; p < 2; p++) {
    assert_cost_equal(r->gate[p], want);
    assert_cost_equal(r->cost_gate[p], want);
    assert_int_equal(r->keygen_gate[p].key_bytes, want.key_bytes);
    assert_int_equal(r->total[p].key_bytes, r->key_bytes[p]);
    assert_int_equal(r->cost_total[p].key_bytes, r->key_bytes[p]);
    assert_int_equal(r->cost_total[p].bits_sent, r->total[p].bits_sent);
    assert_true(r->tag_bytes[p] > 0);
    assert_true(r->gate_s[p] > 0 && r->gate_s[p] <= r->eval_s[p]);
  }
}

static void test_trfloor(void **state) {
  (void)state;
  const size_t N = 200;
  const int s = 12;
  uint64_t *x = inputs(N, (int64_t)1 << (BW - 2), 7);
  unary_arg u = {.gelu = 0, .shift = s, .N = N, .x = x};
  const ff_sigma_local_opts o = {.bw = BW, .scale = SCALE, .backend = FF_BACKEND_CPU, .reps = 3, .seed = 11};
  ff_sigma_local_result r;
  assert_int_equal(ff_sigma_run_local(&o, unary_graph, &u, &r), FF_OK);
  ff_gate_cost want;
  ff_sigma_trfloor_cost(N, BW, s, &want);
  check_result(&r, want, 3);
  assert_int_equal(r.n_out, N);
  assert_int_equal(r.out_bw, BW);
  for (size_t i = 0; i < N; i++) {
    const int64_t v = ff_ring_signed(x[i], BW);
    const int64_t q = v / (1 << s) - (v % (1 << s) != 0 && v < 0); /* floor */
    assert_int_equal(r.out[i], ff_ring_from_signed(q, BW));
  }
  ff_sigma_local_result_free(&r);
  free(x);
}

static void test_gelu(void **state) {
  (void)state;
  const size_t N = 96;
  uint64_t *x = inputs(N, (int64_t)1 << (SCALE + 3), 8); /* |x| < 8: inside and outside the clip */
  uint64_t tab[256];
  assert_int_equal(ff_sigma_act_table(FF_SIGMA_GELU, SCALE, BW, tab), FF_OK);
  unary_arg u = {.gelu = 1, .N = N, .x = x};
  const ff_sigma_local_opts o = {.bw = BW, .scale = SCALE, .backend = FF_BACKEND_CPU, .reps = 2};
  ff_sigma_local_result r;
  assert_int_equal(ff_sigma_run_local(&o, unary_graph, &u, &r), FF_OK);
  ff_gate_cost want;
  ff_sigma_gelu_cost(N, BW, SCALE, &want);
  check_result(&r, want, 2);
  assert_int_equal(r.n_out, N);
  for (size_t i = 0; i < N; i++) { /* y = ReLU(x) - T[min(|floor(x / 2^6)|, 255)] (gelu.h) */
    const int64_t v = ff_ring_signed(x[i], BW), xt = v >= 0 ? v / 64 : -((-v + 63) / 64);
    const int64_t m = xt < 0 ? -xt : xt;
    assert_int_equal(r.out[i], ff_ring_from_signed((v > 0 ? v : 0) - (int64_t)tab[m < 255 ? m : 255], BW));
  }
  ff_sigma_local_result_free(&r);
  free(x);
}

/* A profiled GELU: both logs written, merged; under Activation::GELU a KeyTransfer node that was
 * called and moved no channel bytes, and Reconstruct nodes (the gate's own and those nested in
 * TruncRescale and FSS::LUT) whose link bytes (P0 sent + P1 sent) add up to the gate's measured bytes,
 * exactly, in every repetition (the warm-up included). */
static void test_profile(void **state) {
  (void)state;
  const size_t N = 64;
  const int reps = 2;
  uint64_t *x = inputs(N, (int64_t)1 << (SCALE + 3), 9);
  char dir[] = "/tmp/ff_test_bench_gate_XXXXXX";
  assert_non_null(mkdtemp(dir));
  unary_arg u = {.gelu = 1, .N = N, .x = x};
  const ff_sigma_local_opts o = {.bw = BW, .scale = SCALE, .backend = FF_BACKEND_CPU, .reps = reps, .seed = 5,
                                 .prof_dir = dir, .prof_gate = "gelu", .prof_shape = "64"};
  ff_sigma_local_result r;
  assert_int_equal(ff_sigma_run_local(&o, unary_graph, &u, &r), FF_OK);
  ff_gate_cost want;
  ff_sigma_gelu_cost(N, BW, SCALE, &want);
  check_result(&r, want, reps); /* the warm-up repetition is not among the timed ones */
  char log[2][512];
  for (int p = 0; p < 2; p++) {
    snprintf(log[p], sizeof log[p], "%s/prof_p%d.json", dir, p);
    assert_int_equal(access(log[p], R_OK), 0);
  }
  ff_breakdown *bd = NULL;
  assert_int_equal(ff_merge_logs(log[1], log[0], &bd), FF_OK);
  assert_int_equal(bd->n_reps, (size_t)reps + 1);
  assert_true(bd->reps[0].warmup);
  assert_int_equal(ff_breakdown_counted_reps(bd), (size_t)reps);
  assert_string_equal(ff_breakdown_run_str(bd, "tool"), "bench gate");
  assert_string_equal(ff_breakdown_run_str(bd, "workload.gate"), "gelu");
  const int gate = ff_breakdown_find(bd, "Activation::GELU");
  const int kt = ff_breakdown_find(bd, "Activation::GELU/KeyTransfer");
  assert_true(gate >= 0 && kt >= 0 && ff_breakdown_find(bd, "Activation::GELU/Reconstruct") >= 0);
  const uint64_t link = r.gate[0].bytes_sent + r.gate[1].bytes_sent;
  assert_true(link > 0);
  for (size_t i = 0; i < bd->n_reps; i++) {
    const ff_metrics *k = ff_breakdown_rep_row(bd, i, kt, 0), *g = ff_breakdown_rep_row(bd, i, gate, 0);
    assert_true(k->v[FF_M_CALLS] > 0);
    assert_int_equal((uint64_t)k->v[FF_M_LINK], 0);
    assert_int_equal((uint64_t)g->v[FF_M_LINK], link);
    /* Every byte of the gate goes through a Reconstruct node (the gate's own, TruncRescale's, FSS::LUT's),
     * and no KeyTransfer node anywhere carries one. */
    uint64_t rec[3] = {0, 0, 0};
    for (size_t j = 0; j < bd->n_nodes; j++) {
      const char *name = bd->scopes[bd->nodes[j].scope].name;
      const ff_metrics *m = ff_breakdown_rep_row(bd, i, (int)j, 0);
      if (strcmp(name, "KeyTransfer") == 0) assert_int_equal((uint64_t)m->v[FF_M_LINK], 0);
      if (strcmp(name, "Reconstruct") != 0 || strncmp(bd->nodes[j].path, "Activation::GELU/", 17) != 0) continue;
      rec[0] += (uint64_t)m->v[FF_M_LINK];
      rec[1] += (uint64_t)m->v[FF_M_SENT_P0];
      rec[2] += (uint64_t)m->v[FF_M_SENT_P1];
    }
    assert_int_equal(rec[0], link);
    assert_int_equal(rec[1], r.gate[0].bytes_sent);
    assert_int_equal(rec[2], r.gate[1].bytes_sent);
  }
  ff_breakdown_free(bd);
  ff_sigma_local_result_free(&r);
  for (int p = 0; p < 2; p++) assert_int_equal(unlink(log[p]), 0);
  assert_int_equal(rmdir(dir), 0);
  free(x);
}

static void test_errors(void **state) {
  (void)state;
  uint64_t x[16] = {0};
  unary_arg u = {.shift = 4, .N = 16, .x = x};
  ff_sigma_local_opts o = {.bw = BW, .scale = SCALE, .backend = FF_BACKEND_CPU, .reps = 0};
  ff_sigma_local_result r;
  assert_int_equal(ff_sigma_run_local(&o, unary_graph, &u, &r), FF_EINVAL);
  o.reps = 1;
  assert_int_equal(ff_sigma_run_local(NULL, unary_graph, &u, &r), FF_EINVAL);
  assert_int_equal(ff_sigma_run_local(&o, NULL, &u, &r), FF_EINVAL);
  u.break_brackets = 1; /* gate_end without begin: the first role to run it fails */
  assert_int_equal(ff_sigma_run_local(&o, unary_graph, &u, &r), FF_ESTATE);
  ff_sigma_local_result_free(&r);
  u.break_brackets = 0;
  { /* a party whose backend lacks the gate: FF_ENOTSUP (not the peer's FF_ECONN), dealer figures kept */
    u.p1_enotsup = 1;
    assert_int_equal(ff_sigma_run_local(&o, unary_graph, &u, &r), FF_ENOTSUP);
    ff_gate_cost want;
    ff_sigma_trfloor_cost(16, BW, 4, &want);
    assert_int_equal(r.keygen_gate[0].key_bytes, want.key_bytes);
    assert_cost_equal(r.cost_gate[1], want);
    assert_int_equal(r.reps, 0);
    assert_null(r.out);
    ff_sigma_local_result_free(&r);
  }
}

/* FF_KEYS_PRELOAD against FF_KEYS_STREAM from the same seed: byte-identical revealed outputs, identical
 * costs and key/tag bytes, a preload time reported only with PRELOAD. */
static void run_both(unary_arg *u, size_t N) {
  ff_sigma_local_opts o = {.bw = BW, .scale = SCALE, .backend = FF_BACKEND_CPU, .reps = 2, .seed = 21};
  ff_sigma_local_result rs, rp;
  assert_int_equal(ff_sigma_run_local(&o, unary_graph, u, &rs), FF_OK);
  o.keys = FF_KEYS_PRELOAD;
  assert_int_equal(ff_sigma_run_local(&o, unary_graph, u, &rp), FF_OK);
  assert_int_equal(rs.n_out, N);
  assert_int_equal(rp.n_out, N);
  assert_memory_equal(rs.out, rp.out, N * sizeof *rs.out);
  for (int p = 0; p < 2; p++) {
    assert_cost_equal(rp.gate[p], rs.gate[p]);
    assert_cost_equal(rp.total[p], rs.total[p]);
    assert_cost_equal(rp.gate[p], rp.cost_gate[p]);
    assert_int_equal(rp.key_bytes[p], rs.key_bytes[p]);
    assert_int_equal(rp.tag_bytes[p], rs.tag_bytes[p]);
    assert_int_equal(rp.total[p].key_bytes, rp.key_bytes[p]);
    assert_true(rs.preload_s[p] == 0);
    assert_true(rp.preload_s[p] > 0);
  }
  ff_sigma_local_result_free(&rs);
  ff_sigma_local_result_free(&rp);
}

static void test_preload(void **state) {
  (void)state;
  const size_t N = 64;
  uint64_t *x = inputs(N, (int64_t)1 << (SCALE + 3), 12);
  unary_arg u = {.gelu = 0, .shift = 12, .N = N, .x = x};
  run_both(&u, N);
  u.gelu = 1;
  run_both(&u, N);
  free(x);
}

/* A stream with trailing key bytes fails with FF_EMISMATCH, one that runs out with FF_ERANGE, the same
 * with either placement. */
static void test_preload_errors(void **state) {
  (void)state;
  const size_t N = 16;
  uint64_t *x = inputs(N, (int64_t)1 << (SCALE + 3), 13);
  unary_arg u = {.gelu = 1, .N = N, .x = x};
  ff_sigma_local_opts o = {.bw = BW, .scale = SCALE, .backend = FF_BACKEND_CPU, .reps = 1, .seed = 3};
  ff_sigma_local_result r;
  for (int k = 0; k < 2; k++) {
    o.keys = k ? FF_KEYS_PRELOAD : FF_KEYS_STREAM;
    u.extra = 1;
    assert_int_equal(ff_sigma_run_local(&o, unary_graph, &u, &r), FF_EMISMATCH);
    ff_sigma_local_result_free(&r);
    u.extra = 2;
    assert_int_equal(ff_sigma_run_local(&o, unary_graph, &u, &r), FF_ERANGE);
    ff_sigma_local_result_free(&r);
  }
  o.keys = (ff_op_key_placement)7;
  u.extra = 0;
  assert_int_equal(ff_sigma_run_local(&o, unary_graph, &u, &r), FF_EINVAL);
  ff_sigma_local_result_free(&r);
  free(x);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_trfloor),
      cmocka_unit_test(test_gelu),
      cmocka_unit_test(test_profile),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_preload),
      cmocka_unit_test(test_preload_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
