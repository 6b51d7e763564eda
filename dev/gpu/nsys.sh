#!/bin/bash
# Nsight Systems on the CUDA dealer (keygen) and then on P1 of bert-base (first 2 layers; MODEL_ARGS to
# change), P0 plain beside it: time per NVTX scope (the profiler's scopes are NVTX ranges, the dealer's
# too) and GPU time per kernel, CSVs in $OUT/nsys_stats.tgz.
F=$PWD/new/build/fusefss; cd /tmp; rm -rf kn q0 q1 ns.nsys-rep ns.sqlite
NSYS=$(command -v nsys || ls /usr/local/cuda/bin/nsys /opt/nvidia/nsight-systems/*/bin/nsys 2>/dev/null | head -1)
echo "nsys: $NSYS"; [ -z "$NSYS" ] && exit 0
A=${MODEL_ARGS:-"--model bert-base --layers 2"}
# The CUDA dealer under nsys too: its time per NVTX scope (the same scopes as the parties') and per kernel.
timeout 200 $NSYS profile -t cuda,nvtx -s none --cpuctxsw=none -o /tmp/kgns -f true \
  $F keygen $A --out /tmp/kn --backend cuda > /tmp/kn.log 2>&1 || { echo keygen failed; tail -5 /tmp/kn.log; }
head -1 /tmp/kn.log
$NSYS stats -r nvtx_sum,cuda_gpu_kern_sum,cuda_api_sum -f csv -o /tmp/kgstats /tmp/kgns.nsys-rep > /dev/null 2>&1
head -20 /tmp/kgstats_nvtx_sum.csv 2>/dev/null | cut -c1-200
$F run $A --party 0 --listen 127.0.0.1:7101 --keys /tmp/kn/keys_p0.ffk --out /tmp/q0 --backend cuda --reps 2 --timeout 300s > /tmp/q0.log 2>&1 &
timeout 200 $NSYS profile -t cuda,nvtx -s none --cpuctxsw=none -o /tmp/ns -f true \
  $F run $A --party 1 --peer 127.0.0.1:7101 --keys /tmp/kn/keys_p1.ffk --out /tmp/q1 --backend cuda --reps 2 --timeout 300s > /tmp/nsys.log 2>&1
echo "nsys rc=$?"; tail -n 4 /tmp/nsys.log; wait; grep -h "per inference" /tmp/q0.log
$NSYS stats -r cuda_gpu_kern_sum,nvtx_kern_sum,cuda_api_sum -f csv -o /tmp/nsstats /tmp/ns.nsys-rep > /dev/null 2>&1
ls /tmp/nsstats* 2>/dev/null; tar czf $OUT/nsys_stats.tgz -C /tmp $(cd /tmp && ls kgstats*.csv nsstats*.csv 2>/dev/null) # one file: $OUT brings back 8
head -25 /tmp/nsstats_cuda_gpu_kern_sum.csv 2>/dev/null | cut -c1-220
