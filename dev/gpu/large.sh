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
# 1. The disk's sequential write rate (4 GiB, flushed), as the issue's keygen target is relative to it.
dd if=/dev/zero of=/tmp/dd.bin bs=8M count=512 conv=fdatasync 2>&1 | tail -1 | sed 's/^/disk (dd 4 GiB, fdatasync): /' | tee -a $OUT/large.txt
rm -f /tmp/dd.bin
# 2. Keygen of bert-base to key files, CUDA dealer (its own line says dealing and writing); with BASE_BIN
#    (a baseline's fusefss, e.g. carried in .gpu/basebin) the same keygen with it next, on the same disk;
#    with FSYNC=1 the candidate once more with --fsync (flushed to disk: the time to set beside dd's); with
#    PROFILE=1 the candidate's first keygen with --profile (the dealer's time by scope, into $OUT/kg_profile.md).
for b in "$F${PROFILE:+ --profile}" ${BASE_BIN:+"$BASE_BIN"} ${FSYNC:+"$F --fsync"}; do
  rm -rf /tmp/kg; t=$(date +%s)
  bin=${b%% *}; extra=${b#"$bin"} # "$F --fsync": the binary, then keygen's extra option
  timeout $(( $(left) - 10 )) $bin keygen --model bert-base --backend cuda --mask-seed 7 $extra --out /tmp/kg > /tmp/kg.log 2>&1
  echo "keygen bert-base cuda ($b) rc=$? wall=$(( $(date +%s) - t ))s :: $(head -1 /tmp/kg.log | sed 's/.*) in/in/')" | tee -a $OUT/large.txt
  case "$extra" in *--profile*) cp /tmp/kg.log $OUT/kg_profile.md;; esac
  du -sb /tmp/kg | awk '{printf "key files %.2f GiB\n", $1/2^30}' | tee -a $OUT/large.txt
  rm -rf /tmp/kg
done
# 3. The large models (defaults: a cut llama7b streamed, bert-large from disk), each verified.
JOBS=${JOBS:-"ll7s:--model,llama7b,--layers,1,--dealer,stream bl:--model,bert-large,--placement,disk bb512:--model,bert-base,--seq,512,--dealer,stream"}
for j in $JOBS; do
  IFS=: read name args <<< "$j"
  l=$(left); [ $l -lt 60 ] && { echo "$name skipped: no time" | tee -a $OUT/large.txt; continue; }
  rm -rf /tmp/o_$name; t=$(date +%s)
  timeout $(( l - 15 )) $F run --out /tmp/o_$name ${args//,/ } > /tmp/$name.log 2>&1
  rc=$?
  { echo "=== $name: ${args//,/ }"; cat /tmp/$name.log; } >> $OUT/large_runs.log
  echo "$name rc=$rc wall=$(( $(date +%s) - t ))s :: $(grep -h 'per inference' /tmp/$name.log | cut -c1-220) :: $(grep -h '^peak memory' /tmp/$name.log) :: $(grep -h '^verification' /tmp/$name.log | cut -c1-90) :: $(grep -h '^cost model' /tmp/$name.log | cut -c1-60)" | tee -a $OUT/large.txt
  rm -rf /tmp/o_$name
done
echo "=== large ($(( $(date +%s) - T0 )) s)"; cat $OUT/large.txt
