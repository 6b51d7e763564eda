# gates/sigma tests (included by tests/CMakeLists.txt): every sigma gate run by the dealer and both
# parties over the in-memory channel, exact against the cleartext ring reference, with measured key
# bytes, bits sent and rounds against the cost functions and research/sigma.md's figures (CPU).
# sigma_harness.c: the two-party gate harness (tests/sigma_harness.h); per-gate tests list it too:
#   ff_add_test(test_sigma_X SOURCES test_sigma_X.c ${FF_SIGMA_HARNESS} DEPS ff_sigma)
set(FF_SIGMA_HARNESS ${CMAKE_CURRENT_LIST_DIR}/sigma_harness.c)
ff_add_test(test_sigma_gates SOURCES test_sigma_gates.c ${FF_SIGMA_HARNESS} DEPS ff_sigma TIMEOUT 300)
ff_add_test(test_sigma_softmax SOURCES test_sigma_softmax.c ${FF_SIGMA_HARNESS} DEPS ff_sigma TIMEOUT 300)
# CUDA parties against CPU parties on the same dealer keys, and each _cuda kernel against its _cpu twin
# (GPU; exits 77 without one). sigma_cuda_harness.c: their CPU-vs-CUDA runner (tests/sigma_cuda_harness.h).
if(FF_HAVE_CUDA)
  set(FF_SIGMA_CUDA_HARNESS ${FF_SIGMA_HARNESS} ${CMAKE_CURRENT_LIST_DIR}/sigma_cuda_harness.c)
  ff_add_test(test_sigma_cuda SOURCES test_sigma_cuda.c ${FF_SIGMA_CUDA_HARNESS} DEPS ff_sigma CUDA::cudart LABELS cuda TIMEOUT 300)
  ff_add_test(test_sigma_cuda_layernorm SOURCES test_sigma_cuda_layernorm.c ${FF_SIGMA_CUDA_HARNESS} DEPS ff_sigma CUDA::cudart LABELS cuda TIMEOUT 300)
  ff_add_test(test_sigma_cuda_softmax SOURCES test_sigma_cuda_softmax.c ${FF_SIGMA_CUDA_HARNESS} DEPS ff_sigma CUDA::cudart LABELS cuda TIMEOUT 300)
  ff_add_test(test_sigma_cuda_rotary SOURCES test_sigma_cuda_rotary.c ${FF_SIGMA_CUDA_HARNESS} DEPS ff_sigma CUDA::cudart LABELS cuda TIMEOUT 300)
  ff_add_test(test_sigma_cuda_linear SOURCES test_sigma_cuda_linear.c ${FF_SIGMA_CUDA_HARNESS} DEPS ff_sigma CUDA::cudart LABELS cuda TIMEOUT 300)
endif()
ff_add_test(test_sigma_gelu SOURCES test_sigma_gelu.c ${FF_SIGMA_HARNESS} DEPS ff_sigma TIMEOUT 300)
ff_add_test(test_sigma_layernorm SOURCES test_sigma_layernorm.c ${FF_SIGMA_HARNESS} DEPS ff_sigma TIMEOUT 300)
ff_add_test(test_sigma_rotary SOURCES test_sigma_rotary.c ${FF_SIGMA_HARNESS} DEPS ff_sigma TIMEOUT 300)
ff_add_test(test_sigma_linear SOURCES test_sigma_linear.c ${FF_SIGMA_HARNESS} DEPS ff_sigma TIMEOUT 300)
# test_bench_gate: the runner behind `fusefss bench gate`, its per-party profiles merged, and the suf/both
# suites' rows and printed table (ff_tools; fixtures.c for the output capture).
ff_add_test(test_bench_gate SOURCES test_bench_gate.c fixtures.c DEPS ff_suf ff_sigma ff_tools)
