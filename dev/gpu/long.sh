#!/bin/bash
# A run longer than one device call (10 minutes): `long.sh start NAME ARGS...` starts `fusefss run ARGS`
# in a session of its own (setsid: the device tool kills a call's processes when it returns, except
# those), logging to /tmp/long/NAME.log; `long.sh wait NAME [SECONDS]` waits for it up to SECONDS (default
# 540) and prints the log's tail and, once it has ended, its exit status and summary lines. Call `wait` again
# at once in the next call: the machine is given back after 30 s without a call, and with it the run.
# Logs are copied under $OUT. The binary: new/build/fusefss in .gpu (compare.sh's layout), or $F.
set -u
F=${F:-$PWD/new/build/fusefss}
mkdir -p /tmp/long
cmd=${1:?start or wait}; name=${2:?a name}; shift 2
log=/tmp/long/$name.log
case "$cmd" in
  start)
    for f in .deps/*.deb ../.deps/*.deb; do [ -f "$f" ] && dpkg -x "$f" / >/dev/null; done; ldconfig
    rm -f /tmp/long/$name.rc
    setsid bash -c "\"$F\" run --out /tmp/long/$name.out $* > $log 2>&1; echo \$? > /tmp/long/$name.rc" < /dev/null &
    echo "started $name: $F run $*"; sleep 5; tail -n 3 $log ;;
  wait)
    limit=${1:-540}; t=0
    while [ ! -f /tmp/long/$name.rc ] && [ $t -lt $limit ]; do sleep 10; t=$((t + 10)); done
    tail -c 3000 $log; cp $log ${OUT:-/tmp}/ 2>/dev/null
    if [ -f /tmp/long/$name.rc ]; then
      echo "=== $name ended with status $(cat /tmp/long/$name.rc)"
      grep -hE "per inference|^verification|^cost model|^peak memory" $log
    else echo "=== $name still running after ${limit}s: call 'long.sh wait $name' again now"; fi ;;
  *) echo "long.sh start|wait NAME ..."; exit 2 ;;
esac
