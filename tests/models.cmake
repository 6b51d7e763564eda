# models tests (included by tests/CMakeLists.txt after sigma.cmake, whose FF_SIGMA_HARNESS they use): the
# config table, weights (seeded and file), and secure inference of tiny configs against the fixed-point
# emulation (exact), the float forward (bounded) and the cost-only op (CPU).
ff_add_test(test_models SOURCES test_models.c ${FF_SIGMA_HARNESS} DEPS ff_models ff_sigma TIMEOUT 300)
# scripts/export_hf.py's writer (--random-selftest, standard library only) against `fusefss run --weights`:
# registered only when a Python 3 interpreter is found.
find_package(Python3 COMPONENTS Interpreter QUIET)
if(Python3_Interpreter_FOUND)
  add_test(NAME test_export_hf_selftest
    COMMAND ${CMAKE_COMMAND} -DPYTHON=${Python3_EXECUTABLE} -DFUSEFSS=$<TARGET_FILE:fusefss>
            -DSCRIPT=${PROJECT_SOURCE_DIR}/scripts/export_hf.py -DWORK=${CMAKE_CURRENT_BINARY_DIR}/export_hf_selftest
            -P ${CMAKE_CURRENT_LIST_DIR}/export_hf_selftest.cmake)
  set_tests_properties(test_export_hf_selftest PROPERTIES TIMEOUT 300 ENVIRONMENT "FUSEFSS=$<TARGET_FILE:fusefss>")
endif()
