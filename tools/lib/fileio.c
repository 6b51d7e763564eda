/* Files the user names (regular files only, size caps, temp + rename writes) and human formatting of
 * times and sizes: the I/O under every reader and writer of the analysis library and of the commands
 * (issue 14's rules). Test: tests/test_cli.c, tests/test_harden.c. */
#include "tools/lib/analysis.h"
#include "tools/lib/analysis_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"

const char *ff_fmt_ns(double ns, char *buf, size_t n) {
  double a = fabs(ns);
  if (a >= 1e9)
    snprintf(buf, n, "%.3f s", ns / 1e9);
  else if (a >= 1e6)
    snprintf(buf, n, "%.3f ms", ns / 1e6);
  else if (a >= 1e3)
    snprintf(buf, n, "%.2f us", ns / 1e3);
  else
    snprintf(buf, n, "%.0f ns", ns);
  return buf;
}

const char *ff_fmt_ns_signed(double ns, char *buf, size_t n) {
  char t[24]; /* "123.456 s" and the like */
  ff_fmt_ns(fabs(ns), t, sizeof t);
  const char *sign = ns < 0 ? "−" : "+"; /* U+2212, three bytes */
  if (n < strlen(sign) + strlen(t) + 1) { /* never cut the sign's bytes apart */
    if (n) buf[0] = 0;
    return buf;
  }
  snprintf(buf, n, "%s%s", sign, t);
  return buf;
}

const char *ff_fmt_bytes(double b, char *buf, size_t n) {
  double a = fabs(b);
  if (a >= 1073741824.0)
    snprintf(buf, n, "%.3f GiB", b / 1073741824.0);
  else if (a >= 1048576.0)
    snprintf(buf, n, "%.2f MiB", b / 1048576.0);
  else if (a >= 1024.0)
    snprintf(buf, n, "%.2f KiB", b / 1024.0);
  else
    snprintf(buf, n, "%.0f B", b);
  return buf;
}

/* ---- Files the user names ----------------------------------------------------------------------- */

static const char *ff__file_kind(mode_t m) {
  return S_ISFIFO(m) ? "a FIFO" : S_ISDIR(m) ? "a directory" : S_ISCHR(m) ? "a character device"
         : S_ISBLK(m) ? "a block device" : S_ISSOCK(m) ? "a socket" : "not a regular file";
}

int ff_open_user_file(const char *path, const char *what, uint64_t max_bytes, uint64_t *size, ff_status *st) {
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    const int e = errno;
    FF_ERROR("cannot read %s %s: %s", what, path, strerror(e));
    *st = e == ENOENT ? FF_ENOENT : FF_EIO;
    return -1;
  }
  struct stat sb;
  if (fstat(fd, &sb) != 0) {
    FF_ERROR("cannot read %s %s: %s", what, path, strerror(errno));
    close(fd);
    *st = FF_EIO;
    return -1;
  }
  if (!S_ISREG(sb.st_mode)) {
    FF_ERROR("%s %s is %s: only regular files are read (copy it into a file first)", what, path,
             ff__file_kind(sb.st_mode));
    close(fd);
    *st = FF_EINVAL;
    return -1;
  }
  if (max_bytes && (uint64_t)sb.st_size > max_bytes) {
    FF_ERROR("%s %s has %lld bytes, more than the %llu this reader accepts: it is not a file fusefss wrote", what,
             path, (long long)sb.st_size, (unsigned long long)max_bytes);
    close(fd);
    *st = FF_ERANGE;
    return -1;
  }
  (void)fcntl(fd, F_SETFL, 0); /* blocking reads from here on (a regular file never blocks long) */
  *size = (uint64_t)sb.st_size;
  *st = FF_OK;
  return fd;
}

ff_status ff_read_user_file(const char *path, const char *what, uint64_t max_bytes, char **buf, size_t *len) {
  *buf = NULL;
  *len = 0;
  uint64_t size = 0;
  ff_status st;
  const int fd = ff_open_user_file(path, what, max_bytes, &size, &st);
  if (fd < 0) return st;
  /* The size from fstat bounds the read: a file that grows while it is read is cut at that size (and
   * then refused by its parser), never read without end. */
  char *b = malloc((size_t)size + 1);
  if (!b) {
    close(fd);
    FF_ERROR("out of memory reading %s %s (%llu bytes)", what, path, (unsigned long long)size);
    return FF_ENOMEM;
  }
  size_t got = 0;
  while (got < size) {
    const ssize_t r = read(fd, b + got, (size_t)size - got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      FF_ERROR("cannot read %s %s: %s", what, path, strerror(errno));
      close(fd);
      free(b);
      return FF_EIO;
    }
    if (r == 0) break; /* shrank meanwhile: its parser finds it short */
    got += (size_t)r;
  }
  close(fd);
  b[got] = '\0';
  *buf = b;
  *len = got;
  return FF_OK;
}

ff_status ff_write_file_atomic(const char *path, const void *data, size_t n, int mode) {
  char tmp[4200];
  if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp) {
    FF_ERROR("cannot write %s: the path is too long", path);
    return FF_EINVAL;
  }
  const int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, mode);
  if (fd < 0) {
    FF_ERROR("cannot write %s: %s", tmp, strerror(errno));
    return FF_EIO;
  }
  const char *p = data;
  size_t done = 0;
  int err = 0;
  while (done < n && !err) {
    const ssize_t w = write(fd, p + done, n - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) err = w < 0 ? errno : EIO;
    else done += (size_t)w;
  }
  if (!err && fsync(fd) != 0 && errno != EINVAL) err = errno; /* ENOSPC can surface only here */
  if (close(fd) != 0 && !err) err = errno;
  if (!err && rename(tmp, path) != 0) err = errno;
  if (err) {
    unlink(tmp);
    FF_ERROR("cannot write %s: %s (the previous file, if any, is unchanged)", path, strerror(err));
    return FF_EIO;
  }
  return FF_OK;
}

/* ---- A growing string (analysis_internal.h) -------------------------------------------------------- */

void ff__sbf(ff__sb *b, const char *fmt, ...) {
  if (b->oom) return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
    va_end(ap);
    if (w < 0) {
      b->oom = 1;
      return;
    }
    if (b->s && b->len + (size_t)w < b->cap) {
      b->len += (size_t)w;
      return;
    }
    size_t cap = b->cap ? b->cap : 4096;
    while (cap <= b->len + (size_t)w) cap *= 2;
    char *n = realloc(b->s, cap);
    if (!n) {
      b->oom = 1;
      return;
    }
    b->s = n;
    b->cap = cap;
  }
}
