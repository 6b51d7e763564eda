// Launch helpers shared by the CUDA twins of the sigma gates (sigma_cuda.cu, sigma_act_cuda.cu,
// softmax_cuda.cu, layernorm_cuda.cu): grid sizing, the context's stream, argument checks and the
// launch-error check. Internal: included only by those .cu files, inside their anonymous namespace.
#ifndef FF_GATES_SIGMA_CUDA_UTIL_CUH
#define FF_GATES_SIGMA_CUDA_UTIL_CUH

constexpr unsigned kThreads = 256;

inline unsigned blocks_for(size_t n) { return (unsigned)((n + kThreads - 1) / kThreads); }

inline cudaStream_t stream_of(const ff_ctx *ctx) { return (cudaStream_t)ctx->stream; }

__device__ __forceinline__ uint64_t ring_mask(int bw) { return bw >= 64 ? ~0ull : (1ull << bw) - 1; }

// A CUDA context, and non-NULL buffers when there is work.
inline ff_status check(const char *fn, const ff_ctx *ctx, size_t n, const void *a, const void *b) {
  if (!ctx || ctx->backend != FF_BACKEND_CUDA) {
    FF_ERROR("%s: needs a CUDA context", fn);
    return FF_EINVAL;
  }
  if (n && (!a || !b)) {
    FF_ERROR("%s: NULL buffer for %zu elements", fn, n);
    return FF_EINVAL;
  }
  return FF_OK;
}

inline ff_status launched(void) { return FF_CUDA_CHECK(cudaGetLastError()); }

#endif
