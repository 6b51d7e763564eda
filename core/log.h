/* Logging to stderr with levels. The level comes from FF_LOG_LEVEL (error|warn|info|debug, default
 * warn) or ff_log_set_level() (FF_LOG_OFF silences everything, for tests of failure paths). Library code reports failures here and returns a status; only tools/
 * prints to stdout. */
#ifndef FF_CORE_LOG_H
#define FF_CORE_LOG_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { FF_LOG_OFF = -1, FF_LOG_ERROR = 0, FF_LOG_WARN = 1, FF_LOG_INFO = 2, FF_LOG_DEBUG = 3 } ff_log_level;

void ff_log_set_level(ff_log_level level);
ff_log_level ff_log_get_level(void);
/* Parses "error", "warn", "info", "debug"; returns -1 for anything else. */
int ff_log_parse_level(const char *s);
/* A prefix printed before every line ("P0", "dealer"); NULL for none. Copied. */
void ff_log_set_prefix(const char *prefix);

void ff_log(ff_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define FF_ERROR(...) ff_log(FF_LOG_ERROR, __VA_ARGS__)
#define FF_WARN(...) ff_log(FF_LOG_WARN, __VA_ARGS__)
#define FF_INFO(...) ff_log(FF_LOG_INFO, __VA_ARGS__)
#define FF_DEBUG(...) ff_log(FF_LOG_DEBUG, __VA_ARGS__)

#ifdef __cplusplus
}
#endif

#endif
