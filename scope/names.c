/* The scope-name registry (DESIGN.md §5 taxonomy) and its NVTX side: one domain "fusefss", a
 * registered string per name, a category and a colour per family. Names are registered once per
 * call site (FF_SCOPE caches the id), so the mutex here is off the hot path.
 * Test: tests/test_scope.c. */
#include "scope/scope_internal.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "core/log.h"

#ifdef FF_HAVE_NVTX
#include <nvtx3/nvToolsExt.h>
#endif

#define FF__MAX_FAMILIES 32

typedef struct {
  const char *name;
  uint32_t argb;
} ff__family_def;

/* Families of the taxonomy and their colours (also used by reports). Families registered later by
 * tools get a colour from a fixed palette. */
static const ff__family_def ff__builtin_families[] = {
    {"Structure", 0xFF9E9E9E},  {"Linear", 0xFF1F77B4},   {"Activation", 0xFFFF7F0E}, {"LayerNorm", 0xFF2CA02C},
    {"Softmax", 0xFF9467BD},    {"TruncRescale", 0xFF8C564B}, {"FSS", 0xFFD62728},   {"Comm", 0xFF17BECF},
    {"KeyTransfer", 0xFFBCBD22}, {"IO", 0xFFE377C2},       {"Other", 0xFFC7C7C7},
};

static const struct {
  const char *name;
  const char *family;
} ff__builtin_names[] = {
    {"Forward", "Structure"},          {"Layer", "Structure"},            {"Attention", "Structure"},
    {"FFN", "Structure"},              {"Linear", "Linear"},              {"Activation::GELU", "Activation"},
    {"Activation::SiLU", "Activation"}, {"LayerNorm", "LayerNorm"},        {"Softmax", "Softmax"},
    {"Softmax::Max", "Softmax"},       {"Softmax::nExp", "Softmax"},      {"Softmax::Inverse", "Softmax"},
    {"TruncRescale", "TruncRescale"},  {"FSS::PackedCompare", "FSS"},     {"FSS::IntervalLookup", "FSS"},
    {"FSS::DPF", "FSS"},               {"FSS::LUT", "FSS"},               {"Reconstruct", "Comm"},
    {"KeyTransfer", "KeyTransfer"},    {"Input", "IO"},                   {"Output", "IO"},
    {"Other", "Other"},
};

/* The families of the primitives that every operator runs many times (a model's reconstructs, tree
 * evaluations and key reads: 89 % of bert-base's 4097 scopes per inference). Their scopes get no CUDA
 * event span unless FF_PROFILE_CUDA=all: two cudaEventRecord per scope cost microseconds, and a span of a
 * primitive mostly measures the wait for the GPU work queued before it. Their stream time is then in the
 * enclosing operator's exclusive CUDA time. */
static const char *const ff__primitive_families[] = {"FSS", "Comm", "KeyTransfer"};

static const uint32_t ff__palette[] = {0xFF393B79, 0xFF637939, 0xFF8C6D31, 0xFF843C39,
                                       0xFF7B4173, 0xFF3182BD, 0xFF31A354, 0xFF756BB1};

typedef struct {
  char name[64];
  int family;
  int primitive; /* of a primitive family (ff__primitive_families): no CUDA span by default */
#ifdef FF_HAVE_NVTX
  nvtxStringHandle_t nvtx_name;
#endif
} ff__name_entry;

static pthread_mutex_t ff__reg_lock = PTHREAD_MUTEX_INITIALIZER;
static int ff__reg_ready;
static ff__name_entry ff__names[FF_SCOPE_MAX_NAMES];
static int ff__n_names; /* published with release stores so readers need no lock */
static char ff__families[FF__MAX_FAMILIES][32];
static uint32_t ff__family_argb[FF__MAX_FAMILIES];
static int ff__n_families;

#ifdef FF_HAVE_NVTX
static nvtxDomainHandle_t ff__domain;
#endif

static int ff__family_find(const char *family) {
  for (int i = 0; i < ff__n_families; i++)
    if (strcmp(ff__families[i], family) == 0) return i;
  return -1;
}

/* Caller holds the lock. */
static int ff__family_add(const char *family, uint32_t argb) {
  int f = ff__family_find(family);
  if (f >= 0) return f;
  if (ff__n_families == FF__MAX_FAMILIES || strlen(family) >= sizeof ff__families[0]) return -1;
  f = ff__n_families;
  strcpy(ff__families[f], family);
  ff__family_argb[f] = argb ? argb : ff__palette[f % (sizeof ff__palette / sizeof ff__palette[0])];
#ifdef FF_HAVE_NVTX
  nvtxDomainNameCategoryA(ff__domain, (uint32_t)f + 1, family);
#endif
  ff__n_families = f + 1;
  return f;
}

/* Caller holds the lock. */
static int ff__name_add(const char *name, int family) {
  if (ff__n_names == FF_SCOPE_MAX_NAMES) {
    FF_ERROR("scope registry is full (%d names); '%s' is not recorded", FF_SCOPE_MAX_NAMES, name);
    return -1;
  }
  if (strlen(name) >= sizeof ff__names[0].name) {
    FF_ERROR("scope name '%s' is longer than %zu characters", name, sizeof ff__names[0].name - 1);
    return -1;
  }
  int id = ff__n_names;
  ff__name_entry *e = &ff__names[id];
  strcpy(e->name, name);
  e->family = family;
  e->primitive = 0;
  for (size_t i = 0; family >= 0 && i < sizeof ff__primitive_families / sizeof ff__primitive_families[0]; i++)
    e->primitive |= strcmp(ff__families[family], ff__primitive_families[i]) == 0;
#ifdef FF_HAVE_NVTX
  e->nvtx_name = nvtxDomainRegisterStringA(ff__domain, name);
#endif
  __atomic_store_n(&ff__n_names, id + 1, __ATOMIC_RELEASE);
  return id;
}

/* Caller holds the lock. */
static void ff__registry_init_locked(void) {
  if (__atomic_load_n(&ff__reg_ready, __ATOMIC_ACQUIRE)) return;
#ifdef FF_HAVE_NVTX
  ff__domain = nvtxDomainCreateA("fusefss");
#endif
  for (size_t i = 0; i < sizeof ff__builtin_families / sizeof ff__builtin_families[0]; i++)
    ff__family_add(ff__builtin_families[i].name, ff__builtin_families[i].argb);
  for (size_t i = 0; i < sizeof ff__builtin_names / sizeof ff__builtin_names[0]; i++)
    ff__name_add(ff__builtin_names[i].name, ff__family_find(ff__builtin_names[i].family));
  __atomic_store_n(&ff__reg_ready, 1, __ATOMIC_RELEASE);
}

static int ff__name_find(const char *name) {
  int n = __atomic_load_n(&ff__n_names, __ATOMIC_ACQUIRE);
  for (int i = 0; i < n; i++)
    if (strcmp(ff__names[i].name, name) == 0) return i;
  return -1;
}

/* "Softmax::Foo" -> family Softmax when "Softmax" is a family; else Other. Caller holds the lock. */
static int ff__family_of_new_name(const char *name) {
  const char *sep = strstr(name, "::");
  if (sep && (size_t)(sep - name) < sizeof ff__families[0]) {
    char prefix[sizeof ff__families[0]];
    memcpy(prefix, name, (size_t)(sep - name));
    prefix[sep - name] = 0;
    int f = ff__family_find(prefix);
    if (f >= 0) return f;
  }
  return ff__family_find("Other");
}

int ff_scope_id(const char *name) {
  if (!name || !*name) return -1;
  int id = __atomic_load_n(&ff__reg_ready, __ATOMIC_ACQUIRE) ? ff__name_find(name) : -1;
  if (id >= 0) return id;
  pthread_mutex_lock(&ff__reg_lock);
  ff__registry_init_locked();
  id = ff__name_find(name);
  if (id < 0) id = ff__name_add(name, ff__family_of_new_name(name));
  pthread_mutex_unlock(&ff__reg_lock);
  return id;
}

int ff_scope_register(const char *name, const char *family) {
  if (!name || !*name || !family || !*family) return -1;
  pthread_mutex_lock(&ff__reg_lock);
  ff__registry_init_locked();
  int id = ff__name_find(name);
  int f = ff__family_add(family, 0);
  if (f < 0) {
    FF_ERROR("cannot register scope family '%s' (too many families or name too long)", family);
    id = -1;
  } else if (id >= 0 && ff__names[id].family != f) {
    FF_ERROR("scope '%s' is already registered with family '%s', not '%s'", name, ff__families[ff__names[id].family],
             family);
    id = -1;
  } else if (id < 0) {
    id = ff__name_add(name, f);
  }
  pthread_mutex_unlock(&ff__reg_lock);
  return id;
}

const char *ff_scope_name(int id) {
  return id >= 0 && id < __atomic_load_n(&ff__n_names, __ATOMIC_ACQUIRE) ? ff__names[id].name : "?";
}

const char *ff_scope_family(int id) {
  return id >= 0 && id < __atomic_load_n(&ff__n_names, __ATOMIC_ACQUIRE) ? ff__families[ff__names[id].family] : "?";
}

uint32_t ff_scope_family_argb(const char *family) {
  (void)ff_scope_count(); /* the built-in families exist before the first lookup */
  uint32_t argb = 0;
  pthread_mutex_lock(&ff__reg_lock);
  int f = family ? ff__family_find(family) : -1;
  if (f >= 0) argb = ff__family_argb[f];
  pthread_mutex_unlock(&ff__reg_lock);
  if (f >= 0) return argb;
  uint32_t h = 2166136261u; /* FNV-1a: a stable palette colour for a family this process never registered */
  for (const char *c = family ? family : ""; *c; c++) h = (h ^ (uint8_t)*c) * 16777619u;
  return ff__palette[h % (sizeof ff__palette / sizeof ff__palette[0])];
}

int ff__scope_wants_span(int id) {
  if (id < 0 || id >= __atomic_load_n(&ff__n_names, __ATOMIC_ACQUIRE)) return 0;
  const ff_cuda_spans m = ff_scope_cuda_spans();
  return m == FF_CUDA_SPANS_ALL || (m == FF_CUDA_SPANS_OPS && !ff__names[id].primitive);
}

int ff_scope_count(void) {
  if (!__atomic_load_n(&ff__reg_ready, __ATOMIC_ACQUIRE)) ff_scope_id("Other"); /* materialise the built-in taxonomy */
  return __atomic_load_n(&ff__n_names, __ATOMIC_ACQUIRE);
}

int ff_scope_nvtx_built(void) {
#ifdef FF_HAVE_NVTX
  return 1;
#else
  return 0;
#endif
}

void ff__nvtx_push(int id, int layer) {
#ifdef FF_HAVE_NVTX
  const ff__name_entry *e = &ff__names[id];
  nvtxEventAttributes_t a;
  memset(&a, 0, sizeof a);
  a.version = NVTX_VERSION;
  a.size = NVTX_EVENT_ATTRIB_STRUCT_SIZE;
  a.category = (uint32_t)e->family + 1;
  a.colorType = NVTX_COLOR_ARGB;
  a.color = ff__family_argb[e->family];
  a.messageType = NVTX_MESSAGE_TYPE_REGISTERED;
  a.message.registered = e->nvtx_name;
  if (layer >= 0) {
    a.payloadType = NVTX_PAYLOAD_TYPE_INT64;
    a.payload.llValue = layer;
  }
  nvtxDomainRangePushEx(ff__domain, &a);
#else
  (void)id;
  (void)layer;
#endif
}

void ff__nvtx_pop(void) {
#ifdef FF_HAVE_NVTX
  nvtxDomainRangePop(ff__domain);
#endif
}

void ff__nvtx_name_thread(uint32_t tid, const char *name) {
#ifdef FF_HAVE_NVTX
  nvtxNameOsThreadA(tid, name);
#else
  (void)tid;
  (void)name;
#endif
}
