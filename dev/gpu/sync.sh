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
du -sh "$root/.gpu"
