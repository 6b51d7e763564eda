/* Tests of `fusefss amdahl` (in-run speedups, --target families and scopes, a --micro file) and
 * `fusefss project` (seed and duplex conventions, LAN/WAN presets, a custom link), on merged runs
 * built from hand-made per-party logs (DESIGN.md §6, docs/tools.md). Every expected number is
 * worked out by hand in the comments. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/status.h"
#include "tools/lib/analysis.h"
#include "tools/amdahl.h"
#include "tools/project.h"
#include "tools/cli.h"

#include "fixtures.h"

/* ---- Per-party logs: the scope dictionary and run fields of every log here ----------------------- */

enum { FWD, LINEAR, GELU, RECON, SOFTMAX, NEXP, INV };
static const char *const SCOPES[][2] = {
    {"Forward", "Structure"},       {"Linear", "Linear"},          {"Activation::GELU", "Activation"},
    {"Reconstruct", "Reconstruct"}, {"Softmax", "Softmax"},        {"Softmax::nExp", "Softmax"},
    {"Softmax::Inverse", "Softmax"}};

/* A `run` log of bert-tiny, of the given suite (none when NULL). */
static cJSON *party_log(int party, const char *run_id, const char *suite) {
  cJSON *j = log_new(party, run_id, "run", SCOPES, sizeof SCOPES / sizeof SCOPES[0]);
  if (suite) cJSON_AddStringToObject(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "run"), "workload"), "suite", suite);
  return j;
}

/* Merges two logs into a merged file; returns its path. */
static char *merged_file(cJSON *p0, cJSON *p1) {
  char *a = write_json(p0), *b = write_json(p1), *out = tmp_path();
  ff_breakdown *bd = NULL;
  assert_int_equal(ff_merge_logs(a, b, &bd), FF_OK);
  assert_int_equal(ff_breakdown_write(bd, out), FF_OK);
  ff_breakdown_free(bd);
  return out;
}

static ff_breakdown *load(const char *path) {
  ff_breakdown *bd = NULL;
  assert_int_equal(ff_breakdown_load(path, &bd), FF_OK);
  return bd;
}

/* ---- Two runs for Amdahl: sigma (base) and suf (candidate) ----------------------------------------
 * Both parties log the same times (max = the value, no skew) and no bytes. One warm-up (times ×3,
 * which would change everything if counted) and one counted repetition.
 *
 *   base (sigma), total 1000           incl  excl         cand (suf), total 690   incl  excl
 *   Forward                             960    60         Forward                  670    60
 *   ├ Linear                            400   400         ├ Linear                 410   410
 *   ├ Activation::GELU                  300   200         ├ Activation::GELU       100    60
 *   │ └ Reconstruct                     100   100         │ └ Reconstruct           40    40
 *   └ Softmax                           200    20         └ Softmax                100    20
 *     ├ Softmax::nExp                   120   120           ├ Softmax::nExp         50    50
 *     └ Softmax::Inverse                 60    60           └ Softmax::Inverse      30    30
 *   Other = 1000 − 960 = 40                               Other = 690 − 670 = 20
 *
 * Families (owner family, exclusive sums):
 *   base: Structure 60, Linear 400, Activation 200 + 100 = 300, Softmax 20 + 120 + 60 = 200, Other 40
 *   cand: Structure 60, Linear 410, Activation  60 +  40 = 100, Softmax 20 +  50 + 30 = 100, Other 20 */
static char *amdahl_run(int cand) {
  /*                      parent scope  layer calls wall wait sent recv rounds msgs cuda */
  const tnode base[] = {{-1, FWD, -1, 1, 960, 0, 0, 0, 0, 0, 0},
                        {0, LINEAR, -1, 1, 400, 0, 0, 0, 0, 0, 0},
                        {0, GELU, -1, 1, 300, 0, 0, 0, 0, 0, 0},
                        {2, RECON, -1, 1, 100, 0, 0, 0, 0, 0, 0},
                        {0, SOFTMAX, -1, 1, 200, 0, 0, 0, 0, 0, 0},
                        {4, NEXP, -1, 1, 120, 0, 0, 0, 0, 0, 0},
                        {4, INV, -1, 1, 60, 0, 0, 0, 0, 0, 0}};
  const tnode suf[] = {{-1, FWD, -1, 1, 670, 0, 0, 0, 0, 0, 0},
                       {0, LINEAR, -1, 1, 410, 0, 0, 0, 0, 0, 0},
                       {0, GELU, -1, 1, 100, 0, 0, 0, 0, 0, 0},
                       {2, RECON, -1, 1, 40, 0, 0, 0, 0, 0, 0},
                       {0, SOFTMAX, -1, 1, 100, 0, 0, 0, 0, 0, 0},
                       {4, NEXP, -1, 1, 50, 0, 0, 0, 0, 0, 0},
                       {4, INV, -1, 1, 30, 0, 0, 0, 0, 0, 0}};
  const tnode *n = cand ? suf : base;
  const ttotal t = {cand ? 690 : 1000, 0, 0, 0, 0, 0, 0};
  const char *id = cand ? "cand-run" : "base-run", *suite = cand ? "suf" : "sigma";
  cJSON *p0 = party_log(0, id, suite), *p1 = party_log(1, id, suite);
  log_rep(p0, 1, &t, n, 7, 3);
  log_rep(p1, 1, &t, n, 7, 3);
  log_rep(p0, 0, &t, n, 7, 1);
  log_rep(p1, 0, &t, n, 7, 1);
  return merged_file(p0, p1);
}

static void test_amdahl_default_targets(void **state) {
  (void)state;
  ff_breakdown *base = load(amdahl_run(0)), *cand = load(amdahl_run(1));
  ff_amdahl a;
  assert_int_equal(ff_amdahl_compute(base, cand, NULL, 0, NULL, &a), FF_OK);
  /* No LayerNorm in the base run: the default targets are Activation and Softmax. */
  assert_int_equal(a.n_targets, 2);
  assert_double_equal(a.T_base, 1000, 0);
  assert_double_equal(a.T_cand, 690, 0);
  int act = ff_amdahl_find(&a, "Activation"), smx = ff_amdahl_find(&a, "Softmax"), lin = ff_amdahl_find(&a, "Linear");
  assert_true(act >= 0 && smx >= 0 && lin >= 0);
  assert_true(a.rows[act].targeted);
  assert_true(a.rows[smx].targeted);
  assert_false(a.rows[lin].targeted);
  /* f_Act = 300/1000 = 0.3, s_Act = 300/100 = 3; f_Smx = 200/1000 = 0.2, s_Smx = 200/100 = 2. */
  assert_double_equal(a.rows[act].t_base, 300, 0);
  assert_double_equal(a.rows[act].t_cand, 100, 0);
  assert_double_equal(a.rows[act].f, 0.3, 1e-12);
  assert_double_equal(a.rows[act].s, 3, 1e-12);
  assert_double_equal(a.rows[smx].f, 0.2, 1e-12);
  assert_double_equal(a.rows[smx].s, 2, 1e-12);
  assert_int_equal(a.rows[act].s_source, FF_AMDAHL_S_RUN);
  /* Σf = 0.5; Σ f/s = 0.3/3 + 0.2/2 = 0.2; S_pred = 1/(0.5 + 0.2) = 1/0.7 = 1.428571...
   * S_meas = 1000/690 = 1.449275...; residual = S_meas/S_pred − 1 = 0.7·1000/690 − 1 = 10/690. */
  assert_double_equal(a.f_sum, 0.5, 1e-12);
  assert_double_equal(a.S_pred, 1 / 0.7, 1e-12);
  assert_double_equal(a.S_meas, 1000.0 / 690, 1e-12);
  assert_double_equal(a.residual, 10.0 / 690, 1e-12);
  /* Y = (100 + 100)/690; s = Σt_base/Σt_cand = 500/200 = 2.5. */
  assert_double_equal(a.f_sum_cand, 200.0 / 690, 1e-12);
  assert_double_equal(a.s_eff, 2.5, 1e-12);
  /* Residual parts: T_pred = 1000·0.7 = 700; T_cand − T_pred = −10 = targets (100 − 300/3) +
   * (100 − 200/2) = 0, non-targeted Linear 410 − 400 = +10 and Structure 60 − 60 = 0,
   * Other 20 − 40 = −20, nothing left over. */
  assert_double_equal(a.T_pred, 700, 1e-9);
  assert_double_equal(a.d_targets, 0, 1e-9);
  assert_double_equal(a.d_nontargeted, 10, 1e-9);
  assert_double_equal(a.d_other, -20, 1e-9);
  assert_double_equal(a.d_nonadditive, 0, 1e-9);
  char buf[1024];
  assert_string_equal(ff_amdahl_sentence(&a, "sigma", "suf", buf, sizeof buf),
                      "Activation and Softmax take 50.0% of sigma's online time and 29.0% of suf's; a per-gate 2.50× "
                      "speedup therefore gives 1.43× end to end (measured 1.45×, residual +1.4%).");
  ff_amdahl_free(&a);
  ff_breakdown_free(base);
  ff_breakdown_free(cand);
}

static void test_amdahl_targets(void **state) {
  (void)state;
  ff_breakdown *base = load(amdahl_run(0)), *cand = load(amdahl_run(1));
  ff_amdahl a;
  /* --target Activation: S_pred = 1/((1 − 0.3) + 0.3/3) = 1/0.8 = 1.25;
   * residual = (1000/690)/1.25 − 1 = 800/690 − 1 = 110/690. */
  const char *t1[] = {"Activation"};
  assert_int_equal(ff_amdahl_compute(base, cand, t1, 1, NULL, &a), FF_OK);
  assert_int_equal(a.n_targets, 1);
  assert_false(a.rows[ff_amdahl_find(&a, "Softmax")].targeted);
  assert_double_equal(a.S_pred, 1.25, 1e-12);
  assert_double_equal(a.residual, 110.0 / 690, 1e-12);
  char buf[1024];
  assert_non_null(strstr(ff_amdahl_sentence(&a, "sigma", "suf", buf, sizeof buf), "Activation takes 30.0% of sigma's"));
  ff_amdahl_free(&a);
  /* A scope target: Reconstruct, Σ inclusive of its outermost nodes: base 100, cand 40.
   * f = 0.1, s = 2.5, S_pred = 1/(0.9 + 0.1/2.5) = 1/0.94. The Activation family outside the
   * targeted scope: base 300 − 100 = 200, cand 100 − 40 = 60. T_pred = 940; T_cand − T_pred = −250 =
   * targets (40 − 100/2.5 = 0) + non-targeted (Linear +10, Activation rest 60 − 200 = −140,
   * Softmax 100 − 200 = −100, Structure 0: −230) + Other −20. */
  const char *t2[] = {"Reconstruct"};
  assert_int_equal(ff_amdahl_compute(base, cand, t2, 1, NULL, &a), FF_OK);
  int r = ff_amdahl_find(&a, "Reconstruct");
  assert_true(r >= 0);
  assert_true(a.rows[r].is_scope);
  assert_double_equal(a.rows[r].t_base, 100, 0);
  assert_double_equal(a.rows[r].t_cand, 40, 0);
  assert_double_equal(a.rows[r].s, 2.5, 1e-12);
  assert_double_equal(a.S_pred, 1 / 0.94, 1e-12);
  int act = ff_amdahl_find(&a, "Activation");
  assert_double_equal(a.rows[act].rest_base, 200, 0);
  assert_double_equal(a.rows[act].rest_cand, 60, 0);
  assert_double_equal(a.d_nontargeted, -230, 1e-9);
  assert_double_equal(a.d_other, -20, 1e-9);
  assert_double_equal(a.d_nonadditive, 0, 1e-9);
  ff_amdahl_free(&a);
  /* Unknown names are refused, listing the families present. */
  const char *t3[] = {"Foo"};
  capture c = capture_begin(2);
  assert_int_equal(ff_amdahl_compute(base, cand, t3, 1, NULL, &a), FF_ENOENT);
  char *err = capture_end(c);
  assert_non_null(strstr(err, "\"Foo\""));
  assert_non_null(strstr(err, "Structure, Linear, Activation, Softmax, Other"));
  free(err);
  ff_breakdown_free(base);
  ff_breakdown_free(cand);
}

static void test_amdahl_no_default_target(void **state) {
  (void)state;
  /* A run of only Linear layers: no Activation/Softmax/LayerNorm to target by default. */
  const tnode n[] = {{-1, FWD, -1, 1, 100, 0, 0, 0, 0, 0, 0}, {0, LINEAR, -1, 1, 90, 0, 0, 0, 0, 0, 0}};
  const ttotal t = {100, 0, 0, 0, 0, 0, 0};
  cJSON *p0 = party_log(0, "lin", NULL), *p1 = party_log(1, "lin", NULL);
  log_rep(p0, 0, &t, n, 2, 1);
  log_rep(p1, 0, &t, n, 2, 1);
  ff_breakdown *bd = load(merged_file(p0, p1));
  ff_amdahl a;
  capture c = capture_begin(2);
  assert_int_equal(ff_amdahl_compute(bd, bd, NULL, 0, NULL, &a), FF_ENOENT);
  char *err = capture_end(c);
  assert_non_null(strstr(err, "no targeted family in the base run; pass --target"));
  assert_non_null(strstr(err, "Structure, Linear, Other"));
  free(err);
  ff_breakdown_free(bd);
}

static const char MICRO[] =
    "{\"schema\": \"fusefss.micro/1\", \"base\": \"sigma\", \"cand\": \"suf\",\n"
    " \"backend\": \"cpu\", \"device\": \"test\",\n"
    " \"gates\": [\n"
    "  {\"gate\": \"GELU\", \"family\": \"Activation\", \"scope\": \"Activation::GELU\", \"shape\": [128, 3072],\n"
    "   \"base_ns\": {\"median\": 4000, \"p25\": 3900, \"p75\": 4100, \"n\": 10},\n"
    "   \"cand_ns\": {\"median\": 1000, \"p25\": 950, \"p75\": 1050, \"n\": 10},\n"
    "   \"speedup\": {\"median\": 4, \"p25\": 3, \"p75\": 5}},\n"
    "  {\"gate\": \"nExp\", \"family\": \"Softmax\", \"scope\": \"Softmax::nExp\", \"shape\": [128, 128],\n"
    "   \"speedup\": {\"median\": 2, \"p25\": 1.5, \"p75\": 2.5}},\n"
    "  {\"gate\": \"Inverse\", \"family\": \"Softmax\", \"scope\": \"Softmax::Inverse\", \"shape\": [128],\n"
    "   \"speedup\": {\"median\": 4, \"p25\": 2, \"p75\": 6}}]}\n";

static void test_amdahl_micro(void **state) {
  (void)state;
  ff_breakdown *base = load(amdahl_run(0)), *cand = load(amdahl_run(1));
  ff_micro *m = NULL;
  assert_int_equal(ff_micro_load(write_text(MICRO), &m), FF_OK);
  assert_int_equal(m->n_gates, 3);
  ff_amdahl a;
  assert_int_equal(ff_amdahl_compute(base, cand, NULL, 0, m, &a), FF_OK);
  int act = ff_amdahl_find(&a, "Activation"), smx = ff_amdahl_find(&a, "Softmax");
  /* Activation has one gate: s = 4 (p25 3, p75 5). Softmax combines nExp (s 2) and Inverse (s 4),
   * weighted by the base run's time of their scopes, 120 and 60:
   *   s = (120 + 60)/(120/2 + 60/4) = 180/75 = 2.4
   *   p25: 180/(120/1.5 + 60/2) = 180/110;  p75: 180/(120/2.5 + 60/6) = 180/58. */
  assert_int_equal(a.rows[act].s_source, FF_AMDAHL_S_MICRO);
  assert_double_equal(a.rows[act].s, 4, 1e-12);
  assert_double_equal(a.rows[smx].s, 2.4, 1e-12);
  assert_double_equal(a.rows[smx].s_p25, 180.0 / 110, 1e-12);
  assert_double_equal(a.rows[smx].s_p75, 180.0 / 58, 1e-12);
  assert_double_equal(a.rows[smx].s_run, 2, 1e-12); /* in-run 200/100, kept for comparison */
  /* S_pred = 1/(0.5 + 0.3/4 + 0.2/2.4) = 1/(0.5 + 0.075 + 1/12) = 1/(79/120) = 120/79
   * p25:     1/(0.5 + 0.3/3 + 0.2·110/180) = 1/(0.6 + 11/90) = 1/(13/18) = 18/13
   * p75:     1/(0.5 + 0.3/5 + 0.2·58/180)  = 1/(0.56 + 29/450) = 1/(281/450) = 450/281
   * residual = (1000/690)/(120/79) − 1 = 79000/82800 − 1 = −3800/82800. */
  assert_double_equal(a.S_pred, 120.0 / 79, 1e-12);
  assert_double_equal(a.S_pred_p25, 18.0 / 13, 1e-12);
  assert_double_equal(a.S_pred_p75, 450.0 / 281, 1e-12);
  assert_double_equal(a.residual, -3800.0 / 82800, 1e-12);
  /* s in the sentence = Σt_base / Σ(t_base/s) = 500/(300/4 + 200/2.4) = 500/(475/3) = 60/19 = 3.157...;
   * targets part of the residual: (100 − 300/4) + (100 − 200/2.4) = 25 + 50/3. */
  assert_double_equal(a.s_eff, 60.0 / 19, 1e-12);
  assert_double_equal(a.d_targets, 25 + 50.0 / 3, 1e-9);
  char buf[1024];
  assert_non_null(strstr(ff_amdahl_sentence(&a, "sigma", "suf", buf, sizeof buf),
                         "a per-gate 3.16× speedup therefore gives 1.52× end to end "
                         "(measured 1.45×, residual -4.6%)"));
  ff_amdahl_free(&a);
  ff_micro_free(m);
  /* Refusals of a bad micro file. */
  capture c = capture_begin(2);
  assert_int_equal(ff_micro_load(write_text("{\"schema\": \"fusefss.micro/0\", \"gates\": []}"), &m), FF_EFORMAT);
  assert_int_equal(ff_micro_load(write_text("{\"schema\": \"fusefss.micro/1\", \"gates\": [{\"gate\": \"GELU\", "
                                            "\"family\": \"Activation\", \"scope\": \"Activation::GELU\"}]}"),
                                 &m),
                   FF_EFORMAT);
  char *err = capture_end(c);
  assert_non_null(strstr(err, "gates[0].speedup"));
  free(err);
  ff_breakdown_free(base);
  ff_breakdown_free(cand);
}

static void test_cmd_amdahl(void **state) {
  (void)state;
  char *base = amdahl_run(0), *cand = amdahl_run(1), *micro = write_text(MICRO);
  char *md[] = {"amdahl", "--base", base, "--cand", cand, NULL};
  capture c = capture_begin(1);
  int rc = ff_cmd_amdahl(5, md);
  char *out = capture_end(c);
  assert_int_equal(rc, FF_EXIT_OK);
  assert_non_null(strstr(out, "Activation and Softmax take 50.0% of sigma's online time and 29.0% of suf's"));
  assert_non_null(strstr(out, "| Linear"));
  free(out);
  char *js[] = {"amdahl", "--base", base, "--cand", cand, "--micro", micro, "--target", "Activation,Softmax",
                "--format", "json", NULL};
  c = capture_begin(1);
  rc = ff_cmd_amdahl(11, js);
  out = capture_end(c);
  assert_int_equal(rc, FF_EXIT_OK);
  cJSON *j = cJSON_Parse(out);
  assert_non_null(j);
  assert_double_equal(cJSON_GetObjectItem(j, "S_pred")->valuedouble, 120.0 / 79, 1e-12);
  assert_double_equal(cJSON_GetObjectItem(j, "S_pred_p25")->valuedouble, 18.0 / 13, 1e-12);
  cJSON_Delete(j);
  free(out);
  char *help[] = {"amdahl", "--help", NULL};
  c = capture_begin(1);
  assert_int_equal(ff_cmd_amdahl(2, help), FF_EXIT_OK);
  free(capture_end(c));
  c = capture_begin(2);
  char *nocand[] = {"amdahl", "--base", base, NULL};
  assert_int_equal(ff_cmd_amdahl(3, nocand), FF_EXIT_USAGE);
  char *badfmt[] = {"amdahl", "--base", base, "--cand", cand, "--format", "csv", NULL};
  assert_int_equal(ff_cmd_amdahl(7, badfmt), FF_EXIT_USAGE);
  char *unknown[] = {"amdahl", "--base", base, "--cand", cand, "--target", "Foo", NULL};
  assert_int_equal(ff_cmd_amdahl(7, unknown), FF_EXIT_FAIL);
  char *missing[] = {"amdahl", "--base", "/nonexistent/a.json", "--cand", cand, NULL};
  assert_int_equal(ff_cmd_amdahl(5, missing), FF_EXIT_FAIL);
  free(capture_end(c));
}

/* ---- project --------------------------------------------------------------------------------------
 * One warm-up and three counted repetitions with the same tree and bytes; only the totals' wall
 * times change between repetitions.
 *
 *                  P0: wall  wait  sent  recv rounds     P1: wall  wait  sent  recv rounds
 *   Forward            9e6   4e6   3e6   1e6   10           8.5e6  2e6   1e6   3e6   10
 *   ├ Linear           5e6   1e6   1e6  .5e6    4             4e6 .5e6  .5e6   1e6    4
 *   └ Softmax          3e6   3e6   2e6  .5e6    6             4e6 1.5e6 .5e6   2e6    6
 *   totals: rep 1      1e7   4e6   3e6   1e6   10             9e6  2e6   1e6   3e6   10
 *           rep 2    1.2e7   4e6                              9e6  2e6
 *           rep 3   1.06e7   4e6                            8.6e6  2e6
 *
 * Merged comp = max over parties of (wall − wait):
 *   totals: rep 1 max(6e6, 7e6) = 7e6; rep 2 max(8e6, 7e6) = 8e6; rep 3 max(6.6e6, 6.6e6) = 6.6e6
 *           -> median 7e6; measured wall max 1e7, 1.2e7, 1.06e7 -> median 1.06e7
 *   exclusive, per party first: Linear max(5e6 − 1e6, 4e6 − .5e6) = 4e6; Softmax max(0, 2.5e6) = 2.5e6;
 *   Forward (9e6 − 8e6) − (4e6 − 4e6) = 1e6 on P0, (8.5e6 − 8e6) − 0 = .5e6 on P1 -> 1e6;
 *   Other = total − Forward per party: P0 1e6, 3e6, 1.6e6; P1 .5e6, .5e6, .1e6 -> max 1e6, 3e6, 1.6e6,
 *   median 1.6e6. Each row takes its slower party, so the rows add up to more than the total comp
 *   (4 + 2.5 + 1 + 1.6 = 9.1e6 > 7e6); per party they add up exactly (P0 rep 1: 4 + 0 + 1 + 1 = 6e6).
 * link = 3e6 + 1e6 = 4e6 B; max(sent_P0, sent_P1) = 3e6 B; rounds 10. */
static char *project_run(void) {
  /*                    parent scope  layer calls wall  wait   sent   recv  rounds msgs cuda */
  const tnode n0[] = {{-1, FWD, -1, 1, 9e6, 4e6, 3e6, 1e6, 10, 10, 0},
                      {0, LINEAR, -1, 1, 5e6, 1e6, 1e6, .5e6, 4, 4, 0},
                      {0, SOFTMAX, -1, 1, 3e6, 3e6, 2e6, .5e6, 6, 6, 0}};
  const tnode n1[] = {{-1, FWD, -1, 1, 8.5e6, 2e6, 1e6, 3e6, 10, 10, 0},
                      {0, LINEAR, -1, 1, 4e6, .5e6, .5e6, 1e6, 4, 4, 0},
                      {0, SOFTMAX, -1, 1, 4e6, 1.5e6, .5e6, 2e6, 6, 6, 0}};
  const double w0[] = {2e7, 1e7, 1.2e7, 1.06e7}, w1[] = {2e7, 9e6, 9e6, 8.6e6};
  cJSON *p0 = party_log(0, "proj", "sigma"), *p1 = party_log(1, "proj", "sigma");
  for (int r = 0; r < 4; r++) {
    const ttotal t0 = {w0[r], 4e6, 3e6, 1e6, 10, 10, 0}, t1 = {w1[r], 2e6, 1e6, 3e6, 10, 10, 0};
    log_rep(p0, r == 0, &t0, n0, 3, 1);
    log_rep(p1, r == 0, &t1, n1, 3, 1);
  }
  return merged_file(p0, p1);
}

static const ff_proj_row *prow(const ff_projection *p, const char *key) {
  for (size_t i = 0; i < p->n_rows; i++)
    if (strcmp(p->rows[i].key, key) == 0) return &p->rows[i];
  fail_msg("no row %s", key);
  return NULL;
}

static void test_project_conventions(void **state) {
  (void)state;
  ff_breakdown *bd = load(project_run());
  ff_network lan = ff_network_lan(), wan = ff_network_wan();
  assert_double_equal(lan.bw_Bps, 1e9, 0);
  assert_double_equal(lan.lat_ns, 0.5e6, 0);
  assert_double_equal(wan.bw_Bps, 4e8, 0);
  assert_double_equal(wan.lat_ns, 4e6, 0);
  ff_projection p;
  /* LAN, seed: 7e6 + 2·4e6 B / 1e9 B/s (= 8e6 ns) + 10 · 0.5e6 = 7e6 + 8e6 + 5e6 = 20e6 ns. */
  assert_int_equal(ff_project_compute(bd, &lan, FF_CONV_SEED, FF_GROUP_FAMILY, &p), FF_OK);
  assert_double_equal(p.total.comp_ns, 7e6, 0);
  assert_double_equal(p.total.bytes_B, 4e6, 0);
  assert_double_equal(p.total.bytes_ns, 8e6, 1e-6);
  assert_double_equal(p.total.lat_ns, 5e6, 0);
  assert_double_equal(p.total.T_ns, 20e6, 1e-6);
  assert_double_equal(p.total.wall_ns, 1.06e7, 0);
  /* Per family (exclusive): Linear 4e6 + 2·1.5e6/1e9 (3e6) + 4·0.5e6 (2e6) = 9e6;
   * Softmax 2.5e6 + 2·2.5e6/1e9 (5e6) + 6·0.5e6 (3e6) = 10.5e6; Structure 1e6 (comp only);
   * Other 1.6e6 (comp only). */
  assert_double_equal(prow(&p, "Linear")->T_ns, 9e6, 1e-6);
  assert_double_equal(prow(&p, "Softmax")->T_ns, 10.5e6, 1e-6);
  assert_double_equal(prow(&p, "Structure")->T_ns, 1e6, 1e-6);
  assert_double_equal(prow(&p, "Other")->comp_ns, 1.6e6, 0);
  assert_double_equal(prow(&p, "Other")->T_ns, 1.6e6, 1e-6);
  ff_projection_free(&p);
  /* LAN, duplex: 7e6 + 3e6 B/1e9 (3e6) + 5e6 = 15e6. Linear 4e6 + max(1e6, .5e6)/1e9 (1e6) + 2e6 = 7e6;
   * Softmax 2.5e6 + max(2e6, .5e6)/1e9 (2e6) + 3e6 = 7.5e6. */
  assert_int_equal(ff_project_compute(bd, &lan, FF_CONV_DUPLEX, FF_GROUP_FAMILY, &p), FF_OK);
  assert_double_equal(p.total.bytes_B, 3e6, 0);
  assert_double_equal(p.total.T_ns, 15e6, 1e-6);
  assert_double_equal(prow(&p, "Linear")->T_ns, 7e6, 1e-6);
  assert_double_equal(prow(&p, "Softmax")->T_ns, 7.5e6, 1e-6);
  ff_projection_free(&p);
  /* WAN, seed: 7e6 + 2·4e6/4e8 s (2e7 ns) + 10·4e6 (4e7) = 6.7e7.
   * WAN, duplex: 7e6 + 3e6/4e8 s (7.5e6 ns) + 4e7 = 5.45e7. */
  assert_int_equal(ff_project_compute(bd, &wan, FF_CONV_SEED, FF_GROUP_FAMILY, &p), FF_OK);
  assert_double_equal(p.total.T_ns, 6.7e7, 1e-6);
  ff_projection_free(&p);
  assert_int_equal(ff_project_compute(bd, &wan, FF_CONV_DUPLEX, FF_GROUP_FAMILY, &p), FF_OK);
  assert_double_equal(p.total.bytes_ns, 7.5e6, 1e-6);
  assert_double_equal(p.total.T_ns, 5.45e7, 1e-6);
  ff_projection_free(&p);
  /* By scope (exclusive per path): Forward has its own comp 1e6 and no bytes or rounds;
   * Forward/Softmax as its family above. */
  assert_int_equal(ff_project_compute(bd, &lan, FF_CONV_DUPLEX, FF_GROUP_SCOPE, &p), FF_OK);
  assert_double_equal(prow(&p, "Forward")->T_ns, 1e6, 1e-6);
  assert_double_equal(prow(&p, "Forward/Softmax")->T_ns, 7.5e6, 1e-6);
  ff_projection_free(&p);
  ff_breakdown_free(bd);
}

static void test_cmd_project(void **state) {
  (void)state;
  char *m = project_run();
  /* A custom link, 10 Gbit/s = 1.25e9 B/s and 200 us: duplex T = 7e6 + 3e6/1.25e9 s (2.4e6 ns)
   * + 10·2e5 (2e6) = 1.14e7 ns. */
  char *custom[] = {"project", m, "--bw", "10Gbit/s", "--lat", "200us", "--format", "json", NULL};
  capture c = capture_begin(1);
  int rc = ff_cmd_project(8, custom);
  char *out = capture_end(c);
  assert_int_equal(rc, FF_EXIT_OK);
  cJSON *j = cJSON_Parse(out);
  assert_non_null(j);
  assert_string_equal(cJSON_GetObjectItem(j, "convention")->valuestring, "duplex");
  cJSON *nets = cJSON_GetObjectItem(j, "networks");
  assert_int_equal(cJSON_GetArraySize(nets), 1);
  cJSON *tot = cJSON_GetObjectItem(cJSON_GetArrayItem(nets, 0), "total");
  assert_double_equal(cJSON_GetObjectItem(tot, "T_ns")->valuedouble, 1.14e7, 1e-3);
  cJSON_Delete(j);
  free(out);
  /* No network option: LAN and WAN both, each with its formula. */
  char *both[] = {"project", m, "--convention", "seed", NULL};
  c = capture_begin(1);
  rc = ff_cmd_project(4, both);
  out = capture_end(c);
  assert_int_equal(rc, FF_EXIT_OK);
  assert_non_null(strstr(out, "## LAN"));
  assert_non_null(strstr(out, "## WAN"));
  assert_non_null(strstr(out, "T = comp + 2·link_B/bw + rounds·lat"));
  assert_non_null(strstr(out, "20.000 ms")); /* LAN seed T */
  assert_non_null(strstr(out, "67.000 ms")); /* WAN seed T */
  free(out);
  char *lan[] = {"project", m, "--lan", "--by", "scope", NULL};
  c = capture_begin(1);
  rc = ff_cmd_project(5, lan);
  out = capture_end(c);
  assert_int_equal(rc, FF_EXIT_OK);
  assert_non_null(strstr(out, "15.000 ms")); /* LAN duplex T */
  assert_null(strstr(out, "## WAN"));
  free(out);
  c = capture_begin(2);
  char *bwonly[] = {"project", m, "--bw", "1GB/s", NULL};
  assert_int_equal(ff_cmd_project(4, bwonly), FF_EXIT_USAGE);
  char *badbw[] = {"project", m, "--bw", "fast", "--lat", "1ms", NULL};
  assert_int_equal(ff_cmd_project(6, badbw), FF_EXIT_USAGE);
  char *badconv[] = {"project", m, "--convention", "simplex", NULL};
  assert_int_equal(ff_cmd_project(4, badconv), FF_EXIT_USAGE);
  char *badby[] = {"project", m, "--by", "layer", NULL};
  assert_int_equal(ff_cmd_project(4, badby), FF_EXIT_USAGE);
  char *none[] = {"project", NULL};
  assert_int_equal(ff_cmd_project(1, none), FF_EXIT_USAGE);
  char *missing[] = {"project", "/nonexistent/m.json", NULL};
  assert_int_equal(ff_cmd_project(2, missing), FF_EXIT_FAIL);
  free(capture_end(c));
}

int main(void) {
  fixtures_init("test_amdahl");
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_amdahl_default_targets), cmocka_unit_test(test_amdahl_targets),
      cmocka_unit_test(test_amdahl_no_default_target), cmocka_unit_test(test_amdahl_micro),
      cmocka_unit_test(test_cmd_amdahl),           cmocka_unit_test(test_project_conventions),
      cmocka_unit_test(test_cmd_project),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
