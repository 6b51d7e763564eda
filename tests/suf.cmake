# gates/suf tests (included by tests/CMakeLists.txt): the suf gate run by the dealer and both parties over
# the in-memory channel, exact against its fixed-point emulation, within its stated float bound over the
# whole legal range, with measured costs against the cost function and mask-independent key lengths (CPU);
# and CUDA parties against CPU parties, kernel by kernel and gate by gate (GPU; exits 77 without one).
ff_add_test(test_suf SOURCES test_suf.c ${FF_SIGMA_HARNESS} DEPS ff_suf TIMEOUT 300)
# The sparse regime (gates/suf/sparse.h): the padded partition, secure == emulation, float bounds, costs,
# mask-independent key lengths and the --insecure-no-padding ablation (CPU); CUDA parties == CPU parties.
ff_add_test(test_suf_sparse SOURCES test_suf_sparse.c ${FF_SIGMA_HARNESS} DEPS ff_suf TIMEOUT 300)
if(FF_HAVE_CUDA)
  ff_add_test(test_suf_cuda SOURCES test_suf_cuda.c ${FF_SIGMA_CUDA_HARNESS} DEPS ff_suf CUDA::cudart LABELS cuda TIMEOUT 300)
  ff_add_test(test_suf_sparse_cuda SOURCES test_suf_sparse_cuda.c ${FF_SIGMA_CUDA_HARNESS} DEPS ff_suf CUDA::cudart LABELS cuda TIMEOUT 300)
endif()
