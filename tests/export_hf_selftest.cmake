# test_export_hf_selftest (registered in tests/models.cmake), run as
#   cmake -DPYTHON=... -DFUSEFSS=... -DSCRIPT=scripts/export_hf.py -DWORK=dir -P export_hf_selftest.cmake
# scripts/export_hf.py --random-selftest writes a 1-layer bert-tiny weights file; `fusefss run` on it must
# succeed (the secure output verified against the references on those weights), and on the same file
# truncated, or with one value byte flipped (CRC32C), must fail.
foreach(v PYTHON FUSEFSS SCRIPT WORK)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "export_hf_selftest.cmake needs -D${v}=...")
  endif()
endforeach()
file(REMOVE_RECURSE "${WORK}")
file(MAKE_DIRECTORY "${WORK}")
set(W "${WORK}/w.ffw")

# ff__step(ok|fail WHAT [REASON regex] COMMAND...): a failure must also print REASON (the loader's message).
function(ff__step expect what)
  set(args ${ARGN})
  set(reason "")
  list(GET args 0 first)
  if(first STREQUAL "REASON")
    list(GET args 1 reason)
    list(REMOVE_AT args 0 1)
  endif()
  execute_process(COMMAND ${args} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if((expect STREQUAL "ok" AND NOT rc EQUAL 0) OR (expect STREQUAL "fail" AND (rc EQUAL 0 OR NOT rc MATCHES "^[0-9]+$"))
     OR (NOT reason STREQUAL "" AND NOT "${out}${err}" MATCHES "${reason}"))
    message(FATAL_ERROR "${what}: exit ${rc} (expected ${expect} ${reason})\n--- stdout\n${out}\n--- stderr\n${err}")
  endif()
  message(STATUS "${what}: exit ${rc} (expected ${expect})")
endfunction()

ff__step(ok "export_hf.py --random-selftest"
  "${PYTHON}" "${SCRIPT}" --random-selftest bert-tiny --layers 1 --seed 7 --out "${W}")
ff__step(ok "fusefss run on the exported weights" REASON "output equals the fixed-point emulation"
  "${FUSEFSS}" run --backend cpu --layers 1 --seq 8 --weights "${W}" --out "${WORK}/run")
# The copies are made by a small Python file (a -c string's semicolons would split it into CMake list items).
file(WRITE "${WORK}/damage.py" "import sys
d = open(sys.argv[1], 'rb').read()
open(sys.argv[2], 'wb').write(d[:-100])
b = bytearray(d)
b[len(b) // 2] ^= 1
open(sys.argv[3], 'wb').write(bytes(b))
")
ff__step(ok "truncated and corrupted copies"
  "${PYTHON}" "${WORK}/damage.py" "${W}" "${WORK}/truncated.ffw" "${WORK}/corrupt.ffw")
ff__step(fail "fusefss run on the truncated file" REASON "is truncated"
  "${FUSEFSS}" run --backend cpu --layers 1 --seq 8 --weights "${WORK}/truncated.ffw" --out "${WORK}/run_truncated")
ff__step(fail "fusefss run on the corrupted file" REASON "CRC32C does not match"
  "${FUSEFSS}" run --backend cpu --layers 1 --seq 8 --weights "${WORK}/corrupt.ffw" --out "${WORK}/run_corrupt")
