#!/bin/bash
# Nsight Compute filtered by one NVTX scope: P1 of bert-tiny under ncu, P0 plain, keys from keygen.
F=$PWD/new/build/fusefss; cd /tmp; rm -rf k p0 p1 sm.ncu-rep
NCU=$(command -v ncu || ls /usr/local/cuda/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
echo "ncu: $NCU"; [ -z "$NCU" ] && exit 0
$F keygen --out /tmp/k --backend cuda > /tmp/keygen.log 2>&1 || { echo keygen failed; tail -5 /tmp/keygen.log; }
ls /tmp/k
$F run --party 0 --listen 127.0.0.1:7100 --keys /tmp/k/keys_p0.ffk --out /tmp/p0 --backend cuda --timeout 300s > /tmp/p0.log 2>&1 &
timeout 240 $NCU --nvtx --nvtx-include "fusefss@Forward/Layer/Attention/Softmax/" -o /tmp/sm -f \
  $F run --party 1 --peer 127.0.0.1:7100 --keys /tmp/k/keys_p1.ffk --out /tmp/p1 --backend cuda --timeout 300s > /tmp/ncu.log 2>&1
echo "ncu rc=$?"; tail -n 8 /tmp/ncu.log; wait; tail -n 3 /tmp/p0.log
$NCU --import /tmp/sm.ncu-rep --print-summary per-kernel 2>&1 | head -60
$NCU --import /tmp/sm.ncu-rep --page raw --csv --metrics gpu__time_duration.sum --print-nvtx-rename kernel 2>&1 | head -5 | cut -c1-600
