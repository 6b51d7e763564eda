/* The merged breakdown (fusefss.merged/1): loading and validation, writing, accessors and the
 * by-scope/family/layer/name groupings that report, amdahl, project and `bench comm` share.
 * DESIGN.md §6; the schema is documented field by field in docs/tools.md.
 * Tests: tests/test_merge.c (merged file, loader, groupings, report), tests/test_amdahl.c. */
#include "tools/lib/analysis_internal.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

/* ---- Metrics ------------------------------------------------------------------------------------ */

static const char *const ff__metric_names[FF_M_COUNT] = {
    [FF_M_WALL] = "wall_ns",       [FF_M_WALL_SKEW] = "wall_skew_ns", [FF_M_WALL_P0] = "wall_ns_p0",
    [FF_M_WALL_P1] = "wall_ns_p1", [FF_M_CUDA] = "cuda_ns",           [FF_M_COMP] = "comp_ns",
    [FF_M_LINK] = "link_B",        [FF_M_SENT_P0] = "sent_B_p0",      [FF_M_SENT_P1] = "sent_B_p1",
    [FF_M_RECV_P0] = "recv_B_p0",  [FF_M_RECV_P1] = "recv_B_p1",      [FF_M_MSGS_P0] = "msgs_p0",
    [FF_M_MSGS_P1] = "msgs_p1",    [FF_M_WAIT] = "wait_ns",           [FF_M_WAIT_P0] = "wait_ns_p0",
    [FF_M_WAIT_P1] = "wait_ns_p1", [FF_M_ROUNDS] = "rounds",          [FF_M_CALLS] = "calls",
};

const char *ff_metric_name(ff_metric m) {
  return (m >= 0 && m < FF_M_COUNT) ? ff__metric_names[m] : "?";
}

int ff_metric_parse(const char *name) {
  for (int m = 0; m < FF_M_COUNT; m++)
    if (name && strcmp(name, ff__metric_names[m]) == 0) return m;
  return -1;
}

/* ---- JSON files --------------------------------------------------------------------------------- */

ff_status ff_json_load_file(const char *path, const char *what, cJSON **out) {
  *out = NULL;
  /* Logs and merged files are at most a few hundred MB; anything larger (a device, a runaway file) is
   * refused before it is read, a FIFO or device is refused without blocking. */
  char *buf = NULL;
  size_t len = 0;
  ff_status rst = ff_read_user_file(path, what, FF_JSON_FILE_MAX, &buf, &len);
  if (rst) return rst;
  if (len == 0) {
    FF_ERROR("%s %s is empty", what, path);
    free(buf);
    return FF_EFORMAT;
  }
  /* With require_null_terminated, cJSON wants the terminating NUL inside the length it is given;
   * trailing garbage after the document is then an error too. */
  const char *end = NULL;
  cJSON *root = cJSON_ParseWithLengthOpts(buf, len + 1, &end, 1);
  if (!root) {
    /* cJSON reports a pointer to where parsing stopped; turn it into line:column (1-based). */
    size_t off = (end && end >= buf && end <= buf + len) ? (size_t)(end - buf) : len;
    size_t line = 1, col = 1;
    for (size_t i = 0; i < off && i < len; i++) {
      if (buf[i] == '\n') {
        line++;
        col = 1;
      } else {
        col++;
      }
    }
    FF_ERROR("%s %s is not valid JSON: parse error at line %zu, column %zu%s", what, path, line, col,
             off + 1 >= len ? " (end of input: truncated file?)" : "");
    free(buf);
    return FF_EFORMAT;
  }
  free(buf);
  *out = root;
  return FF_OK;
}

/* ---- Path index: open addressing over node indices ----------------------------------------------- */

typedef struct {
  size_t cap; /* power of two */
  size_t used;
  int *slot;  /* node index or -1 */
} ff__pathmap;

static uint64_t ff__hash(const char *s) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

static ff_status ff__pathmap_put(ff_breakdown *bd, int idx);

static ff_status ff__pathmap_grow(ff_breakdown *bd) {
  ff__pathmap *m = bd->index_;
  size_t ncap = m->cap ? m->cap * 2 : 64;
  int *ns = malloc(ncap * sizeof *ns);
  if (!ns) return FF_ENOMEM;
  for (size_t i = 0; i < ncap; i++) ns[i] = -1;
  int *old = m->slot;
  size_t ocap = m->cap;
  m->slot = ns;
  m->cap = ncap;
  m->used = 0;
  for (size_t i = 0; i < ocap; i++)
    if (old[i] >= 0) ff__pathmap_put(bd, old[i]);
  free(old);
  return FF_OK;
}

static ff_status ff__pathmap_put(ff_breakdown *bd, int idx) {
  ff__pathmap *m = bd->index_;
  if ((m->used + 1) * 2 > m->cap) {
    ff_status st = ff__pathmap_grow(bd);
    if (st) return st;
  }
  size_t i = ff__hash(bd->nodes[idx].path) & (m->cap - 1);
  while (m->slot[i] >= 0) i = (i + 1) & (m->cap - 1);
  m->slot[i] = idx;
  m->used++;
  return FF_OK;
}

int ff_breakdown_find(const ff_breakdown *bd, const char *path) {
  const ff__pathmap *m = bd ? bd->index_ : NULL;
  if (!m || !m->cap || !path) return -1;
  size_t i = ff__hash(path) & (m->cap - 1);
  while (m->slot[i] >= 0) {
    if (strcmp(bd->nodes[m->slot[i]].path, path) == 0) return m->slot[i];
    i = (i + 1) & (m->cap - 1);
  }
  return -1;
}

/* ---- Building ----------------------------------------------------------------------------------- */

ff_status ff__breakdown_new(ff_breakdown **out) {
  ff_breakdown *bd = calloc(1, sizeof *bd);
  ff__pathmap *m = calloc(1, sizeof *m);
  if (!bd || !m) {
    free(bd);
    free(m);
    return FF_ENOMEM;
  }
  bd->index_ = m;
  *out = bd;
  return FF_OK;
}

int ff__breakdown_scope(ff_breakdown *bd, const char *name, const char *family) {
  for (size_t i = 0; i < bd->n_scopes; i++)
    if (strcmp(bd->scopes[i].name, name) == 0) return (int)i;
  ff_bd_scope *ns = realloc(bd->scopes, (bd->n_scopes + 1) * sizeof *ns);
  if (!ns) return -1;
  bd->scopes = ns;
  ff_bd_scope *s = &bd->scopes[bd->n_scopes];
  s->name = strdup(name);
  s->family = strdup(family);
  if (!s->name || !s->family) {
    free(s->name);
    free(s->family);
    return -1;
  }
  return (int)bd->n_scopes++;
}

int ff__breakdown_add_node(ff_breakdown *bd, const char *path, int parent, int scope, int layer) {
  size_t count = bd->n_nodes;
  if (count == 0 || (count >= 16 && (count & (count - 1)) == 0)) { /* capacity 16, then doubling */
    size_t ncap = count ? count * 2 : 16;
    ff_bd_node *nn = realloc(bd->nodes, ncap * sizeof *nn);
    if (!nn) return -1;
    bd->nodes = nn;
  }
  ff_bd_node *n = &bd->nodes[bd->n_nodes];
  memset(n, 0, sizeof *n);
  n->path = strdup(path);
  if (!n->path) return -1;
  n->parent = parent;
  n->scope = scope;
  n->layer = layer;
  n->eff_layer = -1;
  int idx = (int)bd->n_nodes++;
  if (ff__pathmap_put(bd, idx)) {
    free(n->path);
    bd->n_nodes--;
    return -1;
  }
  return idx;
}

ff_status ff__breakdown_alloc_reps(ff_breakdown *bd, size_t n_reps) {
  bd->reps = calloc(n_reps ? n_reps : 1, sizeof *bd->reps);
  if (!bd->reps) return FF_ENOMEM;
  bd->n_reps = n_reps;
  for (size_t r = 0; r < n_reps; r++) {
    size_t n = bd->n_nodes ? bd->n_nodes : 1;
    bd->reps[r].incl = calloc(n, sizeof(ff_metrics));
    bd->reps[r].excl = calloc(n, sizeof(ff_metrics));
    if (!bd->reps[r].incl || !bd->reps[r].excl) return FF_ENOMEM;
  }
  return FF_OK;
}

ff_status ff__breakdown_index(ff_breakdown *bd) {
  /* Parents precede children, so one forward pass sees every parent's attributes first. */
  for (size_t i = 0; i < bd->n_nodes; i++) {
    ff_bd_node *n = &bd->nodes[i];
    const char *fam = bd->scopes[n->scope].family;
    if (n->parent < 0) {
      n->depth = 0;
      n->eff_layer = n->layer;
      n->owner_family = fam;
    } else {
      const ff_bd_node *p = &bd->nodes[n->parent];
      n->depth = p->depth + 1;
      n->eff_layer = n->layer >= 0 ? n->layer : p->eff_layer;
      /* The outermost non-Structure ancestor-or-self owns the node: once an ancestor has claimed
       * it, inner families (a Reconstruct inside GELU) do not change it. */
      n->owner_family = strcmp(p->owner_family, "Structure") != 0 ? p->owner_family : fam;
    }
  }
  return FF_OK;
}

void ff__breakdown_warn(ff_breakdown *bd, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  FF_WARN("%s", msg);
  char **nw = realloc(bd->warnings, (bd->n_warnings + 1) * sizeof *nw);
  if (!nw) return;
  bd->warnings = nw;
  bd->warnings[bd->n_warnings] = strdup(msg);
  if (bd->warnings[bd->n_warnings]) bd->n_warnings++;
}

void ff_breakdown_free(ff_breakdown *bd) {
  if (!bd) return;
  free(bd->source);
  for (int p = 0; p < 2; p++) {
    free(bd->inputs[p]);
    cJSON_Delete(bd->runs[p]);
  }
  cJSON_Delete(bd->run);
  for (size_t i = 0; i < bd->n_scopes; i++) {
    free(bd->scopes[i].name);
    free(bd->scopes[i].family);
  }
  free(bd->scopes);
  for (size_t i = 0; i < bd->n_nodes; i++) free(bd->nodes[i].path);
  free(bd->nodes);
  for (size_t r = 0; r < bd->n_reps; r++) {
    free(bd->reps[r].incl);
    free(bd->reps[r].excl);
  }
  free(bd->reps);
  for (size_t i = 0; i < bd->n_warnings; i++) free(bd->warnings[i]);
  free(bd->warnings);
  ff__pathmap *m = bd->index_;
  if (m) free(m->slot);
  free(m);
  free(bd);
}

/* ---- Accessors ---------------------------------------------------------------------------------- */

size_t ff_breakdown_node_count(const ff_breakdown *bd) { return bd ? bd->n_nodes : 0; }

size_t ff_breakdown_counted_reps(const ff_breakdown *bd) {
  size_t n = 0;
  for (size_t r = 0; bd && r < bd->n_reps; r++) n += !bd->reps[r].warmup;
  return n;
}

const ff_metrics *ff_breakdown_rep_row(const ff_breakdown *bd, size_t i, int row, int excl) {
  if (!bd || i >= bd->n_reps) return NULL;
  const ff_bd_rep *rep = &bd->reps[i];
  if (row == FF_BD_TOTAL) return &rep->total;
  if (row == FF_BD_OTHER) return &rep->other;
  if (row < 0 || (size_t)row >= bd->n_nodes) return NULL;
  return excl ? &rep->excl[row] : &rep->incl[row];
}

size_t ff_breakdown_values(const ff_breakdown *bd, int row, int excl, ff_metric m, double *out) {
  if (m < 0 || m >= FF_M_COUNT) return 0;
  size_t k = 0;
  for (size_t r = 0; bd && r < bd->n_reps; r++) {
    if (bd->reps[r].warmup) continue;
    const ff_metrics *v = ff_breakdown_rep_row(bd, r, row, excl);
    if (!v) return 0;
    out[k++] = v->v[m];
  }
  return k;
}

ff_status ff_breakdown_stats(const ff_breakdown *bd, int row, int excl, ff_metric m, ff_stats *out) {
  size_t n = ff_breakdown_counted_reps(bd);
  double *x = malloc((n ? n : 1) * sizeof *x);
  if (!x) return FF_ENOMEM;
  size_t k = ff_breakdown_values(bd, row, excl, m, x);
  ff_status st = ff_stats_compute(x, k, out);
  free(x);
  return st;
}

size_t ff_breakdown_scope_values(const ff_breakdown *bd, const char *scope_name, ff_metric m, double *out) {
  size_t n_counted = ff_breakdown_counted_reps(bd);
  for (size_t k = 0; k < n_counted; k++) out[k] = 0;
  size_t found = 0;
  for (size_t i = 0; i < bd->n_nodes; i++) {
    if (strcmp(bd->scopes[bd->nodes[i].scope].name, scope_name) != 0) continue;
    int outer = 1; /* nested occurrences are already inside the outermost one's inclusive value */
    for (int p = bd->nodes[i].parent; p >= 0; p = bd->nodes[p].parent)
      if (strcmp(bd->scopes[bd->nodes[p].scope].name, scope_name) == 0) outer = 0;
    if (!outer) continue;
    found++;
    size_t k = 0;
    for (size_t r = 0; r < bd->n_reps; r++)
      if (!bd->reps[r].warmup) out[k++] += bd->reps[r].incl[i].v[m];
  }
  return found;
}

int ff_breakdown_has_family(const ff_breakdown *bd, const char *family) {
  for (size_t i = 0; i < bd->n_nodes; i++)
    if (strcmp(bd->nodes[i].owner_family, family) == 0) return 1;
  if (strcmp(family, "Other") == 0) {
    for (size_t r = 0; r < bd->n_reps; r++)
      if (!bd->reps[r].warmup && (bd->reps[r].other.v[FF_M_WALL] > 0 || bd->reps[r].other.v[FF_M_LINK] > 0))
        return 1;
  }
  return 0;
}

const char *ff_breakdown_run_str(const ff_breakdown *bd, const char *dotted_key) {
  const cJSON *o = bd ? bd->run : NULL;
  char key[128];
  const char *s = dotted_key;
  while (o && *s) {
    const char *dot = strchr(s, '.');
    size_t l = dot ? (size_t)(dot - s) : strlen(s);
    if (l >= sizeof key) return NULL;
    memcpy(key, s, l);
    key[l] = 0;
    o = cJSON_GetObjectItemCaseSensitive(o, key);
    s = dot ? dot + 1 : s + l;
  }
  return cJSON_IsString(o) ? o->valuestring : NULL;
}

const char *ff_breakdown_label(const ff_breakdown *bd, char *buf, size_t n) {
  const char *suite = ff_breakdown_run_str(bd, "workload.suite");
  if (suite && *suite) {
    snprintf(buf, n, "%s", suite);
  } else if (bd && bd->source) {
    const char *slash = strrchr(bd->source, '/');
    snprintf(buf, n, "%s", slash ? slash + 1 : bd->source);
  } else {
    snprintf(buf, n, "merged run");
  }
  return buf;
}

/* ---- Grouping ----------------------------------------------------------------------------------- */

const char *ff_group_by_name(ff_group_by by) {
  switch (by) {
  case FF_GROUP_SCOPE: return "scope";
  case FF_GROUP_FAMILY: return "family";
  case FF_GROUP_LAYER: return "layer";
  case FF_GROUP_NAME: return "name";
  }
  return "?";
}

int ff_group_by_parse(const char *s) {
  for (int b = FF_GROUP_SCOPE; b <= FF_GROUP_NAME; b++)
    if (s && strcmp(s, ff_group_by_name((ff_group_by)b)) == 0) return b;
  return -1;
}

static void ff__metrics_add(ff_metrics *acc, const ff_metrics *x) {
  for (int m = 0; m < FF_M_COUNT; m++) acc->v[m] += x->v[m];
}

/* Appends an empty row; returns its index or -1. */
static int ff__group_add_row(ff_grouping *g, const char *key, int node, int depth) {
  ff_group_row *nr = realloc(g->rows, (g->n_rows + 1) * sizeof *nr);
  if (!nr) return -1;
  g->rows = nr;
  ff_group_row *row = &g->rows[g->n_rows];
  memset(row, 0, sizeof *row);
  row->key = strdup(key);
  row->node = node;
  row->depth = depth;
  size_t n = g->n_reps ? g->n_reps : 1;
  row->incl = calloc(n, sizeof(ff_metrics));
  row->excl = calloc(n, sizeof(ff_metrics));
  if (!row->key || !row->incl || !row->excl) {
    free(row->key);
    free(row->incl);
    free(row->excl);
    return -1;
  }
  return (int)g->n_rows++;
}

int ff_grouping_find(const ff_grouping *g, const char *key) {
  for (size_t i = 0; i < g->n_rows; i++)
    if (strcmp(g->rows[i].key, key) == 0) return (int)i;
  return -1;
}

static int ff__group_row_for(ff_grouping *g, const char *key) {
  int i = ff_grouping_find(g, key);
  return i >= 0 ? i : ff__group_add_row(g, key, -1, 0);
}

/* Adds row `bd_row`'s exclusive values over the counted repetitions into group row gi. */
static void ff__group_accumulate(const ff_breakdown *bd, ff_grouping *g, int gi, int bd_row) {
  size_t k = 0;
  for (size_t r = 0; r < bd->n_reps; r++) {
    if (bd->reps[r].warmup) continue;
    ff__metrics_add(&g->rows[gi].excl[k], ff_breakdown_rep_row(bd, r, bd_row, 1));
    k++;
  }
}

static int ff__layer_key_cmp(const void *a, const void *b) {
  const ff_group_row *x = a, *y = b;
  /* Numeric layers ascending, then "none", then "Other". */
  int rx = strcmp(x->key, "Other") == 0 ? 2 : strcmp(x->key, "none") == 0 ? 1 : 0;
  int ry = strcmp(y->key, "Other") == 0 ? 2 : strcmp(y->key, "none") == 0 ? 1 : 0;
  if (rx != ry) return rx - ry;
  if (rx == 0) {
    long lx = strtol(x->key, NULL, 10), ly = strtol(y->key, NULL, 10);
    return (lx > ly) - (lx < ly);
  }
  return 0;
}

ff_status ff_breakdown_group(const ff_breakdown *bd, ff_group_by by, ff_grouping *out) {
  memset(out, 0, sizeof *out);
  out->by = by;
  out->n_reps = ff_breakdown_counted_reps(bd);
  ff_status st = FF_ENOMEM;

  if (by == FF_GROUP_SCOPE) {
    /* Depth-first order, children in node order: the log lists nodes in creation order, in which a
     * node created in a later repetition would otherwise land after unrelated subtrees. */
    size_t n = bd->n_nodes;
    int *stack = malloc((n + 1) * sizeof *stack);
    if (!stack) goto fail;
    size_t sp = 0;
    for (size_t i = n; i-- > 0;)
      if (bd->nodes[i].parent < 0) stack[sp++] = (int)i;
    while (sp) {
      int i = stack[--sp];
      int gi = ff__group_add_row(out, bd->nodes[i].path, i, bd->nodes[i].depth);
      if (gi < 0) {
        free(stack);
        goto fail;
      }
      size_t k = 0;
      for (size_t r = 0; r < bd->n_reps; r++) {
        if (bd->reps[r].warmup) continue;
        out->rows[gi].incl[k] = bd->reps[r].incl[i];
        out->rows[gi].excl[k] = bd->reps[r].excl[i];
        k++;
      }
      /* Each node is the child of exactly one parent, so the stack never exceeds n entries. */
      for (size_t c = n; c-- > (size_t)i + 1;)
        if (bd->nodes[c].parent == i) stack[sp++] = (int)c;
    }
    free(stack);
    int gi = ff__group_add_row(out, "Other", FF_BD_OTHER, 0);
    if (gi < 0) goto fail;
    out->rows[gi].has_other = 1;
    size_t k = 0;
    for (size_t r = 0; r < bd->n_reps; r++) {
      if (bd->reps[r].warmup) continue;
      out->rows[gi].incl[k] = out->rows[gi].excl[k] = bd->reps[r].other;
      k++;
    }
    return FF_OK;
  }

  for (size_t i = 0; i < bd->n_nodes; i++) {
    const ff_bd_node *nd = &bd->nodes[i];
    char key[32];
    const char *k = NULL;
    if (by == FF_GROUP_FAMILY) {
      k = nd->owner_family;
    } else if (by == FF_GROUP_NAME) {
      k = bd->scopes[nd->scope].name;
    } else {
      if (nd->eff_layer >= 0)
        snprintf(key, sizeof key, "%d", nd->eff_layer);
      else
        snprintf(key, sizeof key, "none");
      k = key;
    }
    int gi = ff__group_row_for(out, k);
    if (gi < 0) goto fail;
    ff__group_accumulate(bd, out, gi, (int)i);
  }
  /* The Other row joins the row keyed "Other" (a family or scope named Other) or gets its own. */
  int existed = ff_grouping_find(out, "Other") >= 0;
  int gi = ff__group_row_for(out, "Other");
  if (gi < 0) goto fail;
  out->rows[gi].has_other = 1;
  if (!existed) out->rows[gi].node = FF_BD_OTHER;
  ff__group_accumulate(bd, out, gi, FF_BD_OTHER);

  /* "Other" goes last (a family named Other may have appeared earlier through a node). */
  if (gi != (int)out->n_rows - 1) {
    ff_group_row tmp = out->rows[gi];
    memmove(&out->rows[gi], &out->rows[gi + 1], (out->n_rows - (size_t)gi - 1) * sizeof tmp);
    out->rows[out->n_rows - 1] = tmp;
  }
  if (by == FF_GROUP_LAYER) qsort(out->rows, out->n_rows, sizeof *out->rows, ff__layer_key_cmp);

  /* Maxima and skew are not additive: a row's time is the max over the parties of each party's summed
   * exclusive time (so each party's rows partition its own total exactly), and its skew is their
   * difference. Inclusive = exclusive. */
  for (size_t r = 0; r < out->n_rows; r++) {
    for (size_t k = 0; k < out->n_reps; k++) {
      ff_metrics *x = &out->rows[r].excl[k];
      double *v = x->v;
      v[FF_M_WALL] = fmax(v[FF_M_WALL_P0], v[FF_M_WALL_P1]);
      v[FF_M_WAIT] = fmax(v[FF_M_WAIT_P0], v[FF_M_WAIT_P1]);
      v[FF_M_COMP] = fmax(fmax(v[FF_M_WALL_P0] - v[FF_M_WAIT_P0], v[FF_M_WALL_P1] - v[FF_M_WAIT_P1]), 0.0);
      v[FF_M_WALL_SKEW] = fabs(v[FF_M_WALL_P0] - v[FF_M_WALL_P1]);
      out->rows[r].incl[k] = *x;
    }
  }
  return FF_OK;

fail:
  ff_grouping_free(out);
  FF_ERROR("grouping by %s: out of memory", ff_group_by_name(by));
  return st;
}

void ff_grouping_free(ff_grouping *g) {
  if (!g) return;
  for (size_t i = 0; i < g->n_rows; i++) {
    free(g->rows[i].key);
    free(g->rows[i].incl);
    free(g->rows[i].excl);
  }
  free(g->rows);
  memset(g, 0, sizeof *g);
}

ff_status ff_group_stats(const ff_grouping *g, size_t row, int excl, ff_metric m, ff_stats *out) {
  if (row >= g->n_rows || m < 0 || m >= FF_M_COUNT) {
    memset(out, 0, sizeof *out);
    return FF_EINVAL;
  }
  double *x = malloc((g->n_reps ? g->n_reps : 1) * sizeof *x);
  if (!x) return FF_ENOMEM;
  const ff_metrics *src = excl ? g->rows[row].excl : g->rows[row].incl;
  for (size_t k = 0; k < g->n_reps; k++) x[k] = src[k].v[m];
  ff_status st = ff_stats_compute(x, g->n_reps, out);
  free(x);
  return st;
}

/* ---- Writing ------------------------------------------------------------------------------------ */

static cJSON *ff__metrics_json(const ff_metrics *x) {
  cJSON *o = cJSON_CreateObject();
  for (int m = 0; o && m < FF_M_COUNT; m++) cJSON_AddNumberToObject(o, ff__metric_names[m], x->v[m]);
  return o;
}

cJSON *ff_stats_to_json(const ff_stats *s) {
  cJSON *o = cJSON_CreateObject();
  if (!o) return NULL;
  cJSON_AddNumberToObject(o, "median", s->median);
  cJSON_AddNumberToObject(o, "p25", s->p25);
  cJSON_AddNumberToObject(o, "p75", s->p75);
  cJSON_AddNumberToObject(o, "min", s->min);
  cJSON_AddNumberToObject(o, "max", s->max);
  cJSON_AddNumberToObject(o, "n", (double)s->n);
  return o;
}

static cJSON *ff__row_stats_json(const ff_breakdown *bd, int row, int excl) {
  cJSON *o = cJSON_CreateObject();
  for (int m = 0; o && m < FF_M_COUNT; m++) {
    ff_stats s;
    ff_breakdown_stats(bd, row, excl, (ff_metric)m, &s);
    cJSON_AddItemToObject(o, ff__metric_names[m], ff_stats_to_json(&s));
  }
  return o;
}

cJSON *ff_breakdown_to_json(const ff_breakdown *bd) {
  cJSON *root = cJSON_CreateObject();
  if (!root) return NULL;
  cJSON_AddStringToObject(root, "schema", FF_MERGED_SCHEMA);
  cJSON_AddStringToObject(root, "generator", "fusefss merge");
  cJSON *inputs = cJSON_AddObjectToObject(root, "inputs");
  cJSON_AddStringToObject(inputs, "p0", bd->inputs[0] ? bd->inputs[0] : "");
  cJSON_AddStringToObject(inputs, "p1", bd->inputs[1] ? bd->inputs[1] : "");
  cJSON_AddItemToObject(root, "run", bd->run ? cJSON_Duplicate(bd->run, 1) : cJSON_CreateObject());
  cJSON *runs = cJSON_AddArrayToObject(root, "runs");
  for (int p = 0; p < 2; p++)
    cJSON_AddItemToArray(runs, bd->runs[p] ? cJSON_Duplicate(bd->runs[p], 1) : cJSON_CreateObject());

  cJSON *conv = cJSON_AddObjectToObject(root, "conventions");
  cJSON_AddStringToObject(conv, "time", "max over parties per repetition; skew = max - min");
  cJSON_AddStringToObject(conv, "comp", "max over parties of (wall - wait)");
  cJSON_AddStringToObject(conv, "link_B", "sent_B_p0 + sent_B_p1 (each wire byte once)");
  cJSON_AddStringToObject(conv, "rounds", "max over parties");
  cJSON_AddStringToObject(conv, "exclusive", "inclusive - sum of children's inclusive, clamped at 0");
  cJSON_AddStringToObject(conv, "quantiles", "linear interpolation between order statistics (type 7)");
  cJSON *mnames = cJSON_AddArrayToObject(conv, "metrics");
  for (int m = 0; m < FF_M_COUNT; m++) cJSON_AddItemToArray(mnames, cJSON_CreateString(ff__metric_names[m]));

  cJSON *scopes = cJSON_AddArrayToObject(root, "scopes");
  for (size_t i = 0; i < bd->n_scopes; i++) {
    cJSON *s = cJSON_CreateObject();
    cJSON_AddStringToObject(s, "name", bd->scopes[i].name);
    cJSON_AddStringToObject(s, "family", bd->scopes[i].family);
    cJSON_AddItemToArray(scopes, s);
  }
  cJSON *warns = cJSON_AddArrayToObject(root, "warnings");
  for (size_t i = 0; i < bd->n_warnings; i++) cJSON_AddItemToArray(warns, cJSON_CreateString(bd->warnings[i]));

  cJSON *inv = cJSON_AddObjectToObject(root, "invariants");
  cJSON *inv_reps = cJSON_CreateArray();
  int all_ok = 1;
  for (size_t r = 0; r < bd->n_reps; r++) {
    const ff_metrics *t = &bd->reps[r].total;
    int ok = t->v[FF_M_SENT_P0] == t->v[FF_M_RECV_P1] && t->v[FF_M_SENT_P1] == t->v[FF_M_RECV_P0];
    all_ok &= ok;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "rep", bd->reps[r].rep);
    cJSON_AddNumberToObject(o, "p0_sent_B", t->v[FF_M_SENT_P0]);
    cJSON_AddNumberToObject(o, "p1_recv_B", t->v[FF_M_RECV_P1]);
    cJSON_AddNumberToObject(o, "p1_sent_B", t->v[FF_M_SENT_P1]);
    cJSON_AddNumberToObject(o, "p0_recv_B", t->v[FF_M_RECV_P0]);
    cJSON_AddBoolToObject(o, "ok", ok);
    cJSON_AddItemToArray(inv_reps, o);
  }
  cJSON_AddBoolToObject(inv, "ok", all_ok);
  cJSON_AddStringToObject(inv, "rule", "per repetition, exact: P0 sent = P1 received and P1 sent = P0 received");
  cJSON_AddNumberToObject(inv, "path_mismatches", (double)bd->path_mismatches);
  cJSON_AddItemToObject(inv, "reps", inv_reps);

  cJSON *nodes = cJSON_AddArrayToObject(root, "nodes");
  for (size_t i = 0; i < bd->n_nodes; i++) {
    const ff_bd_node *nd = &bd->nodes[i];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "index", (double)i);
    cJSON_AddStringToObject(o, "path", nd->path);
    cJSON_AddNumberToObject(o, "parent", nd->parent);
    cJSON_AddStringToObject(o, "scope", bd->scopes[nd->scope].name);
    cJSON_AddStringToObject(o, "family", bd->scopes[nd->scope].family);
    cJSON_AddStringToObject(o, "owner_family", nd->owner_family);
    cJSON_AddNumberToObject(o, "layer", nd->layer);
    cJSON_AddNumberToObject(o, "eff_layer", nd->eff_layer);
    cJSON_AddNumberToObject(o, "depth", nd->depth);
    cJSON_AddItemToArray(nodes, o);
  }

  cJSON *reps = cJSON_AddArrayToObject(root, "reps");
  for (size_t r = 0; r < bd->n_reps; r++) {
    const ff_bd_rep *rep = &bd->reps[r];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "rep", rep->rep);
    cJSON_AddBoolToObject(o, "warmup", rep->warmup);
    cJSON_AddItemToObject(o, "total", ff__metrics_json(&rep->total));
    cJSON_AddItemToObject(o, "other", ff__metrics_json(&rep->other));
    cJSON *rn = cJSON_AddArrayToObject(o, "nodes");
    for (size_t i = 0; i < bd->n_nodes; i++) {
      cJSON *no = cJSON_CreateObject();
      cJSON_AddStringToObject(no, "path", bd->nodes[i].path);
      cJSON_AddItemToObject(no, "incl", ff__metrics_json(&rep->incl[i]));
      cJSON_AddItemToObject(no, "excl", ff__metrics_json(&rep->excl[i]));
      cJSON_AddItemToArray(rn, no);
    }
    cJSON_AddItemToArray(reps, o);
  }

  cJSON *stats = cJSON_AddObjectToObject(root, "stats");
  size_t counted = ff_breakdown_counted_reps(bd);
  cJSON_AddNumberToObject(stats, "counted_reps", (double)counted);
  cJSON_AddNumberToObject(stats, "warmup_reps", (double)(bd->n_reps - counted));
  cJSON_AddItemToObject(stats, "total", ff__row_stats_json(bd, FF_BD_TOTAL, 0));
  cJSON_AddItemToObject(stats, "other", ff__row_stats_json(bd, FF_BD_OTHER, 0));
  cJSON *sn = cJSON_AddArrayToObject(stats, "nodes");
  for (size_t i = 0; i < bd->n_nodes; i++) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "path", bd->nodes[i].path);
    cJSON_AddItemToObject(o, "incl", ff__row_stats_json(bd, (int)i, 0));
    cJSON_AddItemToObject(o, "excl", ff__row_stats_json(bd, (int)i, 1));
    cJSON_AddItemToArray(sn, o);
  }
  return root;
}

ff_status ff_breakdown_write(const ff_breakdown *bd, const char *path) {
  cJSON *root = ff_breakdown_to_json(bd);
  char *text = root ? cJSON_Print(root) : NULL;
  cJSON_Delete(root);
  if (!text) {
    FF_ERROR("cannot build the merged JSON document: out of memory");
    return FF_ENOMEM;
  }
  /* Temp file and rename: a full disk leaves the previous merged file whole. */
  size_t len = strlen(text);
  text[len] = '\n'; /* cJSON_Print's NUL becomes the final newline */
  ff_status st = ff_write_file_atomic(path, text, len + 1, 0644);
  free(text);
  return st;
}

/* ---- Loading ------------------------------------------------------------------------------------ */

/* Reads a metrics object; on a missing or bad key logs "<file>: <ctx>.<key>" and fails. */
static ff_status ff__metrics_read(const cJSON *o, ff_metrics *x, const char *file, const char *ctx) {
  if (!cJSON_IsObject(o)) {
    FF_ERROR("%s: field %s is missing or not an object", file, ctx);
    return FF_EFORMAT;
  }
  for (int m = 0; m < FF_M_COUNT; m++) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, ff__metric_names[m]);
    /* Counts of ns, bytes, messages, rounds: above 2^53 (104 days, 9 PB) no measurement. */
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < 0 || v->valuedouble > 9007199254740992.0) {
      FF_ERROR("%s: field %s.%s is missing or not a number in 0..2^53", file, ctx, ff__metric_names[m]);
      return FF_EFORMAT;
    }
    x->v[m] = v->valuedouble;
  }
  return FF_OK;
}

static const char *ff__str(const cJSON *o, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int ff__int(const cJSON *o, const char *key, int *out) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || fabs(v->valuedouble) > 2e9) return -1;
  *out = (int)v->valuedouble;
  return 0;
}

ff_status ff_breakdown_load(const char *path, ff_breakdown **out) {
  *out = NULL;
  cJSON *root = NULL;
  ff_status st = ff_json_load_file(path, "merged breakdown", &root);
  if (st) return st;
  ff_breakdown *bd = NULL;
  st = ff__breakdown_new(&bd);
  if (st) goto done;
  st = FF_EFORMAT;
  bd->source = strdup(path);

  const char *schema = ff__str(root, "schema");
  if (!schema) {
    FF_ERROR("%s: no \"schema\" field: not a merged breakdown (expected schema %s, written by fusefss merge)",
             path, FF_MERGED_SCHEMA);
    goto done;
  }
  if (strcmp(schema, FF_MERGED_SCHEMA) != 0) {
    FF_ERROR("%s: schema is \"%s\", expected \"%s\"%s", path, schema, FF_MERGED_SCHEMA,
             strncmp(schema, "fusefss.prof/", 13) == 0 ? " (this is a per-party log: run `fusefss merge` first)" : "");
    goto done;
  }
  const cJSON *run = cJSON_GetObjectItemCaseSensitive(root, "run");
  if (!cJSON_IsObject(run)) {
    FF_ERROR("%s: field run is missing or not an object", path);
    goto done;
  }
  bd->run = cJSON_Duplicate(run, 1);
  const cJSON *runs = cJSON_GetObjectItemCaseSensitive(root, "runs");
  if (cJSON_IsArray(runs) && cJSON_GetArraySize(runs) == 2) {
    bd->runs[0] = cJSON_Duplicate(cJSON_GetArrayItem(runs, 0), 1);
    bd->runs[1] = cJSON_Duplicate(cJSON_GetArrayItem(runs, 1), 1);
  }
  const cJSON *inputs = cJSON_GetObjectItemCaseSensitive(root, "inputs");
  for (int p = 0; p < 2; p++) {
    const char *s = ff__str(inputs, p ? "p1" : "p0");
    if (s) bd->inputs[p] = strdup(s);
  }

  const cJSON *scopes = cJSON_GetObjectItemCaseSensitive(root, "scopes");
  if (!cJSON_IsArray(scopes)) {
    FF_ERROR("%s: field scopes is missing or not an array", path);
    goto done;
  }
  int si = 0;
  const cJSON *s;
  cJSON_ArrayForEach(s, scopes) {
    const char *name = ff__str(s, "name"), *fam = ff__str(s, "family");
    if (!name || !fam) {
      FF_ERROR("%s: field scopes[%d].%s is missing or not a string", path, si, name ? "family" : "name");
      goto done;
    }
    if (ff__breakdown_scope(bd, name, fam) < 0) {
      st = FF_ENOMEM;
      goto done;
    }
    si++;
  }

  const cJSON *nodes = cJSON_GetObjectItemCaseSensitive(root, "nodes");
  if (!cJSON_IsArray(nodes)) {
    FF_ERROR("%s: field nodes is missing or not an array", path);
    goto done;
  }
  int ni = 0;
  const cJSON *n;
  cJSON_ArrayForEach(n, nodes) {
    const char *np = ff__str(n, "path"), *sname = ff__str(n, "scope"), *fam = ff__str(n, "family");
    int parent, layer;
    const char *bad = !np ? "path" : !sname ? "scope" : !fam ? "family"
                    : ff__int(n, "parent", &parent) ? "parent" : ff__int(n, "layer", &layer) ? "layer" : NULL;
    if (bad) {
      FF_ERROR("%s: field nodes[%d].%s is missing or has the wrong type", path, ni, bad);
      goto done;
    }
    if (parent < -1 || parent >= ni) {
      FF_ERROR("%s: nodes[%d].parent = %d does not name an earlier node", path, ni, parent);
      goto done;
    }
    if (ff_breakdown_find(bd, np) >= 0) {
      FF_ERROR("%s: nodes[%d]: path \"%s\" appears twice", path, ni, np);
      goto done;
    }
    int sc = ff__breakdown_scope(bd, sname, fam);
    if (sc < 0 || ff__breakdown_add_node(bd, np, parent, sc, layer) < 0) {
      st = FF_ENOMEM;
      goto done;
    }
    ni++;
  }
  ff__breakdown_index(bd);

  const cJSON *reps = cJSON_GetObjectItemCaseSensitive(root, "reps");
  if (!cJSON_IsArray(reps) || cJSON_GetArraySize(reps) == 0) {
    FF_ERROR("%s: field reps is missing, not an array or empty", path);
    goto done;
  }
  if (ff__breakdown_alloc_reps(bd, (size_t)cJSON_GetArraySize(reps))) {
    st = FF_ENOMEM;
    goto done;
  }
  size_t r = 0;
  const cJSON *rep;
  cJSON_ArrayForEach(rep, reps) {
    ff_bd_rep *br = &bd->reps[r];
    char ctx[96];
    const cJSON *wu = cJSON_GetObjectItemCaseSensitive(rep, "warmup");
    if (ff__int(rep, "rep", &br->rep) || !cJSON_IsBool(wu)) {
      FF_ERROR("%s: field reps[%zu].%s is missing or has the wrong type", path, r, cJSON_IsBool(wu) ? "rep" : "warmup");
      goto done;
    }
    br->warmup = cJSON_IsTrue(wu);
    snprintf(ctx, sizeof ctx, "reps[%zu].total", r);
    if (ff__metrics_read(cJSON_GetObjectItemCaseSensitive(rep, "total"), &br->total, path, ctx)) goto done;
    snprintf(ctx, sizeof ctx, "reps[%zu].other", r);
    if (ff__metrics_read(cJSON_GetObjectItemCaseSensitive(rep, "other"), &br->other, path, ctx)) goto done;
    const cJSON *rn = cJSON_GetObjectItemCaseSensitive(rep, "nodes");
    if (!cJSON_IsArray(rn) || (size_t)cJSON_GetArraySize(rn) != bd->n_nodes) {
      FF_ERROR("%s: field reps[%zu].nodes is missing or does not have one entry per node (%zu)", path, r,
               bd->n_nodes);
      goto done;
    }
    size_t i = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, rn) {
      const char *xp = ff__str(x, "path");
      if (xp && strcmp(xp, bd->nodes[i].path) != 0) {
        FF_ERROR("%s: reps[%zu].nodes[%zu] is \"%s\" but nodes[%zu] is \"%s\"", path, r, i, xp, i, bd->nodes[i].path);
        goto done;
      }
      snprintf(ctx, sizeof ctx, "reps[%zu].nodes[%zu].incl", r, i);
      if (ff__metrics_read(cJSON_GetObjectItemCaseSensitive(x, "incl"), &br->incl[i], path, ctx)) goto done;
      snprintf(ctx, sizeof ctx, "reps[%zu].nodes[%zu].excl", r, i);
      if (ff__metrics_read(cJSON_GetObjectItemCaseSensitive(x, "excl"), &br->excl[i], path, ctx)) goto done;
      i++;
    }
    r++;
  }
  if (ff_breakdown_counted_reps(bd) == 0) {
    FF_ERROR("%s: every repetition is a warm-up: nothing to take statistics of", path);
    goto done;
  }

  /* Warnings are kept (not re-logged): they were printed when the file was merged. */
  const cJSON *warns = cJSON_GetObjectItemCaseSensitive(root, "warnings");
  const cJSON *w;
  cJSON_ArrayForEach(w, warns) {
    if (!cJSON_IsString(w)) continue;
    char **nw = realloc(bd->warnings, (bd->n_warnings + 1) * sizeof *nw);
    if (!nw) break;
    bd->warnings = nw;
    if ((bd->warnings[bd->n_warnings] = strdup(w->valuestring))) bd->n_warnings++;
  }
  const cJSON *inv = cJSON_GetObjectItemCaseSensitive(root, "invariants");
  const cJSON *pm = cJSON_GetObjectItemCaseSensitive(inv, "path_mismatches");
  if (cJSON_IsNumber(pm)) {
    /* A count like the metrics: converting a double outside size_t's range is undefined (found by fuzzing). */
    if (!(pm->valuedouble >= 0 && pm->valuedouble <= 9007199254740992.0) || pm->valuedouble != floor(pm->valuedouble)) {
      FF_ERROR("%s: field invariants.path_mismatches is not a count in 0..2^53 (%g)", path, pm->valuedouble);
      goto done;
    }
    bd->path_mismatches = (size_t)pm->valuedouble;
  }
  st = FF_OK;

done:
  cJSON_Delete(root);
  if (st) {
    ff_breakdown_free(bd);
    return st;
  }
  *out = bd;
  return FF_OK;
}
