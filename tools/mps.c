/* A private CUDA MPS daemon for one local run (tools/mps.h). */
#include "tools/mps.h"

#include <errno.h>
#include <ftw.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"

extern char **environ;

#define FF__MPS_CONTROL "nvidia-cuda-mps-control"

/* Runs the control program with `arg` (NULL: none) and, when `input` is given, that text on its stdin;
 * its exit status, or -1 with errno set when it could not be started. */
static int ff__mps_control(const char *arg, const char *input) {
  char *argv[3] = {(char *)FF__MPS_CONTROL, (char *)arg, NULL};
  int fd[2] = {-1, -1};
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (input) {
    if (pipe(fd) != 0) {
      posix_spawn_file_actions_destroy(&fa);
      return -1;
    }
    posix_spawn_file_actions_adddup2(&fa, fd[0], 0);
    posix_spawn_file_actions_addclose(&fa, fd[1]);
  }
  pid_t pid;
  const int err = posix_spawnp(&pid, FF__MPS_CONTROL, &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  if (input) close(fd[0]);
  if (err) {
    if (input) close(fd[1]);
    errno = err;
    return -1;
  }
  if (input) {
    const ssize_t w = write(fd[1], input, strlen(input)); /* a short write shows in its exit status */
    (void)w;
    close(fd[1]);
  }
  int ws = 0;
  while (waitpid(pid, &ws, 0) < 0)
    if (errno != EINTR) return -1;
  return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + (WIFSIGNALED(ws) ? WTERMSIG(ws) : 0);
}

static int ff__rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  remove(path);
  return 0;
}

ff_status ff_mps_start(ff_mps *m) {
  memset(m, 0, sizeof *m);
  const char *tmp = getenv("TMPDIR");
  /* The pipe directory holds a UNIX socket: its path must stay short (108 bytes with the name). */
  if (!tmp || !*tmp || strlen(tmp) > 32) tmp = "/tmp";
  snprintf(m->dir, sizeof m->dir, "%s/fusefss-mps-XXXXXX", tmp);
  if (!mkdtemp(m->dir)) {
    FF_ERROR("--gpu-share mps: cannot make a directory for the MPS daemon under %s: %s", tmp, strerror(errno));
    return FF_EIO;
  }
  char pipe_dir[96], log_dir[96];
  snprintf(pipe_dir, sizeof pipe_dir, "%s/pipe", m->dir);
  snprintf(log_dir, sizeof log_dir, "%s/log", m->dir);
  if (mkdir(pipe_dir, 0700) != 0 || mkdir(log_dir, 0700) != 0) {
    FF_ERROR("--gpu-share mps: cannot make %s/{pipe,log}: %s", m->dir, strerror(errno));
    nftw(m->dir, ff__rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    return FF_EIO;
  }
  setenv("CUDA_MPS_PIPE_DIRECTORY", pipe_dir, 1);
  setenv("CUDA_MPS_LOG_DIRECTORY", log_dir, 1);
  const int rc = ff__mps_control("-d", NULL);
  if (rc != 0) {
    const int err = errno;
    if (rc < 0 && err == ENOENT)
      FF_ERROR("--gpu-share mps: %s is not on PATH (it comes with the NVIDIA driver); run without --gpu-share mps, "
               "which lets the two parties' contexts take turns on the GPU", FF__MPS_CONTROL);
    else if (rc < 0)
      FF_ERROR("--gpu-share mps: cannot start %s: %s", FF__MPS_CONTROL, strerror(err));
    else
      FF_ERROR("--gpu-share mps: %s -d exited with status %d (its log: %s)", FF__MPS_CONTROL, rc, log_dir);
    unsetenv("CUDA_MPS_PIPE_DIRECTORY");
    unsetenv("CUDA_MPS_LOG_DIRECTORY");
    nftw(m->dir, ff__rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    return rc < 0 && err == ENOENT ? FF_ENOENT : FF_EIO;
  }
  m->on = 1;
  return FF_OK;
}

void ff_mps_stop(ff_mps *m) {
  if (!m || !m->on) return;
  m->on = 0;
  const int rc = ff__mps_control(NULL, "quit\n");
  if (rc != 0) FF_WARN("--gpu-share mps: asking the MPS daemon to quit failed (status %d); it may linger", rc);
  /* quit returns at once; the daemon stops its server, then itself, and removes its control socket. */
  char control[96];
  snprintf(control, sizeof control, "%s/pipe/control", m->dir);
  for (int i = 0; i < 100 && access(control, F_OK) == 0; i++) nanosleep(&(struct timespec){0, 50000000}, NULL);
  nftw(m->dir, ff__rm_entry, 8, FTW_DEPTH | FTW_PHYS);
  unsetenv("CUDA_MPS_PIPE_DIRECTORY");
  unsetenv("CUDA_MPS_LOG_DIRECTORY");
}
