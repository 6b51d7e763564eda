#!/bin/bash
# Device run with no build (dev/gpu/README.md): the CUDA tests and fusefss that pack.sh packed here, then
# keygen of bert-base with them (--profile) and with BASE_BIN (a baseline fusefss) and, with FSYNC=1, with
# --fsync; DD=1: the disk's own write rate; then the runs in JOBS ("name:args,with,commas", with RF, the
# fusefss for runs, default the packed one), each verified. TESTS: the tests to run (default: all packed, the
# dealer's first); TBUDGET: seconds for the tests. Logs under $OUT; one summary line per step last.
set -u
T0=$(date +%s); BUDGET=${BUDGET:-570}; TBUDGET=${TBUDGET:-330}
left() { echo $(( BUDGET - ($(date +%s) - T0) )); }
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
for b in "$C/fusefss --profile" ${BASE_BIN:+"$BASE_BIN"} ${FSYNC:+"$C/fusefss --fsync"}; do
  l=$(left); [ $l -lt 60 ] && { echo "keygen $b skipped" | tee -a $OUT/sum.txt; continue; }
  rm -rf /tmp/kg; t=$(date +%s); bin=${b%% *}; extra=${b#"$bin"}
  timeout $(( l - 10 )) $bin keygen --model bert-base --backend cuda --mask-seed 7 $extra --out /tmp/kg > /tmp/kg.log 2>&1
  echo "keygen ($b) rc=$? wall=$(( $(date +%s) - t ))s :: $(head -1 /tmp/kg.log | sed 's/.*) in/in/')" | tee -a $OUT/sum.txt
  case "$extra" in *--profile*) cp /tmp/kg.log $OUT/kg_profile.md;; esac
  [ -n "${KEEPKG:-}" ] && [ ! -d /tmp/kg_keep ] && mv /tmp/kg /tmp/kg_keep
  rm -rf /tmp/kg
done
[ -n "${DD:-}" ] && dd if=/dev/zero of=/tmp/dd.bin bs=8M count=512 conv=fdatasync 2>&1 | tail -1 | sed 's/^/disk (dd 4 GiB, fdatasync): /' | tee -a $OUT/sum.txt; rm -f /tmp/dd.bin
# the large models (issue 13), each verified, with what is left; RF: the fusefss for runs (default: the tests')
RF=${RF:-$C/fusefss}
for j in ${JOBS:-}; do
  IFS=: read name args <<< "$j"
  l=$(left); [ $l -lt 60 ] && { echo "$name skipped: no time" | tee -a $OUT/sum.txt; continue; }
  rm -rf /tmp/o_$name; t=$(date +%s)
  timeout $(( l - 15 )) $RF run --out /tmp/o_$name ${args//,/ } > /tmp/$name.log 2>&1
  rc=$?
  { echo "=== $name: ${args//,/ }"; cat /tmp/$name.log; } >> $OUT/large_runs.log
  echo "$name rc=$rc wall=$(( $(date +%s) - t ))s :: $(grep -h 'per inference' /tmp/$name.log | cut -c1-220) :: $(grep -h '^peak memory' /tmp/$name.log) :: $(grep -h '^verification' /tmp/$name.log | cut -c1-90) :: $(grep -h '^cost model' /tmp/$name.log | cut -c1-60)" | tee -a $OUT/sum.txt
  rm -rf /tmp/o_$name
done
echo "=== total $(( $(date +%s) - T0 )) s"; cat $OUT/sum.txt
