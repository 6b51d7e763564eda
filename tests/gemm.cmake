# gates/gemm tests (included by tests/CMakeLists.txt): the CPU ring GEMM against a naive triple loop;
# both CUDA algorithms against the CPU, bit for bit, up to BERT-base and Llama shapes (GPU; exits 77 without one).
ff_add_test(test_gemm SOURCES test_gemm.c DEPS ff_gemm)
if(FF_HAVE_CUDA)
  ff_add_test(test_gemm_cuda SOURCES test_gemm_cuda.c DEPS ff_gemm CUDA::cudart LABELS cuda TIMEOUT 600)
endif()
