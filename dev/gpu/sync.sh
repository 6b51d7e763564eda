#!/bin/sh
# Copies the candidate tree (NEW=<commit>, or the working tree with uncommitted work) and the baseline
# commit (BASE=<commit>) into .gpu/new and .gpu/base of this repository, for the device (dev/gpu/README.md).
set -e
root=$(git rev-parse --show-toplevel)
rm -rf "$root/.gpu/new" "$root/.gpu/base"
mkdir -p "$root/.gpu/new" "$root/.gpu/base"
if [ -n "${NEW:-}" ]; then
  git -C "$root" archive "$NEW" | tar xf - -C "$root/.gpu/new"
else
  (cd "$root" && git ls-files -co --exclude-standard | grep -v '^build' | tar cf - -T -) | tar xf - -C "$root/.gpu/new"
fi
git -C "$root" archive "${BASE:?set BASE to the baseline commit}" | tar xf - -C "$root/.gpu/base"
du -sh "$root/.gpu"
