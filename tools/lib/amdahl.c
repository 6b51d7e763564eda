/* Per-component Amdahl reconciliation of two merged runs: f_i from the base run's family breakdown,
 * s_i from the runs or from a microbenchmark file, predicted vs measured speedup and a residual split
 * into its parts. DESIGN.md §6; research/profiling.md §6. Test: tests/test_amdahl.c. */
#include "tools/lib/analysis.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

/* ---- Microbenchmark file ------------------------------------------------------------------------ */

void ff_micro_free(ff_micro *m) {
  if (!m) return;
  for (size_t i = 0; i < m->n_gates; i++) {
    free(m->gates[i].gate);
    free(m->gates[i].family);
    free(m->gates[i].scope);
  }
  free(m->gates);
  free(m->source);
  free(m->base);
  free(m->cand);
  free(m);
}

static char *ff__dup_str(const cJSON *o, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  return cJSON_IsString(v) ? strdup(v->valuestring) : NULL;
}

static int ff__pos_num(const cJSON *o, const char *key, double *out) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble <= 0) return -1;
  *out = v->valuedouble;
  return 0;
}

ff_status ff_micro_load(const char *path, ff_micro **out) {
  *out = NULL;
  cJSON *root = NULL;
  ff_status st = ff_json_load_file(path, "microbenchmark file", &root);
  if (st) return st;
  st = FF_EFORMAT;
  ff_micro *m = calloc(1, sizeof *m);
  if (!m) {
    st = FF_ENOMEM;
    goto done;
  }
  m->source = strdup(path);
  const cJSON *schema = cJSON_GetObjectItemCaseSensitive(root, "schema");
  if (!cJSON_IsString(schema) || strcmp(schema->valuestring, FF_MICRO_SCHEMA) != 0) {
    FF_ERROR("%s: schema is %s%s%s, expected \"%s\"", path, cJSON_IsString(schema) ? "\"" : "",
             cJSON_IsString(schema) ? schema->valuestring : "missing", cJSON_IsString(schema) ? "\"" : "",
             FF_MICRO_SCHEMA);
    goto done;
  }
  m->base = ff__dup_str(root, "base");
  m->cand = ff__dup_str(root, "cand");
  const cJSON *gates = cJSON_GetObjectItemCaseSensitive(root, "gates");
  if (!cJSON_IsArray(gates) || cJSON_GetArraySize(gates) == 0) {
    FF_ERROR("%s: field gates is missing, not an array or empty", path);
    goto done;
  }
  m->gates = calloc((size_t)cJSON_GetArraySize(gates), sizeof *m->gates);
  if (!m->gates) {
    st = FF_ENOMEM;
    goto done;
  }
  const cJSON *g;
  cJSON_ArrayForEach(g, gates) {
    ff_micro_gate *mg = &m->gates[m->n_gates];
    size_t gi = m->n_gates++;
    mg->gate = ff__dup_str(g, "gate");
    mg->family = ff__dup_str(g, "family");
    mg->scope = ff__dup_str(g, "scope");
    const char *miss = !mg->gate ? "gate" : !mg->family ? "family" : !mg->scope ? "scope" : NULL;
    if (miss) {
      FF_ERROR("%s: field gates[%zu].%s is missing or not a string", path, gi, miss);
      goto done;
    }
    const cJSON *sp = cJSON_GetObjectItemCaseSensitive(g, "speedup");
    const char *bad = !cJSON_IsObject(sp) ? "speedup"
                    : ff__pos_num(sp, "median", &mg->s_median) ? "speedup.median"
                    : ff__pos_num(sp, "p25", &mg->s_p25) ? "speedup.p25"
                    : ff__pos_num(sp, "p75", &mg->s_p75) ? "speedup.p75" : NULL;
    if (bad) {
      FF_ERROR("%s: field gates[%zu].%s (gate %s) is missing or not a positive number", path, gi, bad, mg->gate);
      goto done;
    }
    double d;
    if (!ff__pos_num(cJSON_GetObjectItemCaseSensitive(g, "base_ns"), "median", &d)) mg->base_median_ns = d;
    if (!ff__pos_num(cJSON_GetObjectItemCaseSensitive(g, "cand_ns"), "median", &d)) mg->cand_median_ns = d;
  }
  st = FF_OK;
done:
  cJSON_Delete(root);
  if (st) {
    ff_micro_free(m);
    return st;
  }
  *out = m;
  return FF_OK;
}

/* ---- Computation -------------------------------------------------------------------------------- */

void ff_amdahl_free(ff_amdahl *a) {
  for (size_t i = 0; a && i < a->n_rows; i++) free(a->rows[i].name);
  if (a) free(a->rows);
  if (a) memset(a, 0, sizeof *a);
}

int ff_amdahl_find(const ff_amdahl *a, const char *name) {
  for (size_t i = 0; i < a->n_rows; i++)
    if (strcmp(a->rows[i].name, name) == 0) return (int)i;
  return -1;
}

static double ff__ratio(double a, double b) {
  if (b > 0) return a / b;
  return a > 0 ? INFINITY : NAN;
}

static ff_amdahl_row *ff__add_row(ff_amdahl *a, const char *name, int is_scope) {
  ff_amdahl_row *nr = realloc(a->rows, (a->n_rows + 1) * sizeof *nr);
  if (!nr) return NULL;
  a->rows = nr;
  ff_amdahl_row *r = &a->rows[a->n_rows];
  memset(r, 0, sizeof *r);
  if (!(r->name = strdup(name))) return NULL;
  r->is_scope = is_scope;
  a->n_rows++;
  return r;
}

/* Per counted repetition: the family's exclusive wall sum (from the grouping) minus the inclusive
 * wall of the targeted scopes' outermost nodes that it owns; returns the median. */
static double ff__family_rest(const ff_breakdown *bd, const ff_grouping *g, const char *family,
                              const ff_amdahl *a, double *full_median) {
  int gi = ff_grouping_find(g, family);
  *full_median = 0;
  if (gi < 0) return 0;
  size_t n = g->n_reps;
  double *full = malloc(n * sizeof *full), *rest = malloc(n * sizeof *rest);
  if (!full || !rest) {
    free(full);
    free(rest);
    return 0;
  }
  for (size_t k = 0; k < n; k++) full[k] = rest[k] = g->rows[gi].excl[k].v[FF_M_WALL];
  for (size_t t = 0; t < a->n_rows; t++) {
    if (!a->rows[t].is_scope || !a->rows[t].targeted) continue;
    const char *name = a->rows[t].name;
    for (size_t i = 0; i < bd->n_nodes; i++) {
      if (strcmp(bd->scopes[bd->nodes[i].scope].name, name) != 0 || strcmp(bd->nodes[i].owner_family, family) != 0)
        continue;
      int outer = 1;
      for (int p = bd->nodes[i].parent; p >= 0; p = bd->nodes[p].parent)
        if (strcmp(bd->scopes[bd->nodes[p].scope].name, name) == 0) outer = 0;
      if (!outer) continue;
      size_t k = 0;
      for (size_t r = 0; r < bd->n_reps; r++)
        if (!bd->reps[r].warmup) rest[k++] -= bd->reps[r].incl[i].v[FF_M_WALL];
    }
  }
  *full_median = ff_stats_median(full, n);
  double m = ff_stats_median(rest, n);
  free(full);
  free(rest);
  return m;
}

/* The speedup of a target from the microbenchmarks: s = Σ t_g / Σ (t_g / s_g) over its gates, t_g the
 * base run's time of each gate's scope (equal weights when none of those scopes ran). q selects the
 * median (0), p25 (1) or p75 (2) speedups. Returns 0 when no gate matches. */
static int ff__micro_speedup(const ff_breakdown *base, const ff_micro *micro, const ff_amdahl_row *row, double out[3]) {
  size_t n = ff_breakdown_counted_reps(base);
  double *x = malloc((n ? n : 1) * sizeof *x);
  if (!x) return 0;
  double sum_t = 0, sum_ts[3] = {0, 0, 0}, sum_inv[3] = {0, 0, 0};
  size_t matched = 0;
  for (size_t i = 0; i < micro->n_gates; i++) {
    const ff_micro_gate *mg = &micro->gates[i];
    if (strcmp(row->is_scope ? mg->scope : mg->family, row->name) != 0) continue;
    matched++;
    double t_g = ff_breakdown_scope_values(base, mg->scope, FF_M_WALL, x) ? ff_stats_median(x, n) : 0;
    double s[3] = {mg->s_median, mg->s_p25, mg->s_p75};
    sum_t += t_g;
    for (int q = 0; q < 3; q++) {
      sum_ts[q] += t_g / s[q];
      sum_inv[q] += 1.0 / s[q];
    }
  }
  free(x);
  if (!matched) return 0;
  for (int q = 0; q < 3; q++) out[q] = sum_t > 0 ? sum_t / sum_ts[q] : (double)matched / sum_inv[q];
  if (sum_t <= 0)
    FF_WARN("amdahl: no scope of the %s gates in %s ran in the base run; their speedups are combined with equal "
            "weights",
            row->name, micro->source ? micro->source : "the microbenchmark file");
  return 1;
}

static void ff__list_families(const ff_grouping *g, char *buf, size_t n) {
  size_t off = 0;
  buf[0] = 0;
  for (size_t i = 0; i < g->n_rows && off < n; i++)
    off += (size_t)snprintf(buf + off, n - off, "%s%s", i ? ", " : "", g->rows[i].key);
}

ff_status ff_amdahl_compute(const ff_breakdown *base, const ff_breakdown *cand, const char *const *targets,
                            size_t n_targets, const ff_micro *micro, ff_amdahl *out) {
  memset(out, 0, sizeof *out);
  ff_grouping gb, gc;
  ff_status st = ff_breakdown_group(base, FF_GROUP_FAMILY, &gb);
  if (st) return st;
  if ((st = ff_breakdown_group(cand, FF_GROUP_FAMILY, &gc))) {
    ff_grouping_free(&gb);
    return st;
  }
  size_t nb = ff_breakdown_counted_reps(base), nc = ff_breakdown_counted_reps(cand);
  double *xb = malloc((nb ? nb : 1) * sizeof *xb), *xc = malloc((nc ? nc : 1) * sizeof *xc);
  st = FF_ENOMEM;
  if (!xb || !xc) goto done;

  ff_stats s;
  ff_breakdown_stats(base, FF_BD_TOTAL, 0, FF_M_WALL, &s);
  out->T_base = s.median;
  ff_breakdown_stats(cand, FF_BD_TOTAL, 0, FF_M_WALL, &s);
  out->T_cand = s.median;
  out->has_micro = micro != NULL;

  /* One row per family of either run (base order first). */
  for (int run = 0; run < 2; run++) {
    const ff_grouping *g = run ? &gc : &gb;
    for (size_t i = 0; i < g->n_rows; i++)
      if (ff_amdahl_find(out, g->rows[i].key) < 0 && !ff__add_row(out, g->rows[i].key, 0)) goto done;
  }
  size_t n_families = out->n_rows;

  /* Targets: named families, else scope names; by default the nonlinear families present. */
  static const char *const defaults[] = {"Activation", "Softmax", "LayerNorm"};
  char fams[512];
  ff__list_families(&gb, fams, sizeof fams);
  if (n_targets == 0) {
    for (size_t k = 0; k < 3; k++) {
      if (!ff_breakdown_has_family(base, defaults[k])) continue;
      out->rows[ff_amdahl_find(out, defaults[k])].targeted = 1;
      out->n_targets++;
    }
    if (out->n_targets == 0) {
      FF_ERROR("no targeted family in the base run; pass --target (families present: %s)", fams);
      st = FF_ENOENT;
      goto done;
    }
  }
  for (size_t k = 0; k < n_targets; k++) {
    const char *t = targets[k];
    if (ff_grouping_find(&gb, t) >= 0) { /* a family of the base run */
      int ri = ff_amdahl_find(out, t);
      if (!out->rows[ri].targeted) out->n_targets++;
      out->rows[ri].targeted = 1;
      continue;
    }
    int dup = 0;
    for (size_t i = n_families; i < out->n_rows; i++) dup |= strcmp(out->rows[i].name, t) == 0;
    if (dup) continue;
    if (ff_breakdown_scope_values(base, t, FF_M_WALL, xb) == 0) {
      FF_ERROR("target \"%s\" is neither a family nor a scope name of the base run (families present: %s)", t, fams);
      st = FF_ENOENT;
      goto done;
    }
    ff_amdahl_row *r = ff__add_row(out, t, 1);
    if (!r) goto done;
    r->targeted = 1;
    out->n_targets++;
  }

  /* Times: medians over repetitions of per-repetition sums. */
  for (size_t i = 0; i < out->n_rows; i++) {
    ff_amdahl_row *r = &out->rows[i];
    if (r->is_scope) {
      r->t_base = ff_breakdown_scope_values(base, r->name, FF_M_WALL, xb) ? ff_stats_median(xb, nb) : 0;
      r->t_cand = ff_breakdown_scope_values(cand, r->name, FF_M_WALL, xc) ? ff_stats_median(xc, nc) : 0;
      for (size_t j = 0; j < base->n_nodes; j++) {
        const ff_bd_node *nd = &base->nodes[j];
        if (strcmp(base->scopes[nd->scope].name, r->name) != 0) continue;
        int fi = ff_amdahl_find(out, nd->owner_family);
        if (fi >= 0 && out->rows[fi].targeted && !out->rows[fi].is_scope) {
          FF_WARN("amdahl: target %s lies inside the targeted family %s: its time is counted twice", r->name,
                  nd->owner_family);
          break;
        }
      }
    }
  }
  for (size_t i = 0; i < n_families; i++) {
    ff_amdahl_row *r = &out->rows[i];
    r->rest_base = ff__family_rest(base, &gb, r->name, out, &r->t_base);
    r->rest_cand = ff__family_rest(cand, &gc, r->name, out, &r->t_cand);
  }
  for (size_t i = 0; i < out->n_rows; i++) {
    ff_amdahl_row *r = &out->rows[i];
    r->f = out->T_base > 0 ? r->t_base / out->T_base : 0;
    r->f_cand = out->T_cand > 0 ? r->t_cand / out->T_cand : 0;
    r->s_run = ff__ratio(r->t_base, r->t_cand);
    r->s = r->s_p25 = r->s_p75 = r->s_run;
    if (!r->targeted) continue;
    r->s_source = FF_AMDAHL_S_RUN;
    double sm[3];
    if (micro && ff__micro_speedup(base, micro, r, sm)) {
      r->s = sm[0];
      r->s_p25 = sm[1];
      r->s_p75 = sm[2];
      r->s_source = FF_AMDAHL_S_MICRO;
    } else if (micro) {
      FF_WARN("amdahl: %s has no gate in %s; using its in-run speedup %.3g", r->name,
              micro->source ? micro->source : "the microbenchmark file", r->s_run);
    }
  }

  /* 1/S = (1 − Σ f) + Σ f/s over the targets; a target that vanished (s = ∞) contributes f/s = 0 and
   * one that took no time in the base run (f = 0) contributes nothing. */
  double inv[3] = {0, 0, 0}, sum_tb = 0, sum_tb_over_s = 0;
  for (size_t i = 0; i < out->n_rows; i++) {
    const ff_amdahl_row *r = &out->rows[i];
    if (!r->targeted) continue;
    out->f_sum += r->f;
    out->f_sum_cand += r->f_cand;
    sum_tb += r->t_base;
    if (r->t_base <= 0) continue;
    double sq[3] = {r->s, r->s_p25, r->s_p75};
    for (int q = 0; q < 3; q++) inv[q] += r->f / sq[q];
    sum_tb_over_s += r->t_base / r->s;
  }
  double S[3];
  for (int q = 0; q < 3; q++) S[q] = 1.0 / ((1.0 - out->f_sum) + inv[q]);
  out->S_pred = S[0];
  out->S_pred_p25 = S[1];
  out->S_pred_p75 = S[2];
  out->s_eff = ff__ratio(sum_tb, sum_tb_over_s);
  out->S_meas = ff__ratio(out->T_base, out->T_cand);
  out->residual = (out->S_meas - out->S_pred) / out->S_pred;
  out->T_pred = out->T_base / out->S_pred;

  /* T_cand − T_pred split: the targets (in-run time vs the time the speedup used predicts), the
   * non-targeted families outside any targeted scope, Other, and what medians leave over. */
  for (size_t i = 0; i < out->n_rows; i++) {
    const ff_amdahl_row *r = &out->rows[i];
    if (r->targeted) {
      if (r->t_base > 0) out->d_targets += r->t_cand - r->t_base / r->s;
      else out->d_targets += r->t_cand;
    } else if (strcmp(r->name, "Other") == 0) {
      out->d_other = r->rest_cand - r->rest_base;
    } else {
      out->d_nontargeted += r->rest_cand - r->rest_base;
    }
  }
  out->d_nonadditive = (out->T_cand - out->T_pred) - out->d_targets - out->d_nontargeted - out->d_other;
  st = FF_OK;

done:
  free(xb);
  free(xc);
  ff_grouping_free(&gb);
  ff_grouping_free(&gc);
  if (st) ff_amdahl_free(out);
  return st;
}

/* ---- Output ------------------------------------------------------------------------------------- */

static const char *ff__fmt_x(double s, char *buf, size_t n) {
  if (isnan(s))
    snprintf(buf, n, "n/a");
  else if (isinf(s))
    snprintf(buf, n, "∞");
  else
    snprintf(buf, n, "%.2f×", s);
  return buf;
}

const char *ff_amdahl_sentence(const ff_amdahl *a, const char *base_label, const char *cand_label, char *buf,
                               size_t n) {
  char names[512] = "";
  size_t off = 0, k = 0;
  for (size_t i = 0; i < a->n_rows; i++) {
    if (!a->rows[i].targeted) continue;
    const char *sep = k == 0 ? "" : (k + 1 == a->n_targets ? " and " : ", ");
    off += (size_t)snprintf(names + off, sizeof names - off, "%s%s", sep, a->rows[i].name);
    if (off >= sizeof names) off = sizeof names - 1;
    k++;
  }
  char sx[32], zx[32], wx[32];
  snprintf(buf, n,
           "%s take%s %.1f%% of %s's online time and %.1f%% of %s's; a per-gate %s speedup therefore gives %s end "
           "to end (measured %s, residual %+.1f%%).",
           names, a->n_targets == 1 ? "s" : "", 100.0 * a->f_sum, base_label, 100.0 * a->f_sum_cand, cand_label,
           ff__fmt_x(a->s_eff, sx, sizeof sx), ff__fmt_x(a->S_pred, zx, sizeof zx), ff__fmt_x(a->S_meas, wx, sizeof wx),
           100.0 * a->residual);
  return buf;
}

void ff_amdahl_print_md(FILE *f, const ff_amdahl *a, const ff_breakdown *base, const ff_breakdown *cand,
                       const char *bl, const char *cl) {
  char hb[512], hc[512];
  fprintf(f, "# fusefss amdahl: %s → %s\n\nbase (%s): %s\ncand (%s): %s\n\n", bl, cl, bl,
          ff_report_header(base, hb, sizeof hb), cl, ff_report_header(cand, hc, sizeof hc));
  ff_md_table t;
  ff_md_table_init(&t, "llrrrrl");
  ff_md_table_row(&t, (const char *[]){"family / scope", "targeted", "t base", "t cand", "f_i", "s_i", "s from"});
  for (size_t i = 0; i < a->n_rows; i++) {
    const ff_amdahl_row *r = &a->rows[i];
    char tb[32], tc[32], fs[16], ss[64], nm[160];
    snprintf(nm, sizeof nm, "%s%s", r->name, r->is_scope ? " (scope)" : "");
    snprintf(fs, sizeof fs, "%.1f%%", 100.0 * r->f);
    ff__fmt_x(r->s, ss, sizeof ss);
    ff_md_table_row(&t, (const char *[]){nm, r->targeted ? "yes" : "", ff_fmt_ns(r->t_base, tb, sizeof tb),
                                         ff_fmt_ns(r->t_cand, tc, sizeof tc), fs, ss,
                                         r->s_source == FF_AMDAHL_S_MICRO ? "micro" : r->targeted ? "run" : ""});
  }
  char tb[32], tc[32];
  ff_md_table_row(&t, (const char *[]){"**total**", "", ff_fmt_ns(a->T_base, tb, sizeof tb),
                                       ff_fmt_ns(a->T_cand, tc, sizeof tc), "100.0%", "", ""});
  ff_md_table_print(&t, f);
  ff_md_table_free(&t);

  char x1[32], x2[32], x3[32];
  fprintf(f, "\npredicted S = 1/((1 − Σf) + Σ f_i/s_i) = 1/((1 − %.4f) + %.4f) = %s", a->f_sum,
          1.0 / a->S_pred - (1.0 - a->f_sum), ff__fmt_x(a->S_pred, x1, sizeof x1));
  if (a->has_micro)
    fprintf(f, " [%s – %s at the p25 and p75 speedups]", ff__fmt_x(a->S_pred_p25, x2, sizeof x2),
            ff__fmt_x(a->S_pred_p75, x3, sizeof x3));
  fprintf(f, "\nmeasured S = T base / T cand = %s; residual (S_meas − S_pred)/S_pred = %+.1f%%\n\n",
          ff__fmt_x(a->S_meas, x1, sizeof x1), 100.0 * a->residual);
  char sent[1024];
  fprintf(f, "%s\n\n", ff_amdahl_sentence(a, bl, cl, sent, sizeof sent));

  char d[32];
  fprintf(f, "The residual: T cand − T predicted = %s − %s = %s, made of:\n\n", ff_fmt_ns(a->T_cand, tb, sizeof tb),
          ff_fmt_ns(a->T_pred, tc, sizeof tc), ff_fmt_ns_signed(a->T_cand - a->T_pred, d, sizeof d));
  ff_md_table_init(&t, "lr");
  ff_md_table_row(&t, (const char *[]){"part", "Δ time"});
  if (a->has_micro)
    ff_md_table_row(&t, (const char *[]){"targets: in-run time vs the micro speedups",
                                         ff_fmt_ns_signed(a->d_targets, d, sizeof d)});
  for (size_t i = 0; i < a->n_rows; i++) {
    const ff_amdahl_row *r = &a->rows[i];
    if (r->targeted || r->is_scope || strcmp(r->name, "Other") == 0) continue;
    char nm[160];
    int partly = r->rest_base != r->t_base || r->rest_cand != r->t_cand;
    snprintf(nm, sizeof nm, "%s (not targeted%s)", r->name, partly ? "; outside targeted scopes" : "");
    ff_md_table_row(&t, (const char *[]){nm, ff_fmt_ns_signed(r->rest_cand - r->rest_base, d, sizeof d)});
  }
  ff_md_table_row(&t, (const char *[]){"Other (unattributed)", ff_fmt_ns_signed(a->d_other, d, sizeof d)});
  ff_md_table_row(&t, (const char *[]){"medians are not additive", ff_fmt_ns_signed(a->d_nonadditive, d, sizeof d)});
  ff_md_table_print(&t, f);
  ff_md_table_free(&t);
}

static cJSON *ff__num_or_null(double v) { return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull(); }

void ff_amdahl_print_json(FILE *f, const ff_amdahl *a, const char *bl, const char *cl) {
  cJSON *root = cJSON_CreateObject();
  cJSON_AddStringToObject(root, "schema", "fusefss.amdahl/1");
  cJSON_AddStringToObject(root, "base", bl);
  cJSON_AddStringToObject(root, "cand", cl);
  cJSON_AddNumberToObject(root, "T_base_ns", a->T_base);
  cJSON_AddNumberToObject(root, "T_cand_ns", a->T_cand);
  cJSON_AddNumberToObject(root, "f_sum", a->f_sum);
  cJSON_AddNumberToObject(root, "f_sum_cand", a->f_sum_cand);
  cJSON_AddItemToObject(root, "s_eff", ff__num_or_null(a->s_eff));
  cJSON_AddItemToObject(root, "S_pred", ff__num_or_null(a->S_pred));
  if (a->has_micro) {
    cJSON_AddItemToObject(root, "S_pred_p25", ff__num_or_null(a->S_pred_p25));
    cJSON_AddItemToObject(root, "S_pred_p75", ff__num_or_null(a->S_pred_p75));
  }
  cJSON_AddItemToObject(root, "S_meas", ff__num_or_null(a->S_meas));
  cJSON_AddItemToObject(root, "residual", ff__num_or_null(a->residual));
  cJSON *rows = cJSON_AddArrayToObject(root, "rows");
  for (size_t i = 0; i < a->n_rows; i++) {
    const ff_amdahl_row *r = &a->rows[i];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", r->name);
    cJSON_AddStringToObject(o, "kind", r->is_scope ? "scope" : "family");
    cJSON_AddBoolToObject(o, "targeted", r->targeted);
    cJSON_AddNumberToObject(o, "t_base_ns", r->t_base);
    cJSON_AddNumberToObject(o, "t_cand_ns", r->t_cand);
    cJSON_AddNumberToObject(o, "f", r->f);
    cJSON_AddItemToObject(o, "s", ff__num_or_null(r->s));
    cJSON_AddItemToObject(o, "s_run", ff__num_or_null(r->s_run));
    if (r->s_source == FF_AMDAHL_S_MICRO) {
      cJSON_AddItemToObject(o, "s_p25", ff__num_or_null(r->s_p25));
      cJSON_AddItemToObject(o, "s_p75", ff__num_or_null(r->s_p75));
    }
    cJSON_AddStringToObject(o, "s_from", r->s_source == FF_AMDAHL_S_MICRO ? "micro" : r->targeted ? "run" : "");
    cJSON_AddItemToArray(rows, o);
  }
  cJSON *res = cJSON_AddObjectToObject(root, "residual_parts_ns");
  cJSON_AddNumberToObject(res, "T_cand_minus_T_pred", a->T_cand - a->T_pred);
  cJSON_AddNumberToObject(res, "targets", a->d_targets);
  cJSON_AddNumberToObject(res, "non_targeted_families", a->d_nontargeted);
  cJSON_AddNumberToObject(res, "other", a->d_other);
  cJSON_AddNumberToObject(res, "non_additive_medians", a->d_nonadditive);
  char sent[1024];
  cJSON_AddStringToObject(root, "sentence", ff_amdahl_sentence(a, bl, cl, sent, sizeof sent));
  char *text = cJSON_Print(root);
  if (text) fprintf(f, "%s\n", text);
  free(text);
  cJSON_Delete(root);
}
