/* The analysis library on real runs (the `fusefss` binary named by $FUSEFSS, bert-tiny cut to one layer
 * on the CPU over loopback): the whole-run trace (valid JSON, slices nested per track, every send
 * paired with a receive of its size, the depth cut, refusals), the figures (well-formed SVG with the
 * expected series) and the grid runner (resumed after a killed cell, its CSV equal to each cell's
 * merged log). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include "core/log.h"
#include "scope/scope.h"
#include "tools/lib/analysis.h"

#include "e2e.h"

static cJSON *load_json(const char *path) {
  cJSON *j = NULL;
  assert_int_equal(ff_json_load_file(path, "test file", &j), FF_OK);
  return j;
}

static double num(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  assert_true(cJSON_IsNumber(v));
  return v->valuedouble;
}

/* ---- Traces ------------------------------------------------------------------------------------- */

typedef struct {
  double ts, end;
  const char *name;
} slice;

static int slice_cmp(const void *a, const void *b) {
  const slice *x = a, *y = b;
  if (x->ts != y->ts) return x->ts < y->ts ? -1 : 1;
  return x->end > y->end ? -1 : x->end < y->end; /* the longer (the parent) first */
}

/* Checks a combined trace: slices nest per (pid, tid) track; every flow id has one start and one end
 * in different processes with the same byte count; returns the number of flows and, in *max_depth,
 * the deepest scope slice seen. */
static size_t check_trace(const char *path, int *max_depth, size_t *n_messages) {
  cJSON *d = load_json(path);
  const cJSON *evs = cJSON_GetObjectItemCaseSensitive(d, "traceEvents");
  assert_true(cJSON_IsArray(evs));
  size_t n = (size_t)cJSON_GetArraySize(evs), n_sl[2][4] = {{0}};
  slice *sl[2][4];
  for (int p = 0; p < 2; p++)
    for (int t = 0; t < 4; t++) assert_non_null(sl[p][t] = calloc(n, sizeof(slice)));
  double *flow_bytes = calloc(n, sizeof(double));
  int *flow_seen = calloc(n, sizeof(int)), *flow_pid = calloc(n, sizeof(int));
  *max_depth = -1;
  *n_messages = 0;
  const cJSON *e;
  cJSON_ArrayForEach(e, evs) {
    const char *ph = cJSON_GetObjectItemCaseSensitive(e, "ph")->valuestring;
    if (strcmp(ph, "M") == 0) continue;
    int pid = (int)num(e, "pid"), tid = (int)num(e, "tid");
    assert_true(pid == 0 || pid == 1);
    assert_true(tid >= 0 && tid < 4);
    if (strcmp(ph, "X") == 0) {
      slice *s = &sl[pid][tid][n_sl[pid][tid]++];
      s->ts = num(e, "ts");
      s->end = s->ts + num(e, "dur");
      s->name = cJSON_GetObjectItemCaseSensitive(e, "name")->valuestring;
      const cJSON *args = cJSON_GetObjectItemCaseSensitive(e, "args");
      const cJSON *dep = cJSON_GetObjectItemCaseSensitive(args, "depth");
      if (cJSON_IsNumber(dep) && dep->valueint > *max_depth) *max_depth = dep->valueint;
      const cJSON *cat = cJSON_GetObjectItemCaseSensitive(e, "cat");
      if (cJSON_IsString(cat) && strcmp(cat->valuestring, "message") == 0) ++*n_messages;
    } else {
      assert_true(strcmp(ph, "s") == 0 || strcmp(ph, "f") == 0);
      size_t id = (size_t)num(e, "id");
      assert_true(id < n);
      double bytes = num(cJSON_GetObjectItemCaseSensitive(e, "args"), "bytes");
      int bit = ph[0] == 's' ? 1 : 2;
      assert_false(flow_seen[id] & bit); /* one start and one end per id */
      if (flow_seen[id]) {
        assert_true(bytes == flow_bytes[id]);
        assert_int_not_equal(pid, flow_pid[id]);
      }
      flow_seen[id] |= bit;
      flow_bytes[id] = bytes;
      flow_pid[id] = pid;
    }
  }
  size_t flows = 0;
  for (size_t i = 0; i < n; i++) {
    if (!flow_seen[i]) continue;
    assert_int_equal(flow_seen[i], 3);
    flows++;
  }
  /* Each arrow's end binds to a message slice of its own party: its timestamp is inside one. */
  cJSON_ArrayForEach(e, evs) {
    const char *ph = cJSON_GetObjectItemCaseSensitive(e, "ph")->valuestring;
    if (strcmp(ph, "s") && strcmp(ph, "f")) continue;
    const double ts = num(e, "ts");
    const int pid = (int)num(e, "pid");
    int inside = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, evs) {
      const cJSON *cat = cJSON_GetObjectItemCaseSensitive(m, "cat");
      if (!cJSON_IsString(cat) || strcmp(cat->valuestring, "message") || (int)num(m, "pid") != pid) continue;
      if (ts >= num(m, "ts") && ts <= num(m, "ts") + num(m, "dur")) inside = 1;
    }
    if (!inside) fail_msg("flow %s of P%d at %.3f us is in no message slice of that party", ph, pid, ts);
  }
  const double eps = 2e-3; /* µs: timestamps are ns printed as µs */
  for (int p = 0; p < 2; p++)
    for (int t = 0; t < 4; t++) {
      slice *v = sl[p][t];
      size_t m = n_sl[p][t], top = 0;
      qsort(v, m, sizeof *v, slice_cmp);
      const slice **stack = calloc(m + 1, sizeof *stack);
      for (size_t i = 0; i < m; i++) {
        while (top && v[i].ts >= stack[top - 1]->end - eps && v[i].end > stack[top - 1]->end + eps) top--;
        if (top && v[i].end > stack[top - 1]->end + eps)
          fail_msg("P%d track %d: '%s' [%.3f, %.3f] overlaps '%s' [%.3f, %.3f] without nesting", p, t, v[i].name,
                   v[i].ts, v[i].end, stack[top - 1]->name, stack[top - 1]->ts, stack[top - 1]->end);
        stack[top++] = &v[i];
      }
      free(stack);
      free(v);
    }
  free(flow_bytes);
  free(flow_seen);
  free(flow_pid);
  cJSON_Delete(d);
  return flows;
}

static void run_ok(const char *tag, const char *const *args) {
  int rc = finish(start(tag, args));
  if (rc) fail_msg("fusefss %s exited %d: %s", args[0], rc, slurp(tag, "err"));
}

static void test_trace_of_a_run(void **state) {
  (void)state;
  char out[256], tr[300], t0[300], t1[300], cut[300];
  snprintf(out, sizeof out, "%s/traced", tmpdir);
  run_ok("run", (const char *[]){"run", "--layers", "1", "--seq", "4", "--trace", "--out", out, NULL});
  snprintf(tr, sizeof tr, "%s/trace.json", out);
  int depth;
  size_t msgs;
  size_t flows = check_trace(tr, &depth, &msgs);
  /* Every message is a slice; every exchange is a send and a receive: the flows count them in pairs.
   * The merged log says how many messages each party sent. */
  char merged[300];
  snprintf(merged, sizeof merged, "%s/breakdown_merged.json", out);
  ff_breakdown *bd = NULL;
  assert_int_equal(ff_breakdown_load(merged, &bd), FF_OK);
  const ff_metrics *tot = ff_breakdown_rep_row(bd, 0, FF_BD_TOTAL, 0);
  assert_non_null(tot);
  assert_true(flows > 0);
  assert_int_equal((double)flows, tot->v[FF_M_MSGS_P0] + tot->v[FF_M_MSGS_P1]);
  assert_true(msgs >= flows); /* each party's slice of the message (an exchange is one slice on each side) */
  assert_true(depth >= 3);    /* Forward / Layer / Attention / ... */
  ff_breakdown_free(bd);

  /* The depth cut: scopes at depth >= 2 are gone, the messages and their arrows stay. */
  snprintf(t0, sizeof t0, "%s/trace_p0.json", out);
  snprintf(t1, sizeof t1, "%s/trace_p1.json", out);
  snprintf(cut, sizeof cut, "%s/cut.json", tmpdir);
  run_ok("trace", (const char *[]){"trace", t1, t0, "--depth", "2", "-o", cut, NULL});
  size_t msgs_cut;
  assert_int_equal(check_trace(cut, &depth, &msgs_cut), flows);
  assert_int_equal(depth, 1);
  assert_int_equal(msgs_cut, msgs);

  /* The same cut made by the recorders (--trace-depth: deeper scopes are never recorded). */
  char out2[256];
  snprintf(out2, sizeof out2, "%s/traced2", tmpdir);
  run_ok("run2", (const char *[]){"run", "--layers", "1", "--seq", "4", "--trace-depth", "2", "--out", out2, NULL});
  snprintf(tr, sizeof tr, "%s/trace.json", out2);
  assert_int_equal(check_trace(tr, &depth, &msgs_cut), flows);
  assert_int_equal(depth, 1);

  /* Two hosts: P1's clock 1 s ahead and another host name; the join estimates the offset from the
   * messages (loopback delays are microseconds, so within a few ms of the truth). */
  {
    cJSON *d0 = load_json(t0), *d1 = load_json(t1);
    const double t00 = num(cJSON_GetObjectItemCaseSensitive(d0, "otherData"), "t0_ns");
    const double t01 = num(cJSON_GetObjectItemCaseSensitive(d1, "otherData"), "t0_ns");
    const cJSON *ev;
    cJSON_ArrayForEach(ev, cJSON_GetObjectItemCaseSensitive(d1, "traceEvents")) {
      cJSON *ts = cJSON_GetObjectItemCaseSensitive(ev, "ts");
      if (ts) cJSON_SetNumberValue(ts, ts->valuedouble + 1e6);
    }
    cJSON *od = cJSON_GetObjectItemCaseSensitive(d1, "otherData");
    cJSON_ReplaceItemInObjectCaseSensitive(od, "host", cJSON_CreateString("elsewhere"));
    char moved[300], joined[300], *text = cJSON_Print(d1);
    snprintf(moved, sizeof moved, "%s/moved_p1.json", tmpdir);
    snprintf(joined, sizeof joined, "%s/joined.json", tmpdir);
    assert_int_equal(ff_write_file_atomic(moved, text, strlen(text), 0644), FF_OK);
    free(text);
    ff_trace_info ti;
    assert_int_equal(ff_trace_combine(t0, moved, 0, joined, &ti), FF_OK);
    assert_int_equal(ti.flows, flows);
    cJSON *jj = load_json(joined);
    const double shift = num(cJSON_GetObjectItemCaseSensitive(jj, "otherData"), "p1_shift_us");
    const double truth = (t01 - t00) / 1e3 - 1e6;
    if (fabs(shift - truth) > 5000) fail_msg("P1's clock offset estimated %.1f us, truly %.1f us", shift, truth);
    cJSON_Delete(jj);
    cJSON_Delete(d0);
    cJSON_Delete(d1);
    int dd;
    size_t mm;
    assert_int_equal(check_trace(joined, &dd, &mm), flows);
  }

  /* Refusals: one party twice; a receive whose size differs from its send; bad options. */
  expect(1, "both traces of party 0", (const char *[]){"trace", t0, t0, "-o", cut, NULL});
  cJSON *d = load_json(t1);
  const cJSON *e;
  cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(d, "traceEvents")) {
    cJSON *args = cJSON_GetObjectItemCaseSensitive(e, "args");
    if (cJSON_GetObjectItemCaseSensitive(args, "recv_seq")) {
      cJSON_ReplaceItemInObjectCaseSensitive(args, "recv_B", cJSON_CreateNumber(num(args, "recv_B") + 1));
      break;
    }
  }
  char bad[300], *text = cJSON_Print(d);
  snprintf(bad, sizeof bad, "%s/bad_p1.json", tmpdir);
  assert_int_equal(ff_write_file_atomic(bad, text, strlen(text), 0644), FF_OK);
  free(text);
  cJSON_Delete(d);
  expect(1, "do not belong together", (const char *[]){"trace", t0, bad, "-o", cut, NULL});
  expect(1, "only regular files are read", (const char *[]){"trace", t0, "/dev/null", "-o", cut, NULL});
  expect(2, "--depth must be", (const char *[]){"trace", t0, t1, "--depth", "-1", NULL});
  expect(2, "expected two", (const char *[]){"trace", t0, NULL});
  expect(0, "ui.perfetto.dev", (const char *[]){"trace", "--help", NULL});
  expect(2, "--trace-depth must be", (const char *[]){"run", "--trace-depth", "x", NULL});
}

/* ---- Figures ------------------------------------------------------------------------------------ */

/* The series of an SVG: the data-series names of <g class="series"> and of the legend entries, and
 * per series the <title> texts of its shapes and its fill colours. */
typedef struct {
  int n;
  char name[64][96];
  char legend[64][96];
  int n_legend;
  char tips[64][1024];
  char fills[64][256];
} svg_series;

static void walk(xmlNode *n, svg_series *s, int cur) {
  for (; n; n = n->next) {
    if (n->type != XML_ELEMENT_NODE) continue;
    int here = cur;
    xmlChar *cls = xmlGetProp(n, (const xmlChar *)"class"), *ds = xmlGetProp(n, (const xmlChar *)"data-series");
    /* nothing in a figure may point outside it */
    for (xmlAttr *a = n->properties; a; a = a->next) {
      assert_true(strcmp((const char *)a->name, "href") != 0);
      xmlChar *v = xmlGetProp(n, a->name);
      assert_null(strstr((const char *)v, "url("));
      xmlFree(v);
    }
    if (cls && ds && strcmp((char *)cls, "series") == 0 && s->n < 64) {
      here = s->n;
      snprintf(s->name[s->n++], sizeof s->name[0], "%s", (char *)ds);
    } else if (cls && ds && strcmp((char *)cls, "legend-entry") == 0 && s->n_legend < 64) {
      snprintf(s->legend[s->n_legend++], sizeof s->legend[0], "%s", (char *)ds);
    }
    if (here >= 0 && strcmp((const char *)n->name, "title") == 0) {
      xmlChar *t = xmlNodeGetContent(n);
      size_t l = strlen(s->tips[here]);
      snprintf(s->tips[here] + l, sizeof s->tips[0] - l, "%s\n", (char *)t);
      xmlFree(t);
    }
    xmlChar *fill = xmlGetProp(n, (const xmlChar *)"fill");
    if (here >= 0 && fill && !strstr(s->fills[here], (char *)fill)) {
      size_t l = strlen(s->fills[here]);
      snprintf(s->fills[here] + l, sizeof s->fills[0] - l, "%s ", (char *)fill);
    }
    xmlFree(fill);
    xmlFree(cls);
    xmlFree(ds);
    walk(n->children, s, here);
  }
}

/* Parses an SVG strictly (no recovery, no network): a malformed file fails the test. */
static void read_svg(const char *path, svg_series *s) {
  memset(s, 0, sizeof *s);
  xmlDoc *doc = xmlReadFile(path, NULL, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
  if (!doc) fail_msg("%s is not well-formed XML", path);
  xmlNode *root = xmlDocGetRootElement(doc);
  assert_string_equal((const char *)root->name, "svg");
  walk(root, s, -1);
  xmlFreeDoc(doc);
  /* one legend entry per series */
  assert_int_equal(s->n, s->n_legend);
  for (int i = 0; i < s->n; i++) {
    int found = 0;
    for (int j = 0; j < s->n_legend; j++) found |= strcmp(s->name[i], s->legend[j]) == 0;
    if (!found) fail_msg("%s: series '%s' has no legend entry", path, s->name[i]);
  }
}

static int find_series(const svg_series *s, const char *name) {
  for (int i = 0; i < s->n; i++)
    if (strcmp(s->name[i], name) == 0) return i;
  return -1;
}

static void test_figures(void **state) {
  (void)state;
  char sig[256], suf[256], figs[256], path[300];
  snprintf(sig, sizeof sig, "%s/fig_sigma", tmpdir);
  snprintf(suf, sizeof suf, "%s/fig_suf", tmpdir);
  snprintf(figs, sizeof figs, "%s/figs", tmpdir);
  run_ok("fsig", (const char *[]){"run", "--layers", "1", "--seq", "4", "--out", sig, NULL});
  run_ok("fsuf", (const char *[]){"run", "--layers", "1", "--seq", "4", "--suite", "suf", "--out", suf, NULL});
  run_ok("plot", (const char *[]){"plot", sig, suf, "-o", figs, NULL});

  ff_breakdown *bd[2] = {NULL, NULL};
  snprintf(path, sizeof path, "%s/breakdown_merged.json", sig);
  assert_int_equal(ff_breakdown_load(path, &bd[0]), FF_OK);
  snprintf(path, sizeof path, "%s/breakdown_merged.json", suf);
  assert_int_equal(ff_breakdown_load(path, &bd[1]), FF_OK);

  /* Time per family: one series per family of either run, its colour the scope registry's (NVTX),
   * its measured bars titled with the report's medians. */
  svg_series s;
  snprintf(path, sizeof path, "%s/family_time.svg", figs);
  read_svg(path, &s);
  const char *label[2] = {"sigma", "suf"};
  int n_fam = 0;
  for (int r = 0; r < 2; r++) {
    ff_report rep;
    assert_int_equal(ff_report_compute(bd[r], FF_GROUP_FAMILY, &rep), FF_OK);
    for (size_t i = 0; i < rep.n_rows; i++) {
      const ff_report_row *w = &rep.rows[i];
      int k = find_series(&s, w->key);
      if (k < 0) fail_msg("family_time.svg has no series '%s'", w->key);
      char col[8], tip[256], t[32];
      snprintf(col, sizeof col, "#%06X", (unsigned)(ff_scope_family_argb(w->key) & 0xFFFFFF));
      if (w->time.median > 0) { /* a family with no time has no bar, hence no colour to check */
        assert_non_null(strstr(s.fills[k], col));
        snprintf(tip, sizeof tip, "%s · measured · %s: %s\n", label[r], w->key,
                 ff_fmt_ns(w->time.median, t, sizeof t));
        if (!strstr(s.tips[k], tip)) fail_msg("family_time.svg: no bar '%s' in series %s:\n%s", tip, w->key, s.tips[k]);
      }
      if (r == 0) n_fam++;
    }
    ff_report_free(&rep);
  }
  assert_true(n_fam >= 4 && s.n >= n_fam);
  assert_true(find_series(&s, "Linear") >= 0 && find_series(&s, "Softmax") >= 0);

  /* Per layer: one series per run. */
  snprintf(path, sizeof path, "%s/layers.svg", figs);
  read_svg(path, &s);
  assert_int_equal(s.n, 2);
  assert_string_equal(s.name[0], "sigma");
  assert_string_equal(s.name[1], "suf");
  assert_non_null(strstr(s.tips[0], "sigma · layer 0: "));

  /* Amdahl: the two end-to-end lines and a bar per family with a finite speedup, valued as
   * ff_amdahl_compute gives it. */
  snprintf(path, sizeof path, "%s/amdahl.svg", figs);
  read_svg(path, &s);
  assert_true(find_series(&s, "measured end to end") >= 0);
  assert_true(find_series(&s, "predicted (Amdahl)") >= 0);
  ff_amdahl a;
  assert_int_equal(ff_amdahl_compute(bd[0], bd[1], NULL, 0, NULL, &a), FF_OK);
  char want[128];
  snprintf(want, sizeof want, "measured end to end: %.3f×", a.S_meas);
  assert_non_null(strstr(s.tips[find_series(&s, "measured end to end")], want));
  for (size_t i = 0; i < a.n_rows; i++) {
    const ff_amdahl_row *r = &a.rows[i];
    if (r->is_scope || !isfinite(r->s) || !(r->t_base > 0)) continue;
    int k = find_series(&s, r->name);
    if (k < 0) fail_msg("amdahl.svg has no bar for %s", r->name);
    snprintf(want, sizeof want, "%s: speedup %.3f×", r->name, r->s);
    assert_non_null(strstr(s.tips[k], want));
  }
  ff_amdahl_free(&a);

  /* The HTML page inlines the figures and links nothing. */
  snprintf(path, sizeof path, "%s/index.html", figs);
  char *page = NULL;
  size_t len = 0;
  assert_int_equal(ff_read_user_file(path, "page", 1 << 24, &page, &len), FF_OK);
  assert_non_null(strstr(page, "<svg"));
  assert_null(strstr(page, "src="));
  assert_null(strstr(page, "href="));
  free(page);
  ff_breakdown_free(bd[0]);
  ff_breakdown_free(bd[1]);

  expect(2, "expected one or more runs", (const char *[]){"plot", NULL});
  expect(1, "cannot read run", (const char *[]){"plot", tmpdir, "-o", figs, NULL});
  expect(0, "family_time.svg", (const char *[]){"plot", "--help", NULL});
}

/* ---- Grids ---------------------------------------------------------------------------------------- */

/* The grid model alone (no process): values checked, the product of the axes (a sigma cell is not
 * repeated per knob set), names, the tables' quoting and empty fields, the series in seq order. */
static void test_grid_model(void **state) {
  (void)state;
  ff_grid g;
  ff_grid_init(&g);
  ff_log_set_level(FF_LOG_OFF);
  assert_int_equal(ff_grid_add_list(&g, FF_GRID_SEQ, "4,0"), FF_EINVAL);
  assert_int_equal(ff_grid_add(&g, FF_GRID_SUITE, "both"), FF_EINVAL);
  assert_int_equal(ff_grid_add(&g, FF_GRID_MODEL, "../etc"), FF_EINVAL);
  assert_int_equal(ff_grid_add(&g, FF_GRID_MODEL, ""), FF_EINVAL);
  assert_int_equal(ff_grid_add(&g, FF_GRID_SUF, "A=1;rm"), FF_EINVAL);
  assert_int_equal(ff_grid_add(&g, FF_GRID_SHARE, "mig"), FF_EINVAL);
  ff_log_set_level(FF_LOG_WARN);
  ff_grid_free(&g);
  assert_int_equal(ff_grid_add_list(&g, FF_GRID_SUITE, "sigma,suf,sigma"), FF_OK); /* a repeat is one value */
  assert_int_equal(ff_grid_add_list(&g, FF_GRID_SEQ, "16,8"), FF_OK);
  assert_int_equal(ff_grid_add_list(&g, FF_GRID_SUF, ""), FF_OK);
  assert_int_equal(ff_grid_add_list(&g, FF_GRID_SUF, "SUF_GELU_INTERVALS=8,SUF_DEGREE=1"), FF_OK);
  ff_grid_fill_defaults(&g);
  assert_int_equal(g.n[FF_GRID_SUITE], 2);
  assert_string_equal(g.v[FF_GRID_MODEL][0], "bert-tiny");
  ff_grid_cell *c = NULL;
  size_t n = 0;
  assert_int_equal(ff_grid_cells(&g, &c, &n), FF_OK);
  assert_int_equal(n, 2 + 2 * 2); /* sigma: one cell per seq; suf: per seq and knob set */
  assert_string_equal(c[0].name, "bert-tiny-sigma-s16-b1-cpu-device");
  assert_string_equal(c[4].name, "bert-tiny-suf-suf_gelu_intervals8-suf_degree1-s16-b1-cpu-device");
  assert_string_equal(c[4].knobs, "SUF_GELU_INTERVALS=8,SUF_DEGREE=1");
  assert_string_equal(c[4].series, "bert-tiny suf suf_gelu_intervals8-suf_degree1 b1 cpu device");

  /* Results by hand: the sigma cells done (seq 16 first), the rest failed with a reason that needs
   * quoting. */
  ff_cell_result *r = calloc(n, sizeof *r);
  ff_cell_family fam[2] = {{"Linear", 10, 100, 2, 11, 12}, {"Other", 1, 0, 0, 1, 1}};
  for (size_t i = 0; i < n; i++) {
    if (i < 2) {
      snprintf(r[i].status, sizeof r[i].status, "done");
      r[i].online_ns = 11 + (double)i, r[i].link_B = 100, r[i].rounds = 2 + (double)i;
      r[i].n_fam = 2;
      r[i].fam = fam;
    } else {
      snprintf(r[i].status, sizeof r[i].status, "failed");
      snprintf(r[i].reason, sizeof r[i].reason, "exit 2: bad \"x\", see log");
      r[i].key_B_p0 = r[i].key_B_p1 = NAN; /* not known: empty */
    }
  }
  char *csv, *fcsv, *json;
  assert_int_equal(ff_matrix_tables(&g, c, r, n, &csv, &fcsv, &json), FF_OK);
  assert_non_null(strstr(csv, ",time_ns_Linear,link_B_Linear,time_ns_Other,link_B_Other\n"));
  assert_non_null(
      strstr(csv, "bert-tiny-sigma-s16-b1-cpu-device,done,,bert-tiny,sigma,,16,1,cpu,device,timeslice,file,0,1,0,0,1,11,"));
  assert_non_null(strstr(csv, ",failed,\"exit 2: bad \"\"x\"\", see log\",bert-tiny,suf,"));
  assert_non_null(strstr(csv, ",0,1,0,0,1,,,,,,,,,,,,,,,,,,,,,,\n")); /* a failed cell's figures are empty */
  assert_non_null(strstr(fcsv, "bert-tiny-sigma-s8-b1-cpu-device,Linear,10,100,2,11,12\n"));
  cJSON *j = cJSON_Parse(json);
  assert_non_null(j);
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "cells")), (int)n);
  cJSON_Delete(j);
  free(csv);
  free(fcsv);
  free(json);

  ff_plot_series *s;
  size_t ns;
  double *store;
  assert_int_equal(ff_matrix_series(c, r, n, &s, &ns, &store), FF_OK);
  assert_int_equal(ns, 1); /* only the sigma cells are done */
  assert_int_equal(s[0].n, 2);
  assert_true(s[0].x[0] == 8 && s[0].x[1] == 16);            /* ascending seq */
  assert_true(s[0].time_ns[0] == 12 && s[0].rounds[0] == 3); /* seq 8 was the second cell */
  free(s);
  free(store);
  free(r);
  free(c);
  ff_grid_free(&g);
}

/* The grid of a matrix document (ff_matrix_tables' JSON) written as a grid file at path (a mkstemp
 * template, the file left for the caller) and loaded back into *back. */
static void grid_file_back(const cJSON *matrix, char *path, ff_grid *back) {
  const int fd = mkstemp(path);
  assert_true(fd >= 0);
  char *text = cJSON_Print(cJSON_GetObjectItemCaseSensitive(matrix, "grid"));
  assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
  close(fd);
  cJSON_free(text);
  ff_grid_init(back);
  assert_int_equal(ff_grid_load(path, back), FF_OK);
}

/* The dealer axis (fusefss run --dealer) and the per-run options: file leaves the names as they were,
 * inproc is named apart, a stream cell takes no placement (one cell whatever the placements, "stream" in
 * its name and placement column); the tables carry the dealer, each party's key bytes (empty when not
 * known) and the peaks; the Markdown table escapes a reason's bars; the grid file reads back. */
static void test_grid_dealer(void **state) {
  (void)state;
  ff_grid g;
  ff_grid_init(&g);
  ff_log_set_level(FF_LOG_OFF);
  assert_int_equal(ff_grid_add(&g, FF_GRID_DEALER, "pipe"), FF_EINVAL);
  ff_log_set_level(FF_LOG_WARN);
  assert_int_equal(ff_grid_add_list(&g, FF_GRID_DEALER, "file,inproc,stream"), FF_OK);
  assert_int_equal(ff_grid_add_list(&g, FF_GRID_PLACEMENT, "device,host"), FF_OK);
  assert_int_equal(ff_grid_add_list(&g, FF_GRID_MODEL, "llama7b"), FF_OK);
  g.weights_per_layer = 1;
  g.verify = 0;
  ff_grid_fill_defaults(&g);
  ff_grid_cell *c = NULL;
  size_t n = 0;
  assert_int_equal(ff_grid_cells(&g, &c, &n), FF_OK);
  assert_int_equal(n, 5);
  const char *names[] = {"llama7b-sigma-s128-b1-cpu-device", "llama7b-sigma-s128-b1-cpu-host",
                         "llama7b-sigma-s128-b1-cpu-device-inproc", "llama7b-sigma-s128-b1-cpu-host-inproc",
                         "llama7b-sigma-s128-b1-cpu-stream"};
  for (size_t i = 0; i < n; i++) assert_string_equal(c[i].name, names[i]);
  assert_string_equal(c[4].dealer, "stream");
  assert_string_equal(c[4].placement, "stream");
  assert_string_equal(c[2].series, "llama7b sigma b1 cpu device inproc");
  ff_cell_result r[5];
  memset(r, 0, sizeof r);
  for (size_t i = 0; i < n; i++) {
    snprintf(r[i].status, sizeof r[i].status, i == 4 ? "done" : "refused");
    r[i].key_B_p0 = i == 0 ? NAN : 1000 + (double)i, r[i].key_B_p1 = i == 0 ? NAN : 2000 + (double)i;
  }
  snprintf(r[1].reason, sizeof r[1].reason, "keys | need more");
  r[4].online_ns = 5e9, r[4].link_B = 3e9, r[4].rounds = 77, r[4].keygen_s = NAN, r[4].max_abs_err = NAN;
  r[4].peak_host_B = 4e9, r[4].peak_device_B = 6e9;
  char *csv, *fcsv, *json, *md;
  assert_int_equal(ff_matrix_tables(&g, c, r, n, &csv, &fcsv, &json), FF_OK);
  assert_non_null(strstr(csv, ",placement,gpu_share,dealer,layers,reps,warmup,weights_per_layer,verified,"));
  assert_non_null(strstr(csv, ",key_file_B,key_B_p0,key_B_p1,max_abs_err,peak_host_B,peak_device_B,"));
  assert_non_null(strstr(csv, "llama7b-sigma-s128-b1-cpu-stream,done,,llama7b,sigma,,128,1,cpu,stream,timeslice,"
                              "stream,0,1,0,1,0,5000000000,"));
  assert_non_null(strstr(csv, ",1004,2004,,4000000000,6000000000,")); /* keys; no error (not verified); peaks */
  assert_non_null(strstr(csv, "-cpu-device,refused,,llama7b,sigma,,128,1,cpu,device,timeslice,file,"));
  cJSON *j = cJSON_Parse(json);
  const cJSON *cells = cJSON_GetObjectItemCaseSensitive(j, "cells");
  assert_string_equal(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(cells, 2), "dealer")->valuestring, "inproc");
  assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(cells, 0), "key_B_p0")));
  assert_true(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(cells, 4), "peak_device_B")->valuedouble == 6e9);
  assert_int_equal(ff_matrix_markdown(c, r, n, &md), FF_OK);
  assert_non_null(strstr(md, "| cell | status | keys P0 | keys P1 | keygen |"));
  assert_non_null(strstr(md, "| llama7b-sigma-s128-b1-cpu-host | refused: keys \\| need more |"));
  assert_non_null(strstr(md, "| llama7b-sigma-s128-b1-cpu-device | refused | — | — |"));
  assert_non_null(strstr(md, "| llama7b-sigma-s128-b1-cpu-stream | done | 1004 B | 1.96 KiB | — | 5.000 s | 2.794 GiB | 77 |"));
  assert_non_null(strstr(md, "| 77 | not checked | 3.725 GiB | 5.588 GiB |\n"));
  /* The grid as a file, and back. */
  char path[] = "/tmp/ff_grid_dealer_XXXXXX";
  ff_grid back;
  grid_file_back(j, path, &back);
  assert_int_equal(back.n[FF_GRID_DEALER], 3);
  assert_string_equal(back.v[FF_GRID_DEALER][2], "stream");
  assert_int_equal(back.weights_per_layer, 1);
  assert_int_equal(back.verify, 0);
  const char *bad = "{\"verify\": \"yes\"}";
  assert_int_equal(ff_write_file_atomic(path, bad, strlen(bad), 0644), FF_OK);
  ff_grid_free(&back);
  ff_log_set_level(FF_LOG_OFF);
  assert_int_equal(ff_grid_load(path, &back), FF_EFORMAT);
  ff_log_set_level(FF_LOG_WARN);
  unlink(path);
  cJSON_Delete(j);
  free(csv);
  free(fcsv);
  free(json);
  free(md);
  free(c);
  ff_grid_free(&back);
  ff_grid_free(&g);
}

/* The GPU-sharing axis (fusefss run --gpu-share): its default leaves the cells' names as they were; mps
 * cells are named apart and written into the tables; the grid file's key reads back. */
static void test_grid_share(void **state) {
  (void)state;
  ff_grid g;
  ff_grid_init(&g);
  assert_int_equal(ff_grid_add_list(&g, FF_GRID_SHARE, "timeslice,mps"), FF_OK);
  assert_int_equal(ff_grid_add_list(&g, FF_GRID_BACKEND, "cuda"), FF_OK);
  ff_grid_fill_defaults(&g);
  ff_grid_cell *c = NULL;
  size_t n = 0;
  assert_int_equal(ff_grid_cells(&g, &c, &n), FF_OK);
  assert_int_equal(n, 2);
  assert_string_equal(c[0].name, "bert-tiny-sigma-s128-b1-cuda-device");
  assert_string_equal(c[1].name, "bert-tiny-sigma-s128-b1-cuda-device-mps");
  assert_string_equal(c[1].series, "bert-tiny sigma b1 cuda device mps");
  assert_string_equal(c[1].share, "mps");
  ff_cell_result r[2];
  memset(r, 0, sizeof r);
  for (int i = 0; i < 2; i++) snprintf(r[i].status, sizeof r[i].status, "failed");
  char *csv, *fcsv, *json;
  assert_int_equal(ff_matrix_tables(&g, c, r, n, &csv, &fcsv, &json), FF_OK);
  assert_non_null(strstr(csv, ",placement,gpu_share,dealer,layers,"));
  assert_non_null(strstr(csv, "-mps,failed,,bert-tiny,sigma,,128,1,cuda,device,mps,"));
  cJSON *j = cJSON_Parse(json);
  const cJSON *cells = cJSON_GetObjectItemCaseSensitive(j, "cells");
  assert_string_equal(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(cells, 1), "gpu_share")->valuestring, "mps");
  /* The grid as a file, and back. */
  char path[] = "/tmp/ff_grid_share_XXXXXX";
  ff_grid back;
  grid_file_back(j, path, &back);
  assert_int_equal(back.n[FF_GRID_SHARE], 2);
  assert_string_equal(back.v[FF_GRID_SHARE][1], "mps");
  unlink(path);
  cJSON_Delete(j);
  free(csv);
  free(fcsv);
  free(json);
  free(c);
  ff_grid_free(&back);
  ff_grid_free(&g);
}

static int exists(const char *path) { return access(path, F_OK) == 0; }

static void cell_file(char *buf, size_t n, const char *dir, const char *cell, const char *file) {
  snprintf(buf, n, "%s/cells/%s/%s", dir, cell, file);
}

static const char *run_id_of(const char *dir, const char *cell, char *buf, size_t n) {
  char path[512];
  cell_file(path, sizeof path, dir, cell, "run_summary.json");
  cJSON *j = load_json(path);
  snprintf(buf, n, "%s", cJSON_GetObjectItemCaseSensitive(j, "run_id")->valuestring);
  cJSON_Delete(j);
  return buf;
}

/* A CSV line split at commas (the test's cells have no quoted fields). */
static int split(char *line, char **f, int max) {
  int n = 0;
  for (char *p = line; n < max;) {
    f[n++] = p;
    char *c = strchr(p, ',');
    if (!c) break;
    *c = 0;
    p = c + 1;
  }
  return n;
}

static int col(char **hdr, int n, const char *name) {
  for (int i = 0; i < n; i++)
    if (strcmp(hdr[i], name) == 0) return i;
  fail_msg("matrix.csv has no column %s", name);
  return -1;
}

static void test_matrix(void **state) {
  (void)state;
  char dir[256], path[512], id1[64], id2[64];
  snprintf(dir, sizeof dir, "%s/grid", tmpdir);
  const char *const args[] = {"matrix", "--suite", "sigma,suf", "--seq", "4,6", "--layers", "1", "-o", dir, NULL};
  const char *first = "bert-tiny-sigma-s4-b1-cpu-device", *second = "bert-tiny-sigma-s6-b1-cpu-device";

  /* Kill the grid while its second cell runs (the first is finished). */
  pid_t pid = start("m1", args);
  char done1[512], log2[512], done2[512];
  cell_file(done1, sizeof done1, dir, first, "cell.json");
  cell_file(log2, sizeof log2, dir, second, "run.log");
  cell_file(done2, sizeof done2, dir, second, "cell.json");
  for (int i = 0; i < 6000 && !(exists(done1) && exists(log2)); i++) usleep(5000);
  assert_true(exists(done1) && exists(log2));
  assert_int_equal(kill(pid, SIGKILL), 0);
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_false(exists(done2)); /* killed mid-cell: not marked finished */
  run_id_of(dir, first, id1, sizeof id1);

  /* Resumed: the finished cell is skipped (same run), the other three run. */
  int rc = finish(start("m2", args));
  if (rc) fail_msg("the resumed grid exited %d: %s", rc, slurp("m2", "err"));
  const char *out = slurp("m2", "out");
  assert_non_null(strstr(out, "3 to run, 1 done earlier (skipped), 0 refused"));
  assert_null(strstr(out, first)); /* no progress line for it */
  assert_string_equal(run_id_of(dir, first, id2, sizeof id2), id1);

  /* The CSV: one row per cell, its totals those of the cell's merged log; per-family link bytes
   * partition the link (one repetition: sums of whole numbers, exact). */
  snprintf(path, sizeof path, "%s/matrix.csv", dir);
  char *csv = NULL;
  size_t len;
  assert_int_equal(ff_read_user_file(path, "matrix.csv", 1 << 24, &csv, &len), FF_OK);
  char *save = NULL, *hline = strtok_r(csv, "\n", &save), *hdr[128];
  int nh = split(hline, hdr, 128), rows = 0;
  const int c_cell = col(hdr, nh, "cell"), c_status = col(hdr, nh, "status"), c_online = col(hdr, nh, "online_ns"),
            c_link = col(hdr, nh, "link_B"), c_rounds = col(hdr, nh, "rounds"), c_s0 = col(hdr, nh, "sent_B_p0"),
            c_lan = col(hdr, nh, "lan_ns");
  for (char *line = strtok_r(NULL, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    char *f[128];
    int nf = split(line, f, 128);
    assert_int_equal(nf, nh);
    assert_string_equal(f[c_status], "done");
    rows++;
    cell_file(path, sizeof path, dir, f[c_cell], "breakdown_merged.json");
    ff_breakdown *bd = NULL;
    assert_int_equal(ff_breakdown_load(path, &bd), FF_OK);
    ff_stats st;
    const struct {
      int col;
      ff_metric m;
    } chk[] = {{c_online, FF_M_WALL}, {c_link, FF_M_LINK}, {c_rounds, FF_M_ROUNDS}, {c_s0, FF_M_SENT_P0}};
    for (size_t k = 0; k < sizeof chk / sizeof chk[0]; k++) {
      assert_int_equal(ff_breakdown_stats(bd, FF_BD_TOTAL, 0, chk[k].m, &st), FF_OK);
      if (strtod(f[chk[k].col], NULL) != st.median)
        fail_msg("%s: %s is %s in matrix.csv, %.17g in its merged log", f[c_cell], hdr[chk[k].col], f[chk[k].col],
                 st.median);
    }
    ff_network lan = ff_network_lan();
    ff_projection pj;
    assert_int_equal(ff_project_compute(bd, &lan, FF_CONV_DUPLEX, FF_GROUP_FAMILY, &pj), FF_OK);
    assert_true(strtod(f[c_lan], NULL) == pj.total.T_ns);
    ff_projection_free(&pj);
    double fam_link = 0;
    for (int k = 0; k < nh; k++)
      if (strncmp(hdr[k], "link_B_", 7) == 0) fam_link += strtod(f[k], NULL);
    assert_true(fam_link == strtod(f[c_link], NULL));
    ff_breakdown_free(bd);
  }
  assert_int_equal(rows, 4);
  free(csv);

  /* The scaling figure: one line per suite. */
  svg_series s;
  snprintf(path, sizeof path, "%s/scaling.svg", dir);
  read_svg(path, &s);
  assert_int_equal(s.n, 2);
  assert_string_equal(s.name[0], "bert-tiny sigma b1 cpu device");
  assert_string_equal(s.name[1], "bert-tiny suf b1 cpu device");

  /* A failing cell is recorded with its reason and the grid goes on (exit 1, the tables written). */
  const char *const bad[] = {"matrix", "--suite", "sigma", "--seq", "4", "--placement", "bogus,device",
                             "--layers", "1", "-o", dir, NULL};
  expect(1, NULL, bad);
  assert_non_null(strstr(slurp("cmd", "out"), "1 of 2 cells done, 1 failed"));
  snprintf(path, sizeof path, "%s/matrix.csv", dir);
  assert_int_equal(ff_read_user_file(path, "matrix.csv", 1 << 24, &csv, &len), FF_OK);
  assert_non_null(
      strstr(csv, "bert-tiny-sigma-s4-b1-cpu-bogus,failed,\"exit 2: fusefss run: error: --placement must be"));
  free(csv);

  /* Cells that cannot fit are refused up front, with the reason. */
  char dir2[256];
  snprintf(dir2, sizeof dir2, "%s/tight", tmpdir);
  expect(1, NULL, (const char *[]){"matrix", "--seq", "4", "--layers", "1", "--mem", "1MiB", "-o", dir2, NULL});
  assert_non_null(strstr(slurp("cmd", "out"), "refused bert-tiny-sigma-s4-b1-cpu-device: keys need"));
  cell_file(path, sizeof path, dir2, "bert-tiny-sigma-s4-b1-cpu-device", "run.log");
  assert_false(exists(path)); /* never started */

  /* The dealer axis end to end: an in-process and a streamed cell, not verified; each party's key bytes in
   * the tables are the cost model's, the peaks the runs' own, and matrix.md has a row per cell. */
  char dir3[256];
  snprintf(dir3, sizeof dir3, "%s/dealers", tmpdir);
  expect(0, "2 of 2 cells done", (const char *[]){"matrix", "--seq", "4", "--layers", "1", "--dealer", "inproc,stream",
                                                  "--verify", "off", "-o", dir3, NULL});
  expect(0, NULL, (const char *[]){"cost", "--model", "bert-tiny", "--seq", "4", "--layers", "1", "--format", "json", NULL});
  double want[2] = {0, 0};
  {
    cJSON *cj = cJSON_Parse(slurp("cmd", "out"));
    assert_non_null(cj);
    const cJSON *row;
    cJSON_ArrayForEach(row, cJSON_GetObjectItemCaseSensitive(cj, "scopes")) {
      const char *sc = cJSON_GetObjectItemCaseSensitive(row, "scope")->valuestring;
      if (strcmp(sc, "total") && strcmp(sc, "Weights")) continue;
      for (int p = 0; p < 2; p++) want[p] += cJSON_GetObjectItemCaseSensitive(row, p ? "key_B_p1" : "key_B_p0")->valuedouble;
    }
    cJSON_Delete(cj);
  }
  assert_true(want[0] > 0 && want[1] > 0);
  snprintf(path, sizeof path, "%s/matrix.csv", dir3);
  assert_int_equal(ff_read_user_file(path, "matrix.csv", 1 << 24, &csv, &len), FF_OK);
  {
    char *sv = NULL, *h = strtok_r(csv, "\n", &sv), *hd[128];
    const int nh3 = split(h, hd, 128), c_c = col(hd, nh3, "cell"), c_d = col(hd, nh3, "dealer"),
              c_st = col(hd, nh3, "status"), c_k0 = col(hd, nh3, "key_B_p0"), c_k1 = col(hd, nh3, "key_B_p1"),
              c_ph = col(hd, nh3, "peak_host_B"), c_v = col(hd, nh3, "verified"), c_e = col(hd, nh3, "max_abs_err");
    const char *cells3[2][2] = {{"bert-tiny-sigma-s4-b1-cpu-device-inproc", "inproc"},
                                {"bert-tiny-sigma-s4-b1-cpu-stream", "stream"}};
    int k = 0;
    for (char *line = strtok_r(NULL, "\n", &sv); line; line = strtok_r(NULL, "\n", &sv), k++) {
      char *f[128];
      assert_int_equal(split(line, f, 128), nh3);
      assert_true(k < 2);
      assert_string_equal(f[c_c], cells3[k][0]);
      assert_string_equal(f[c_d], cells3[k][1]);
      assert_string_equal(f[c_st], "done");
      assert_string_equal(f[c_v], "0");
      assert_string_equal(f[c_e], ""); /* not verified: no error figure */
      assert_true(strtod(f[c_k0], NULL) == want[0] && strtod(f[c_k1], NULL) == want[1]);
      assert_true(strtod(f[c_ph], NULL) > 0);
      char sum[512];
      cell_file(sum, sizeof sum, dir3, cells3[k][0], "run_summary.json");
      cJSON *rs = load_json(sum);
      assert_string_equal(cJSON_GetObjectItemCaseSensitive(rs, "dealer")->valuestring, cells3[k][1]);
      assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(rs, "verified")));
      cJSON_Delete(rs);
    }
    assert_int_equal(k, 2);
  }
  free(csv);
  snprintf(path, sizeof path, "%s/matrix.md", dir3);
  assert_int_equal(ff_read_user_file(path, "matrix.md", 1 << 24, &csv, &len), FF_OK);
  assert_non_null(strstr(csv, "| bert-tiny-sigma-s4-b1-cpu-device-inproc | done |"));
  {
    char row[256], w0[32], w1[32]; /* the streamed cell's keys as the cost model gives them, and no keygen */
    snprintf(row, sizeof row, "| bert-tiny-sigma-s4-b1-cpu-stream | done | %s | %s | — |",
             ff_fmt_bytes(want[0], w0, sizeof w0), ff_fmt_bytes(want[1], w1, sizeof w1));
    assert_non_null(strstr(csv, row));
  }
  free(csv);
  expect(2, "not a valid dealer", (const char *[]){"matrix", "--dealer", "pipe", NULL});
  expect(2, "--verify must be on or off", (const char *[]){"matrix", "--verify", "maybe", NULL});

  /* A grid file, and usage errors. */
  char gf[256];
  snprintf(gf, sizeof gf, "%s/grid.json", tmpdir);
  const char *gj =
      "{\"suite\": [\"sigma\", \"suf\"], \"seq\": [4], \"layers\": 1, \"suf\": [\"\", \"SUF_GELU_INTERVALS=8\"]}";
  assert_int_equal(ff_write_file_atomic(gf, gj, strlen(gj), 0644), FF_OK);
  expect(0, "3 to run", (const char *[]){"matrix", "--grid", gf, "--dry-run", "-o", dir2, NULL});
  const char *bj = "{\"sequence\": [4]}";
  assert_int_equal(ff_write_file_atomic(gf, bj, strlen(bj), 0644), FF_OK);
  expect(1, "unknown key \"sequence\"", (const char *[]){"matrix", "--grid", gf, "-o", dir2, NULL});
  expect(2, "not a valid suite", (const char *[]){"matrix", "--suite", "both", NULL});
  expect(2, "not a valid seq", (const char *[]){"matrix", "--seq", "4,0", NULL});
  expect(0, "Resumable", (const char *[]){"matrix", "--help", NULL});
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_trace_of_a_run),
      cmocka_unit_test(test_figures),
      cmocka_unit_test(test_grid_model),
      cmocka_unit_test(test_grid_share),
      cmocka_unit_test(test_grid_dealer),
      cmocka_unit_test(test_matrix),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
