#!/bin/bash
# Device run for issue 13 (dev/gpu/README.md): the disk's own sequential write rate, keygen of bert-base to
# key files with the CUDA dealer (and its write rate), then the models whose keys exceed memory, each
# verified against the emulation, within $BUDGET seconds; one summary line per step last. Builds the
# received working tree (fusefss only) unless compare.sh already did. Logs under $OUT.
#   JOBS: the runs, "name:args,with,commas" (default below); each gets what is left of the budget.
set -u
T0=$(date +%s); BUDGET=${BUDGET:-570}
left() { echo $(( BUDGET - ($(date +%s) - T0) )); }
for f in .deps/*.deb; do dpkg -x "$f" / >/dev/null; done; ldconfig
. .gpu/lib.sh
cd .gpu
[ -d new ] || ln -s .. new
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee -a $OUT/large.txt
if [ ! -x new/build/fusefss ]; then
  cmake -S new -B new/build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CUDA_ARCHITECTURES=90 -DFF_TESTS=OFF >/dev/null &&
    cmake --build new/build -j16 --target fusefss > $OUT/large.build.log 2>&1 || { tail -20 $OUT/large.build.log; exit 1; }
fi
F=$PWD/new/build/fusefss
echo "built at $(( $(date +%s) - T0 )) s" | tee -a $OUT/large.txt
df -h /tmp | tail -1 | tee -a $OUT/large.txt; free -g | sed -n 2p | tee -a $OUT/large.txt
# 1. The disk's sequential write rate. 2. Keygen of bert-base to key files, CUDA dealer (its own line says
#    dealing and writing); with BASE_BIN (a baseline's fusefss, e.g. carried in .gpu/basebin) the same keygen
#    with it next, on the same disk; with FSYNC=1 the candidate once more with --fsync (flushed to disk: the
#    time to set beside dd's); with PROFILE=1 the candidate's first keygen with --profile (into
#    $OUT/kg_profile_1.md). 3. The large models (defaults: a cut llama7b streamed, bert-large from disk,
#    bert-base at seq 512 streamed), each verified.
ff_dd $OUT/large.txt
ff_keygens $OUT/large.txt "$F${PROFILE:+ --profile}" ${BASE_BIN:+"$BASE_BIN"} ${FSYNC:+"$F --fsync"}
ff_jobs $OUT/large.txt $F ${JOBS:-ll7s:--model,llama7b,--layers,1,--dealer,stream bl:--model,bert-large,--placement,disk bb512:--model,bert-base,--seq,512,--dealer,stream}
echo "=== large ($(( $(date +%s) - T0 )) s)"; cat $OUT/large.txt
