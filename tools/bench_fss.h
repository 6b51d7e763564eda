/* `fusefss bench fss`: throughput of the FSS primitives on CPU and GPU (tools/bench_fss.c). */
#ifndef FF_TOOLS_BENCH_FSS_H
#define FF_TOOLS_BENCH_FSS_H

int ff_cmd_bench_fss(int argc, char **argv);

#endif
