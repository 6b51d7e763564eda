#!/bin/bash
# Device run with no build (dev/gpu/README.md): the CUDA tests and fusefss that pack.sh packed here, then
# keygen of bert-base with them, once per option set in KEYGENS (space-separated sets, options joined by
# commas; default --profile), with BASE_BIN (a baseline fusefss) and, with FSYNC=1, with --fsync; DD=1: the
# disk's own write rate; then the runs in JOBS ("name:args,with,commas", with RF, the fusefss for runs,
# default the packed one), each verified. TESTS: the tests to run (default: all packed, the dealer's first);
# TBUDGET: seconds for the tests. Logs under $OUT; one summary line per step last.
set -u
T0=$(date +%s); BUDGET=${BUDGET:-570}; TBUDGET=${TBUDGET:-330}
left() { echo $(( BUDGET - ($(date +%s) - T0) )); }
. .gpu/lib.sh
for f in .deps-run/*.deb; do dpkg -x "$f" / >/dev/null; done; ldconfig
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee $OUT/sum.txt
mkdir -p /tmp/ct && tar xJf .gpu/ct.tar.xz -C /tmp/ct && C=/tmp/ct/ct
echo "packed: $(cat .gpu/ct.COMMIT 2>/dev/null)" | tee -a $OUT/sum.txt
export FUSEFSS=$C/fusefss
cd tests
ALL="test_dealer_cuda test_fss_cuda $(ls $C | grep ^test_ | grep -vx -e test_dealer_cuda -e test_fss_cuda | tr '\n' ' ')"
for t in ${TESTS:-$ALL}; do
  l=$(( TBUDGET - ($(date +%s) - T0) )); [ $l -lt 15 ] && { echo "$t skipped (no time)" | tee -a $OUT/sum.txt; continue; }
  t1=$(date +%s); timeout $l $C/$t > /tmp/$t.log 2>&1; rc=$?
  echo "$t rc=$rc $(( $(date +%s) - t1 ))s $(grep -E '^\[  (PASSED|FAILED) \]' /tmp/$t.log | tr '\n' ' ')" | tee -a $OUT/sum.txt
  { echo "=== $t rc=$rc"; if [ $rc -ne 0 ]; then cat /tmp/$t.log; else grep -vE '^\[ +(RUN|OK) +\]' /tmp/$t.log | tail -40; fi; } >> $OUT/tests.log
done
cd ..
kgs=(); for k in ${KEYGENS:---profile}; do kgs+=("$C/fusefss ${k//,/ }"); done
ff_keygens $OUT/sum.txt "${kgs[@]}" ${BASE_BIN:+"$BASE_BIN"} ${FSYNC:+"$C/fusefss --fsync"}
[ -n "${DD:-}" ] && ff_dd $OUT/sum.txt
ff_jobs $OUT/sum.txt "${RF:-$C/fusefss}" ${JOBS:-}
echo "=== total $(( $(date +%s) - T0 )) s"; cat $OUT/sum.txt
