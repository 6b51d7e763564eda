/* Context creation and backend selection. */
#include "core/ctx.h"

#include <string.h>

#include "core/log.h"

ff_backend ff_backend_auto(void) { return ff_cuda_device_count() > 0 ? FF_BACKEND_CUDA : FF_BACKEND_CPU; }

const char *ff_backend_name(ff_backend b) { return b == FF_BACKEND_CUDA ? "cuda" : "cpu"; }

ff_status ff_backend_parse(const char *s, ff_backend *out) {
  if (strcmp(s, "auto") == 0) {
    *out = ff_backend_auto();
    return FF_OK;
  }
  if (strcmp(s, "cpu") == 0) {
    *out = FF_BACKEND_CPU;
    return FF_OK;
  }
  if (strcmp(s, "cuda") == 0) {
    if (!ff_cuda_built()) {
      FF_ERROR("backend 'cuda' requested, but this build has no CUDA backend");
      return FF_ENOTSUP;
    }
    if (ff_cuda_device_count() == 0) {
      FF_ERROR("backend 'cuda' requested, but no CUDA device is visible");
      return FF_ENOTSUP;
    }
    *out = FF_BACKEND_CUDA;
    return FF_OK;
  }
  FF_ERROR("unknown backend '%s' (valid: auto, cpu, cuda)", s);
  return FF_EINVAL;
}

ff_status ff_ctx_init(ff_ctx *ctx, ff_backend backend, int party) {
  memset(ctx, 0, sizeof *ctx);
  ctx->backend = backend;
  ctx->party = party;
  ff_rng_init_os(&ctx->rng);
  if (backend == FF_BACKEND_CUDA) return ff_cuda_stream_create(&ctx->stream);
  return FF_OK;
}

void ff_ctx_destroy(ff_ctx *ctx) {
  ff_cuda_stream_destroy(ctx->stream); /* waits for the stream's work, which may use the staging */
  ff_cuda_stage_free(ctx->stage);
  memset(ctx, 0, sizeof *ctx);
}
