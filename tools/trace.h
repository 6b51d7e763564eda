/* The `fusefss trace` command: one Chrome/Perfetto trace of a two-party run from the parties' traces
 * (ff_trace_combine in tools/lib/analysis.h). Test: tests/test_analysis.c. */
#ifndef FF_TOOLS_TRACE_H
#define FF_TOOLS_TRACE_H

/* fusefss trace trace_p0.json trace_p1.json [-o trace.json] [--depth N] */
int ff_cmd_trace(int argc, char **argv);

#endif
