# gates/fss tests (included by tests/CMakeLists.txt): AES known answers and the PRG; DPF, comparison
# and truth tables checked exhaustively on small domains and at random on large ones.
ff_add_test(test_prg SOURCES test_prg.c DEPS ff_fss)
ff_add_test(test_dpf SOURCES test_dpf.c DEPS ff_fss)
