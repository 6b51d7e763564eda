/* Merging the two parties' logs per repetition: time = max (skew kept), bytes per party and per
 * direction, link bytes counted once, exact byte invariants on totals, exclusive = inclusive −
 * children, an Other row, then statistics. DESIGN.md §6; research/profiling.md §7(c).
 * Test: tests/test_merge.c. */
#include "tools/lib/analysis_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

#define FF__MERGE_MAX_DEPTH 64 /* scopes nest at most this deep (scope/scope.c records no deeper) */

/* One party's inclusive values of a node or of a repetition's total, as written in its log. */
typedef struct {
  double wall, cuda, sent, recv, msgs, rounds, wait, calls;
} ff__raw;

typedef struct {
  char *path;
  int parent, scope, layer;
  ff__raw m;
} ff__raw_node;

typedef struct {
  int rep, warmup;
  ff__raw total;
  size_t n_nodes;
  ff__raw_node *nodes;
} ff__raw_rep;

typedef struct {
  const char *file;
  cJSON *root;
  const cJSON *run;
  int party;
  const char *run_id;
  size_t n_scopes;
  const char **scope_name;   /* pointers into root */
  const char **scope_family;
  size_t n_reps;
  ff__raw_rep *reps;
} ff__log;

static void ff__log_free(ff__log *l) {
  for (size_t r = 0; r < l->n_reps; r++) {
    for (size_t i = 0; i < l->reps[r].n_nodes; i++) free(l->reps[r].nodes[i].path);
    free(l->reps[r].nodes);
  }
  free(l->reps);
  free(l->scope_name);
  free(l->scope_family);
  cJSON_Delete(l->root);
  memset(l, 0, sizeof *l);
}

/* ---- Reading one party's log -------------------------------------------------------------------- */

static int ff__get_num(const cJSON *o, const char *key, double *out) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) return -1;
  *out = v->valuedouble;
  return 0;
}

static int ff__get_int(const cJSON *o, const char *key, int *out) {
  double d;
  if (ff__get_num(o, key, &d) || d != floor(d) || fabs(d) > 2e9) return -1;
  *out = (int)d;
  return 0;
}

/* Reads the metric keys of a node or total; `ctx` names the object in messages. */
static ff_status ff__raw_read(const ff__log *l, const cJSON *o, int with_calls, ff__raw *m, const char *ctx) {
  static const char *const keys[] = {"wall_ns", "cuda_ns", "sent_B", "recv_B", "msgs", "rounds", "wait_ns", "calls"};
  double *dst[] = {&m->wall, &m->cuda, &m->sent, &m->recv, &m->msgs, &m->rounds, &m->wait, &m->calls};
  memset(m, 0, sizeof *m);
  for (size_t k = 0; k < (with_calls ? 8u : 7u); k++) {
    if (ff__get_num(o, keys[k], dst[k])) {
      FF_ERROR("%s: missing field %s.%s (or not a number)", l->file, ctx, keys[k]);
      return FF_EFORMAT;
    }
    if (*dst[k] < 0) {
      FF_ERROR("%s: field %s.%s is negative (%.0f)", l->file, ctx, keys[k], *dst[k]);
      return FF_EFORMAT;
    }
    /* Every metric is a count of ns, bytes, messages or rounds: above 2^53 (104 days, 9 PB) it is no
     * measurement, and it would no longer add up exactly. */
    if (*dst[k] > 9007199254740992.0) {
      FF_ERROR("%s: field %s.%s is absurd (%g): counts above 2^53 are refused", l->file, ctx, keys[k], *dst[k]);
      return FF_EFORMAT;
    }
  }
  return FF_OK;
}

static ff_status ff__log_read(const char *file, ff__log *l) {
  memset(l, 0, sizeof *l);
  l->file = file;
  ff_status st = ff_json_load_file(file, "per-party log", &l->root);
  if (st) return st;
  st = FF_EFORMAT;
  const cJSON *root = l->root;
  if (!cJSON_IsObject(root)) {
    FF_ERROR("%s: not a JSON object: not a per-party log (expected schema %s)", file, FF_PROF_SCHEMA);
    return st;
  }
  const cJSON *schema = cJSON_GetObjectItemCaseSensitive(root, "schema");
  if (!cJSON_IsString(schema)) {
    FF_ERROR("%s: missing field schema: not a per-party log (expected schema %s)", file, FF_PROF_SCHEMA);
    return st;
  }
  if (strcmp(schema->valuestring, FF_PROF_SCHEMA) != 0) {
    FF_ERROR("%s: schema is \"%s\", expected \"%s\"%s", file, schema->valuestring, FF_PROF_SCHEMA,
             strcmp(schema->valuestring, FF_MERGED_SCHEMA) == 0 ? " (this file is already merged)" : "");
    return st;
  }
  l->run = cJSON_GetObjectItemCaseSensitive(root, "run");
  if (!cJSON_IsObject(l->run)) {
    FF_ERROR("%s: missing field run (or not an object)", file);
    return st;
  }
  const cJSON *rid = cJSON_GetObjectItemCaseSensitive(l->run, "run_id");
  if (!cJSON_IsString(rid)) {
    FF_ERROR("%s: missing field run.run_id (or not a string)", file);
    return st;
  }
  l->run_id = rid->valuestring;
  if (ff__get_int(l->run, "party", &l->party) || (l->party != 0 && l->party != 1)) {
    FF_ERROR("%s: missing field run.party (or not 0 or 1)", file);
    return st;
  }

  const cJSON *scopes = cJSON_GetObjectItemCaseSensitive(root, "scopes");
  if (!cJSON_IsArray(scopes)) {
    FF_ERROR("%s: missing field scopes (or not an array)", file);
    return st;
  }
  size_t ns = (size_t)cJSON_GetArraySize(scopes);
  l->scope_name = calloc(ns ? ns : 1, sizeof *l->scope_name);
  l->scope_family = calloc(ns ? ns : 1, sizeof *l->scope_family);
  if (!l->scope_name || !l->scope_family) return FF_ENOMEM;
  const cJSON *s;
  cJSON_ArrayForEach(s, scopes) {
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(s, "name");
    const cJSON *fam = cJSON_GetObjectItemCaseSensitive(s, "family");
    if (!cJSON_IsString(name) || !cJSON_IsString(fam)) {
      FF_ERROR("%s: missing field scopes[%zu].%s (or not a string)", file, l->n_scopes,
               cJSON_IsString(name) ? "family" : "name");
      return st;
    }
    l->scope_name[l->n_scopes] = name->valuestring;
    l->scope_family[l->n_scopes] = fam->valuestring;
    l->n_scopes++;
  }

  const cJSON *reps = cJSON_GetObjectItemCaseSensitive(root, "reps");
  if (!cJSON_IsArray(reps)) {
    FF_ERROR("%s: missing field reps (or not an array)", file);
    return st;
  }
  size_t nr = (size_t)cJSON_GetArraySize(reps);
  l->reps = calloc(nr ? nr : 1, sizeof *l->reps);
  if (!l->reps) return FF_ENOMEM;
  const cJSON *rep;
  cJSON_ArrayForEach(rep, reps) {
    size_t r = l->n_reps++;
    ff__raw_rep *rr = &l->reps[r];
    char ctx[96];
    if (ff__get_int(rep, "rep", &rr->rep)) {
      FF_ERROR("%s: missing field reps[%zu].rep (or not an integer)", file, r);
      return st;
    }
    const cJSON *wu = cJSON_GetObjectItemCaseSensitive(rep, "warmup");
    if (!cJSON_IsBool(wu)) {
      FF_ERROR("%s: missing field reps[%zu].warmup (or not true/false)", file, r);
      return st;
    }
    rr->warmup = cJSON_IsTrue(wu);
    const cJSON *total = cJSON_GetObjectItemCaseSensitive(rep, "total");
    snprintf(ctx, sizeof ctx, "reps[%zu].total", r);
    if (!cJSON_IsObject(total)) {
      FF_ERROR("%s: missing field %s (or not an object)", file, ctx);
      return st;
    }
    if (ff__raw_read(l, total, 0, &rr->total, ctx)) return st;
    const cJSON *nodes = cJSON_GetObjectItemCaseSensitive(rep, "nodes");
    if (!cJSON_IsArray(nodes)) {
      FF_ERROR("%s: missing field reps[%zu].nodes (or not an array)", file, r);
      return st;
    }
    size_t nn = (size_t)cJSON_GetArraySize(nodes);
    rr->nodes = calloc(nn ? nn : 1, sizeof *rr->nodes);
    if (!rr->nodes) return FF_ENOMEM;
    const cJSON *n;
    cJSON_ArrayForEach(n, nodes) {
      size_t j = rr->n_nodes;
      ff__raw_node *rn = &rr->nodes[j];
      snprintf(ctx, sizeof ctx, "reps[%zu].nodes[%zu]", r, j);
      const char *bad = ff__get_int(n, "parent", &rn->parent) ? "parent"
                      : ff__get_int(n, "scope", &rn->scope)   ? "scope"
                      : ff__get_int(n, "layer", &rn->layer)   ? "layer" : NULL;
      if (bad) {
        FF_ERROR("%s: missing field %s.%s (or not an integer)", file, ctx, bad);
        return st;
      }
      if (rn->parent < -1 || rn->parent >= (int)j) {
        FF_ERROR("%s: %s.parent = %d does not name an earlier node (parents are listed first)", file, ctx, rn->parent);
        return st;
      }
      if (rn->scope < 0 || (size_t)rn->scope >= l->n_scopes) {
        FF_ERROR("%s: %s.scope = %d is not an index into scopes (%zu names)", file, ctx, rn->scope, l->n_scopes);
        return st;
      }
      /* Each path repeats its parent's, so a chain of nodes would cost memory quadratic in the file's
       * size (3.6 MB of logs took 2 GB under tests/fuzz/fuzz_merge); the recorder nests no deeper. */
      int depth = 1;
      for (int q = rn->parent; q >= 0 && depth <= FF__MERGE_MAX_DEPTH; q = rr->nodes[q].parent) depth++;
      if (depth > FF__MERGE_MAX_DEPTH) {
        FF_ERROR("%s: %s is nested deeper than %d scopes, which no fusefss log holds", file, ctx, FF__MERGE_MAX_DEPTH);
        return st;
      }
      if (ff__raw_read(l, n, 1, &rn->m, ctx)) return st;
      /* The path: names joined with "/", a layer index shown as Name[i]. */
      const char *name = l->scope_name[rn->scope];
      const char *ppath = rn->parent >= 0 ? rr->nodes[rn->parent].path : NULL;
      size_t len = strlen(name) + (ppath ? strlen(ppath) + 1 : 0) + 16;
      rn->path = malloc(len);
      if (!rn->path) return FF_ENOMEM;
      int off = ppath ? snprintf(rn->path, len, "%s/", ppath) : 0;
      if (rn->layer >= 0)
        snprintf(rn->path + off, len - (size_t)off, "%s[%d]", name, rn->layer);
      else
        snprintf(rn->path + off, len - (size_t)off, "%s", name);
      rr->n_nodes++;
    }
  }
  return FF_OK;
}

/* ---- Consistency of the two logs ---------------------------------------------------------------- */

/* Compact JSON of an object for messages (truncated); "(absent)" for NULL. */
static const char *ff__json_brief(const cJSON *o, char *buf, size_t n) {
  if (!o) {
    snprintf(buf, n, "(absent)");
    return buf;
  }
  char *t = cJSON_PrintUnformatted(o);
  snprintf(buf, n, "%s", t ? t : "?");
  if (t && strlen(t) >= n && n > 4) memcpy(buf + n - 4, "...", 4);
  free(t);
  return buf;
}

static ff_status ff__check_same_run(const ff__log *L) {
  if (strcmp(L[0].run_id, L[1].run_id) != 0) {
    FF_ERROR("the logs are from different runs: run_id \"%s\" (P0, %s) and \"%s\" (P1, %s)", L[0].run_id,
             L[0].file, L[1].run_id, L[1].file);
    return FF_EMISMATCH;
  }
  static const char *const keys[] = {"workload", "knobs"};
  for (int k = 0; k < 2; k++) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(L[0].run, keys[k]);
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(L[1].run, keys[k]);
    if ((a || b) && !(a && b && cJSON_Compare(a, b, 1))) {
      char ba[256], bb[256];
      FF_ERROR("the logs ran different %s: run.%s is %s in P0's log (%s) and %s in P1's (%s)",
               k ? "protocol knobs" : "workloads", keys[k], ff__json_brief(a, ba, sizeof ba), L[0].file,
               ff__json_brief(b, bb, sizeof bb), L[1].file);
      return FF_EMISMATCH;
    }
  }
  if (L[0].n_reps != L[1].n_reps) {
    FF_ERROR("different repetition counts: P0's log (%s) has %zu repetitions, P1's (%s) has %zu", L[0].file,
             L[0].n_reps, L[1].file, L[1].n_reps);
    return FF_EMISMATCH;
  }
  if (L[0].n_reps == 0) {
    FF_ERROR("the logs (%s, %s) contain no repetitions", L[0].file, L[1].file);
    return FF_EFORMAT;
  }
  for (size_t r = 0; r < L[0].n_reps; r++) {
    if (L[0].reps[r].warmup != L[1].reps[r].warmup) {
      FF_ERROR("different warm-up flags: repetition %zu is %s in P0's log (%s) but %s in P1's (%s)", r,
               L[0].reps[r].warmup ? "a warm-up" : "counted", L[0].file, L[1].reps[r].warmup ? "a warm-up" : "counted",
               L[1].file);
      return FF_EMISMATCH;
    }
    if (L[0].reps[r].rep != L[1].reps[r].rep) {
      FF_ERROR("repetition entry %zu is rep %d in P0's log (%s) but rep %d in P1's (%s)", r, L[0].reps[r].rep,
               L[0].file, L[1].reps[r].rep, L[1].file);
      return FF_EMISMATCH;
    }
  }
  return FF_OK;
}

/* ---- Merging ------------------------------------------------------------------------------------ */

/* Counts of a per-path or per-total warning over repetitions, with the first example. */
typedef struct {
  size_t count;
  int first_rep;
  int dir;     /* bytes: 0 when P0 sent != P1 received, 1 for the other direction */
  double a, b; /* the example's two values (overlap: the worst negative value in a) */
} ff__tally;

static void ff__tally_add(ff__tally *t, int rep, int dir, double a, double b) {
  if (t->count++ == 0) {
    t->first_rep = rep;
    t->dir = dir;
    t->a = a;
    t->b = b;
  }
}


static void ff__merge_pair(const ff__raw *a, const ff__raw *b, ff_metrics *x) {
  double *v = x->v;
  v[FF_M_WALL] = fmax(a->wall, b->wall);
  v[FF_M_WALL_SKEW] = fabs(a->wall - b->wall);
  v[FF_M_WALL_P0] = a->wall;
  v[FF_M_WALL_P1] = b->wall;
  v[FF_M_CUDA] = fmax(a->cuda, b->cuda);
  /* Time a party was not blocked on its peer; clamped because wait is measured by a different clock
   * read than wall and may exceed it by a few ns. */
  v[FF_M_COMP] = fmax(fmax(a->wall - a->wait, b->wall - b->wait), 0.0);
  v[FF_M_LINK] = a->sent + b->sent;
  v[FF_M_SENT_P0] = a->sent;
  v[FF_M_SENT_P1] = b->sent;
  v[FF_M_RECV_P0] = a->recv;
  v[FF_M_RECV_P1] = b->recv;
  v[FF_M_MSGS_P0] = a->msgs;
  v[FF_M_MSGS_P1] = b->msgs;
  v[FF_M_WAIT] = fmax(a->wait, b->wait);
  v[FF_M_WAIT_P0] = a->wait;
  v[FF_M_WAIT_P1] = b->wait;
  v[FF_M_ROUNDS] = fmax(a->rounds, b->rounds);
  v[FF_M_CALLS] = fmax(a->calls, b->calls);
}

/* At most this many per-path warnings of one kind are listed; the rest are counted in one line. */
#define FF__WARN_LIST_MAX 20

ff_status ff_merge_logs(const char *log_a, const char *log_b, ff_breakdown **out) {
  *out = NULL;
  ff__log in[2], L[2];
  memset(in, 0, sizeof in);
  ff_breakdown *bd = NULL;
  unsigned char *seen[2] = {NULL, NULL};
  ff__raw *praw[2] = {NULL, NULL}; /* per party: Σ children, then exclusive (index nn: Other) */
  ff__tally *tally = NULL;
  double *expect = NULL; /* per node, index nn the total: the rounds difference that one-way traffic explains */
  ff_status st;

  if ((st = ff__log_read(log_a, &in[0]))) goto done;
  if ((st = ff__log_read(log_b, &in[1]))) goto done;
  if (in[0].party == in[1].party) {
    FF_ERROR("both logs are from party %d (%s and %s): merge needs one log of party 0 and one of party 1",
             in[0].party, log_a, log_b);
    st = FF_EMISMATCH;
    goto done;
  }
  /* L[p] is party p's log whatever the argument order. */
  L[in[0].party] = in[0];
  L[in[1].party] = in[1];
  if ((st = ff__check_same_run(L))) goto done;

  if ((st = ff__breakdown_new(&bd))) goto done;
  st = FF_ENOMEM;
  for (int p = 0; p < 2; p++) {
    if (!(bd->inputs[p] = strdup(L[p].file))) goto done;
    if (!(bd->runs[p] = cJSON_Duplicate(L[p].run, 1))) goto done;
  }
  if (!(bd->run = cJSON_Duplicate(L[0].run, 1))) goto done;

  /* The scope dictionary: P0's names, then any only P1 has. */
  for (int p = 0; p < 2; p++) {
    for (size_t i = 0; i < L[p].n_scopes; i++) {
      int si = ff__breakdown_scope(bd, L[p].scope_name[i], L[p].scope_family[i]);
      if (si < 0) goto done;
      if (strcmp(bd->scopes[si].family, L[p].scope_family[i]) != 0)
        ff__breakdown_warn(bd, "scope \"%s\" has family \"%s\" in P0's log but \"%s\" in P1's; using \"%s\"",
                           L[p].scope_name[i], bd->scopes[si].family, L[p].scope_family[i], bd->scopes[si].family);
    }
  }

  /* The node table: every path of party 0 over all repetitions, in order of first appearance (a
   * node created in a later repetition is appended; its parent is always already there). */
  size_t n_reps = L[0].n_reps;
  for (size_t r = 0; r < n_reps; r++) {
    const ff__raw_rep *rr = &L[0].reps[r];
    for (size_t j = 0; j < rr->n_nodes; j++) {
      const ff__raw_node *rn = &rr->nodes[j];
      if (ff_breakdown_find(bd, rn->path) >= 0) continue;
      int parent = rn->parent >= 0 ? ff_breakdown_find(bd, rr->nodes[rn->parent].path) : -1;
      int si = ff__breakdown_scope(bd, L[0].scope_name[rn->scope], L[0].scope_family[rn->scope]);
      if (si < 0 || ff__breakdown_add_node(bd, rn->path, parent, si, rn->layer) < 0) goto done;
    }
  }
  ff__breakdown_index(bd);
  size_t nn = bd->n_nodes;

  /* Tree shapes: per repetition both parties must have the same set of paths. */
  for (int p = 0; p < 2; p++) {
    seen[p] = malloc(nn ? nn : 1);
    if (!seen[p]) goto done;
  }
  for (size_t r = 0; r < n_reps; r++) {
    for (int p = 0; p < 2; p++) {
      memset(seen[p], 0, nn ? nn : 1);
      const ff__raw_rep *rr = &L[p].reps[r];
      for (size_t j = 0; j < rr->n_nodes; j++) {
        int g = ff_breakdown_find(bd, rr->nodes[j].path);
        if (g < 0) { /* only party 1 can have a path missing from the table */
          FF_ERROR("the tree shapes differ (control flow diverged): path \"%s\" is in party 1's log (%s, "
                   "repetition %d) but not in party 0's (%s)",
                   rr->nodes[j].path, L[1].file, rr->rep, L[0].file);
          st = FF_EMISMATCH;
          goto done;
        }
        if (seen[p][g]) {
          FF_ERROR("%s: repetition %d lists path \"%s\" twice", L[p].file, rr->rep, rr->nodes[j].path);
          st = FF_EFORMAT;
          goto done;
        }
        seen[p][g] = 1;
      }
    }
    for (size_t g = 0; g < nn; g++) {
      if (seen[0][g] != seen[1][g]) {
        int has = seen[0][g] ? 0 : 1;
        FF_ERROR("the tree shapes differ (control flow diverged): path \"%s\" is in party %d's log (%s, "
                 "repetition %d) but not in party %d's (%s)",
                 bd->nodes[g].path, has, L[has].file, L[0].reps[r].rep, 1 - has, L[1 - has].file);
        st = FF_EMISMATCH;
        goto done;
      }
    }
    /* Exact byte invariants on the totals of the repetition. */
    const ff__raw *t0 = &L[0].reps[r].total, *t1 = &L[1].reps[r].total;
    if (t0->sent != t1->recv || t1->sent != t0->recv) {
      int d = t0->sent != t1->recv ? 0 : 1;
      FF_ERROR("byte invariant violated in repetition %d: P%d sent %.0f B but P%d received %.0f B "
               "(P0 sent %.0f, P1 received %.0f; P1 sent %.0f, P0 received %.0f); the logs are inconsistent",
               L[0].reps[r].rep, d, d ? t1->sent : t0->sent, 1 - d, d ? t0->recv : t1->recv, t0->sent, t1->recv,
               t1->sent, t0->recv);
      st = FF_EMISMATCH;
      goto done;
    }
  }

  if ((st = ff__breakdown_alloc_reps(bd, n_reps))) goto done;
  st = FF_ENOMEM;
  praw[0] = malloc((nn + 1) * sizeof *praw[0]);
  praw[1] = malloc((nn + 1) * sizeof *praw[1]);
  expect = malloc((nn + 1) * sizeof *expect);
  /* Per node (and the total/Other at index nn): rounds, calls and byte-direction mismatches, and
   * negative exclusive values per metric. */
  enum { T_ROUNDS, T_CALLS, T_BYTES, T_COUNT };
  tally = calloc((nn + 1) * (T_COUNT + FF_M_COUNT), sizeof *tally);
  if (!praw[0] || !praw[1] || !expect || !tally) goto done;
#define FF__TALLY(node, kind) (&tally[(size_t)(node) * (T_COUNT + FF_M_COUNT) + (kind)])

  static const ff__raw zero;
  for (size_t r = 0; r < n_reps; r++) {
    ff_bd_rep *br = &bd->reps[r];
    const ff__raw_rep *ra = &L[0].reps[r], *rb = &L[1].reps[r];
    br->rep = ra->rep;
    br->warmup = ra->warmup;
    ff__merge_pair(&ra->total, &rb->total, &br->total);
    br->total.v[FF_M_CALLS] = 1;

    /* Locate each global node in both parties' lists of this repetition. */
    const ff__raw **pa = calloc(nn ? nn : 1, sizeof *pa), **pb = calloc(nn ? nn : 1, sizeof *pb);
    if (!pa || !pb) {
      free(pa);
      free(pb);
      goto done;
    }
    for (size_t j = 0; j < ra->n_nodes; j++) pa[ff_breakdown_find(bd, ra->nodes[j].path)] = &ra->nodes[j].m;
    for (size_t j = 0; j < rb->n_nodes; j++) pb[ff_breakdown_find(bd, rb->nodes[j].path)] = &rb->nodes[j].m;
    /* Rounds may differ where traffic is one-way: a round is a receive after a send, so in a scope where
     * one party received nothing it has none, and the other one per receive (Input: P0 1, P1 0). Such a
     * difference is expected; it is carried up to the parents and the total, and only a difference that
     * it does not explain is warned about. Parents precede children, so one backward pass sums them. */
    memset(expect, 0, (nn + 1) * sizeof *expect); /* per node: Σ of its children's expected differences */
    for (size_t g = nn; g-- > 0;) {
      const ff__raw *a = pa[g] ? pa[g] : &zero, *b = pb[g] ? pb[g] : &zero;
      const double d = a->rounds - b->rounds, e = a->recv == 0 || b->recv == 0 ? d : expect[g];
      if (d != e) ff__tally_add(FF__TALLY(g, T_ROUNDS), ra->rep, 0, a->rounds, b->rounds);
      expect[bd->nodes[g].parent >= 0 ? (size_t)bd->nodes[g].parent : nn] += e;
    }
    /* A repetition recorded with scopes off (FF_PROFILE=0, the off half of `run --overhead-pairs`) has
     * its totals only: nothing there can explain a one-way difference, so none is warned about. */
    int scoped = 0;
    for (size_t g = 0; g < nn && !scoped; g++) scoped = (pa[g] && pa[g]->calls > 0) || (pb[g] && pb[g]->calls > 0);
    if (scoped && ra->total.rounds - rb->total.rounds != expect[nn])
      ff__tally_add(FF__TALLY(nn, T_ROUNDS), ra->rep, 0, ra->total.rounds, rb->total.rounds);
    for (size_t g = 0; g < nn; g++) {
      const ff__raw *a = pa[g] ? pa[g] : &zero, *b = pb[g] ? pb[g] : &zero;
      ff__merge_pair(a, b, &br->incl[g]);
      if (a->calls != b->calls) ff__tally_add(FF__TALLY(g, T_CALLS), ra->rep, 0, a->calls, b->calls);
      /* Per path only a warning: a message may be sent in one scope and received in the peer's next. */
      if (a->sent != b->recv)
        ff__tally_add(FF__TALLY(g, T_BYTES), ra->rep, 0, a->sent, b->recv);
      else if (b->sent != a->recv)
        ff__tally_add(FF__TALLY(g, T_BYTES), ra->rep, 1, b->sent, a->recv);
    }

    /* Exclusive values are taken per party first (inclusive − Σ children's inclusive, exact on one
     * party's clock and counters), then merged like inclusive ones (time = max over parties). Merging
     * first and subtracting after would mix the parties: when they take turns being the slower one,
     * the children's maxima add up to more than the parent's. Other = total − Σ top-level nodes, the
     * same way. A negative per-party value can only come from an inconsistent log: warned, clamped. */
    for (int p = 0; p < 2; p++) {
      const ff__raw **pn = p == 0 ? pa : pb;
      const ff__raw *tot = p == 0 ? &ra->total : &rb->total;
      memset(praw[p], 0, (nn + 1) * sizeof *praw[p]);
      for (size_t g = 0; g < nn; g++) {
        const ff__raw *x = pn[g] ? pn[g] : &zero;
        ff__raw *acc = bd->nodes[g].parent >= 0 ? &praw[p][bd->nodes[g].parent] : &praw[p][nn];
        acc->wall += x->wall, acc->cuda += x->cuda, acc->sent += x->sent, acc->recv += x->recv;
        acc->msgs += x->msgs, acc->rounds += x->rounds, acc->wait += x->wait;
      }
      for (size_t g = 0; g <= nn; g++) { /* praw holds Σ children; turn it into exclusive */
        const ff__raw *x = g < nn ? (pn[g] ? pn[g] : &zero) : tot;
        ff__raw *e = &praw[p][g];
        double *ev[] = {&e->wall, &e->cuda, &e->sent, &e->recv, &e->msgs, &e->rounds, &e->wait};
        const double xv[] = {x->wall, x->cuda, x->sent, x->recv, x->msgs, x->rounds, x->wait};
        const ff_metric mv[] = {p ? FF_M_WALL_P1 : FF_M_WALL_P0, FF_M_CUDA, p ? FF_M_SENT_P1 : FF_M_SENT_P0,
                                p ? FF_M_RECV_P1 : FF_M_RECV_P0, p ? FF_M_MSGS_P1 : FF_M_MSGS_P0, FF_M_ROUNDS,
                                p ? FF_M_WAIT_P1 : FF_M_WAIT_P0};
        for (int k = 0; k < 7; k++) {
          double d = xv[k] - *ev[k];
          if (d < 0) { /* keep the worst case: its value, the inclusive value it is part of, the rep */
            ff__tally *t = FF__TALLY(g, T_COUNT + mv[k]);
            if (t->count++ == 0 || d < t->a) {
              t->a = d;
              t->b = xv[k];
              t->first_rep = ra->rep;
            }
            d = 0;
          }
          *ev[k] = d;
        }
        e->calls = g < nn ? x->calls : 0;
      }
    }
    for (size_t g = 0; g <= nn; g++) {
      ff_metrics *exc = g < nn ? &br->excl[g] : &br->other;
      ff__merge_pair(&praw[0][g], &praw[1][g], exc);
    }
    free(pa);
    free(pb);
  }

  /* Warnings, aggregated per path over the repetitions. */
  {
    size_t listed[T_COUNT] = {0}, unlisted[T_COUNT] = {0};
    for (size_t g = 0; g <= nn; g++) {
      const char *where = g < nn ? bd->nodes[g].path : "the repetition totals";
      ff__tally *t = FF__TALLY(g, T_ROUNDS);
      if (t->count) {
        if (listed[T_ROUNDS]++ < FF__WARN_LIST_MAX)
          ff__breakdown_warn(bd, "rounds differ between the parties at %s in %zu repetition(s) (rep %d: P0 %.0f, "
                             "P1 %.0f); merged rounds = max", where, t->count, t->first_rep, t->a, t->b);
        else
          unlisted[T_ROUNDS]++;
      }
      t = FF__TALLY(g, T_CALLS);
      if (t->count) {
        if (listed[T_CALLS]++ < FF__WARN_LIST_MAX)
          ff__breakdown_warn(bd, "calls differ between the parties at %s in %zu repetition(s) (rep %d: P0 %.0f, "
                             "P1 %.0f); merged calls = max", where, t->count, t->first_rep, t->a, t->b);
        else
          unlisted[T_CALLS]++;
      }
      t = FF__TALLY(g, T_BYTES);
      if (t->count) {
        bd->path_mismatches++;
        if (listed[T_BYTES]++ < FF__WARN_LIST_MAX)
          ff__breakdown_warn(bd, "bytes at %s do not match between the parties in %zu repetition(s) (rep %d: "
                             "P%d sent %.0f B, P%d received %.0f B); expected when a message is sent in one "
                             "scope and received in the peer's next",
                             where, t->count, t->first_rep, t->dir, t->a, 1 - t->dir, t->b);
        else
          unlisted[T_BYTES]++;
      }
      if (g < nn) continue;
      /* The Other row: total − top-level scopes, one warning per metric. */
      for (int m = 0; m < FF_M_COUNT; m++) {
        t = FF__TALLY(nn, T_COUNT + m);
        if (t->count)
          ff__breakdown_warn(bd, "overlap: Other (total - top-level scopes) %s was negative in %zu of %zu "
                             "repetition(s) (worst %.0f, rep %d): a party's top-level scopes add up to more than "
                             "its repetition total (an inconsistent log); clamped at 0",
                             ff_metric_name((ff_metric)m), t->count, n_reps, t->a, t->first_rep);
      }
    }
    /* Per-party exclusive values that came out negative: one warning per metric, with the worst case.
     * Scopes nest on one thread and one clock, so this means an inconsistent log. */
    for (int m = 0; m < FF_M_COUNT; m++) {
      size_t paths = 0, cases = 0;
      const ff__tally *worst = NULL;
      size_t worst_g = 0;
      for (size_t g = 0; g < nn; g++) {
        const ff__tally *t = FF__TALLY(g, T_COUNT + m);
        if (!t->count) continue;
        paths++;
        cases += t->count;
        if (!worst || t->a < worst->a) {
          worst = t;
          worst_g = g;
        }
      }
      if (!paths) continue;
      ff__breakdown_warn(bd, "overlap: exclusive %s was negative at %zu path(s) in %zu path-repetition(s), clamped "
                         "at 0; worst %s: %.0f (%.1f%% of its inclusive %.0f, rep %d). A party's children add up "
                         "to more than the scope itself: the log is inconsistent",
                         ff_metric_name((ff_metric)m), paths, cases, bd->nodes[worst_g].path, worst->a,
                         worst->b > 0 ? -100.0 * worst->a / worst->b : 0.0, worst->b, worst->first_rep);
    }
    static const char *const what[] = {"rounds", "calls", "per-path byte"};
    for (int k = 0; k < T_COUNT; k++)
      if (unlisted[k]) ff__breakdown_warn(bd, "... and %zu more %s warning(s) not listed", unlisted[k], what[k]);
  }
#undef FF__TALLY

  if (ff_breakdown_counted_reps(bd) == 0) {
    FF_ERROR("all %zu repetitions of %s and %s are warm-ups: no counted repetition to take statistics of",
             n_reps, L[0].file, L[1].file);
    st = FF_EFORMAT;
    goto done;
  }
  st = FF_OK;

done:
  for (int p = 0; p < 2; p++) {
    free(seen[p]);
    ff__log_free(&in[p]);
  }
  free(praw[0]);
  free(praw[1]);
  free(expect);
  free(tally);
  if (st) {
    ff_breakdown_free(bd);
    return st;
  }
  *out = bd;
  return FF_OK;
}
