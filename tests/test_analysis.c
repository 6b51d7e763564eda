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

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_trace_of_a_run),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
