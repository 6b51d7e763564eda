/* One Chrome/Perfetto trace of a whole two-party run from the two per-party traces (trace_p<party>.json,
 * scope/prof.c): both parties as two processes on one clock, scopes as nested slices (optionally cut
 * at a depth), and a flow arrow from each send to the receive that took its bytes. DESIGN.md §6.
 * Test: tests/test_analysis.c (on a real two-party run of bench comm). */
#include "tools/lib/analysis.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

/* A message slice of one party: where it is in the trace and which per-direction sequence it holds. */
typedef struct {
  double ts; /* the middle of its slice, in the party's clock (µs) */
  int tid;
  double bytes;
  long long seq;
} ff__msg;

typedef struct {
  cJSON *doc;
  const cJSON *evs;
  int party;
  const char *run_id, *host;
  double t0_ns;
  ff__msg *sends, *recvs;
  size_t n_sends, n_recvs;
} ff__party_trace;

static void ff__party_free(ff__party_trace *t) {
  cJSON_Delete(t->doc);
  free(t->sends);
  free(t->recvs);
  memset(t, 0, sizeof *t);
}

static int ff__msg_cmp(const void *a, const void *b) {
  const ff__msg *x = a, *y = b;
  return (x->seq > y->seq) - (x->seq < y->seq);
}

static const cJSON *ff__num_item(const cJSON *o, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  return cJSON_IsNumber(v) && isfinite(v->valuedouble) ? v : NULL;
}

static ff_status ff__party_load(const char *path, ff__party_trace *t) {
  memset(t, 0, sizeof *t);
  ff_status st = ff_json_load_file(path, "per-party trace", &t->doc);
  if (st) return st;
  const cJSON *other = cJSON_GetObjectItemCaseSensitive(t->doc, "otherData");
  const cJSON *party = ff__num_item(other, "party"), *t0 = ff__num_item(other, "t0_ns");
  const cJSON *rid = cJSON_GetObjectItemCaseSensitive(other, "run_id");
  const cJSON *host = cJSON_GetObjectItemCaseSensitive(other, "host");
  t->evs = cJSON_GetObjectItemCaseSensitive(t->doc, "traceEvents");
  if (!cJSON_IsArray(t->evs) || !party || !t0 || !cJSON_IsString(rid) ||
      (party->valuedouble != 0 && party->valuedouble != 1)) {
    FF_ERROR("%s: not a per-party trace of fusefss (expected traceEvents and otherData.party 0 or 1, "
             "otherData.run_id and otherData.t0_ns, as `fusefss run --trace` writes)", path);
    return FF_EFORMAT;
  }
  t->party = (int)party->valuedouble;
  t->t0_ns = t0->valuedouble;
  t->run_id = rid->valuestring;
  t->host = cJSON_IsString(host) ? host->valuestring : "";
  size_t n = (size_t)cJSON_GetArraySize(t->evs);
  t->sends = calloc(n ? n : 1, sizeof *t->sends);
  t->recvs = calloc(n ? n : 1, sizeof *t->recvs);
  if (!t->sends || !t->recvs) return FF_ENOMEM;
  const cJSON *e;
  cJSON_ArrayForEach(e, t->evs) {
    const cJSON *cat = cJSON_GetObjectItemCaseSensitive(e, "cat");
    if (!cJSON_IsString(cat) || strcmp(cat->valuestring, "message") != 0) continue;
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(e, "args");
    const cJSON *ts = ff__num_item(e, "ts"), *dur = ff__num_item(e, "dur"), *tid = ff__num_item(e, "tid");
    if (!ts || !dur || !tid || !cJSON_IsObject(args)) {
      FF_ERROR("%s: a message event without ts, dur, tid or args", path);
      return FF_EFORMAT;
    }
    /* An arrow binds to the slice that encloses its timestamp: the middle of the message's slice is
     * inside it whatever the order of events with equal timestamps. */
    const double mid = ts->valuedouble + dur->valuedouble / 2;
    const cJSON *ss = ff__num_item(args, "send_seq"), *rs = ff__num_item(args, "recv_seq");
    const cJSON *sb = ff__num_item(args, "sent_B"), *rb = ff__num_item(args, "recv_B");
    if ((ss && !sb) || (rs && !rb)) {
      FF_ERROR("%s: a message event with a sequence number but no size", path);
      return FF_EFORMAT;
    }
    if (ss) t->sends[t->n_sends++] = (ff__msg){mid, (int)tid->valuedouble, sb->valuedouble, (long long)ss->valuedouble};
    if (rs) t->recvs[t->n_recvs++] = (ff__msg){mid, (int)tid->valuedouble, rb->valuedouble, (long long)rs->valuedouble};
  }
  qsort(t->sends, t->n_sends, sizeof *t->sends, ff__msg_cmp);
  qsort(t->recvs, t->n_recvs, sizeof *t->recvs, ff__msg_cmp);
  return FF_OK;
}

/* Minimum over the first n pairs of (receive time − send time), in the receiver's minus the sender's
 * clock: the one-way delay plus the clock offset (NTP's estimate uses one minimum per direction). */
static double ff__min_gap(const ff__party_trace *from, const ff__party_trace *to, size_t n) {
  double m = INFINITY;
  for (size_t k = 0; k < n; k++) {
    double g = to->recvs[k].ts - from->sends[k].ts;
    if (g < m) m = g;
  }
  return m;
}

static cJSON *ff__flow(const char *ph, long long id, int pid, const ff__msg *m, double shift, double bytes) {
  cJSON *e = cJSON_CreateObject();
  cJSON_AddStringToObject(e, "name", "message");
  cJSON_AddStringToObject(e, "cat", "flow");
  cJSON_AddStringToObject(e, "ph", ph);
  if (ph[0] == 'f') cJSON_AddStringToObject(e, "bp", "e");
  cJSON_AddNumberToObject(e, "id", (double)id);
  cJSON_AddNumberToObject(e, "pid", pid);
  cJSON_AddNumberToObject(e, "tid", m->tid);
  cJSON_AddNumberToObject(e, "ts", m->ts + shift);
  cJSON_AddNumberToObject(cJSON_AddObjectToObject(e, "args"), "bytes", bytes);
  return e;
}

ff_status ff_trace_combine(const char *trace_a, const char *trace_b, int max_depth, const char *out_path,
                           ff_trace_info *info) {
  ff__party_trace T[2], tmp;
  memset(T, 0, sizeof T);
  if (info) memset(info, 0, sizeof *info);
  cJSON *root = NULL;
  char *text = NULL;
  ff_status st = ff__party_load(trace_a, &T[0]);
  if (!st) st = ff__party_load(trace_b, &T[1]);
  if (st) goto done;
  if (T[0].party == T[1].party) {
    FF_ERROR("%s and %s are both traces of party %d; give one trace per party", trace_a, trace_b, T[0].party);
    st = FF_EMISMATCH;
    goto done;
  }
  if (T[0].party == 1) {
    tmp = T[0];
    T[0] = T[1];
    T[1] = tmp;
  }
  if (strcmp(T[0].run_id, T[1].run_id) != 0) {
    FF_ERROR("the traces are of different runs ('%s' and '%s')", T[0].run_id, T[1].run_id);
    st = FF_EMISMATCH;
    goto done;
  }
  /* One clock: each party's timestamps count from its recorder's creation. On one host both
   * recorders read the same CLOCK_MONOTONIC, so their t0 difference aligns them exactly; across hosts
   * the offset is estimated from the messages (half the difference of the two directions' minimum
   * send-to-receive gaps, as NTP does). */
  size_t n01 = T[0].n_sends < T[1].n_recvs ? T[0].n_sends : T[1].n_recvs;
  size_t n10 = T[1].n_sends < T[0].n_recvs ? T[1].n_sends : T[0].n_recvs;
  double t0min = T[0].t0_ns < T[1].t0_ns ? T[0].t0_ns : T[1].t0_ns;
  double shift[2] = {(T[0].t0_ns - t0min) / 1e3, (T[1].t0_ns - t0min) / 1e3};
  const char *clock = "same host: CLOCK_MONOTONIC of both recorders";
  if (strcmp(T[0].host, T[1].host) != 0) {
    shift[0] = 0;
    shift[1] = 0;
    clock = "two hosts: offset estimated from the messages (NTP-style minimum gaps)";
    if (n01 && n10) shift[1] = -(ff__min_gap(&T[0], &T[1], n01) - ff__min_gap(&T[1], &T[0], n10)) / 2;
  }
  for (size_t k = 0; k < n01; k++)
    if (T[0].sends[k].bytes != T[1].recvs[k].bytes) {
      FF_ERROR("message %zu from P0 to P1: %.0f B sent, %.0f B received; the traces do not belong together", k,
               T[0].sends[k].bytes, T[1].recvs[k].bytes);
      st = FF_EMISMATCH;
      goto done;
    }
  for (size_t k = 0; k < n10; k++)
    if (T[1].sends[k].bytes != T[0].recvs[k].bytes) {
      FF_ERROR("message %zu from P1 to P0: %.0f B sent, %.0f B received; the traces do not belong together", k,
               T[1].sends[k].bytes, T[0].recvs[k].bytes);
      st = FF_EMISMATCH;
      goto done;
    }
  size_t unpaired = (T[0].n_sends - n01) + (T[1].n_recvs - n01) + (T[1].n_sends - n10) + (T[0].n_recvs - n10);
  if (unpaired)
    FF_WARN("%zu message(s) have no partner in the other trace (a full trace buffer?); they get no arrow", unpaired);

  root = cJSON_CreateObject();
  cJSON *evs = cJSON_AddArrayToObject(root, "traceEvents");
  cJSON_AddStringToObject(root, "displayTimeUnit", "ns");
  cJSON *other = cJSON_AddObjectToObject(root, "otherData");
  cJSON_AddStringToObject(other, "schema", "fusefss.trace/1");
  cJSON_AddStringToObject(other, "run_id", T[0].run_id);
  cJSON_AddStringToObject(other, "clock", clock);
  cJSON_AddNumberToObject(other, "p1_shift_us", shift[1] - shift[0]);
  cJSON_AddNumberToObject(other, "max_depth", max_depth);
  cJSON_AddNumberToObject(other, "unpaired_messages", (double)unpaired);
  size_t slices = 0, dropped = 0;
  for (int p = 0; p < 2; p++) {
    const cJSON *e;
    cJSON_ArrayForEach(e, T[p].evs) {
      const cJSON *ph = cJSON_GetObjectItemCaseSensitive(e, "ph");
      const cJSON *name = cJSON_GetObjectItemCaseSensitive(e, "name");
      if (!cJSON_IsString(ph) || !cJSON_IsString(name)) continue;
      if (strcmp(ph->valuestring, "M") == 0) {
        cJSON *c = cJSON_Duplicate(e, 1);
        if (strcmp(name->valuestring, "process_name") == 0) {
          char pname[320];
          snprintf(pname, sizeof pname, "P%d (party %d%s%s)", p, p, *T[p].host ? ", " : "", T[p].host);
          cJSON *args = cJSON_GetObjectItemCaseSensitive(c, "args");
          if (cJSON_IsObject(args)) cJSON_ReplaceItemInObjectCaseSensitive(args, "name", cJSON_CreateString(pname));
        }
        cJSON_AddItemToArray(evs, c);
        continue;
      }
      if (strcmp(ph->valuestring, "X") != 0) continue;
      const cJSON *ts = ff__num_item(e, "ts"), *dur = ff__num_item(e, "dur");
      if (!ts || !dur) {
        FF_ERROR("P%d's trace: a slice '%s' without a numeric ts and dur", p, name->valuestring);
        st = FF_EFORMAT;
        goto done;
      }
      const cJSON *depth = ff__num_item(cJSON_GetObjectItemCaseSensitive(e, "args"), "depth");
      if (max_depth > 0 && depth && depth->valuedouble >= max_depth) {
        dropped++;
        continue;
      }
      cJSON *c = cJSON_Duplicate(e, 1);
      cJSON_ReplaceItemInObjectCaseSensitive(c, "ts", cJSON_CreateNumber(ts->valuedouble + shift[p]));
      cJSON_ReplaceItemInObjectCaseSensitive(c, "pid", cJSON_CreateNumber(p));
      cJSON_AddItemToArray(evs, c);
      slices++;
    }
  }
  long long id = 0;
  for (size_t k = 0; k < n01; k++, id++) {
    cJSON_AddItemToArray(evs, ff__flow("s", id, 0, &T[0].sends[k], shift[0], T[0].sends[k].bytes));
    cJSON_AddItemToArray(evs, ff__flow("f", id, 1, &T[1].recvs[k], shift[1], T[1].recvs[k].bytes));
  }
  for (size_t k = 0; k < n10; k++, id++) {
    cJSON_AddItemToArray(evs, ff__flow("s", id, 1, &T[1].sends[k], shift[1], T[1].sends[k].bytes));
    cJSON_AddItemToArray(evs, ff__flow("f", id, 0, &T[0].recvs[k], shift[0], T[0].recvs[k].bytes));
  }
  text = cJSON_PrintUnformatted(root);
  if (!text) {
    st = FF_ENOMEM;
    goto done;
  }
  if ((st = ff_write_file_atomic(out_path, text, strlen(text), 0644))) goto done;
  if (info) {
    info->slices = slices;
    info->slices_cut = dropped;
    info->flows = (size_t)id;
    info->unpaired = unpaired;
    info->bytes = strlen(text);
  }
done:
  free(text);
  cJSON_Delete(root);
  ff__party_free(&T[0]);
  ff__party_free(&T[1]);
  return st;
}
