/* `fusefss report`: per-scope/family/layer/name tables of a merged breakdown (Markdown, CSV, JSON) and
 * the human summary with the coverage line. DESIGN.md §6; research/profiling.md §7(d).
 * Test: tests/test_merge.c (report cases). */
#include "tools/lib/analysis.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"

/* ---- Markdown table ----------------------------------------------------------------------------- */

void ff_md_table_init(ff_md_table *t, const char *align) {
  memset(t, 0, sizeof *t);
  snprintf(t->align, sizeof t->align, "%s", align);
  t->n_cols = strlen(t->align);
}

ff_status ff_md_table_row(ff_md_table *t, const char *const *cells) {
  if (t->n_rows == t->cap) {
    size_t ncap = t->cap ? t->cap * 2 : 16;
    char **nc = realloc(t->cells, ncap * t->n_cols * sizeof *nc);
    if (!nc) return FF_ENOMEM;
    t->cells = nc;
    t->cap = ncap;
  }
  for (size_t c = 0; c < t->n_cols; c++) {
    char *s = strdup(cells[c] ? cells[c] : "");
    if (!s) {
      while (c-- > 0) free(t->cells[t->n_rows * t->n_cols + c]);
      return FF_ENOMEM;
    }
    t->cells[t->n_rows * t->n_cols + c] = s;
  }
  t->n_rows++;
  return FF_OK;
}

/* Display width in columns: counts UTF-8 lead bytes only, so "–" and "·" count once. */
static size_t ff__width(const char *s) {
  size_t w = 0;
  for (; *s; s++) w += ((unsigned char)*s & 0xC0) != 0x80;
  return w;
}

void ff_md_table_print(const ff_md_table *t, FILE *f) {
  if (!t->n_rows) return;
  size_t width[32] = {0};
  for (size_t r = 0; r < t->n_rows; r++)
    for (size_t c = 0; c < t->n_cols; c++) {
      size_t w = ff__width(t->cells[r * t->n_cols + c]);
      if (w > width[c]) width[c] = w;
    }
  for (size_t r = 0; r < t->n_rows; r++) {
    fputc('|', f);
    for (size_t c = 0; c < t->n_cols; c++) {
      const char *s = t->cells[r * t->n_cols + c];
      int pad = (int)(width[c] - ff__width(s));
      if (t->align[c] == 'r')
        fprintf(f, " %*s%s |", pad, "", s);
      else
        fprintf(f, " %s%*s |", s, pad, "");
    }
    fputc('\n', f);
    if (r == 0) { /* the separator row, with alignment colons */
      fputc('|', f);
      for (size_t c = 0; c < t->n_cols; c++) {
        size_t w = width[c] < 3 ? 3 : width[c];
        fputc(t->align[c] == 'r' ? '-' : ':', f);
        for (size_t i = 0; i < w; i++) fputc('-', f);
        fputs(t->align[c] == 'r' ? ":|" : "-|", f);
      }
      fputc('\n', f);
    }
  }
}

void ff_md_table_free(ff_md_table *t) {
  for (size_t i = 0; i < t->n_rows * t->n_cols; i++) free(t->cells[i]);
  free(t->cells);
  memset(t, 0, sizeof *t);
}

/* ---- Computing the report ----------------------------------------------------------------------- */

static int ff__row_cmp_time_desc(const void *a, const void *b) {
  const ff_report_row *x = a, *y = b;
  int ox = x->node == FF_BD_OTHER || strcmp(x->key, "Other") == 0;
  int oy = y->node == FF_BD_OTHER || strcmp(y->key, "Other") == 0;
  if (ox != oy) return ox - oy; /* the row holding Other goes last */
  if (x->time.median != y->time.median) return x->time.median < y->time.median ? 1 : -1;
  return strcmp(x->key, y->key);
}

ff_status ff_report_compute(const ff_breakdown *bd, ff_group_by by, ff_report *out) {
  memset(out, 0, sizeof *out);
  out->by = by;
  out->reps_counted = ff_breakdown_counted_reps(bd);
  out->reps_warmup = bd->n_reps - out->reps_counted;
  ff_status st;
  if ((st = ff_breakdown_stats(bd, FF_BD_TOTAL, 0, FF_M_WALL, &out->total_wall)) ||
      (st = ff_breakdown_stats(bd, FF_BD_TOTAL, 0, FF_M_LINK, &out->total_link)) ||
      (st = ff_breakdown_stats(bd, FF_BD_TOTAL, 0, FF_M_ROUNDS, &out->total_rounds)) ||
      (st = ff_breakdown_stats(bd, FF_BD_OTHER, 0, FF_M_WALL, &out->other_wall)) ||
      (st = ff_breakdown_stats(bd, FF_BD_OTHER, 0, FF_M_LINK, &out->other_link)))
    return st;
  out->other_time_pct = out->total_wall.median > 0 ? 100.0 * out->other_wall.median / out->total_wall.median : 0;
  out->other_bytes_pct = out->total_link.median > 0 ? 100.0 * out->other_link.median / out->total_link.median : 0;

  ff_grouping g;
  if ((st = ff_breakdown_group(bd, by, &g))) return st;
  out->rows = calloc(g.n_rows ? g.n_rows : 1, sizeof *out->rows);
  if (!out->rows) {
    ff_grouping_free(&g);
    return FF_ENOMEM;
  }
  /* By scope the time column is inclusive (a node contains its children); grouped views sum
   * exclusive values so that the rows add up to the total. */
  int ex = by != FF_GROUP_SCOPE;
  for (size_t i = 0; i < g.n_rows; i++) {
    ff_report_row *row = &out->rows[i];
    row->key = strdup(g.rows[i].key);
    if (!row->key) {
      ff_grouping_free(&g);
      ff_report_free(out);
      return FF_ENOMEM;
    }
    out->n_rows++;
    row->depth = g.rows[i].depth;
    row->node = g.rows[i].node;
    ff_group_stats(&g, i, ex, FF_M_WALL, &row->time);
    ff_group_stats(&g, i, 1, FF_M_WALL, &row->excl);
    ff_group_stats(&g, i, ex, FF_M_LINK, &row->link);
    ff_group_stats(&g, i, ex, FF_M_SENT_P0, &row->sent_p0);
    ff_group_stats(&g, i, ex, FF_M_SENT_P1, &row->sent_p1);
    ff_group_stats(&g, i, ex, FF_M_ROUNDS, &row->rounds);
    ff_group_stats(&g, i, ex, FF_M_CALLS, &row->calls);
    ff_group_stats(&g, i, ex, FF_M_WAIT, &row->wait);
    ff_group_stats(&g, i, ex, FF_M_WALL_SKEW, &row->skew);
    row->share = out->total_wall.median > 0 ? 100.0 * row->time.median / out->total_wall.median : 0;
  }
  ff_grouping_free(&g);
  if (by == FF_GROUP_FAMILY || by == FF_GROUP_NAME) {
    qsort(out->rows, out->n_rows, sizeof *out->rows, ff__row_cmp_time_desc);
  }
  /* The three largest rows by exclusive time (ties keep table order). */
  for (size_t k = 0; k < 3 && k < out->n_rows; k++) {
    size_t best = (size_t)-1;
    for (size_t i = 0; i < out->n_rows; i++) {
      int taken = 0;
      for (size_t j = 0; j < k; j++) taken |= out->top[j] == i;
      if (taken) continue;
      if (best == (size_t)-1 || out->rows[i].excl.median > out->rows[best].excl.median) best = i;
    }
    out->top[out->n_top++] = best;
  }
  return FF_OK;
}

void ff_report_free(ff_report *r) {
  for (size_t i = 0; r && i < r->n_rows; i++) free(r->rows[i].key);
  if (r) free(r->rows);
  if (r) memset(r, 0, sizeof *r);
}

/* ---- Output ------------------------------------------------------------------------------------- */

const char *ff_report_header(const ff_breakdown *bd, char *buf, size_t n) {
  const char *rid = ff_breakdown_run_str(bd, "run_id");
  const char *tool = ff_breakdown_run_str(bd, "tool");
  const char *backend = ff_breakdown_run_str(bd, "backend");
  const cJSON *wl = cJSON_GetObjectItemCaseSensitive(bd->run, "workload");
  char *wtext = wl ? cJSON_PrintUnformatted(wl) : NULL;
  char wbuf[160];
  snprintf(wbuf, sizeof wbuf, "%s", wtext ? wtext : "(none)");
  if (wtext && strlen(wtext) >= sizeof wbuf) memcpy(wbuf + sizeof wbuf - 4, "...", 4);
  free(wtext);
  size_t counted = ff_breakdown_counted_reps(bd);
  snprintf(buf, n, "run %s · tool %s · workload %s · backend %s · %zu reps counted (%zu warm-up excluded)",
           rid ? rid : "?", tool ? tool : "?", wbuf, backend ? backend : "?", counted, bd->n_reps - counted);
  return buf;
}

static const char *ff__fmt_count(double v, char *buf, size_t n) {
  if (v == floor(v))
    snprintf(buf, n, "%.0f", v);
  else
    snprintf(buf, n, "%.1f", v);
  return buf;
}

const char *ff_report_scope_label(const char *path, int depth, char *buf, size_t n) {
  const char *slash = strrchr(path, '/');
  size_t off = 0;
  buf[0] = 0;
  for (int d = 0; d < depth && off + 4 < n; d++) off += (size_t)snprintf(buf + off, n - off, "· ");
  snprintf(buf + off, n - off, "%s", slash ? slash + 1 : path);
  return buf;
}

/* The row's label in the Markdown table: by scope the last path component indented by depth. */
static const char *ff__row_label(const ff_report *r, const ff_report_row *row, char *buf, size_t n) {
  if (row->node == FF_BD_OTHER) {
    snprintf(buf, n, "Other (unattributed)");
  } else if (r->by == FF_GROUP_SCOPE) {
    ff_report_scope_label(row->key, row->depth, buf, n);
  } else if (r->by == FF_GROUP_LAYER && strcmp(row->key, "none") != 0 && strcmp(row->key, "Other") != 0) {
    snprintf(buf, n, "Layer %s", row->key);
  } else {
    snprintf(buf, n, "%s", row->key);
  }
  return buf;
}

void ff_report_print_md(FILE *f, const ff_breakdown *bd, const ff_report *r) {
  char hdr[512];
  fprintf(f, "# fusefss report, by %s\n\n%s\n\n", ff_group_by_name(r->by), ff_report_header(bd, hdr, sizeof hdr));
  ff_md_table t;
  ff_md_table_init(&t, "lrrrrrrrrrrr");
  const char *time_col = r->by == FF_GROUP_SCOPE ? "time (incl)" : "time (excl sum)";
  ff_md_table_row(&t, (const char *[]){ff_group_by_name(r->by), time_col, "share", "excl", "p25–p75", "link",
                                       "P0 sent", "P1 sent", "rounds", "calls", "blocked", "skew"});
  for (size_t i = 0; i <= r->n_rows; i++) {
    const ff_report_row *row = i < r->n_rows ? &r->rows[i] : NULL;
    char lab[256], tm[32], sh[16], ex[32], iq[80], q1[32], q3[32], ln[32], s0[32], s1[32], rd[32], cl[32], wt[32],
        sk[32];
    if (row) {
      ff__row_label(r, row, lab, sizeof lab);
      snprintf(sh, sizeof sh, "%.1f%%", row->share);
      snprintf(iq, sizeof iq, "%s – %s", ff_fmt_ns(row->time.p25, q1, sizeof q1),
               ff_fmt_ns(row->time.p75, q3, sizeof q3));
      ff_md_table_row(&t, (const char *[]){lab, ff_fmt_ns(row->time.median, tm, sizeof tm), sh,
                                           ff_fmt_ns(row->excl.median, ex, sizeof ex), iq,
                                           ff_fmt_bytes(row->link.median, ln, sizeof ln),
                                           ff_fmt_bytes(row->sent_p0.median, s0, sizeof s0),
                                           ff_fmt_bytes(row->sent_p1.median, s1, sizeof s1),
                                           ff__fmt_count(row->rounds.median, rd, sizeof rd),
                                           ff__fmt_count(row->calls.median, cl, sizeof cl),
                                           ff_fmt_ns(row->wait.median, wt, sizeof wt),
                                           ff_fmt_ns(row->skew.median, sk, sizeof sk)});
    } else { /* the total row: the merged repetition totals, not a sum of the rows */
      ff_stats s0s, s1s, ws, sks;
      ff_breakdown_stats(bd, FF_BD_TOTAL, 0, FF_M_SENT_P0, &s0s);
      ff_breakdown_stats(bd, FF_BD_TOTAL, 0, FF_M_SENT_P1, &s1s);
      ff_breakdown_stats(bd, FF_BD_TOTAL, 0, FF_M_WAIT, &ws);
      ff_breakdown_stats(bd, FF_BD_TOTAL, 0, FF_M_WALL_SKEW, &sks);
      snprintf(iq, sizeof iq, "%s – %s", ff_fmt_ns(r->total_wall.p25, q1, sizeof q1),
               ff_fmt_ns(r->total_wall.p75, q3, sizeof q3));
      ff_md_table_row(&t, (const char *[]){"**total**", ff_fmt_ns(r->total_wall.median, tm, sizeof tm), "100.0%",
                                           "", iq, ff_fmt_bytes(r->total_link.median, ln, sizeof ln),
                                           ff_fmt_bytes(s0s.median, s0, sizeof s0),
                                           ff_fmt_bytes(s1s.median, s1, sizeof s1),
                                           ff__fmt_count(r->total_rounds.median, rd, sizeof rd), "",
                                           ff_fmt_ns(ws.median, wt, sizeof wt), ff_fmt_ns(sks.median, sk, sizeof sk)});
    }
  }
  ff_md_table_print(&t, f);
  ff_md_table_free(&t);
  fputc('\n', f);
}

static void ff__csv_field(FILE *f, const char *s) {
  if (strpbrk(s, ",\"\n")) {
    fputc('"', f);
    for (; *s; s++) {
      if (*s == '"') fputc('"', f);
      fputc(*s, f);
    }
    fputc('"', f);
  } else {
    fputs(s, f);
  }
}

void ff_report_print_csv(FILE *f, const ff_report *r) {
  fprintf(f, "%s,depth,time_ns_median,time_ns_p25,time_ns_p75,share_pct,excl_ns_median,link_B,sent_B_p0,"
             "sent_B_p1,rounds,calls,wait_ns,skew_ns\n",
          r->by == FF_GROUP_SCOPE ? "path" : ff_group_by_name(r->by));
  for (size_t i = 0; i < r->n_rows; i++) {
    const ff_report_row *w = &r->rows[i];
    ff__csv_field(f, w->key);
    fprintf(f, ",%d,%.17g,%.17g,%.17g,%.6g,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g\n", w->depth,
            w->time.median, w->time.p25, w->time.p75, w->share, w->excl.median, w->link.median, w->sent_p0.median,
            w->sent_p1.median, w->rounds.median, w->calls.median, w->wait.median, w->skew.median);
  }
}

void ff_report_print_json(FILE *f, const ff_breakdown *bd, const ff_report *r) {
  cJSON *root = cJSON_CreateObject();
  cJSON_AddStringToObject(root, "schema", "fusefss.report/1");
  const char *rid = ff_breakdown_run_str(bd, "run_id"), *tool = ff_breakdown_run_str(bd, "tool"),
             *backend = ff_breakdown_run_str(bd, "backend");
  cJSON_AddStringToObject(root, "run_id", rid ? rid : "");
  cJSON_AddStringToObject(root, "tool", tool ? tool : "");
  cJSON_AddStringToObject(root, "backend", backend ? backend : "");
  const cJSON *wl = cJSON_GetObjectItemCaseSensitive(bd->run, "workload");
  cJSON_AddItemToObject(root, "workload", wl ? cJSON_Duplicate(wl, 1) : cJSON_CreateNull());
  cJSON_AddStringToObject(root, "by", ff_group_by_name(r->by));
  cJSON_AddStringToObject(root, "time", r->by == FF_GROUP_SCOPE ? "inclusive" : "exclusive sum");
  cJSON_AddNumberToObject(root, "reps_counted", (double)r->reps_counted);
  cJSON_AddNumberToObject(root, "reps_warmup", (double)r->reps_warmup);
  cJSON *tot = cJSON_AddObjectToObject(root, "total");
  cJSON_AddItemToObject(tot, "wall_ns", ff_stats_to_json(&r->total_wall));
  cJSON_AddItemToObject(tot, "link_B", ff_stats_to_json(&r->total_link));
  cJSON_AddItemToObject(tot, "rounds", ff_stats_to_json(&r->total_rounds));
  cJSON *rows = cJSON_AddArrayToObject(root, "rows");
  for (size_t i = 0; i < r->n_rows; i++) {
    const ff_report_row *w = &r->rows[i];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "key", w->key);
    cJSON_AddNumberToObject(o, "depth", w->depth);
    cJSON_AddBoolToObject(o, "unattributed", w->node == FF_BD_OTHER);
    cJSON_AddItemToObject(o, "time_ns", ff_stats_to_json(&w->time));
    cJSON_AddNumberToObject(o, "share_pct", w->share);
    cJSON_AddItemToObject(o, "excl_ns", ff_stats_to_json(&w->excl));
    cJSON_AddItemToObject(o, "link_B", ff_stats_to_json(&w->link));
    cJSON_AddItemToObject(o, "sent_B_p0", ff_stats_to_json(&w->sent_p0));
    cJSON_AddItemToObject(o, "sent_B_p1", ff_stats_to_json(&w->sent_p1));
    cJSON_AddItemToObject(o, "rounds", ff_stats_to_json(&w->rounds));
    cJSON_AddItemToObject(o, "calls", ff_stats_to_json(&w->calls));
    cJSON_AddItemToObject(o, "wait_ns", ff_stats_to_json(&w->wait));
    cJSON_AddItemToObject(o, "skew_ns", ff_stats_to_json(&w->skew));
    cJSON_AddItemToArray(rows, o);
  }
  cJSON *cov = cJSON_AddObjectToObject(root, "coverage");
  cJSON_AddNumberToObject(cov, "other_time_pct", r->other_time_pct);
  cJSON_AddNumberToObject(cov, "other_bytes_pct", r->other_bytes_pct);
  char *text = cJSON_Print(root);
  if (text) fprintf(f, "%s\n", text);
  free(text);
  cJSON_Delete(root);
}

void ff_report_print_summary(FILE *f, const ff_breakdown *bd, const ff_report *r) {
  char a[32], b[32], c[32], d[32], e[32];
  fprintf(f, "total: %s median (p25–p75 %s – %s) over %zu counted repetitions; link %s; %s rounds\n",
          ff_fmt_ns(r->total_wall.median, a, sizeof a), ff_fmt_ns(r->total_wall.p25, b, sizeof b),
          ff_fmt_ns(r->total_wall.p75, c, sizeof c), r->reps_counted, ff_fmt_bytes(r->total_link.median, d, sizeof d),
          ff__fmt_count(r->total_rounds.median, e, sizeof e));
  fprintf(f, "largest by exclusive time:");
  for (size_t k = 0; k < r->n_top; k++) {
    const ff_report_row *w = &r->rows[r->top[k]];
    double pct = r->total_wall.median > 0 ? 100.0 * w->excl.median / r->total_wall.median : 0;
    char lab[256];
    if (r->by == FF_GROUP_SCOPE || w->node == FF_BD_OTHER) /* the full path says where it is */
      snprintf(lab, sizeof lab, "%s", w->node == FF_BD_OTHER ? "Other" : w->key);
    else
      ff__row_label(r, w, lab, sizeof lab);
    fprintf(f, "%s %s %s (%.1f%%)", k ? "," : "", lab, ff_fmt_ns(w->excl.median, a, sizeof a), pct);
  }
  fprintf(f, "\nunattributed (Other): %.1f%% of time, %.1f%% of bytes\n", r->other_time_pct, r->other_bytes_pct);
  if (bd->n_warnings)
    fprintf(f, "%zu merge warning(s): see \"warnings\" in %s\n", bd->n_warnings,
            bd->source ? bd->source : "the merged file");
}

/* ---- One repetition by scope name (no merge) ------------------------------------------------------- */

typedef struct {
  int scope;
  uint64_t calls, wall_ns, cuda_ns; /* exclusive */
} ff__name_row;

static int ff__name_row_cmp(const void *a, const void *b) {
  const ff__name_row *x = a, *y = b;
  return x->wall_ns < y->wall_ns ? 1 : x->wall_ns > y->wall_ns ? -1 : x->scope - y->scope;
}

static const char *ff__ms(uint64_t ns, char *buf, size_t n) {
  snprintf(buf, n, "%.3f", (double)ns * 1e-6);
  return buf;
}

ff_status ff_rep_print_by_name(FILE *f, const ff_prof_rep *rep) {
  const size_t nn = rep->n_nodes;
  const int n_names = ff_scope_count();
  /* Exclusive time of each node: its own less its children's (parents precede children). */
  uint64_t *ex_wall = calloc(nn ? nn : 1, sizeof *ex_wall), *ex_cuda = calloc(nn ? nn : 1, sizeof *ex_cuda);
  ff__name_row *rows = calloc((size_t)(n_names > 0 ? n_names : 1), sizeof *rows);
  ff_status st = FF_ENOMEM;
  ff_md_table t;
  ff_md_table_init(&t, rep->cuda_ns ? "lrrrr" : "lrrr");
  if (!ex_wall || !ex_cuda || !rows) goto done;
  uint64_t top_wall = 0, top_cuda = 0;
  for (size_t i = 0; i < nn; i++) {
    ex_wall[i] = rep->nodes[i].wall_ns;
    ex_cuda[i] = rep->nodes[i].cuda_ns;
  }
  for (size_t i = 0; i < nn; i++) {
    const int32_t par = rep->nodes[i].parent;
    if (par < 0) {
      top_wall += rep->nodes[i].wall_ns;
      top_cuda += rep->nodes[i].cuda_ns;
      continue;
    }
    /* Clamped at 0: a child's CUDA span may end after its parent's last event on another stream. */
    ex_wall[par] = ex_wall[par] > rep->nodes[i].wall_ns ? ex_wall[par] - rep->nodes[i].wall_ns : 0;
    ex_cuda[par] = ex_cuda[par] > rep->nodes[i].cuda_ns ? ex_cuda[par] - rep->nodes[i].cuda_ns : 0;
  }
  int n_rows = 0;
  for (size_t i = 0; i < nn; i++) {
    const int sc = rep->nodes[i].scope;
    int r = 0;
    while (r < n_rows && rows[r].scope != sc) r++;
    if (r == n_rows) rows[n_rows++].scope = sc;
    rows[r].calls += rep->nodes[i].calls;
    rows[r].wall_ns += ex_wall[i];
    rows[r].cuda_ns += ex_cuda[i];
  }
  qsort(rows, (size_t)n_rows, sizeof *rows, ff__name_row_cmp);
  const double total = rep->wall_ns ? (double)rep->wall_ns : 1;
  char a[32], b[32], c[32], d[32];
  if ((st = ff_md_table_row(&t, (const char *[]){"scope (exclusive)", "calls", "wall ms", "share", "CUDA ms"})))
    goto done;
  for (int r = 0; r < n_rows; r++) {
    snprintf(a, sizeof a, "%" PRIu64, rows[r].calls);
    snprintf(c, sizeof c, "%.1f %%", 100.0 * (double)rows[r].wall_ns / total);
    if ((st = ff_md_table_row(&t, (const char *[]){ff_scope_name(rows[r].scope), a, ff__ms(rows[r].wall_ns, b, sizeof b),
                                                    c, ff__ms(rows[r].cuda_ns, d, sizeof d)})))
      goto done;
  }
  const uint64_t rest = rep->wall_ns > top_wall ? rep->wall_ns - top_wall : 0;
  const uint64_t rest_cuda = rep->cuda_ns > top_cuda ? rep->cuda_ns - top_cuda : 0;
  snprintf(c, sizeof c, "%.1f %%", 100.0 * (double)rest / total);
  if ((st = ff_md_table_row(&t, (const char *[]){"(no scope)", "", ff__ms(rest, b, sizeof b), c,
                                                  ff__ms(rest_cuda, d, sizeof d)})))
    goto done;
  if ((st = ff_md_table_row(&t, (const char *[]){"total", "", ff__ms(rep->wall_ns, b, sizeof b), "100.0 %",
                                                  ff__ms(rep->cuda_ns, d, sizeof d)})))
    goto done;
  ff_md_table_print(&t, f);
  st = FF_OK;
done:
  ff_md_table_free(&t);
  free(ex_wall);
  free(ex_cuda);
  free(rows);
  return st;
}
