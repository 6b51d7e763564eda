#!/bin/bash
# Device run (dev/gpu/README.md): builds the candidate (new) and the baseline (base), runs quick CUDA tests
# of new, the workloads in $RUNS, amdahl for $AMDAHL, then the slower CUDA tests and $EXTRA, all within
# $BUDGET seconds; prints a summary table last. Logs under $OUT. NEW_TARGETS: build only these targets of new.
set -u
T0=$(date +%s); BUDGET=${BUDGET:-570}
left() { echo $(( BUDGET - ($(date +%s) - T0) )); }
for f in .deps/*.deb; do dpkg -x "$f" / >/dev/null; done; ldconfig
cd .gpu
[ -d new ] || ln -s .. new # no candidate copy: the candidate is the working tree that the device received
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader; ls /usr/local/cuda/bin | tr "\n" " "; echo; nproc
B="-G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CUDA_ARCHITECTURES=90"
# PREBUILT=1: the candidate's fusefss came built (carry build/fusefss, sm_90): no build, no tests.
if [ -n "${PREBUILT:-}" ]; then ls -l new/build/fusefss; ldd new/build/fusefss | grep -c "not found"; touch new.build.log
else
(cmake -S new -B new/build $B >/dev/null && cmake --build new/build -j12 ${NEW_TARGETS:+--target $NEW_TARGETS} > new.build.log 2>&1; echo "new build rc=$?") &
fi
if echo " ${RUNS:-}" | grep -q " base:"; then (cmake -S base -B base/build $B -DFF_TESTS=OFF >/dev/null && cmake --build base/build -j8 --target fusefss > base.build.log 2>&1; echo "base build rc=$?") & fi
wait
echo "builds done at $(( $(date +%s) - T0 )) s"
grep -E "error|warning:" new.build.log | head -20
tests() { # regex
  [ -z "$1" ] && return
  local l=$(left); [ $l -lt 30 ] && { echo "no time for tests $1" | tee -a $OUT/summary.txt; return; }
  timeout $((l - 10)) ctest --test-dir new/build -L cuda -j4 --output-on-failure --timeout 150 -R "$1" >> $OUT/ctest_cuda.log 2>&1
  grep -E "tests passed|Failed|\*\*\*|Passed|Skipped" $OUT/ctest_cuda.log | tail -n 20 | tee -a $OUT/summary.txt
}
run() { # tree name args...
  local tree=$1 name=$2; shift 2
  local out=/tmp/out_$name l=$(left)
  [ $l -lt 40 ] && { echo "$name skipped: no time" | tee -a $OUT/summary.txt; return; }
  rm -rf $out
  local t=$(date +%s)
  timeout $((l - 15)) env ${RUN_ENV:-} $tree/build/fusefss run --out $out "$@" > /tmp/$name.log 2>&1
  local rc=$?
  { echo "=== $name: $*"; cat /tmp/$name.log; } >> $OUT/runs.log
  if [ -f $out/breakdown_merged.json ]; then
    { echo "=== $name"; $tree/build/fusefss report $out/breakdown_merged.json --by name; $tree/build/fusefss report $out/breakdown_merged.json --by family; } >> $OUT/byname.md 2>&1
    case "$name" in *bsuf*|*bbase*|*gpt2*) cp $out/breakdown_merged.json /tmp/merged_$name.json;; esac
  fi
  echo "$name rc=$rc wall=$(( $(date +%s) - t ))s :: $(grep -h 'per inference' /tmp/$name.log | sed 's/; keys.*//') :: $(grep -h '^verification' /tmp/$name.log | cut -c1-80) :: $(grep -h '^cost model' /tmp/$name.log | cut -c1-60) :: $(grep -h '^peak memory' /tmp/$name.log)" | tee -a $OUT/summary.txt
  rm -rf $out
}
tests "${TESTS1:-}"
# RUNS: tree:name:args-with-commas[:ENV=VAL,ENV=VAL]
for r in ${RUNS:-}; do IFS=: read tree name args envs <<< "$r"; RUN_ENV="${envs//,/ }" run $tree ${tree}_$name ${args//,/ }; done
for pair in ${AMDAHL:-}; do IFS=: read a b <<< "$pair"; [ -f /tmp/merged_$a.json ] && [ -f /tmp/merged_$b.json ] && { echo "=== amdahl $a -> $b"; new/build/fusefss amdahl --base /tmp/merged_$a.json --cand /tmp/merged_$b.json; } >> $OUT/amdahl.md 2>&1; done
tests "${TESTS2:-}"
[ -n "${EXTRA:-}" ] && [ $(left) -gt 30 ] && timeout $(( $(left) - 5 )) bash -c "$EXTRA" > $OUT/extra.log 2>&1
for f in /tmp/merged_*bbase.json; do [ -f "$f" ] && gzip -c "$f" > $OUT/$(basename $f).gz; done
[ -f $OUT/amdahl.md ] && tail -n 25 $OUT/amdahl.md
echo "=== summary ($(( $(date +%s) - T0 )) s)"; cat $OUT/summary.txt 2>/dev/null
