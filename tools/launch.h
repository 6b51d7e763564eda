/* Runs the two parties of a local run as two child processes over loopback TCP: party 0 listens on
 * a free port, reports it through a pipe, then party 1 connects (no race for a port, no sleep).
 * Used by `fusefss bench comm` and, later, `fusefss run`. Test: tests/cli.cmake (bench comm). */
#ifndef FF_TOOLS_LAUNCH_H
#define FF_TOOLS_LAUNCH_H

#include <sys/types.h>

#include "comm/chan.h"
#include "core/status.h"

/* A party's entry point, run in a child process. `tcp` is prefilled (party, host, port, run id,
 * and for party 0 the listen callback); the function adds its own timeouts and shaping, and returns
 * an exit code (0 success). */
typedef int (*ff_party_main)(const ff_tcp_opts *tcp, void *arg);

/* Forks party 0 then party 1, waits for both, and stores their exit codes (a child killed by a
 * signal gets 128 + signal). If a child fails, the other is given `grace_ms` to notice the closed
 * connection and exit, then killed. Returns FF_OK if both exited 0, FF_ECHILD otherwise (logged). */
ff_status ff_launch_local(ff_party_main fn, void *arg, const char *run_id, int grace_ms, int exit_codes[2]);

/* A third child started before the parties and waited for with them: the streamed dealer of
 * `fusefss run --dealer stream`. fn runs in the child and returns its exit code; started (optional) runs
 * in the launcher right after the fork (e.g. to close the child's ends of its sockets), parties_started once
 * both parties are forked (e.g. to close theirs). */
typedef struct {
  int (*fn)(void *arg);
  void (*started)(void *arg);
  void (*parties_started)(void *arg); /* optional: in the launcher once both parties are forked */
  void *arg;
  const char *name; /* "the dealer", for messages */
} ff_launch_helper;

/* ff_launch_local with a helper (NULL: none): exit_codes[2] is the helper's. Any of the three failing
 * gives the others `grace_ms` to fail on their own, then kills them; FF_OK only if all three exited 0.
 * The helper is reaped too: nothing outlives the call. */
ff_status ff_launch_local_helper(ff_party_main fn, void *arg, const char *run_id, int grace_ms,
                                 const ff_launch_helper *helper, int exit_codes[3]);

/* In a child just forked by `parent`: asks for SIGKILL when the parent dies, and exits at once if it
 * already has. Every child process of the command calls it (parties, the dealer's child). */
void ff_launch_die_with_parent(pid_t parent);

/* "Intel(R) Xeon(R) ..." from /proc/cpuinfo, or "unknown cpu". */
const char *ff_cpu_name(char *buf, size_t n);

#endif
