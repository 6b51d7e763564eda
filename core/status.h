/* Status codes shared by every module: functions return FF_OK (0) or a negative ff_status, and
 * ff_strerror() gives the one message for each code. The detail (which file, which port) is logged
 * at the point of failure with FF_ERROR; callers only propagate the code. */
#ifndef FF_CORE_STATUS_H
#define FF_CORE_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

#define FF_STATUS_TABLE(X)                                                        \
  X(FF_OK,          0,   "success")                                              \
  X(FF_EINVAL,     -1,   "invalid argument")                                     \
  X(FF_ENOMEM,     -2,   "out of memory")                                        \
  X(FF_EIO,        -3,   "input/output error")                                   \
  X(FF_ENOENT,     -4,   "no such file or name")                                 \
  X(FF_EFORMAT,    -5,   "malformed input")                                      \
  X(FF_EMISMATCH,  -6,   "inputs do not belong together")                        \
  X(FF_ECONN,      -7,   "connection to the peer failed or was lost")            \
  X(FF_ETIMEDOUT,  -8,   "timed out waiting for the peer")                       \
  X(FF_EADDRINUSE, -9,   "address already in use")                               \
  X(FF_EPROTO,     -10,  "protocol error: the peer sent something unexpected")   \
  X(FF_ERANGE,     -11,  "value out of range")                                   \
  X(FF_ECUDA,      -12,  "CUDA error")                                           \
  X(FF_ENOTSUP,    -13,  "not supported by this build or backend")               \
  X(FF_ESTATE,     -14,  "operation not allowed in the current state")           \
  X(FF_ECHILD,     -15,  "a child process failed")

typedef enum {
#define FF__STATUS_ENUM(name, value, msg) name = value,
  FF_STATUS_TABLE(FF__STATUS_ENUM)
#undef FF__STATUS_ENUM
} ff_status;

/* The message of a status code; never NULL (unknown codes give "unknown status"). */
const char *ff_strerror(ff_status st);

/* The code's name ("FF_ETIMEDOUT"), for logs and tests. */
const char *ff_status_name(ff_status st);

#ifdef __cplusplus
}
#endif

#endif
