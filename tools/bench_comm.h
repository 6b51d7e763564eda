/* `fusefss bench comm`: the two-party channel benchmark (tools/bench_comm.c). */
#ifndef FF_TOOLS_BENCH_COMM_H
#define FF_TOOLS_BENCH_COMM_H

int ff_cmd_bench_comm(int argc, char **argv);

#endif
