#!/bin/bash
# Run here, not on the device: packs the CUDA tests and fusefss of a CUDA build with the tests on (default
# build-ct: cmake -S . -B build-ct -DCMAKE_CUDA_ARCHITECTURES=90 -DCMAKE_BUILD_TYPE=RelWithDebInfo), stripped,
# into .gpu/ct.tar.xz (about 16 MB, against some 60 MB unpacked: the fat binaries' device code compresses well),
# and the two runtime packages the device lacks into .deps-run, so that a call carrying ".deps-run" and ".gpu"
# runs every CUDA test with no build there (prebuilt.sh). The commit packed is written to .gpu/ct.COMMIT.
set -eu
B=${1:-build-ct}
[ -x "$B/tests/test_dealer_cuda" ] || { echo "pack.sh: $B has no CUDA tests (configure it with the tests and CUDA on)"; exit 1; }
T=$(mktemp -d)
mkdir -p "$T/ct" .gpu .deps-run
for t in $(ctest --test-dir "$B" -L cuda -N | sed -n 's/^ *Test *#[0-9]*: //p'); do strip -o "$T/ct/$t" "$B/tests/$t"; done
strip -o "$T/ct/fusefss" "$B/fusefss"
tar cf - -C "$T" ct | xz -T0 -3 > .gpu/ct.tar.xz
git log -1 --format='%h %s' | cut -c1-100 > .gpu/ct.COMMIT
[ -n "$(git status --porcelain --untracked-files=no)" ] && echo "(with uncommitted changes)" >> .gpu/ct.COMMIT
rm -rf "$T"
[ -d .deps ] && cp .deps/libcmocka0_*.deb .deps/libcjson1_*.deb .deps-run/ 2>/dev/null || ../shared/gpu/fetch-debs .deps-run libcmocka0 libcjson1
grep -qx '/.deps-run/' .git/info/exclude || echo /.deps-run/ >> .git/info/exclude
cp dev/gpu/*.sh .gpu/
ls -l .gpu/ct.tar.xz; cat .gpu/ct.COMMIT
