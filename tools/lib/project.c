/* LAN/WAN projection of a merged run under the seed and duplex conventions; comp is the merged
 * max over parties of (wall − wait), so the projection replaces measured waiting by modelled
 * transfer and latency. DESIGN.md §6; research/profiling.md §7(c) rule 5.
 * Test: tests/test_amdahl.c (project cases). */
#include "tools/lib/analysis.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

const char *ff_convention_name(ff_convention c) { return c == FF_CONV_SEED ? "seed" : "duplex"; }

const char *ff_convention_formula(ff_convention c) {
  return c == FF_CONV_SEED
             ? "T = comp + 2·link_B/bw + rounds·lat (the published formula: both directions serialised, conservative)"
             : "T = comp + max(sent_P0, sent_P1)/bw + rounds·lat (full duplex: each direction at bw, in parallel)";
}

int ff_convention_parse(const char *s) {
  if (s && strcmp(s, "seed") == 0) return FF_CONV_SEED;
  if (s && strcmp(s, "duplex") == 0) return FF_CONV_DUPLEX;
  return -1;
}

ff_network ff_network_lan(void) { return (ff_network){"LAN", 1e9, 0.5e6}; }
ff_network ff_network_wan(void) { return (ff_network){"WAN", 4e8, 4e6}; }

/* Fills a row from per-repetition metrics (n counted reps). */
static void ff__project_row(const ff_metrics *m, size_t n, const ff_network *net, ff_convention conv, double *tmp,
                            ff_proj_row *row) {
  for (size_t k = 0; k < n; k++) tmp[k] = m[k].v[FF_M_COMP];
  row->comp_ns = ff_stats_median(tmp, n);
  for (size_t k = 0; k < n; k++)
    tmp[k] = conv == FF_CONV_SEED ? m[k].v[FF_M_LINK] : fmax(m[k].v[FF_M_SENT_P0], m[k].v[FF_M_SENT_P1]);
  row->bytes_B = ff_stats_median(tmp, n);
  row->bytes_ns = (conv == FF_CONV_SEED ? 2.0 : 1.0) * row->bytes_B / net->bw_Bps * 1e9;
  for (size_t k = 0; k < n; k++) tmp[k] = m[k].v[FF_M_ROUNDS];
  row->rounds = ff_stats_median(tmp, n);
  row->lat_ns = row->rounds * net->lat_ns;
  row->T_ns = row->comp_ns + row->bytes_ns + row->lat_ns;
  for (size_t k = 0; k < n; k++) tmp[k] = m[k].v[FF_M_WALL];
  row->wall_ns = ff_stats_median(tmp, n);
}

ff_status ff_project_compute(const ff_breakdown *bd, const ff_network *net, ff_convention conv, ff_group_by by,
                             ff_projection *out) {
  memset(out, 0, sizeof *out);
  out->net = *net;
  out->conv = conv;
  out->by = by;
  if (!(net->bw_Bps > 0) || !(net->lat_ns >= 0)) {
    FF_ERROR("projection: bandwidth must be > 0 and latency >= 0 (got %g B/s, %g ns)", net->bw_Bps, net->lat_ns);
    return FF_EINVAL;
  }
  size_t n = ff_breakdown_counted_reps(bd);
  if (n == 0) {
    FF_ERROR("projection: no counted repetition");
    return FF_EINVAL;
  }
  double *tmp = malloc(n * sizeof *tmp);
  ff_metrics *tot = malloc(n * sizeof *tot);
  ff_grouping g;
  memset(&g, 0, sizeof g);
  ff_status st = FF_ENOMEM;
  if (!tmp || !tot) goto done;
  size_t k = 0;
  for (size_t r = 0; r < bd->n_reps; r++)
    if (!bd->reps[r].warmup) tot[k++] = bd->reps[r].total;
  out->total.key = strdup("total");
  if (!out->total.key) goto done;
  ff__project_row(tot, n, net, conv, tmp, &out->total);

  if ((st = ff_breakdown_group(bd, by, &g))) goto done;
  st = FF_ENOMEM;
  out->rows = calloc(g.n_rows ? g.n_rows : 1, sizeof *out->rows);
  if (!out->rows) goto done;
  for (size_t i = 0; i < g.n_rows; i++) {
    ff_proj_row *row = &out->rows[i];
    if (!(row->key = strdup(g.rows[i].key))) goto done;
    out->n_rows++;
    row->depth = g.rows[i].depth;
    /* Exclusive values, so that nothing is counted in two rows. */
    ff__project_row(g.rows[i].excl, g.n_reps, net, conv, tmp, row);
  }
  st = FF_OK;
done:
  free(tmp);
  free(tot);
  ff_grouping_free(&g);
  if (st) ff_projection_free(out);
  return st;
}

void ff_projection_free(ff_projection *p) {
  if (!p) return;
  free(p->total.key);
  for (size_t i = 0; i < p->n_rows; i++) free(p->rows[i].key);
  free(p->rows);
  memset(p, 0, sizeof *p);
}

/* ---- Output ------------------------------------------------------------------------------------- */

static const char *ff__fmt_bw(double Bps, char *buf, size_t n) {
  if (Bps >= 1e9)
    snprintf(buf, n, "%g GB/s", Bps / 1e9);
  else if (Bps >= 1e6)
    snprintf(buf, n, "%g MB/s", Bps / 1e6);
  else if (Bps >= 1e3)
    snprintf(buf, n, "%g kB/s", Bps / 1e3);
  else
    snprintf(buf, n, "%g B/s", Bps);
  return buf;
}

void ff_projection_print_md(FILE *f, const ff_projection *p) {
  char bw[32], lat[32], a[32], b[32], c[32], d[32], e[32], w[32];
  fprintf(f, "## %s: %s, %s per round, convention %s\n\n%s\n\n", p->net.name, ff__fmt_bw(p->net.bw_Bps, bw, sizeof bw),
          ff_fmt_ns(p->net.lat_ns, lat, sizeof lat), ff_convention_name(p->conv), ff_convention_formula(p->conv));
  const ff_proj_row *t = &p->total;
  fprintf(f, "total: T = %s comp + %s bytes (%s) + %s latency (%.0f rounds) = %s   (measured wall %s)\n\n",
          ff_fmt_ns(t->comp_ns, a, sizeof a), ff_fmt_ns(t->bytes_ns, b, sizeof b),
          ff_fmt_bytes(t->bytes_B, c, sizeof c),
          ff_fmt_ns(t->lat_ns, d, sizeof d), t->rounds, ff_fmt_ns(t->T_ns, e, sizeof e),
          ff_fmt_ns(t->wall_ns, w, sizeof w));
  ff_md_table tb;
  ff_md_table_init(&tb, "lrrrrrrr");
  ff_md_table_row(&tb, (const char *[]){ff_group_by_name(p->by), "comp (excl)", "bytes", "bytes term", "rounds",
                                        "latency term", "T", "share of T"});
  for (size_t i = 0; i < p->n_rows; i++) {
    const ff_proj_row *r = &p->rows[i];
    char lab[256], rd[32], sh[16];
    if (p->by == FF_GROUP_SCOPE && strcmp(r->key, "Other") != 0)
      ff_report_scope_label(r->key, r->depth, lab, sizeof lab);
    else
      snprintf(lab, sizeof lab, "%s", r->key);
    snprintf(rd, sizeof rd, "%.0f", r->rounds);
    snprintf(sh, sizeof sh, "%.1f%%", t->T_ns > 0 ? 100.0 * r->T_ns / t->T_ns : 0.0);
    ff_md_table_row(&tb, (const char *[]){lab, ff_fmt_ns(r->comp_ns, a, sizeof a),
                                          ff_fmt_bytes(r->bytes_B, c, sizeof c),
                                          ff_fmt_ns(r->bytes_ns, b, sizeof b), rd, ff_fmt_ns(r->lat_ns, d, sizeof d),
                                          ff_fmt_ns(r->T_ns, e, sizeof e), sh});
  }
  ff_md_table_print(&tb, f);
  ff_md_table_free(&tb);
  fputc('\n', f);
}

cJSON *ff_proj_row_to_json(const ff_proj_row *r) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "key", r->key);
  cJSON_AddNumberToObject(o, "comp_ns", r->comp_ns);
  cJSON_AddNumberToObject(o, "bytes_B", r->bytes_B);
  cJSON_AddNumberToObject(o, "bytes_ns", r->bytes_ns);
  cJSON_AddNumberToObject(o, "rounds", r->rounds);
  cJSON_AddNumberToObject(o, "lat_ns", r->lat_ns);
  cJSON_AddNumberToObject(o, "T_ns", r->T_ns);
  cJSON_AddNumberToObject(o, "wall_ns", r->wall_ns);
  return o;
}
