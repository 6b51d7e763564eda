#!/bin/sh
# Seeds of the fuzz harnesses (docs/fuzzing.md), made by running the real code at test time (nothing
# binary is committed): key files of `fusefss keygen` (bert-tiny, one layer, seq 3, both suites), the
# logs and merged files of `fusefss run`, `fusefss bench comm` and `fusefss bench gate --profile` (one
# gate: the smallest real logs), then fuzz_seeds for the rest.
# Usage: make_seeds.sh FUSEFSS FUZZ_SEEDS OUT. Existing files in OUT (inputs the fuzzers found) stay.
set -eu
fusefss=$1 seedgen=$2 out=$3
work=$(mktemp -d "${TMPDIR:-/tmp}/fusefss-seeds.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"
sep='
--fusefss-fuzz-split--
'
small="--model bert-tiny --layers 1 --seq 3 --mask-seed 1 --run-id fuzz-seeds"
"$fusefss" keygen $small --suite sigma --out "$work/sigma" >/dev/null
"$fusefss" keygen $small --suite suf --out "$work/suf" >/dev/null
"$fusefss" run $small --reps 1 --warmup 0 --out "$work/run" >/dev/null
"$fusefss" bench comm --reps 2 --warmup 1 --layers 1 --rounds 2 --sizes 64,1KiB --compute 1000 \
  --out "$work/comm" >/dev/null
"$fusefss" bench gate --suite sigma --gate relu --small --reps 1 --backend cpu --profile "$work/gate" >/dev/null
mv "$work/gate/relu-cpu" "$work/gate1"
"$seedgen" "$out" "$work"/sigma/keys_p0.ffk "$work"/sigma/keys_p1.ffk "$work"/suf/keys_p0.ffk "$work"/suf/keys_p1.ffk

mkdir -p "$out/merge" "$out/breakdown" "$out/amdahl"
for d in run comm gate1; do
  { cat "$work/$d/prof_p0.json"; printf '%s' "$sep"; cat "$work/$d/prof_p1.json"; } >"$out/merge/$d"
  { cat "$work/$d/prof_p1.json"; printf '%s' "$sep"; cat "$work/$d/prof_p0.json"; } >"$out/merge/${d}_swapped"
  cp "$work/$d/breakdown_merged.json" "$out/breakdown/$d"
done
# The microbenchmark example of docs/tools.md (nothing in fusefss writes fusefss.micro/1 yet).
micro='{"schema": "fusefss.micro/1", "base": "sigma", "cand": "suf", "backend": "cpu", "device": "x",
 "gates": [
   {"gate": "GELU", "family": "Activation", "scope": "Activation::GELU", "shape": [128, 3072],
    "base_ns": {"median": 4000, "p25": 3900, "p75": 4100, "n": 10},
    "cand_ns": {"median": 1000, "p25": 950, "p75": 1050, "n": 10},
    "speedup": {"median": 4.0, "p25": 3.7, "p75": 4.3}},
   {"gate": "nExp", "family": "Softmax", "scope": "Softmax::nExp", "speedup": {"median": 2.0, "p25": 1.5, "p75": 2.5}}]}'
for d in run gate1; do
  { cat "$work/$d/breakdown_merged.json"; printf '%s%s' "$sep" "$micro"; } >"$out/amdahl/$d"
done
echo "fuzz seeds in $out: $(find "$out" -type f | wc -l) files, $(du -sk "$out" | cut -f1) KiB"
