/* The `fusefss plot` command: SVG figures and one HTML page of runs (and of a grid) from their merged
 * logs; the figures are built by the analysis library (tools/lib/analysis.h). Test: tests/test_analysis.c. */
#ifndef FF_TOOLS_PLOT_H
#define FF_TOOLS_PLOT_H

/* fusefss plot RUN... [--label L]... [-o DIR] [--no-html] */
int ff_cmd_plot(int argc, char **argv);

#endif
