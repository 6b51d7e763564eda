/* `fusefss bench gemm`: ring GEMM mod 2^bw on the CPU and both CUDA algorithms (tools/bench_gemm.c). */
#ifndef FF_TOOLS_BENCH_GEMM_H
#define FF_TOOLS_BENCH_GEMM_H

int ff_cmd_bench_gemm(int argc, char **argv);

#endif
