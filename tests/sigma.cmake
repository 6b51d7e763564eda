# gates/sigma tests (included by tests/CMakeLists.txt): every sigma gate run by the dealer and both
# parties over the in-memory channel, exact against the cleartext ring reference, with measured key
# bytes, bits sent and rounds against the cost functions and research/sigma.md's figures (CPU).
ff_add_test(test_sigma_gates SOURCES test_sigma_gates.c DEPS ff_sigma TIMEOUT 300)
