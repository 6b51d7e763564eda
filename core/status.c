/* Messages of ff_status, from the one table in status.h. Test: tests/test_core.c. */
#include "core/status.h"

const char *ff_strerror(ff_status st) {
  switch (st) {
#define FF__STATUS_MSG(name, value, msg) case name: return msg;
    FF_STATUS_TABLE(FF__STATUS_MSG)
#undef FF__STATUS_MSG
  }
  return "unknown status";
}

const char *ff_status_name(ff_status st) {
  switch (st) {
#define FF__STATUS_NAME(name, value, msg) case name: return #name;
    FF_STATUS_TABLE(FF__STATUS_NAME)
#undef FF__STATUS_NAME
  }
  return "FF_E?";
}
