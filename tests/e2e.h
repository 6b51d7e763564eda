/* Spawning the `fusefss` binary in end-to-end tests (tests/e2e.c). */
#ifndef FF_TESTS_E2E_H
#define FF_TESTS_E2E_H

#include <sys/types.h>

extern char tmpdir[64]; /* this test's temporary directory (made by setup, removed by teardown) */

const char *fusefss(void);
/* Starts fusefss with args (NULL-terminated), stdout/stderr to tmpdir/TAG.out and .err; returns the pid. */
pid_t start(const char *tag, const char *const *args);
/* Waits for pid; fails the test if it died of a signal; returns its exit code. */
int finish(pid_t pid);
/* tmpdir/TAG.STREAM ("out" or "err"), up to 64 KiB, in a static buffer. */
char *slurp(const char *tag, const char *stream);
/* Runs fusefss to completion; asserts the exit code and that `needle` (if any) is in stderr (or in
 * stdout when the exit code is 0). */
void expect(int code, const char *needle, const char *const *args);
/* cmocka group setup/teardown: makes / removes tmpdir. */
int setup(void **state);
int teardown(void **state);
/* A port that was free a moment ago (bound to 0, then closed). */
int free_port(void);

#endif
