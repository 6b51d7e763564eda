/* `fusefss report`: tables of a merged breakdown per scope, family, layer or name, as Markdown, CSV or
 * JSON, with a header line (run, tool/workload, backend, repetitions) and a short summary ending in
 * the coverage line. DESIGN.md §6. Also the Markdown table helper amdahl and project print with.
 * Test: tests/test_merge.c (report cases). */
#ifndef FF_TOOLS_REPORT_H
#define FF_TOOLS_REPORT_H

#include <stddef.h>
#include <stdio.h>

#include "core/status.h"
#include "tools/breakdown.h"

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

/* fusefss report breakdown_merged.json [--format md|csv|json] [--by scope|family|layer|name] [-o FILE] */
int ff_cmd_report(int argc, char **argv);

#endif
