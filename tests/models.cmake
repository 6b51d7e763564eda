# models tests (included by tests/CMakeLists.txt after sigma.cmake, whose FF_SIGMA_HARNESS they use): the
# config table, weights (seeded and file), and secure inference of tiny configs against the fixed-point
# emulation (exact), the float forward (bounded) and the cost-only op (CPU).
ff_add_test(test_models SOURCES test_models.c ${FF_SIGMA_HARNESS} DEPS ff_models ff_sigma TIMEOUT 300)
