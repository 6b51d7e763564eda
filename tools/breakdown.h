/* The merged breakdown of a two-party run (schema fusefss.merged/1, docs/tools.md): the data model
 * that `fusefss merge` produces and that report, amdahl, project and `bench comm` read, with its
 * loader, accessors and grouping helpers (by scope, family, layer, name). DESIGN.md §6.
 * Tests: tests/test_merge.c (round trip, loader, groupings), tests/test_amdahl.c. */
#ifndef FF_TOOLS_BREAKDOWN_H
#define FF_TOOLS_BREAKDOWN_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "core/status.h"
#include "tools/stats.h"

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

/* ---- Internal: used by merge.c to build a breakdown -------------------------------------------- */
ff_status ff__breakdown_new(ff_breakdown **out);
/* Index of scope `name`, adding it when new; -1 on allocation failure. */
int ff__breakdown_scope(ff_breakdown *bd, const char *name, const char *family);
/* Appends a node (parent must already exist); returns its index or -1. */
int ff__breakdown_add_node(ff_breakdown *bd, const char *path, int parent, int scope, int layer);
/* Allocates n_reps zeroed repetitions for the current node table. */
ff_status ff__breakdown_alloc_reps(ff_breakdown *bd, size_t n_reps);
/* Computes depth, effective layer, owner family and the path index of every node. */
ff_status ff__breakdown_index(ff_breakdown *bd);
/* Records a warning (also logged with FF_WARN). */
void ff__breakdown_warn(ff_breakdown *bd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
