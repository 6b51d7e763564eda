/* `fusefss bench scope`: cost of one scope enter/exit (tools/bench_scope.c). */
#ifndef FF_TOOLS_BENCH_SCOPE_H
#define FF_TOOLS_BENCH_SCOPE_H

int ff_cmd_bench_scope(int argc, char **argv);

#endif
