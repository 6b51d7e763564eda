/* `fusefss bench gate --suite sigma`: every sigma gate alone at BERT-base sizes (research/sigma.md §4),
 * dealer and both parties in one process through ff_sigma_run_local (gates/sigma/local.h): keygen
 * time, party time, key bytes, bits and rounds per element on the CPU and CUDA; with --profile, both
 * parties' scope logs merged per gate and backend and the slower party's time split by scope name. The
 * runner and its profiles are tested in tests/test_bench_gate.c; nothing printed here is asserted. */
#include "tools/bench_gate.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ctx.h"
#include "core/cuda.h"
#include "core/log.h"
#include "core/rand.h"
#include "core/ring.h"
#include "gates/sigma/gelu.h"
#include "gates/sigma/layernorm.h"
#include "gates/sigma/local.h"
#include "gates/sigma/matmul.h"
#include "gates/sigma/mul.h"
#include "gates/sigma/relu.h"
#include "gates/sigma/softmax.h"
#include "gates/sigma/truncate.h"
#include "tools/breakdown.h"
#include "tools/cli.h"
#include "tools/merge.h"

enum { FF__BW = 50, FF__SCALE = 12, FF__SMALL = 16 };

typedef enum { FF__TRFLOOR, FF__RELU, FF__GELU, FF__SOFTMAX, FF__LAYERNORM, FF__MUL, FF__MATMUL } ff__gate_kind;

/* One gate at BERT-base sizes (128 tokens). x is (rows, cols), owned by P1; --small divides rows by
 * 16, which keeps every per-element figure except matmul's (its weight share is per product). The
 * SIGMA columns are research/sigma.md §4's per-gate figures at bw 50 (NULL: that table gives none). */
typedef struct {
  const char *name;
  ff__gate_kind kind;
  size_t rows, cols;      /* x */
  size_t wcols;           /* matmul: W is (cols, wcols) */
  const char *sigma_key, *sigma_bits, *sigma_rounds;
} ff__gate;

static const ff__gate ff__gates[] = {
    {"trfloor", FF__TRFLOOR, 128, 3072, 0, "676.75", "90", "4"},
    {"relu", FF__RELU, 128, 3072, 0, NULL, "51", "2"},
    {"gelu", FF__GELU, 128, 3072, 0, "611.6", "145", "7"},
    {"softmax", FF__SOFTMAX, 12 * 128, 128, 0, "~1676", "~471.6", "35"},
    {"layernorm", FF__LAYERNORM, 128, 768, 0, "~322", "~202", "11+8 LLAMA"},
    {"mul", FF__MUL, 128, 3072, 0, "700.75", "140", "5"},
    {"matmul", FF__MATMUL, 128, 768, 3072, NULL, "140", "5"},
};
#define FF__NGATES (sizeof ff__gates / sizeof ff__gates[0])

typedef struct {
  int reps, small;
  int cpu, gpu;
  int preload;                 /* --keys preload (FF_KEYS_PRELOAD) */
  int want[FF__NGATES];
  const char *profile;         /* --profile DIR, or NULL */
  char *split[2 * FF__NGATES]; /* the breakdown lines printed under the table (--profile) */
  size_t n_split;
} ff__gate_opts;

static void ff__usage(FILE *f) {
  fprintf(f,
          "usage: fusefss bench gate --suite sigma [options]\n"
          "\n"
          "Each gate of the suite alone at BERT-base sizes (128 tokens, bw 50, scale 12): the dealer on the CPU\n"
          "into memory key streams, then both parties in two threads of this process over the in-memory\n"
          "channel. Per gate: keygen time, party time, key bytes and bits sent per output element, rounds.\n"
          "Gates: trfloor (128x3072, shift 12), relu (128x3072), gelu (128x3072), softmax (12x128 rows of 128),\n"
          "layernorm (128x768), mul (elementwise, 128x3072), matmul (128x768 by 768x3072).\n"
          "\n"
          "options:\n"
          "  --suite sigma            the gate suite (only sigma so far)\n"
          "  --backend cpu|cuda|all   the parties' backend (default all that this machine has); a gate that a\n"
          "                           backend lacks is reported as n/a\n"
          "  --reps N                 party repetitions on the same keys, median reported (default 3)\n"
          "  --keys stream|preload    where a party's keys live online: streamed per gate from the key stream\n"
          "                           (default), or read once and (on cuda) uploaded once into device memory\n"
          "                           before the timed run, its time in a \"preload ms\" column\n"
          "  --gate NAME,...          only these gates (default all)\n"
          "  --small                  128 tokens / 16 (8 tokens; softmax 96 rows of 128) for a quick run\n"
          "  --profile DIR            record both parties' scopes (one extra warm-up repetition) into\n"
          "                           DIR/<gate>-<backend>/prof_p{0,1}.json, merge them into breakdown_merged.json\n"
          "                           there, and print the slower party's time by scope name under the table\n"
          "  -h, --help               this help\n");
}

/* ---- The graph: inputs, the gate bracketed, the output ------------------------------------------------- */

typedef struct {
  const ff__gate *g;
  size_t rows;
  uint64_t *x, *w, *b; /* P1's x (rows, cols); P0's second operand and LayerNorm's beta */
} ff__gate_arg;

static ff_status ff__gate_graph(ff_op *op, void *arg, ff_sigma_local_rec *rec) {
  const ff__gate_arg *a = arg;
  const ff__gate *g = a->g;
  ff_wire x = {0}, w = {0}, b = {0}, y = {0};
  const int64_t xs[2] = {(int64_t)a->rows, (int64_t)g->cols};
  const int64_t ws[2] = {(int64_t)g->cols, (int64_t)g->wcols};
  ff_status st = ff_op_input(op, 1, 2, xs, a->x, &x);
  if (!st && g->kind == FF__MUL) st = ff_op_input(op, 0, 2, xs, a->w, &w);
  if (!st && g->kind == FF__MATMUL) st = ff_op_input(op, 0, 2, ws, a->w, &w);
  if (!st && g->kind == FF__LAYERNORM) st = ff_op_input(op, 0, 1, ws, a->w, &w); /* gamma (cols) */
  if (!st && g->kind == FF__LAYERNORM) st = ff_op_input(op, 0, 1, ws, a->b, &b); /* beta (cols) */
  if (st) goto done;
  ff_sigma_local_gate_begin(rec);
  switch (g->kind) {
    case FF__TRFLOOR: st = ff_op_trfloor(op, &x, FF__SCALE, &y); break;
    case FF__RELU: st = ff_op_relu(op, &x, x.bw, &y); break;
    case FF__GELU: st = ff_op_gelu(op, &x, &y); break;
    case FF__SOFTMAX: st = ff_op_softmax(op, &x, &y); break;
    case FF__LAYERNORM: st = ff_op_layernorm(op, &x, &w, &b, &y); break;
    case FF__MUL: st = ff_op_mul(op, &x, &w, &y); break;
    case FF__MATMUL: st = ff_op_matmul(op, &x, &w, &y); break;
  }
  if (!st) st = ff_sigma_local_gate_end(rec);
  if (!st) st = ff_sigma_local_output(rec, &y);
done:
  ff_wire_free(&x);
  ff_wire_free(&w);
  ff_wire_free(&b);
  ff_wire_free(&y);
  return st;
}

/* n values uniform in [-8, 8) at scale 12: inside every gate's domain (GELU's clip is |x| < 4, the
 * products and LayerNorm's sums stay far below 2^48). */
static uint64_t *ff__inputs(ff_rng *rng, size_t n) {
  uint64_t *v = malloc((n ? n : 1) * sizeof *v);
  if (!v) return NULL;
  const int64_t lim = (int64_t)8 << FF__SCALE;
  for (size_t i = 0; i < n; i++)
    v[i] = ff_ring_from_signed(-lim + (int64_t)(ff_rng_u64(rng) % (uint64_t)(2 * lim)), FF__BW);
  return v;
}

/* ---- Rows ------------------------------------------------------------------------------------------------ */

static uint64_t ff__max_u64(uint64_t a, uint64_t b) { return a > b ? a : b; }

static const char *ff__shape(const ff__gate *g, size_t rows, char *shape, size_t n) {
  if (g->kind == FF__MATMUL)
    snprintf(shape, n, "%zux%zux%zu", rows, g->cols, g->wcols);
  else if (g->kind == FF__TRFLOOR)
    snprintf(shape, n, "%zux%zu, s %d", rows, g->cols, FF__SCALE);
  else if (g->kind == FF__SOFTMAX)
    snprintf(shape, n, "%zu rows of %zu", rows, g->cols);
  else
    snprintf(shape, n, "%zux%zu", rows, g->cols);
  return shape;
}

static void ff__row(const ff__gate *g, size_t rows, const char *on, const ff_sigma_local_result *r, int ran,
                    int preload) {
  const size_t n_out = rows * (g->kind == FF__MATMUL ? g->wcols : g->cols);
  /* Costs: the parties' own measurements when they ran, else the cost functions (equal; the test checks). */
  const ff_gate_cost *c = ran ? r->gate : r->cost_gate;
  const uint64_t key = ff__max_u64(r->keygen_gate[0].key_bytes, r->keygen_gate[1].key_bytes);
  const uint64_t bits = ff__max_u64(c[0].bits_sent, c[1].bits_sent), rounds = ff__max_u64(c[0].rounds, c[1].rounds);
  char shape[40], party[24], sigma_key[24];
  ff__shape(g, rows, shape, sizeof shape);
  if (ran)
    snprintf(party, sizeof party, "%.3f", (r->gate_s[0] > r->gate_s[1] ? r->gate_s[0] : r->gate_s[1]) * 1e3);
  else
    snprintf(party, sizeof party, "n/a");
  char pre[40] = "";
  if (preload && ran)
    snprintf(pre, sizeof pre, " %10.3f |", (r->preload_s[0] > r->preload_s[1] ? r->preload_s[0] : r->preload_s[1]) * 1e3);
  else if (preload)
    snprintf(pre, sizeof pre, " %10s |", "n/a");
  if (g->kind == FF__MATMUL) /* SIGMA's formula, sigma.md §4: 8(|A| + |B|)/|C| + 8 + 676.75 */
    snprintf(sigma_key, sizeof sigma_key, "%.2f",
             8.0 * (double)(rows * g->cols + g->cols * g->wcols) / (double)n_out + 8 + 676.75);
  else
    snprintf(sigma_key, sizeof sigma_key, "%s", g->sigma_key ? g->sigma_key : "-");
  printf("| %-9s | %-18s | %-4s | %10.3f | %10s |%s %10.2f | %9.2f | %6llu | %9s | %9s | %-10s |\n", g->name, shape,
         on, r->keygen_gate_s * 1e3, party, pre, (double)key / (double)n_out, (double)bits / (double)n_out,
         (unsigned long long)rounds, sigma_key, g->sigma_bits, g->sigma_rounds);
}

/* ---- --profile: merge the two logs, split the slower party's time by scope name -------------------------- */

typedef struct {
  const char *name;
  double ns;
} ff__share;

static int ff__share_desc(const void *a, const void *b) {
  const double x = ((const ff__share *)a)->ns, y = ((const ff__share *)b)->ns;
  return (x < y) - (x > y);
}

/* "gelu/cuda (P1, 12.3 ms): KeyTransfer 62%, Reconstruct 21%, ..., other 4%": the slower party's exclusive
 * wall time summed over the counted repetitions per scope name (the NAME grouping partitions the total),
 * the four largest named, the rest and the unscoped time as "other". */
static ff_status ff__split_line(const ff_breakdown *bd, const char *label, char **out) {
  ff_grouping g;
  ff_status st = ff_breakdown_group(bd, FF_GROUP_NAME, &g);
  if (st) return st;
  ff__share *sh = calloc(g.n_rows ? g.n_rows : 1, sizeof *sh);
  double tot[2] = {0, 0};
  if (!sh) {
    ff_grouping_free(&g);
    return FF_ENOMEM;
  }
  for (size_t i = 0; i < g.n_rows; i++)
    for (size_t k = 0; k < g.n_reps; k++) {
      tot[0] += g.rows[i].excl[k].v[FF_M_WALL_P0];
      tot[1] += g.rows[i].excl[k].v[FF_M_WALL_P1];
    }
  const int slow = tot[1] > tot[0];
  const ff_metric m = slow ? FF_M_WALL_P1 : FF_M_WALL_P0;
  double other = 0;
  size_t n = 0;
  for (size_t i = 0; i < g.n_rows; i++) {
    double ns = 0;
    for (size_t k = 0; k < g.n_reps; k++) ns += g.rows[i].excl[k].v[m];
    if (strcmp(g.rows[i].key, "Other") == 0)
      other += ns;
    else
      sh[n++] = (ff__share){g.rows[i].key, ns};
  }
  qsort(sh, n, sizeof *sh, ff__share_desc);
  char line[1024];
  const double total = tot[slow] > 0 ? tot[slow] : 1;
  int len = snprintf(line, sizeof line, "%s (P%d, %.3f ms per rep):", label, slow,
                     tot[slow] / 1e6 / (double)(g.n_reps ? g.n_reps : 1));
  for (size_t i = 0; i < n; i++) {
    if (i >= 4 || sh[i].ns / total < 0.01) {
      other += sh[i].ns;
      continue;
    }
    len += snprintf(line + len, sizeof line - (size_t)len, "%s %s %.0f%%", i ? "," : "", sh[i].name,
                    100 * sh[i].ns / total);
  }
  snprintf(line + len, sizeof line - (size_t)len, ", other %.0f%%", 100 * other / total);
  free(sh);
  ff_grouping_free(&g);
  *out = strdup(line);
  return *out ? FF_OK : FF_ENOMEM;
}

/* Merges dir/prof_p{0,1}.json into dir/breakdown_merged.json and adds the gate's line to o->split. */
static ff_status ff__profile_merge(ff__gate_opts *o, const char *dir, const char *label) {
  char p0[4096], p1[4096], merged[4096];
  if (snprintf(p0, sizeof p0, "%s/prof_p0.json", dir) >= (int)sizeof p0 ||
      snprintf(p1, sizeof p1, "%s/prof_p1.json", dir) >= (int)sizeof p1 ||
      snprintf(merged, sizeof merged, "%s/breakdown_merged.json", dir) >= (int)sizeof merged) {
    FF_ERROR("bench gate: the --profile path %s is too long", dir);
    return FF_EINVAL;
  }
  ff_breakdown *bd = NULL;
  ff_status st = ff_merge_logs(p0, p1, &bd);
  if (!st) st = ff_breakdown_write(bd, merged);
  if (!st && o->n_split < sizeof o->split / sizeof o->split[0]) st = ff__split_line(bd, label, &o->split[o->n_split++]);
  ff_breakdown_free(bd);
  return st;
}

/* Runs gate g on backend b and prints its row; FF_ENOTSUP from the parties prints n/a. */
static ff_status ff__bench_one(ff__gate_opts *o, const ff__gate *g, ff_backend b, ff_rng *rng) {
  ff__gate_arg a = {.g = g, .rows = o->small ? g->rows / FF__SMALL : g->rows};
  size_t nw = 0;
  if (g->kind == FF__MUL) nw = a.rows * g->cols;
  if (g->kind == FF__MATMUL) nw = g->cols * g->wcols;
  if (g->kind == FF__LAYERNORM) nw = g->cols;
  a.x = ff__inputs(rng, a.rows * g->cols);
  a.w = ff__inputs(rng, nw);
  a.b = ff__inputs(rng, g->kind == FF__LAYERNORM ? g->cols : 0);
  ff_status st = FF_ENOMEM;
  if (a.x && a.w && a.b) {
    char dir[4096], label[64], shape[40];
    snprintf(label, sizeof label, "%s/%s", g->name, ff_backend_name(b));
    if (o->profile) snprintf(dir, sizeof dir, "%s/%s-%s", o->profile, g->name, ff_backend_name(b));
    const ff_sigma_local_opts lo = {.bw = FF__BW, .scale = FF__SCALE, .backend = b, .reps = o->reps,
                                    .prof_dir = o->profile ? dir : NULL, .prof_gate = g->name,
                                    .prof_shape = ff__shape(g, a.rows, shape, sizeof shape),
                                    .keys = o->preload ? FF_KEYS_PRELOAD : FF_KEYS_STREAM};
    ff_sigma_local_result r;
    st = ff_sigma_run_local(&lo, ff__gate_graph, &a, &r);
    const int ran = st == FF_OK;
    if (st == FF_OK || st == FF_ENOTSUP) {
      ff__row(g, a.rows, ff_backend_name(b), &r, ran, o->preload);
      fflush(stdout);
      st = FF_OK;
    }
    if (ran && o->profile && (st = ff__profile_merge(o, dir, label)))
      FF_ERROR("bench gate: cannot merge the profiles in %s: %s", dir, ff_strerror(st));
    ff_sigma_local_result_free(&r);
  }
  free(a.x);
  free(a.w);
  free(a.b);
  return st;
}

static int ff__parse_gates(const char *cmd, const char *list, ff__gate_opts *o) {
  memset(o->want, 0, sizeof o->want);
  const char *p = list;
  while (*p) {
    const size_t n = strcspn(p, ",");
    size_t i = 0;
    while (i < FF__NGATES && !(strlen(ff__gates[i].name) == n && strncmp(p, ff__gates[i].name, n) == 0)) i++;
    if (i == FF__NGATES) {
      char valid[128] = "";
      for (size_t j = 0; j < FF__NGATES; j++) {
        strcat(valid, j ? ", " : "");
        strcat(valid, ff__gates[j].name);
      }
      return ff_cli_usage_error(cmd, "unknown gate '%.*s' (valid: %s)", (int)n, p, valid);
    }
    o->want[i] = 1;
    p += n;
    if (*p == ',') p++;
  }
  for (size_t i = 0; i < FF__NGATES; i++)
    if (o->want[i]) return FF_EXIT_OK;
  return ff_cli_usage_error(cmd, "--gate needs at least one gate name");
}

int ff_cmd_bench_gate(int argc, char **argv) {
  const char *cmd = "bench gate";
  ff__gate_opts o = {.reps = 3, .cpu = 1, .gpu = -1};
  for (size_t i = 0; i < FF__NGATES; i++) o.want[i] = 1;
  static const struct option opts[] = {{"suite", required_argument, 0, 's'}, {"backend", required_argument, 0, 'b'},
                                       {"reps", required_argument, 0, 'r'},  {"gate", required_argument, 0, 'g'},
                                       {"small", no_argument, 0, 'm'},       {"help", no_argument, 0, 'h'},
                                       {"profile", required_argument, 0, 'p'}, {"keys", required_argument, 0, 'k'},
                                       {0, 0, 0, 0}};
  optind = 1;
  opterr = 0;
  int c, rc;
  long long v;
  while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
    switch (c) {
      case 'h': ff__usage(stdout); return FF_EXIT_OK;
      case 's':
        if (strcmp(optarg, "sigma") != 0) return ff_cli_usage_error(cmd, "unknown suite '%s' (valid: sigma)", optarg);
        break;
      case 'b':
        if (ff_parse_backends(optarg, &o.cpu, &o.gpu))
          return ff_cli_usage_error(cmd, "--backend must be cpu, cuda or all, not '%s'", optarg);
        break;
      case 'r':
        if (ff_parse_int(optarg, 1, 1000, &v)) return ff_cli_usage_error(cmd, "--reps must be 1..1000, not '%s'", optarg);
        o.reps = (int)v;
        break;
      case 'g':
        if ((rc = ff__parse_gates(cmd, optarg, &o)) != FF_EXIT_OK) return rc;
        break;
      case 'm': o.small = 1; break;
      case 'k':
        if (strcmp(optarg, "stream") == 0)
          o.preload = 0;
        else if (strcmp(optarg, "preload") == 0)
          o.preload = 1;
        else
          return ff_cli_usage_error(cmd, "--keys must be stream or preload, not '%s'", optarg);
        break;
      case 'p':
        if (!*optarg) return ff_cli_usage_error(cmd, "--profile needs a directory");
        o.profile = optarg;
        break;
      case ':': return ff_cli_usage_error(cmd, "option '%s' needs a value", argv[optind - 1]);
      default: return ff_cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
    }
  }
  if (optind < argc) return ff_cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
  const int have_gpu = ff_cuda_device_count() > 0;
  if (o.gpu == 1 && !have_gpu) return ff_cli_fail(cmd, "--backend cuda: no CUDA device is visible (or this build has no CUDA)");
  if (o.gpu < 0) o.gpu = have_gpu;

  char dev[256] = "";
  printf("fusefss bench gate --suite sigma: bw %d, scale %d, %s sizes (128 tokens%s); dealer on the CPU (once),\n"
         "parties in two threads over the in-memory channel, %d repetition%s on the same keys.\n",
         FF__BW, FF__SCALE, o.small ? "small" : "BERT-base", o.small ? " / 16" : "", o.reps, o.reps == 1 ? "" : "s");
  if (o.gpu && ff_cuda_device_name(dev, sizeof dev) == FF_OK) printf("GPU: %s\n", dev);
  printf("Units: keygen ms = the dealer's time for the gate alone; party ms = the gate alone (inputs and outputs\n"
         "excluded), median over the repetitions, max over the two parties; key B/el = one party's key bytes per\n"
         "output element; bits/el = payload bits one party sends per output element; rounds of the gate; all\n"
         "costs max over the parties. SIGMA columns: research/sigma.md §4's per-gate figures at bw 50 (- : none\n"
         "given as a number); n/a: the backend has no such gate yet.\n");
  if (o.preload)
    printf("Keys: preload (--keys preload): each party reads its whole key stream once (and on cuda uploads it\n"
           "once into device memory) before the barrier; party ms excludes it; preload ms = that load for the\n"
           "whole graph (inputs, gate, output), median over the repetitions, max over the two parties.\n");
  else
    printf("Keys: stream (--keys stream): each gate reads its keys from the key stream (on cuda staged through\n"
           "host memory and uploaded) inside party ms, as KeyTransfer.\n");
  printf("\n| %-9s | %-18s | %-4s | %10s | %10s |", "gate", "shape", "on", "keygen ms", "party ms");
  if (o.preload) printf(" %10s |", "preload ms");
  printf(" %10s | %9s | %6s | %9s | %9s | %-10s |\n", "key B/el", "bits/el", "rounds", "SIGMA key", "SIGMA bit",
         "SIGMA rnds");
  printf("|:----------|:-------------------|:-----|-----------:|-----------:|%s-----------:|----------:|-------:|"
         "----------:|----------:|:-----------|\n",
         o.preload ? "-----------:|" : "");
  ff_rng rng;
  ff_rng_init_seeded(&rng, 2024);
  const ff_backend backends[2] = {FF_BACKEND_CPU, FF_BACKEND_CUDA};
  const int use[2] = {o.cpu, o.gpu};
  ff_status st = FF_OK;
  for (size_t i = 0; i < FF__NGATES && !st; i++) {
    if (!o.want[i]) continue;
    for (int k = 0; k < 2 && !st; k++) {
      if (!use[k]) continue;
      if ((st = ff__bench_one(&o, &ff__gates[i], backends[k], &rng)))
        rc = ff_cli_fail(cmd, "%s on %s failed: %s", ff__gates[i].name, ff_backend_name(backends[k]), ff_strerror(st));
    }
  }
  if (!st && o.profile) {
    printf("\nWhere the party time goes (--profile): the slower party's wall time from the barrier to the end of\n"
           "the graph (inputs and output included), exclusive per scope name, summed over the counted repetitions\n"
           "(the warm-up excluded); logs and breakdown_merged.json in %s/<gate>-<backend>/.\n",
           o.profile);
    for (size_t i = 0; i < o.n_split; i++) printf("  %s\n", o.split[i]);
  }
  for (size_t i = 0; i < o.n_split; i++) free(o.split[i]);
  if (st) return rc;
  printf("\nSIGMA's own measured times (../shared/gpu/README.md: EzPC GPU-MPC on one H200, bert-base, seq 128)\n"
         "are whole-model category totals, not per-gate times: online 2305 ms, of which softmax 636, LayerNorm\n"
         "500, truncation 243, GELU 204, matmul 182 (summed over all 12 layers and calls; categories overlap);\n"
         "keygen 2071 ms for the whole model. No per-gate SIGMA time is given there, so none is printed above.\n");
  return FF_EXIT_OK;
}
