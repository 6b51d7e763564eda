#!/bin/bash
# The two parties' processes on one GPU through MPS (one shared context: the kernels of both run at once
# instead of taking turns) against the same runs without it, same binary, same call. A labelled
# experiment, not the setting of the targets. RUNS as in compare.sh's, "name:args,with,commas".
F=$PWD/new/build/fusefss
CTL=$(command -v nvidia-cuda-mps-control)
[ -z "$CTL" ] && { echo "mps: no nvidia-cuda-mps-control on this host"; exit 0; }
RUNS=${MPS_RUNS:-"tiny:--reps,20,--warmup,2 bb2:--model,bert-base,--layers,2,--reps,5,--warmup,1,--dealer,inproc"}
one() { # label name args
  rm -rf /tmp/m_$2; timeout 200 $F run --out /tmp/m_$2 ${3//,/ } > /tmp/m_$2.log 2>&1
  echo "$1 $2 rc=$? :: $(grep -h 'per inference' /tmp/m_$2.log | sed 's/; keys.*//') :: $(grep -h '^verification' /tmp/m_$2.log | cut -c1-70)"
}
for r in $RUNS; do IFS=: read n a <<< "$r"; one plain $n "$a"; done
export CUDA_MPS_PIPE_DIRECTORY=/tmp/mps CUDA_MPS_LOG_DIRECTORY=/tmp/mpslog
mkdir -p $CUDA_MPS_PIPE_DIRECTORY $CUDA_MPS_LOG_DIRECTORY
$CTL -d && echo "mps: daemon started"
for r in $RUNS; do IFS=: read n a <<< "$r"; one mps $n "$a"; done
echo quit | $CTL; sleep 1; tail -n 3 $CUDA_MPS_LOG_DIRECTORY/control.log 2>/dev/null
