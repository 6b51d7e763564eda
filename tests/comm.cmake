# comm/ tests (included by tests/CMakeLists.txt): bit packing, and both channel transports with
# attribution into scopes. test_comm forks party 1 for the TCP cases.
ff_add_test(test_pack SOURCES test_pack.c DEPS ff_comm)
ff_add_test(test_comm SOURCES test_comm.c DEPS ff_comm Threads::Threads)
