#!/bin/sh
# Copies the baseline commit (BASE=<commit>) into .gpu/base and, when NEW=<commit> is given, that candidate
# into .gpu/new (else the device builds the working tree it receives), for the device (dev/gpu/README.md).
set -e
root=$(git rev-parse --show-toplevel)
rm -rf "$root/.gpu/new" "$root/.gpu/base"
mkdir -p "$root/.gpu/base"
if [ -n "${NEW:-}" ]; then # else the scripts build the working tree that the device receives
  mkdir -p "$root/.gpu/new"
  git -C "$root" archive "$NEW" | tar xf - -C "$root/.gpu/new"
fi
git -C "$root" archive "${BASE:?set BASE to the baseline commit}" | tar xf - -C "$root/.gpu/base"
# Before the launcher waited for party 0's port without a limit, it gave up after 60 s, which cuts off a
# baseline's `--dealer inproc` run of bert-base (party 0 deals before it listens). Give the baseline the
# same wait; only the launcher's wait changes, not what is measured.
if grep -q 'poll(&pfd, 1, 60000)' "$root/.gpu/base/tools/launch.c" 2>/dev/null; then
  sed -i 's/poll(&pfd, 1, 60000)/poll(\&pfd, 1, -1)/' "$root/.gpu/base/tools/launch.c"
  echo "baseline: the launcher's 60 s wait for party 0's port lifted"
fi
du -sh "$root/.gpu"
