/* Local two-process launcher (loopback TCP). Party 0 announces its port through a pipe from the
 * channel's on_listen callback, so party 1 is started only once the socket listens. The parties die
 * with the launcher: each asks the kernel for SIGKILL when its parent dies (PR_SET_PDEATHSIG, which also
 * covers a launcher killed with SIGKILL), and a SIGTERM, SIGINT or SIGHUP to the launcher is forwarded
 * to both before the launcher itself dies of it. Test: tests/test_harden.c (parent killed). */
#include "tools/launch.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/log.h"
#include "core/time.h"

static void ff__announce_port(int port, void *arg) {
  int fd = *(int *)arg;
  ssize_t w = write(fd, &port, sizeof port);
  (void)w;
  close(fd);
}

static int ff__exit_code(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

/* Waits for pid up to timeout_ms (-1: forever); returns 1 and stores the code when it exited. */
static int ff__wait(pid_t pid, int timeout_ms, int *code) {
  uint64_t deadline = ff_now_ns() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms) * 1000000u;
  for (;;) {
    int status;
    pid_t r = waitpid(pid, &status, timeout_ms < 0 ? 0 : WNOHANG);
    if (r == pid) {
      *code = ff__exit_code(status);
      return 1;
    }
    if (r < 0 && errno != EINTR) {
      *code = 1;
      return 1;
    }
    if (timeout_ms >= 0 && ff_now_ns() >= deadline) return 0;
    if (timeout_ms >= 0) ff_sleep_ns(5000000);
  }
}

void ff_launch_die_with_parent(pid_t parent) {
  (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
  /* The parent may have died between fork and prctl: then nobody would ever send the signal. */
  if (getppid() != parent) _exit(128 + SIGKILL);
}

/* The running parties and the helper (the streamed dealer), for the forwarding handler (0: none). */
static volatile sig_atomic_t ff__child[3];
static const int ff__forwarded[] = {SIGTERM, SIGINT, SIGHUP};

static void ff__forward(int sig) {
  for (int i = 0; i < 3; i++)
    if (ff__child[i] > 0) kill((pid_t)ff__child[i], SIGTERM);
  for (int i = 0; i < 3; i++)
    if (ff__child[i] > 0) waitpid((pid_t)ff__child[i], NULL, 0); /* async-signal-safe: no party outlives us */
  signal(sig, SIG_DFL);
  raise(sig);
}

static ff_status ff__launch(ff_party_main fn, void *arg, const char *run_id, int grace_ms, const ff_launch_helper *helper,
                            int exit_codes[3]);

ff_status ff_launch_local(ff_party_main fn, void *arg, const char *run_id, int grace_ms, int exit_codes[2]) {
  int codes[3];
  const ff_status st = ff_launch_local_helper(fn, arg, run_id, grace_ms, NULL, codes);
  exit_codes[0] = codes[0];
  exit_codes[1] = codes[1];
  return st;
}

ff_status ff_launch_local_helper(ff_party_main fn, void *arg, const char *run_id, int grace_ms,
                                 const ff_launch_helper *helper, int exit_codes[3]) {
  struct sigaction sa, old[3];
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = ff__forward;
  sigemptyset(&sa.sa_mask);
  ff__child[0] = ff__child[1] = ff__child[2] = 0;
  for (int i = 0; i < 3; i++) sigaction(ff__forwarded[i], &sa, &old[i]);
  const ff_status st = ff__launch(fn, arg, run_id, grace_ms, helper, exit_codes);
  for (int i = 0; i < 3; i++) sigaction(ff__forwarded[i], &old[i], NULL);
  ff__child[0] = ff__child[1] = ff__child[2] = 0;
  return st;
}

/* A forked party: back to the default signal actions, dies with the launcher. */
static void ff__party_child(pid_t parent) {
  for (int i = 0; i < 3; i++) signal(ff__forwarded[i], SIG_DFL);
  ff_launch_die_with_parent(parent);
}

/* Kills the helper (if any) once the parties are done, after grace_ms for it to end on its own. */
static void ff__stop_helper(pid_t pid, int grace_ms, int *code, const ff_launch_helper *helper) {
  if (pid <= 0) return;
  if (!ff__wait(pid, grace_ms, code)) {
    FF_ERROR("stopping %s", helper->name);
    kill(pid, SIGKILL);
    ff__wait(pid, -1, code);
  }
  ff__child[2] = 0;
}

static ff_status ff__launch(ff_party_main fn, void *arg, const char *run_id, int grace_ms, const ff_launch_helper *helper,
                            int exit_codes[3]) {
  exit_codes[0] = exit_codes[1] = -1;
  exit_codes[2] = helper ? -1 : 0;
  const pid_t self = getpid();
  pid_t hpid = -1;
  fflush(stdout);
  fflush(stderr);
  if (helper) {
    hpid = fork();
    if (hpid < 0) {
      FF_ERROR("fork: %s", strerror(errno));
      return FF_ECHILD;
    }
    if (hpid == 0) {
      ff__party_child(self);
      int rc = helper->fn(helper->arg);
      fflush(stdout);
      fflush(stderr);
      _exit(rc);
    }
    ff__child[2] = hpid;
    if (helper->started) helper->started(helper->arg);
  }
  int fds[2];
  if (pipe(fds) != 0) {
    FF_ERROR("pipe: %s", strerror(errno));
    ff__stop_helper(hpid, 0, &exit_codes[2], helper);
    return FF_EIO;
  }
  pid_t pid[2] = {-1, -1};
  pid[0] = fork();
  if (pid[0] < 0) {
    FF_ERROR("fork: %s", strerror(errno));
    close(fds[0]);
    close(fds[1]);
    ff__stop_helper(hpid, 0, &exit_codes[2], helper);
    return FF_ECHILD;
  }
  if (pid[0] == 0) {
    ff__party_child(self);
    close(fds[0]);
    ff_tcp_opts t = {.party = 0, .host = "127.0.0.1", .port = 0, .run_id = run_id,
                     .on_listen = ff__announce_port, .on_listen_arg = &fds[1]};
    int rc = fn(&t, arg);
    fflush(stdout);
    fflush(stderr);
    _exit(rc);
  }
  ff__child[0] = pid[0];
  close(fds[1]);

  /* Party 0 either announces its port or exits (its end of the pipe then closes). No fixed limit: a
   * party may deal all its keys before it listens (--dealer inproc: bert-base about a minute on a GPU,
   * larger models more), and a limit once cut such runs off. */
  int port = -1, pr;
  struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
  while ((pr = poll(&pfd, 1, -1)) < 0 && errno == EINTR) {
  }
  if (pr > 0 && read(fds[0], &port, sizeof port) != (ssize_t)sizeof port) port = -1;
  close(fds[0]);
  if (port <= 0) {
    FF_ERROR("party 0 did not start listening (it exited first; see its message)");
    if (!ff__wait(pid[0], grace_ms, &exit_codes[0])) {
      kill(pid[0], SIGKILL);
      ff__wait(pid[0], -1, &exit_codes[0]);
    }
    ff__stop_helper(hpid, 0, &exit_codes[2], helper);
    return FF_ECHILD;
  }

  pid[1] = fork();
  if (pid[1] < 0) {
    FF_ERROR("fork: %s", strerror(errno));
    kill(pid[0], SIGKILL);
    ff__wait(pid[0], -1, &exit_codes[0]);
    ff__stop_helper(hpid, 0, &exit_codes[2], helper);
    return FF_ECHILD;
  }
  ff__child[1] = pid[1];
  if (pid[1] == 0) {
    ff__party_child(self);
    ff_tcp_opts t = {.party = 1, .host = "127.0.0.1", .port = port, .run_id = run_id};
    int rc = fn(&t, arg);
    fflush(stdout);
    fflush(stderr);
    _exit(rc);
  }

  if (helper && helper->parties_started) helper->parties_started(helper->arg);

  /* Wait for whichever ends first; if it failed, the others get `grace_ms` to fail on their own (they
   * see the closed connection or key stream) before they are killed. */
  int done[3] = {0, 0, !helper}, stopped[3] = {0, 0, 0};
  while (!done[0] || !done[1] || !done[2]) {
    int status;
    pid_t r = waitpid(-1, &status, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      break;
    }
    int who = r == pid[0] ? 0 : r == pid[1] ? 1 : r == hpid ? 2 : -1;
    if (who < 0) continue;
    done[who] = 1;
    ff__child[who] = 0;
    exit_codes[who] = ff__exit_code(status);
    if (exit_codes[who] == 0) continue;
    const pid_t all[3] = {pid[0], pid[1], hpid};
    const uint64_t until = ff_now_ns() + (uint64_t)grace_ms * 1000000u;
    for (int other = 0; other < 3; other++) {
      if (done[other]) continue;
      const uint64_t now = ff_now_ns();
      if (!ff__wait(all[other], now < until ? (int)((until - now) / 1000000u) : 0, &exit_codes[other])) {
        if (who == 2) FF_ERROR("%s failed; stopping %s%d", helper->name, other == 2 ? "it" : "party ", other);
        else if (other == 2) FF_ERROR("party %d failed; stopping %s", who, helper->name);
        else FF_ERROR("party %d failed; stopping party %d", who, other);
        kill(all[other], SIGKILL);
        ff__wait(all[other], -1, &exit_codes[other]);
        stopped[other] = 1;
      }
      done[other] = 1;
      ff__child[other] = 0;
    }
  }
  if (exit_codes[0] == 0 && exit_codes[1] == 0 && exit_codes[2] == 0) return FF_OK;
  /* Said here, not where it is reaped: a party that fails on the helper's death may be reaped first. */
  if (helper && exit_codes[2] > 128 && !stopped[2])
    FF_ERROR("%s was killed by signal %d", helper->name, exit_codes[2] - 128);
  if (helper)
    FF_ERROR("party 0 exited with %d, party 1 with %d, %s with %d", exit_codes[0], exit_codes[1], helper->name, exit_codes[2]);
  else
    FF_ERROR("party 0 exited with %d, party 1 with %d", exit_codes[0], exit_codes[1]);
  return FF_ECHILD;
}

const char *ff_cpu_name(char *buf, size_t n) {
  snprintf(buf, n, "unknown cpu");
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (!f) return buf;
  char line[512];
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, "model name", 10) == 0) {
      char *colon = strchr(line, ':');
      if (colon) {
        colon++;
        while (*colon == ' ') colon++;
        colon[strcspn(colon, "\n")] = 0;
        snprintf(buf, n, "%s", colon);
      }
      break;
    }
  }
  fclose(f);
  return buf;
}
