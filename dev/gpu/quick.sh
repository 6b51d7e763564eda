#!/bin/bash
# Minimal device run: build only the CUDA tests of the device reconstruct and the allocation-free online
# phase (and fusefss), run them, then bert-tiny new vs base if time is left.
set -u
T0=$(date +%s); BUDGET=${BUDGET:-170}
left() { echo $(( BUDGET - ($(date +%s) - T0) )); }
for f in .deps/*.deb; do dpkg -x "$f" / >/dev/null; done; ldconfig
cd .gpu
[ -d new ] || ln -s .. new # no candidate copy: the candidate is the working tree that the device received
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
B="-G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CUDA_ARCHITECTURES=90"
cmake -S new -B new/build $B >/dev/null && cmake --build new/build -j16 --target test_pack_cuda test_online_alloc_cuda fusefss > new.build.log 2>&1
echo "build rc=$? at $(( $(date +%s) - T0 )) s"; grep -E "error" new.build.log | head
for t in test_pack_cuda test_online_alloc_cuda; do
  [ $(left) -lt 15 ] && break
  timeout $(( $(left) - 5 )) new/build/tests/$t > $OUT/$t.log 2>&1; echo "$t rc=$?"; grep -E "PASSED|FAILED|host allocations|OK \]|differs|wrong" $OUT/$t.log | head -12
done
if [ $(left) -gt 40 ]; then
  timeout $(( $(left) - 5 )) new/build/fusefss run --out /tmp/t --reps 3 --warmup 1 > $OUT/tiny.log 2>&1; echo "tiny rc=$?"
  grep -E "per inference|^verification|^cost model" $OUT/tiny.log | cut -c1-200
fi
echo "total $(( $(date +%s) - T0 )) s"
