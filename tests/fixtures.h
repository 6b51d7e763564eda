/* Fixtures shared by the tests of the analysis tools (tests/test_merge.c, tests/test_amdahl.c): a
 * double comparison for cmocka, temp files removed at exit, capture of stdout or stderr, and a
 * builder of per-party logs (schema fusefss.prof/1, DESIGN.md §6) from hand-written node tables. */
#ifndef FF_TESTS_FIXTURES_H
#define FF_TESTS_FIXTURES_H

#include <stddef.h>

#include <cjson/cJSON.h>

/* cmocka 1.1's assert_float_equal compares floats; these values need doubles. */
#define assert_double_equal(a, b, eps) \
  assert_double_near((double)(a), (double)(b), (double)(eps), #a, __FILE__, __LINE__)
void assert_double_near(double a, double b, double eps, const char *expr, const char *file, int line);

/* Call once from main: temp files are then named /tmp/ff_<test>_XXXXXX and removed at exit. */
void fixtures_init(const char *test);
/* A fresh temp path (the file exists, empty). */
char *tmp_path(void);
/* A temp file holding text; returns its path. */
char *write_text(const char *text);
/* Writes j to a temp file and deletes j; returns the path. */
char *write_json(cJSON *j);
/* The whole file (at most 1 MiB); caller frees. */
char *read_text(const char *path);

/* Redirects fd (1 or 2) to a temp file until capture_end, which returns what was written (caller
 * frees) and echoes it to stderr so that ctest --output-on-failure shows it. */
typedef struct {
  int fd, saved;
  char *path;
} capture;

capture capture_begin(int fd);
char *capture_end(capture c);

/* One node of a repetition; times are in ns, bytes in B. */
typedef struct {
  int parent, scope, layer;
  double calls, wall, wait, sent, recv, rounds, msgs, cuda;
} tnode;

/* A repetition's totals. */
typedef struct {
  double wall, wait, sent, recv, rounds, msgs, cuda;
} ttotal;

/* A per-party log with no repetitions: run {run_id, party, tool, backend "cpu", workload {model
 * "bert-tiny"}} and the scope dictionary scopes[i] = {name, family}. The caller may add to run and
 * its workload. */
cJSON *log_new(int party, const char *run_id, const char *tool, const char *const (*scopes)[2], size_t n_scopes);
/* Appends a repetition; times (not bytes, rounds or calls) are multiplied by time_scale. */
void log_rep(cJSON *j, int warmup, const ttotal *t, const tnode *nodes, size_t n, double time_scale);

#endif
