/* Tests of stats, `fusefss merge` (merge rules, invariants, refusals), the merged file and its loader,
 * the groupings and `fusefss report`, on hand-built per-party logs (DESIGN.md §6, docs/tools.md).
 * Every expected number is worked out by hand in the comments, never by the code under test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/status.h"
#include "tools/lib/analysis.h"
#include "tools/merge.h"
#include "tools/report.h"
#include "tools/cli.h"

#include "fixtures.h"

/* ---- Per-party logs: the scope dictionary and run fields of every log here ----------------------- */

/* Scope dictionary used by all logs here (index: name, family). */
enum { FWD, LAYER, LINEAR, GELU, RECON, SOFTMAX };
static const char *const SCOPES[][2] = {{"Forward", "Structure"},  {"Layer", "Structure"},
                                        {"Linear", "Linear"},      {"Activation::GELU", "Activation"},
                                        {"Reconstruct", "Reconstruct"}, {"Softmax", "Softmax"}};

/* A `bench comm` log of bert-tiny at seq 128 with SUF_ACTIVATION on. */
static cJSON *party_log(int party, const char *run_id) {
  cJSON *j = log_new(party, run_id, "bench comm", SCOPES, sizeof SCOPES / sizeof SCOPES[0]);
  cJSON *run = cJSON_GetObjectItem(j, "run");
  cJSON_AddNumberToObject(cJSON_GetObjectItem(run, "workload"), "seq", 128);
  cJSON *kn = cJSON_AddObjectToObject(run, "knobs");
  cJSON_AddBoolToObject(kn, "SUF_ACTIVATION", 1);
  return j;
}

/* ---- Scenario A: one layer with a Linear and a GELU that contains a Reconstruct ------------------
 *
 *   Forward
 *   └ Layer[0]
 *     ├ Linear
 *     └ Activation::GELU
 *       └ Reconstruct
 *
 * Rep 0 is a warm-up (times ×2, so it would change every median if it were counted); rep 1 counts. */
#define N_A 5
/*                                 parent scope  layer calls wall wait sent recv rounds msgs cuda */
static const tnode A_P0[N_A] = {{-1, FWD, -1, 1, 900, 200, 300, 500, 2, 3, 880},
                                {0, LAYER, 0, 1, 850, 200, 300, 500, 2, 3, 0},
                                {1, LINEAR, -1, 1, 300, 50, 100, 100, 1, 1, 0},
                                {1, GELU, -1, 1, 500, 150, 200, 400, 1, 2, 0},
                                {3, RECON, -1, 1, 250, 150, 200, 400, 1, 2, 0}};
static const tnode A_P1[N_A] = {{-1, FWD, -1, 1, 950, 100, 500, 300, 2, 3, 900},
                                {0, LAYER, 0, 1, 800, 100, 500, 300, 2, 3, 0},
                                {1, LINEAR, -1, 1, 350, 40, 100, 100, 1, 1, 0},
                                {1, GELU, -1, 1, 400, 60, 400, 200, 1, 2, 0},
                                {3, RECON, -1, 1, 200, 60, 400, 200, 1, 2, 0}};
/*                              wall  wait sent recv rounds msgs cuda */
static const ttotal A_T0 = {1000, 200, 300, 500, 2, 3, 950};
static const ttotal A_T1 = {1100, 100, 500, 300, 2, 3, 1000};

static cJSON *scen_a(int party) {
  cJSON *j = party_log(party, "3f9c0a1b7d2e4c55");
  const tnode *n = party ? A_P1 : A_P0;
  const ttotal *t = party ? &A_T1 : &A_T0;
  log_rep(j, 1, t, n, N_A, 2.0);
  log_rep(j, 0, t, n, N_A, 1.0);
  return j;
}

static cJSON *rep_item(cJSON *log, int r) { return cJSON_GetArrayItem(cJSON_GetObjectItem(log, "reps"), r); }
static cJSON *node_item(cJSON *log, int r, int i) {
  return cJSON_GetArrayItem(cJSON_GetObjectItem(rep_item(log, r), "nodes"), i);
}
static void set_num(cJSON *o, const char *key, double v) { cJSON_SetNumberValue(cJSON_GetObjectItem(o, key), v); }

static ff_breakdown *merge_ok(cJSON *p0, cJSON *p1) {
  char *a = write_json(p0), *b = write_json(p1);
  ff_breakdown *bd = NULL;
  assert_int_equal(ff_merge_logs(a, b, &bd), FF_OK);
  assert_non_null(bd);
  return bd;
}

/* The value of metric m of a row in the (only) counted repetition, rep index 1. */
static double val(const ff_breakdown *bd, const char *path, int excl, ff_metric m) {
  int row = strcmp(path, "TOTAL") == 0   ? FF_BD_TOTAL
            : strcmp(path, "OTHER") == 0 ? FF_BD_OTHER
                                         : ff_breakdown_find(bd, path);
  assert_true(row != -1 || strcmp(path, "TOTAL") == 0);
  const ff_metrics *x = ff_breakdown_rep_row(bd, 1, row, excl);
  assert_non_null(x);
  return x->v[m];
}

/* ---- stats -------------------------------------------------------------------------------------- */

static void test_stats_quantiles(void **state) {
  (void)state;
  ff_stats s;
  /* [1,2,3,4]: h = 3q. p25: h = 0.75 -> 1 + 0.75·(2−1) = 1.75; median: h = 1.5 -> 2.5;
   * p75: h = 2.25 -> 3 + 0.25·(4−3) = 3.25 (numpy.percentile gives the same). */
  const double x4[] = {4, 1, 3, 2};
  assert_int_equal(ff_stats_compute(x4, 4, &s), FF_OK);
  assert_double_equal(s.p25, 1.75, 1e-12);
  assert_double_equal(s.median, 2.5, 1e-12);
  assert_double_equal(s.p75, 3.25, 1e-12);
  assert_double_equal(s.min, 1, 0);
  assert_double_equal(s.max, 4, 0);
  assert_int_equal(s.n, 4);
  /* 5 values, sorted 1 3 5 7 9: h = 4q lands on order statistics: p25 = 3, median 5, p75 7. */
  const double x5[] = {9, 1, 7, 3, 5};
  assert_int_equal(ff_stats_compute(x5, 5, &s), FF_OK);
  assert_double_equal(s.p25, 3, 0);
  assert_double_equal(s.median, 5, 0);
  assert_double_equal(s.p75, 7, 0);
  /* [10 20 30 40 50], q = 0.1: h = 0.4 -> 10 + 0.4·10 = 14. */
  const double y[] = {10, 20, 30, 40, 50};
  assert_double_equal(ff_quantile_sorted(y, 5, 0.1), 14, 1e-12);
  /* One value: every statistic is that value. */
  const double one[] = {42};
  assert_int_equal(ff_stats_compute(one, 1, &s), FF_OK);
  assert_double_equal(s.p25, 42, 0);
  assert_double_equal(s.p75, 42, 0);
  /* [1,2]: median 1.5, p25 = 1 + 0.25 = 1.25, p75 = 1.75. */
  const double two[] = {2, 1};
  assert_int_equal(ff_stats_compute(two, 2, &s), FF_OK);
  assert_double_equal(s.median, 1.5, 1e-12);
  assert_double_equal(s.p25, 1.25, 1e-12);
  assert_double_equal(s.p75, 1.75, 1e-12);
  /* No samples is an error, and the result is zeroed. */
  assert_int_equal(ff_stats_compute(x4, 0, &s), FF_EINVAL);
  assert_int_equal(s.n, 0);
  const double bad[] = {1, NAN};
  assert_int_equal(ff_stats_compute(bad, 2, &s), FF_EINVAL);
}

/* ---- merge rules -------------------------------------------------------------------------------- */

static void test_merge_time_bytes_rounds(void **state) {
  (void)state;
  ff_breakdown *bd = merge_ok(scen_a(0), scen_a(1));
  assert_int_equal(bd->n_nodes, 5);
  assert_int_equal(bd->n_reps, 2);
  assert_int_equal(ff_breakdown_counted_reps(bd), 1);
  assert_int_equal(bd->n_warnings, 0);
  assert_int_equal(ff_breakdown_find(bd, "Forward/Layer[0]/Activation::GELU/Reconstruct"), 4);
  assert_int_equal(ff_breakdown_find(bd, "Forward/Layer[0]/Linear"), 2);
  assert_int_equal(ff_breakdown_find(bd, "Forward/Layer/Linear"), -1);

  /* Totals: wall max(1000, 1100) = 1100, skew 100; link = 300 + 500 = 800;
   * comp = max(1000 − 200, 1100 − 100) = max(800, 1000) = 1000; wait = max(200, 100) = 200;
   * cuda max(950, 1000) = 1000; rounds max(2, 2) = 2. */
  assert_double_equal(val(bd, "TOTAL", 0, FF_M_WALL), 1100, 0);
  assert_double_equal(val(bd, "TOTAL", 0, FF_M_WALL_SKEW), 100, 0);
  assert_double_equal(val(bd, "TOTAL", 0, FF_M_WALL_P0), 1000, 0);
  assert_double_equal(val(bd, "TOTAL", 0, FF_M_WALL_P1), 1100, 0);
  assert_double_equal(val(bd, "TOTAL", 0, FF_M_LINK), 800, 0);
  assert_double_equal(val(bd, "TOTAL", 0, FF_M_SENT_P0), 300, 0);
  assert_double_equal(val(bd, "TOTAL", 0, FF_M_SENT_P1), 500, 0);
  assert_double_equal(val(bd, "TOTAL", 0, FF_M_RECV_P0), 500, 0);
  assert_double_equal(val(bd, "TOTAL", 0, FF_M_RECV_P1), 300, 0);
  assert_double_equal(val(bd, "TOTAL", 0, FF_M_COMP), 1000, 0);
  assert_double_equal(val(bd, "TOTAL", 0, FF_M_WAIT), 200, 0);
  assert_double_equal(val(bd, "TOTAL", 0, FF_M_CUDA), 1000, 0);
  assert_double_equal(val(bd, "TOTAL", 0, FF_M_ROUNDS), 2, 0);

  /* Forward: wall max(900, 950) = 950, skew 50; cuda max(880, 900) = 900; link 300 + 500 = 800;
   * comp max(900 − 200, 950 − 100) = 850; msgs kept per party (3, 3). */
  assert_double_equal(val(bd, "Forward", 0, FF_M_WALL), 950, 0);
  assert_double_equal(val(bd, "Forward", 0, FF_M_WALL_SKEW), 50, 0);
  assert_double_equal(val(bd, "Forward", 0, FF_M_CUDA), 900, 0);
  assert_double_equal(val(bd, "Forward", 0, FF_M_LINK), 800, 0);
  assert_double_equal(val(bd, "Forward", 0, FF_M_COMP), 850, 0);
  assert_double_equal(val(bd, "Forward", 0, FF_M_MSGS_P0), 3, 0);
  assert_double_equal(val(bd, "Forward", 0, FF_M_MSGS_P1), 3, 0);
  /* Linear: wall max(300, 350) = 350; comp max(300 − 50, 350 − 40) = 310; link 100 + 100 = 200;
   * wait per party 50 / 40, merged max 50. */
  assert_double_equal(val(bd, "Forward/Layer[0]/Linear", 0, FF_M_WALL), 350, 0);
  assert_double_equal(val(bd, "Forward/Layer[0]/Linear", 0, FF_M_COMP), 310, 0);
  assert_double_equal(val(bd, "Forward/Layer[0]/Linear", 0, FF_M_LINK), 200, 0);
  assert_double_equal(val(bd, "Forward/Layer[0]/Linear", 0, FF_M_WAIT_P0), 50, 0);
  assert_double_equal(val(bd, "Forward/Layer[0]/Linear", 0, FF_M_WAIT_P1), 40, 0);
  assert_double_equal(val(bd, "Forward/Layer[0]/Linear", 0, FF_M_WAIT), 50, 0);
  /* GELU: wall max(500, 400) = 500, skew 100, link 200 + 400 = 600, comp max(350, 340) = 350. */
  assert_double_equal(val(bd, "Forward/Layer[0]/Activation::GELU", 0, FF_M_WALL), 500, 0);
  assert_double_equal(val(bd, "Forward/Layer[0]/Activation::GELU", 0, FF_M_WALL_SKEW), 100, 0);
  assert_double_equal(val(bd, "Forward/Layer[0]/Activation::GELU", 0, FF_M_LINK), 600, 0);
  assert_double_equal(val(bd, "Forward/Layer[0]/Activation::GELU", 0, FF_M_COMP), 350, 0);
  assert_double_equal(val(bd, "Forward/Layer[0]/Activation::GELU", 0, FF_M_CALLS), 1, 0);

  /* Node attributes: layer explicit only on Layer[0]; effective layer inherited below it; the owner
   * family of the Reconstruct inside GELU is Activation. */
  const ff_bd_node *rec = &bd->nodes[4];
  assert_int_equal(rec->layer, -1);
  assert_int_equal(rec->eff_layer, 0);
  assert_int_equal(rec->depth, 3);
  assert_string_equal(rec->owner_family, "Activation");
  assert_string_equal(bd->scopes[rec->scope].family, "Reconstruct");
  assert_string_equal(bd->nodes[0].owner_family, "Structure");
  assert_int_equal(bd->nodes[0].eff_layer, -1);
  assert_int_equal(bd->nodes[1].layer, 0);
  ff_breakdown_free(bd);
}

static void test_merge_exclusive_and_other(void **state) {
  (void)state;
  ff_breakdown *bd = merge_ok(scen_a(0), scen_a(1));
  /* Exclusive wall, per party first (inclusive − Σ children's inclusive), then max over parties:
   *   P0: Reconstruct 250; GELU 500 − 250 = 250; Linear 300; Layer[0] 850 − (300 + 500) = 50;
   *       Forward 900 − 850 = 50; Other 1000 − 900 = 100.     (Σ = 1000 = P0's total)
   *   P1: Reconstruct 200; GELU 400 − 200 = 200; Linear 350; Layer[0] 800 − (350 + 400) = 50;
   *       Forward 950 − 800 = 150; Other 1100 − 950 = 150.    (Σ = 1100 = P1's total)
   *   merged: Reconstruct 250, GELU 250, Linear 350, Layer 50, Forward 150, Other 150. */
  assert_double_equal(val(bd, "Forward/Layer[0]/Activation::GELU/Reconstruct", 1, FF_M_WALL), 250, 0);
  assert_double_equal(val(bd, "Forward/Layer[0]/Activation::GELU", 1, FF_M_WALL), 250, 0);
  assert_double_equal(val(bd, "Forward/Layer[0]/Linear", 1, FF_M_WALL), 350, 0);
  assert_double_equal(val(bd, "Forward/Layer[0]", 1, FF_M_WALL), 50, 0);
  assert_double_equal(val(bd, "Forward", 1, FF_M_WALL), 150, 0);
  assert_double_equal(val(bd, "Forward", 1, FF_M_WALL_P0), 50, 0);
  assert_double_equal(val(bd, "OTHER", 1, FF_M_WALL), 150, 0);
  /* Exclusive link: Reconstruct 600, GELU 600 − 600 = 0, Linear 200, Layer 800 − 800 = 0,
   * Forward 0, Other 800 − 800 = 0. */
  assert_double_equal(val(bd, "Forward/Layer[0]/Activation::GELU/Reconstruct", 1, FF_M_LINK), 600, 0);
  assert_double_equal(val(bd, "Forward/Layer[0]/Activation::GELU", 1, FF_M_LINK), 0, 0);
  assert_double_equal(val(bd, "OTHER", 1, FF_M_LINK), 0, 0);
  /* Exclusive comp = max over parties of (exclusive wall − exclusive wait), per party:
   *   P0 exclusive wait: Reconstruct 150, GELU 150 − 150 = 0, Linear 50, Layer 200 − 200 = 0,
   *      Forward 0, Other 200 − 200 = 0 -> comp Reconstruct 100, GELU 250, Layer 50, Forward 50, Other 100.
   *   P1 exclusive wait: Reconstruct 60, GELU 0, Linear 40, Layer 0, Forward 0, Other 0
   *      -> comp Reconstruct 140, GELU 200, Layer 50, Forward 150, Other 150.
   *   merged: Reconstruct 140, GELU 250, Layer 50, Forward 150, Other 150. */
  assert_double_equal(val(bd, "Forward/Layer[0]/Activation::GELU/Reconstruct", 1, FF_M_COMP), 140, 0);
  assert_double_equal(val(bd, "Forward/Layer[0]/Activation::GELU", 1, FF_M_COMP), 250, 0);
  assert_double_equal(val(bd, "Forward/Layer[0]", 1, FF_M_COMP), 50, 0);
  assert_double_equal(val(bd, "Forward", 1, FF_M_COMP), 150, 0);
  assert_double_equal(val(bd, "OTHER", 1, FF_M_COMP), 150, 0);
  /* Exclusive rounds: Reconstruct 1, GELU 1 − 1 = 0, Linear 1, Layer 2 − 2 = 0, Other 2 − 2 = 0. */
  assert_double_equal(val(bd, "Forward/Layer[0]/Activation::GELU", 1, FF_M_ROUNDS), 0, 0);
  assert_double_equal(val(bd, "Forward/Layer[0]/Linear", 1, FF_M_ROUNDS), 1, 0);
  assert_double_equal(val(bd, "OTHER", 1, FF_M_ROUNDS), 0, 0);
  /* Exclusive cuda: P0 Forward 880, Other 950 − 880 = 70; P1 Forward 900, Other 1000 − 900 = 100. */
  assert_double_equal(val(bd, "Forward", 1, FF_M_CUDA), 900, 0);
  assert_double_equal(val(bd, "OTHER", 1, FF_M_CUDA), 100, 0);
  /* Skew of exclusive time: per-party exclusive Forward P0 900 − 850 = 50, P1 950 − 800 = 150 -> 100;
   * Layer P0 850 − 800 = 50, P1 800 − 750 = 50 -> 0. Other P0 1000 − 900 = 100, P1 1100 − 950 = 150
   * -> 50. Calls are the node's own (not subtracted). */
  assert_double_equal(val(bd, "Forward", 1, FF_M_WALL_SKEW), 100, 0);
  assert_double_equal(val(bd, "Forward/Layer[0]", 1, FF_M_WALL_SKEW), 0, 0);
  assert_double_equal(val(bd, "OTHER", 1, FF_M_WALL_P0), 100, 0);
  assert_double_equal(val(bd, "OTHER", 1, FF_M_WALL_P1), 150, 0);
  assert_double_equal(val(bd, "OTHER", 1, FF_M_WALL_SKEW), 50, 0);
  assert_double_equal(val(bd, "Forward", 1, FF_M_CALLS), 1, 0);
  ff_breakdown_free(bd);
}

static void test_merge_order_independent(void **state) {
  (void)state;
  /* Logs given as (P1, P0): the party is read from run.party, so the result is the same. */
  char *a = write_json(scen_a(1)), *b = write_json(scen_a(0));
  ff_breakdown *bd = NULL;
  assert_int_equal(ff_merge_logs(a, b, &bd), FF_OK);
  assert_double_equal(val(bd, "TOTAL", 0, FF_M_SENT_P0), 300, 0);
  assert_double_equal(val(bd, "TOTAL", 0, FF_M_WALL_P1), 1100, 0);
  assert_string_equal(bd->inputs[0], b);
  assert_string_equal(bd->inputs[1], a);
  ff_breakdown_free(bd);
}

/* Forward (100) with a Linear and a Softmax child on both parties, the same in a warm-up and a
 * counted repetition: P0's children take p0_linear and p0_softmax, P1's 40 and 60. Returns the merge
 * and, in *err, what it printed on stderr (caller frees both). */
static ff_breakdown *merge_two_children(double p0_linear, double p0_softmax, char **err) {
  /*                      parent scope layer calls wall wait sent recv rounds msgs cuda */
  const tnode p0[] = {{-1, FWD, -1, 1, 100, 0, 0, 0, 0, 0, 0},
                      {0, LINEAR, -1, 1, p0_linear, 0, 0, 0, 0, 0, 0},
                      {0, SOFTMAX, -1, 1, p0_softmax, 0, 0, 0, 0, 0, 0}};
  const tnode p1[] = {{-1, FWD, -1, 1, 100, 0, 0, 0, 0, 0, 0},
                      {0, LINEAR, -1, 1, 40, 0, 0, 0, 0, 0, 0},
                      {0, SOFTMAX, -1, 1, 60, 0, 0, 0, 0, 0, 0}};
  const ttotal t = {100, 0, 0, 0, 0, 0, 0};
  cJSON *a = party_log(0, "r1"), *b = party_log(1, "r1");
  log_rep(a, 1, &t, p0, 3, 1);
  log_rep(a, 0, &t, p0, 3, 1);
  log_rep(b, 1, &t, p1, 3, 1);
  log_rep(b, 0, &t, p1, 3, 1);
  char *pa = write_json(a), *pb = write_json(b);
  ff_breakdown *bd = NULL;
  capture c = capture_begin(2);
  ff_status st = ff_merge_logs(pa, pb, &bd);
  *err = capture_end(c);
  assert_int_equal(st, FF_OK);
  assert_non_null(bd);
  return bd;
}

static void test_merge_parties_take_turns(void **state) {
  (void)state;
  /* Parent 100 on both parties; child A 60 (P0) / 40 (P1), child B 40 / 60: the parties take turns
   * being the slow one. Per party the children fill the parent exactly, so the exclusive time of the
   * parent is 0 on each party and merged, with no warning (merging the children first would give
   * 100 − (60 + 60) = −20). */
  char *err;
  ff_breakdown *bd = merge_two_children(60, 40, &err);
  free(err);
  assert_double_equal(val(bd, "Forward", 1, FF_M_WALL), 0, 0);
  assert_double_equal(val(bd, "Forward/Linear", 1, FF_M_WALL), 60, 0);
  assert_double_equal(val(bd, "Forward/Softmax", 1, FF_M_WALL), 60, 0);
  for (size_t i = 0; i < bd->n_warnings; i++) assert_null(strstr(bd->warnings[i], "overlap"));
  ff_breakdown_free(bd);
}

static void test_merge_overlap_clamped(void **state) {
  (void)state;
  /* An inconsistent log: P0's children (60 + 50) exceed their parent (100), which cannot happen for
   * scopes nested on one thread: P0's exclusive parent time −10 is clamped at 0 with an "overlap"
   * warning naming the per-party metric. */
  char *err;
  ff_breakdown *bd = merge_two_children(60, 50, &err);
  assert_double_equal(val(bd, "Forward", 1, FF_M_WALL), 0, 0);
  assert_double_equal(val(bd, "Forward", 1, FF_M_WALL_P0), 0, 0);
  assert_double_equal(val(bd, "Forward/Linear", 1, FF_M_WALL), 60, 0);
  int found = 0;
  for (size_t i = 0; i < bd->n_warnings; i++)
    found |= strstr(bd->warnings[i], "overlap") && strstr(bd->warnings[i], "wall_ns_p0");
  assert_true(found);
  assert_non_null(strstr(err, "overlap"));
  free(err);
  ff_breakdown_free(bd);
}

static void test_merge_rounds_and_calls_warn(void **state) {
  (void)state;
  /* P1's total says 3 rounds (P0: 2) and P1's GELU ran 2 calls (P0: 1): merged rounds = max = 3,
   * calls = max = 2, each with a warning; Other rounds = 3 − 2 = 1. */
  cJSON *a = scen_a(0), *b = scen_a(1);
  set_num(cJSON_GetObjectItem(rep_item(b, 1), "total"), "rounds", 3);
  set_num(node_item(b, 1, 3), "calls", 2);
  capture c = capture_begin(2);
  ff_breakdown *bd = merge_ok(a, b);
  char *err = capture_end(c);
  assert_double_equal(val(bd, "TOTAL", 0, FF_M_ROUNDS), 3, 0);
  assert_double_equal(val(bd, "OTHER", 0, FF_M_ROUNDS), 1, 0);
  assert_double_equal(val(bd, "Forward/Layer[0]/Activation::GELU", 0, FF_M_CALLS), 2, 0);
  int rounds = 0, calls = 0;
  for (size_t i = 0; i < bd->n_warnings; i++) {
    rounds |= strstr(bd->warnings[i], "rounds differ") != NULL;
    calls |= strstr(bd->warnings[i], "calls differ") && strstr(bd->warnings[i], "Activation::GELU");
  }
  assert_true(rounds);
  assert_true(calls);
  assert_non_null(strstr(err, "rounds differ"));
  free(err);
  /* The warnings are in the merged file too. */
  char *out = tmp_path();
  assert_int_equal(ff_breakdown_write(bd, out), FF_OK);
  char *text = read_text(out);
  cJSON *j = cJSON_Parse(text);
  free(text);
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "warnings")), (int)bd->n_warnings);
  cJSON_Delete(j);
  ff_breakdown_free(bd);
}

/* Scenario A with Linear one-way: P0 receives 100 B there and sends nothing (1 round), P1 sends them
 * and receives nothing (0 rounds, as Input in every run). Layer, Forward and the totals differ by that
 * one round too. Merged rounds are the max; no warning: a round is a receive after a send, so one-way
 * traffic counts on one side only. */
static void one_way_linear(cJSON **a, cJSON **b) {
  tnode n0[N_A], n1[N_A];
  ttotal t0 = A_T0, t1 = A_T1;
  memcpy(n0, A_P0, sizeof n0);
  memcpy(n1, A_P1, sizeof n1);
  n0[2].sent = 0, n1[2].recv = 0, n1[2].rounds = 0; /* node 2: Linear; 0 and 1: Forward, Layer */
  for (int i = 0; i < 2; i++) n0[i].sent -= 100, n1[i].recv -= 100, n1[i].rounds -= 1;
  t0.sent -= 100, t1.recv -= 100, t1.rounds -= 1;
  *a = party_log(0, "3f9c0a1b7d2e4c55");
  *b = party_log(1, "3f9c0a1b7d2e4c55");
  for (int w = 1; w >= 0; w--) log_rep(*a, w, &t0, n0, N_A, 1.0), log_rep(*b, w, &t1, n1, N_A, 1.0);
}

static int rounds_warnings(const ff_breakdown *bd, const char *at) {
  int n = 0;
  for (size_t i = 0; i < bd->n_warnings; i++)
    n += strstr(bd->warnings[i], "rounds differ") && (!at || strstr(bd->warnings[i], at));
  return n;
}

static void test_merge_one_way_rounds_no_warning(void **state) {
  (void)state;
  cJSON *a, *b;
  one_way_linear(&a, &b);
  ff_breakdown *bd = merge_ok(a, b);
  assert_int_equal(rounds_warnings(bd, NULL), 0);
  assert_double_equal(val(bd, "Forward/Layer[0]/Linear", 0, FF_M_ROUNDS), 1, 0);
  assert_double_equal(val(bd, "Forward/Layer[0]", 0, FF_M_ROUNDS), 2, 0);
  assert_double_equal(val(bd, "TOTAL", 0, FF_M_ROUNDS), 2, 0);
  ff_breakdown_free(bd);
  /* The same logs with a difference that one-way traffic does not explain: P1's GELU counts a round
   * more while both parties received there. It is warned about at GELU, and at its parents and the
   * total, whose difference one-way Linear no longer explains. */
  one_way_linear(&a, &b);
  for (int i = 0; i < 2; i++) set_num(node_item(b, 1, i), "rounds", 2);
  set_num(node_item(b, 1, 3), "rounds", 2); /* node 3: GELU */
  set_num(cJSON_GetObjectItem(rep_item(b, 1), "total"), "rounds", 2);
  capture c = capture_begin(2);
  bd = merge_ok(a, b);
  free(capture_end(c));
  assert_int_equal(rounds_warnings(bd, "Activation::GELU"), 1);
  assert_int_equal(rounds_warnings(bd, "the repetition totals"), 1);
  assert_int_equal(rounds_warnings(bd, "Forward/Layer[0] "), 1);
  assert_int_equal(rounds_warnings(bd, "/Linear"), 0);
  ff_breakdown_free(bd);
}

static void test_merge_path_bytes_mismatch_warns(void **state) {
  (void)state;
  /* A message P0 sends in Linear (100 B) is received by P1 in its next scope, GELU: P1's Linear
   * received 0 and its GELU (and the Reconstruct in it) 200 + 100 = 300. Totals still balance
   * (P1 received 300 = P0 sent 300), so the merge succeeds; the 3 paths get a warning. */
  cJSON *a = scen_a(0), *b = scen_a(1);
  set_num(node_item(b, 1, 2), "recv_B", 0);
  set_num(node_item(b, 1, 3), "recv_B", 300);
  set_num(node_item(b, 1, 4), "recv_B", 300);
  ff_breakdown *bd = merge_ok(a, b);
  assert_int_equal(bd->path_mismatches, 3);
  assert_double_equal(val(bd, "Forward/Layer[0]/Linear", 0, FF_M_RECV_P1), 0, 0);
  ff_breakdown_free(bd);
}

static void test_merge_node_created_later(void **state) {
  (void)state;
  /* Rep 0 (warm-up) creates Forward, Layer[0], Linear and Forward/Softmax; rep 1 also creates a GELU
   * under Layer[0], so the logs list it last. It is zero in rep 0, and the by-scope view puts it in
   * tree order: Forward, Layer[0], Linear, GELU, then Softmax. */
  /*                      parent scope layer calls wall wait sent recv rounds msgs cuda */
  const tnode r0[] = {{-1, FWD, -1, 1, 100, 0, 0, 0, 0, 0, 0},
                      {0, LAYER, 0, 1, 60, 0, 0, 0, 0, 0, 0},
                      {1, LINEAR, -1, 1, 50, 0, 0, 0, 0, 0, 0},
                      {0, SOFTMAX, -1, 1, 30, 0, 0, 0, 0, 0, 0}};
  const tnode r1[] = {{-1, FWD, -1, 1, 100, 0, 0, 0, 0, 0, 0},
                      {0, LAYER, 0, 1, 60, 0, 0, 0, 0, 0, 0},
                      {1, LINEAR, -1, 1, 30, 0, 0, 0, 0, 0, 0},
                      {0, SOFTMAX, -1, 1, 30, 0, 0, 0, 0, 0, 0},
                      {1, GELU, -1, 1, 20, 0, 0, 0, 0, 0, 0}};
  const ttotal t = {110, 0, 0, 0, 0, 0, 0};
  cJSON *a = party_log(0, "later"), *b = party_log(1, "later");
  log_rep(a, 1, &t, r0, 4, 1);
  log_rep(b, 1, &t, r0, 4, 1);
  log_rep(a, 0, &t, r1, 5, 1);
  log_rep(b, 0, &t, r1, 5, 1);
  ff_breakdown *bd = merge_ok(a, b);
  assert_int_equal(bd->n_nodes, 5);
  int g = ff_breakdown_find(bd, "Forward/Layer[0]/Activation::GELU");
  assert_int_equal(g, 4);
  assert_double_equal(ff_breakdown_rep_row(bd, 0, g, 0)->v[FF_M_WALL], 0, 0);
  assert_double_equal(ff_breakdown_rep_row(bd, 1, g, 0)->v[FF_M_WALL], 20, 0);
  /* Layer[0] exclusive: rep 0: 60 − 50 = 10; rep 1: 60 − (30 + 20) = 10. */
  assert_double_equal(ff_breakdown_rep_row(bd, 0, 1, 1)->v[FF_M_WALL], 10, 0);
  assert_double_equal(ff_breakdown_rep_row(bd, 1, 1, 1)->v[FF_M_WALL], 10, 0);
  ff_grouping gr;
  assert_int_equal(ff_breakdown_group(bd, FF_GROUP_SCOPE, &gr), FF_OK);
  assert_string_equal(gr.rows[3].key, "Forward/Layer[0]/Activation::GELU");
  assert_string_equal(gr.rows[4].key, "Forward/Softmax");
  assert_string_equal(gr.rows[5].key, "Other");
  ff_grouping_free(&gr);
  ff_breakdown_free(bd);
}

/* ---- statistics across repetitions, warm-up excluded -------------------------------------------- */

static void test_merge_statistics(void **state) {
  (void)state;
  /* Two warm-ups (walls 1e6, which would dominate if counted), then 5 counted reps of one node:
   *   Forward  P0: 10 50 30 20 40     P1: 45 15 35 25  5
   *   merged max:  45 50 35 25 40  -> sorted 25 35 40 45 50: median 40, p25 35, p75 45, min 25, max 50
   *   (the max of the two medians, max(30, 25) = 30, would be wrong)
   *   skew |P0 − P1|: 35 35 5 5 35 -> sorted 5 5 35 35 35: median 35, p25 5, p75 35
   *   total = Forward + 10 on each party -> max 55 60 45 35 50: sorted 35 45 50 55 60, median 50
   *   Other = total max − Forward max = 10 in every rep. */
  const double w0[] = {10, 50, 30, 20, 40}, w1[] = {45, 15, 35, 25, 5};
  cJSON *a = party_log(0, "stats"), *b = party_log(1, "stats");
  for (int r = 0; r < 7; r++) {
    int warm = r < 2;
    double x0 = warm ? 1e6 : w0[r - 2], x1 = warm ? 1e6 : w1[r - 2];
    const tnode n0 = {-1, FWD, -1, 1, x0, 0, 0, 0, 0, 0, 0}, n1 = {-1, FWD, -1, 1, x1, 0, 0, 0, 0, 0, 0};
    const ttotal t0 = {x0 + 10, 0, 0, 0, 0, 0, 0}, t1 = {x1 + 10, 0, 0, 0, 0, 0, 0};
    log_rep(a, warm, &t0, &n0, 1, 1);
    log_rep(b, warm, &t1, &n1, 1, 1);
  }
  ff_breakdown *bd = merge_ok(a, b);
  assert_int_equal(bd->n_reps, 7);
  assert_int_equal(ff_breakdown_counted_reps(bd), 5);
  ff_stats s;
  assert_int_equal(ff_breakdown_stats(bd, 0, 0, FF_M_WALL, &s), FF_OK);
  assert_int_equal(s.n, 5);
  assert_double_equal(s.median, 40, 0);
  assert_double_equal(s.p25, 35, 0);
  assert_double_equal(s.p75, 45, 0);
  assert_double_equal(s.min, 25, 0);
  assert_double_equal(s.max, 50, 0);
  assert_int_equal(ff_breakdown_stats(bd, 0, 0, FF_M_WALL_SKEW, &s), FF_OK);
  assert_double_equal(s.median, 35, 0);
  assert_double_equal(s.p25, 5, 0);
  assert_double_equal(s.p75, 35, 0);
  assert_int_equal(ff_breakdown_stats(bd, FF_BD_TOTAL, 0, FF_M_WALL, &s), FF_OK);
  assert_double_equal(s.median, 50, 0);
  assert_int_equal(ff_breakdown_stats(bd, FF_BD_OTHER, 0, FF_M_WALL, &s), FF_OK);
  assert_double_equal(s.min, 10, 0);
  assert_double_equal(s.max, 10, 0);
  double v[5];
  assert_int_equal(ff_breakdown_values(bd, 0, 0, FF_M_WALL, v), 5);
  assert_double_equal(v[0], 45, 0);
  assert_double_equal(v[4], 40, 0);

  /* The merged file's stats block holds the same numbers. */
  char *out = tmp_path();
  assert_int_equal(ff_breakdown_write(bd, out), FF_OK);
  char *text = read_text(out);
  cJSON *j = cJSON_Parse(text);
  free(text);
  cJSON *st = cJSON_GetObjectItem(j, "stats");
  assert_int_equal(cJSON_GetObjectItem(st, "counted_reps")->valueint, 5);
  assert_int_equal(cJSON_GetObjectItem(st, "warmup_reps")->valueint, 2);
  cJSON *fw = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(st, "nodes"), 0), "incl"),
                                  "wall_ns");
  assert_double_equal(cJSON_GetObjectItem(fw, "median")->valuedouble, 40, 0);
  assert_double_equal(cJSON_GetObjectItem(fw, "p25")->valuedouble, 35, 0);
  assert_double_equal(cJSON_GetObjectItem(fw, "p75")->valuedouble, 45, 0);
  cJSON_Delete(j);
  ff_breakdown_free(bd);
}

/* ---- refusals ----------------------------------------------------------------------------------- */

/* Merges two logs expecting `want`; returns what was printed on stderr (caller frees). */
static char *merge_refused(cJSON *a, cJSON *b, ff_status want) {
  char *pa = write_json(a), *pb = write_json(b);
  ff_breakdown *bd = NULL;
  capture c = capture_begin(2);
  ff_status st = ff_merge_logs(pa, pb, &bd);
  char *err = capture_end(c);
  assert_int_equal(st, want);
  assert_null(bd);
  /* The command refuses the same logs with exit code 1. */
  char *out = tmp_path();
  char *argv[] = {"merge", pa, pb, "-o", out, NULL};
  c = capture_begin(2);
  int rc = ff_cmd_merge(5, argv);
  free(capture_end(c));
  assert_int_equal(rc, FF_EXIT_FAIL);
  return err;
}

static void test_refuse_schema(void **state) {
  (void)state;
  cJSON *b = scen_a(1);
  cJSON_SetValuestring(cJSON_GetObjectItem(b, "schema"), "fusefss.prof/2");
  char *err = merge_refused(scen_a(0), b, FF_EFORMAT);
  assert_non_null(strstr(err, "fusefss.prof/2"));
  assert_non_null(strstr(err, "expected \"fusefss.prof/1\""));
  free(err);
  b = scen_a(1);
  cJSON_DeleteItemFromObject(b, "schema");
  err = merge_refused(scen_a(0), b, FF_EFORMAT);
  assert_non_null(strstr(err, "missing field schema"));
  free(err);
}

static void test_refuse_run_id(void **state) {
  (void)state;
  cJSON *b = scen_a(1);
  cJSON_SetValuestring(cJSON_GetObjectItem(cJSON_GetObjectItem(b, "run"), "run_id"), "deadbeefdeadbeef");
  char *err = merge_refused(scen_a(0), b, FF_EMISMATCH);
  /* Both ids are printed. */
  assert_non_null(strstr(err, "3f9c0a1b7d2e4c55"));
  assert_non_null(strstr(err, "deadbeefdeadbeef"));
  free(err);
}

static void test_refuse_same_party(void **state) {
  (void)state;
  char *err = merge_refused(scen_a(0), scen_a(0), FF_EMISMATCH);
  assert_non_null(strstr(err, "both logs are from party 0"));
  free(err);
}

static void test_refuse_reps_and_warmup(void **state) {
  (void)state;
  /* P1 has one repetition more. */
  cJSON *b = scen_a(1);
  log_rep(b, 0, &A_T1, A_P1, N_A, 1);
  char *err = merge_refused(scen_a(0), b, FF_EMISMATCH);
  assert_non_null(strstr(err, "repetition counts"));
  free(err);
  /* P1 calls its rep 0 counted where P0 calls it a warm-up. */
  b = scen_a(1);
  cJSON_ReplaceItemInObject(rep_item(b, 0), "warmup", cJSON_CreateFalse());
  err = merge_refused(scen_a(0), b, FF_EMISMATCH);
  assert_non_null(strstr(err, "warm-up"));
  free(err);
}

static void test_refuse_workload_knobs(void **state) {
  (void)state;
  cJSON *b = scen_a(1);
  set_num(cJSON_GetObjectItem(cJSON_GetObjectItem(b, "run"), "workload"), "seq", 64);
  char *err = merge_refused(scen_a(0), b, FF_EMISMATCH);
  assert_non_null(strstr(err, "workload"));
  assert_non_null(strstr(err, "\"seq\":64"));
  free(err);
  b = scen_a(1);
  cJSON_ReplaceItemInObject(cJSON_GetObjectItem(cJSON_GetObjectItem(b, "run"), "knobs"), "SUF_ACTIVATION",
                            cJSON_CreateFalse());
  err = merge_refused(scen_a(0), b, FF_EMISMATCH);
  assert_non_null(strstr(err, "knobs"));
  free(err);
}

static void test_refuse_tree_shape(void **state) {
  (void)state;
  /* P1 has an extra Softmax under Layer[0] in the counted repetition. */
  tnode n1[N_A + 1];
  memcpy(n1, A_P1, sizeof A_P1);
  n1[N_A] = (tnode){1, SOFTMAX, -1, 1, 0, 0, 0, 0, 0, 0, 0};
  cJSON *b = party_log(1, "3f9c0a1b7d2e4c55");
  log_rep(b, 1, &A_T1, A_P1, N_A, 2);
  log_rep(b, 0, &A_T1, n1, N_A + 1, 1);
  char *err = merge_refused(scen_a(0), b, FF_EMISMATCH);
  assert_non_null(strstr(err, "Forward/Layer[0]/Softmax"));
  assert_non_null(strstr(err, "in party 1's log"));
  free(err);
  /* Party 0 has a node (its Reconstruct) that party 1 lacks: named with party 0. */
  b = party_log(1, "3f9c0a1b7d2e4c55");
  log_rep(b, 1, &A_T1, A_P1, N_A, 2);
  log_rep(b, 0, &A_T1, A_P1, N_A - 1, 1);
  err = merge_refused(scen_a(0), b, FF_EMISMATCH);
  assert_non_null(strstr(err, "Forward/Layer[0]/Activation::GELU/Reconstruct"));
  assert_non_null(strstr(err, "in party 0's log"));
  free(err);
}

/* A chain of `depth` nested scopes (Forward, then Linear in Linear ...), one counted repetition. */
static cJSON *chain_log(int party, size_t depth) {
  tnode n[65];
  assert_true(depth <= 65);
  for (size_t i = 0; i < depth; i++)
    n[i] = (tnode){(int)i - 1, i ? LINEAR : FWD, -1, 1, 100, 0, party ? 500 : 300, party ? 300 : 500, 1, 1, 0};
  const ttotal t = {100, 0, party ? 500 : 300, party ? 300 : 500, 1, 1, 0};
  cJSON *j = party_log(party, "3f9c0a1b7d2e4c55");
  log_rep(j, 0, &t, n, depth, 1);
  return j;
}

static void test_refuse_deep_nesting(void **state) {
  (void)state;
  /* The recorder nests scopes at most 64 deep (scope/scope.c): such a log merges. */
  ff_breakdown *bd = merge_ok(chain_log(0, 64), chain_log(1, 64));
  assert_int_equal(ff_breakdown_node_count(bd), 64);
  ff_breakdown_free(bd);
  /* One deeper is refused: each node's path repeats its parent's, so a long chain costs memory quadratic
   * in the log's size (3.6 MB of logs with 12000 nested nodes took 2 GB under tests/fuzz/fuzz_merge). */
  char *err = merge_refused(chain_log(0, 65), chain_log(1, 65), FF_EFORMAT);
  assert_non_null(strstr(err, "nested deeper than 64 scopes"));
  free(err);
}

static void test_refuse_invariant(void **state) {
  (void)state;
  /* P1 says it received 299 B in the counted repetition while P0 sent 300. */
  cJSON *b = scen_a(1);
  set_num(cJSON_GetObjectItem(rep_item(b, 1), "total"), "recv_B", 299);
  char *err = merge_refused(scen_a(0), b, FF_EMISMATCH);
  assert_non_null(strstr(err, "repetition 1"));
  assert_non_null(strstr(err, "P0 sent 300 B but P1 received 299 B"));
  free(err);
}

static void test_refuse_malformed_truncated(void **state) {
  (void)state;
  /* A stray comma on line 3, column 11; cJSON stops just after it, so the position given is
   * line 3, column 12 (the "}" it could not accept as a key). */
  char *bad = write_text("{\n  \"schema\": \"fusefss.prof/1\",\n  \"run\": {,}\n}\n");
  char *good = write_json(scen_a(1));
  ff_breakdown *bd = NULL;
  capture c = capture_begin(2);
  ff_status st = ff_merge_logs(bad, good, &bd);
  char *err = capture_end(c);
  assert_int_equal(st, FF_EFORMAT);
  assert_non_null(strstr(err, "line 3, column 12"));
  free(err);
  /* The first half of a valid log. */
  cJSON *whole = scen_a(0);
  char *text = cJSON_Print(whole);
  cJSON_Delete(whole);
  text[strlen(text) / 2] = 0;
  char *trunc = write_text(text);
  free(text);
  c = capture_begin(2);
  st = ff_merge_logs(trunc, good, &bd);
  err = capture_end(c);
  assert_int_equal(st, FF_EFORMAT);
  assert_non_null(strstr(err, "truncated"));
  free(err);
  /* Empty file. */
  c = capture_begin(2);
  st = ff_merge_logs(write_text(""), good, &bd);
  free(capture_end(c));
  assert_int_equal(st, FF_EFORMAT);
}

static void test_refuse_missing_field_and_file(void **state) {
  (void)state;
  cJSON *b = scen_a(1);
  cJSON_DeleteItemFromObject(cJSON_GetObjectItem(rep_item(b, 1), "total"), "sent_B");
  char *pb = write_json(b), *pa = write_json(scen_a(0));
  ff_breakdown *bd = NULL;
  capture c = capture_begin(2);
  ff_status st = ff_merge_logs(pa, pb, &bd);
  char *err = capture_end(c);
  assert_int_equal(st, FF_EFORMAT);
  /* Names the field and the file. */
  assert_non_null(strstr(err, "reps[1].total.sent_B"));
  assert_non_null(strstr(err, pb));
  free(err);
  b = scen_a(1);
  cJSON_DeleteItemFromObject(cJSON_GetObjectItem(b, "run"), "run_id");
  err = merge_refused(scen_a(0), b, FF_EFORMAT);
  assert_non_null(strstr(err, "run.run_id"));
  free(err);
  c = capture_begin(2);
  st = ff_merge_logs("/nonexistent/prof_p0.json", pa, &bd);
  err = capture_end(c);
  assert_int_equal(st, FF_ENOENT);
  assert_non_null(strstr(err, "/nonexistent/prof_p0.json"));
  free(err);
}

static void test_refuse_all_warmup(void **state) {
  (void)state;
  cJSON *a = party_log(0, "w"), *b = party_log(1, "w");
  log_rep(a, 1, &A_T0, A_P0, N_A, 1);
  log_rep(b, 1, &A_T1, A_P1, N_A, 1);
  char *err = merge_refused(a, b, FF_EFORMAT);
  assert_non_null(strstr(err, "warm-up"));
  free(err);
}

static void test_cmd_merge(void **state) {
  (void)state;
  char *a = write_json(scen_a(0)), *b = write_json(scen_a(1)), *out = tmp_path();
  char *ok[] = {"merge", a, b, "-o", out, NULL};
  assert_int_equal(ff_cmd_merge(5, ok), FF_EXIT_OK);
  ff_breakdown *bd = NULL;
  assert_int_equal(ff_breakdown_load(out, &bd), FF_OK);
  assert_int_equal(bd->n_nodes, 5);
  ff_breakdown_free(bd);
  char *help[] = {"merge", "--help", NULL};
  assert_int_equal(ff_cmd_merge(2, help), FF_EXIT_OK);
  capture c = capture_begin(2);
  char *none[] = {"merge", NULL};
  assert_int_equal(ff_cmd_merge(1, none), FF_EXIT_USAGE);
  char *one[] = {"merge", a, NULL};
  assert_int_equal(ff_cmd_merge(2, one), FF_EXIT_USAGE);
  char *unk[] = {"merge", a, b, "--frobnicate", NULL};
  assert_int_equal(ff_cmd_merge(4, unk), FF_EXIT_USAGE);
  char *noval[] = {"merge", a, b, "-o", NULL};
  assert_int_equal(ff_cmd_merge(4, noval), FF_EXIT_USAGE);
  char *missing[] = {"merge", a, "/nonexistent/p1.json", NULL};
  assert_int_equal(ff_cmd_merge(3, missing), FF_EXIT_FAIL);
  free(capture_end(c));
}

/* ---- the merged file and its loader ------------------------------------------------------------- */

static void test_roundtrip(void **state) {
  (void)state;
  ff_breakdown *bd = merge_ok(scen_a(0), scen_a(1));
  char *out = tmp_path();
  assert_int_equal(ff_breakdown_write(bd, out), FF_OK);
  ff_breakdown *back = NULL;
  assert_int_equal(ff_breakdown_load(out, &back), FF_OK);
  assert_int_equal(back->n_nodes, bd->n_nodes);
  assert_int_equal(back->n_reps, bd->n_reps);
  assert_int_equal(back->n_scopes, bd->n_scopes);
  for (size_t i = 0; i < bd->n_nodes; i++) {
    assert_string_equal(back->nodes[i].path, bd->nodes[i].path);
    assert_int_equal(back->nodes[i].parent, bd->nodes[i].parent);
    assert_int_equal(back->nodes[i].eff_layer, bd->nodes[i].eff_layer);
    assert_string_equal(back->nodes[i].owner_family, bd->nodes[i].owner_family);
  }
  for (size_t r = 0; r < bd->n_reps; r++) {
    assert_int_equal(back->reps[r].warmup, bd->reps[r].warmup);
    assert_memory_equal(&back->reps[r].total, &bd->reps[r].total, sizeof(ff_metrics));
    assert_memory_equal(&back->reps[r].other, &bd->reps[r].other, sizeof(ff_metrics));
    assert_memory_equal(back->reps[r].incl, bd->reps[r].incl, bd->n_nodes * sizeof(ff_metrics));
    assert_memory_equal(back->reps[r].excl, bd->reps[r].excl, bd->n_nodes * sizeof(ff_metrics));
  }
  assert_string_equal(ff_breakdown_run_str(back, "run_id"), "3f9c0a1b7d2e4c55");
  assert_string_equal(ff_breakdown_run_str(back, "workload.model"), "bert-tiny");
  assert_non_null(back->runs[1]);
  assert_int_equal(cJSON_GetObjectItem(back->runs[1], "party")->valueint, 1);
  /* The invariants are recorded per repetition: P0 sent 300 = P1 received 300. */
  char *text = read_text(out);
  cJSON *j = cJSON_Parse(text);
  free(text);
  cJSON *inv = cJSON_GetObjectItem(j, "invariants");
  assert_true(cJSON_IsTrue(cJSON_GetObjectItem(inv, "ok")));
  cJSON *r1 = cJSON_GetArrayItem(cJSON_GetObjectItem(inv, "reps"), 1);
  assert_double_equal(cJSON_GetObjectItem(r1, "p0_sent_B")->valuedouble, 300, 0);
  assert_double_equal(cJSON_GetObjectItem(r1, "p1_recv_B")->valuedouble, 300, 0);
  assert_string_equal(cJSON_GetObjectItem(j, "schema")->valuestring, "fusefss.merged/1");
  cJSON_Delete(j);
  ff_breakdown_free(back);
  ff_breakdown_free(bd);
}

static void test_loader_refusals(void **state) {
  (void)state;
  ff_breakdown *bd = NULL;
  /* A per-party log is not a merged file. */
  char *log = write_json(scen_a(0));
  capture c = capture_begin(2);
  assert_int_equal(ff_breakdown_load(log, &bd), FF_EFORMAT);
  char *err = capture_end(c);
  assert_non_null(strstr(err, "fusefss merge"));
  free(err);
  /* A merged file with a metric removed names the field. */
  ff_breakdown *m = merge_ok(scen_a(0), scen_a(1));
  cJSON *j = ff_breakdown_to_json(m);
  ff_breakdown_free(m);
  cJSON *rep1 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "reps"), 1);
  cJSON *n2 = cJSON_GetArrayItem(cJSON_GetObjectItem(rep1, "nodes"), 2);
  cJSON_DeleteItemFromObject(cJSON_GetObjectItem(n2, "excl"), "link_B");
  char *p = write_json(j);
  c = capture_begin(2);
  assert_int_equal(ff_breakdown_load(p, &bd), FF_EFORMAT);
  err = capture_end(c);
  assert_non_null(strstr(err, "reps[1].nodes[2].excl.link_B"));
  free(err);
  /* invariants.path_mismatches is a count: 1e300 or -1 does not fit size_t (undefined to convert; found by
   * tests/fuzz/fuzz_breakdown), and is refused, naming the field; 3 is read. */
  static const double bad_counts[] = {1e300, -1, 0.5};
  for (size_t i = 0; i < 3; i++) {
    m = merge_ok(scen_a(0), scen_a(1));
    j = ff_breakdown_to_json(m);
    ff_breakdown_free(m);
    cJSON_SetNumberValue(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "invariants"), "path_mismatches"), bad_counts[i]);
    p = write_json(j);
    c = capture_begin(2);
    assert_int_equal(ff_breakdown_load(p, &bd), FF_EFORMAT);
    err = capture_end(c);
    assert_non_null(strstr(err, "invariants.path_mismatches"));
    free(err);
  }
  m = merge_ok(scen_a(0), scen_a(1));
  j = ff_breakdown_to_json(m);
  ff_breakdown_free(m);
  cJSON_SetNumberValue(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "invariants"), "path_mismatches"), 3);
  p = write_json(j);
  assert_int_equal(ff_breakdown_load(p, &bd), FF_OK);
  assert_int_equal(bd->path_mismatches, 3);
  ff_breakdown_free(bd);
  bd = NULL;
  c = capture_begin(2);
  assert_int_equal(ff_breakdown_load("/nonexistent/breakdown_merged.json", &bd), FF_ENOENT);
  free(capture_end(c));
}

/* ---- groupings ---------------------------------------------------------------------------------- */

/* Σ over the rows of metric m (exclusive) equals the total, in every counted repetition. */
/* Σ of the rows of a grouping equals the total exactly (exact: per-party metrics, bytes, rounds when
 * the parties agree), or is at least the total (`at_least`: merged times, each row taking its slower
 * party). */
static void assert_partition(const ff_breakdown *bd, ff_group_by by, ff_metric m, int at_least) {
  ff_grouping g;
  assert_int_equal(ff_breakdown_group(bd, by, &g), FF_OK);
  double tot[8];
  size_t n = ff_breakdown_values(bd, FF_BD_TOTAL, 0, m, tot);
  assert_int_equal(n, g.n_reps);
  for (size_t k = 0; k < n; k++) {
    double sum = 0;
    for (size_t i = 0; i < g.n_rows; i++) sum += g.rows[i].excl[k].v[m];
    if (at_least)
      assert_true(sum >= tot[k]);
    else
      assert_double_equal(sum, tot[k], 0);
  }
  ff_grouping_free(&g);
}

static double group_val(const ff_grouping *g, const char *key, ff_metric m) {
  int i = ff_grouping_find(g, key);
  assert_true(i >= 0);
  ff_stats s;
  assert_int_equal(ff_group_stats(g, (size_t)i, 1, m, &s), FF_OK);
  return s.median;
}

static void test_grouping(void **state) {
  (void)state;
  ff_breakdown *bd = merge_ok(scen_a(0), scen_a(1));
  ff_grouping g;
  /* By family (owner family; per party Σ exclusive, then max; per-party values from
   * test_merge_exclusive_and_other): Structure = Forward + Layer: P0 50 + 50 = 100, P1 150 + 50 = 200
   * -> 200; Linear P0 300, P1 350 -> 350; Activation = GELU + its Reconstruct: P0 250 + 250 = 500,
   * P1 200 + 200 = 400 -> 500; Other 150. Per party: P0 100 + 300 + 500 + 100 = 1000, P1 200 + 350
   * + 400 + 150 = 1100, each its own total. */
  assert_int_equal(ff_breakdown_group(bd, FF_GROUP_FAMILY, &g), FF_OK);
  assert_int_equal(g.n_rows, 4);
  assert_double_equal(group_val(&g, "Structure", FF_M_WALL), 200, 0);
  assert_double_equal(group_val(&g, "Structure", FF_M_WALL_P0), 100, 0);
  assert_double_equal(group_val(&g, "Linear", FF_M_WALL), 350, 0);
  assert_double_equal(group_val(&g, "Activation", FF_M_WALL), 500, 0);
  assert_double_equal(group_val(&g, "Other", FF_M_WALL), 150, 0);
  assert_int_equal(ff_grouping_find(&g, "Reconstruct"), -1); /* nested: owned by Activation */
  assert_string_equal(g.rows[g.n_rows - 1].key, "Other");
  assert_int_equal(g.rows[g.n_rows - 1].node, FF_BD_OTHER);
  /* Activation's link = 0 (GELU) + 600 (Reconstruct); the group's skew is recomputed from summed
   * per-party times: P0 250 + 250 = 500, P1 200 + 200 = 400 -> 100. */
  assert_double_equal(group_val(&g, "Activation", FF_M_LINK), 600, 0);
  assert_double_equal(group_val(&g, "Activation", FF_M_WALL_SKEW), 100, 0);
  ff_grouping_free(&g);
  /* By layer (effective layer): layer 0 = Layer + Linear + GELU + Reconstruct: P0 50 + 300 + 250 +
   * 250 = 850, P1 50 + 350 + 200 + 200 = 800 -> 850; none = Forward max(50, 150) = 150; Other 150. */
  assert_int_equal(ff_breakdown_group(bd, FF_GROUP_LAYER, &g), FF_OK);
  assert_int_equal(g.n_rows, 3);
  assert_string_equal(g.rows[0].key, "0");
  assert_string_equal(g.rows[1].key, "none");
  assert_string_equal(g.rows[2].key, "Other");
  assert_double_equal(group_val(&g, "0", FF_M_WALL), 850, 0);
  assert_double_equal(group_val(&g, "none", FF_M_WALL), 150, 0);
  ff_grouping_free(&g);
  /* By name (flat, exclusive): Reconstruct 250, Activation::GELU 250, Layer max(50, 50) = 50. */
  assert_int_equal(ff_breakdown_group(bd, FF_GROUP_NAME, &g), FF_OK);
  assert_double_equal(group_val(&g, "Reconstruct", FF_M_WALL), 250, 0);
  assert_double_equal(group_val(&g, "Activation::GELU", FF_M_WALL), 250, 0);
  assert_double_equal(group_val(&g, "Layer", FF_M_WALL), 50, 0);
  ff_grouping_free(&g);
  /* By scope: depth-first tree order, then Other; inclusive kept beside exclusive. */
  assert_int_equal(ff_breakdown_group(bd, FF_GROUP_SCOPE, &g), FF_OK);
  assert_int_equal(g.n_rows, 6);
  assert_string_equal(g.rows[0].key, "Forward");
  assert_string_equal(g.rows[3].key, "Forward/Layer[0]/Activation::GELU");
  assert_int_equal(g.rows[4].depth, 3);
  assert_double_equal(g.rows[3].incl[0].v[FF_M_WALL], 500, 0);
  assert_double_equal(g.rows[3].excl[0].v[FF_M_WALL], 250, 0);
  ff_grouping_free(&g);
  /* Every grouping partitions each party's total time and the bytes and rounds exactly; merged
   * times add up to at least the total. */
  for (int by = FF_GROUP_SCOPE; by <= FF_GROUP_NAME; by++) {
    assert_partition(bd, (ff_group_by)by, FF_M_WALL_P0, 0);
    assert_partition(bd, (ff_group_by)by, FF_M_WALL_P1, 0);
    assert_partition(bd, (ff_group_by)by, FF_M_WAIT_P0, 0);
    assert_partition(bd, (ff_group_by)by, FF_M_WAIT_P1, 0);
    assert_partition(bd, (ff_group_by)by, FF_M_LINK, 0);
    assert_partition(bd, (ff_group_by)by, FF_M_ROUNDS, 0);
    assert_partition(bd, (ff_group_by)by, FF_M_WALL, 1);
    assert_partition(bd, (ff_group_by)by, FF_M_COMP, 1);
  }
  /* Scope sums (outermost nodes of a name) and families present. */
  double x[1];
  assert_int_equal(ff_breakdown_scope_values(bd, "Reconstruct", FF_M_WALL, x), 1);
  assert_double_equal(x[0], 250, 0);
  assert_int_equal(ff_breakdown_scope_values(bd, "Softmax", FF_M_WALL, x), 0);
  assert_true(ff_breakdown_has_family(bd, "Activation"));
  assert_false(ff_breakdown_has_family(bd, "Softmax"));
  ff_breakdown_free(bd);
}

/* ---- report ------------------------------------------------------------------------------------- */

static void test_report_compute(void **state) {
  (void)state;
  ff_breakdown *bd = merge_ok(scen_a(0), scen_a(1));
  ff_report r;
  /* By family, time descending with Other last: Activation 500, Linear 350, Structure 200, Other 150
   * (test_grouping). Share of Activation = 500 / 1100 = 45.4545...%. Other: 150/1100 = 13.636...% of
   * time, 0/800 of bytes. Largest by exclusive time: Activation 500, Linear 350, Structure 200. */
  assert_int_equal(ff_report_compute(bd, FF_GROUP_FAMILY, &r), FF_OK);
  assert_int_equal(r.n_rows, 4);
  assert_string_equal(r.rows[0].key, "Activation");
  assert_string_equal(r.rows[1].key, "Linear");
  assert_string_equal(r.rows[2].key, "Structure");
  assert_string_equal(r.rows[3].key, "Other");
  assert_double_equal(r.rows[0].time.median, 500, 0);
  assert_double_equal(r.rows[0].share, 100.0 * 500 / 1100, 1e-9);
  assert_double_equal(r.rows[0].link.median, 600, 0);
  assert_double_equal(r.rows[0].sent_p0.median, 200, 0); /* GELU 200 − Reconstruct 200 + 200 */
  assert_double_equal(r.rows[0].sent_p1.median, 400, 0);
  assert_double_equal(r.other_time_pct, 100.0 * 150 / 1100, 1e-9);
  assert_double_equal(r.other_bytes_pct, 0, 0);
  assert_int_equal(r.n_top, 3);
  assert_string_equal(r.rows[r.top[0]].key, "Activation");
  assert_string_equal(r.rows[r.top[1]].key, "Linear");
  assert_string_equal(r.rows[r.top[2]].key, "Structure");
  assert_int_equal(r.reps_counted, 1);
  assert_int_equal(r.reps_warmup, 1);
  ff_report_free(&r);
  /* By scope, time is inclusive: Forward 950 (86.36%), exclusive max(50, 150) = 150. Largest by
   * exclusive time: Linear 350, then GELU 250 and Reconstruct 250 (ties in table order). */
  assert_int_equal(ff_report_compute(bd, FF_GROUP_SCOPE, &r), FF_OK);
  assert_int_equal(r.n_rows, 6);
  assert_string_equal(r.rows[0].key, "Forward");
  assert_double_equal(r.rows[0].time.median, 950, 0);
  assert_double_equal(r.rows[0].excl.median, 150, 0);
  assert_double_equal(r.rows[0].share, 100.0 * 950 / 1100, 1e-9);
  assert_double_equal(r.rows[0].wait.median, 200, 0);
  assert_double_equal(r.rows[0].skew.median, 50, 0);
  assert_string_equal(r.rows[r.top[0]].key, "Forward/Layer[0]/Linear");
  assert_string_equal(r.rows[r.top[1]].key, "Forward/Layer[0]/Activation::GELU");
  assert_string_equal(r.rows[r.top[2]].key, "Forward/Layer[0]/Activation::GELU/Reconstruct");
  ff_report_free(&r);
  ff_breakdown_free(bd);
}

static void test_cmd_report(void **state) {
  (void)state;
  char *a = write_json(scen_a(0)), *b = write_json(scen_a(1)), *merged = tmp_path();
  char *m[] = {"merge", a, b, "-o", merged, NULL};
  assert_int_equal(ff_cmd_merge(5, m), FF_EXIT_OK);
  const char *const formats[] = {"md", "csv", "json"};
  const char *const bys[] = {"scope", "family", "layer", "name"};
  for (int f = 0; f < 3; f++) {
    for (int k = 0; k < 4; k++) {
      char *out = tmp_path();
      char *argv[] = {"report", merged, "--format", (char *)formats[f], "--by", (char *)bys[k], "-o", out, NULL};
      assert_int_equal(ff_cmd_report(8, argv), FF_EXIT_OK);
      char *text = read_text(out);
      if (f == 0) {
        assert_non_null(strstr(text, "run 3f9c0a1b7d2e4c55"));
        assert_non_null(strstr(text, "backend cpu"));
        assert_non_null(strstr(text, "1 reps counted"));
      } else if (f == 1) {
        assert_true(strncmp(text, k == 0 ? "path," : bys[k], strlen(k == 0 ? "path," : bys[k])) == 0);
      } else {
        cJSON *j = cJSON_Parse(text);
        assert_non_null(j);
        assert_string_equal(cJSON_GetObjectItem(j, "by")->valuestring, bys[k]);
        cJSON_Delete(j);
      }
      free(text);
    }
  }
  char *plain[] = {"report", merged, NULL};
  assert_int_equal(ff_cmd_report(2, plain), FF_EXIT_OK);
  capture c = capture_begin(2);
  char *badby[] = {"report", merged, "--by", "colour", NULL};
  assert_int_equal(ff_cmd_report(4, badby), FF_EXIT_USAGE);
  char *badfmt[] = {"report", merged, "--format", "xml", NULL};
  assert_int_equal(ff_cmd_report(4, badfmt), FF_EXIT_USAGE);
  char *none[] = {"report", NULL};
  assert_int_equal(ff_cmd_report(1, none), FF_EXIT_USAGE);
  char *perparty[] = {"report", a, NULL};
  assert_int_equal(ff_cmd_report(2, perparty), FF_EXIT_FAIL);
  char *missing[] = {"report", "/nonexistent/breakdown_merged.json", NULL};
  assert_int_equal(ff_cmd_report(2, missing), FF_EXIT_FAIL);
  free(capture_end(c));
  char *help[] = {"report", "-h", NULL};
  assert_int_equal(ff_cmd_report(2, help), FF_EXIT_OK);
}

int main(void) {
  fixtures_init("test_merge");
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_stats_quantiles),
      cmocka_unit_test(test_merge_time_bytes_rounds),
      cmocka_unit_test(test_merge_exclusive_and_other),
      cmocka_unit_test(test_merge_order_independent),
      cmocka_unit_test(test_merge_parties_take_turns), cmocka_unit_test(test_merge_overlap_clamped),
      cmocka_unit_test(test_merge_rounds_and_calls_warn),
      cmocka_unit_test(test_merge_one_way_rounds_no_warning),
      cmocka_unit_test(test_merge_path_bytes_mismatch_warns),
      cmocka_unit_test(test_merge_node_created_later),
      cmocka_unit_test(test_merge_statistics),
      cmocka_unit_test(test_refuse_schema),
      cmocka_unit_test(test_refuse_run_id),
      cmocka_unit_test(test_refuse_same_party),
      cmocka_unit_test(test_refuse_reps_and_warmup),
      cmocka_unit_test(test_refuse_workload_knobs),
      cmocka_unit_test(test_refuse_tree_shape),
      cmocka_unit_test(test_refuse_deep_nesting),
      cmocka_unit_test(test_refuse_invariant),
      cmocka_unit_test(test_refuse_malformed_truncated),
      cmocka_unit_test(test_refuse_missing_field_and_file),
      cmocka_unit_test(test_refuse_all_warmup),
      cmocka_unit_test(test_cmd_merge),
      cmocka_unit_test(test_roundtrip),
      cmocka_unit_test(test_loader_refusals),
      cmocka_unit_test(test_grouping),
      cmocka_unit_test(test_report_compute),
      cmocka_unit_test(test_cmd_report),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
