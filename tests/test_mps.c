/* tools/mps.c, the private MPS daemon of `fusefss run --gpu-share mps`, without a GPU: a stand-in
 * nvidia-cuda-mps-control (a shell script on PATH) records how it is called, so the start, the
 * environment the parties inherit, the quit and the clean-up are checked here; the real daemon runs on
 * the GPU host (dev/gpu/mps.sh, docs/results.md). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/log.h"
#include "tools/mps.h"

static char g_bin[64], g_path[4200], g_old_path[4096];

/* A stand-in that logs "<args> <pipe dir> <log dir>" and, for -d, makes the control socket's file as the
 * real daemon does; given no argument it reads its commands and, on "quit", removes that file. exit_d:
 * the status of -d. */
static void fake_control(int exit_d) {
  char path[128];
  snprintf(path, sizeof path, "%s/nvidia-cuda-mps-control", g_bin);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fprintf(f,
          "#!/bin/sh\n"
          "echo \"${1:-stdin} $CUDA_MPS_PIPE_DIRECTORY $CUDA_MPS_LOG_DIRECTORY\" >> %s/calls\n"
          "if [ \"$1\" = -d ]; then touch \"$CUDA_MPS_PIPE_DIRECTORY/control\"; exit %d; fi\n"
          "read cmd; echo \"cmd $cmd\" >> %s/calls\n"
          "[ \"$cmd\" = quit ] && rm -f \"$CUDA_MPS_PIPE_DIRECTORY/control\"\n"
          "exit 0\n",
          g_bin, exit_d, g_bin);
  fclose(f);
  assert_int_equal(chmod(path, 0700), 0);
}

static char *read_calls(void) {
  static char buf[4096];
  char path[128];
  snprintf(path, sizeof path, "%s/calls", g_bin);
  FILE *f = fopen(path, "r");
  buf[0] = '\0';
  if (f) {
    buf[fread(buf, 1, sizeof buf - 1, f)] = '\0';
    fclose(f);
  }
  unlink(path);
  return buf;
}

static int setup(void **state) {
  (void)state;
  snprintf(g_bin, sizeof g_bin, "/tmp/ff_mps_test_XXXXXX");
  if (!mkdtemp(g_bin)) return -1;
  const char *old = getenv("PATH");
  snprintf(g_old_path, sizeof g_old_path, "%s", old ? old : "/usr/bin:/bin");
  snprintf(g_path, sizeof g_path, "%s:%s", g_bin, g_old_path);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  char path[128];
  snprintf(path, sizeof path, "%s/nvidia-cuda-mps-control", g_bin);
  unlink(path);
  snprintf(path, sizeof path, "%s/calls", g_bin);
  unlink(path);
  setenv("PATH", g_old_path, 1);
  return rmdir(g_bin);
}

/* Start: a fresh private directory, the environment pointing at it, `-d` run with it; stop: `quit` on
 * the control's stdin, then the directory and the environment gone. */
static void test_start_and_stop(void **state) {
  (void)state;
  fake_control(0);
  setenv("PATH", g_path, 1);
  ff_mps m;
  assert_int_equal(ff_mps_start(&m), FF_OK);
  assert_true(m.on);
  char pipe_dir[96], log_dir[96];
  snprintf(pipe_dir, sizeof pipe_dir, "%s/pipe", m.dir);
  snprintf(log_dir, sizeof log_dir, "%s/log", m.dir);
  assert_string_equal(getenv("CUDA_MPS_PIPE_DIRECTORY"), pipe_dir);
  assert_string_equal(getenv("CUDA_MPS_LOG_DIRECTORY"), log_dir);
  struct stat sb;
  assert_int_equal(stat(log_dir, &sb), 0);
  assert_int_equal(sb.st_mode & 0777, 0700);
  char want[300];
  snprintf(want, sizeof want, "-d %s %s\n", pipe_dir, log_dir);
  assert_string_equal(read_calls(), want);
  ff_mps_stop(&m);
  assert_false(m.on);
  snprintf(want, sizeof want, "stdin %s %s\ncmd quit\n", pipe_dir, log_dir);
  assert_string_equal(read_calls(), want);
  assert_int_equal(access(m.dir, F_OK), -1); /* removed, with what the daemon left in it */
  assert_null(getenv("CUDA_MPS_PIPE_DIRECTORY"));
  assert_null(getenv("CUDA_MPS_LOG_DIRECTORY"));
  ff_mps_stop(&m); /* twice: nothing happens */
  assert_string_equal(read_calls(), "");
  ff_mps never = {0};
  ff_mps_stop(&never);
}

/* A control program that is missing or fails: an error naming it, nothing left behind. */
static void test_refusals(void **state) {
  (void)state;
  const ff_log_level saved = ff_log_get_level();
  ff_log_set_level(FF_LOG_OFF);
  setenv("PATH", g_bin, 1); /* no stand-in yet: not found */
  char path[128];
  snprintf(path, sizeof path, "%s/nvidia-cuda-mps-control", g_bin);
  unlink(path);
  ff_mps m;
  assert_int_equal(ff_mps_start(&m), FF_ENOENT);
  assert_false(m.on);
  assert_int_equal(access(m.dir, F_OK), -1);
  assert_null(getenv("CUDA_MPS_PIPE_DIRECTORY"));
  fake_control(3);
  setenv("PATH", g_path, 1);
  assert_int_equal(ff_mps_start(&m), FF_EIO);
  assert_false(m.on);
  assert_int_equal(access(m.dir, F_OK), -1);
  assert_null(getenv("CUDA_MPS_LOG_DIRECTORY"));
  read_calls();
  ff_log_set_level(saved);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_start_and_stop), cmocka_unit_test(test_refusals)};
  return cmocka_run_group_tests(tests, setup, teardown);
}
