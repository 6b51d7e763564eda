/* `fusefss bench gate`: each gate alone at BERT-base sizes (research/sigma.md §4), dealer and both
 * parties in one process through ff_sigma_run_local (gates/sigma/local.h), on the CPU and CUDA.
 * --suite sigma: every sigma gate, keygen time, party time, key bytes, bits and rounds per element; with
 * --profile, both parties' scope logs merged per gate and backend and the slower party's time split by
 * scope name; nothing of that table is asserted. --suite suf / both: the gates the suf suite changes
 * (gates/suf, DESIGN.md §4), suf's and (both) sigma's side by side on the same inputs, each row checked
 * (measured costs == the cost function, P1's output == the fixed-point emulation; exit 1 otherwise) and
 * measured against the float function. Tests: tests/test_bench_gate.c (the runner, the suf rows, the
 * command's suf/both output and usage errors). */
#include "tools/bench_gate.h"

#include <getopt.h>
#include <math.h>
#include <stdint.h>
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
#include "gates/sigma/op_internal.h"
#include "gates/sigma/relu.h"
#include "gates/sigma/softmax.h"
#include "gates/sigma/truncate.h"
#include "gates/suf/spec.h"
#include "gates/suf/sparse.h"
#include "gates/suf/suf.h"
#include "scope/scope.h"
#include "tools/lib/analysis.h"
#include "tools/cli.h"

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

/* The gates of --suite suf and both (below), declared here for the options. */
typedef enum {
  FF__S_GELU, FF__S_SILU, FF__S_NEXP, FF__S_SOFTMAX, FF__S_LAYERNORM, FF__S_RECIPROCAL, FF__S_RSQRT
} ff__suf_kind;

typedef struct {
  const char *name;
  ff__suf_kind kind;
  size_t rows, cols; /* x */
  int bw, bw_in;     /* the op's ring; the gate's input ring (0: a row of text, no gate of its own) */
} ff__suf_gate;

/* gelu, softmax and layernorm at the sigma rows' sizes; silu 128x3072 on SIGMA's Llama ring, bw 48 (the
 * sigma suite has no silu row); nexp on softmax's 12 x 128 rows of 128 values max - x, read on softmax's
 * ring bw - scale + 2 = 40 bits; reciprocal and rsqrt are sigma's gates inside softmax and layernorm. */
static const ff__suf_gate ff__suf_gates[] = {
    {"gelu", FF__S_GELU, 128, 3072, 50, 50},
    {"silu", FF__S_SILU, 128, 3072, 48, 48},
    {"nexp", FF__S_NEXP, 12 * 128, 128, 50, 50 - 12 + 2},
    {"softmax", FF__S_SOFTMAX, 12 * 128, 128, 50, 50},
    {"layernorm", FF__S_LAYERNORM, 128, 768, 50, 50},
    {"reciprocal", FF__S_RECIPROCAL, 12 * 128, 128, 50, 0},
    {"rsqrt", FF__S_RSQRT, 128, 768, 50, 0},
};
#define FF__NSUF (sizeof ff__suf_gates / sizeof ff__suf_gates[0])

typedef enum { FF__SUITE_SIGMA, FF__SUITE_SUF, FF__SUITE_BOTH } ff__suite;

typedef struct {
  ff__suite suite;
  int reps, small;
  int cpu, gpu;
  int preload;                 /* --keys preload (FF_KEYS_PRELOAD) */
  const char *gates;           /* --gate NAME,... (checked against the suite's gates after the options) */
  int want[FF__NGATES];        /* --suite sigma */
  int want_suf[FF__NSUF];      /* --suite suf and both */
  const char *suf_args[32];    /* --suf NAME=VALUE, applied after the environment */
  int n_suf_args;
  int insecure_no_padding;     /* --insecure-no-padding (the sparse regime's ablation) */
  ff_suf_config cfg;           /* the suf knobs used (suf and both) */
  const char *profile;         /* --profile DIR, or NULL */
  char *split[4 * FF__NSUF];   /* the breakdown lines printed under the table (--profile) */
  size_t n_split;
} ff__gate_opts;

static void ff__usage(FILE *f) {
  fprintf(f,
          "usage: fusefss bench gate --suite sigma|suf|both [options]\n"
          "\n"
          "Each gate of the suite alone at BERT-base sizes (128 tokens, scale 12): the dealer on the row's\n"
          "backend (cuda: its tree keys on the GPU, the same bytes) into memory key streams, then both parties\n"
          "in two threads of this process over the in-memory channel. Per gate: keygen time, party time, key\n"
          "bytes and bits sent per output element, rounds.\n"
          "\n"
          "--suite sigma (the default), bw 50: trfloor (128x3072, shift 12), relu (128x3072), gelu (128x3072),\n"
          "softmax (12x128 rows of 128), layernorm (128x768), mul (elementwise, 128x3072), matmul (128x768 by\n"
          "768x3072).\n"
          "--suite suf: the gates the suf suite changes, under its knobs: gelu (128x3072, bw 50), silu (128x3072,\n"
          "bw 48), nexp (12x128 rows of 128 values max - x, 40 -> 50 bits), softmax and layernorm (sigma's\n"
          "pipelines with suf's nExp and table widths), reciprocal and rsqrt (sigma's gates at the widths\n"
          "SUF_INV_BITS and SUF_RSQRT_BITS: rows of text, measured inside softmax and layernorm). Per gate also\n"
          "the max and mean |error| against the float function, and checks: measured costs == the cost\n"
          "function, P1's output == the fixed-point emulation (exit status 1 otherwise).\n"
          "--suite both: the same gates, sigma's and suf's rows side by side on the same inputs, then a summary.\n"
          "\n"
          "options:\n"
          "  --suite sigma|suf|both   the gate suite (default sigma)\n"
          "  --suf NAME=VALUE         a suf knob (repeatable; suf and both): SUF_ACTIVATION, SUF_SOFTMAX,\n"
          "                           SUF_LAYERNORM, SUF_GELU_INTERVALS, SUF_SILU_INTERVALS, SUF_NEXP_BITS,\n"
          "                           SUF_INV_BITS, SUF_RSQRT_BITS, SUF_DEGREE, SUF_EFFECTIVE_BITS (or the\n"
          "                           lower-case name without SUF_); applied after the SUF_* / FUSEFSS_*\n"
          "                           environment, which is applied after the defaults; the values used are\n"
          "                           printed. SUF_GELU_INTERVALS / SUF_SILU_INTERVALS 2..16 measure the\n"
          "                           sparse regime (one DCF per boundary), degree SUF_DEGREE\n"
          "  --insecure-no-padding    the sparse regime WITHOUT mask-aware padding: an insecure ablation that\n"
          "                           measures what padding costs (suf and both; a sparse gate needed)\n"
          "  --backend cpu|cuda|all   the parties' backend (default all that this machine has); a gate that a\n"
          "                           backend lacks is reported as n/a\n"
          "  --reps N                 party repetitions on the same keys, median reported (default 3)\n"
          "  --keys stream|preload    where a party's keys live online: streamed per gate from the key stream\n"
          "                           (default), or read once and (on cuda) uploaded once into device memory\n"
          "                           before the timed run, its time in a \"preload ms\" column\n"
          "  --gate NAME,...          only these gates of the suite (default all)\n"
          "  --small                  128 tokens / 16 (8 tokens; softmax 96 rows of 128) for a quick run\n"
          "  --profile DIR            record both parties' scopes (one extra warm-up repetition) into\n"
          "                           DIR/<gate>-<backend>/prof_p{0,1}.json (suf, both: DIR/<suite>-<gate>-\n"
          "                           <backend>/), merge them into breakdown_merged.json there, and print the\n"
          "                           slower party's time by scope name under the table\n"
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

/* n values uniform in [-8, 8) at scale 12 as bw-bit ring elements: inside every gate's domain (GELU's clip
 * is |x| < 4, the products and LayerNorm's sums stay far below 2^48). */
static uint64_t *ff__uniform(ff_rng *rng, size_t n, int bw) {
  uint64_t *v = malloc((n ? n : 1) * sizeof *v);
  if (!v) return NULL;
  const int64_t lim = (int64_t)8 << FF__SCALE;
  for (size_t i = 0; i < n; i++)
    v[i] = ff_ring_from_signed(-lim + (int64_t)(ff_rng_u64(rng) % (uint64_t)(2 * lim)), bw);
  return v;
}

static uint64_t *ff__inputs(ff_rng *rng, size_t n) { return ff__uniform(rng, n, FF__BW); }

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

/* --gate LIST against the suite's gate names: want[i] = 1 for each name in the list. */
static int ff__parse_gates(const char *cmd, const char *list, const char *const *names, size_t n_names, int *want) {
  memset(want, 0, n_names * sizeof *want);
  const char *p = list;
  while (*p) {
    const size_t n = strcspn(p, ",");
    size_t i = 0;
    while (i < n_names && !(strlen(names[i]) == n && strncmp(p, names[i], n) == 0)) i++;
    if (i == n_names) {
      char valid[160] = "";
      for (size_t j = 0; j < n_names; j++) {
        strcat(valid, j ? ", " : "");
        strcat(valid, names[j]);
      }
      return ff_cli_usage_error(cmd, "unknown gate '%.*s' (valid: %s)", (int)n, p, valid);
    }
    want[i] = 1;
    p += n;
    if (*p == ',') p++;
  }
  for (size_t i = 0; i < n_names; i++)
    if (want[i]) return FF_EXIT_OK;
  return ff_cli_usage_error(cmd, "--gate needs at least one gate name");
}

/* ---- --suite suf and both: the graph --------------------------------------------------------------------- */

static int ff__suf_switch(ff__suf_kind k, const ff_suf_config *c) {
  if (k == FF__S_GELU || k == FF__S_SILU) return c->activation;
  if (k == FF__S_NEXP || k == FF__S_SOFTMAX || k == FF__S_RECIPROCAL) return c->softmax;
  return c->layernorm;
}

static const char *ff__suf_switch_name(ff__suf_kind k) {
  if (k == FF__S_GELU || k == FF__S_SILU) return "SUF_ACTIVATION";
  if (k == FF__S_NEXP || k == FF__S_SOFTMAX || k == FF__S_RECIPROCAL) return "SUF_SOFTMAX";
  return "SUF_LAYERNORM";
}

static int ff__ceil_log2(size_t n) {
  int l = 0;
  while (((size_t)1 << l) < n) l++;
  return l;
}

/* The reciprocal's table input bits for rows of n: SUF_INV_BITS under suf's softmax (0: ceil(log2 n) + 6),
 * else SIGMA's k - 6 with k = 12 + ceil(log2 n), the same number. The rsqrt's: SUF_RSQRT_BITS or SIGMA's 13. */
static int ff__inv_bits(int suf, const ff_suf_config *c, size_t n) {
  return suf && c->softmax && c->inv_bits ? c->inv_bits : ff__ceil_log2(n) + 6;
}
static int ff__rsqrt_bits(int suf, const ff_suf_config *c) {
  return suf && c->layernorm ? c->rsqrt_bits : FF_SIGMA_RSQRT_LUT_BITS;
}

typedef struct {
  const ff__suf_gate *g;
  int suf;                      /* the suf variant (its switch on) */
  const ff_suf_config *cfg;
  const ff_suf_spec *sp;        /* suf gelu, silu, nexp (dense regime) */
  const ff_suf_sparse_spec *ssp; /* suf gelu, silu in the sparse regime (SUF_*_INTERVALS <= 16) */
  ff_sigma_softmax_opts so;     /* suf softmax (zeroed: SIGMA's) */
  ff_sigma_norm_opts no;        /* suf layernorm (zeroed: SIGMA's) */
  size_t rows;
  uint64_t *x, *w, *b;          /* P1's x (rows, cols) on the op's ring (nexp: max - x); P0's gamma, beta */
} ff__suf_arg;

/* nExp has no scope of its own in either suite (softmax opens it): the bench opens it around both. */
static ff_status ff__nexp_gate(ff_op *op, const ff__suf_arg *a, const ff_wire *x1, ff_wire *y) {
  FF_SCOPE("Softmax::nExp");
  return a->suf ? ff_op_suf_nexp(op, a->cfg, x1, y) : ff_sigma_nexp(NULL, op, x1, y);
}

static ff_status ff__suf_graph(ff_op *op, void *arg, ff_sigma_local_rec *rec) {
  const ff__suf_arg *a = arg;
  const ff__suf_gate *g = a->g;
  ff_wire x = {0}, x1 = {0}, w = {0}, b = {0}, y = {0};
  const int64_t xs[2] = {(int64_t)a->rows, (int64_t)g->cols}, ds[1] = {(int64_t)g->cols};
  ff_status st = ff_op_input(op, 1, 2, xs, a->x, &x);
  if (!st && g->kind == FF__S_LAYERNORM) st = ff_op_input(op, 0, 1, ds, a->w, &w);
  if (!st && g->kind == FF__S_LAYERNORM) st = ff_op_input(op, 0, 1, ds, a->b, &b);
  /* nExp reads softmax's narrower ring: the mask (dealer) and the masked value (party) both reduce mod
   * 2^bw_in, which is again a masked wire, in the memory of the op's wires (device on a CUDA party). */
  if (!st && g->kind == FF__S_NEXP && !(st = ff__op_wire_alloc(op, &x1, g->bw_in, x.ndim, x.shape)) && x.v)
    st = ff__op_reduce(op, x.v, x1.v, x.numel, g->bw_in);
  if (st) goto done;
  ff_sigma_local_gate_begin(rec);
  switch (g->kind) {
    case FF__S_GELU: st = a->suf ? ff_op_suf_gelu(op, a->cfg, &x, &y) : ff_op_gelu(op, &x, &y); break;
    case FF__S_SILU: st = a->suf ? ff_op_suf_silu(op, a->cfg, &x, &y) : ff_op_silu(op, &x, &y); break;
    case FF__S_NEXP: st = ff__nexp_gate(op, a, &x1, &y); break;
    case FF__S_SOFTMAX: st = ff_op_softmax_ex(op, &x, &y, a->suf ? &a->so : NULL); break;
    case FF__S_LAYERNORM: st = ff_op_layernorm_ex(op, &x, &w, &b, &y, a->suf ? &a->no : NULL); break;
    default: st = FF_EINVAL; break;
  }
  if (!st) st = ff_sigma_local_gate_end(rec);
  if (!st) st = ff_sigma_local_output(rec, &y);
done:
  ff_wire_free(&x);
  ff_wire_free(&x1);
  ff_wire_free(&w);
  ff_wire_free(&b);
  ff_wire_free(&y);
  return st;
}

/* ---- --suite suf and both: inputs, what the gate should give, one row -------------------------------------- */

/* The gate's plain inputs from a seed of its own (both suites and both backends see the same values): x
 * uniform in [-8, 8) on the op's ring; nexp: x1 = max - x over each row, in [0, 16); layernorm: gamma
 * and beta (cols) the same way as x. */
static ff_status ff__suf_inputs(ff__suf_arg *a) {
  const ff__suf_gate *g = a->g;
  ff_rng rng;
  ff_rng_init_seeded(&rng, 2024 + (uint64_t)g->kind);
  const size_t nw = g->kind == FF__S_LAYERNORM ? g->cols : 0;
  a->x = ff__uniform(&rng, a->rows * g->cols, g->bw);
  a->w = ff__uniform(&rng, nw, g->bw);
  a->b = ff__uniform(&rng, nw, g->bw);
  if (!a->x || !a->w || !a->b) return FF_ENOMEM;
  for (size_t r = 0; g->kind == FF__S_NEXP && r < a->rows; r++) {
    uint64_t *row = a->x + r * g->cols;
    int64_t max = INT64_MIN;
    for (size_t j = 0; j < g->cols; j++)
      if (ff_ring_signed(row[j], g->bw) > max) max = ff_ring_signed(row[j], g->bw);
    for (size_t j = 0; j < g->cols; j++) row[j] = (uint64_t)(max - ff_ring_signed(row[j], g->bw));
  }
  return FF_OK;
}

/* The suite's cost function for the gate (per party, both alike). */
static ff_status ff__suf_want(const ff__suf_arg *a, ff_gate_cost *c) {
  const ff__suf_gate *g = a->g;
  const size_t N = a->rows * g->cols;
  memset(c, 0, sizeof *c);
  if (a->sp) {
    ff_suf_cost(a->sp, N, c);
    return FF_OK;
  }
  if (a->ssp) {
    ff_suf_sparse_cost(a->ssp, N, c);
    return FF_OK;
  }
  switch (g->kind) {
    case FF__S_GELU: ff_sigma_act_cost(N, FF_SIGMA_GELU, g->bw, FF__SCALE, c); return FF_OK;
    case FF__S_SILU: ff_sigma_act_cost(N, FF_SIGMA_SILU, g->bw, FF__SCALE, c); return FF_OK;
    case FF__S_NEXP: ff_sigma_nexp_cost(NULL, N, g->bw, g->bw_in, c); return FF_OK;
    case FF__S_SOFTMAX: return ff_sigma_softmax_cost_ex(a->rows, g->cols, g->bw, a->suf ? &a->so : NULL, c);
    case FF__S_LAYERNORM:
      return ff_sigma_layernorm_cost_ex(a->rows, g->cols, g->bw, FF__SCALE, a->suf ? &a->no : NULL, c);
    default: return FF_EINVAL;
  }
}

/* The fixed-point emulation of exactly what the gate computes: ref (rows, cols) mod 2^bw. */
static ff_status ff__suf_emulate(const ff__suf_arg *a, uint64_t *ref) {
  const ff__suf_gate *g = a->g;
  const size_t N = a->rows * g->cols;
  if (a->sp) { /* the suf gates reduce their input mod 2^bw_in themselves */
    ff_suf_emulate(a->sp, N, a->x, ref);
    return FF_OK;
  }
  if (a->ssp) {
    ff_suf_sparse_emulate(a->ssp, N, a->x, ref);
    return FF_OK;
  }
  switch (g->kind) {
    case FF__S_GELU: return ff_sigma_act_emulate(FF_SIGMA_GELU, g->bw, FF__SCALE, N, a->x, ref);
    case FF__S_SILU: return ff_sigma_act_emulate(FF_SIGMA_SILU, g->bw, FF__SCALE, N, a->x, ref);
    case FF__S_NEXP: ff_sigma_nexp_emulate(NULL, g->bw, g->bw_in, N, a->x, ref); return FF_OK;
    case FF__S_SOFTMAX: return ff_sigma_softmax_emulate_ex(g->bw, a->rows, g->cols, a->suf ? &a->so : NULL, a->x, ref);
    case FF__S_LAYERNORM:
      return ff_sigma_layernorm_emulate_ex(g->bw, FF__SCALE, a->rows, g->cols, 0, a->suf ? &a->no : NULL, a->x, a->w,
                                           a->b, ref);
    default: return FF_EINVAL;
  }
}

static double ff__real(uint64_t v, int bw) { return ldexp((double)ff_ring_signed(v, bw), -FF__SCALE); }

/* The float function on the real inputs, in double: GELU x Phi(x), SiLU x / (1 + e^-x), nExp e^-x
 * (ff_suf_float, the functions both suites approximate), softmax over each row, LayerNorm over each row
 * (population variance, no epsilon, as the gate: a constant row gives beta). */
static void ff__suf_float_ref(const ff__suf_arg *a, double *f) {
  const ff__suf_gate *g = a->g;
  const size_t n = g->cols;
  for (size_t r = 0; r < a->rows; r++) {
    const uint64_t *x = a->x + r * n;
    double *fr = f + r * n;
    if (g->kind == FF__S_GELU || g->kind == FF__S_SILU || g->kind == FF__S_NEXP) {
      const ff_suf_fn fn = g->kind == FF__S_GELU ? FF_SUF_GELU : g->kind == FF__S_SILU ? FF_SUF_SILU : FF_SUF_NEXP;
      for (size_t j = 0; j < n; j++) fr[j] = ff_suf_float(fn, ff__real(x[j], g->bw));
    } else if (g->kind == FF__S_SOFTMAX) {
      double max = -INFINITY, sum = 0;
      for (size_t j = 0; j < n; j++) max = fmax(max, ff__real(x[j], g->bw));
      for (size_t j = 0; j < n; j++) sum += fr[j] = exp(ff__real(x[j], g->bw) - max);
      for (size_t j = 0; j < n; j++) fr[j] /= sum;
    } else {
      double mu = 0, var = 0;
      for (size_t j = 0; j < n; j++) mu += ff__real(x[j], g->bw);
      mu /= (double)n;
      for (size_t j = 0; j < n; j++) var += (ff__real(x[j], g->bw) - mu) * (ff__real(x[j], g->bw) - mu);
      var /= (double)n;
      const double rs = var > 0 ? 1 / sqrt(var) : 0;
      for (size_t j = 0; j < n; j++)
        fr[j] = (ff__real(x[j], g->bw) - mu) * rs * ff__real(a->w[j], g->bw) + ff__real(a->b[j], g->bw);
    }
  }
}

/* What ran, in words: the specification's parameters, or SIGMA's (in the suf suite: its switch is off). */
static void ff__suf_spec_str(const ff__suf_arg *a, int suite_suf, char *s, size_t cap) {
  const ff__suf_gate *g = a->g;
  const ff_suf_spec *sp = a->sp;
  if (sp) {
    snprintf(s, cap, "suf %s: %d pieces of 2^%d ulps on [%g, %g), view e %d", sp->name, 1 << sp->k, sp->s,
             ldexp((double)sp->w_lo, -sp->scale), ldexp((double)sp->w_hi, -sp->scale), sp->e);
    return;
  }
  if (a->ssp) {
    snprintf(s, cap, "suf %s sparse: %d pieces of degree %d on [%g, %g) + tails, %d DCFs, view e %d%s", a->ssp->name,
             a->ssp->k_window, a->ssp->window_degree, ldexp((double)a->ssp->w_lo, -a->ssp->scale),
             ldexp((double)a->ssp->w_hi, -a->ssp->scale), a->ssp->K, a->ssp->e,
             a->ssp->insecure_no_padding ? ", INSECURE no padding" : "");
    return;
  }
  const int off = suite_suf && !a->suf;
  char sigma[96];
  switch (g->kind) {
    case FF__S_GELU: snprintf(sigma, sizeof sigma, "SIGMA: clip 2^8, LUT_8 of ReLU - GELU"); break;
    case FF__S_SILU: snprintf(sigma, sizeof sigma, "SIGMA: clip 2^10, LUT_10 of ReLU - SiLU"); break;
    case FF__S_NEXP: snprintf(sigma, sizeof sigma, "SIGMA: clip 2^16 - 1, two LUT_8, Beaver, TrWithSlack"); break;
    case FF__S_SOFTMAX:
      if (a->suf) {
        const ff_suf_spec *ne = ff_suf_spec_for(FF_SUF_NEXP, a->cfg, g->bw - FF__SCALE + 2, g->bw, FF__SCALE);
        snprintf(s, cap, "sigma's pipeline: suf nExp (%d pieces), reciprocal LUT_%d", ne ? 1 << ne->k : 0,
                 ff__inv_bits(1, a->cfg, g->cols));
        return;
      }
      snprintf(sigma, sizeof sigma, "SIGMA: reciprocal LUT_%d", ff__inv_bits(0, NULL, g->cols));
      break;
    case FF__S_LAYERNORM:
      if (a->suf) {
        snprintf(s, cap, "sigma's pipeline: rsqrt LUT_%d", ff__rsqrt_bits(1, a->cfg));
        return;
      }
      snprintf(sigma, sizeof sigma, "SIGMA: rsqrt LUT_%d", ff__rsqrt_bits(0, NULL));
      break;
    default: snprintf(sigma, sizeof sigma, "-"); break;
  }
  if (off)
    snprintf(s, cap, "suf = sigma (%s 0): %s", ff__suf_switch_name(g->kind), sigma);
  else
    snprintf(s, cap, "%s", sigma);
}

static int ff__cost_eq(const ff_gate_cost *a, const ff_gate_cost *b) {
  return a->key_bytes == b->key_bytes && a->bits_sent == b->bits_sent && a->bytes_sent == b->bytes_sent &&
         a->rounds == b->rounds;
}

static double ff__max_d(double a, double b) { return a > b ? a : b; }

ff_status ff_bench_gate_run(const ff_bench_gate_opts *o, ff_bench_gate_row *row) {
  if (!row) return FF_EINVAL;
  memset(row, 0, sizeof *row);
  row->bound = -1;
  row->nowrap = -1;
  const ff__suf_gate *g = NULL;
  for (size_t i = 0; o && o->gate && i < FF__NSUF; i++)
    if (ff__suf_gates[i].bw_in && strcmp(o->gate, ff__suf_gates[i].name) == 0) g = &ff__suf_gates[i];
  if (!g || o->reps < 1) {
    FF_ERROR("bench gate: '%s' is not a gate of --suite suf (gelu, silu, nexp, softmax, layernorm), or reps < 1",
             o && o->gate ? o->gate : "(null)");
    return FF_EINVAL;
  }
  ff_suf_config def;
  ff_suf_config_default(&def);
  ff__suf_arg a = {.g = g, .cfg = o->cfg ? o->cfg : &def, .rows = o->small ? g->rows / FF__SMALL : g->rows};
  a.suf = o->suf && ff__suf_switch(g->kind, a.cfg);
  if (a.suf && (g->kind == FF__S_GELU || g->kind == FF__S_SILU || g->kind == FF__S_NEXP)) {
    const ff_suf_fn fn = g->kind == FF__S_GELU ? FF_SUF_GELU : g->kind == FF__S_SILU ? FF_SUF_SILU : FF_SUF_NEXP;
    if (ff_suf_config_sparse(a.cfg, fn)) {
      if (!(a.ssp = ff_suf_sparse_spec_for(fn, a.cfg, g->bw, FF__SCALE))) return FF_EINVAL;
      row->bound = a.ssp->err_bound;
    } else {
      if (!(a.sp = ff_suf_spec_for(fn, a.cfg, g->bw_in, g->bw, FF__SCALE))) return FF_EINVAL;
      row->bound = a.sp->err_bound;
    }
  }
  ff_suf_softmax_opts(a.suf ? a.cfg : NULL, &a.so);
  ff_suf_norm_opts(a.suf ? a.cfg : NULL, &a.no);
  const size_t N = a.rows * g->cols;
  row->n_out = N;
  row->bw_in = g->bw_in;
  row->bw = g->bw;
  row->is_suf = a.suf;
  if (g->kind == FF__S_NEXP || g->kind == FF__S_SOFTMAX)
    snprintf(row->shape, sizeof row->shape, "%zu rows of %zu", a.rows, g->cols);
  else
    snprintf(row->shape, sizeof row->shape, "%zux%zu", a.rows, g->cols);
  ff__suf_spec_str(&a, o->suf, row->spec, sizeof row->spec);

  ff_sigma_local_result r;
  memset(&r, 0, sizeof r);
  uint64_t *ref = NULL;
  double *f = NULL;
  ff_status st = ff__suf_want(&a, &row->want);
  if (!st) st = ff__suf_inputs(&a);
  if (!st) {
    const ff_sigma_local_opts lo = {.bw = g->bw, .scale = FF__SCALE, .backend = o->backend, .reps = o->reps,
                                    .prof_dir = o->prof_dir, .prof_gate = g->name, .prof_shape = row->shape,
                                    .keys = o->keys};
    st = ff_sigma_run_local(&lo, ff__suf_graph, &a, &r);
    row->ran = st == FF_OK;
    if (st == FF_ENOTSUP) st = FF_OK;
  }
  if (!st) {
    /* Costs: the parties' own measurements when they ran, else the cost-only run; each checked. */
    const ff_gate_cost *c = row->ran ? r.gate : r.cost_gate;
    row->cost = (ff_gate_cost){
        .key_bytes = r.keygen_gate[0].key_bytes > r.keygen_gate[1].key_bytes ? r.keygen_gate[0].key_bytes
                                                                             : r.keygen_gate[1].key_bytes,
        .bits_sent = c[0].bits_sent > c[1].bits_sent ? c[0].bits_sent : c[1].bits_sent,
        .bytes_sent = c[0].bytes_sent > c[1].bytes_sent ? c[0].bytes_sent : c[1].bytes_sent,
        .rounds = c[0].rounds > c[1].rounds ? c[0].rounds : c[1].rounds};
    /* What the dealt keys must weigh: the cost function's, except under the padding ablation, whose key
     * bytes depend on the masks (sparse.h): there the dealer's count fixes the number of elements whose
     * rotation did not wrap (one DCF key fewer each), and every count must then equal that exact figure. */
    ff_gate_cost keyed = row->want;
    if (a.ssp && a.ssp->insecure_no_padding) {
      ff_gate_cost one;
      ff_suf_sparse_cost_unpadded(a.ssp, N, 1, &one);
      const uint64_t per = row->want.key_bytes - one.key_bytes, got = r.keygen_gate[0].key_bytes;
      const size_t nw = per && got <= row->want.key_bytes ? (size_t)((row->want.key_bytes - got) / per) : 0;
      ff_suf_sparse_cost_unpadded(a.ssp, N, nw, &keyed);
      row->nowrap = (long)nw;
      const size_t l = strlen(row->spec);
      snprintf(row->spec + l, sizeof row->spec - l, " (%zu unwrapped)", nw);
    }
    row->cost_ok = ff__cost_eq(&row->cost, &keyed);
    for (int p = 0; p < 2; p++) {
      row->cost_ok &= ff__cost_eq(&r.cost_gate[p], &row->want) && r.keygen_gate[p].key_bytes == keyed.key_bytes;
      if (row->ran) row->cost_ok &= ff__cost_eq(&r.gate[p], &keyed);
    }
    row->keygen_ms = r.keygen_gate_s * 1e3;
    row->party_ms = ff__max_d(r.gate_s[0], r.gate_s[1]) * 1e3;
    row->preload_ms = ff__max_d(r.preload_s[0], r.preload_s[1]) * 1e3;
  }
  if (!st && row->ran) {
    if (r.n_out != N || r.out_bw != g->bw || !r.out) {
      FF_ERROR("bench gate: %s revealed %zu values of %d bits, want %zu of %d", g->name, r.n_out, r.out_bw, N, g->bw);
      st = FF_EMISMATCH;
    } else if (!(ref = malloc(N * sizeof *ref)) || !(f = malloc(N * sizeof *f))) {
      st = FF_ENOMEM;
    } else if (!(st = ff__suf_emulate(&a, ref))) {
      ff__suf_float_ref(&a, f);
      double sum = 0;
      for (size_t i = 0; i < N; i++) {
        row->mismatches += r.out[i] != ref[i];
        const double e = fabs(ff__real(r.out[i], g->bw) - f[i]);
        row->max_err = ff__max_d(row->max_err, e);
        sum += e;
      }
      row->mean_err = sum / (double)N;
    }
  }
  ff_sigma_local_result_free(&r);
  free(ref);
  free(f);
  free(a.x);
  free(a.w);
  free(a.b);
  return st;
}

/* ---- --suite suf and both: the table --------------------------------------------------------------------- */

/* Measured rows kept for the summary of --suite both (gate-major, then backend, then sigma, suf). */
typedef struct {
  const ff__suf_gate *g;
  ff_backend b;
  ff_bench_gate_row row[2]; /* [0] sigma, [1] suf */
  int have[2];
} ff__pair;

static void ff__suf_row_print(const ff__gate_opts *o, const char *gate, const char *suite, const char *on,
                              const ff_bench_gate_row *r) {
  char party[24] = "n/a", pre[40] = "", maxe[24] = "-", meane[24] = "-", bound[24] = "-", bw[16];
  const double n = (double)(r->n_out ? r->n_out : 1);
  if (r->ran) snprintf(party, sizeof party, "%.3f", r->party_ms);
  if (o->preload) snprintf(pre, sizeof pre, " %10s |", r->ran ? "" : "n/a");
  if (o->preload && r->ran) snprintf(pre, sizeof pre, " %10.3f |", r->preload_ms);
  if (r->ran) snprintf(maxe, sizeof maxe, "%.6f", r->max_err);
  if (r->ran) snprintf(meane, sizeof meane, "%.6f", r->mean_err);
  if (r->bound >= 0) snprintf(bound, sizeof bound, "%.6f", r->bound);
  if (r->bw_in == r->bw)
    snprintf(bw, sizeof bw, "%d", r->bw);
  else
    snprintf(bw, sizeof bw, "%d->%d", r->bw_in, r->bw);
  const char *check = !r->cost_ok ? "COST" : r->mismatches ? "OUTPUT" : r->ran ? "ok" : "cost ok";
  printf("| %-10s | %-5s | %-16s | %-6s | %-4s | %10.3f | %10s |%s %10.3f | %8.2f | %6llu | %9s | %9s | %9s | %-7s | "
         "%s |\n",
         gate, suite, r->shape, bw, on, r->keygen_ms, party, pre, (double)r->cost.key_bytes / n,
         (double)r->cost.bits_sent / n, (unsigned long long)r->cost.rounds, maxe, meane, bound, check, r->spec);
}

/* The reciprocal and rsqrt rows: text, no gate of their own in either suite. */
static void ff__suf_note_print(const ff__gate_opts *o, const ff__suf_gate *g, int suf) {
  char shape[48], what[200];
  const size_t rows = o->small ? g->rows / FF__SMALL : g->rows;
  const int on = suf && ff__suf_switch(g->kind, &o->cfg);
  if (g->kind == FF__S_RECIPROCAL) {
    snprintf(shape, sizeof shape, "%zu rows of %zu", rows, g->cols);
    const int b = ff__inv_bits(on, &o->cfg, g->cols);
    if (!suf)
      snprintf(what, sizeof what, "SIGMA: Softmax::Inverse, LUT_%d (k - 6, k = 12 + ceil(log2 %zu)); inside softmax", b,
               g->cols);
    else if (!on)
      snprintf(what, sizeof what, "as sigma (SUF_SOFTMAX 0): LUT_%d; inside softmax", b);
    else
      snprintf(what, sizeof what, "as sigma at SUF_INV_BITS %d%s: LUT_%d; inside softmax", o->cfg.inv_bits,
               o->cfg.inv_bits ? "" : " (ceil(log2 L) + 6)", b);
  } else {
    snprintf(shape, sizeof shape, "%zu rows of %zu", rows, g->cols);
    const int b = ff__rsqrt_bits(on, &o->cfg);
    if (!suf)
      snprintf(what, sizeof what, "SIGMA: LayerNorm's rsqrt, LUT_%d (6 exponent + %d mantissa bits); inside layernorm",
               b, b - 6);
    else if (!on)
      snprintf(what, sizeof what, "as sigma (SUF_LAYERNORM 0): LUT_%d; inside layernorm", b);
    else
      snprintf(what, sizeof what, "as sigma at SUF_RSQRT_BITS %d: LUT_%d; inside layernorm", o->cfg.rsqrt_bits, b);
  }
  printf("| %-10s | %-5s | %-16s | %-6d | %-4s | %10s | %10s |%s %10s | %8s | %6s | %9s | %9s | %9s | %-7s | %s |\n",
         g->name, suf ? "suf" : "sigma", shape, g->bw, "-", "-", "-", o->preload ? "          - |" : "", "-", "-", "-",
         "-", "-", "-", "-", what);
}

/* "gelu/cpu: key 665.375 vs 607.625 B/el (x1.10), bits 112 vs 145 (x0.77), rounds 4 vs 7, party 1.2 vs 3.4 ms
 * (x2.83 faster), max |err| 0.0012 vs 0.0200". */
static void ff__suf_summary(const ff__pair *p) {
  const ff_bench_gate_row *s = &p->row[0], *u = &p->row[1];
  const double n = (double)s->n_out;
  const double ks = (double)s->cost.key_bytes / n, ku = (double)u->cost.key_bytes / n;
  const double bs = (double)s->cost.bits_sent / n, bu = (double)u->cost.bits_sent / n;
  printf("  %s/%s: key %.3f vs %.3f B/el (x%.2f), bits %.2f vs %.2f (x%.2f), rounds %llu vs %llu", p->g->name,
         ff_backend_name(p->b), ku, ks, ku / ks, bu, bs, bu / bs, (unsigned long long)u->cost.rounds,
         (unsigned long long)s->cost.rounds);
  if (s->ran && u->ran)
    printf(", party %.3f vs %.3f ms (speedup x%.2f), max |err| %.6f vs %.6f, mean %.6f vs %.6f", u->party_ms,
           s->party_ms, u->party_ms > 0 ? s->party_ms / u->party_ms : 0, u->max_err, s->max_err, u->mean_err,
           s->mean_err);
  printf("\n");
}

static int ff__cmd_suf(ff__gate_opts *o, const char *cmd) {
  const int both = o->suite == FF__SUITE_BOTH;
  char knobs[512];
  ff_suf_config_json(&o->cfg, knobs, sizeof knobs);
  printf("fusefss bench gate --suite %s: scale %d, %s sizes (128 tokens%s); dealer on the row's backend (once),\n"
         "parties in two threads over the in-memory channel, %d repetition%s on the same keys.\n",
         both ? "both" : "suf", FF__SCALE, o->small ? "small" : "BERT-base", o->small ? " / 16" : "", o->reps,
         o->reps == 1 ? "" : "s");
  printf("suf knobs (the defaults, then the SUF_* / FUSEFSS_* environment, then --suf): %s\n", knobs);
  char dev[256] = "";
  if (o->gpu && ff_cuda_device_name(dev, sizeof dev) == FF_OK) printf("GPU: %s\n", dev);
  printf("Units: keygen ms = the dealer's time for the gate alone; party ms = the gate alone (inputs and outputs\n"
         "excluded), median over the repetitions, max over the two parties; key B/el = one party's key bytes per\n"
         "output element; bits/el = payload bits one party sends per output element; rounds of the gate; costs\n"
         "max over the parties, from the measured run. max err, mean err = |y - f(x)| over the gate's outputs, y\n"
         "= P1's revealed output read at scale 12, f the float function in double (GELU x Phi(x), SiLU x / (1 +\n"
         "e^-x), nExp e^-x, softmax, LayerNorm without epsilon); bound = the specification's stated bound on it\n"
         "over the legal range (suf gates; - : none stated). check: ok = both parties' measured bytes, bits and\n"
         "rounds and the dealer's key bytes equal the cost function (ff_suf_cost, ff_sigma_*_cost) and P1's\n"
         "output equals the fixed-point emulation bit for bit; COST or OUTPUT: one does not (exit status 1).\n"
         "Inputs: x uniform in [-8, 8) (gamma, beta too); nexp: max - x over each row of 128, in [0, 16), built\n"
         "on the op's ring and reduced mod 2^40 (softmax's ring, bw - 12 + 2); the same values for every suite\n"
         "and backend. n/a: the backend has no such gate yet.\n");
  if (o->preload)
    printf("Keys: preload (--keys preload): each party reads its whole key stream once (and on cuda uploads it\n"
           "once into device memory) before the barrier; party ms excludes it; preload ms = that load for the\n"
           "whole graph (inputs, gate, output), median over the repetitions, max over the two parties.\n");
  else
    printf("Keys: stream (--keys stream): each gate reads its keys from the key stream (on cuda staged through\n"
           "host memory and uploaded) inside party ms, as KeyTransfer.\n");
  printf("\n| %-10s | %-5s | %-16s | %-6s | %-4s | %10s | %10s |", "gate", "suite", "shape", "bw", "on", "keygen ms",
         "party ms");
  if (o->preload) printf(" %10s |", "preload ms");
  printf(" %10s | %8s | %6s | %9s | %9s | %9s | %-7s | %s |\n", "key B/el", "bits/el", "rounds", "max err", "mean err",
         "bound", "check", "specification");
  printf("|:-----------|:------|:-----------------|:-------|:-----|-----------:|-----------:|%s-----------:|---------:|"
         "-------:|----------:|----------:|----------:|:--------|:--------------|\n",
         o->preload ? "-----------:|" : "");
  const ff_backend backends[2] = {FF_BACKEND_CPU, FF_BACKEND_CUDA};
  const int use[2] = {o->cpu, o->gpu};
  ff__pair pairs[2 * FF__NSUF];
  size_t n_pairs = 0, failed = 0;
  ff_status st = FF_OK;
  int rc = FF_EXIT_OK;
  for (size_t i = 0; i < FF__NSUF && !st; i++) {
    const ff__suf_gate *g = &ff__suf_gates[i];
    if (!o->want_suf[i]) continue;
    if (!g->bw_in) {
      if (both) ff__suf_note_print(o, g, 0);
      ff__suf_note_print(o, g, 1);
      continue;
    }
    for (int k = 0; k < 2 && !st; k++) {
      if (!use[k]) continue;
      ff__pair *p = &pairs[n_pairs++];
      memset(p, 0, sizeof *p);
      p->g = g;
      p->b = backends[k];
      for (int suf = !both; suf < 2 && !st; suf++) {
        const char *suite = suf ? "suf" : "sigma";
        char dir[4096], label[96];
        snprintf(label, sizeof label, "%s %s/%s", suite, g->name, ff_backend_name(backends[k]));
        if (o->profile)
          snprintf(dir, sizeof dir, "%s/%s-%s-%s", o->profile, suite, g->name, ff_backend_name(backends[k]));
        const ff_bench_gate_opts bo = {.gate = g->name, .suf = suf, .cfg = &o->cfg, .backend = backends[k],
                                       .reps = o->reps, .small = o->small,
                                       .keys = o->preload ? FF_KEYS_PRELOAD : FF_KEYS_STREAM,
                                       .prof_dir = o->profile ? dir : NULL};
        ff_bench_gate_row *r = &p->row[suf];
        if ((st = ff_bench_gate_run(&bo, r))) {
          rc = ff_cli_fail(cmd, "%s %s on %s failed: %s", suite, g->name, ff_backend_name(backends[k]), ff_strerror(st));
          break;
        }
        p->have[suf] = 1;
        ff__suf_row_print(o, g->name, suite, ff_backend_name(backends[k]), r);
        fflush(stdout);
        if (!r->cost_ok || r->mismatches) {
          failed++;
          FF_ERROR("bench gate: %s %s on %s: measured key %llu B, %llu bits, %llu bytes, %llu rounds (cost function: "
                   "%llu, %llu, %llu, %llu); %zu of %zu outputs differ from the emulation",
                   suite, g->name, ff_backend_name(backends[k]), (unsigned long long)r->cost.key_bytes,
                   (unsigned long long)r->cost.bits_sent, (unsigned long long)r->cost.bytes_sent,
                   (unsigned long long)r->cost.rounds, (unsigned long long)r->want.key_bytes,
                   (unsigned long long)r->want.bits_sent, (unsigned long long)r->want.bytes_sent,
                   (unsigned long long)r->want.rounds, r->mismatches, r->n_out);
        }
        if (r->ran && o->profile && (st = ff__profile_merge(o, dir, label))) {
          rc = ff_cli_fail(cmd, "cannot merge the profiles in %s: %s", dir, ff_strerror(st));
          break;
        }
      }
    }
  }
  if (!st && both && n_pairs) {
    printf("\nsuf vs sigma, per gate and backend (suf's figure first; x = suf / sigma for costs, sigma / suf for "
           "time):\n");
    for (size_t i = 0; i < n_pairs; i++)
      if (pairs[i].have[0] && pairs[i].have[1]) ff__suf_summary(&pairs[i]);
  }
  if (!st && o->profile) {
    printf("\nWhere the party time goes (--profile): the slower party's wall time from the barrier to the end of\n"
           "the graph (inputs and output included), exclusive per scope name, summed over the counted repetitions\n"
           "(the warm-up excluded); logs and breakdown_merged.json in %s/<suite>-<gate>-<backend>/.\n",
           o->profile);
    for (size_t i = 0; i < o->n_split; i++) printf("  %s\n", o->split[i]);
  }
  for (size_t i = 0; i < o->n_split; i++) free(o->split[i]);
  if (st) return rc;
  if (failed) return ff_cli_fail(cmd, "%zu row%s failed the checks (above)", failed, failed == 1 ? "" : "s");
  return FF_EXIT_OK;
}

/* ---- --suite sigma --------------------------------------------------------------------------------------- */

static int ff__cmd_sigma(ff__gate_opts *o, const char *cmd) {
  int rc = FF_EXIT_OK;
  char dev[256] = "";
  printf("fusefss bench gate --suite sigma: bw %d, scale %d, %s sizes (128 tokens%s); dealer on the row's backend\n"
         "(once), parties in two threads over the in-memory channel, %d repetition%s on the same keys.\n",
         FF__BW, FF__SCALE, o->small ? "small" : "BERT-base", o->small ? " / 16" : "", o->reps, o->reps == 1 ? "" : "s");
  if (o->gpu && ff_cuda_device_name(dev, sizeof dev) == FF_OK) printf("GPU: %s\n", dev);
  printf("Units: keygen ms = the dealer's time for the gate alone; party ms = the gate alone (inputs and outputs\n"
         "excluded), median over the repetitions, max over the two parties; key B/el = one party's key bytes per\n"
         "output element; bits/el = payload bits one party sends per output element; rounds of the gate; all\n"
         "costs max over the parties. SIGMA columns: research/sigma.md §4's per-gate figures at bw 50 (- : none\n"
         "given as a number); n/a: the backend has no such gate yet.\n");
  if (o->preload)
    printf("Keys: preload (--keys preload): each party reads its whole key stream once (and on cuda uploads it\n"
           "once into device memory) before the barrier; party ms excludes it; preload ms = that load for the\n"
           "whole graph (inputs, gate, output), median over the repetitions, max over the two parties.\n");
  else
    printf("Keys: stream (--keys stream): each gate reads its keys from the key stream (on cuda staged through\n"
           "host memory and uploaded) inside party ms, as KeyTransfer.\n");
  printf("\n| %-9s | %-18s | %-4s | %10s | %10s |", "gate", "shape", "on", "keygen ms", "party ms");
  if (o->preload) printf(" %10s |", "preload ms");
  printf(" %10s | %9s | %6s | %9s | %9s | %-10s |\n", "key B/el", "bits/el", "rounds", "SIGMA key", "SIGMA bit",
         "SIGMA rnds");
  printf("|:----------|:-------------------|:-----|-----------:|-----------:|%s-----------:|----------:|-------:|"
         "----------:|----------:|:-----------|\n",
         o->preload ? "-----------:|" : "");
  ff_rng rng;
  ff_rng_init_seeded(&rng, 2024);
  const ff_backend backends[2] = {FF_BACKEND_CPU, FF_BACKEND_CUDA};
  const int use[2] = {o->cpu, o->gpu};
  ff_status st = FF_OK;
  for (size_t i = 0; i < FF__NGATES && !st; i++) {
    if (!o->want[i]) continue;
    for (int k = 0; k < 2 && !st; k++) {
      if (!use[k]) continue;
      if ((st = ff__bench_one(o, &ff__gates[i], backends[k], &rng)))
        rc = ff_cli_fail(cmd, "%s on %s failed: %s", ff__gates[i].name, ff_backend_name(backends[k]), ff_strerror(st));
    }
  }
  if (!st && o->profile) {
    printf("\nWhere the party time goes (--profile): the slower party's wall time from the barrier to the end of\n"
           "the graph (inputs and output included), exclusive per scope name, summed over the counted repetitions\n"
           "(the warm-up excluded); logs and breakdown_merged.json in %s/<gate>-<backend>/.\n",
           o->profile);
    for (size_t i = 0; i < o->n_split; i++) printf("  %s\n", o->split[i]);
  }
  for (size_t i = 0; i < o->n_split; i++) free(o->split[i]);
  if (st) return rc;
  printf("\nSIGMA's own measured times (../shared/gpu/README.md: EzPC GPU-MPC on one H200, bert-base, seq 128)\n"
         "are whole-model category totals, not per-gate times: online 2305 ms, of which softmax 636, LayerNorm\n"
         "500, truncation 243, GELU 204, matmul 182 (summed over all 12 layers and calls; categories overlap);\n"
         "keygen 2071 ms for the whole model. No per-gate SIGMA time is given there, so none is printed above.\n");
  return FF_EXIT_OK;
}

/* ---- The command ----------------------------------------------------------------------------------------- */

/* The suf knobs (suf, both): the defaults, then the environment, then --suf, checked against every ring
 * the suite's gates use. */
static int ff__suf_knobs(ff__gate_opts *o, const char *cmd) {
  ff_suf_config_default(&o->cfg);
  if (ff_suf_config_from_env(&o->cfg)) return ff_cli_usage_error(cmd, "a SUF_* environment variable is invalid (above)");
  for (int i = 0; i < o->n_suf_args; i++)
    if (ff_suf_config_set(&o->cfg, o->suf_args[i]))
      return ff_cli_usage_error(cmd, "bad --suf '%s' (above)", o->suf_args[i]);
  o->cfg.insecure_no_padding = o->insecure_no_padding;
  for (size_t i = 0; i < FF__NSUF; i++) {
    const ff__suf_gate *g = &ff__suf_gates[i];
    if (!g->bw_in || !o->want_suf[i]) continue;
    if (ff_suf_config_check(&o->cfg, g->bw, FF__SCALE))
      return ff_cli_usage_error(cmd, "the suf knobs do not fit %s's ring (bw %d, scale %d); see above", g->name, g->bw,
                                FF__SCALE);
    const int on = ff__suf_switch(g->kind, &o->cfg);
    const ff_suf_fn fn = g->kind == FF__S_GELU ? FF_SUF_GELU : g->kind == FF__S_SILU ? FF_SUF_SILU : FF_SUF_NEXP;
    const int spec = g->kind == FF__S_GELU || g->kind == FF__S_SILU || g->kind == FF__S_NEXP;
    const void *sp = !on || !spec                       ? NULL
                     : ff_suf_config_sparse(&o->cfg, fn) ? (const void *)ff_suf_sparse_spec_for(fn, &o->cfg, g->bw, FF__SCALE)
                                                         : (const void *)ff_suf_spec_for(fn, &o->cfg, g->bw_in, g->bw, FF__SCALE);
    if (on && spec && !sp)
      return ff_cli_usage_error(cmd, "the suf knobs give no %s specification (bw %d -> %d); see above", g->name,
                                g->bw_in, g->bw);
  }
  return FF_EXIT_OK;
}

int ff_cmd_bench_gate(int argc, char **argv) {
  const char *cmd = "bench gate";
  ff__gate_opts o = {.suite = FF__SUITE_SIGMA, .reps = 3, .cpu = 1, .gpu = -1};
  static const struct option opts[] = {{"suite", required_argument, 0, 's'}, {"backend", required_argument, 0, 'b'},
                                       {"reps", required_argument, 0, 'r'},  {"gate", required_argument, 0, 'g'},
                                       {"small", no_argument, 0, 'm'},       {"help", no_argument, 0, 'h'},
                                       {"profile", required_argument, 0, 'p'}, {"keys", required_argument, 0, 'k'},
                                       {"suf", required_argument, 0, 'u'},   {"insecure-no-padding", no_argument, 0, 'n'},
                                       {0, 0, 0, 0}};
  optind = 1;
  opterr = 0;
  int c, rc;
  long long v;
  while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
    switch (c) {
      case 'h': ff__usage(stdout); return FF_EXIT_OK;
      case 's':
        if (strcmp(optarg, "sigma") == 0)
          o.suite = FF__SUITE_SIGMA;
        else if (strcmp(optarg, "suf") == 0)
          o.suite = FF__SUITE_SUF;
        else if (strcmp(optarg, "both") == 0)
          o.suite = FF__SUITE_BOTH;
        else
          return ff_cli_usage_error(cmd, "unknown suite '%s' (valid: sigma, suf, both)", optarg);
        break;
      case 'u':
        if (o.n_suf_args == (int)(sizeof o.suf_args / sizeof o.suf_args[0]))
          return ff_cli_usage_error(cmd, "too many --suf options");
        o.suf_args[o.n_suf_args++] = optarg;
        break;
      case 'b':
        if (ff_parse_backends(optarg, &o.cpu, &o.gpu))
          return ff_cli_usage_error(cmd, "--backend must be cpu, cuda or all, not '%s'", optarg);
        break;
      case 'r':
        if (ff_parse_int(optarg, 1, 1000, &v)) return ff_cli_usage_error(cmd, "--reps must be 1..1000, not '%s'", optarg);
        o.reps = (int)v;
        break;
      case 'g': o.gates = optarg; break;
      case 'm': o.small = 1; break;
      case 'n': o.insecure_no_padding = 1; break;
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
  const char *names[FF__NGATES > FF__NSUF ? FF__NGATES : FF__NSUF];
  const int sigma = o.suite == FF__SUITE_SIGMA;
  const size_t n_names = sigma ? FF__NGATES : FF__NSUF;
  int *want = sigma ? o.want : o.want_suf;
  for (size_t i = 0; i < n_names; i++) {
    names[i] = sigma ? ff__gates[i].name : ff__suf_gates[i].name;
    want[i] = 1;
  }
  if (o.gates && (rc = ff__parse_gates(cmd, o.gates, names, n_names, want)) != FF_EXIT_OK) return rc;
  if (sigma && o.n_suf_args) return ff_cli_usage_error(cmd, "--suf needs --suite suf or both");
  if (sigma && o.insecure_no_padding) return ff_cli_usage_error(cmd, "--insecure-no-padding needs --suite suf or both");
  if (!sigma && (rc = ff__suf_knobs(&o, cmd)) != FF_EXIT_OK) return rc;
  const int have_gpu = ff_cuda_device_count() > 0;
  if (o.gpu == 1 && !have_gpu) return ff_cli_fail(cmd, "--backend cuda: no CUDA device is visible (or this build has no CUDA)");
  if (o.gpu < 0) o.gpu = have_gpu;
  return sigma ? ff__cmd_sigma(&o, cmd) : ff__cmd_suf(&o, cmd);
}
