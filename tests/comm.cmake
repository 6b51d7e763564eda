# comm/ tests (included by tests/CMakeLists.txt): bit packing, and both channel transports with
# attribution into scopes. test_comm forks party 1 for the TCP cases.
ff_add_test(test_pack SOURCES test_pack.c DEPS ff_comm)
ff_add_test(test_comm SOURCES test_comm.c DEPS ff_comm Threads::Threads)
# The device side of a reconstruct (comm/pack_cuda.cu, the LUT key's tR packer, gates/fss/select.c's
# staged exchange) against the CPU, byte for byte (GPU; exits 77 without one).
if(FF_HAVE_CUDA)
  ff_add_test(test_pack_cuda SOURCES test_pack_cuda.c DEPS ff_fss CUDA::cudart Threads::Threads LABELS cuda TIMEOUT 300)
endif()
