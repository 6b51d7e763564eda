#!/bin/sh
# Copies the new tree (a commit, or the perf worktree with uncommitted work) and the baseline commit into
# ${ROOT:-/work/main}/.gpu for the device.
set -e
rm -rf ${ROOT:-/work/main}/.gpu/new ${ROOT:-/work/main}/.gpu/base
mkdir -p ${ROOT:-/work/main}/.gpu/new ${ROOT:-/work/main}/.gpu/base
if [ -n "${NEW:-}" ]; then (cd ${PERF:-/work/main} && git archive $NEW) | tar xf - -C ${ROOT:-/work/main}/.gpu/new
else (cd ${PERF:-/work/main} && git ls-files -co --exclude-standard | grep -v '^build' | tar cf - -T -) | tar xf - -C ${ROOT:-/work/main}/.gpu/new; fi
(cd ${PERF:-/work/main} && git archive ${BASE:-3a1ea32}) | tar xf - -C ${ROOT:-/work/main}/.gpu/base
du -sh ${ROOT:-/work/main}/.gpu
