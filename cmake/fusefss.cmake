# Build helpers shared by every module: ff_add_module (one static library per module), ff_add_tool and
# ff_add_test. Warnings, sanitizers and the include root are set here once, not per target.

function(ff__common target)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:C>:-Wall -Wextra -Wshadow -Wstrict-prototypes -Wno-unused-parameter>
    $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Wall,-Wextra>)
  target_compile_definitions(${target} PRIVATE _GNU_SOURCE)
  if(FF_SANITIZE)
    target_compile_options(${target} PRIVATE
      $<$<COMPILE_LANGUAGE:C>:-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined>)
    target_link_options(${target} PRIVATE -fsanitize=address,undefined)
  endif()
  if(FF_FUZZ)
    # Coverage for libFuzzer in every object; a failed check aborts so that the fuzzer records the input.
    target_compile_options(${target} PRIVATE
      $<$<COMPILE_LANGUAGE:C>:-fsanitize=fuzzer-no-link,address,undefined,float-cast-overflow -fno-sanitize-recover=all -fno-omit-frame-pointer -g>)
    target_link_options(${target} PRIVATE -fsanitize=address,undefined,float-cast-overflow)
  endif()
endfunction()

# ff_add_module(name SOURCES a.c ... [CUDA_SOURCES k.cu ...] [DEPS lib ...] [PRIVATE_DEPS lib ...])
# CUDA_SOURCES are compiled only when the CUDA backend is built.
function(ff_add_module name)
  cmake_parse_arguments(A "" "" "SOURCES;CUDA_SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  set(srcs ${A_SOURCES})
  if(FF_HAVE_CUDA)
    list(APPEND srcs ${A_CUDA_SOURCES})
  endif()
  add_library(${name} STATIC ${srcs})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name} PUBLIC ${A_DEPS} PRIVATE ${A_PRIVATE_DEPS})
  if(FF_HAVE_CUDA)
    target_compile_definitions(${name} PUBLIC FF_HAVE_CUDA=1)
    set_target_properties(${name} PROPERTIES CUDA_SEPARABLE_COMPILATION OFF)
  endif()
  ff__common(${name})
endfunction()

# ff_add_tool(name SOURCES ... DEPS ...): an executable in the build root (build/fusefss).
function(ff_add_tool name)
  cmake_parse_arguments(A "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${A_SOURCES})
  target_link_libraries(${name} PRIVATE ${A_DEPS})
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR})
  ff__common(${name})
endfunction()

# ff_add_test(name SOURCES ... [DEPS ...] [LABELS ...] [TIMEOUT s]): a cmocka test registered with CTest.
# A test labelled `cuda` exits 77 when no GPU is present, which CTest reports as skipped.
function(ff_add_test name)
  cmake_parse_arguments(A "" "TIMEOUT" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${A_SOURCES})
  target_include_directories(${name} PRIVATE ${CMOCKA_INCLUDE_DIR} ${PROJECT_SOURCE_DIR}/tests)
  target_link_libraries(${name} PRIVATE ${A_DEPS} ${CMOCKA_LIBRARY})
  ff__common(${name})
  add_test(NAME ${name} COMMAND ${name})
  if(NOT A_TIMEOUT)
    set(A_TIMEOUT 120)
  endif()
  set_tests_properties(${name} PROPERTIES TIMEOUT ${A_TIMEOUT} SKIP_RETURN_CODE 77
    ENVIRONMENT "FUSEFSS=$<TARGET_FILE:fusefss>")
  if(A_LABELS)
    set_tests_properties(${name} PROPERTIES LABELS "${A_LABELS}")
  endif()
endfunction()
