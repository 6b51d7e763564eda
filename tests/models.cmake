# models tests (included by tests/CMakeLists.txt after sigma.cmake, whose FF_SIGMA_HARNESS they use): the
# config table, weights (seeded and file), and secure inference of tiny configs against the fixed-point
# emulation (exact), the float forward (bounded) and the cost-only op (CPU).
ff_add_test(test_models SOURCES test_models.c ${FF_SIGMA_HARNESS} DEPS ff_models ff_sigma TIMEOUT 300)
# The dealer on CUDA: bert-tiny's key streams (sigma, suf, suf sparse) equal the CPU dealer's byte for byte
# for one mask seed, and the staged tree keygens equal their CPU references (GPU; exits 77 without one).
if(FF_HAVE_CUDA)
  ff_add_test(test_dealer_cuda SOURCES test_dealer_cuda.c DEPS ff_models CUDA::cudart LABELS cuda TIMEOUT 600)
endif()
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
# A CUDA party's counted inference allocates nothing: host allocations counted through the linker's
# --wrap, device, pinned, staging and pool growth through core/cuda.h's counters (GPU; exits 77 without one).
if(FF_HAVE_CUDA)
  ff_add_test(test_online_alloc_cuda SOURCES test_online_alloc_cuda.c DEPS ff_models Threads::Threads LABELS cuda TIMEOUT 300)
  target_link_options(test_online_alloc_cuda PRIVATE -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc)
endif()
