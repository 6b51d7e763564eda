/* Internal to the analysis library: how merge.c builds a breakdown (breakdown.c), and the growing
 * string that the text writers (plot.c, grid.c) share (fileio.c). Not used outside tools/lib/. */
#ifndef FF_TOOLS_LIB_ANALYSIS_INTERNAL_H
#define FF_TOOLS_LIB_ANALYSIS_INTERNAL_H

#include "tools/lib/analysis.h"

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

/* ---- Internal: a growing string (fileio.c) ----------------------------------------------------------
 * Appends formatted text; on the first failure (out of memory, a bad format) it sets oom and ignores what
 * follows, so a writer checks once at the end. Free s when done. */
typedef struct {
  char *s;
  size_t len, cap;
  int oom;
} ff__sb;
void ff__sbf(ff__sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
