# Issue 16's tests (included by tests/CMakeLists.txt): P1's input and output files and the run's semantics.
#   test_npy:    the .npy reader and writer (tools/npy.c) on files written byte by byte, malformed ones refused
#   test_io_e2e: `fusefss run --input/--output` round trip against the emulation, bad inputs refused before
#                any key, semantics options and --scale (costs unchanged, emulation exact)
#   test_hf_torch: one BERT layer and one GPT-2 block built in PyTorch with Hugging Face's semantics, exported
#                through scripts/export_hf.py and run with --input: relative L2 against PyTorch, before and
#                after the semantics options (skipped, exit 77, where python3-torch is not installed)
ff_add_test(test_npy SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_npy.c DEPS ff_tools)
ff_add_test(test_io_e2e SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_io_e2e.c ${CMAKE_CURRENT_LIST_DIR}/e2e.c DEPS ff_tools TIMEOUT 600)
find_package(Python3 COMPONENTS Interpreter QUIET)
if(Python3_Interpreter_FOUND)
  add_test(NAME test_hf_torch COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_LIST_DIR}/test_hf_torch.py $<TARGET_FILE:fusefss>)
  set_tests_properties(test_hf_torch PROPERTIES TIMEOUT 900 SKIP_RETURN_CODE 77)
endif()
