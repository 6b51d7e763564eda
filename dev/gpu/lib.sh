# Steps shared by large.sh and prebuilt.sh (sourced; the caller defines left(), the seconds it has left).
# Each step appends one summary line per item to the file SUM.

# ff_dd SUM: the disk's own sequential write rate (4 GiB, flushed), as issue 13's keygen target is relative to it.
ff_dd() {
  dd if=/dev/zero of=/tmp/dd.bin bs=8M count=512 conv=fdatasync 2>&1 | tail -1 | sed 's/^/disk (dd 4 GiB, fdatasync): /' | tee -a "$1"
  rm -f /tmp/dd.bin
}

# ff_keygens SUM "BIN [OPTION]..."...: keygen of bert-base to key files in /tmp/kg, CUDA dealer, --mask-seed 7,
# with each binary and its extra keygen options in turn (e.g. "$F --profile" "$BASE_BIN" "$F --fsync"); the
# i-th run's output goes to $OUT/kg_profile_i.md when it has --profile. Each gets what is left, if at least 60 s.
ff_keygens() {
  local sum=$1 b bin extra t l i=0; shift
  for b in "$@"; do
    i=$((i + 1))
    l=$(left); [ $l -lt 60 ] && { echo "keygen ($b) skipped: no time" | tee -a "$sum"; continue; }
    rm -rf /tmp/kg; t=$(date +%s)
    bin=${b%% *}; extra=${b#"$bin"} # "$F --fsync": the binary, then keygen's extra option
    timeout $(( l - 10 )) $bin keygen --model bert-base --backend cuda --mask-seed 7 $extra --out /tmp/kg > /tmp/kg.log 2>&1
    echo "keygen bert-base cuda ($b) rc=$? wall=$(( $(date +%s) - t ))s :: $(head -1 /tmp/kg.log | sed 's/.*) in/in/')" | tee -a "$sum"
    case "$extra" in *--profile*) cp /tmp/kg.log $OUT/kg_profile_$i.md;; esac
    du -sb /tmp/kg | awk '{printf "key files %.2f GiB\n", $1/2^30}' | tee -a "$sum"
    rm -rf /tmp/kg
  done
}

# ff_jobs SUM FUSEFSS "name:args,with,commas"...: each run verified, with what is left (at least 60 s);
# its log into $OUT/large_runs.log, one line of online time, memory, verification and cost check into SUM.
ff_jobs() {
  local sum=$1 f=$2 j name args l t rc; shift 2
  for j in "$@"; do
    IFS=: read name args <<< "$j"
    l=$(left); [ $l -lt 60 ] && { echo "$name skipped: no time" | tee -a "$sum"; continue; }
    rm -rf /tmp/o_$name; t=$(date +%s)
    timeout $(( l - 15 )) $f run --out /tmp/o_$name ${args//,/ } > /tmp/$name.log 2>&1
    rc=$?
    { echo "=== $name: ${args//,/ }"; cat /tmp/$name.log; } >> $OUT/large_runs.log
    echo "$name rc=$rc wall=$(( $(date +%s) - t ))s :: $(grep -h 'per inference' /tmp/$name.log | cut -c1-220) :: $(grep -h '^peak memory' /tmp/$name.log) :: $(grep -h '^verification' /tmp/$name.log | cut -c1-90) :: $(grep -h '^cost model' /tmp/$name.log | cut -c1-60)" | tee -a "$sum"
    rm -rf /tmp/o_$name
  done
}
