/* `fusefss bench gate`: each sigma gate alone at BERT-base sizes, dealer and both parties in one
 * process (gates/sigma/local.h), on the CPU and CUDA (tools/bench_gate.c). Test: tests/test_bench_gate.c. */
#ifndef FF_TOOLS_BENCH_GATE_H
#define FF_TOOLS_BENCH_GATE_H

int ff_cmd_bench_gate(int argc, char **argv);

#endif
