/* Running the `fusefss` binary (named by $FUSEFSS, set by CTest) from end-to-end tests: spawn with
 * stdout/stderr captured in a per-test temporary directory, wait, read the output, expect an exit
 * code and a message. Used by tests/test_cli_e2e.c and tests/test_run_e2e.c. */
#include "e2e.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

const char *fusefss(void) {
  const char *p = getenv("FUSEFSS");
  if (!p) fail_msg("FUSEFSS is not set (run this test through ctest)");
  return p;
}

char tmpdir[64];

/* Starts fusefss with args (NULL-terminated), stdout and stderr to files in tmpdir; returns the pid. */
pid_t start(const char *tag, const char *const *args) {
  char out[128], err[128];
  snprintf(out, sizeof out, "%s/%s.out", tmpdir, tag);
  snprintf(err, sizeof err, "%s/%s.err", tmpdir, tag);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  const char *argv[40];
  int n = 0;
  argv[n++] = fusefss();
  for (int i = 0; args[i] && n < 39; i++) argv[n++] = args[i];
  argv[n] = NULL;
  pid_t pid;
  assert_int_equal(posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)argv, environ), 0);
  posix_spawn_file_actions_destroy(&fa);
  return pid;
}

int finish(pid_t pid) {
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  if (WIFSIGNALED(status)) fail_msg("fusefss died of signal %d", WTERMSIG(status));
  return WEXITSTATUS(status);
}

char *slurp(const char *tag, const char *stream) {
  char path[128];
  snprintf(path, sizeof path, "%s/%s.%s", tmpdir, tag, stream);
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  static char buf[1 << 16];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  return buf;
}

/* Runs fusefss to completion; asserts the exit code and that `needle` (if any) is in stderr (or in
 * stdout when the exit code is 0). */
void expect(int code, const char *needle, const char *const *args) {
  pid_t pid = start("cmd", args);
  int rc = finish(pid);
  const char *text = slurp("cmd", code == 0 ? "out" : "err");
  if (rc != code) fail_msg("fusefss %s: exit %d, expected %d; output:\n%s", args[0], rc, code, text);
  if (needle && !strstr(text, needle)) fail_msg("fusefss %s: output lacks \"%s\":\n%s", args[0], needle, text);
}

int setup(void **state) {
  (void)state;
  snprintf(tmpdir, sizeof tmpdir, "/tmp/ff_test_cli_XXXXXX");
  return mkdtemp(tmpdir) ? 0 : -1;
}

int teardown(void **state) {
  (void)state;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
  return system(cmd) == 0 ? 0 : -1;
}

/* A port that was free a moment ago (bound to 0, then closed). */
int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  socklen_t len = sizeof a;
  getsockname(fd, (struct sockaddr *)&a, &len);
  close(fd);
  return ntohs(a.sin_port);
}

