# Tests of the analysis tools on hand-built per-party logs (values worked out by hand in the sources);
# included by tests/CMakeLists.txt.
#   test_merge:  stats, merge rules and refusals, the merged file and its loader, groupings, report
#   test_amdahl: amdahl (in-run, --target, --micro) and project (seed/duplex, LAN/WAN/custom)
#   fixtures.c:  what both share (temp files, output capture, the per-party log builder)
ff_add_test(test_merge SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_merge.c ${CMAKE_CURRENT_LIST_DIR}/fixtures.c DEPS ff_tools)
ff_add_test(test_amdahl SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_amdahl.c ${CMAKE_CURRENT_LIST_DIR}/fixtures.c DEPS ff_tools)
# test_harden: issue 14's regressions (dealings, deadlines, orphans, stale results, write errors, readers)
ff_add_test(test_harden SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_harden.c ${CMAKE_CURRENT_LIST_DIR}/e2e.c DEPS ff_tools TIMEOUT 300)
# test_analysis: the analysis library on real bert-tiny runs (trace, figures, grid); spawns $FUSEFSS
ff_add_test(test_analysis SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_analysis.c ${CMAKE_CURRENT_LIST_DIR}/e2e.c DEPS ff_tools TIMEOUT 300)
find_package(LibXml2 REQUIRED) # test_analysis parses the SVG figures strictly (Debian: libxml2-dev)
target_link_libraries(test_analysis PRIVATE LibXml2::LibXml2)
