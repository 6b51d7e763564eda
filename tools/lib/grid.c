/* Grids of runs (`fusefss matrix`): the grid's specification (a small JSON file and/or lists from the
 * command line), its cells and their folder names, each finished cell's figures read back from its
 * merged log and run summary, the tidy tables (CSV, JSON) of a grid, its scaling series and its HTML
 * page. No process is started here: the command runs the cells. DESIGN.md §6.
 * Test: tests/test_analysis.c (a 2×2 grid on bert-tiny, resumed after a killed cell). */
#include "tools/lib/analysis.h"
#include "tools/lib/analysis_internal.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

/* ---- The specification ---------------------------------------------------------------------------- */

void ff_grid_init(ff_grid *g) {
  memset(g, 0, sizeof *g);
  g->reps = 1;
  g->trace_depth = -1;
  g->verify = 1;
}

void ff_grid_free(ff_grid *g) {
  for (int k = 0; k < FF_GRID_N_AXES; k++)
    for (size_t i = 0; i < g->n[k]; i++) free(g->v[k][i]);
  ff_grid_init(g);
}

static const char *const ff__axis_names[FF_GRID_N_AXES] = {"model",     "suite", "seq",       "batch", "backend",
                                                             "placement", "suf",   "gpu_share", "dealer"};

const char *ff_grid_axis_name(ff_grid_axis a) { return a < FF_GRID_N_AXES ? ff__axis_names[a] : "?"; }

int ff_grid_axis_parse(const char *s) {
  for (int k = 0; k < FF_GRID_N_AXES; k++)
    if (strcmp(s, ff__axis_names[k]) == 0) return k;
  /* the JSON file's plural spellings */
  if (strcmp(s, "models") == 0) return FF_GRID_MODEL;
  if (strcmp(s, "suites") == 0) return FF_GRID_SUITE;
  if (strcmp(s, "backends") == 0) return FF_GRID_BACKEND;
  if (strcmp(s, "placements") == 0) return FF_GRID_PLACEMENT;
  if (strcmp(s, "dealers") == 0) return FF_GRID_DEALER;
  return -1;
}

/* A value as it may appear in a folder name and a command line: printable, no quotes or slashes. */
static int ff__value_ok(ff_grid_axis a, const char *v) {
  if (a != FF_GRID_SUF && !*v) return 0;
  if (strlen(v) > 120) return 0;
  for (const char *c = v; *c; c++)
    if (!isalnum((unsigned char)*c) && !strchr(a == FF_GRID_SUF ? "_=.,-+" : "_.-+", *c)) return 0;
  if (a == FF_GRID_SEQ || a == FF_GRID_BATCH) {
    char *end;
    long x = strtol(v, &end, 10);
    if (*end || x < 1 || x > 1 << 20) return 0;
  }
  if (a == FF_GRID_SUITE && strcmp(v, "sigma") && strcmp(v, "suf")) return 0;
  if (a == FF_GRID_SHARE && strcmp(v, "timeslice") && strcmp(v, "mps")) return 0;
  if (a == FF_GRID_DEALER && strcmp(v, "file") && strcmp(v, "inproc") && strcmp(v, "stream")) return 0;
  return 1;
}

ff_status ff_grid_add(ff_grid *g, ff_grid_axis a, const char *value) {
  if (!ff__value_ok(a, value)) {
    FF_ERROR("grid: '%s' is not a valid %s (%s)", value, ff_grid_axis_name(a),
             a == FF_GRID_SUITE  ? "sigma or suf"
             : a == FF_GRID_SHARE ? "timeslice or mps"
             : a == FF_GRID_DEALER ? "file, inproc or stream"
             : a == FF_GRID_SEQ || a == FF_GRID_BATCH ? "a whole number >= 1"
             : a == FF_GRID_SUF  ? "NAME=VALUE[,NAME=VALUE...] of letters, digits and _ . - +, or empty for "
                                   "the defaults"
                                 : "letters, digits and _ . - +");
    return FF_EINVAL;
  }
  for (size_t i = 0; i < g->n[a]; i++)
    if (strcmp(g->v[a][i], value) == 0) return FF_OK; /* a repeated value is one cell */
  if (g->n[a] == FF_GRID_MAX_VALUES) {
    FF_ERROR("grid: at most %d values of %s", FF_GRID_MAX_VALUES, ff_grid_axis_name(a));
    return FF_ERANGE;
  }
  if (!(g->v[a][g->n[a]] = strdup(value))) return FF_ENOMEM;
  g->n[a]++;
  return FF_OK;
}

ff_status ff_grid_add_list(ff_grid *g, ff_grid_axis a, const char *csv) {
  if (a == FF_GRID_SUF) return ff_grid_add(g, a, csv); /* one knob set per value: its commas are its own */
  char buf[1024];
  if (strlen(csv) >= sizeof buf) {
    FF_ERROR("grid: the list of %s is too long", ff_grid_axis_name(a));
    return FF_EINVAL;
  }
  snprintf(buf, sizeof buf, "%s", csv);
  char *save = NULL;
  int any = 0;
  for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    ff_status st = ff_grid_add(g, a, t);
    if (st) return st;
    any = 1;
  }
  if (!any) {
    FF_ERROR("grid: an empty list of %s", ff_grid_axis_name(a));
    return FF_EINVAL;
  }
  return FF_OK;
}

static ff_status ff__int_field(const cJSON *o, const char *key, int lo, int hi, int *out, const char *path) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  if (!v) return FF_OK;
  if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < lo || v->valuedouble > hi) {
    FF_ERROR("%s: \"%s\" must be a whole number in %d..%d", path, key, lo, hi);
    return FF_EFORMAT;
  }
  *out = (int)v->valuedouble;
  return FF_OK;
}

/* true/false (or 1/0) */
static ff_status ff__bool_field(const cJSON *o, const char *key, int *out, const char *path) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  if (!v) return FF_OK;
  if (cJSON_IsBool(v)) *out = cJSON_IsTrue(v);
  else if (cJSON_IsNumber(v) && (v->valuedouble == 0 || v->valuedouble == 1)) *out = v->valuedouble == 1;
  else {
    FF_ERROR("%s: \"%s\" must be true or false", path, key);
    return FF_EFORMAT;
  }
  return FF_OK;
}

ff_status ff_grid_load(const char *path, ff_grid *g) {
  cJSON *j = NULL;
  ff_status st = ff_json_load_file(path, "grid file", &j);
  if (st) return st;
  if (!cJSON_IsObject(j)) {
    FF_ERROR("%s: a grid file is a JSON object, e.g. {\"suite\": [\"sigma\", \"suf\"], \"seq\": [32, 64]}", path);
    cJSON_Delete(j);
    return FF_EFORMAT;
  }
  const cJSON *it;
  cJSON_ArrayForEach(it, j) {
    const char *k = it->string;
    if (!strcmp(k, "schema") || !strcmp(k, "reps") || !strcmp(k, "warmup") || !strcmp(k, "layers") ||
        !strcmp(k, "trace_depth") || !strcmp(k, "weights_per_layer") || !strcmp(k, "verify"))
      continue;
    int a = ff_grid_axis_parse(k);
    if (a < 0) {
      FF_ERROR("%s: unknown key \"%s\" (expected model, suite, seq, batch, backend, placement, suf, gpu_share, dealer, "
               "reps, warmup, layers, trace_depth, weights_per_layer, verify)", path, k);
      st = FF_EFORMAT;
      break;
    }
    const cJSON *vals = it, *one;
    if (!cJSON_IsArray(vals)) {
      FF_ERROR("%s: \"%s\" must be a list, e.g. [1, 2]", path, k);
      st = FF_EFORMAT;
      break;
    }
    cJSON_ArrayForEach(one, vals) {
      char num[32];
      const char *s = NULL;
      if (cJSON_IsString(one)) s = one->valuestring;
      else if (cJSON_IsNumber(one) && one->valuedouble == floor(one->valuedouble) && fabs(one->valuedouble) < 1e9)
        snprintf(num, sizeof num, "%.0f", one->valuedouble), s = num;
      if (!s) {
        FF_ERROR("%s: the values of \"%s\" are strings or whole numbers", path, k);
        st = FF_EFORMAT;
        break;
      }
      if ((st = ff_grid_add(g, (ff_grid_axis)a, s))) break;
    }
    if (st) break;
  }
  if (!st) st = ff__int_field(j, "reps", 1, 10000, &g->reps, path);
  if (!st) st = ff__int_field(j, "warmup", 0, 1000, &g->warmup, path);
  if (!st) st = ff__int_field(j, "layers", 0, 1000, &g->layers, path);
  if (!st) st = ff__int_field(j, "trace_depth", -1, 64, &g->trace_depth, path);
  if (!st) st = ff__bool_field(j, "weights_per_layer", &g->weights_per_layer, path);
  if (!st) st = ff__bool_field(j, "verify", &g->verify, path);
  cJSON_Delete(j);
  return st;
}

void ff_grid_fill_defaults(ff_grid *g) {
  static const char *const def[FF_GRID_N_AXES] = {"bert-tiny", "sigma", "128", "1", "cpu", "device", "", "timeslice",
                                                  "file"};
  for (int k = 0; k < FF_GRID_N_AXES; k++)
    if (g->n[k] == 0) (void)ff_grid_add(g, (ff_grid_axis)k, def[k]);
}

cJSON *ff_grid_to_json(const ff_grid *g) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "schema", "fusefss.grid/1");
  for (int k = 0; k < FF_GRID_N_AXES; k++) {
    cJSON *a = cJSON_AddArrayToObject(o, ff__axis_names[k]);
    for (size_t i = 0; i < g->n[k]; i++)
      cJSON_AddItemToArray(a, k == FF_GRID_SEQ || k == FF_GRID_BATCH ? cJSON_CreateNumber(atof(g->v[k][i]))
                                                                      : cJSON_CreateString(g->v[k][i]));
  }
  cJSON_AddNumberToObject(o, "reps", g->reps);
  cJSON_AddNumberToObject(o, "warmup", g->warmup);
  cJSON_AddNumberToObject(o, "layers", g->layers);
  cJSON_AddNumberToObject(o, "trace_depth", g->trace_depth);
  cJSON_AddBoolToObject(o, "weights_per_layer", g->weights_per_layer);
  cJSON_AddBoolToObject(o, "verify", g->verify);
  return o;
}

/* ---- Cells ----------------------------------------------------------------------------------------- */

/* The knob set as a name part: "SUF_GELU_INTERVALS=8" -> "suf_gelu_intervals8". */
static void ff__knob_tag(const char *knobs, char *buf, size_t n) {
  size_t o = 0;
  for (const char *c = knobs; *c && o + 1 < n; c++) {
    if (*c == '=') continue;
    buf[o++] = *c == ',' ? '-' : (char)tolower((unsigned char)*c);
  }
  buf[o] = 0;
}

ff_status ff_grid_cells(const ff_grid *g, ff_grid_cell **out, size_t *n_out) {
  *out = NULL;
  *n_out = 0;
  for (int k = 0; k < FF_GRID_N_AXES; k++)
    if (g->n[k] == 0) {
      FF_ERROR("grid: no value of %s", ff_grid_axis_name(k));
      return FF_EINVAL;
    }
  size_t cap = 1;
  for (int k = 0; k < FF_GRID_N_AXES; k++) cap *= g->n[k];
  if (cap > FF_GRID_MAX_CELLS) {
    FF_ERROR("grid: %zu cells, more than %d", cap, FF_GRID_MAX_CELLS);
    return FF_ERANGE;
  }
  ff_grid_cell *c = calloc(cap, sizeof *c);
  if (!c) return FF_ENOMEM;
  size_t n = 0;
  /* seq varies fastest, so that a grid's lines fill in as it runs */
  for (size_t im = 0; im < g->n[FF_GRID_MODEL]; im++)
    for (size_t is = 0; is < g->n[FF_GRID_SUITE]; is++)
      for (size_t ik = 0; ik < g->n[FF_GRID_SUF]; ik++) {
        const int sigma = strcmp(g->v[FF_GRID_SUITE][is], "sigma") == 0;
        if (sigma && ik > 0) continue; /* suf knobs do not change a sigma run: one cell, not one per set */
        for (size_t ib = 0; ib < g->n[FF_GRID_BATCH]; ib++)
          for (size_t ie = 0; ie < g->n[FF_GRID_BACKEND]; ie++)
            for (size_t id = 0; id < g->n[FF_GRID_DEALER]; id++)
            for (size_t ip = 0; ip < g->n[FF_GRID_PLACEMENT]; ip++)
              for (size_t ig = 0; ig < g->n[FF_GRID_SHARE]; ig++)
                for (size_t iq = 0; iq < g->n[FF_GRID_SEQ]; iq++) {
                  const char *dealer = g->v[FF_GRID_DEALER][id];
                  const int stream = strcmp(dealer, "stream") == 0, inproc = strcmp(dealer, "inproc") == 0;
                  if (stream && ip > 0) continue; /* a streamed party's keys have no placement: one cell */
                  ff_grid_cell *x = &c[n++];
                  x->model = g->v[FF_GRID_MODEL][im];
                  x->suite = g->v[FF_GRID_SUITE][is];
                  x->knobs = sigma ? "" : g->v[FF_GRID_SUF][ik];
                  x->seq = atoi(g->v[FF_GRID_SEQ][iq]);
                  x->batch = atoi(g->v[FF_GRID_BATCH][ib]);
                  x->backend = g->v[FF_GRID_BACKEND][ie];
                  x->placement = stream ? "stream" : g->v[FF_GRID_PLACEMENT][ip];
                  x->share = g->v[FF_GRID_SHARE][ig];
                  x->dealer = dealer;
                  const int mps = strcmp(x->share, "mps") == 0; /* the defaults leave the names as they were */
                  char tag[80];
                  ff__knob_tag(x->knobs, tag, sizeof tag);
                  snprintf(x->name, sizeof x->name, "%s-%s%s%s-s%d-b%d-%s-%s%s%s", x->model, x->suite, *tag ? "-" : "",
                           tag, x->seq, x->batch, x->backend, x->placement, mps ? "-mps" : "", inproc ? "-inproc" : "");
                  snprintf(x->series, sizeof x->series, "%s %s%s%s b%d %s %s%s%s", x->model, x->suite, *tag ? " " : "",
                           tag, x->batch, x->backend, x->placement, mps ? " mps" : "", inproc ? " inproc" : "");
                }
      }
  *out = c;
  *n_out = n;
  return FF_OK;
}

/* ---- A finished cell's figures ----------------------------------------------------------------- */

void ff_cell_result_free(ff_cell_result *r) {
  free(r->fam);
  memset(r, 0, sizeof *r);
}

static double ff__median(const ff_breakdown *bd, ff_metric m, double *p25, double *p75) {
  ff_stats s;
  if (ff_breakdown_stats(bd, FF_BD_TOTAL, 0, m, &s)) return NAN;
  if (p25) *p25 = s.p25;
  if (p75) *p75 = s.p75;
  return s.median;
}

ff_status ff_cell_collect(const char *dir, ff_cell_result *r) {
  memset(r, 0, sizeof *r);
  r->max_abs_err = NAN;
  char path[4200];
  snprintf(path, sizeof path, "%s/breakdown_merged.json", dir);
  ff_breakdown *bd = NULL;
  ff_status st = ff_breakdown_load(path, &bd);
  if (st) return st;
  r->online_ns = ff__median(bd, FF_M_WALL, &r->online_p25, &r->online_p75);
  r->link_B = ff__median(bd, FF_M_LINK, NULL, NULL);
  r->sent_B_p0 = ff__median(bd, FF_M_SENT_P0, NULL, NULL);
  r->sent_B_p1 = ff__median(bd, FF_M_SENT_P1, NULL, NULL);
  r->rounds = ff__median(bd, FF_M_ROUNDS, NULL, NULL);
  r->reps = ff_breakdown_counted_reps(bd);
  ff_report rep;
  ff_projection pj[2];
  const ff_network nets[2] = {ff_network_lan(), ff_network_wan()};
  if ((st = ff_report_compute(bd, FF_GROUP_FAMILY, &rep))) goto done;
  for (int k = 0; k < 2 && !st; k++) st = ff_project_compute(bd, &nets[k], FF_CONV_DUPLEX, FF_GROUP_FAMILY, &pj[k]);
  if (st) {
    ff_report_free(&rep);
    goto done;
  }
  r->lan_ns = pj[0].total.T_ns;
  r->wan_ns = pj[1].total.T_ns;
  r->fam = calloc(rep.n_rows ? rep.n_rows : 1, sizeof *r->fam);
  if (!r->fam) st = FF_ENOMEM;
  for (size_t i = 0; !st && i < rep.n_rows; i++) {
    ff_cell_family *f = &r->fam[r->n_fam++];
    snprintf(f->family, sizeof f->family, "%s", rep.rows[i].key);
    f->time_ns = rep.rows[i].time.median;
    f->link_B = rep.rows[i].link.median;
    f->rounds = rep.rows[i].rounds.median;
    for (int k = 0; k < 2; k++)
      for (size_t j = 0; j < pj[k].n_rows; j++)
        if (strcmp(pj[k].rows[j].key, f->family) == 0) *(k ? &f->wan_ns : &f->lan_ns) = pj[k].rows[j].T_ns;
  }
  ff_report_free(&rep);
  ff_projection_free(&pj[0]);
  ff_projection_free(&pj[1]);
  if (st) goto done;
  /* run_summary.json (fusefss run): keygen, key files, the output's error and the checks */
  snprintf(path, sizeof path, "%s/run_summary.json", dir);
  cJSON *j = NULL;
  if ((st = ff_json_load_file(path, "run summary", &j))) goto done;
  const cJSON *v;
  r->keygen_s = cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(j, "keygen_s")) ? v->valuedouble : NAN;
  r->key_file_B = 0;
  for (int p = 0; p < 2; p++)
    if (cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(j, p ? "key_file_B_p1" : "key_file_B_p0")))
      r->key_file_B += v->valuedouble;
  r->max_abs_err = cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(j, "max_abs_err")) ? v->valuedouble : NAN;
  r->peak_host_B = r->peak_device_B = NAN;
  for (int p = 0; p < 2; p++) {
    if (cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(j, p ? "peak_host_B_p1" : "peak_host_B_p0")) &&
        !(v->valuedouble <= r->peak_host_B))
      r->peak_host_B = v->valuedouble;
    if (cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(j, p ? "peak_device_pool_B_p1" : "peak_device_pool_B_p0")) &&
        !(v->valuedouble <= r->peak_device_B))
      r->peak_device_B = v->valuedouble;
  }
  r->output_exact = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "output_exact"));
  r->cost_model_equal = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "cost_model_equal"));
  cJSON_Delete(j);
done:
  ff_breakdown_free(bd);
  return st;
}

/* ---- Tables ---------------------------------------------------------------------------------------- */

static void ff__csv(ff__sb *b, const char *s) {
  if (!strpbrk(s, ",\"\n\r")) {
    ff__sbf(b, "%s", s);
    return;
  }
  ff__sbf(b, "\"");
  for (; *s; s++) ff__sbf(b, *s == '"' ? "\"\"" : "%c", *s);
  ff__sbf(b, "\"");
}

static void ff__num(ff__sb *b, double v) {
  if (isfinite(v)) ff__sbf(b, ",%.17g", v);
  else ff__sbf(b, ",");
}

static cJSON *ff__jnum(double v) { return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull(); }

ff_status ff_matrix_tables(const ff_grid *g, const ff_grid_cell *cells, const ff_cell_result *res, size_t n,
                           char **csv, char **families_csv, char **json) {
  *csv = *families_csv = *json = NULL;
  /* the families of every finished cell, in order of first appearance */
  char fams[64][48];
  size_t n_fams = 0;
  for (size_t i = 0; i < n; i++)
    for (size_t f = 0; f < res[i].n_fam; f++) {
      size_t k = 0;
      while (k < n_fams && strcmp(fams[k], res[i].fam[f].family) != 0) k++;
      if (k == n_fams && n_fams < 64) snprintf(fams[n_fams++], sizeof fams[0], "%s", res[i].fam[f].family);
    }
  ff__sb a = {0}, b = {0};
  ff__sbf(&a, "cell,status,reason,model,suite,suf,seq,batch,backend,placement,gpu_share,dealer,layers,reps,warmup,"
             "weights_per_layer,verified,online_ns,online_ns_p25,online_ns_p75,link_B,sent_B_p0,sent_B_p1,rounds,lan_ns,"
             "wan_ns,keygen_s,key_file_B,key_B_p0,key_B_p1,max_abs_err,peak_host_B,peak_device_B,output_exact,"
             "cost_model_equal");
  for (size_t k = 0; k < n_fams; k++) ff__sbf(&a, ",time_ns_%s,link_B_%s", fams[k], fams[k]);
  ff__sbf(&a, "\n");
  ff__sbf(&b, "cell,family,time_ns,link_B,rounds,lan_ns,wan_ns\n");
  cJSON *root = cJSON_CreateObject();
  cJSON_AddStringToObject(root, "schema", "fusefss.matrix/1");
  cJSON_AddItemToObject(root, "grid", ff_grid_to_json(g));
  cJSON *jc = cJSON_AddArrayToObject(root, "cells");
  for (size_t i = 0; i < n; i++) {
    const ff_grid_cell *c = &cells[i];
    const ff_cell_result *r = &res[i];
    const int done = strcmp(r->status, "done") == 0;
    ff__csv(&a, c->name);
    ff__sbf(&a, ",%s,", r->status);
    ff__csv(&a, r->reason);
    ff__sbf(&a, ",%s,%s,", c->model, c->suite);
    ff__csv(&a, c->knobs);
    ff__sbf(&a, ",%d,%d,%s,%s,%s,%s,%d,%d,%d,%d,%d", c->seq, c->batch, c->backend, c->placement, c->share, c->dealer,
            g->layers, g->reps, g->warmup, g->weights_per_layer, g->verify);
    const double nan = NAN;
    const double vals[] = {done ? r->online_ns : nan,   done ? r->online_p25 : nan, done ? r->online_p75 : nan,
                           done ? r->link_B : nan,      done ? r->sent_B_p0 : nan,  done ? r->sent_B_p1 : nan,
                           done ? r->rounds : nan,      done ? r->lan_ns : nan,     done ? r->wan_ns : nan,
                           done ? r->keygen_s : nan,    done ? r->key_file_B : nan, r->key_B_p0,
                           r->key_B_p1,                 done ? r->max_abs_err : nan, done ? r->peak_host_B : nan,
                           done ? r->peak_device_B : nan};
    for (size_t k = 0; k < sizeof vals / sizeof vals[0]; k++) ff__num(&a, vals[k]);
    ff__sbf(&a, done ? ",%d,%d" : ",,", r->output_exact, r->cost_model_equal);
    for (size_t k = 0; k < n_fams; k++) {
      const ff_cell_family *f = NULL;
      for (size_t j = 0; j < r->n_fam; j++)
        if (strcmp(r->fam[j].family, fams[k]) == 0) f = &r->fam[j];
      ff__num(&a, f ? f->time_ns : (done ? 0 : nan));
      ff__num(&a, f ? f->link_B : (done ? 0 : nan));
    }
    ff__sbf(&a, "\n");
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "cell", c->name);
    cJSON_AddStringToObject(o, "status", r->status);
    cJSON_AddStringToObject(o, "reason", r->reason);
    cJSON_AddStringToObject(o, "model", c->model);
    cJSON_AddStringToObject(o, "suite", c->suite);
    cJSON_AddStringToObject(o, "suf", c->knobs);
    cJSON_AddNumberToObject(o, "seq", c->seq);
    cJSON_AddNumberToObject(o, "batch", c->batch);
    cJSON_AddStringToObject(o, "backend", c->backend);
    cJSON_AddStringToObject(o, "placement", c->placement);
    cJSON_AddStringToObject(o, "gpu_share", c->share);
    cJSON_AddStringToObject(o, "dealer", c->dealer);
    cJSON_AddItemToObject(o, "key_B_p0", ff__jnum(r->key_B_p0));
    cJSON_AddItemToObject(o, "key_B_p1", ff__jnum(r->key_B_p1));
    if (done) {
      cJSON_AddItemToObject(o, "online_ns", ff__jnum(r->online_ns));
      cJSON_AddItemToObject(o, "online_ns_p25", ff__jnum(r->online_p25));
      cJSON_AddItemToObject(o, "online_ns_p75", ff__jnum(r->online_p75));
      cJSON_AddItemToObject(o, "link_B", ff__jnum(r->link_B));
      cJSON_AddItemToObject(o, "sent_B_p0", ff__jnum(r->sent_B_p0));
      cJSON_AddItemToObject(o, "sent_B_p1", ff__jnum(r->sent_B_p1));
      cJSON_AddItemToObject(o, "rounds", ff__jnum(r->rounds));
      cJSON_AddItemToObject(o, "lan_ns", ff__jnum(r->lan_ns));
      cJSON_AddItemToObject(o, "wan_ns", ff__jnum(r->wan_ns));
      cJSON_AddItemToObject(o, "keygen_s", ff__jnum(r->keygen_s));
      cJSON_AddItemToObject(o, "key_file_B", ff__jnum(r->key_file_B));
      cJSON_AddItemToObject(o, "max_abs_err", ff__jnum(r->max_abs_err));
      cJSON_AddItemToObject(o, "peak_host_B", ff__jnum(r->peak_host_B));
      cJSON_AddItemToObject(o, "peak_device_B", ff__jnum(r->peak_device_B));
      cJSON_AddBoolToObject(o, "output_exact", r->output_exact);
      cJSON_AddBoolToObject(o, "cost_model_equal", r->cost_model_equal);
      cJSON_AddNumberToObject(o, "reps_counted", (double)r->reps);
      cJSON *jf = cJSON_AddArrayToObject(o, "families");
      for (size_t j = 0; j < r->n_fam; j++) {
        const ff_cell_family *f = &r->fam[j];
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "family", f->family);
        cJSON_AddItemToObject(x, "time_ns", ff__jnum(f->time_ns));
        cJSON_AddItemToObject(x, "link_B", ff__jnum(f->link_B));
        cJSON_AddItemToObject(x, "rounds", ff__jnum(f->rounds));
        cJSON_AddItemToObject(x, "lan_ns", ff__jnum(f->lan_ns));
        cJSON_AddItemToObject(x, "wan_ns", ff__jnum(f->wan_ns));
        cJSON_AddItemToArray(jf, x);
        ff__csv(&b, c->name);
        ff__sbf(&b, ",");
        ff__csv(&b, f->family);
        ff__num(&b, f->time_ns);
        ff__num(&b, f->link_B);
        ff__num(&b, f->rounds);
        ff__num(&b, f->lan_ns);
        ff__num(&b, f->wan_ns);
        ff__sbf(&b, "\n");
      }
    }
    cJSON_AddItemToArray(jc, o);
  }
  char *text = cJSON_Print(root);
  cJSON_Delete(root);
  if (a.oom || b.oom || !text) {
    free(a.s);
    free(b.s);
    free(text);
    return FF_ENOMEM;
  }
  *csv = a.s;
  *families_csv = b.s;
  *json = text;
  return FF_OK;
}

/* ---- Scaling series and the page ----------------------------------------------------------------- */

ff_status ff_matrix_series(const ff_grid_cell *cells, const ff_cell_result *res, size_t n, ff_plot_series **out,
                           size_t *n_out, double **storage) {
  *out = NULL;
  *n_out = 0;
  *storage = NULL;
  ff_plot_series *s = calloc(n ? n : 1, sizeof *s);
  double *st = calloc(6 * (n ? n : 1), sizeof *st); /* x, time, link, rounds, p25, p75: a slot per cell */
  if (!s || !st) {
    free(s);
    free(st);
    return FF_ENOMEM;
  }
  size_t ns = 0, used = 0;
  for (size_t i = 0; i < n; i++) {
    if (strcmp(res[i].status, "done") != 0) continue;
    size_t k = 0;
    while (k < ns && strcmp(s[k].label, cells[i].series) != 0) k++;
    if (k < ns) continue; /* already gathered with its first cell */
    /* gather every done cell of this series, in ascending seq */
    size_t m = 0, first = used;
    for (size_t j = i; j < n; j++)
      if (strcmp(res[j].status, "done") == 0 && strcmp(cells[j].series, cells[i].series) == 0) m++;
    double *x = st + first, *t = st + n + first, *l = st + 2 * n + first, *r = st + 3 * n + first,
           *q1 = st + 4 * n + first, *q3 = st + 5 * n + first;
    size_t c = 0;
    for (size_t j = i; j < n; j++) {
      if (strcmp(res[j].status, "done") != 0 || strcmp(cells[j].series, cells[i].series) != 0) continue;
      size_t at = c++;
      while (at > 0 && x[at - 1] > cells[j].seq) { /* insertion by seq */
        x[at] = x[at - 1], t[at] = t[at - 1], l[at] = l[at - 1], r[at] = r[at - 1], q1[at] = q1[at - 1],
        q3[at] = q3[at - 1];
        at--;
      }
      x[at] = cells[j].seq, t[at] = res[j].online_ns, l[at] = res[j].link_B, r[at] = res[j].rounds;
      q1[at] = res[j].online_p25, q3[at] = res[j].online_p75;
    }
    used += m;
    s[ns++] = (ff_plot_series){cells[i].series, m, x, t, l, r, q1, q3};
  }
  *out = s;
  *n_out = ns;
  *storage = st;
  return FF_OK;
}

static void ff__hx(ff__sb *b, const char *t) {
  for (; t && *t; t++)
    ff__sbf(b, *t == '&' ? "&amp;" : *t == '<' ? "&lt;" : *t == '>' ? "&gt;" : *t == '"' ? "&quot;" : "%c", *t);
}

/* A size, or "—" where it is not known. */
static const char *ff__fmt_bytes_or(double v, char *buf, size_t n) {
  if (!isfinite(v) || v < 0) {
    snprintf(buf, n, "—");
    return buf;
  }
  return ff_fmt_bytes(v, buf, n);
}

ff_status ff_matrix_markdown(const ff_grid_cell *cells, const ff_cell_result *res, size_t n, char **md) {
  *md = NULL;
  ff__sb b = {0};
  ff__sbf(&b, "| cell | status | keys P0 | keys P1 | keygen | online (median) | link | rounds | max abs err | "
             "peak host | peak device |\n|:--|:--|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n");
  for (size_t i = 0; i < n; i++) {
    const ff_cell_result *r = &res[i];
    char k0[32], k1[32];
    ff__sbf(&b, "| %s | %s", cells[i].name, r->status);
    if (*r->reason) {
      ff__sbf(&b, ": ");
      for (const char *c = r->reason; *c; c++) ff__sbf(&b, *c == '|' ? "\\|" : *c == '\n' ? " " : "%c", *c);
    }
    ff__sbf(&b, " | %s | %s |", ff__fmt_bytes_or(r->key_B_p0, k0, sizeof k0), ff__fmt_bytes_or(r->key_B_p1, k1, sizeof k1));
    if (strcmp(r->status, "done") == 0) {
      char t[32], l[32], ph[32], pd[32], e[32] = "not checked";
      if (isfinite(r->max_abs_err)) snprintf(e, sizeof e, "%.3g", r->max_abs_err);
      if (isfinite(r->keygen_s)) ff__sbf(&b, " %.2f s |", r->keygen_s);
      else ff__sbf(&b, " — |");
      ff__sbf(&b, " %s | %s | %.0f | %s | %s | %s |\n", ff_fmt_ns(r->online_ns, t, sizeof t),
              ff_fmt_bytes(r->link_B, l, sizeof l), r->rounds, e, ff__fmt_bytes_or(r->peak_host_B, ph, sizeof ph),
              ff__fmt_bytes_or(r->peak_device_B, pd, sizeof pd));
    } else {
      ff__sbf(&b, " | | | | | | |\n");
    }
  }
  if (b.oom) {
    free(b.s);
    return FF_ENOMEM;
  }
  *md = b.s;
  return FF_OK;
}

ff_status ff_matrix_html(const ff_grid_cell *cells, const ff_cell_result *res, size_t n, const char *scaling_svg,
                         char **html) {
  *html = NULL;
  ff__sb b = {0};
  ff__sbf(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>fusefss matrix</title>\n"
             "<style>body{font-family:Helvetica,Arial,sans-serif;margin:2em}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:3px 8px}td.n{text-align:right}th{background:#f3f3f3}</style>"
             "</head><body>\n<h1>fusefss matrix</h1>\n<table><tr><th>cell</th><th>status</th><th>keys P0</th>"
             "<th>keys P1</th><th>online</th><th>link</th><th>rounds</th><th>LAN</th><th>WAN</th><th>keygen</th>"
             "<th>max |err|</th><th>peak host</th><th>peak device</th></tr>\n");
  for (size_t i = 0; i < n; i++) {
    const ff_cell_result *r = &res[i];
    ff__sbf(&b, "<tr><td>");
    ff__hx(&b, cells[i].name);
    ff__sbf(&b, "</td><td>");
    ff__hx(&b, r->status);
    if (*r->reason) {
      ff__sbf(&b, ": ");
      ff__hx(&b, r->reason);
    }
    ff__sbf(&b, "</td>");
    char k0[32], k1[32];
    ff__sbf(&b, "<td class=\"n\">%s</td><td class=\"n\">%s</td>", ff__fmt_bytes_or(r->key_B_p0, k0, sizeof k0),
            ff__fmt_bytes_or(r->key_B_p1, k1, sizeof k1));
    if (strcmp(r->status, "done") == 0) {
      char t[32], l[32], lan[32], wan[32], ph[32], pd[32];
      ff__sbf(&b, "<td class=\"n\">%s</td><td class=\"n\">%s</td><td class=\"n\">%.0f</td><td class=\"n\">%s</td>"
                 "<td class=\"n\">%s</td><td class=\"n\">%.3f s</td><td class=\"n\">%.3g</td><td class=\"n\">%s</td>"
                 "<td class=\"n\">%s</td>",
             ff_fmt_ns(r->online_ns, t, sizeof t), ff_fmt_bytes(r->link_B, l, sizeof l), r->rounds,
             ff_fmt_ns(r->lan_ns, lan, sizeof lan), ff_fmt_ns(r->wan_ns, wan, sizeof wan), r->keygen_s, r->max_abs_err,
             ff__fmt_bytes_or(r->peak_host_B, ph, sizeof ph), ff__fmt_bytes_or(r->peak_device_B, pd, sizeof pd));
    } else {
      ff__sbf(&b, "<td></td><td></td><td></td><td></td><td></td><td></td><td></td><td></td><td></td>");
    }
    ff__sbf(&b, "</tr>\n");
  }
  ff__sbf(&b, "</table>\n");
  if (scaling_svg) {
    const char *s = strstr(scaling_svg, "<svg");
    ff__sbf(&b, "<figure>\n%s</figure>\n", s ? s : scaling_svg);
  }
  ff__sbf(&b, "</body></html>\n");
  if (b.oom) {
    free(b.s);
    return FF_ENOMEM;
  }
  *html = b.s;
  return FF_OK;
}
