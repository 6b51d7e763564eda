/* The `fusefss matrix` command: a grid of `fusefss run`s, resumable, with its tables and figures (the
 * grid's model and tables are in tools/lib/analysis.h). Test: tests/test_analysis.c. */
#ifndef FF_TOOLS_MATRIX_H
#define FF_TOOLS_MATRIX_H

#include "core/status.h"

/* fusefss matrix [--grid FILE] [--model ...] [--suite ...] [--seq ...] ... [-o DIR] */
int ff_cmd_matrix(int argc, char **argv);

/* The figures of a grid's folder (DIR/grid.json and DIR/cells/) into out: scaling.svg and, with html,
 * index.html (used by `fusefss plot --matrix`). FF_ENOENT when no cell is finished. */
ff_status ff_matrix_plot(const char *dir, const char *out, int html);

#endif
