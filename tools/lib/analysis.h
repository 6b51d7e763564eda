/* The analysis library (ff_analysis): everything the fusefss commands compute from profiles, with no
 * command-line code. The merged-log model (fusefss.merged/1) and its loader, writer, accessors and
 * groupings; statistics across repetitions; the merge of two per-party logs; report tables; Amdahl
 * reconciliation; LAN/WAN projection; and the file rules every reader and writer follows (regular
 * files only, size caps, temp + rename). DESIGN.md §6; docs/architecture.md says why it lives here.
 * Library code returns ff_status and logs with FF_ERROR; it never exits and never picks stdout itself
 * (printers take a FILE *). Tests: tests/test_merge.c, tests/test_amdahl.c. */
#ifndef FF_TOOLS_LIB_ANALYSIS_H
#define FF_TOOLS_LIB_ANALYSIS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "core/status.h"
#include "scope/scope.h"

/* ==== Files and formatting ========================================================================= */

/* Human formatting into buf (returns buf): 1234567 ns -> "1.235 ms"; 1536 B -> "1.50 KiB". */
const char *ff_fmt_ns(double ns, char *buf, size_t n);
/* A signed duration, the sign always shown: "+1.235 ms", "−800 ns" (U+2212, as in the reports). */
const char *ff_fmt_ns_signed(double ns, char *buf, size_t n);
const char *ff_fmt_bytes(double bytes, char *buf, size_t n);

/* --- Files the user names ----------------------------------------------------------------------- */

/* Opens path for reading without blocking on a FIFO (O_NONBLOCK, then cleared) and refuses anything but
 * a regular file (FF_EINVAL, "WHAT PATH is a FIFO ..."); FF_ENOENT / FF_EIO when it cannot be opened.
 * When max_bytes > 0, a larger file gives FF_ERANGE with the limit in the message. The descriptor, or
 * -1; *size gets the file's size. */
int ff_open_user_file(const char *path, const char *what, uint64_t max_bytes, uint64_t *size, ff_status *st);
/* The whole of such a file, NUL-terminated (caller frees *buf); at most max_bytes. */
ff_status ff_read_user_file(const char *path, const char *what, uint64_t max_bytes, char **buf, size_t *len);
/* Writes n bytes to path atomically: into "PATH.tmp.PID" (mode `mode`), flushed, then renamed over path, so
 * that a failed write (a full disk) leaves the old file whole. FF_EIO with the reason on failure. */
ff_status ff_write_file_atomic(const char *path, const void *data, size_t n, int mode);
/* Flushes and checks stdout (EPIPE, ENOSPC, a closed descriptor): 0, or FF_EXIT_FAIL with a message. */
int ff_cli_finish_stdout(void);

/* ==== Statistics ================================================================================== */

typedef struct {
  double median, p25, p75, min, max;
  size_t n; /* number of samples; 0 means "no data" and every other field is 0 */
} ff_stats;

/* The q-quantile (0 <= q <= 1) of n >= 1 values sorted ascending, by linear interpolation between
 * order statistics: h = (n - 1) q, result = x[floor h] + (h - floor h)(x[floor h + 1] - x[floor h]).
 * This is Hyndman & Fan's type 7, numpy's default ("linear") and R's default. */
double ff_quantile_sorted(const double *sorted, size_t n, double q);

/* Statistics of x[0..n). x is not modified. n == 0 gives FF_EINVAL and *out zeroed; a NaN in x gives
 * FF_EINVAL. */
ff_status ff_stats_compute(const double *x, size_t n, ff_stats *out);
/* The median of x[0..n), or 0 where ff_stats_compute fails (no values, a NaN). */
double ff_stats_median(const double *x, size_t n);

/* ==== The merged breakdown ======================================================================== */

#define FF_MERGED_SCHEMA "fusefss.merged/1"

/* The merged metrics of one row (node, total or Other) in one repetition. Times in ns, sizes in B.
 * Per-party values are kept beside the merged ones. In exclusive rows every metric is
 * inclusive − Σ children's inclusive, clamped at 0, except CALLS (the node's own count, copied) and
 * WALL_SKEW (recomputed as |WALL_P0 − WALL_P1| of the exclusive per-party times). */
typedef enum {
  FF_M_WALL,      /* wall_ns: max over parties */
  FF_M_WALL_SKEW, /* wall_skew_ns: max − min over parties */
  FF_M_WALL_P0,   /* wall_ns_p0 */
  FF_M_WALL_P1,   /* wall_ns_p1 */
  FF_M_CUDA,      /* cuda_ns: max over parties (CUDA stream span) */
  FF_M_COMP,      /* comp_ns: max over parties of (wall_p − wait_p) */
  FF_M_LINK,      /* link_B: sent_B_p0 + sent_B_p1, each wire byte once */
  FF_M_SENT_P0,   /* sent_B_p0 */
  FF_M_SENT_P1,   /* sent_B_p1 */
  FF_M_RECV_P0,   /* recv_B_p0 */
  FF_M_RECV_P1,   /* recv_B_p1 */
  FF_M_MSGS_P0,   /* msgs_p0 */
  FF_M_MSGS_P1,   /* msgs_p1 */
  FF_M_WAIT,      /* wait_ns: max over parties of time blocked on the peer */
  FF_M_WAIT_P0,   /* wait_ns_p0 */
  FF_M_WAIT_P1,   /* wait_ns_p1 */
  FF_M_ROUNDS,    /* rounds: max over parties */
  FF_M_CALLS,     /* calls: max over parties */
  FF_M_COUNT
} ff_metric;

typedef struct {
  double v[FF_M_COUNT];
} ff_metrics;

/* The JSON key of a metric ("wall_ns", "sent_B_p0", ...); ff_metric_parse is its inverse (-1 if
 * unknown). */
const char *ff_metric_name(ff_metric m);
int ff_metric_parse(const char *name);

typedef struct {
  char *name;
  char *family;
} ff_bd_scope;

typedef struct {
  char *path;               /* "Forward/Layer[0]/Softmax/Reconstruct" */
  int parent;               /* node index, -1 at the top */
  int scope;                /* index into ff_breakdown.scopes */
  int layer;                /* layer index given when the scope was opened, -1 if none */
  int eff_layer;            /* nearest ancestor-or-self explicit layer, -1 if none */
  int depth;                /* 0 for top-level nodes */
  const char *owner_family; /* family of the outermost ancestor-or-self that is not "Structure"
                               ("Structure" when there is none); points into scopes */
} ff_bd_node;

typedef struct {
  int rep;           /* the repetition number of the logs */
  int warmup;        /* excluded from statistics */
  ff_metrics total;  /* the merged repetition totals */
  ff_metrics other;  /* total − Σ top-level nodes (what no scope claimed) */
  ff_metrics *incl;  /* (n_nodes) inclusive */
  ff_metrics *excl;  /* (n_nodes) exclusive */
} ff_bd_rep;

/* Read-only for users; built by ff_merge_logs or ff_breakdown_load, freed by ff_breakdown_free. */
typedef struct ff_breakdown {
  char *source;         /* file it was loaded from (NULL when built in memory) */
  char *inputs[2];      /* the per-party logs it was merged from, by party */
  cJSON *run;           /* party 0's run object */
  cJSON *runs[2];       /* both raw run objects, by party */
  size_t n_scopes;
  ff_bd_scope *scopes;
  size_t n_nodes;
  ff_bd_node *nodes;
  size_t n_reps;        /* all repetitions, warm-up included */
  ff_bd_rep *reps;
  size_t n_warnings;
  char **warnings;
  size_t path_mismatches; /* per-path sent/received mismatches seen by merge (warnings only) */
  void *index_;         /* path lookup (internal) */
} ff_breakdown;

/* Row selectors for the accessors: a node index (>= 0) or one of these. */
#define FF_BD_TOTAL (-1)
#define FF_BD_OTHER (-2)

/* ---- Loading, writing ------------------------------------------------------------------------- */

/* Reads a merged file, validating schema fusefss.merged/1 and every field the tools use; errors are
 * logged (file, field, JSON line:column) and returned as FF_ENOENT/FF_EIO/FF_EFORMAT. */
ff_status ff_breakdown_load(const char *path, ff_breakdown **out);
void ff_breakdown_free(ff_breakdown *bd);
/* The merged document (with a stats block computed by ff_breakdown_stats); caller frees. */
cJSON *ff_breakdown_to_json(const ff_breakdown *bd);
ff_status ff_breakdown_write(const ff_breakdown *bd, const char *path);
/* {median, p25, p75, min, max, n}, as in the stats block of the merged file; caller frees. */
cJSON *ff_stats_to_json(const ff_stats *s);

/* Reads and parses a JSON file. `what` names it in messages ("per-party log"). Malformed or
 * truncated JSON is reported with cJSON's error position as line:column. */
ff_status ff_json_load_file(const char *path, const char *what, cJSON **out);
/* The largest JSON file ff_json_load_file reads (a per-party log or merged file of many repetitions is
 * tens of MB); larger ones, and anything but a regular file, are refused before reading. */
#define FF_JSON_FILE_MAX (UINT64_C(1) << 30)

/* ---- Accessors ------------------------------------------------------------------------------- */

size_t ff_breakdown_node_count(const ff_breakdown *bd);
/* Index of the node with that path, or -1. */
int ff_breakdown_find(const ff_breakdown *bd, const char *path);
/* Number of repetitions that count (warm-up excluded). */
size_t ff_breakdown_counted_reps(const ff_breakdown *bd);
/* The metrics of `row` (node index, FF_BD_TOTAL or FF_BD_OTHER) in repetition i (all reps, warm-up
 * included); excl selects exclusive values (total and Other are the same either way). NULL if out of
 * range. */
const ff_metrics *ff_breakdown_rep_row(const ff_breakdown *bd, size_t i, int row, int excl);
/* Metric m of `row` in every counted repetition, in order, into out (room for
 * ff_breakdown_counted_reps values); returns the number written (0 for a bad row). */
size_t ff_breakdown_values(const ff_breakdown *bd, int row, int excl, ff_metric m, double *out);
/* Statistics of metric m of `row` across the counted repetitions. */
ff_status ff_breakdown_stats(const ff_breakdown *bd, int row, int excl, ff_metric m, ff_stats *out);
/* Per counted repetition, Σ inclusive metric m over the outermost nodes named `scope_name` (nodes
 * with no ancestor of the same name); out has room for the counted reps. Returns the number of such
 * nodes (0: the scope does not occur). */
size_t ff_breakdown_scope_values(const ff_breakdown *bd, const char *scope_name, ff_metric m, double *out);
/* 1 if some node's owner family is `family` ("Other" is present when the Other row is non-zero). */
int ff_breakdown_has_family(const ff_breakdown *bd, const char *family);
/* run.workload.suite when present, else the file name without directories; into buf. */
const char *ff_breakdown_label(const ff_breakdown *bd, char *buf, size_t n);
/* A string field of the run object by dotted key ("workload.model"), or NULL. */
const char *ff_breakdown_run_str(const ff_breakdown *bd, const char *dotted_key);

/* ---- Grouping ------------------------------------------------------------------------------
 * Every grouping partitions the total: its rows (the Other row included) add up to the total in each
 * repetition for every additive metric (exclusive values are summed; nothing is counted twice).
 *   SCOPE:  one row per node (its path) in tree order (depth-first), then Other; incl and excl.
 *   FAMILY: a node's exclusive values go to its owner family (a Reconstruct inside Activation::GELU
 *           counts for Activation; a structure node's own time counts for "Structure"); the Other
 *           row joins family "Other". Rows in order of first appearance, "Other" last.
 *   LAYER:  by effective layer ("0", "1", ..., "none"), ascending, then "Other".
 *   NAME:   by scope name (flat, summed over paths), first appearance, the Other row joins "Other".
 * Values are aggregated per repetition first; statistics are then taken across repetitions. */
typedef enum { FF_GROUP_SCOPE, FF_GROUP_FAMILY, FF_GROUP_LAYER, FF_GROUP_NAME } ff_group_by;

const char *ff_group_by_name(ff_group_by by);
int ff_group_by_parse(const char *s); /* -1 if unknown */

typedef struct {
  char *key;        /* path, family, layer ("3", "none") or name; "Other" for the Other row */
  int node;         /* SCOPE: node index or FF_BD_OTHER; other groupings: -1 (FF_BD_OTHER for a
                       row that holds only the Other row) */
  int depth;        /* SCOPE: tree depth (for indentation); else 0 */
  int has_other;    /* the Other row was added to this row */
  ff_metrics *incl; /* (n_reps) per counted rep; SCOPE: the node's inclusive values; else = excl */
  ff_metrics *excl; /* (n_reps) per counted rep: Σ exclusive values of the members; WALL_SKEW is
                       |Σ WALL_P0 − Σ WALL_P1|, CALLS the sum of the members' calls */
} ff_group_row;

typedef struct {
  ff_group_by by;
  size_t n_reps; /* counted repetitions */
  size_t n_rows;
  ff_group_row *rows;
} ff_grouping;

ff_status ff_breakdown_group(const ff_breakdown *bd, ff_group_by by, ff_grouping *out);
void ff_grouping_free(ff_grouping *g);
int ff_grouping_find(const ff_grouping *g, const char *key); /* row index or -1 */
ff_status ff_group_stats(const ff_grouping *g, size_t row, int excl, ff_metric m, ff_stats *out);

/* ==== Merge ======================================================================================= */

#define FF_PROF_SCHEMA "fusefss.prof/1"

/* Merges the logs of party 0 and party 1 (given in either order; the party is read from run.party).
 * Refuses, logging which rule failed (FF_ERROR), with:
 *   FF_ENOENT / FF_EIO  a file cannot be read;
 *   FF_EFORMAT          malformed or truncated JSON (line:column), wrong or missing schema, a missing
 *                       or mistyped field (named with its file), or no counted repetition;
 *   FF_EMISMATCH        two logs of one party, different run ids, workloads, knobs, repetition counts
 *                       or warm-up flags, different tree shapes (the first path found in one party's
 *                       log only), or a violated byte invariant on the totals of a repetition.
 * Warnings (rounds or calls that differ, per-path byte mismatches, overlap clamps) are logged with
 * FF_WARN and kept in (*out)->warnings. */
ff_status ff_merge_logs(const char *log_a, const char *log_b, ff_breakdown **out);

/* ==== Report tables =============================================================================== */

typedef struct {
  char *key;       /* path (by scope), family, layer ("3", "none") or name; "Other" for the Other row */
  int depth;       /* by scope: tree depth */
  int node;        /* by scope: node index or FF_BD_OTHER; else -1 (FF_BD_OTHER: only the Other row) */
  ff_stats time;   /* wall time: inclusive by scope, else the exclusive sum of the group */
  double share;    /* time.median / total wall median × 100 */
  ff_stats excl;   /* exclusive wall time */
  /* The columns below follow `time`: inclusive by scope, exclusive sums otherwise. */
  ff_stats link, sent_p0, sent_p1, rounds, calls, wait, skew;
} ff_report_row;

typedef struct {
  ff_group_by by;
  size_t reps_counted, reps_warmup;
  ff_stats total_wall, total_link, total_rounds;
  ff_stats other_wall, other_link;
  double other_time_pct;  /* Other wall median / total wall median × 100 */
  double other_bytes_pct; /* Other link median / total link median × 100 (0 when no bytes) */
  size_t n_rows;
  ff_report_row *rows;    /* scope: tree order; family, name: time descending; layer: ascending;
                             the row holding Other last except for layers */
  size_t n_top;
  size_t top[3];          /* the (up to) 3 rows with the largest exclusive time median, largest first */
} ff_report;

ff_status ff_report_compute(const ff_breakdown *bd, ff_group_by by, ff_report *out);
void ff_report_free(ff_report *r);

/* "run ID · tool T · workload {...} · backend B · N reps counted (W warm-up excluded)" into buf. */
const char *ff_report_header(const ff_breakdown *bd, char *buf, size_t n);
/* A scope path's label in a by-scope table: its last component, indented "· " per level of depth,
 * into buf (returns buf). */
const char *ff_report_scope_label(const char *path, int depth, char *buf, size_t n);

/* A Markdown table with padded columns: the first row added is the header; align has one character
 * per column, 'l' or 'r'. */
typedef struct {
  size_t n_cols, n_rows, cap;
  char **cells; /* (n_rows, n_cols) */
  char align[32];
} ff_md_table;

void ff_md_table_init(ff_md_table *t, const char *align);
/* Adds a row of n_cols cells (copied), e.g. ff_md_table_row(&t, (const char *[]){"a", "b"}). */
ff_status ff_md_table_row(ff_md_table *t, const char *const *cells);
void ff_md_table_print(const ff_md_table *t, FILE *f);
void ff_md_table_free(ff_md_table *t);

/* One thread's repetition of a single process (no merge: e.g. the dealer's, `keygen --profile`) as a
 * Markdown table of exclusive time by scope name, time descending: calls, wall time, its share of the
 * repetition's wall time, and the exclusive CUDA stream time when the repetition has any; an "(no scope)"
 * row for the repetition's time outside every top-level scope, and a total row whose wall time is the
 * repetition's (the rows add up to it exactly). FF_ENOMEM, else FF_OK. */
ff_status ff_rep_print_by_name(FILE *f, const ff_prof_rep *rep);

/* The report as a Markdown table with its title and header line, as CSV (one row per group), or as
 * the JSON document fusefss.report/1; then the human summary (total, largest rows, coverage). */
void ff_report_print_md(FILE *f, const ff_breakdown *bd, const ff_report *r);
void ff_report_print_csv(FILE *f, const ff_report *r);
void ff_report_print_json(FILE *f, const ff_breakdown *bd, const ff_report *r);
void ff_report_print_summary(FILE *f, const ff_breakdown *bd, const ff_report *r);

/* ==== Amdahl reconciliation ======================================================================= */

#define FF_MICRO_SCHEMA "fusefss.micro/1"

typedef struct {
  char *gate;        /* "GELU" */
  char *family;      /* "Activation" */
  char *scope;       /* "Activation::GELU": the scope whose base-run time weighs this gate */
  double s_median, s_p25, s_p75; /* speedup = base time / candidate time */
  double base_median_ns, cand_median_ns; /* 0 when absent */
} ff_micro_gate;

typedef struct {
  char *source;
  char *base, *cand; /* suite labels ("sigma", "suf"); NULL when absent */
  size_t n_gates;
  ff_micro_gate *gates;
} ff_micro;

ff_status ff_micro_load(const char *path, ff_micro **out);
void ff_micro_free(ff_micro *m);

enum { FF_AMDAHL_S_NONE = 0, FF_AMDAHL_S_RUN = 1, FF_AMDAHL_S_MICRO = 2 };

typedef struct {
  char *name;          /* family, or scope name for a scope target */
  int is_scope;        /* 1: scope target (Σ inclusive of the outermost nodes with that name) */
  int targeted;
  double t_base, t_cand; /* ns: medians over counted repetitions of the per-repetition sums */
  double f;            /* t_base / T_base */
  double f_cand;       /* t_cand / T_cand */
  double s_run;        /* t_base / t_cand measured in the runs (INFINITY when t_cand = 0, NAN when both 0) */
  double s, s_p25, s_p75; /* the speedup used for the prediction (= s_run unless from --micro) */
  int s_source;        /* FF_AMDAHL_S_RUN or FF_AMDAHL_S_MICRO (targets); FF_AMDAHL_S_NONE otherwise */
  /* families: median of the per-repetition time outside targeted scopes (= t when none is inside) */
  double rest_base, rest_cand;
} ff_amdahl_row;

typedef struct {
  double T_base, T_cand;     /* merged total wall medians */
  double f_sum, f_sum_cand;  /* Σ over targets of t_base / T_base and t_cand / T_cand */
  double s_eff;              /* Σ t_base / Σ (t_base / s) over the targets (= Σt_base/Σt_cand in-run) */
  double S_pred, S_pred_p25, S_pred_p75; /* 1/((1 − Σf) + Σ f/s); at the p25 and p75 speedups */
  double S_meas;             /* T_base / T_cand */
  double residual;           /* (S_meas − S_pred) / S_pred */
  double T_pred;             /* T_base / S_pred */
  /* what T_cand − T_pred is made of */
  double d_targets;          /* Σ over targets (t_cand − t_base / s): in-run vs the speedup used */
  double d_nontargeted;      /* Σ over non-targeted families but Other of (rest_cand − rest_base) */
  double d_other;            /* Other family: t_cand − t_base */
  double d_nonadditive;      /* the rest: medians of sums are not sums of medians */
  int has_micro;
  size_t n_targets;
  size_t n_rows;
  ff_amdahl_row *rows;       /* the families (base order, then those only in cand), then scope targets */
} ff_amdahl;

/* targets: family or scope names (NULL/0: those of Activation, Softmax, LayerNorm present in base).
 * Fails with FF_ENOENT (logged, listing the families present) when a target is in neither form in
 * the base run or when no default target is present. micro may be NULL. */
ff_status ff_amdahl_compute(const ff_breakdown *base, const ff_breakdown *cand, const char *const *targets,
                            size_t n_targets, const ff_micro *micro, ff_amdahl *out);
void ff_amdahl_free(ff_amdahl *a);
/* Index of the row named `name` (family or scope target), or -1. */
int ff_amdahl_find(const ff_amdahl *a, const char *name);
/* The reconciliation sentence into buf: "<targets> take X% of <base>'s online time and Y% of
 * <cand>'s; a per-gate s× speedup therefore gives Z× end to end (measured W×, residual R%)." */
const char *ff_amdahl_sentence(const ff_amdahl *a, const char *base_label, const char *cand_label, char *buf,
                               size_t n);

/* The reconciliation as Markdown (tables, the residual's parts, the sentence) or as JSON
 * (fusefss.amdahl/1); bl/cl label the base and candidate runs. */
void ff_amdahl_print_md(FILE *f, const ff_amdahl *a, const ff_breakdown *base, const ff_breakdown *cand,
                        const char *bl, const char *cl);
void ff_amdahl_print_json(FILE *f, const ff_amdahl *a, const char *bl, const char *cl);

/* ==== LAN/WAN projection ========================================================================== */

typedef enum {
  FF_CONV_SEED,   /* T = comp + 2·link_B/bw + rounds·lat: the published formula (both directions serialised) */
  FF_CONV_DUPLEX, /* T = comp + max(sent_P0, sent_P1)/bw + rounds·lat: full-duplex physical time */
} ff_convention;

const char *ff_convention_name(ff_convention c);
/* The convention's formula, printed next to every projection. */
const char *ff_convention_formula(ff_convention c);
int ff_convention_parse(const char *s); /* -1 if unknown */

typedef struct {
  const char *name; /* "LAN", "WAN", "custom" */
  double bw_Bps;    /* bytes per second */
  double lat_ns;    /* one-way latency charged per round */
} ff_network;

/* Presets: LAN = 1 GB/s (1e9 B/s) and 0.5 ms; WAN = 400 MB/s (4e8 B/s) and 4 ms. */
ff_network ff_network_lan(void);
ff_network ff_network_wan(void);

typedef struct {
  char *key;        /* family, or path by scope; "total" for the total */
  int depth;
  double comp_ns;   /* median over counted reps of comp (max over parties of wall − wait) */
  double bytes_B;   /* median of the bytes the convention charges: link_B (seed) or max(sent_P0, sent_P1) */
  double bytes_ns;  /* median of the bytes term: 2·link_B/bw (seed) or max(sent_P0, sent_P1)/bw (duplex) */
  double rounds;    /* median rounds */
  double lat_ns;    /* rounds · lat */
  double T_ns;      /* comp_ns + bytes_ns + lat_ns */
  double wall_ns;   /* measured wall median (reference) */
} ff_proj_row;

typedef struct {
  ff_network net;
  ff_convention conv;
  ff_group_by by;
  ff_proj_row total; /* from the merged repetition totals */
  size_t n_rows;
  ff_proj_row *rows; /* by family (Other included) or by scope (exclusive values per path, then Other) */
} ff_projection;

/* by: FF_GROUP_FAMILY or FF_GROUP_SCOPE (other groupings are accepted too). Each term is a median
 * across the counted repetitions; T is their sum (bytes and rounds are the same in every repetition
 * of a deterministic protocol, so this is the median of the per-repetition T). */
ff_status ff_project_compute(const ff_breakdown *bd, const ff_network *net, ff_convention conv, ff_group_by by,
                             ff_projection *out);
void ff_projection_free(ff_projection *p);

/* One network's projection as a Markdown section; one row as a JSON object (caller frees). */
void ff_projection_print_md(FILE *f, const ff_projection *p);
cJSON *ff_proj_row_to_json(const ff_proj_row *r);

/* ==== Whole-run traces ============================================================================ */

/* One Chrome/Perfetto trace (JSON, opens in ui.perfetto.dev) of a two-party run from its two
 * per-party traces (trace_p0.json, trace_p1.json as `fusefss run --trace` writes, in either order):
 * one process per party on one clock (same host: both recorders' CLOCK_MONOTONIC; two hosts: the
 * offset estimated from the messages), a track per thread and per CUDA stream, scopes as nested
 * slices, each message as a slice inside the scope that sent or received it, and a flow arrow from
 * the k-th send of a party to the peer's k-th receive (TCP keeps order per direction) — refused
 * (FF_EMISMATCH) when their sizes differ or the traces are of different runs. max_depth > 0 keeps
 * only scopes opened at depth < max_depth (0 = Forward); messages and repetitions are always kept.
 * Written by temp + rename. */
typedef struct {
  size_t slices;     /* X events written (scopes, messages, repetitions) */
  size_t slices_cut; /* scope instances left out by max_depth */
  size_t flows;      /* send -> receive arrows */
  size_t unpaired;   /* messages without a partner (a full trace buffer); no arrow */
  size_t bytes;      /* size of the file written */
} ff_trace_info;

ff_status ff_trace_combine(const char *trace_a, const char *trace_b, int max_depth, const char *out_path,
                           ff_trace_info *info);

/* ==== Figures (self-contained SVG and one HTML page) ================================================
 * Each figure is built in memory (caller frees; the commands write it by temp + rename). Axes carry
 * their units; each family's colour is ff_scope_family_argb's, the NVTX colour; every data series is
 * a <g class="series" data-series="NAME"> with a legend entry <g class="legend-entry"
 * data-series="NAME">. Values are medians over the counted repetitions. */
typedef struct {
  const ff_breakdown *bd;
  const char *label; /* "sigma", "suf", a cell name */
} ff_plot_run;

/* Stacked bars of time per family (exclusive sums), one bar per run; with `projected`, each run gets
 * three bars: measured, LAN and WAN (ff_project_compute, duplex convention). At most 48 bars. */
ff_status ff_plot_families_svg(const ff_plot_run *runs, size_t n_runs, int projected, char **svg);
/* Per-layer time and link bytes, two panels of grouped bars (one bar per run, at most 8 runs). */
ff_status ff_plot_layers_svg(const ff_plot_run *runs, size_t n_runs, char **svg);
/* Per-family speedups (base time / candidate time) as bars against the measured and the predicted
 * end-to-end speedups (lines); families with no time in the base or an infinite speedup get no bar. */
ff_status ff_plot_amdahl_svg(const ff_amdahl *a, const char *base_label, const char *cand_label, char **svg);

/* One line of a scaling figure: n points (x ascending, e.g. seq) with their medians. */
typedef struct {
  const char *label;
  size_t n;
  const double *x, *time_ns, *link_B, *rounds;
  const double *time_p25, *time_p75; /* optional (NULL): a p25–p75 whisker on each time point */
} ff_plot_series;

/* Three panels (online time, link bytes, rounds) against x, one line per series (time with p25–p75
 * whiskers when the series has them). */
ff_status ff_plot_scaling_svg(const ff_plot_series *series, size_t n_series, const char *x_label, char **svg);
/* One HTML page: the family table of each run, then the figures inlined (no external resource). */
ff_status ff_plot_html(const char *title, const ff_plot_run *runs, size_t n_runs, const char *const *svgs,
                       size_t n_svgs, char **html);

/* ==== Grids (`fusefss matrix`) ========================================================================
 * A grid is a list of values per axis; its cells are their product (a sigma cell ignores the suf knob
 * sets: one cell, not one per set). Values are checked as they are added (printable, no slash or
 * quote: they name folders and become command-line options). */
typedef enum {
  FF_GRID_MODEL, FF_GRID_SUITE, FF_GRID_SEQ, FF_GRID_BATCH, FF_GRID_BACKEND, FF_GRID_PLACEMENT,
  FF_GRID_SUF, /* one knob set per value: "NAME=VALUE[,NAME=VALUE...]" ("" = the defaults) */
  FF_GRID_SHARE, /* how the two parties share one GPU: "timeslice" or "mps" (`fusefss run --gpu-share`) */
  FF_GRID_DEALER, /* where the keys come from: "file", "inproc" or "stream" (`fusefss run --dealer`); a
                     stream cell takes no placement (its keys arrive as read): one cell per stream dealer */
  FF_GRID_N_AXES
} ff_grid_axis;

#define FF_GRID_MAX_VALUES 16
#define FF_GRID_MAX_CELLS 4096

typedef struct {
  size_t n[FF_GRID_N_AXES];
  char *v[FF_GRID_N_AXES][FF_GRID_MAX_VALUES];
  int reps, warmup;  /* per cell: counted and warm-up repetitions (1, 0) */
  int layers;        /* the first N blocks only; 0: the whole model */
  int trace_depth;   /* -1: no trace; 0: every depth; N: `fusefss run --trace-depth N` */
  int weights_per_layer; /* 1: `--weights-per-layer` for every cell (cost and run) */
  int verify;        /* 1 (default): each run checks its outputs against the emulation; 0: `--verify off` */
} ff_grid;

void ff_grid_init(ff_grid *g);
void ff_grid_free(ff_grid *g);
const char *ff_grid_axis_name(ff_grid_axis a); /* "model", "seq", ... */
int ff_grid_axis_parse(const char *s);         /* also the plural forms "models", "suites", ...; -1 */
/* One value (FF_EINVAL, logged, for a value that is not valid on that axis; a repeat is ignored). */
ff_status ff_grid_add(ff_grid *g, ff_grid_axis a, const char *value);
/* A comma-separated list ("8,16,32"); for FF_GRID_SUF the whole string is one knob set. */
ff_status ff_grid_add_list(ff_grid *g, ff_grid_axis a, const char *csv);
/* A grid file: {"model": [...], "suite": [...], "seq": [...], "batch": [...], "backend": [...],
 * "placement": [...], "suf": ["", "SUF_GELU_INTERVALS=8"], "gpu_share": ["timeslice", "mps"],
 * "dealer": ["file", "stream"], "reps": 3, "warmup": 1, "layers": 0, "trace_depth": -1,
 * "weights_per_layer": false, "verify": true}; every key optional; values added to g. */
ff_status ff_grid_load(const char *path, ff_grid *g);
/* Empty axes get the defaults: bert-tiny, sigma, seq 128, batch 1, cpu, device, no knobs, timeslice, file. */
void ff_grid_fill_defaults(ff_grid *g);
cJSON *ff_grid_to_json(const ff_grid *g); /* the grid file's form (fusefss.grid/1); caller frees */

typedef struct {
  char name[200];             /* its folder: "bert-tiny-suf-s64-b1-cpu-device" ("-mps" after it under MPS,
                                 "-inproc" with that dealer; "stream" in place of the placement) */
  char series[200];           /* the cell without its seq: one line of the scaling figure */
  const char *model, *suite, *knobs, *backend, *placement, *share, *dealer; /* point into the grid (placement
                                                                               "stream" for a stream cell) */
  int seq, batch;
} ff_grid_cell;

/* The cells in run order (seq varies fastest); caller frees *cells. */
ff_status ff_grid_cells(const ff_grid *g, ff_grid_cell **cells, size_t *n);

typedef struct {
  char family[48];
  double time_ns, link_B, rounds, lan_ns, wan_ns; /* medians; LAN/WAN: projected (duplex) */
} ff_cell_family;

typedef struct {
  char status[16];            /* "done", "failed", "refused", "pending" (set by the caller) */
  char reason[512];           /* why a cell failed or was refused */
  double online_ns, online_p25, online_p75, link_B, sent_B_p0, sent_B_p1, rounds; /* merged totals, medians */
  double lan_ns, wan_ns;      /* projected totals, duplex convention, LAN and WAN presets */
  double keygen_s, key_file_B, max_abs_err; /* from run_summary.json */
  double peak_host_B, peak_device_B; /* from run_summary.json: the larger party's peak RSS and device pool */
  double key_B_p0, key_B_p1;  /* each party's key bytes from `fusefss cost` (the matrix's cell.json), any status */
  int output_exact, cost_model_equal;
  size_t reps;                /* counted repetitions */
  size_t n_fam;
  ff_cell_family *fam;        /* per family (exclusive sums), Other last */
} ff_cell_result;

/* A finished cell's figures from its folder (breakdown_merged.json and run_summary.json, as
 * `fusefss run` writes them). The status and reason are left to the caller. */
ff_status ff_cell_collect(const char *dir, ff_cell_result *r);
void ff_cell_result_free(ff_cell_result *r);
/* The grid's tables (caller frees each): one CSV row per cell (totals, projections, keygen, error,
 * checks, and time/link per family as columns), a tidy CSV of (cell, family) rows, and the JSON
 * document fusefss.matrix/1 with the grid and every cell. */
ff_status ff_matrix_tables(const ff_grid *g, const ff_grid_cell *cells, const ff_cell_result *res, size_t n,
                           char **csv, char **families_csv, char **json);
/* One scaling series per cell without its seq (done cells only, ascending seq); the series point into
 * *storage; caller frees *series and *storage. */
ff_status ff_matrix_series(const ff_grid_cell *cells, const ff_cell_result *res, size_t n, ff_plot_series **series,
                           size_t *n_series, double **storage);
/* The per-cell table in Markdown (docs/results.md's per-model tables): keys per party, keygen, online time,
 * link bytes, rounds, the output's error, peak host and device memory; "—" where not known. */
ff_status ff_matrix_markdown(const ff_grid_cell *cells, const ff_cell_result *res, size_t n, char **md);
/* One HTML page: the table of cells and the scaling figure (may be NULL). */
ff_status ff_matrix_html(const ff_grid_cell *cells, const ff_cell_result *res, size_t n, const char *scaling_svg,
                         char **html);

#endif
