# gates/fss tests (included by tests/CMakeLists.txt): AES known answers and the PRG; DPF, comparison
# and truth tables checked exhaustively on small domains and at random on large ones.
ff_add_test(test_prg SOURCES test_prg.c DEPS ff_fss)
ff_add_test(test_dpf SOURCES test_dpf.c DEPS ff_fss)
# The CUDA twins of prg, dpf and sstab against the CPU, byte for byte (GPU; exits 77 without one).
if(FF_HAVE_CUDA)
  ff_add_test(test_fss_cuda SOURCES test_fss_cuda.c DEPS ff_fss CUDA::cudart LABELS cuda TIMEOUT 300)
endif()
# The DPF lookup table and the select gate: two parties over the in-memory channel, exact outputs and
# exact costs (CPU); the CUDA local kernels against the CPU's, bit for bit (GPU, exits 77 without one).
ff_add_test(test_lut SOURCES test_lut.c DEPS ff_fss)
if(FF_HAVE_CUDA)
  ff_add_test(test_lut_cuda SOURCES test_lut_cuda.c DEPS ff_fss LABELS cuda)
endif()
# The DCF with a vector payload: exhaustive on small domains, random on large ones, key sizes and
# serialization (CPU); keys and outputs of the CUDA twins against the CPU, byte for byte (GPU; exits 77
# without one).
ff_add_test(test_dcf SOURCES test_dcf.c DEPS ff_fss)
if(FF_HAVE_CUDA)
  ff_add_test(test_dcf_cuda SOURCES test_dcf_cuda.c DEPS ff_fss CUDA::cudart LABELS cuda TIMEOUT 300)
endif()
