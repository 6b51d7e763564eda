/* The local two-party runner behind `fusefss bench gate` (gates/sigma/local.h): a small TrFloor and
 * GELU graph run by the dealer and both CPU parties over several repetitions; the measured gate costs
 * equal the cost functions, the revealed output is exact, and the error paths report clearly; with
 * prof_dir both parties' scope logs merge, with KeyTransfer and Reconstruct under the gate's scope.
 * Then `--suite suf` / `--suite both` (tools/bench_gate.h): the rows of ff_bench_gate_run at small sizes
 * on the CPU against ff_suf_cost and sigma's cost functions, the command's printed rows against the same
 * numbers under knobs from the environment and --suf, and its usage errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/rand.h"
#include "core/ring.h"
#include "fixtures.h"
#include "gates/sigma/gelu.h"
#include "gates/sigma/local.h"
#include "gates/sigma/softmax.h"
#include "gates/sigma/truncate.h"
#include "gates/suf/sparse.h"
#include "gates/suf/spec.h"
#include "gates/suf/suf.h"
#include "tools/bench_gate.h"
#include "tools/lib/analysis.h"
#include "tools/cli.h"

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

/* ---- --suite suf and both -------------------------------------------------------------------------------- */

/* The small sizes of the bench's rows (rows / 16). */
enum { GELU_N = 8 * 3072, NEXP_N = 96 * 128 };

static const ff_suf_spec *spec_of(ff_suf_fn fn, const ff_suf_config *cfg, int bw_in, int bw) {
  const ff_suf_spec *sp = ff_suf_spec_for(fn, cfg, bw_in, bw, SCALE);
  assert_non_null(sp);
  return sp;
}

static void check_row(const ff_bench_gate_row *r, size_t N, ff_gate_cost want, int is_suf) {
  assert_true(r->ran);
  assert_int_equal(r->is_suf, is_suf);
  assert_int_equal(r->n_out, N);
  assert_true(r->cost_ok);
  assert_cost_equal(r->want, want);
  if (r->nowrap < 0) assert_int_equal(r->cost.key_bytes, want.key_bytes);
  assert_int_equal(r->cost.bits_sent, want.bits_sent);
  assert_int_equal(r->cost.rounds, want.rounds);
  assert_int_equal(r->mismatches, 0);
  assert_true(r->party_ms > 0 && r->keygen_ms > 0);
  assert_true(r->mean_err > 0 && r->mean_err <= r->max_err);
  if (is_suf && r->bound >= 0) assert_true(r->max_err <= r->bound);
}

/* ff_bench_gate_run at small sizes on the CPU: suf's GELU, nExp (40 -> 50 bits) and softmax, sigma's GELU
 * and nExp, each row's measured costs equal to the cost function, its output to the emulation, its error
 * within the specification's bound; an unknown gate and the text-only rows are refused. */
static void test_suf_rows(void **state) {
  (void)state;
  ff_suf_config cfg;
  ff_suf_config_default(&cfg);
  ff_bench_gate_opts o = {.gate = "gelu", .suf = 1, .cfg = &cfg, .backend = FF_BACKEND_CPU, .reps = 1, .small = 1};
  ff_bench_gate_row r;
  ff_gate_cost want;

  const ff_suf_spec *gelu = spec_of(FF_SUF_GELU, &cfg, 50, 50);
  assert_int_equal(ff_bench_gate_run(&o, &r), FF_OK);
  ff_suf_cost(gelu, GELU_N, &want);
  check_row(&r, GELU_N, want, 1);
  assert_true(r.bound == gelu->err_bound);
  assert_int_equal(want.rounds, 4);

  o.gate = "nexp";
  const ff_suf_spec *nexp = spec_of(FF_SUF_NEXP, &cfg, 40, 50);
  assert_int_equal(ff_bench_gate_run(&o, &r), FF_OK);
  ff_suf_cost(nexp, NEXP_N, &want);
  check_row(&r, NEXP_N, want, 1);
  assert_int_equal(r.bw_in, 40);
  assert_int_equal(r.bw, 50);

  o.gate = "softmax";
  ff_sigma_softmax_opts so;
  ff_suf_softmax_opts(&cfg, &so);
  assert_int_equal(ff_bench_gate_run(&o, &r), FF_OK);
  assert_int_equal(ff_sigma_softmax_cost_ex(96, 128, 50, &so, &want), FF_OK);
  check_row(&r, NEXP_N, want, 1);

  o.suf = 0; /* sigma's GELU and nExp on the same inputs */
  o.gate = "gelu";
  assert_int_equal(ff_bench_gate_run(&o, &r), FF_OK);
  ff_sigma_gelu_cost(GELU_N, 50, SCALE, &want);
  check_row(&r, GELU_N, want, 0);
  assert_true(r.bound < 0);
  o.gate = "nexp";
  assert_int_equal(ff_bench_gate_run(&o, &r), FF_OK);
  ff_sigma_nexp_cost(NULL, NEXP_N, 50, 40, &want);
  check_row(&r, NEXP_N, want, 0);

  /* the sparse regime (SUF_GELU_INTERVALS <= 16): its own cost function, emulation and bound */
  ff_suf_config sparse = cfg;
  sparse.gelu_intervals = 4, sparse.degree = 1;
  const ff_suf_sparse_spec *sg = ff_suf_sparse_spec_for(FF_SUF_GELU, &sparse, 50, SCALE);
  assert_non_null(sg);
  o.suf = 1, o.gate = "gelu", o.cfg = &sparse;
  assert_int_equal(ff_bench_gate_run(&o, &r), FF_OK);
  ff_suf_sparse_cost(sg, GELU_N, &want);
  check_row(&r, GELU_N, want, 1);
  assert_true(r.bound == sg->err_bound);
  assert_int_equal(want.rounds, 5); /* the lookup's reconstruct, then TrFloor's 4 */
  assert_non_null(strstr(r.spec, "sparse"));
  assert_int_equal(r.nowrap, -1);
  /* the padding ablation on a narrow view (e 18: about N K / 2^18 = 1.7 elements expected not to wrap):
   * the key bytes are the exact figure for the number of unwrapped elements the row reports */
  sparse.degree = 0, sparse.gelu_intervals = 16, sparse.effective_bits = 18, sparse.insecure_no_padding = 1;
  sg = ff_suf_sparse_spec_for(FF_SUF_GELU, &sparse, 50, SCALE);
  assert_non_null(sg);
  ff_log_set_level(FF_LOG_ERROR); /* the ablation's warnings */
  assert_int_equal(ff_bench_gate_run(&o, &r), FF_OK);
  ff_log_set_level(FF_LOG_WARN);
  assert_true(r.nowrap >= 0 && r.nowrap <= GELU_N);
  ff_gate_cost padded;
  ff_suf_sparse_cost(sg, GELU_N, &padded);
  check_row(&r, GELU_N, padded, 1); /* the cost function is the bound where every rotation wraps ... */
  ff_suf_sparse_cost_unpadded(sg, GELU_N, (size_t)r.nowrap, &want);
  assert_cost_equal(r.cost, want); /* ... the measured cost the exact figure for r.nowrap unwrapped elements */
  print_message("ablation at e 18: %ld of %d elements unwrapped, key %.4f B/el (padded bound %.4f)\n", r.nowrap, GELU_N,
                (double)want.key_bytes / GELU_N, (double)padded.key_bytes / GELU_N);
  o.cfg = &cfg;

  cfg.activation = 0; /* the switch off: the suf suite's GELU is sigma's */
  o.suf = 1;
  o.gate = "gelu";
  assert_int_equal(ff_bench_gate_run(&o, &r), FF_OK);
  ff_sigma_gelu_cost(GELU_N, 50, SCALE, &want);
  check_row(&r, GELU_N, want, 0);

  o.gate = "rsqrt";
  assert_int_equal(ff_bench_gate_run(&o, &r), FF_EINVAL);
  o.gate = "trfloor";
  assert_int_equal(ff_bench_gate_run(&o, &r), FF_EINVAL);
}

static const char *const knob_names[] = {"ACTIVATION",  "SOFTMAX",    "LAYERNORM", "GELU_INTERVALS", "SILU_INTERVALS",
                                         "NEXP_BITS",   "INV_BITS",   "RSQRT_BITS", "DEGREE",        "EFFECTIVE_BITS"};

/* No SUF_* / FUSEFSS_* knob from the caller's environment. */
static void clear_knob_env(void) {
  for (size_t i = 0; i < sizeof knob_names / sizeof knob_names[0]; i++) {
    char name[48];
    snprintf(name, sizeof name, "SUF_%s", knob_names[i]);
    unsetenv(name);
    snprintf(name, sizeof name, "FUSEFSS_%s", knob_names[i]);
    unsetenv(name);
  }
}

/* The printed row of (gate, suite, backend): its cells, split at '|' and trimmed (cell[0] = gate); 0 when
 * there is no such row. */
static int find_row(const char *out, const char *gate, const char *suite, const char *on, char cell[16][96]) {
  for (const char *line = out; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
    if (line[0] != '|') continue;
    const size_t len = strcspn(line, "\n");
    int n = 0;
    const char *p = line + 1;
    while (p < line + len && n < 16) {
      const size_t w = strcspn(p, "|\n");
      size_t a = 0, b = w;
      while (a < b && p[a] == ' ') a++;
      while (b > a && p[b - 1] == ' ') b--;
      snprintf(cell[n++], 96, "%.*s", (int)(b - a), p + a);
      p += w + 1;
    }
    if (n >= 15 && strcmp(cell[0], gate) == 0 && strcmp(cell[1], suite) == 0 && strcmp(cell[4], on) == 0) return 1;
  }
  return 0;
}

/* The printed key B/el, bits/el and rounds of a row are the cost function's, its check "ok". Cells: gate,
 * suite, shape, bw, on, keygen ms, party ms, key B/el, bits/el, rounds, max err, mean err, bound, check, spec. */
static void check_printed(const char *out, const char *gate, const char *suite, ff_gate_cost want, size_t N,
                          double bound) {
  char cell[16][96], s[64];
  if (!find_row(out, gate, suite, "cpu", cell)) fail_msg("no printed row for %s %s on cpu", gate, suite);
  snprintf(s, sizeof s, "%.3f", (double)want.key_bytes / (double)N);
  assert_string_equal(cell[7], s);
  snprintf(s, sizeof s, "%.2f", (double)want.bits_sent / (double)N);
  assert_string_equal(cell[8], s);
  snprintf(s, sizeof s, "%llu", (unsigned long long)want.rounds);
  assert_string_equal(cell[9], s);
  assert_string_equal(cell[13], "ok");
  const double max_err = strtod(cell[10], NULL), mean_err = strtod(cell[11], NULL);
  assert_true(mean_err > 0 && mean_err <= max_err);
  if (bound >= 0) {
    snprintf(s, sizeof s, "%.6f", bound);
    assert_string_equal(cell[12], s);
    assert_true(max_err <= bound);
  } else {
    assert_string_equal(cell[12], "-");
  }
}

/* `--suite suf` with a knob from the environment (SUF_GELU_INTERVALS=512) and one from --suf (nExp on 8
 * bits): the knobs printed, the rows' numbers those of the specifications they select. */
static void test_cmd_suf(void **state) {
  (void)state;
  clear_knob_env();
  setenv("SUF_GELU_INTERVALS", "512", 1);
  char *argv[] = {"gate", "--suite", "suf", "--small", "--backend", "cpu", "--reps", "1",
                  "--gate", "gelu,nexp,reciprocal", "--suf", "nexp_bits=8", NULL};
  capture c = capture_begin(1);
  const int rc = ff_cmd_bench_gate(12, argv);
  char *out = capture_end(c);
  unsetenv("SUF_GELU_INTERVALS");
  assert_int_equal(rc, FF_EXIT_OK);
  assert_non_null(strstr(out, "\"SUF_GELU_INTERVALS\":512"));
  assert_non_null(strstr(out, "\"SUF_NEXP_BITS\":8"));
  ff_suf_config cfg;
  ff_suf_config_default(&cfg);
  cfg.gelu_intervals = 512;
  cfg.nexp_bits = 8;
  const ff_suf_spec *gelu = spec_of(FF_SUF_GELU, &cfg, 50, 50), *nexp = spec_of(FF_SUF_NEXP, &cfg, 40, 50);
  assert_int_equal(gelu->k, 9);
  assert_int_equal(nexp->k, 8);
  ff_gate_cost want;
  ff_suf_cost(gelu, GELU_N, &want);
  check_printed(out, "gelu", "suf", want, GELU_N, gelu->err_bound);
  ff_suf_cost(nexp, NEXP_N, &want);
  check_printed(out, "nexp", "suf", want, NEXP_N, nexp->err_bound);
  char cell[16][96];
  assert_false(find_row(out, "gelu", "sigma", "cpu", cell)); /* suf only */
  assert_non_null(strstr(out, "| reciprocal | suf "));
  assert_non_null(strstr(out, "as sigma at SUF_INV_BITS 0"));
  free(out);
}

/* `--suite both`: sigma's and suf's GELU side by side, each with its own cost function, and the summary. */
static void test_cmd_both(void **state) {
  (void)state;
  clear_knob_env();
  char *argv[] = {"gate", "--suite", "both", "--small", "--backend", "cpu", "--reps", "1", "--gate", "gelu", NULL};
  capture c = capture_begin(1);
  const int rc = ff_cmd_bench_gate(10, argv);
  char *out = capture_end(c);
  assert_int_equal(rc, FF_EXIT_OK);
  ff_suf_config cfg;
  ff_suf_config_default(&cfg);
  const ff_suf_spec *gelu = spec_of(FF_SUF_GELU, &cfg, 50, 50);
  ff_gate_cost want;
  ff_suf_cost(gelu, GELU_N, &want);
  check_printed(out, "gelu", "suf", want, GELU_N, gelu->err_bound);
  ff_sigma_gelu_cost(GELU_N, 50, SCALE, &want);
  check_printed(out, "gelu", "sigma", want, GELU_N, -1);
  assert_non_null(strstr(out, "  gelu/cpu: key "));
  free(out);
}

/* Usage errors (exit status 2): a bad suite, a bad or misplaced --suf, knobs that do not fit, a gate of
 * the other suite, a bad environment variable; --help names the suites. */
static void test_cmd_usage(void **state) {
  (void)state;
  clear_knob_env();
  char *help[] = {"gate", "--help", NULL};
  capture c = capture_begin(1);
  assert_int_equal(ff_cmd_bench_gate(2, help), FF_EXIT_OK);
  char *out = capture_end(c);
  assert_non_null(strstr(out, "--suite sigma|suf|both"));
  assert_non_null(strstr(out, "--suf NAME=VALUE"));
  free(out);
  c = capture_begin(2);
  char *suite[] = {"gate", "--suite", "llama", NULL};
  assert_int_equal(ff_cmd_bench_gate(3, suite), FF_EXIT_USAGE);
  char *knob[] = {"gate", "--suite", "suf", "--suf", "bogus=1", NULL};
  assert_int_equal(ff_cmd_bench_gate(5, knob), FF_EXIT_USAGE);
  char *value[] = {"gate", "--suite", "suf", "--suf", "nexp_bits=40", NULL};
  assert_int_equal(ff_cmd_bench_gate(5, value), FF_EXIT_USAGE);
  char *noeq[] = {"gate", "--suite", "both", "--suf", "gelu_intervals", NULL};
  assert_int_equal(ff_cmd_bench_gate(5, noeq), FF_EXIT_USAGE);
  char *fit[] = {"gate", "--suite", "suf", "--suf", "gelu_intervals=100", NULL};
  assert_int_equal(ff_cmd_bench_gate(5, fit), FF_EXIT_USAGE);
  char *sigma[] = {"gate", "--suite", "sigma", "--suf", "nexp_bits=8", NULL};
  assert_int_equal(ff_cmd_bench_gate(5, sigma), FF_EXIT_USAGE);
  char *gate[] = {"gate", "--suite", "both", "--gate", "trfloor", NULL};
  assert_int_equal(ff_cmd_bench_gate(5, gate), FF_EXIT_USAGE);
  setenv("SUF_NEXP_BITS", "40", 1);
  char *env[] = {"gate", "--suite", "suf", NULL};
  assert_int_equal(ff_cmd_bench_gate(3, env), FF_EXIT_USAGE);
  unsetenv("SUF_NEXP_BITS");
  free(capture_end(c));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_trfloor),
      cmocka_unit_test(test_gelu),
      cmocka_unit_test(test_profile),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_preload),
      cmocka_unit_test(test_preload_errors),
      cmocka_unit_test(test_suf_rows),
      cmocka_unit_test(test_cmd_suf),
      cmocka_unit_test(test_cmd_both),
      cmocka_unit_test(test_cmd_usage),
  };
  fixtures_init("bench_gate");
  return cmocka_run_group_tests(tests, NULL, NULL);
}
