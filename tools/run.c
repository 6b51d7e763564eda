/* `fusefss keygen / run / cost` (tools/run.h; docs/running.md): the dealer, the parties, the local
 * pipeline and the cost model of a whole model's secure inference with the sigma suite.
 * Tests: tests/test_run.c, tests/cli.cmake. */
#include "tools/run.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ctype.h>

#include <cjson/cJSON.h>

#include "comm/chan.h"
#include "core/ctx.h"
#include "core/cuda.h"
#include "core/keystream.h"
#include "core/log.h"
#include "core/rand.h"
#include "core/time.h"
#include "gates/sigma/layernorm.h"
#include "gates/sigma/op.h"
#include "gates/sigma/rotary.h"
#include "gates/fss/lut.h"
#include "models/model.h"
#include "scope/scope.h"
#include "tools/lib/analysis.h"
#include "tools/cli.h"
#include "tools/keyfeed.h"
#include "tools/launch.h"
#include "tools/mps.h"
#include "tools/npy.h"
#include "tools/report.h"

/* ---- Options shared by keygen, run and cost -------------------------------------------------------- */

typedef enum { FF__KEYS_DEVICE = 0, FF__KEYS_HOST = 1, FF__KEYS_DISK = 2 } ff__keys_where;
static const char *const ff__keys_names[] = {"device", "host", "disk"};

typedef struct {
  const char *cmd;
  const ff_model_config *cfg;
  ff_model_config cut;       /* cfg with --layers applied (cfg points here then) */
  int seq, batch;
  const char *suite;         /* "sigma" or "suf" */
  ff_suf_config suf;         /* the suf switches and knobs (all off for sigma) */
  const char *suf_args[32];  /* --suf NAME=VALUE, applied after the environment */
  int suf_n;
  char suf_json[512];        /* the knobs as recorded in key files and logs ("" for sigma) */
  int insecure_no_padding;   /* --insecure-no-padding: the sparse regime's padding ablation (suf only) */
  int weights_per_layer;     /* --weights-per-layer: each layer's weights masked at every inference */
  int mps;                   /* --gpu-share mps: the local pipeline's parties share the GPU through MPS */
  int share_set;             /* --gpu-share was given (either way) */
  int no_verify;             /* --verify off: no emulation of the whole model after the run */
  const char *weights;       /* weights file, or NULL: seeded random */
  int seq_set, batch_set;    /* --seq / --batch given (else --input's shape may set them) */
  int scale;                 /* --scale, 0: the model's (12) */
  /* Semantics (models/config.h ff_model_semantics): --semantics sigma ignores the weights file's config;
   * --norm-eps, --gelu, --rope-base override (negative: not given). sem_from says where they came from. */
  int sem_sigma;
  double opt_eps, opt_rope;
  int opt_gelu;
  char sem_from[96];
  /* P1's input (--input FILE, .npy) and output (--output FILE, float32 .npy; --keep-raw keeps output_p1.bin). */
  const char *input, *output;
  int keep_raw;
  int64_t *input_fx;         /* (batch * seq, d) the input in fixed point, read before any key */
  int io_ndim;               /* the output's dimensions: the input's, else 2 (batch 1) or 3 */
  uint64_t weights_seed, input_seed, mask_seed;
  ff_backend backend;
  ff__keys_where keys_where;
  int reps, warmup;
  int overhead_pairs;        /* --overhead-pairs: uncounted inferences after the counted ones, scopes off and on */
  int trace, trace_depth;    /* --trace: per-party traces (and OUT/trace.json locally); --trace-depth */
  int gpu[2];                /* --gpu0/--gpu1 (--gpu in the party role): each party's CUDA device, -1: the
                                first visible one */
  const char *out;
  const char *key_files[2];
  char key_buf[2][4096];
  const char *mac_file;      /* party role: this party's MAC key file (default: its key file + ".mac") */
  int layers;                /* --layers, 0 for all: applied after the options (ff__suite_finish) */
  /* The dealing: its identity (both key files' headers, compared by the parties before any key is used)
   * and each party's MAC key. The local pipeline draws them before keygen and its parties inherit them;
   * the party role reads its MAC key from the file keygen wrote beside its key file. */
  uint8_t dealing_id[FF_KEYSTREAM_ID_BYTES];
  uint8_t mac_key[2][FF_KEYSTREAM_MAC_KEY_BYTES];
  int inproc;                /* each party runs the dealer itself (SIGMA's benchmark mode) */
  int stream;                /* --dealer stream: a dealer process feeds both parties live (ff__stream_dealer) */
  int window;                /* --window: layers of keys the streamed dealer may hold that the parties have not taken */
  int stream_fd[2][2];       /* --dealer stream: a socketpair per party q: [q][0] the party's end, [q][1] the dealer's */
  uint64_t stream_session[2], stream_infer[2]; /* --dealer stream: each party's key bytes of the session, of an inference */
  int no_fit_check;          /* --no-fit-check: skip ff__fit_check (experts) */
  int fsync;                 /* keygen --fsync: each key file flushed to disk before keygen reports */
  int profile;               /* keygen --profile: the dealer's own scopes recorded and printed by name */
  int dealer_masks_dev;      /* --dealer-masks device: ff_op_params.deal_on_device for a dealer on CUDA */
  int party;                 /* -1: the local pipeline */
  char host[256];
  int port;
  const char *run_id;
  uint64_t timeout_ns;
} ff__run_opts;

/* Runs fn(arg, out) in a child process and copies its n bytes of `out` back: 0 when the child delivered
 * them and exited 0, -1 otherwise (out then holds whatever arrived, possibly nothing). For what touches
 * CUDA: CUDA initialised in this process before the local pipeline forks its parties would be unusable in
 * them (cudaErrorInitializationError). */
static int ff__in_child(void (*fn)(void *arg, void *out), void *arg, void *out, size_t n) {
  int fd[2];
  if (pipe(fd)) {
    FF_ERROR("pipe: %s", strerror(errno));
    return -1;
  }
  fflush(stdout);
  fflush(stderr);
  const pid_t parent = getpid(), pid = fork();
  if (pid == 0) {
    ff_launch_die_with_parent(parent);
    close(fd[0]);
    fn(arg, out);
    _exit(write(fd[1], out, n) == (ssize_t)n ? 0 : 1);
  }
  close(fd[1]);
  if (pid < 0) {
    FF_ERROR("fork: %s", strerror(errno));
    close(fd[0]);
    return -1;
  }
  const ssize_t got = read(fd[0], out, n);
  close(fd[0]);
  int status = 0;
  return waitpid(pid, &status, 0) == pid && got == (ssize_t)n && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static void ff__count_gpus(void *arg, void *out) {
  (void)arg;
  *(int *)out = ff_cuda_device_count();
}

/* 1 when a GPU is visible (asked in a child process, ff__in_child). */
static int ff__gpu_visible(void) {
  int n = 0;
  return ff_cuda_built() && !ff__in_child(ff__count_gpus, NULL, &n, sizeof n) && n > 0;
}

static void ff__opts_init(ff__run_opts *o, const char *cmd) {
  memset(o, 0, sizeof *o);
  o->cmd = cmd;
  o->cfg = ff_model_find("bert-tiny");
  o->seq = 128;
  o->batch = 1;
  o->suite = "sigma";
  o->weights_seed = 1;
  o->input_seed = 2;
  o->backend = FF_BACKEND_CPU; /* the command decides (ff__gpu_visible) */
  o->keys_where = FF__KEYS_DEVICE;
  o->reps = 1;
  o->out = "fusefss-out";
  o->party = -1;
  o->port = 7000;
  o->timeout_ns = UINT64_C(120000000000);
  o->opt_eps = o->opt_rope = -1;
  o->opt_gelu = -1;
  o->window = 2;
  for (int q = 0; q < 2; q++) o->stream_fd[q][0] = o->stream_fd[q][1] = -1;
  o->gpu[0] = o->gpu[1] = -1;
}

enum {
  O_MODEL = 256, O_SEQ, O_BATCH, O_SUITE, O_WEIGHTS, O_WSEED, O_ISEED, O_MSEED, O_BACKEND, O_KEYS, O_REPS,
  O_WARMUP, O_OUT, O_KEYFILE, O_DEALER, O_PARTY, O_LISTEN, O_PEER, O_RUNID, O_TIMEOUT, O_FORMAT, O_LAYERS, O_SUF,
  O_INSECURE, O_MACKEY, O_SCALE, O_SEMANTICS, O_EPS, O_GELU, O_ROPE, O_WPL, O_GPUSHARE, O_VERIFY, O_INPUT, O_OUTPUT, O_KEEP_RAW, O_TRACE, O_TRACE_DEPTH,
  O_OVERHEAD, O_DEALER_MASKS
};

/* --dealer-masks host|device (keygen and run): where a dealer on CUDA makes the masks, correction words and
 * shares of the gates that have a device path (gates/sigma/op.h deal_on_device). */
#define FF__DEALER_MASKS_HELP                                                                                   \
  "  --dealer-masks host|device  a dealer on the GPU: where the masks, correction words and shares are\n"      \
  "                       made: host (default; the tree keys on the GPU) or device (with the tree keys:\n"   \
  "                       the inputs, truncations, matmuls, products, ReLU, GELU, SiLU, softmax, and\n"     \
  "                       every comparison's and lookup table's keys; docs/architecture.md \"The\n"       \
  "                       dealer\", step 2). The same key bytes\n"
static int ff__dealer_masks_opt(ff__run_opts *o, const char *arg) {
  if (strcmp(arg, "host") && strcmp(arg, "device"))
    return ff_cli_usage_error(o->cmd, "--dealer-masks must be host or device, not '%s'", arg);
  o->dealer_masks_dev = !strcmp(arg, "device");
  return 0;
}

static int ff__model_opt(ff__run_opts *o, const char *name) {
  if ((o->cfg = ff_model_find(name))) return 0;
  char list[512];
  return ff_cli_usage_error(o->cmd, "unknown model '%s'; the models are: %s", name, ff_model_list_names(list, sizeof list));
}

#define FF__SEQ_MAX (1 << (FF_LUT_MAX_BITS - 6))

/* s with control and non-ASCII bytes as \xNN, cut to fit n (for messages about bad input). */
static void ff__escape(const char *s, char *out, size_t n) {
  size_t k = 0;
  for (; *s && k + 5 < n; s++) {
    const unsigned char c = (unsigned char)*s;
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') out[k++] = (char)c;
    else k += (size_t)snprintf(out + k, n - k, "\\x%02x", c);
  }
  if (*s && k + 4 <= n) memcpy(out + k, "...", 3), k += 3;
  out[k < n ? k : n - 1] = '\0';
}

/* Parses one option common to the commands; returns -1 when c is not one of them, else 0 or an exit code. */
static int ff__common_opt(ff__run_opts *o, int c, const char *arg) {
  long long v;
  switch (c) {
    case O_MODEL: return ff__model_opt(o, arg);
    case O_SEQ:
      /* The softmax's row (seq) goes through a 2^(FF_LUT_MAX_BITS - 6)-entry lookup: beyond it the gate refuses. */
      if (ff_parse_int(arg, 3, FF__SEQ_MAX, &v))
        return ff_cli_usage_error(o->cmd, "--seq must be 3..%d (the softmax's largest row), not '%s'", FF__SEQ_MAX, arg);
      o->seq = (int)v;
      o->seq_set = 1;
      return 0;
    case O_BATCH:
      if (ff_parse_int(arg, 1, 1024, &v)) return ff_cli_usage_error(o->cmd, "--batch must be 1..1024, not '%s'", arg);
      o->batch = (int)v;
      o->batch_set = 1;
      return 0;
    case O_SUITE:
      if (strcmp(arg, "sigma") && strcmp(arg, "suf"))
        return ff_cli_usage_error(o->cmd, "unknown suite '%s' (expected sigma or suf)", arg);
      o->suite = strcmp(arg, "suf") ? "sigma" : "suf";
      return 0;
    case O_SUF:
      if (o->suf_n == (int)(sizeof o->suf_args / sizeof o->suf_args[0]))
        return ff_cli_usage_error(o->cmd, "too many --suf options");
      o->suf_args[o->suf_n++] = arg;
      return 0;
    case O_INSECURE: o->insecure_no_padding = 1; return 0;
    case O_WPL: o->weights_per_layer = 1; return 0;
    case O_WEIGHTS: o->weights = arg; return 0;
    case O_WSEED:
    case O_ISEED:
    case O_MSEED:
      if (ff_parse_int(arg, 0, INT64_MAX, &v)) return ff_cli_usage_error(o->cmd, "a seed must be 0..2^63-1, not '%s'", arg);
      *(c == O_WSEED ? &o->weights_seed : c == O_ISEED ? &o->input_seed : &o->mask_seed) = (uint64_t)v;
      return 0;
    case O_LAYERS:
      if (ff_parse_int(arg, 1, 1000, &v)) return ff_cli_usage_error(o->cmd, "--layers must be 1..1000, not '%s'", arg);
      o->layers = (int)v; /* checked against the model's depth once the model is known (a later --model) */
      return 0;
    case O_RUNID: {
      /* A label printed in messages and written into headers and logs: printable, no spaces or quotes. */
      size_t n = strlen(arg), ok = n >= 1 && n <= FF_KEYSTREAM_RUN_ID_MAX;
      for (size_t i = 0; ok && i < n; i++) ok = isalnum((unsigned char)arg[i]) || strchr("._-+:@", arg[i]);
      if (!ok) {
        char shown[80];
        ff__escape(arg, shown, sizeof shown);
        return ff_cli_usage_error(o->cmd, "--run-id must be 1..%d characters from A-Z a-z 0-9 . _ - + : @, not \"%s\"",
                                  FF_KEYSTREAM_RUN_ID_MAX, shown);
      }
      o->run_id = arg;
      return 0;
    }
    case O_OUT: o->out = arg; return 0;
    case O_SCALE:
      if (ff_parse_int(arg, 1, 62, &v)) return ff_cli_usage_error(o->cmd, "--scale must be a number of fractional bits, not '%s'", arg);
      o->scale = (int)v; /* checked against the ring once the model is known (ff__suite_finish) */
      return 0;
    case O_SEMANTICS:
      if (strcmp(arg, "sigma") && strcmp(arg, "checkpoint"))
        return ff_cli_usage_error(o->cmd, "--semantics must be sigma or checkpoint, not '%s'", arg);
      o->sem_sigma = !strcmp(arg, "sigma");
      return 0;
    case O_EPS: {
      double e;
      if (ff_parse_double(arg, &e) || !(e >= 0) || e > 1)
        return ff_cli_usage_error(o->cmd, "--norm-eps must be a number in 0..1 (e.g. 1e-5), not '%s'", arg);
      o->opt_eps = e;
      return 0;
    }
    case O_GELU:
      if (strcmp(arg, "erf") && strcmp(arg, "tanh")) return ff_cli_usage_error(o->cmd, "--gelu must be erf or tanh, not '%s'", arg);
      o->opt_gelu = !strcmp(arg, "tanh");
      return 0;
    case O_ROPE: {
      double b;
      if (ff_parse_double(arg, &b) || !ff_sigma_rotary_base_ok(b))
        return ff_cli_usage_error(o->cmd, "--rope-base must be an integer in 2..4294967295 (e.g. 10000), not '%s'", arg);
      o->opt_rope = b;
      return 0;
    }
    default: return -1;
  }
}

/* An option the command did not handle itself: a common one, or a usage error. 0 to go on. */
static int ff__rest_opt(ff__run_opts *o, int c, char **argv) {
  if (c == ':') return ff_cli_usage_error(o->cmd, "option '%s' needs a value", argv[optind - 1]);
  const int r = ff__common_opt(o, c, optarg);
  return r < 0 ? ff_cli_usage_error(o->cmd, "unknown option '%s'", argv[optind - 1]) : r;
}

#define FF__COMMON_LONGOPTS                                                                                      \
  {"model", required_argument, NULL, O_MODEL}, {"seq", required_argument, NULL, O_SEQ},                          \
      {"batch", required_argument, NULL, O_BATCH}, {"suite", required_argument, NULL, O_SUITE},                  \
      {"weights", required_argument, NULL, O_WEIGHTS}, {"weights-seed", required_argument, NULL, O_WSEED},      \
      {"input-seed", required_argument, NULL, O_ISEED}, {"mask-seed", required_argument, NULL, O_MSEED},        \
      {"run-id", required_argument, NULL, O_RUNID}, {"suf", required_argument, NULL, O_SUF},                   \
      {"layers", required_argument, NULL, O_LAYERS}, {"out", required_argument, NULL, O_OUT},                      \
      {"insecure-no-padding", no_argument, NULL, O_INSECURE}, {"scale", required_argument, NULL, O_SCALE},       \
      {"semantics", required_argument, NULL, O_SEMANTICS}, {"norm-eps", required_argument, NULL, O_EPS},       \
      {"gelu", required_argument, NULL, O_GELU}, {"rope-base", required_argument, NULL, O_ROPE},               \
      {"weights-per-layer", no_argument, NULL, O_WPL},                                                          \
      {"help", no_argument, NULL, 'h'}

static const char ff__common_help[] =
    "model:\n"
    "  --model NAME         bert-tiny (default), bert-base, bert-large, gpt2, gpt-neo, gpt-neo-large,\n"
    "                       llama7b, llama13b\n"
    "  --seq N              sequence length, 3..1024 (default 128)\n"
    "  --batch N            batch (default 1)\n"
    "  --layers N           run only the first N blocks (a cut model, e.g. for tests)\n"
    "  --suite sigma|suf    protocol suite (default sigma). suf turns on every suf gate; the environment\n"
    "                       (SUF_ACTIVATION, SUF_SOFTMAX, SUF_LAYERNORM, SUF_GELU_INTERVALS, SUF_SILU_INTERVALS,\n"
    "                       SUF_NEXP_BITS, SUF_INV_BITS, SUF_RSQRT_BITS, SUF_DEGREE, SUF_EFFECTIVE_BITS;\n"
    "                       FUSEFSS_* aliases) and then --suf NAME=VALUE (repeatable) change the knobs\n"
    "                       (docs/suf.md); *_INTERVALS 2..16 selects the sparse regime\n"
    "  --insecure-no-padding  INSECURE ablation (suf, sparse regime only): no mask-aware padding, so the\n"
    "                       key shape depends on the mask; for measuring what padding costs, never for\n"
    "                       inference. Recorded in the key files and the log\n"
    "  --weights FILE       weights file (docs/running.md); default: seeded random weights\n"
    "  --weights-per-layer  mask each layer's weights at every inference, right before the layer, instead\n"
    "                       of the whole model's once per session: one layer's masked weights in memory\n"
    "                       (the models whose weights do not fit, e.g. llama7b); the weights' masks and\n"
    "                       their transfer then count in every inference's keys and link. Recorded in the\n"
    "                       key files and the log\n"
    "  --scale N            fractional bits of the fixed point (default 12, SIGMA's); 7..20 and at most\n"
    "                       (bw - 13) / 2 (gpt2, bw 50: up to 18; bert-tiny, bw 37: up to 12)\n"
    "semantics (public arithmetic, no extra cost; docs/running.md \"Semantics\"):\n"
    "  --semantics checkpoint|sigma  checkpoint (default): what the weights file's config says (written by\n"
    "                       scripts/export_hf.py), SIGMA's choices without one; sigma: SIGMA's always\n"
    "  --norm-eps E         LayerNorm/RMSNorm epsilon in rsqrt(var + E) (SIGMA: 0)\n"
    "  --gelu erf|tanh      GELU as the erf form (SIGMA, BERT) or GPT-2's tanh form gelu_new\n"
    "  --rope-base B        rotary base, an integer (SIGMA: 10000; Hugging Face's rope_theta)\n"
    "  --weights-seed S     seed of the random weights (default 1)\n"
    "  --input-seed S       seed of P1's random input (default 2)\n"
    "  --mask-seed S        seed of the dealer's masks (default 0: OS randomness; set only to reproduce)\n"
    "  --run-id ID          run id written into the key files and logs (default: random)\n"
    "  --out DIR            output directory (default fusefss-out)\n";

/* The key files' metadata: what the keys were made for. */
static void ff__key_meta(const ff__run_opts *o, const ff_gate_cost *weights, const ff_gate_cost *infer, char *buf,
                         size_t n) {
  snprintf(buf, n,
           "{\"suite\":\"%s\",\"model\":\"%s\",\"layers\":%d,\"seq\":%d,\"batch\":%d,\"bw\":%d,\"scale\":%d,\"weights_key_bytes\":%" PRIu64
           ",\"inference_key_bytes\":%" PRIu64 ",\"norm_eps\":%.17g,\"gelu\":\"%s\",\"rope_base\":%.17g%s%s%s}",
           o->suite, o->cfg->name, o->cfg->layers, o->seq, o->batch, o->cfg->bw, o->cfg->scale, weights->key_bytes, infer->key_bytes,
           o->cfg->sem.norm_eps, o->cfg->sem.gelu_tanh ? "tanh" : "erf", ff_model_rope_base(o->cfg),
           o->cfg->weights_per_layer ? ",\"weights_per_layer\":1" : "", o->suf_json[0] ? ",\"suf\":" : "", o->suf_json);
}

/* After the options: the suite's knobs (suf: defaults, then the environment, then --suf), checked against
 * the model. 0 to go on, else an exit code. */
static int ff__suite_finish(ff__run_opts *o) {
  /* The run's copy of the model's config: --layers, --scale and the semantics apply to it. */
  o->cut = *o->cfg;
  o->cfg = &o->cut;
  o->cut.weights_per_layer = o->weights_per_layer;
  if (o->layers) {
    /* Refused, not clamped: a run of fewer blocks than asked would be reported as the asked one. */
    if (o->layers > o->cut.layers)
      return ff_cli_usage_error(o->cmd, "--layers %d is beyond model %s's depth: it has %d blocks (use 1..%d)", o->layers,
                                o->cut.name, o->cut.layers, o->cut.layers);
    o->cut.layers = o->layers;
  }
  if (o->scale) {
    char why[512];
    if (ff_model_scale_check(&o->cut, o->scale, why, sizeof why)) return ff_cli_usage_error(o->cmd, "--scale: %s", why);
    o->cut.scale = o->scale;
  }
  if (strcmp(o->suite, "suf")) {
    if (o->suf_n) return ff_cli_usage_error(o->cmd, "--suf needs --suite suf");
    if (o->insecure_no_padding) return ff_cli_usage_error(o->cmd, "--insecure-no-padding needs --suite suf (its sparse regime)");
    ff_suf_config_off(&o->suf);
    o->suf_json[0] = '\0';
    return 0;
  }
  ff_suf_config_default(&o->suf);
  if (ff_suf_config_from_env(&o->suf)) return ff_cli_usage_error(o->cmd, "a SUF_* environment variable is invalid (above)");
  for (int i = 0; i < o->suf_n; i++)
    if (ff_suf_config_set(&o->suf, o->suf_args[i])) return ff_cli_usage_error(o->cmd, "bad --suf '%s' (above)", o->suf_args[i]);
  o->suf.insecure_no_padding = o->insecure_no_padding;
  if (ff_suf_config_check(&o->suf, o->cfg->bw, o->cfg->scale))
    return ff_cli_usage_error(o->cmd, "the suf knobs do not fit model %s (bw %d, scale %d); see above", o->cfg->name,
                              o->cfg->bw, o->cfg->scale);
  ff_suf_config_json(&o->suf, o->suf_json, sizeof o->suf_json);
  if (o->insecure_no_padding)
    FF_WARN("%s: --insecure-no-padding: the sparse regime's keys are NOT padded, their shape depends on the masks; "
            "this run measures what padding costs and is not a secure inference",
            o->cmd);
  return 0;
}

/* After ff__suite_finish (for run: after --out is prepared, since it reads the weights file's header): the
 * semantics -- the weights file's config unless --semantics sigma, then the options. 0, or an exit code. */
static int ff__semantics_finish(ff__run_opts *o) {
  /* Semantics: the weights file's config (unless --semantics sigma), then the options. */
  memset(&o->cut.sem, 0, sizeof o->cut.sem);
  int found = 0;
  if (o->weights && !o->sem_sigma) {
    if (ff_model_weights_semantics(o->weights, &o->cut.sem, &found))
      return ff_cli_fail(o->cmd, "cannot read the config of weights file %s (above)", o->weights);
  }
  const int opts = o->opt_eps >= 0 || o->opt_gelu >= 0 || o->opt_rope >= 0;
  if (o->opt_eps >= 0) o->cut.sem.norm_eps = o->opt_eps;
  if (o->opt_gelu >= 0) o->cut.sem.gelu_tanh = o->opt_gelu;
  if (o->opt_rope >= 0) o->cut.sem.rope_base = o->opt_rope == 10000.0 ? 0 : o->opt_rope;
  snprintf(o->sem_from, sizeof o->sem_from, "%s%s", found ? "weights file's config" : "SIGMA's defaults",
           opts ? ", then options" : "");
  if (o->cut.sem.norm_eps > 0 && ff_sigma_norm_eps_fixed(o->cut.sem.norm_eps, (size_t)o->cut.d_model, o->cut.bw, o->cut.scale) < 0)
    return ff_cli_usage_error(o->cmd, "norm epsilon %g is too large for model %s at scale %d (eps d 2^(2 scale) must stay "
                              "below 2^(bw - 4))", o->cut.sem.norm_eps, o->cut.name, o->cut.scale);
  if (o->suf.activation && o->cut.sem.gelu_tanh && o->cut.arch != FF_ARCH_LLAMA)
    return ff_cli_usage_error(o->cmd, "the tanh GELU (%s) is a sigma table; the suf suite's GELU is the erf form: use "
                              "--gelu erf, or --suf SUF_ACTIVATION=0", o->opt_gelu >= 0 ? "--gelu tanh" : "from the weights file");
  return 0;
}

static ff_status ff__mkdir(const char *dir) {
  if (mkdir(dir, 0777) == 0 || errno == EEXIST) return FF_OK;
  FF_ERROR("cannot create directory %s: %s", dir, strerror(errno));
  return FF_EIO;
}

/* --out, before any work (keygen, keys, connecting): created (one level), checked to be a writable
 * directory, and rid of the results of an earlier run that this run would write (party: its own log and
 * output; local pipeline: both logs, the merged file and the output), so that a run that fails never
 * leaves an earlier run's results beside its own key files. */
static ff_status ff__prepare_out(const char *out, int party /* -1: the local pipeline */) {
  struct stat sb;
  if (ff__mkdir(out)) return FF_EIO;
  if (stat(out, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
    FF_ERROR("--out %s is not a directory", out);
    return FF_EINVAL;
  }
  char path[4200];
  snprintf(path, sizeof path, "%s/.fusefss-probe.XXXXXX", out);
  const int fd = mkstemp(path);
  if (fd < 0) {
    FF_ERROR("--out %s is not writable: %s", out, strerror(errno));
    return FF_EIO;
  }
  close(fd);
  unlink(path);
  static const char *const results[] = {"prof_p0.json", "prof_p1.json", "output_p1.bin", "breakdown_merged.json",
                                        "trace_p0.json", "trace_p1.json", "trace.json", "run_summary.json"};
  for (int i = 0; i < 8; i++) {
    if (party == 0 && i != 0 && i != 4) continue;
    if (party == 1 && i != 1 && i != 2 && i != 5) continue;
    snprintf(path, sizeof path, "%s/%s", out, results[i]);
    if (unlink(path) != 0 && errno != ENOENT) {
      FF_ERROR("cannot remove %s, the result of an earlier run (this run would leave it beside its own files): %s",
               path, strerror(errno));
      return FF_EIO;
    }
  }
  return FF_OK;
}

/* ---- The cost model ------------------------------------------------------------------------------ */

static void ff__cost_charge(void *arg, const ff_gate_cost c[2]) {
  ff_cost_table *t = arg;
  char path[1024];
  ff_scope_current_path(path, sizeof path);
  size_t i = 0;
  while (i < t->n && strcmp(t->rows[i].path, path)) i++;
  if (i == t->n) {
    ff_cost_row *r = realloc(t->rows, (t->n + 1) * sizeof *r);
    if (!r) return; /* reported by the caller: the totals below still add up */
    t->rows = r;
    memset(&r[i], 0, sizeof r[i]);
    if (!(r[i].path = strdup(path))) return;
    t->n++;
  }
  for (int p = 0; p < 2; p++) t->rows[i].c[p] = ff_gate_cost_add(t->rows[i].c[p], c[p]);
}

ff_status ff_model_cost(const ff_model_config *cfg, const ff_suf_config *suf, int seq, int batch, ff_cost_table *out) {
  memset(out, 0, sizeof *out);
  ff_op *op = NULL;
  ff_model_session *s = NULL;
  ff_cost_table sess = {0};
  ff_op_params p = {.role = FF_OP_COST, .bw = cfg->bw, .scale = cfg->scale, .on_cost = ff__cost_charge, .on_cost_arg = &sess};
  ff_status st = ff_op_create(&op, &p);
  if (!st) st = ff_model_session_begin(op, cfg, NULL, &s);
  if (!st) {
    ff_model_session_set_suf(s, suf);
    for (int q = 0; q < 2; q++) out->weights[q] = ff_op_cost(op, q);
    ff_op_destroy(op);
    op = NULL;
    p.on_cost_arg = out;
    if (!(st = ff_op_create(&op, &p))) st = ff_model_infer(op, s, seq, batch, NULL, NULL);
    for (int q = 0; !st && q < 2; q++) out->total[q] = ff_op_cost(op, q);
  }
  ff_cost_table_free(&sess);
  ff_model_session_free(s);
  ff_op_destroy(op);
  if (st) ff_cost_table_free(out);
  return st;
}

void ff_cost_table_free(ff_cost_table *t) {
  for (size_t i = 0; t && i < t->n; i++) free(t->rows[i].path);
  if (t) free(t->rows);
  if (t) memset(t, 0, sizeof *t);
}

void ff_cost_inclusive(const ff_cost_table *t, const char *path, ff_gate_cost c[2]) {
  const size_t n = strlen(path);
  memset(c, 0, 2 * sizeof *c);
  for (size_t i = 0; i < t->n; i++) {
    const char *q = t->rows[i].path;
    if (!strncmp(q, path, n) && (q[n] == '\0' || q[n] == '/'))
      for (int p = 0; p < 2; p++) c[p] = ff_gate_cost_add(c[p], t->rows[i].c[p]);
  }
}

static uint64_t ff__max_rounds(const ff_gate_cost c[2]) { return c[0].rounds > c[1].rounds ? c[0].rounds : c[1].rounds; }

/* ---- The dealer ---------------------------------------------------------------------------------------- */

static void ff__layer_progress(int done, int total, void *arg) {
  ff_cli_progress((const char *)arg, (uint64_t)done, (uint64_t)total);
}

/* The dealer allocates, fills and frees the same large buffers gate after gate (keys of up to hundreds
 * of MB, masks, wires). glibc serves every block above its mmap threshold (at most 32 MiB) with a fresh
 * mmap, so each key byte first costs a page fault and a page zeroed by the kernel: 80% of keygen's page
 * faults (bert-base, one layer). While dealing into files, freed memory stays in the heap for the next
 * gate; after, the defaults come back and malloc_trim returns what the heap holds. (Not for the in-process
 * dealer: its memory streams grow to the whole key size, which realloc moves with mremap, not copies.) */
static void ff__dealer_heap(int dealing) {
#ifdef __GLIBC__
  if (dealing) {
    mallopt(M_MMAP_MAX, 0);
    mallopt(M_TRIM_THRESHOLD, INT_MAX);
  } else {
    mallopt(M_MMAP_MAX, 65536);             /* glibc's defaults */
    mallopt(M_TRIM_THRESHOLD, 128 * 1024);
    malloc_trim(0);
  }
#else
  (void)dealing;
#endif
}

/* Where the dealer's time went: the graph and finishing the streams (total_s), of which emitting the
 * key streams (write_s: copies, CRC32C and the writes into the OS, ff_keystream_write_ns); with
 * o->profile, the dealer thread's scopes over the dealing (one repetition; the caller destroys it). */
typedef struct {
  double total_s, write_s;
  ff_prof *prof;
} ff__deal_time;

/* Runs the graph as the dealer into ks[0], ks[1] (open writers), then finishes them. On o->backend: a
 * CUDA dealer makes the tree keys (DPF, DCF, LUT) on the GPU, the same bytes (gates/sigma/op.h). */
static ff_status ff__deal(const ff__run_opts *o, ff_keystream *ks[2], ff__deal_time *t) {
  ff_ctx ctx;
  ff_op *op = NULL;
  ff_model_session *s = NULL;
  ff_status st = ff_ctx_init(&ctx, o->backend, FF_DEALER);
  if (st) return st;
  if (o->mask_seed) ff_rng_init_seeded(&ctx.rng, o->mask_seed);
  t->prof = NULL;
  int rep = 0;
  if (o->profile) {
    ff_prof_opts po = {.party = 0, .run_id = o->run_id};
    /* Every scope with its own CUDA span (the dealer has no Reconstruct to fold in), unless
     * FF_PROFILE_CUDA=off asked for none. */
    if (ff_scope_cuda_spans() != FF_CUDA_SPANS_OFF) ff_scope_set_cuda_spans(FF_CUDA_SPANS_ALL);
    if (!(st = ff_prof_create(&t->prof, &po)) && !(st = ff_prof_thread_attach(t->prof, "dealer", ctx.stream)) &&
        !(st = ff_prof_rep_begin(t->prof, 0)))
      rep = 1;
  }
  const uint64_t t0 = ff_now_ns(), w0 = ff_keystream_write_ns(ks[0]) + ff_keystream_write_ns(ks[1]);
  ff_op_params p = {.role = FF_OP_DEALER, .bw = o->cfg->bw, .scale = o->cfg->scale, .ctx = &ctx, .keys = {ks[0], ks[1]},
                    .deal_on_device = o->dealer_masks_dev};
  if (!st && !(st = ff_op_create(&op, &p)) && !(st = ff_model_session_begin(op, o->cfg, NULL, &s))) {
    ff_model_session_set_progress(s, ff__layer_progress, "keygen");
    ff_model_session_set_suf(s, &o->suf);
    st = ff_model_infer(op, s, o->seq, o->batch, NULL, NULL);
  }
  {
    FF_SCOPE("KeyTransfer"); /* the last chunks, and the drain of the writers' threads */
    for (int q = 0; !st && q < 2; q++) st = ff_keystream_finish(ks[q]);
  }
  if (rep) {
    const ff_status pst = ff_prof_rep_end(t->prof);
    if (!st) st = pst;
  }
  if (t->prof) ff_prof_thread_detach();
  t->total_s = (double)(ff_now_ns() - t0) * 1e-9;
  t->write_s = (double)(ff_keystream_write_ns(ks[0]) + ff_keystream_write_ns(ks[1]) - w0) * 1e-9;
  ff_model_session_free(s);
  ff_op_destroy(op);
  ff_ctx_destroy(&ctx);
  return st;
}

/* A fresh dealing: its identity and the two parties' MAC keys, from the OS. */
static ff_status ff__new_dealing(ff__run_opts *o) {
  uint8_t *fill[3] = {o->dealing_id, o->mac_key[0], o->mac_key[1]};
  const size_t len[3] = {sizeof o->dealing_id, sizeof o->mac_key[0], sizeof o->mac_key[1]};
  for (int i = 0; i < 3; i++)
    for (size_t got = 0; got < len[i];) {
      const ssize_t r = getrandom(fill[i] + got, len[i] - got, 0);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) {
        FF_ERROR("getrandom failed: %s (no dealing identity or MAC key without OS randomness)", strerror(errno));
        return FF_EIO;
      }
      got += (size_t)r;
    }
  return FF_OK;
}

static void ff__hex(const uint8_t *b, size_t n, char *out) {
  for (size_t i = 0; i < n; i++) snprintf(out + 2 * i, 3, "%02x", b[i]);
}

/* The MAC key file of a key file: PATH.mac. */
static void ff__mac_path(const char *key_file, char *buf, size_t n) { snprintf(buf, n, "%s.mac", key_file); }

/* Writes party q's MAC key beside its key file: 64 hex digits and a newline, mode 0600, atomically. */
static ff_status ff__write_mac_file(const ff__run_opts *o, int q) {
  char path[4200], text[2 * FF_KEYSTREAM_MAC_KEY_BYTES + 2];
  ff__mac_path(o->key_files[q], path, sizeof path);
  ff__hex(o->mac_key[q], FF_KEYSTREAM_MAC_KEY_BYTES, text);
  text[2 * FF_KEYSTREAM_MAC_KEY_BYTES] = '\n';
  return ff_write_file_atomic(path, text, sizeof text - 1, 0600);
}

/* Reads a MAC key file: a regular file of the owner's alone (no group or other permission bits, as ssh
 * asks of private keys) holding 64 hex digits. */
static ff_status ff__read_mac_file(const char *path, uint8_t key[FF_KEYSTREAM_MAC_KEY_BYTES]) {
  char *buf = NULL;
  size_t len = 0;
  ff_status st = ff_read_user_file(path, "MAC key file", 4096, &buf, &len);
  if (st) {
    if (st == FF_ENOENT)
      FF_ERROR("party key files come with a MAC key file (keygen writes KEYFILE.mac beside each key file): give "
               "this party's with --mac-key, or make the keys again with `fusefss keygen`");
    return st;
  }
  struct stat sb;
  if (stat(path, &sb) == 0 && (sb.st_mode & 077)) {
    FF_ERROR("MAC key file %s is readable or writable by others (mode %03o): it is a secret; chmod 600 it", path,
             (unsigned)(sb.st_mode & 0777));
    free(buf);
    return FF_EINVAL;
  }
  while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r')) len--;
  int ok = len == 2 * FF_KEYSTREAM_MAC_KEY_BYTES;
  for (size_t i = 0; ok && i < FF_KEYSTREAM_MAC_KEY_BYTES; i++) {
    unsigned v = 0;
    ok = isxdigit((unsigned char)buf[2 * i]) && isxdigit((unsigned char)buf[2 * i + 1]) &&
         sscanf(buf + 2 * i, "%2x", &v) == 1;
    key[i] = (uint8_t)v; /* unused when !ok: the whole key is refused below */
  }
  free(buf);
  if (!ok) {
    FF_ERROR("MAC key file %s does not hold a MAC key (64 hex digits, as `fusefss keygen` writes)", path);
    return FF_EFORMAT;
  }
  return FF_OK;
}

/* keygen: the cost model (for the header), then the dealer into the two key files. */
static ff_status ff__keygen_files(ff__run_opts *o, const char *run_id, ff__deal_time *secs, uint64_t bytes[2]) {
  ff_cost_table ct;
  ff_status st = ff_model_cost(o->cfg, &o->suf, o->seq, o->batch, &ct);
  if (st) return st;
  ff_keystream *ks[2] = {NULL, NULL};
  for (int q = 0; q < 2 && !st; q++) {
    char meta[1536];
    ff__key_meta(o, &ct.weights[q], &ct.total[q], meta, sizeof meta);
    ff_keystream_params kp = {.party = q, .run_id = run_id, .meta = meta, .dealing_id = o->dealing_id,
                              .mac_key = o->mac_key[q], .fsync = o->fsync,
                              .pinned = o->backend == FF_BACKEND_CUDA}; /* GPU-made keys download into chunks */
    st = ff_keystream_create_file(o->key_files[q], &kp, &ks[q]);
  }
  ff__dealer_heap(1);
  if (!st) st = ff__deal(o, ks, secs);
  ff__dealer_heap(0);
  for (int q = 0; q < 2 && !st; q++) st = ff__write_mac_file(o, q);
  for (int q = 0; q < 2; q++) {
    if (!st) bytes[q] = ff_keystream_encoded_bytes(ks[q]);
    ff_keystream_close(ks[q], 0);
  }
  ff_cost_table_free(&ct);
  return st;
}

/* ff__keygen_files in a child process (ff__in_child), for the local pipeline of `fusefss run` on CUDA. */
typedef struct {
  ff__run_opts *o;
  const char *run_id;
} ff__keygen_arg;
typedef struct {
  ff_status st;
  ff__deal_time t;
  uint64_t bytes[2];
} ff__keygen_result;

static void ff__keygen_in_child(void *arg, void *out) {
  const ff__keygen_arg *a = arg;
  ff__keygen_result *r = out;
  r->st = ff__keygen_files(a->o, a->run_id, &r->t, r->bytes);
  ff_prof_destroy(r->t.prof); /* a pointer of this process: never copied out (run does not profile its dealer) */
  r->t.prof = NULL;
}

static ff_status ff__keygen_files_child(ff__run_opts *o, const char *run_id, ff__deal_time *secs, uint64_t bytes[2]) {
  ff__keygen_arg a = {o, run_id};
  ff__keygen_result r = {FF_EIO, {0, 0, NULL}, {0, 0}};
  if (ff__in_child(ff__keygen_in_child, &a, &r, sizeof r)) {
    FF_ERROR("keygen: the dealer's process failed");
    return r.st ? r.st : FF_EIO;
  }
  *secs = r.t;
  bytes[0] = r.bytes[0];
  bytes[1] = r.bytes[1];
  return r.st;
}

/* --dealer inproc: each party deals itself from the shared mask seed, so the dealing id is derived from
 * it (both parties get the same; another seed, another dealing). */
static void ff__inproc_dealing_id(ff__run_opts *o) {
  ff_rng r;
  ff_rng_init_seeded(&r, o->mask_seed ^ UINT64_C(0x6465616c696e6721));
  (void)ff_rng_bytes(&r, o->dealing_id, sizeof o->dealing_id);
}

/* ---- The streamed dealer (--dealer stream) ------------------------------------------------------------
 * A third process beside the two parties (ff_launch_local_helper) runs the model graph as the dealer into
 * two live key streams (ff_keystream_create_sink), one per party, each sent over a socketpair by a key feed
 * (tools/keyfeed.h) as the party reads it. The bytes are exactly the key file's (the payload size is
 * declared up front from the cost model), so the party reads them with the streaming placement, every
 * chunk's CRC and MAC checked before use. Each repetition's keys are dealt again (fresh masks).
 *
 * The window: the keys of the session (the weights' masks) and of each layer form a unit; at the end of
 * unit k the dealer waits until each party has taken every byte queued up to the end of unit k - W,
 * so at most about W units of keys (plus one chunk and the sockets' buffers) exist that the parties have
 * not taken. It waits no longer once a party has taken everything queued: that party may need the rest
 * of the chunk being filled, which only more dealing completes (no deadlock). Test:
 * tests/test_stream_e2e.c. */

typedef struct {
  const ff__run_opts *o;
  ff_keyfeed *feed[2];
  uint64_t *marks;     /* (2 * cap) bytes queued to party q at the end of unit k: marks[2k + q] */
  int n_marks, cap;
  int layers_done, layers_total; /* over all inferences, for the progress bar and the test hook */
  int die_at;          /* tests: FUSEFSS_TEST_DEALER_DIE_AT_LAYER, 0: off */
  ff_status st;        /* the first failure of a feed seen at a boundary */
} ff__streamer;


/* Each party's key stream payload: the session's bytes and one inference's. A live stream must declare
 * its size in its header before its first chunk (the key file's header, byte for byte), and the cost
 * model's key bytes leave out the ops' tags (FF_OP_TAG_BYTES per op call, gates/sigma/op.h): so the
 * dealer first deals into byte counters (keys kept nowhere), on the CPU whatever the backend (the same
 * keys: the launcher must not start CUDA before it forks), before the parties start, so that their
 * deadline for the first key bytes does not run while it counts. Exact: key shapes depend on shapes only
 * (the masks-dependent ablation --insecure-no-padding is refused with --dealer stream), and every block of
 * a model has the same shapes, so the sizes are affine in the number of blocks: a model of more than two
 * blocks is counted with one and with two, and extended (llama7b: 3 of 32 blocks dealt, not a whole
 * dealing, which would take the CPU dealer most of an hour). The dealer's finish checks what it then
 * writes against these sizes. */
static ff_status ff__stream_count(const ff__run_opts *o, const ff_model_config *cfg, uint64_t session[2],
                                  uint64_t infer[2]);

static ff_status ff__stream_sizes(const ff__run_opts *o, uint64_t session[2], uint64_t infer[2]) {
  if (o->cfg->layers <= 2) return ff__stream_count(o, o->cfg, session, infer);
  ff_model_config one = *o->cfg, two = *o->cfg;
  one.layers = 1;
  two.layers = 2;
  uint64_t s1[2], i1[2], s2[2], i2[2];
  ff_status st = ff__stream_count(o, &one, s1, i1);
  if (!st) st = ff__stream_count(o, &two, s2, i2);
  if (st) return st;
  const uint64_t more = (uint64_t)o->cfg->layers - 1;
  for (int q = 0; q < 2; q++) {
    session[q] = s1[q] + more * (s2[q] - s1[q]);
    infer[q] = i1[q] + more * (i2[q] - i1[q]);
  }
  return FF_OK;
}

static ff_status ff__stream_count(const ff__run_opts *o, const ff_model_config *cfg, uint64_t session[2],
                                  uint64_t infer[2]) {
  ff_keystream *ks[2] = {NULL, NULL};
  ff_op *op = NULL;
  ff_model_session *s = NULL;
  ff_ctx ctx;
  ff_status st = ff_ctx_init(&ctx, FF_BACKEND_CPU, FF_DEALER);
  if (st) return st;
  for (int q = 0; q < 2 && !st; q++) {
    ff_keystream_params kp = {.party = q};
    st = ff_keystream_create_null(&kp, &ks[q]);
  }
  ff_op_params p = {.role = FF_OP_DEALER, .bw = cfg->bw, .scale = cfg->scale, .ctx = &ctx, .keys = {ks[0], ks[1]}};
  if (!st && !(st = ff_op_create(&op, &p)) && !(st = ff_model_session_begin(op, cfg, NULL, &s))) {
    ff_model_session_set_suf(s, &o->suf);
    for (int q = 0; q < 2; q++) session[q] = ff_keystream_payload_bytes(ks[q]);
    st = ff_model_infer(op, s, o->seq, o->batch, NULL, NULL);
    for (int q = 0; q < 2; q++) infer[q] = ff_keystream_payload_bytes(ks[q]) - session[q];
  }
  ff_model_session_free(s);
  ff_op_destroy(op);
  ff_ctx_destroy(&ctx);
  for (int q = 0; q < 2; q++) ff_keystream_close(ks[q], 0);
  return st;
}

/* The end of a unit: waits for the window (above), draws the progress bar. */
static void ff__stream_boundary(ff__streamer *d) {
  if (d->st || d->n_marks == d->cap) return;
  const int k = d->n_marks++;
  for (int q = 0; q < 2; q++)
    if ((d->st = ff_keyfeed_state(d->feed[q], &d->marks[2 * k + q], NULL))) return;
  if (d->die_at && d->layers_done == d->die_at) {
    FF_WARN("FUSEFSS_TEST_DEALER_DIE_AT_LAYER=%d: the dealer kills itself (a test of dying dealers)", d->die_at);
    raise(SIGKILL);
  }
  const int first = k - d->o->window; /* the last unit that must be taken by now */
  uint64_t sent[2] = {0, 0}, queued[2] = {0, 0};
  for (;;) {
    int taken = 1, starved = 0;
    for (int q = 0; q < 2; q++) {
      if ((d->st = ff_keyfeed_state(d->feed[q], &queued[q], &sent[q]))) return;
      taken &= first < 0 || sent[q] >= d->marks[2 * first + q];
      starved |= sent[q] == queued[q];
    }
    if (taken || starved) break;
    ff_sleep_ns(1000000); /* bounded: a feed fails after --timeout without progress */
  }
  int units_sent = 0;
  while (units_sent < d->n_marks && sent[0] >= d->marks[2 * units_sent] && sent[1] >= d->marks[2 * units_sent + 1])
    units_sent++;
  char label[64];
  snprintf(label, sizeof label, "dealer (sent %d/%d)", units_sent > 1 ? units_sent - 1 : 0, d->layers_total);
  ff_cli_progress(label, (uint64_t)d->layers_done, (uint64_t)d->layers_total);
}

static void ff__stream_layer(int done, int total, void *arg) {
  (void)done;
  (void)total;
  ff__streamer *d = arg;
  d->layers_done++;
  ff__stream_boundary(d);
}

/* The test hook FUSEFSS_TEST_STREAM_TEE=DIR: a copy of each party's stream in DIR/stream_pQ.ffk with its MAC
 * key beside it (DIR/stream_pQ.ffk.mac), to compare the dealer's output with a key file. */
static ff_status ff__stream_tee(const ff__run_opts *o, int q, int *fd) {
  const char *dir = getenv("FUSEFSS_TEST_STREAM_TEE");
  *fd = -1;
  if (!dir || !*dir) return FF_OK;
  char path[4200], text[2 * FF_KEYSTREAM_MAC_KEY_BYTES + 2];
  snprintf(path, sizeof path, "%s/stream_p%d.ffk", dir, q);
  if ((*fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0) {
    FF_ERROR("FUSEFSS_TEST_STREAM_TEE: cannot create %s: %s", path, strerror(errno));
    return FF_EIO;
  }
  ff__hex(o->mac_key[q], FF_KEYSTREAM_MAC_KEY_BYTES, text);
  text[2 * FF_KEYSTREAM_MAC_KEY_BYTES] = '\n';
  snprintf(path, sizeof path, "%s/stream_p%d.ffk.mac", dir, q);
  return ff_write_file_atomic(path, text, sizeof text - 1, 0600);
}

/* The streamed dealer's process: deals the session's keys and warmup + reps (+ the overhead pairs')
 * inferences' keys into the two parties' sockets. */
static int ff__stream_dealer(void *arg) {
  const ff__run_opts *o = arg;
  ff_log_set_prefix("dealer");
  for (int q = 0; q < 2; q++) close(o->stream_fd[q][0]);
  const int n_inf = o->warmup + o->reps + 2 * o->overhead_pairs;
  ff__streamer d = {.o = o, .cap = 1 + n_inf * o->cfg->layers, .layers_total = n_inf * o->cfg->layers};
  const char *die = getenv("FUSEFSS_TEST_DEALER_DIE_AT_LAYER");
  if (die) d.die_at = atoi(die);
  ff_keystream *ks[2] = {NULL, NULL};
  int tee[2] = {-1, -1}, ctx_ok = 0;
  ff_ctx ctx;
  ff_op *op = NULL;
  ff_model_session *s = NULL;
  ff_cost_table ct;
  const uint64_t t0 = ff_now_ns();
  ff_status st = ff_model_cost(o->cfg, &o->suf, o->seq, o->batch, &ct);
  if (st) return FF_EXIT_FAIL;
  if (!(d.marks = calloc(2 * (size_t)d.cap, sizeof *d.marks))) st = FF_ENOMEM;
  int handed[2] = {0, 0}; /* the socket belongs to the feed (closed by it, even when it fails to start) */
  for (int q = 0; q < 2 && !st; q++) {
    if ((st = ff__stream_tee(o, q, &tee[q]))) break;
    handed[q] = 1;
    if ((st = ff_keyfeed_open(&d.feed[q], o->stream_fd[q][1], q, o->timeout_ns, tee[q]))) break;
    char meta[1536], name[64];
    ff__key_meta(o, &ct.weights[q], &ct.total[q], meta, sizeof meta);
    snprintf(name, sizeof name, "to party %d", q);
    ff_keystream_params kp = {.party = q, .run_id = o->run_id, .meta = meta, .dealing_id = o->dealing_id,
                              .mac_key = o->mac_key[q], .pinned = o->backend == FF_BACKEND_CUDA};
    const uint64_t size = o->stream_session[q] + (uint64_t)n_inf * o->stream_infer[q];
    st = ff_keystream_create_sink(name, &kp, size, ff_keyfeed_sink, d.feed[q], &ks[q]);
  }
  for (int q = 0; q < 2; q++)
    if (!handed[q]) close(o->stream_fd[q][1]);
  ff__dealer_heap(1);
  if (!st && !(st = ff_ctx_init(&ctx, o->backend, FF_DEALER))) ctx_ok = 1;
  if (!st && o->mask_seed) ff_rng_init_seeded(&ctx.rng, o->mask_seed);
  ff_op_params p = {.role = FF_OP_DEALER, .bw = o->cfg->bw, .scale = o->cfg->scale, .ctx = &ctx, .keys = {ks[0], ks[1]},
                    .deal_on_device = o->dealer_masks_dev};
  if (!st && !(st = ff_op_create(&op, &p)) && !(st = ff_model_session_begin(op, o->cfg, NULL, &s))) {
    ff_model_session_set_progress(s, ff__stream_layer, &d);
    ff_model_session_set_suf(s, &o->suf);
    ff__stream_boundary(&d); /* the session's keys: the first unit */
    for (int r = 0; r < n_inf && !st && !d.st; r++) st = ff_model_infer(op, s, o->seq, o->batch, NULL, NULL);
  }
  for (int q = 0; q < 2 && !st && !d.st; q++) st = ff_keystream_finish(ks[q]);
  if (!st) st = d.st;
  const double deal_s = (double)(ff_now_ns() - t0) * 1e-9;
  ff_model_session_free(s);
  ff_op_destroy(op);
  if (ctx_ok) ff_ctx_destroy(&ctx);
  uint64_t peak = 0, sent[2] = {0, 0};
  for (int q = 0; q < 2; q++) ff_keyfeed_end(d.feed[q]); /* both parties' streams end as soon as they are sent */
  for (int q = 0; q < 2; q++) {
    if (d.feed[q]) peak += ff_keyfeed_peak(d.feed[q]);
    const ff_status fs = ff_keyfeed_close(d.feed[q], &sent[q]); /* sends the rest (bounded), closes the socket */
    if (!st) st = fs;
    ff_keystream_close(ks[q], 0);
    if (tee[q] >= 0) close(tee[q]);
  }
  ff__dealer_heap(0);
  free(d.marks);
  if (st) {
    FF_ERROR("the streamed dealer failed (%s); the parties' key streams end here", ff_strerror(st));
  } else {
    char a[32], b[32], c[32];
    fprintf(stderr, "dealer: %d inference%s' keys dealt and streamed in %.3f s: %s to P0, %s to P1; at most %s queued "
                    "(window %d layer%s)\n",
            n_inf, n_inf == 1 ? "" : "s", deal_s, ff_fmt_bytes((double)sent[0], a, sizeof a),
            ff_fmt_bytes((double)sent[1], b, sizeof b), ff_fmt_bytes((double)peak, c, sizeof c), o->window,
            o->window == 1 ? "" : "s");
  }
  ff_cost_table_free(&ct);
  return st ? FF_EXIT_FAIL : FF_EXIT_OK;
}

/* In the launcher, once the dealer is forked: its ends are its own now (a party holding one would never
 * see the stream end when the dealer dies). */
static void ff__stream_dealer_started(void *arg) {
  ff__run_opts *o = arg;
  for (int q = 0; q < 2; q++) close(o->stream_fd[q][1]), o->stream_fd[q][1] = -1;
}

/* In the launcher, once both parties are forked: their ends are theirs (a dealer sending to a party that
 * died then gets EPIPE at once instead of waiting out --timeout). */
static void ff__stream_parties_started(void *arg) {
  ff__run_opts *o = arg;
  for (int q = 0; q < 2; q++) close(o->stream_fd[q][0]), o->stream_fd[q][0] = -1;
}

/* ---- Will the keys fit? ------------------------------------------------------------------------------
 * Before any work: each mode's key bytes from the cost model against free memory (MemAvailable), free disk
 * of --out and, for device placement on CUDA, free GPU memory. Keys only: the parties' activations and
 * weights, and the dealer's own memory, come on top. */

static void ff__gpu_mem(void *arg, void *out) { /* free and total bytes of the current device */
  (void)arg;
  uint64_t *r = out;
  if (ff_cuda_mem_info(&r[0], &r[1])) r[0] = UINT64_MAX;
}

/* A resource's free bytes: the test variable when set (FUSEFSS_TEST_MEM_AVAILABLE, ..._DISK_FREE,
 * ..._GPU_FREE: sizes such as 512MiB, for tests only), else the system's; UINT64_MAX when unknown. */
static uint64_t ff__free_bytes(const char *test_var, int what /* 0 memory, 1 disk, 2 GPU */, const char *out) {
  const char *v = getenv(test_var);
  uint64_t n;
  if (v && *v) {
    if (!ff_parse_size(v, &n)) return n;
    FF_WARN("%s=%s is not a whole number of bytes with a unit (e.g. 512MiB); using the system's figure", test_var, v);
  }
  if (what == 0) {
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    unsigned long long kb;
    n = UINT64_MAX;
    while (f && fgets(line, sizeof line, f))
      if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) n = (uint64_t)kb * 1024u;
    if (f) fclose(f);
    return n;
  }
  if (what == 1) {
    struct statvfs sv;
    return statvfs(out, &sv) == 0 ? (uint64_t)sv.f_bavail * sv.f_frsize : UINT64_MAX;
  }
  /* GPU: asked in a child process (ff__in_child) */
  uint64_t r[2] = {UINT64_MAX, 0};
  return ff__in_child(ff__gpu_mem, NULL, r, sizeof r) ? UINT64_MAX : r[0];
}

/* 0 when the chosen mode fits (or the check was skipped), else FF_EXIT_FAIL with a message that names a
 * mode that fits. */
static int ff__fit_check(const ff__run_opts *o) {
  if (o->no_fit_check) {
    FF_WARN("%s: --no-fit-check: not checking that the keys fit memory, disk and GPU memory (the run may fail midway)",
            o->cmd);
    return 0;
  }
  ff_cost_table ct;
  if (ff_model_cost(o->cfg, &o->suf, o->seq, o->batch, &ct)) return ff_cli_fail(o->cmd, "the cost model failed (above)");
  uint64_t k[2], unit = 0;
  for (int q = 0; q < 2; q++) {
    k[q] = ct.weights[q].key_bytes + ct.total[q].key_bytes;
    k[q] += k[q] / 8192 + 4096; /* the framing: 36 B per 1 MiB chunk, header and trailer */
  }
  /* The parties' own working set beside their keys, both on this host: the weights, W = a word per
   * parameter (as P0's weight masks are), 2 W per party (the masked weights, a tensor in the ring and
   * packed to send or received, the process itself; measured 1.8 W each with the keys on disk, llama7b,
   * 1 layer), and the activations (a generous 32 tensors of the widest row, FFN or attention scores, per
   * party); then 1/32 and 256 MiB of headroom for everything else. llama7b, 1 layer, seq 128: 7.0 GiB
   * beside 17.8 GiB of keys, which the check once left out (the parties were killed by the OOM killer
   * instead of refused). With --weights-per-layer, P0 keeps its plaintext weights whole (W: it masks them
   * again at every inference) and the 4 W are one layer's. */
  const uint64_t wwords = ff_model_param_count(o->cfg) * sizeof(uint64_t), rows = (uint64_t)o->seq * (uint64_t)o->batch;
  const uint64_t widest = (uint64_t)(o->cfg->d_ffn > o->cfg->heads * o->seq ? o->cfg->d_ffn : o->cfg->heads * o->seq);
  const uint64_t act = 2 * 32 * rows * widest * sizeof(uint64_t);
  const uint64_t wwork[2] = {wwords * 4 + act, wwords + 4 * (wwords / (uint64_t)o->cfg->layers) + act};
  uint64_t work = wwork[o->cfg->weights_per_layer != 0];
  work += (k[0] + k[1] + work) / 32 + (UINT64_C(256) << 20);
  uint64_t unit_pl; /* the unit with --weights-per-layer: a layer's keys and its weights' masks */
  {
    const uint64_t layer = (ct.total[0].key_bytes + ct.total[1].key_bytes) / (uint64_t)o->cfg->layers;
    const uint64_t first = ct.weights[0].key_bytes + ct.weights[1].key_bytes + layer;
    unit = first > layer ? first : layer;
    unit_pl = layer + (ct.weights[0].key_bytes + ct.weights[1].key_bytes) / (uint64_t)o->cfg->layers;
  }
  ff_cost_table_free(&ct);
  char out_dir[4200];
  snprintf(out_dir, sizeof out_dir, "%s", o->out);
  const uint64_t mem = ff__free_bytes("FUSEFSS_TEST_MEM_AVAILABLE", 0, out_dir);
  uint64_t disk = ff__free_bytes("FUSEFSS_TEST_DISK_FREE", 1, out_dir);
  /* key files of an earlier run in --out are overwritten: their space counts as free */
  for (int q = 0; q < 2 && disk != UINT64_MAX && !getenv("FUSEFSS_TEST_DISK_FREE"); q++) {
    struct stat sb;
    if (stat(o->key_files[q], &sb) == 0 && S_ISREG(sb.st_mode)) disk += (uint64_t)sb.st_size;
  }
  const int gpu_dev = o->backend == FF_BACKEND_CUDA && o->keys_where == FF__KEYS_DEVICE;
  const uint64_t gpu = gpu_dev ? ff__free_bytes("FUSEFSS_TEST_GPU_FREE", 2, out_dir) : UINT64_MAX;
  /* What each mode needs, both parties on this host. */
  const uint64_t both = k[0] + k[1];
  const uint64_t stream_need[2] = {unit * 2u, unit}; /* --window 2 (default), --window 1 */
  const uint64_t stream_mine = unit * (uint64_t)o->window;
  char need[160] = "", have[32], a[32];
  const char *res = NULL;
  uint64_t avail = 0, needed = 0;
  if (o->stream) {
    if (stream_mine + work > mem) res = "host memory (MemAvailable)", avail = mem, needed = stream_mine + work;
  } else {
    /* Keys in host memory: --placement host; device on the CPU backend; and device on CUDA too, whose
     * preload keeps the whole image in pinned host memory beside the device copy (tags and the few keys
     * that are read on the host come from it: gates/sigma/op.c ff__op_preload). --dealer inproc: each
     * party deals both streams but keeps only its own (the peer's is counted, never stored), then holds
     * it and the image loaded from it: counted as `both` per party, an upper bound (test_run_e2e's
     * test_inproc_dealer). */
    const uint64_t host_keys = o->inproc ? 2 * both : (o->keys_where == FF__KEYS_HOST || o->keys_where == FF__KEYS_DEVICE) ? both : 0;
    if (!o->inproc && both > disk) res = "disk space in --out", avail = disk, needed = both;
    else if (host_keys + work > mem) res = "host memory (MemAvailable)", avail = mem, needed = host_keys + work;
    else if (gpu_dev && both + work > gpu) res = "GPU memory", avail = gpu, needed = both + work;
  }
  if (!res) return 0;
  snprintf(need, sizeof need, "%s", ff_fmt_bytes((double)needed, a, sizeof a));
  ff_fmt_bytes((double)avail, have, sizeof have);
  const char *fits = NULL;
  char fit_buf[160];
  if (!o->stream && both <= disk && work <= mem && (o->keys_where != FF__KEYS_DISK || o->inproc))
    fits = "--dealer file --placement disk (key files on disk, read gate by gate)";
  else if (stream_need[0] + work <= mem && (!o->stream || o->window > 2))
    fits = "--dealer stream (keys dealt layer by layer beside the parties, window 2)";
  else if (stream_need[1] + work <= mem && (!o->stream || o->window > 1))
    fits = "--dealer stream --window 1";
  /* Not even window 1 with the whole model's masked weights: with them masked layer by layer (the keys
   * then also carry each layer's weight masks at every inference, about W / layers more per layer). */
  const uint64_t work_pl = wwork[1] + (k[0] + k[1] + wwork[1]) / 32 + (UINT64_C(256) << 20);
  if (!fits && !o->cfg->weights_per_layer && unit_pl + work_pl <= mem)
    fits = 2 * unit_pl + work_pl <= mem ? "--dealer stream --weights-per-layer"
                                        : "--dealer stream --window 1 --weights-per-layer";
  if (fits) {
    snprintf(fit_buf, sizeof fit_buf, "%s would fit", fits);
  } else {
    char l[32];
    snprintf(fit_buf, sizeof fit_buf, "no mode fits: even --dealer stream --window 1 needs about %s of memory",
             ff_fmt_bytes((double)(stream_need[1] + work), l, sizeof l));
  }
  char k0[32], k1[32];
  const char *mode = o->stream ? "--dealer stream" : o->inproc ? "--dealer inproc" : "--dealer file";
  char wk[32];
  FF_ERROR("the keys do not fit: %s with --placement %s needs %s of %s for %s (keys per party: %s (P0), %s (P1), from "
           "the cost model; weights and activations: %s), but %s is free; %s. (--no-fit-check skips this check, for "
           "experts)",
           mode, o->stream ? "stream" : ff__keys_names[o->keys_where], need, res,
           !strcmp(res, "disk space in --out") ? "both parties' keys"
           : o->stream                          ? "its window of layers and the parties' working set"
                                                : "both parties' keys and working set",
           ff_fmt_bytes((double)k[0], k0, sizeof k0), ff_fmt_bytes((double)k[1], k1, sizeof k1),
           ff_fmt_bytes((double)work, wk, sizeof wk), have, fit_buf);
  return FF_EXIT_FAIL;
}

static void ff__random_run_id(char *buf, size_t n) {
  ff_rng r;
  ff_rng_init_os(&r);
  snprintf(buf, n, "%016" PRIx64, ff_rng_u64(&r));
}

/* ---- P1's input and output (--input, --output; tools/npy.h) ---------------------------------------------- */

/* --input: the .npy file read, checked and converted to the model's fixed point before any key is read or
 * written. Its shape sets --seq and --batch when they were not given. 0, or an exit code. The range: |x| <
 * 2^(bw - 2 scale - 2), so that a product with a weight of magnitude below 2 fits the ring at 2 scale
 * fractional bits (bert-tiny: 2048; bw 50 at scale 12: 2^24). */
static int ff__load_input(ff__run_opts *o) {
  ff_npy a;
  if (ff_npy_read(o->input, 0, &a)) return ff_cli_fail(o->cmd, "cannot use --input %s (see above); nothing was run", o->input);
  const ff_model_config *c = o->cfg;
  const int three = a.ndim == 3;
  const int64_t seq = a.ndim >= 2 ? a.shape[three] : 0, batch = three ? a.shape[0] : 1;
  int rc = 0;
  if (a.ndim < 2 || a.shape[a.ndim - 1] != c->d_model) {
    char sh[96];
    int k = 0;
    for (int i = 0; i < a.ndim; i++) k += snprintf(sh + k, sizeof sh - (size_t)k, "%s%lld", i ? ", " : "", (long long)a.shape[i]);
    rc = ff_cli_fail(o->cmd, "--input %s has shape (%s); model %s takes (seq, %d) or (batch, seq, %d)", o->input, sh, c->name,
                     c->d_model, c->d_model);
  } else if (seq < 3 || seq > FF__SEQ_MAX || batch > 1024) {
    rc = ff_cli_fail(o->cmd, "--input %s has seq %lld and batch %lld; fusefss runs seq 3..%d and batch 1..1024", o->input,
                     (long long)seq, (long long)batch, FF__SEQ_MAX);
  } else if ((o->seq_set && seq != o->seq) || (o->batch_set && batch != o->batch)) {
    rc = ff_cli_usage_error(o->cmd, "--input %s is seq %lld, batch %lld, but --seq %d --batch %d were given (leave them out: "
                            "the input's shape sets them)", o->input, (long long)seq, (long long)batch, o->seq, o->batch);
  }
  if (rc) {
    ff_npy_free(&a);
    return rc;
  }
  o->seq = (int)seq;
  o->batch = (int)batch;
  o->io_ndim = a.ndim;
  const double one = ldexp(1.0, c->scale), bound = ldexp(1.0, c->bw - 2 * c->scale - 2);
  if (!(o->input_fx = malloc(a.numel * sizeof *o->input_fx))) {
    ff_npy_free(&a);
    return ff_cli_fail(o->cmd, "out of memory for --input %s", o->input);
  }
  for (size_t i = 0; i < a.numel && !rc; i++) {
    const double v = a.v[i];
    if (isfinite(v) && fabs(v) < bound) {
      o->input_fx[i] = (int64_t)llround(v * one);
      continue;
    }
    const size_t j = i % (size_t)c->d_model, t = (i / (size_t)c->d_model) % (size_t)seq, b = i / ((size_t)c->d_model * (size_t)seq);
    char at[80];
    if (three) snprintf(at, sizeof at, "(%zu, %zu, %zu)", b, t, j);
    else snprintf(at, sizeof at, "(%zu, %zu)", t, j);
    if (!isfinite(v))
      rc = ff_cli_fail(o->cmd, "--input %s: element %s is %s; the input must be finite", o->input, at, isnan(v) ? "NaN" : "infinite");
    else
      rc = ff_cli_fail(o->cmd, "--input %s: element %s = %g is beyond the fixed-point range of model %s: |x| < 2^%d = %g "
                       "(bw %d, scale %d: a product with a weight must fit the ring at 2 x scale fractional bits)",
                       o->input, at, v, c->name, c->bw - 2 * c->scale - 2, bound, c->bw, c->scale);
  }
  ff_npy_free(&a);
  if (rc) {
    free(o->input_fx);
    o->input_fx = NULL;
  }
  return rc;
}

/* --output: P1's revealed output y (batch * seq, d) at the run's scale as float32, shaped as the input
 * ((seq, d) for a 2-D input or batch 1 without one, else (batch, seq, d)). */
static ff_status ff__write_output_npy(const ff__run_opts *o, const int64_t *y, size_t n) {
  double *v = malloc(n * sizeof *v);
  if (!v) return FF_ENOMEM;
  const double one = ldexp(1.0, o->cfg->scale);
  for (size_t i = 0; i < n; i++) v[i] = (double)y[i] / one;
  const int nd = o->io_ndim ? o->io_ndim : o->batch > 1 ? 3 : 2;
  const int64_t shape3[3] = {o->batch, o->seq, o->cfg->d_model};
  const ff_status st = ff_npy_write_f32(o->output, nd, nd == 3 ? shape3 : shape3 + 1, v);
  free(v);
  return st;
}

/* ---- A party ------------------------------------------------------------------------------------------ */

/* Checks a key file against this run before anything goes online: the party, and what the keys were
 * made for (suite, model, seq, batch, bw, scale, semantics). Party 1 without a weights file or semantics
 * options takes the key file's semantics (the dealer's: it has no checkpoint config of its own). */
static ff_status ff__check_keys(ff__run_opts *o, ff_keystream *ks, int party) {
  const char *name = ff_keystream_name(ks);
  if (ff_keystream_party(ks) != party) {
    FF_ERROR("key file %s belongs to party %d, but this is party %d", name, ff_keystream_party(ks), party);
    return FF_EMISMATCH;
  }
  size_t len = 0;
  const char *meta = ff_keystream_meta(ks, &len);
  char *m = strndup(meta ? meta : "", len);
  cJSON *j = m ? cJSON_Parse(m) : NULL;
  free(m);
  const cJSON *su = cJSON_GetObjectItemCaseSensitive(j, "suite"), *mo = cJSON_GetObjectItemCaseSensitive(j, "model");
  const cJSON *sq = cJSON_GetObjectItemCaseSensitive(j, "seq"), *ba = cJSON_GetObjectItemCaseSensitive(j, "batch");
  const cJSON *bw = cJSON_GetObjectItemCaseSensitive(j, "bw"), *sc = cJSON_GetObjectItemCaseSensitive(j, "scale");
  const cJSON *ly = cJSON_GetObjectItemCaseSensitive(j, "layers");
  const cJSON *wpl = cJSON_GetObjectItemCaseSensitive(j, "weights_per_layer"); /* absent: once per session */
  const int keys_wpl = cJSON_IsNumber(wpl) && wpl->valueint == 1;
  ff_status st = FF_OK;
  if (!cJSON_IsString(su) || !cJSON_IsString(mo) || !cJSON_IsNumber(sq) || !cJSON_IsNumber(ba) || !cJSON_IsNumber(bw) ||
      !cJSON_IsNumber(sc) || !cJSON_IsNumber(ly)) {
    FF_ERROR("key file %s was not written by `fusefss keygen` (its header does not say what the keys are for)", name);
    st = FF_EFORMAT;
  } else if (strcmp(su->valuestring, o->suite) || strcmp(mo->valuestring, o->cfg->name) || sq->valueint != o->seq ||
             ba->valueint != o->batch || bw->valueint != o->cfg->bw || sc->valueint != o->cfg->scale ||
             ly->valueint != o->cfg->layers) {
    FF_ERROR("key file %s was made for suite %s, model %s (%d layers), seq %d, batch %d (bw %d, scale %d); this run is "
             "suite %s, model %s (%d layers), seq %d, batch %d (bw %d, scale %d): run `fusefss keygen` with this run's "
             "options",
             name, su->valuestring, mo->valuestring, ly->valueint, sq->valueint, ba->valueint, bw->valueint, sc->valueint,
             o->suite, o->cfg->name, o->cfg->layers, o->seq, o->batch, o->cfg->bw, o->cfg->scale);
    st = FF_EMISMATCH;
  } else if (keys_wpl != (o->cfg->weights_per_layer != 0)) {
    FF_ERROR("key file %s was made %s --weights-per-layer and this run is %s it: the weights enter at different places "
             "of the graph; run `fusefss keygen` with this run's options",
             name, o->cfg->weights_per_layer ? "without" : "with", o->cfg->weights_per_layer ? "with" : "without");
    st = FF_EMISMATCH;
  } else if (o->suf_json[0]) {
    /* The suf knobs: compared as the keygen recorded them (printed by the same code). */
    const cJSON *sf = cJSON_GetObjectItemCaseSensitive(j, "suf");
    char *was = sf ? cJSON_PrintUnformatted(sf) : NULL;
    if (!was || strcmp(was, o->suf_json)) {
      FF_ERROR("key file %s was made with the suf knobs %s; this run has %s: run `fusefss keygen` with this run's "
               "knobs",
               name, was ? was : "(none)", o->suf_json);
      st = FF_EMISMATCH;
    }
    cJSON_free(was);
  }
  if (!st) { /* semantics: key files without them were made with SIGMA's */
    const cJSON *ke = cJSON_GetObjectItemCaseSensitive(j, "norm_eps"), *kg = cJSON_GetObjectItemCaseSensitive(j, "gelu");
    const cJSON *kr = cJSON_GetObjectItemCaseSensitive(j, "rope_base");
    ff_model_semantics k = {0, 0, 0};
    if (cJSON_IsNumber(ke)) k.norm_eps = ke->valuedouble;
    if (cJSON_IsString(kg)) k.gelu_tanh = !strcmp(kg->valuestring, "tanh");
    if (cJSON_IsNumber(kr) && kr->valuedouble != 10000.0) k.rope_base = kr->valuedouble;
    const ff_model_semantics *ours = &o->cut.sem;
    if (party == 1 && !o->weights && !o->sem_sigma && o->opt_eps < 0 && o->opt_gelu < 0 && o->opt_rope < 0) {
      o->cut.sem = k;
      snprintf(o->sem_from, sizeof o->sem_from, "the key file's (the dealer's)");
    } else if (k.norm_eps != ours->norm_eps || k.gelu_tanh != ours->gelu_tanh || k.rope_base != ours->rope_base) {
      FF_ERROR("key file %s was made with norm eps %g, %s GELU, rope base %g; this run has norm eps %g, %s GELU, rope "
               "base %g (%s): give the dealer and both parties the same semantics options or weights config",
               name, k.norm_eps, k.gelu_tanh ? "tanh" : "erf", k.rope_base ? k.rope_base : 10000.0, ours->norm_eps,
               ours->gelu_tanh ? "tanh" : "erf", ff_model_rope_base(o->cfg), o->sem_from);
      st = FF_EMISMATCH;
    }
  }
  cJSON_Delete(j);
  return st;
}

/* Reads and discards n key bytes (each chunk's CRC and MAC are checked as it loads), 64 MiB a read so
 * that the reader checks a batch of chunks over the CPUs (core/keystream.c); 1 MiB reads when 64 MiB
 * cannot be had. */
static ff_status ff__skip(ff_keystream *ks, uint64_t n) {
  static uint8_t small[1 << 20];
  size_t cap = (size_t)64 << 20;
  uint8_t *buf = n > sizeof small ? malloc(cap) : NULL;
  if (!buf) buf = small, cap = sizeof small;
  ff_status st = FF_OK;
  while (n && !st) {
    const size_t k = n < cap ? (size_t)n : cap;
    st = ff_keystream_read(ks, buf, k);
    n -= k;
  }
  if (buf != small) free(buf);
  return st;
}

/* Reads a key file through once (every chunk's CRC and MAC) and rewinds it, before the party connects: a
 * corrupted or tampered chunk is then refused before any online work, whatever the key placement. The
 * same descriptor serves the online phase (never reopened by path), and each chunk is checked again as
 * it is read there, so bytes changed on disk in between are refused too. */
static ff_status ff__verify_file(ff_keystream *ks) {
  ff_status st = ff__skip(ks, ff_keystream_remaining(ks));
  return st ? st : ff_keystream_rewind(ks);
}

/* Right after connecting, before any key byte is used and before the profile is attached (so nothing
 * of it is charged to a scope: `fusefss cost` still equals the run in every scope): both parties show
 * each other their dealing id and repetition counts. Different dealings that share a run id would
 * otherwise compute garbage and exit 0; different --reps would end as "peer closed" mid-run. The magic
 * names the layout: "FFR2" added --overhead-pairs to "FFRN"'s reps and warmup, so a party of the older
 * layout says the peer is not of its version instead of misreading the extra bytes. */
#define FF__HELLO_MAGIC "FFR2"
static ff_status ff__session_hello(ff_chan *ch, const ff__run_opts *o, const uint8_t *dealing_id) {
  enum { HELLO = 4 + FF_KEYSTREAM_ID_BYTES + 12 };
  uint8_t mine[HELLO], peer[HELLO];
  memcpy(mine, FF__HELLO_MAGIC, 4);
  memcpy(mine + 4, dealing_id, FF_KEYSTREAM_ID_BYTES);
  for (int i = 0; i < 4; i++) {
    mine[4 + FF_KEYSTREAM_ID_BYTES + i] = (uint8_t)((uint32_t)o->reps >> (8 * i));
    mine[8 + FF_KEYSTREAM_ID_BYTES + i] = (uint8_t)((uint32_t)o->warmup >> (8 * i));
    mine[12 + FF_KEYSTREAM_ID_BYTES + i] = (uint8_t)((uint32_t)o->overhead_pairs >> (8 * i));
  }
  ff_status st = ff_chan_exchange(ch, mine, peer, HELLO);
  if (st) return st;
  if (memcmp(peer, FF__HELLO_MAGIC, 4)) {
    FF_ERROR("the peer at %s did not send the session hello: it is not a fusefss party of this version",
             ff_chan_peer(ch));
    return FF_EPROTO;
  }
  if (memcmp(peer + 4, dealing_id, FF_KEYSTREAM_ID_BYTES)) {
    char a[2 * FF_KEYSTREAM_ID_BYTES + 1], b[2 * FF_KEYSTREAM_ID_BYTES + 1];
    ff__hex(dealing_id, FF_KEYSTREAM_ID_BYTES, a);
    ff__hex(peer + 4, FF_KEYSTREAM_ID_BYTES, b);
    FF_ERROR("the two parties' keys come from different dealings (dealing %s here, %s at the peer %s), even if "
             "their run ids agree: give both parties the two key files of one `fusefss keygen`",
             a, b, ff_chan_peer(ch));
    return FF_EMISMATCH;
  }
  uint32_t reps = 0, warmup = 0, pairs = 0;
  for (int i = 3; i >= 0; i--) {
    reps = reps << 8 | peer[4 + FF_KEYSTREAM_ID_BYTES + i];
    warmup = warmup << 8 | peer[8 + FF_KEYSTREAM_ID_BYTES + i];
    pairs = pairs << 8 | peer[12 + FF_KEYSTREAM_ID_BYTES + i];
  }
  if (reps != (uint32_t)o->reps || warmup != (uint32_t)o->warmup || pairs != (uint32_t)o->overhead_pairs) {
    FF_ERROR("the parties disagree on the repetitions: this party runs --reps %d --warmup %d --overhead-pairs %d, "
             "the peer at %s --reps %u --warmup %u --overhead-pairs %u; start both with the same values",
             o->reps, o->warmup, o->overhead_pairs, ff_chan_peer(ch), reps, warmup, pairs);
    return FF_EMISMATCH;
  }
  return ff_chan_barrier(ch); /* leaves the channel's round state as on a fresh channel */
}


static ff_status ff__write_output(const char *dir, const int64_t *y, size_t n) {
  char path[4096];
  snprintf(path, sizeof path, "%s/output_p1.bin", dir);
  return ff_write_file_atomic(path, y, n * sizeof *y, 0644);
}

/* Peak memory of this party process, in its log: the resident set's high-water mark (getrusage; a forked
 * party starts from what it shared at the fork) and, on CUDA, the most the stream-ordered device pool has
 * held (keys preloaded to the device, wires, scratch; not the CUDA context's own memory, nor the few
 * cudaMalloc'd staging buffers). */
static void ff__memory_meta(ff_prof *p, const ff_ctx *ctx) {
  struct rusage ru;
  if (!getrusage(RUSAGE_SELF, &ru)) ff_prof_meta_int(p, "memory.peak_host_B", (int64_t)ru.ru_maxrss * 1024);
  if (ctx->backend == FF_BACKEND_CUDA) {
    ff_alloc_stats a;
    ff_alloc_stats_get(&a);
    ff_prof_meta_int(p, "memory.peak_device_pool_B", (int64_t)a.pool_peak_B);
  }
}

static ff_status ff__prof_meta(ff_prof *p, const ff__run_opts *o, const ff_ctx *ctx, ff_chan *ch) {
  char dev[256] = "";
  if (ctx->backend == FF_BACKEND_CUDA) ff_cuda_device_name(dev, sizeof dev);
  else ff_cpu_name(dev, sizeof dev);
  int64_t off_ns = 0, err_ns = 0;
  ff_chan_clock_offset(ch, &off_ns, &err_ns);
  ff_status st;
  if ((st = ff_prof_meta_str(p, "tool", "run")) || (st = ff_prof_meta_str(p, "backend", ff_backend_name(ctx->backend))) ||
      (st = ff_prof_meta_str(p, "device", dev)) ||
      (ctx->backend == FF_BACKEND_CUDA && (st = ff_prof_meta_int(p, "device.ordinal", ff_cuda_current_device()))) ||
      (st = ff_prof_meta_str(p, "timing.mode", "wall")) ||
      (st = ff_prof_meta_int(p, "timing.warmup", o->warmup)) || (st = ff_prof_meta_int(p, "timing.reps", o->reps)) ||
      (st = ff_prof_meta_int(p, "clock.peer_offset_ns", off_ns)) || (st = ff_prof_meta_int(p, "clock.offset_err_ns", err_ns)) ||
      (st = ff_prof_meta_str(p, "net.transport", ff_chan_transport(ch))) || (st = ff_prof_meta_str(p, "net.peer", ff_chan_peer(ch))) ||
      (st = ff_prof_meta_str(p, "workload.suite", o->suite)) ||
      (o->suf_json[0] && (st = ff_prof_meta_str(p, "workload.suf", o->suf_json))) ||
      (o->insecure_no_padding &&
       (st = ff_prof_meta_str(p, "workload.insecure", "no-padding: the sparse keys' shape depends on the masks (ablation)"))) ||
      (st = ff_prof_meta_str(p, "workload.model", o->cfg->name)) ||
      (st = ff_prof_meta_int(p, "workload.seq", o->seq)) || (st = ff_prof_meta_int(p, "workload.batch", o->batch)) ||
      (st = ff_prof_meta_int(p, "workload.bw", o->cfg->bw)) || (st = ff_prof_meta_int(p, "workload.scale", o->cfg->scale)) ||
      (st = ff_prof_meta_bool(p, "workload.weights_per_layer", o->cfg->weights_per_layer != 0)) ||
      (ctx->backend == FF_BACKEND_CUDA &&
       (st = ff_prof_meta_str(p, "device.share", o->mps                    ? "mps"
                                                 : o->party >= 0            ? "as the host set it"
                                                 : o->gpu[0] != o->gpu[1]   ? "none (a GPU per party)"
                                                                            : "timeslice"))) ||
      (st = ff_prof_meta_num(p, "workload.norm_eps", o->cfg->sem.norm_eps)) ||
      (st = ff_prof_meta_str(p, "workload.gelu", o->cfg->sem.gelu_tanh ? "tanh" : "erf")) ||
      (st = ff_prof_meta_num(p, "workload.rope_base", ff_model_rope_base(o->cfg))) ||
      (st = ff_prof_meta_str(p, "semantics.from", o->sem_from)) ||
      (ctx->party == 1 && (st = ff_prof_meta_str(p, "io.input", o->input ? o->input : "seeded (--input-seed)"))) ||
      (st = ff_prof_meta_str(p, "keys.placement", o->stream ? "stream" : ff__keys_names[o->keys_where])) ||
      (o->stream && (st = ff_prof_meta_int(p, "keys.window", o->window))) ||
      (st = ff_prof_meta_str(p, "keys.dealer", o->stream ? "stream" : o->inproc ? "in-process (benchmark mode: each party made all keys itself)"
                                                          : "trusted dealer (key files)")) ||
      (st = ff_prof_meta_bool(p, "keys.reused_across_reps", !o->stream && o->reps + o->warmup + 2 * o->overhead_pairs > 1)) ||
      (st = ff_prof_meta_int(p, "timing.overhead_pairs", o->overhead_pairs)))
    return st;
  return FF_OK;
}

typedef struct {
  ff__run_opts *o;
} ff__party_arg;

/* --overhead-pairs, into the party's log (run.overhead): the pairs, the medians of the inferences with
 * scopes on and off, the median over the pairs of (on - off), also as a percentage of the off median, and
 * the p25 and p75 of those differences (how far the pairs agree: when they straddle 0 the run did not
 * resolve the overhead). walls: (pairs, 2) ns, [.][1] with scopes on. */
static ff_status ff__overhead_meta(ff_prof *p, const uint64_t *walls, int pairs) {
  double *v = malloc(3 * (size_t)pairs * sizeof *v);
  if (!v) return FF_ENOMEM;
  double *on = v, *off = v + pairs, *diff = v + 2 * pairs;
  for (int i = 0; i < pairs; i++) {
    on[i] = (double)walls[2 * i + 1];
    off[i] = (double)walls[2 * i];
    diff[i] = on[i] - off[i];
  }
  const double m_on = ff_stats_median(on, (size_t)pairs), m_off = ff_stats_median(off, (size_t)pairs);
  ff_stats d; /* of the differences */
  ff_status st = ff_stats_compute(diff, (size_t)pairs, &d);
  free(v);
  if (st) return st;
  if ((st = ff_prof_meta_int(p, "overhead.pairs", pairs)) || (st = ff_prof_meta_num(p, "overhead.on_ns", m_on)) ||
      (st = ff_prof_meta_num(p, "overhead.off_ns", m_off)) ||
      (st = ff_prof_meta_num(p, "overhead.diff_ns", d.median)) ||
      (st = ff_prof_meta_num(p, "overhead.diff_p25_ns", d.p25)) ||
      (st = ff_prof_meta_num(p, "overhead.diff_p75_ns", d.p75)))
    return st;
  return ff_prof_meta_num(p, "overhead.diff_pct", m_off > 0 ? 100.0 * d.median / m_off : 0);
}

static int ff__party_main(const ff_tcp_opts *tcp_in, void *arg) {
  ff__run_opts *o = ((ff__party_arg *)arg)->o;
  const int party = tcp_in->party;
  ff_log_set_prefix(party ? "P1" : "P0");
  ff_keystream *ks = NULL, *mem[2] = {NULL, NULL};
  ff_chan *ch = NULL;
  ff_prof *p = NULL;
  ff_op *op = NULL;
  ff_model_session *s = NULL;
  ff_model_weights w = {0};
  int64_t *x = NULL, *y = NULL;
  uint64_t *ab = NULL; /* --overhead-pairs: the walls of (pair, scopes on) */
  int ctx_ok = 0, rc = FF_EXIT_FAIL;
  ff_ctx ctx;
  ff__deal_time keygen = {0, 0, NULL};
  ff_status st = FF_OK;
  char run_id[64];

  /* 0. This party's GPU (--gpu0/--gpu1), before any CUDA work of the process (the in-process dealer's too). */
  if (o->backend == FF_BACKEND_CUDA && o->gpu[party] >= 0 && (st = ff_cuda_use_device(o->gpu[party]))) goto done;

  /* 1. Keys, checked before anything goes online. */
  if (o->inproc) {
    ff_cost_table ct;
    if ((st = ff_model_cost(o->cfg, &o->suf, o->seq, o->batch, &ct))) goto done;
    for (int q = 0; q < 2 && !st; q++) {
      char meta[1536];
      ff__key_meta(o, &ct.weights[q], &ct.total[q], meta, sizeof meta);
      ff_keystream_params kp = {.party = q, .run_id = tcp_in->run_id, .meta = meta, .dealing_id = o->dealing_id};
      /* The peer's keys are dealt only to keep the dealer's sequence: counted, never kept. */
      st = q == party ? ff_keystream_create_mem(&kp, &mem[q]) : ff_keystream_create_null(&kp, &mem[q]);
    }
    ff_cost_table_free(&ct);
    const void *img;
    size_t img_n;
    if (st || (st = ff__deal(o, mem, &keygen))) goto done;
    ff_keystream_close(mem[1 - party], 0);
    mem[1 - party] = NULL;
    if ((st = ff_keystream_mem_image(mem[party], &img, &img_n)) || (st = ff_keystream_open_mem(img, img_n, &ks)))
      goto done;
  } else if (o->stream) {
    /* Live from the dealer's process: the other party's end is not ours (it must see its stream end). */
    close(o->stream_fd[1 - party][0]);
    char name[64];
    snprintf(name, sizeof name, "from the dealer (party %d)", party);
    if ((st = ff_keystream_open_fd_mac(o->stream_fd[party][0], name, o->mac_key[party], o->timeout_ns, &ks))) goto done;
  } else if ((st = ff_keystream_open_file_mac(o->key_files[party], o->mac_key[party], &ks))) {
    goto done;
  }
  if ((st = ff__check_keys(o, ks, party))) goto done;
  if (!o->inproc && !o->stream && (st = ff__verify_file(ks))) goto done; /* a stream: chunk by chunk, as read */
  snprintf(run_id, sizeof run_id, "%s", ff_keystream_run_id(ks));
  if (party == 0) {
    if (o->weights) st = ff_model_weights_load(o->cfg, o->weights, &w);
    else st = ff_model_weights_random(o->cfg, o->weights_seed, &w);
  } else if (o->input_fx) {
    const size_t n = (size_t)o->seq * (size_t)o->batch * (size_t)o->cfg->d_model;
    if ((x = malloc(n * sizeof *x))) memcpy(x, o->input_fx, n * sizeof *x);
    else st = FF_ENOMEM;
  } else {
    st = ff_model_input_random(o->cfg, o->seq, o->batch, o->input_seed, &x);
  }
  const size_t n_out = (size_t)o->seq * (size_t)o->batch * (size_t)o->cfg->d_model;
  if (st || (party == 1 && !(y = malloc(n_out * sizeof *y)))) goto done;

  /* 2. The channel (both key files must come from one keygen: party 1 refuses another run id). */
  ff_tcp_opts tcp = *tcp_in;
  tcp.run_id = run_id;
  tcp.io_timeout_ms = (int)(o->timeout_ns / 1000000u);
  tcp.connect_timeout_ms = (int)(o->timeout_ns / 1000000u);
  if ((st = ff_chan_tcp_open(&ch, &tcp))) goto done;
  if ((st = ff__session_hello(ch, o, ff_keystream_dealing_id(ks)))) goto done;
  if ((st = ff_ctx_init(&ctx, o->backend, party))) goto done;
  ctx_ok = 1;
  ctx.chan = ch;
  ff_prof_opts po = {.party = party, .run_id = ff_chan_run_id(ch), .trace = o->trace, .trace_depth = o->trace_depth};
  if ((st = ff_prof_create(&p, &po)) || (st = ff__prof_meta(p, o, &ctx, ch)) ||
      (st = ff_prof_thread_attach(p, party ? "P1 main" : "P0 main", ctx.stream)))
    goto done;
  ctx.prof = p;

  /* 3. Session: keys into place, P0's weights masked once. */
  const ff_op_key_placement pl = o->stream ? FF_KEYS_STREAM
                                 : o->keys_where == FF__KEYS_DEVICE ? FF_KEYS_PRELOAD
                                 : o->keys_where == FF__KEYS_HOST ? FF_KEYS_HOST
                                                                  : FF_KEYS_STREAM;
  ff_op_params opp = {.role = FF_OP_PARTY, .bw = o->cfg->bw, .scale = o->cfg->scale, .ctx = &ctx, .key_placement = pl};
  opp.keys[party] = ks;
  if ((st = ff_op_create(&op, &opp))) goto done;
  uint64_t t0 = ff_now_ns();
  if ((st = ff_op_preload_keys(op))) goto done;
  const double load_s = (double)(ff_now_ns() - t0) * 1e-9;
  if ((st = ff_chan_barrier(ch))) goto done;
  t0 = ff_now_ns();
  if ((st = ff_model_session_begin_take(op, o->cfg, party == 0 ? &w : NULL, &s))) goto done;
  ff_model_session_set_suf(s, &o->suf);
  if (ctx.stream && (st = ff_cuda_stream_sync(ctx.stream))) goto done;
  const double weights_s = (double)(ff_now_ns() - t0) * 1e-9;
  const ff_gate_cost wc = ff_op_cost(op, party);
  const uint64_t cursor = ff_op_key_cursor(op);
  const uint64_t stream_left = ff_keystream_remaining(ks), stream_size = ff_keystream_size(ks);
  ff_prof_meta_num(p, "session.keygen_s", keygen.total_s);
  ff_prof_meta_num(p, "session.key_load_s", load_s);
  ff_prof_meta_num(p, "session.weights_s", weights_s);
  ff_prof_meta_int(p, "session.weights_sent_B", (int64_t)wc.bytes_sent);
  ff_prof_meta_int(p, "session.weights_key_B", (int64_t)wc.key_bytes);
  ff_prof_meta_int(p, "keys.stream_B", (int64_t)stream_size);
  {
    /* Test hook (tests/test_stream_e2e.c): this party stops reading its key stream, as a party that falls
     * behind for good; the dealer and the other party must fail within --timeout, the launcher kill it. */
    const char *stall = getenv("FUSEFSS_TEST_STREAM_STALL");
    if (o->stream && stall && atoi(stall) == party) {
      FF_WARN("FUSEFSS_TEST_STREAM_STALL=%d: party %d stops reading its keys (a test of stuck parties)", party, party);
      for (;;) pause();
    }
  }

  /* 4. Inferences: each repetition serves the same key bytes again (the image from the cursor, or the
   * file rewound, through the descriptor opened once, past the session's keys). --overhead-pairs: after
   * the counted ones, pairs of uncounted ones with scopes off and on (off, on, on, off, ...: a drift
   * over the pairs cancels), each bracketed as a repetition so that an "on" one pays exactly what a
   * counted one does (scopes, CUDA spans); the recorder's wall of each, per pair. */
  const int counted_end = o->warmup + o->reps, total = counted_end + 2 * o->overhead_pairs;
  const int scopes_on = ff_scope_enabled();
  if (o->overhead_pairs && !(ab = calloc(2 * (size_t)o->overhead_pairs, sizeof *ab))) {
    st = FF_ENOMEM;
    goto done;
  }
  ff_gate_cost before = ff_op_cost(op, party), inf = {0};
  for (int r = 0; r < total; r++) {
    if (r > 0 && pl != FF_KEYS_STREAM && (st = ff_op_rewind_keys(op, cursor))) goto done;
    if (r > 0 && pl == FF_KEYS_STREAM && !o->stream) { /* --dealer stream: the next keys are dealt anew */
      if ((st = ff_op_check_consumed(op))) goto done;
      ff_op_destroy(op);
      op = NULL;
      if ((st = ff_keystream_rewind(ks)) || (st = ff__skip(ks, stream_size - stream_left))) goto done;
      if ((st = ff_op_create(&op, &opp))) goto done;
      before = ff_op_cost(op, party);
    }
    if ((st = ff_chan_barrier(ch))) goto done;
    if (r == o->warmup) ff_prof_capture_start();
    const int k = r - counted_end, on = k < 0 ? scopes_on : (k % 4 == 1 || k % 4 == 2);
    if (k == 0) ff_prof_capture_stop();
    ff_scope_set_enabled(on);
    if ((st = ff_prof_rep_begin(p, r < o->warmup || k >= 0))) {
      ff_scope_set_enabled(scopes_on);
      goto done;
    }
    st = ff_model_infer(op, s, o->seq, o->batch, x, y);
    if (!st && ctx.stream) st = ff_cuda_stream_sync(ctx.stream);
    ff_status st2 = ff_prof_rep_end(p);
    ff_scope_set_enabled(scopes_on);
    if (st || (st = st2)) goto done;
    if (k >= 0) ab[2 * (size_t)(k / 2) + (size_t)on] = ff_prof_rep_get(p, ff_prof_rep_count(p) - 1)->wall_ns;
    const ff_gate_cost after = ff_op_cost(op, party);
    inf.key_bytes = after.key_bytes - before.key_bytes;
    before = after;
    if (party == 1) ff_cli_progress("run", (uint64_t)r + 1, (uint64_t)total);
  }
  if (!o->overhead_pairs) ff_prof_capture_stop();
  if ((st = ff_op_check_consumed(op))) goto done;
  if (o->overhead_pairs && (st = ff__overhead_meta(p, ab, o->overhead_pairs))) goto done;
  ff_prof_meta_int(p, "keys.inference_key_B", (int64_t)inf.key_bytes);
  ff__memory_meta(p, &ctx);
  if ((st = ff_chan_barrier(ch)) || (st = ff__mkdir(o->out)) || (st = ff_prof_write(p, o->out, NULL, NULL, 0))) goto done;
  /* The raw fixed-point output: always in the local pipeline (its verification reads it; removed after
   * unless --keep-raw when --output is given), in the party role unless --output replaces it. */
  if (party == 1 && (!o->output || o->keep_raw || o->party < 0) && (st = ff__write_output(o->out, y, n_out))) goto done;
  if (party == 1 && o->output && (st = ff__write_output_npy(o, y, n_out))) goto done;
  rc = FF_EXIT_OK;
done:
  if (st) FF_ERROR("party %d: %s", party, ff_strerror(st));
  ff_model_session_free(s);
  ff_op_destroy(op);
  ff_prof_destroy(p);
  if (ctx_ok) ff_ctx_destroy(&ctx);
  ff_chan_close(ch);
  ff_keystream_close(ks, 0);
  for (int q = 0; q < 2; q++) ff_keystream_close(mem[q], 0);
  ff_model_weights_free(&w);
  free(x);
  free(y);
  free(ab);
  return rc;
}

/* ---- The local pipeline's report ---------------------------------------------------------------------- */

static double ff__median_total(const ff_breakdown *bd, int row, ff_metric m) {
  ff_stats s;
  return ff_breakdown_stats(bd, row, 0, m, &s) ? 0 : s.median;
}

/* --dealer inproc: the keygen each party ran in memory before going online (its log's session.keygen_s),
 * or NAN where not recorded. */
static double ff__inproc_keygen_s(const ff_breakdown *bd, int q) {
  const cJSON *se = bd->runs[q] ? cJSON_GetObjectItemCaseSensitive(bd->runs[q], "session") : NULL;
  const cJSON *v = se ? cJSON_GetObjectItemCaseSensitive(se, "keygen_s") : NULL;
  return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* A number of party q's run.overhead (--overhead-pairs), or NaN. */
static double ff__overhead_num(const ff_breakdown *bd, int q, const char *key) {
  const cJSON *ov = bd->runs[q] ? cJSON_GetObjectItemCaseSensitive(bd->runs[q], "overhead") : NULL;
  const cJSON *v = ov ? cJSON_GetObjectItemCaseSensitive(ov, key) : NULL;
  return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* --overhead-pairs: each party's medians, the median paired difference and the spread of the differences,
 * one line; then a warning when the differences straddle 0 (the run did not resolve the overhead). */
static void ff__print_overhead(const ff_breakdown *bd, const ff__run_opts *o) {
  if (!o->overhead_pairs) return;
  printf("scope overhead (--overhead-pairs %d: uncounted inferences with scopes off and on, alternating; medians):",
         o->overhead_pairs);
  int straddle = 0;
  for (int q = 0; q < 2; q++) {
    const double on = ff__overhead_num(bd, q, "on_ns"), off = ff__overhead_num(bd, q, "off_ns"),
                 diff = ff__overhead_num(bd, q, "diff_ns"), pct = ff__overhead_num(bd, q, "diff_pct"),
                 p25 = ff__overhead_num(bd, q, "diff_p25_ns"), p75 = ff__overhead_num(bd, q, "diff_p75_ns");
    char a[32], b[32], c[32], d[32], e[32];
    if (isnan(on) || isnan(off) || isnan(diff) || isnan(pct) || isnan(p25) || isnan(p75)) {
      printf("%s P%d not recorded", q ? ";" : "", q);
      continue;
    }
    printf("%s P%d on %s, off %s, on - off per pair %s (%+.2f %%; p25-p75 of the pairs %s to %s)", q ? ";" : "", q,
           ff_fmt_ns(on, a, sizeof a), ff_fmt_ns(off, b, sizeof b), ff_fmt_ns_signed(diff, c, sizeof c), pct,
           ff_fmt_ns_signed(p25, d, sizeof d), ff_fmt_ns_signed(p75, e, sizeof e));
    straddle |= p25 < 0 && p75 > 0;
  }
  printf("\n");
  if (straddle)
    printf("  not resolved: the middle half of the pairs' differences straddles 0, so %d pairs cannot tell the\n"
           "  scopes' cost from the run's drift; run more pairs\n",
           o->overhead_pairs);
}

/* The last counted repetition (the uncounted ones of --overhead-pairs come after it). */
static size_t ff__last_counted(const ff_breakdown *bd) {
  size_t i = bd->n_reps;
  while (i > 0 && bd->reps[i - 1].warmup) i--;
  return i ? i - 1 : 0;
}

/* Every cost-model row's inclusive link bytes and rounds against the merged run's (the last counted
 * repetition; they are the same in every repetition). Returns the number of differences. */
static int ff__check_costs(const ff_cost_table *ct, const ff_breakdown *bd, FILE *f) {
  int bad = 0, checked = 0;
  const size_t rep = ff__last_counted(bd);
  for (size_t i = 0; i < ct->n; i++) {
    /* every prefix of the row's path is a scope the run has too */
    char path[1024];
    snprintf(path, sizeof path, "%s", ct->rows[i].path);
    for (;;) {
      ff_gate_cost c[2];
      ff_cost_inclusive(ct, path, c);
      const int node = path[0] ? ff_breakdown_find(bd, path) : FF_BD_TOTAL;
      const ff_metrics *m = node == -1 ? NULL : ff_breakdown_rep_row(bd, rep, node, 0);
      const double link = (double)(c[0].bytes_sent + c[1].bytes_sent), rounds = (double)ff__max_rounds(c);
      if (!m) {
        fprintf(f, "  cost model: scope %s is not in the run\n", path);
        bad++;
      } else if (m->v[FF_M_LINK] != link || m->v[FF_M_ROUNDS] != rounds) {
        fprintf(f, "  cost model: %s: link %.0f B, %.0f rounds; run measured %.0f B, %.0f rounds\n", path, link, rounds,
                m->v[FF_M_LINK], m->v[FF_M_ROUNDS]);
        bad++;
      }
      checked++;
      char *slash = strrchr(path, '/');
      if (!slash) break;
      *slash = '\0';
    }
  }
  return bad || !checked;
}

static int ff__verify(const ff__run_opts *o, FILE *f, int *exact_out, double *err_out) {
  ff_model_weights w = {0};
  int64_t *x = NULL, *y = NULL, *ref = NULL;
  double *xf = NULL, *yf = NULL;
  const size_t n = (size_t)o->seq * (size_t)o->batch * (size_t)o->cfg->d_model;
  ff_status st = o->weights ? ff_model_weights_load(o->cfg, o->weights, &w) : ff_model_weights_random(o->cfg, o->weights_seed, &w);
  if (!st && o->input_fx) {
    if ((x = malloc(n * sizeof *x))) memcpy(x, o->input_fx, n * sizeof *x);
    else st = FF_ENOMEM;
  } else if (!st) {
    st = ff_model_input_random(o->cfg, o->seq, o->batch, o->input_seed, &x);
  }
  if (!st && (!(y = malloc(n * sizeof *y)) || !(ref = malloc(n * sizeof *ref)) || !(xf = malloc(n * sizeof *xf)) ||
              !(yf = malloc(n * sizeof *yf))))
    st = FF_ENOMEM;
  char path[4096];
  snprintf(path, sizeof path, "%s/output_p1.bin", o->out);
  FILE *in = st ? NULL : fopen(path, "rb");
  if (!st && (!in || fread(y, sizeof *y, n, in) != n)) {
    FF_ERROR("cannot read P1's output %s", path);
    st = FF_EIO;
  }
  if (in) fclose(in);
  if (!st) st = ff_model_emulate_suf(o->cfg, &o->suf, &w, o->seq, o->batch, x, ref);
  const double one = ldexp(1.0, o->cfg->scale);
  for (size_t i = 0; !st && i < n; i++) xf[i] = (double)x[i] / one;
  if (!st) st = ff_model_float(o->cfg, &w, o->seq, o->batch, xf, yf);
  size_t diff = 0;
  double err = 0, ref_err = 0, sum_err = 0, e2 = 0, f2 = 0, s2 = 0, sf = 0;
  for (size_t i = 0; !st && i < n; i++) {
    diff += y[i] != ref[i];
    const double ys = (double)y[i] / one, e = fabs(ys - yf[i]), re = fabs((double)ref[i] / one - yf[i]);
    err = e > err ? e : err;
    ref_err = re > ref_err ? re : ref_err;
    sum_err += e;
    e2 += e * e;
    f2 += yf[i] * yf[i];
    s2 += ys * ys;
    sf += ys * yf[i];
  }
  if (!st) {
    fprintf(f, "verification: P1's output %s the fixed-point emulation (%zu of %zu values differ); "
               "max |secure - float| = %.4g, max |emulation - float| = %.4g\n",
            diff ? "DIFFERS FROM" : "equals", diff, n, err, ref_err);
    /* Against the float reference (the same fixed-point weights and input, real functions in double). */
    fprintf(f, "against the float reference: max abs error %.4g, mean abs error %.4g, relative L2 %.4g, cosine %.6f "
               "(semantics: norm eps %g, %s GELU, rope base %g; %s)\n",
            err, sum_err / (double)n, f2 > 0 ? sqrt(e2 / f2) : 0.0, s2 > 0 && f2 > 0 ? sf / sqrt(s2 * f2) : 0.0,
            o->cfg->sem.norm_eps, o->cfg->sem.gelu_tanh ? "tanh" : "erf", ff_model_rope_base(o->cfg), o->sem_from);
  }
  *exact_out = !st && !diff;
  *err_out = err;
  ff_model_weights_free(&w);
  free(x);
  free(y);
  free(ref);
  free(xf);
  free(yf);
  return st ? -1 : 0;
}

/* ---- Commands -------------------------------------------------------------------------------------- */

enum { O_WINDOW = 600, O_NOFIT, O_GPU0, O_GPU1, O_GPU }; /* run's: the streamed dealer, the fit check, GPUs */

static int ff__parse_placement(ff__run_opts *o, const char *arg) {
  for (int i = 0; i < 3; i++)
    if (!strcmp(arg, ff__keys_names[i])) {
      o->keys_where = (ff__keys_where)i;
      return 0;
    }
  return ff_cli_usage_error(o->cmd, "--placement must be device, host or disk, not '%s'", arg);
}

static void ff__default_key_files(ff__run_opts *o) {
  for (int q = 0; q < 2; q++)
    if (!o->key_files[q]) {
      snprintf(o->key_buf[q], sizeof o->key_buf[q], "%s/keys_p%d.ffk", o->out, q);
      o->key_files[q] = o->key_buf[q];
    }
}

static void ff__keygen_usage(FILE *f) {
  fprintf(f,
          "usage: fusefss keygen [options]\n"
          "\n"
          "The trusted dealer: runs the model graph once and writes one key file per party (header with\n"
          "magic, version, party, run id, a fresh random dealing id and what the keys are for; CRC32C and an\n"
          "HMAC-SHA-256 tag per chunk) and, beside each, its MAC key file KEYFILE.mac (mode 0600: send it to\n"
          "its party apart from the key file). Party 0's file also holds the masks of its weights.\n"
          "\n"
          "%s"
          "keygen:\n"
          "  --backend cpu|cuda   where the dealer makes the tree keys (DPF, DCF, LUT; default: cuda when a\n"
          "                       GPU is visible); masks, shares and writing stay on the host (but see\n"
          "                       --dealer-masks). Both give the same key files for the same --mask-seed\n"
          FF__DEALER_MASKS_HELP
          "  --keys-p0 FILE       party 0's key file (default OUT/keys_p0.ffk)\n"
          "  --keys-p1 FILE       party 1's key file (default OUT/keys_p1.ffk)\n"
          "  --fsync              flush each key file to disk (fsync) before reporting, so that keygen's time\n"
          "                       compares with the disk's own rate (dd ... conv=fdatasync); default: the OS's\n"
          "                       page cache takes the writes and the disk gets them later\n"
          "\n"
          "  --profile            also record the dealer's own scopes (one per gate, FSS::DPF / FSS::LUT for the\n"
          "                       tree keygens, KeyTransfer for writing keys) and print its time by scope name,\n"
          "                       exclusive, with the CUDA time of its GPU stream (every scope's, unless\n"
          "                       FF_PROFILE_CUDA=off; docs/profiling.md)\n"
          "\n"
          "It prints where its time went: dealing (the graph: masks, keys, shares) and writing the key files\n"
          "(copies, CRC32C, MACs, writes into the OS, and with --fsync the flush).\n"
          "\n"
          "Exit status: 0 ok, 1 failure, 2 usage error.\n",
          ff__common_help);
}

enum { O_KEYS_P0 = 400, O_KEYS_P1, O_KEYS_FSYNC, O_KEYS_PROFILE };

int ff_cmd_keygen(int argc, char **argv) {
  ff__run_opts o;
  ff__opts_init(&o, "keygen");
  static const struct option opts[] = {FF__COMMON_LONGOPTS, {"keys-p0", required_argument, NULL, O_KEYS_P0},
                                       {"keys-p1", required_argument, NULL, O_KEYS_P1},
                                       {"backend", required_argument, NULL, O_BACKEND},
                                       {"fsync", no_argument, NULL, O_KEYS_FSYNC},
                                       {"dealer-masks", required_argument, NULL, O_DEALER_MASKS},
                                       {"profile", no_argument, NULL, O_KEYS_PROFILE}, {NULL, 0, NULL, 0}};
  int c, backend_set = 0;
  optind = 1;
  while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
    if (c == 'h') return ff__keygen_usage(stdout), FF_EXIT_OK;
    if (c == O_KEYS_P0 || c == O_KEYS_P1) {
      o.key_files[c - O_KEYS_P0] = optarg;
      continue;
    }
    if (c == O_KEYS_FSYNC || c == O_KEYS_PROFILE) {
      *(c == O_KEYS_FSYNC ? &o.fsync : &o.profile) = 1;
      continue;
    }
    if (c == O_DEALER_MASKS) {
      const int r = ff__dealer_masks_opt(&o, optarg);
      if (r) return r;
      continue;
    }
    if (c == O_BACKEND) { /* keygen forks no party: CUDA may start in this process */
      if (strcmp(optarg, "cpu") && strcmp(optarg, "cuda"))
        return ff_cli_usage_error(o.cmd, "--backend must be cpu or cuda, not '%s'", optarg);
      o.backend = strcmp(optarg, "cuda") ? FF_BACKEND_CPU : FF_BACKEND_CUDA;
      backend_set = 1;
      if (o.backend == FF_BACKEND_CUDA && ff_cuda_device_count() <= 0)
        return ff_cli_usage_error(o.cmd, "--backend cuda: %s",
                                  ff_cuda_built() ? "no GPU is visible" : "this build has no CUDA backend");
      continue;
    }
    const int r = ff__rest_opt(&o, c, argv);
    if (r) return r;
  }
  if (optind < argc) return ff_cli_usage_error(o.cmd, "unexpected argument '%s'", argv[optind]);
  if (!backend_set && ff_cuda_device_count() > 0) o.backend = FF_BACKEND_CUDA;
  if (o.dealer_masks_dev && o.backend != FF_BACKEND_CUDA)
    return ff_cli_usage_error(o.cmd, "--dealer-masks device needs the dealer on a GPU (--backend cuda)");
  {
    int r = ff__suite_finish(&o);
    if (!r) r = ff__semantics_finish(&o);
    if (r) return r;
  }
  if (ff__mkdir(o.out)) return ff_cli_fail(o.cmd, "cannot create %s", o.out);
  ff__default_key_files(&o);
  {
    struct stat a, b;
    if (!strcmp(o.key_files[0], o.key_files[1]) ||
        (!stat(o.key_files[0], &a) && !stat(o.key_files[1], &b) && a.st_dev == b.st_dev && a.st_ino == b.st_ino))
      return ff_cli_usage_error(o.cmd, "--keys-p0 and --keys-p1 name the same file (%s): each party needs its own",
                                o.key_files[0]);
  }
  char rid[64];
  if (!o.run_id) ff__random_run_id(rid, sizeof rid), o.run_id = rid;
  if (ff__new_dealing(&o)) return ff_cli_fail(o.cmd, "cannot start a dealing");
  if (o.profile && !ff_scope_enabled())
    return ff_cli_usage_error(o.cmd, "--profile records the dealer's scopes, which FF_PROFILE=0 turns off");
  ff__deal_time secs = {0, 0, NULL};
  uint64_t bytes[2] = {0, 0};
  if (ff__keygen_files(&o, o.run_id, &secs, bytes)) {
    ff_prof_destroy(secs.prof);
    return ff_cli_fail(o.cmd, "keygen failed; see the messages above");
  }
  char b0[32], b1[32];
  char did[2 * FF_KEYSTREAM_ID_BYTES + 1];
  ff__hex(o.dealing_id, FF_KEYSTREAM_ID_BYTES, did);
  /* The end-to-end rate, to set beside the disk's own sequential rate (docs/results.md measures it with dd). */
  const double rate = secs.total_s > 0 ? (double)(bytes[0] + bytes[1]) / secs.total_s : 0;
  char rb[32];
  printf("keygen: %s seq %d batch %d (suite %s, run %s, dealing %s, dealer on %s%s) in %.3f s: dealing %.3f s, writing "
         "the key files %.3f s%s; %s/s of key files end to end\n  %s  %s (MAC key: %s.mac)\n  %s  %s (MAC key: %s.mac)\n",
         o.cfg->name, o.seq, o.batch, o.suite, o.run_id, did, ff_backend_name(o.backend),
         o.backend == FF_BACKEND_CUDA && o.dealer_masks_dev ? ", masks there too" : "", secs.total_s,
         secs.total_s - secs.write_s, secs.write_s, o.fsync ? " (flushed to disk)" : "", ff_fmt_bytes(rate, rb, sizeof rb),
         o.key_files[0],
         ff_fmt_bytes((double)bytes[0], b0, sizeof b0), o.key_files[0], o.key_files[1],
         ff_fmt_bytes((double)bytes[1], b1, sizeof b1), o.key_files[1]);
  if (secs.prof) {
    printf("\nwhere the dealer's time went (--profile): its thread's scopes by name, exclusive; CUDA: its GPU "
           "stream's spans; KeyTransfer: writing the keys (from device memory: the downloads), FSS::*: the tree "
           "keygens\n\n");
    const ff_status st = ff_rep_print_by_name(stdout, ff_prof_rep_get(secs.prof, 0));
    ff_prof_destroy(secs.prof);
    if (st) return ff_cli_fail(o.cmd, "cannot print the dealer's profile");
  }
  return FF_EXIT_OK;
}

static void ff__cost_usage(FILE *f) {
  fprintf(f,
          "usage: fusefss cost [options]\n"
          "\n"
          "Key bytes, link bytes and rounds of one secure inference, per scope and in total, from the\n"
          "model's shapes alone (every gate's cost function; no cryptography). `fusefss run` measures\n"
          "the same numbers and checks them against this model.\n"
          "\n"
          "%s"
          "  --format md|csv|json table format (default md)\n"
          "\n"
          "Exit status: 0 ok, 1 failure, 2 usage error.\n",
          ff__common_help);
}

int ff_cmd_cost(int argc, char **argv) {
  ff__run_opts o;
  ff__opts_init(&o, "cost");
  const char *format = "md";
  static const struct option opts[] = {FF__COMMON_LONGOPTS, {"format", required_argument, NULL, O_FORMAT}, {NULL, 0, NULL, 0}};
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
    if (c == 'h') return ff__cost_usage(stdout), FF_EXIT_OK;
    if (c == O_FORMAT) {
      format = optarg;
      continue;
    }
    const int r = ff__rest_opt(&o, c, argv);
    if (r) return r;
  }
  if (optind < argc) return ff_cli_usage_error(o.cmd, "unexpected argument '%s'", argv[optind]);
  {
    int r = ff__suite_finish(&o);
    if (!r) r = ff__semantics_finish(&o);
    if (r) return r;
  }
  if (strcmp(format, "md") && strcmp(format, "csv") && strcmp(format, "json"))
    return ff_cli_usage_error(o.cmd, "unknown format '%s' (expected md, csv or json)", format);
  ff_cost_table ct;
  if (ff_model_cost(o.cfg, &o.suf, o.seq, o.batch, &ct)) return ff_cli_fail(o.cmd, "the cost model failed; see the messages above");
  /* Rows: every scope path (inclusive), in first-charge order with its ancestors before it. */
  char **paths = NULL;
  size_t np = 0;
  for (size_t i = 0; i < ct.n; i++) {
    char path[1024];
    snprintf(path, sizeof path, "%s", ct.rows[i].path);
    for (char *q = path;; q++) {
      const int end = *q == '\0';
      if (*q == '/' || end) {
        const char save = *q;
        *q = '\0';
        size_t k = 0;
        while (k < np && strcmp(paths[k], path)) k++;
        if (k == np && path[0]) {
          char **pp = realloc(paths, (np + 1) * sizeof *pp);
          if (!pp || !(pp[np] = strdup(path))) return ff_cli_fail(o.cmd, "out of memory");
          paths = pp;
          np++;
        }
        *q = save;
      }
      if (end) break;
    }
  }
  cJSON *js = NULL, *arr = NULL;
  ff_md_table t;
  const int md = !strcmp(format, "md"), csv = !strcmp(format, "csv");
  if (md) {
    printf("fusefss cost: %s seq %d batch %d, suite %s (bw %d, scale %d): one inference, per party%s\n\n", o.cfg->name,
           o.seq, o.batch, o.suite, o.cfg->bw, o.cfg->scale,
           o.cfg->weights_per_layer ? " (--weights-per-layer: each layer's weights masked in the inference)" : "");
    ff_md_table_init(&t, "lrrrrr");
    ff_md_table_row(&t, (const char *[]){"scope", "key B P0", "key B P1", "link B", "rounds", "key GiB P0"});
  } else if (csv) {
    printf("scope,key_B_p0,key_B_p1,link_B,sent_B_p0,sent_B_p1,rounds\n");
  } else {
    js = cJSON_CreateObject();
    cJSON_AddStringToObject(js, "schema", "fusefss.cost/1");
    cJSON_AddStringToObject(js, "model", o.cfg->name);
    cJSON_AddNumberToObject(js, "seq", o.seq);
    cJSON_AddNumberToObject(js, "batch", o.batch);
    cJSON_AddStringToObject(js, "suite", o.suite);
    cJSON_AddBoolToObject(js, "weights_per_layer", o.cfg->weights_per_layer != 0);
    arr = cJSON_AddArrayToObject(js, "scopes");
  }
  for (size_t k = 0; k <= np + 1; k++) {
    ff_gate_cost cc[2];
    const char *label;
    if (k < np) ff_cost_inclusive(&ct, paths[k], cc), label = paths[k];
    else if (k == np) memcpy(cc, ct.total, sizeof cc), label = "total (one inference)";
    else memcpy(cc, ct.weights, sizeof cc), label = "Weights (once per session)";
    char a[32], b[32], l[32], r[32], g[32], lab[1100];
    snprintf(a, sizeof a, "%" PRIu64, cc[0].key_bytes);
    snprintf(b, sizeof b, "%" PRIu64, cc[1].key_bytes);
    snprintf(l, sizeof l, "%" PRIu64, cc[0].bytes_sent + cc[1].bytes_sent);
    snprintf(r, sizeof r, "%" PRIu64, ff__max_rounds(cc));
    snprintf(g, sizeof g, "%.4f", (double)cc[0].key_bytes / (double)(1u << 30));
    if (md) {
      int depth = 0;
      for (const char *q = label; k < np && *q; q++) depth += *q == '/';
      if (k < np) ff_report_scope_label(label, depth, lab, sizeof lab);
      else snprintf(lab, sizeof lab, "**%s**", label);
      ff_md_table_row(&t, (const char *[]){lab, a, b, l, r, g});
    } else if (csv) {
      printf("\"%s\",%s,%s,%s,%" PRIu64 ",%" PRIu64 ",%s\n", label, a, b, l, cc[0].bytes_sent, cc[1].bytes_sent, r);
    } else {
      cJSON *e = cJSON_CreateObject();
      cJSON_AddStringToObject(e, "scope", k < np ? label : k == np ? "total" : "Weights");
      cJSON_AddNumberToObject(e, "key_B_p0", (double)cc[0].key_bytes);
      cJSON_AddNumberToObject(e, "key_B_p1", (double)cc[1].key_bytes);
      cJSON_AddNumberToObject(e, "link_B", (double)(cc[0].bytes_sent + cc[1].bytes_sent));
      cJSON_AddNumberToObject(e, "sent_B_p0", (double)cc[0].bytes_sent);
      cJSON_AddNumberToObject(e, "sent_B_p1", (double)cc[1].bytes_sent);
      cJSON_AddNumberToObject(e, "rounds", (double)ff__max_rounds(cc));
      cJSON_AddItemToArray(arr, e);
    }
  }
  if (md) {
    ff_md_table_print(&t, stdout);
    ff_md_table_free(&t);
    char k0[32], l0[32];
    printf("\nper inference: key %s (P0) / %s (P1), link %s, %" PRIu64 " rounds\n",
           ff_fmt_bytes((double)ct.total[0].key_bytes, k0, sizeof k0), ff_fmt_bytes((double)ct.total[1].key_bytes, l0, sizeof l0),
           ff_fmt_bytes((double)(ct.total[0].bytes_sent + ct.total[1].bytes_sent), (char[32]){0}, 32), ff__max_rounds(ct.total));
  } else if (js) {
    char *s = cJSON_Print(js);
    if (s) puts(s);
    free(s);
    cJSON_Delete(js);
  }
  for (size_t k = 0; k < np; k++) free(paths[k]);
  free(paths);
  ff_cost_table_free(&ct);
  return FF_EXIT_OK;
}

static void ff__run_usage(FILE *f) {
  fprintf(f,
          "usage: fusefss run [options]                       the local pipeline\n"
          "       fusefss run --party 0 --listen :PORT [...]   one party (party 0 listens)\n"
          "       fusefss run --party 1 --peer HOST:PORT [...] one party (party 1 connects)\n"
          "\n"
          "Secure inference of a model's blocks with two parties. With no role: keygen (the dealer), then\n"
          "both parties as processes over loopback TCP, then the merged per-scope breakdown on stdout, the\n"
          "cost-model check and the verification of P1's output against the fixed-point emulation (exact)\n"
          "and the float reference. With no options at all: bert-tiny at seq 128 on the GPU if there is\n"
          "one, else the CPU. docs/running.md explains the output.\n"
          "\n"
          "%s"
          "run:\n"
          "  --backend cpu|cuda   the parties' backend, and the file dealer's (`fusefss keygen --backend`;\n"
          "                       default: cuda when a GPU is visible)\n"
          FF__DEALER_MASKS_HELP
          "  --placement device|host|disk  key placement: device = loaded once into device memory before the\n"
          "                       online phase (default; host memory on the CPU); host = pinned host\n"
          "                       memory, copied to the GPU gate by gate (SIGMA); disk = read from the\n"
          "                       key file gate by gate (every key file's CRCs are checked before going online)\n"
          "  --reps N             counted inferences (default 1); --warmup W uncounted first ones (0)\n"
          "                       (repetitions reuse one inference's keys: a benchmark, not deployment)\n"
          "  --overhead-pairs N   the profiler's own cost, measured in this run: after the counted inferences,\n"
          "                       N pairs of uncounted ones with scopes off and on (off, on, on, off, ...;\n"
          "                       same keys); prints each party's medians and the median paired difference\n"
          "                       (default 0: none; needs scopes on, i.e. not FF_PROFILE=0)\n"
          "  --dealer file|inproc|stream  file: key files from `fusefss keygen` (default); inproc: each party\n"
          "                       makes all keys in memory itself (SIGMA's benchmark mode; labelled); stream: a\n"
          "                       dealer process beside the parties deals layer by layer and streams each party\n"
          "                       its keys as it reads them (no key files; memory bounded by --window; each\n"
          "                       repetition's keys dealt anew; the local pipeline only)\n"
          "  --window N           --dealer stream: layers of keys the dealer may hold that the parties have not\n"
          "                       taken yet (default 2, at least 1)\n"
          "  --no-fit-check       skip the check that the keys fit memory, disk and GPU memory before starting\n"
          "                       (for experts: the run may then fail midway)\n"
          "  --keys FILE          this party's key file (party role; default OUT/keys_pP.ffk)\n"
          "  --mac-key FILE       this party's MAC key file (party role; default: the key file + .mac)\n"
          "  --party 0|1, --listen [HOST]:PORT, --peer HOST:PORT   run one party\n"
          "  --gpu0 N, --gpu1 M   put party 0 and party 1 on CUDA devices N and M of this host (0-based, as\n"
          "                       nvidia-smi counts; default: the first visible device for both); --gpu N in\n"
          "                       the party role. The log records each party's device (device.ordinal)\n"
          "  --verify on|off      on (default): P1's output against the fixed-point emulation and the float\n"
          "                       forward on the host after the run; off: not checked (said in the output and\n"
          "                       run_summary.json), for whole models whose emulation takes too long on the host;\n"
          "                       verify a cut model of the same shapes (--layers 1) instead\n"
          "  --gpu-share timeslice|mps  how the local pipeline's two parties share one GPU: timeslice (default)\n"
          "                       lets their CUDA contexts take turns; mps starts a private MPS daemon\n"
          "                       (nvidia-cuda-mps-control) for the run, so that both parties' kernels run at\n"
          "                       once (still two processes and a TCP link). Recorded as device.share\n"
          "  --timeout DUR        deadline of connecting, of the handshake, and of each exchange (plus 1 s per\n"
          "                       MB moved) (default 120s)\n"
          "\n"
          "P1's input and output (docs/running.md \"Inputs and outputs\"):\n"
          "  --input FILE         P1's input, a NumPy .npy of float32 or float64, shape (seq, d) or (batch, seq, d),\n"
          "                       C order, little-endian; its shape sets --seq/--batch. Default: seeded random\n"
          "  --output FILE        P1 writes its revealed output there as float32 .npy, shaped as the input\n"
          "  --keep-raw           with --output: keep OUT/output_p1.bin too\n"
          "\n"
          "  --trace              also write trace_p0.json, trace_p1.json and (local run) OUT/trace.json, one\n"
          "                       Chrome/Perfetto trace of both parties with send->receive arrows\n"
          "  --trace-depth N      trace scopes opened at depth < N only (implies --trace; 0: all; bert-base: 4)\n"
          "\n"
          "Files in OUT: keys_p0.ffk, keys_p1.ffk, prof_p0.json, prof_p1.json, breakdown_merged.json,\n"
          "run_summary.json (keygen time, output error, checks), trace*.json with --trace,\n"
          "output_p1.bin (P1's output: little-endian int64, (batch * seq, d) row-major, value = int / 2^scale).\n"
          "Exit status: 0 ok (and verified), 1 failure or a verification/cost mismatch, 2 usage error.\n",
          ff__common_help);
}

/* OUT/run_summary.json: what a run knows beyond its logs (keygen time, key files, the output's error,
 * the checks), for `fusefss matrix` and scripts. */
/* The parties' peak memory from their logs (ff__memory_meta): host[q] and dev[q] in bytes, -1 where a log
 * has none (a CPU party has no device pool). */
static void ff__peaks(const ff_breakdown *bd, double host[2], double dev[2]) {
  for (int q = 0; q < 2; q++) {
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(bd->runs[q], "memory");
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(m, "peak_host_B");
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(m, "peak_device_pool_B");
    host[q] = cJSON_IsNumber(h) ? h->valuedouble : -1;
    dev[q] = cJSON_IsNumber(d) ? d->valuedouble : -1;
  }
}

static ff_status ff__write_summary(const ff__run_opts *o, const ff__deal_time *keygen, const uint64_t kbytes[2],
                                   const double peak_host[2], const double peak_dev[2], const double overhead_pct[2],
                                   double wall_s, int cost_bad, int exact, double err, int rc) {
  cJSON *j = cJSON_CreateObject();
  cJSON_AddStringToObject(j, "schema", "fusefss.run_summary/1");
  cJSON_AddStringToObject(j, "run_id", o->run_id ? o->run_id : "");
  cJSON_AddStringToObject(j, "dealer", o->stream ? "stream" : o->inproc ? "inproc" : "file");
  /* --dealer inproc: the slower party's in-memory keygen (null if neither log has it); no key files.
   * --dealer stream: null, as the dealing overlaps the parties' work (no keygen of its own to time). */
  if (o->stream || (o->inproc && isnan(keygen->total_s))) cJSON_AddNullToObject(j, "keygen_s");
  else cJSON_AddNumberToObject(j, "keygen_s", keygen->total_s);
  cJSON_AddNumberToObject(j, "keygen_write_s", o->inproc || o->stream ? 0 : keygen->write_s);
  cJSON_AddNumberToObject(j, "key_file_B_p0", (double)kbytes[0]);
  cJSON_AddNumberToObject(j, "key_file_B_p1", (double)kbytes[1]);
  cJSON_AddNumberToObject(j, "pipeline_s", wall_s);
  for (int q = 0; q < 2; q++) { /* null where not measured */
    char kh[32], kd[32];
    snprintf(kh, sizeof kh, "peak_host_B_p%d", q);
    snprintf(kd, sizeof kd, "peak_device_pool_B_p%d", q);
    cJSON_AddItemToObject(j, kh, peak_host[q] >= 0 ? cJSON_CreateNumber(peak_host[q]) : cJSON_CreateNull());
    cJSON_AddItemToObject(j, kd, peak_dev[q] >= 0 ? cJSON_CreateNumber(peak_dev[q]) : cJSON_CreateNull());
  }
  cJSON_AddBoolToObject(j, "cost_model_equal", !cost_bad);
  cJSON_AddNumberToObject(j, "overhead_pairs", o->overhead_pairs);
  for (int q = 0; q < 2; q++) { /* --overhead-pairs: the median of (on - off) over the pairs in % of off; else null */
    char k[32];
    snprintf(k, sizeof k, "scope_overhead_pct_p%d", q);
    const double v = o->overhead_pairs ? overhead_pct[q] : NAN;
    cJSON_AddItemToObject(j, k, isnan(v) ? cJSON_CreateNull() : cJSON_CreateNumber(v));
  }
  cJSON_AddBoolToObject(j, "verified", !o->no_verify);
  /* --verify off: unknown, so null, and "ok" says only that the run and the cost check passed */
  cJSON_AddItemToObject(j, "output_exact", o->no_verify ? cJSON_CreateNull() : cJSON_CreateBool(exact));
  cJSON_AddItemToObject(j, "max_abs_err", o->no_verify ? cJSON_CreateNull() : cJSON_CreateNumber(err));
  cJSON_AddBoolToObject(j, "ok", !rc && !cost_bad && (exact || o->no_verify));
  char *text = cJSON_Print(j), path[4200];
  cJSON_Delete(j);
  if (!text) return FF_ENOMEM;
  snprintf(path, sizeof path, "%s/run_summary.json", o->out);
  ff_status st = ff_write_file_atomic(path, text, strlen(text), 0644);
  free(text);
  return st;
}

int ff_cmd_run(int argc, char **argv) {
  ff__run_opts o;
  ff__opts_init(&o, "run");
  const char *listen = NULL, *peer = NULL;
  int gpu_self = -1;
  static const struct option opts[] = {FF__COMMON_LONGOPTS,
                                       {"backend", required_argument, NULL, O_BACKEND},
                                       {"placement", required_argument, NULL, O_KEYS},
                                       {"reps", required_argument, NULL, O_REPS},
                                       {"warmup", required_argument, NULL, O_WARMUP},
                                       {"overhead-pairs", required_argument, NULL, O_OVERHEAD},
                                       {"keys", required_argument, NULL, O_KEYFILE},
                                       {"dealer", required_argument, NULL, O_DEALER},
                                       {"dealer-masks", required_argument, NULL, O_DEALER_MASKS},
                                       {"party", required_argument, NULL, O_PARTY},
                                       {"listen", required_argument, NULL, O_LISTEN},
                                       {"peer", required_argument, NULL, O_PEER},
                                       {"timeout", required_argument, NULL, O_TIMEOUT},
                                       {"mac-key", required_argument, NULL, O_MACKEY},
                                       {"window", required_argument, NULL, O_WINDOW},
                                       {"no-fit-check", no_argument, NULL, O_NOFIT},
                                       {"gpu0", required_argument, NULL, O_GPU0},
                                       {"gpu1", required_argument, NULL, O_GPU1},
                                       {"gpu", required_argument, NULL, O_GPU},
                                       {"gpu-share", required_argument, NULL, O_GPUSHARE},
                                       {"verify", required_argument, NULL, O_VERIFY},
                                       {"input", required_argument, NULL, O_INPUT},
                                       {"output", required_argument, NULL, O_OUTPUT},
                                       {"keep-raw", no_argument, NULL, O_KEEP_RAW},
                                       {"trace", no_argument, NULL, O_TRACE},
                                       {"trace-depth", required_argument, NULL, O_TRACE_DEPTH},
                                       {NULL, 0, NULL, 0}};
  const char *key_file = NULL;
  int c, backend_set = 0, window_set = 0, placement_set = 0;
  long long v;
  optind = 1;
  while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
    switch (c) {
      case 'h': ff__run_usage(stdout); return FF_EXIT_OK;
      case O_BACKEND:
        /* Not ff_backend_parse: it asks CUDA for devices in this process, which the forked parties
         * could then not use (ff__gpu_visible). */
        if (strcmp(optarg, "cpu") && strcmp(optarg, "cuda"))
          return ff_cli_usage_error(o.cmd, "--backend must be cpu or cuda, not '%s'", optarg);
        o.backend = strcmp(optarg, "cuda") ? FF_BACKEND_CPU : FF_BACKEND_CUDA;
        backend_set = 1;
        if (o.backend == FF_BACKEND_CUDA && !ff__gpu_visible())
          return ff_cli_usage_error(o.cmd, "--backend cuda: %s", ff_cuda_built() ? "no GPU is visible" : "this build has no CUDA backend");
        break;
      case O_KEYS: {
        int r = ff__parse_placement(&o, optarg);
        if (r) return r;
        placement_set = 1;
        break;
      }
      case O_REPS:
        if (ff_parse_int(optarg, 1, 10000, &v)) return ff_cli_usage_error(o.cmd, "--reps must be 1..10000, not '%s'", optarg);
        o.reps = (int)v;
        break;
      case O_WARMUP:
        if (ff_parse_int(optarg, 0, 1000, &v)) return ff_cli_usage_error(o.cmd, "--warmup must be 0..1000, not '%s'", optarg);
        o.warmup = (int)v;
        break;
      case O_OVERHEAD:
        if (ff_parse_int(optarg, 0, 1000, &v))
          return ff_cli_usage_error(o.cmd, "--overhead-pairs must be 0..1000, not '%s'", optarg);
        o.overhead_pairs = (int)v;
        break;
      case O_KEYFILE: key_file = optarg; break;
      case O_MACKEY: o.mac_file = optarg; break;
      case O_INPUT: o.input = optarg; break;
      case O_OUTPUT: o.output = optarg; break;
      case O_KEEP_RAW: o.keep_raw = 1; break;
      case O_TRACE: o.trace = 1; break;
      case O_TRACE_DEPTH:
        if (ff_parse_int(optarg, 0, 64, &v))
          return ff_cli_usage_error(o.cmd, "--trace-depth must be 0..64 (0: every depth), not '%s'", optarg);
        o.trace = 1;
        o.trace_depth = (int)v;
        break;
      case O_DEALER:
        if (strcmp(optarg, "file") && strcmp(optarg, "inproc") && strcmp(optarg, "stream"))
          return ff_cli_usage_error(o.cmd, "--dealer must be file, inproc or stream, not '%s'", optarg);
        o.inproc = !strcmp(optarg, "inproc");
        o.stream = !strcmp(optarg, "stream");
        break;
      case O_DEALER_MASKS: {
        const int r = ff__dealer_masks_opt(&o, optarg);
        if (r) return r;
        break;
      }
      case O_WINDOW:
        if (ff_parse_int(optarg, 1, 1000, &v))
          return ff_cli_usage_error(o.cmd, "--window must be 1..1000 layers, not '%s'", optarg);
        o.window = (int)v;
        window_set = 1;
        break;
      case O_NOFIT: o.no_fit_check = 1; break;
      case O_VERIFY:
        if (strcmp(optarg, "on") && strcmp(optarg, "off"))
          return ff_cli_usage_error(o.cmd, "--verify must be on or off, not '%s'", optarg);
        o.no_verify = !strcmp(optarg, "off");
        break;
      case O_GPUSHARE:
        if (strcmp(optarg, "timeslice") && strcmp(optarg, "mps"))
          return ff_cli_usage_error(o.cmd, "--gpu-share must be timeslice or mps, not '%s'", optarg);
        o.mps = !strcmp(optarg, "mps");
        o.share_set = 1;
        break;
      case O_GPU0:
      case O_GPU1:
      case O_GPU:
        if (ff_parse_int(optarg, 0, 63, &v))
          return ff_cli_usage_error(o.cmd, "--%s wants a GPU ordinal from 0 to 63 (as nvidia-smi counts), not '%s'",
                                    c == O_GPU ? "gpu" : c == O_GPU0 ? "gpu0" : "gpu1", optarg);
        if (c == O_GPU) gpu_self = (int)v;
        else o.gpu[c == O_GPU1] = (int)v;
        break;
      case O_PARTY:
        if (ff_parse_int(optarg, 0, 1, &v)) return ff_cli_usage_error(o.cmd, "--party must be 0 or 1, not '%s'", optarg);
        o.party = (int)v;
        break;
      case O_LISTEN: listen = optarg; break;
      case O_PEER: peer = optarg; break;
      case O_TIMEOUT:
        if (ff_parse_duration_ns(optarg, &o.timeout_ns) || o.timeout_ns < 1000000u || o.timeout_ns > UINT64_C(86400000000000))
          return ff_cli_usage_error(o.cmd, "--timeout wants a duration from 1ms to 24h (e.g. 30s), not '%s'", optarg);
        break;
      default: {
        const int r = ff__rest_opt(&o, c, argv);
        if (r) return r;
      }
    }
  }
  if (optind < argc) return ff_cli_usage_error(o.cmd, "unexpected argument '%s'", argv[optind]);
  {
    const int r = ff__suite_finish(&o);
    if (r) return r;
  }
  if (!backend_set && ff__gpu_visible()) o.backend = FF_BACKEND_CUDA;
  if (o.dealer_masks_dev && o.backend != FF_BACKEND_CUDA)
    return ff_cli_usage_error(o.cmd, "--dealer-masks device needs the dealer on a GPU (--backend cuda)");
  if (window_set && !o.stream) return ff_cli_usage_error(o.cmd, "--window needs --dealer stream");
  if (o.stream && placement_set)
    return ff_cli_usage_error(o.cmd, "--dealer stream reads keys gate by gate as they arrive from the dealer: it takes no "
                              "--placement");
  if (o.stream && o.insecure_no_padding)
    return ff_cli_usage_error(o.cmd, "--dealer stream declares each key stream's size before dealing, which "
                              "--insecure-no-padding makes depend on the masks: use key files for that ablation");
  if (o.stream && o.party >= 0)
    return ff_cli_usage_error(o.cmd, "--dealer stream runs the dealer beside both parties on this host (the local "
                              "pipeline): use it without --party; across hosts use key files (`fusefss keygen`)");
  if (o.party < 0 && (listen || peer || key_file || o.mac_file))
    return ff_cli_usage_error(o.cmd, "--listen, --peer, --keys and --mac-key need --party");
  if (o.no_verify && o.party >= 0)
    return ff_cli_usage_error(o.cmd, "--verify belongs to the local pipeline, which checks P1's output after the run; a "
                              "single party verifies nothing");
  if (o.mps && o.party >= 0)
    return ff_cli_usage_error(o.cmd, "--gpu-share mps starts an MPS daemon for the local pipeline's two parties: use it "
                              "without --party (a single party's host can run nvidia-cuda-mps-control itself)");
  if (o.mps && o.backend != FF_BACKEND_CUDA)
    return ff_cli_usage_error(o.cmd, "--gpu-share mps shares a GPU, but the parties run on the %s", ff_backend_name(o.backend));
  if (o.party < 0 && gpu_self >= 0)
    return ff_cli_usage_error(o.cmd, "--gpu N is the party role's; the local pipeline takes --gpu0 N and --gpu1 M");
  if (o.party >= 0 && (o.gpu[0] >= 0 || o.gpu[1] >= 0))
    return ff_cli_usage_error(o.cmd, "--gpu0/--gpu1 place the local pipeline's parties; a single party takes --gpu N");
  if (o.party >= 0 && gpu_self >= 0) o.gpu[o.party] = gpu_self;
  if ((o.gpu[0] >= 0 || o.gpu[1] >= 0) && o.backend != FF_BACKEND_CUDA)
    return ff_cli_usage_error(o.cmd, "--gpu0/--gpu1/--gpu choose CUDA devices, but the parties run on the %s",
                              ff_backend_name(o.backend));
  if (o.overhead_pairs && !ff_scope_enabled())
    return ff_cli_usage_error(o.cmd, "--overhead-pairs compares inferences with scopes on and off, but scopes are off "
                              "(FF_PROFILE=0): unset FF_PROFILE");
  if (o.party == 0 && peer) return ff_cli_usage_error(o.cmd, "party 0 listens: use --listen, not --peer");
  if (o.party == 1 && listen) return ff_cli_usage_error(o.cmd, "party 1 connects: use --peer, not --listen");
  if (o.party == 1 && !peer) return ff_cli_usage_error(o.cmd, "party 1 needs --peer HOST:PORT (party 0's address)");
  if (o.party == 0 && (o.input || o.output || o.keep_raw))
    return ff_cli_usage_error(o.cmd, "--input, --output and --keep-raw are party 1's: it owns the input and receives the output");
  if (o.keep_raw && !o.output) return ff_cli_usage_error(o.cmd, "--keep-raw needs --output (without it the raw file is written anyway)");
  if (o.output) {
    struct stat a, b;
    if (o.input && (!strcmp(o.input, o.output) || (!stat(o.input, &a) && !stat(o.output, &b) && a.st_dev == b.st_dev &&
                                                   a.st_ino == b.st_ino)))
      return ff_cli_usage_error(o.cmd, "--output names the --input file (%s): the run would overwrite its own input", o.output);
  }
  /* P1's input, read and checked before any key is read or written (and before --out is touched). */
  if (o.input) {
    const int r = ff__load_input(&o);
    if (r) return r;
  }
  if (o.output && unlink(o.output) != 0 && errno != ENOENT)
    return ff_cli_fail(o.cmd, "cannot remove the earlier --output %s (a failed run must not leave it as its result): %s",
                       o.output, strerror(errno));
  if (o.inproc && !o.mask_seed) {
    /* Both processes must draw the same masks: a seed they share (benchmark mode only). */
    o.mask_seed = 0x5157a5eedULL;
  }
  ff__default_key_files(&o);
  if (o.party >= 0 && key_file) o.key_files[o.party] = key_file;
  ff_scope_register("Weights", "IO");

  if (o.party >= 0) {
    ff_tcp_opts tcp = {.party = o.party, .run_id = o.run_id};
    const char *addr = o.party == 0 ? listen : peer;
    if (addr && ff_parse_hostport(addr, o.host, sizeof o.host, &o.port, 0))
      return ff_cli_usage_error(o.cmd, "'%s' is not HOST:PORT (or :PORT)", addr);
    tcp.host = o.host[0] ? o.host : NULL;
    tcp.port = o.port;
    if (o.inproc && !o.run_id) return ff_cli_usage_error(o.cmd, "--dealer inproc across hosts needs the same --run-id on both");
    if (ff__prepare_out(o.out, o.party)) return ff_cli_fail(o.cmd, "bad --out %s (see above); nothing was run", o.out);
    {
      const int r = ff__semantics_finish(&o);
      if (r) return r;
    }
    if (o.inproc) {
      ff__inproc_dealing_id(&o);
    } else {
      char mp[4200];
      if (!o.mac_file) ff__mac_path(o.key_files[o.party], mp, sizeof mp), o.mac_file = mp;
      if (ff__read_mac_file(o.mac_file, o.mac_key[o.party]))
        return ff_cli_fail(o.cmd, "cannot read this party's MAC key (see above)");
    }
    ff__party_arg pa = {&o};
    const int rc = ff__party_main(&tcp, &pa);
    if (rc == 0)
      fprintf(stderr, "fusefss run: party %d wrote %s/prof_p%d.json%s%s%s; merge it with the peer's log:\n"
                      "  fusefss merge prof_p0.json prof_p1.json -o breakdown_merged.json\n",
              o.party, o.out, o.party, o.party && (!o.output || o.keep_raw) ? " and output_p1.bin" : "",
              o.party && o.output ? " and " : "", o.party && o.output ? o.output : "");
    return rc;
  }

  /* The local pipeline. */
  if (ff__prepare_out(o.out, -1)) return ff_cli_fail(o.cmd, "bad --out %s (see above); nothing was run", o.out);
  {
    const int r = ff__semantics_finish(&o);
    if (r) return r;
  }
  char rid[64];
  if (!o.run_id) ff__random_run_id(rid, sizeof rid), o.run_id = rid;
  if (o.inproc) ff__inproc_dealing_id(&o);
  else if (ff__new_dealing(&o)) return ff_cli_fail(o.cmd, "cannot start a dealing");
  if (ff__fit_check(&o)) return FF_EXIT_FAIL;
  char stream_desc[96];
  snprintf(stream_desc, sizeof stream_desc, "streamed dealer (window %d layer%s, keys dealt anew per repetition)", o.window,
           o.window == 1 ? "" : "s");
  printf("fusefss run: %s seq %d batch %d, suite %s (bw %d, scale %d), backend %s, keys on %s, %s, %d rep%s (+%d warm-up)%s\n",
         o.cfg->name, o.seq, o.batch, o.suite, o.cfg->bw, o.cfg->scale, ff_backend_name(o.backend),
         o.stream ? "the stream" : ff__keys_names[o.keys_where],
         o.stream ? stream_desc : o.inproc ? "in-process dealer (benchmark mode)" : "trusted dealer (key files)",
         o.reps, o.reps == 1 ? "" : "s", o.warmup,
         o.cfg->weights_per_layer ? ", weights masked per layer at every inference (in its keys and link)" : "");
  if (o.mps)
    printf("GPU sharing: MPS (a private daemon; the two parties' kernels run at once, not in turns)\n");
  else if (o.backend == FF_BACKEND_CUDA && o.gpu[0] == o.gpu[1] && !o.share_set)
    printf("GPU sharing: time-sliced (the two parties' CUDA contexts take turns on the one GPU; --gpu-share mps "
           "runs their kernels at once: 2x on bert-base, docs/running.md)\n");
  fflush(stdout);
  ff__deal_time keygen = {0, 0, NULL};
  uint64_t kbytes[2] = {0, 0};
  if (!o.inproc && !o.stream &&
      (o.backend == FF_BACKEND_CUDA ? ff__keygen_files_child : ff__keygen_files)(&o, o.run_id, &keygen, kbytes))
    return ff_cli_fail(o.cmd, "keygen failed");
  int codes[3];
  ff__party_arg pa = {&o};
  const uint64_t t0 = ff_now_ns();
  if (o.stream) {
    /* The dealer feeds each party over its own socketpair (ff__stream_dealer). */
    ff__dealer_heap(1);
    const ff_status ss = ff__stream_sizes(&o, o.stream_session, o.stream_infer);
    ff__dealer_heap(0);
    if (ss) return ff_cli_fail(o.cmd, "cannot size the key streams (above)");
    for (int q = 0; q < 2; q++)
      if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, o.stream_fd[q]))
        return ff_cli_fail(o.cmd, "socketpair: %s", strerror(errno));
  }
  /* The daemon lives exactly as long as the processes it serves: started right before them, stopped once
   * they are all reaped, whatever their end. */
  ff_mps mps = {0};
  if (o.mps && ff_mps_start(&mps)) return ff_cli_fail(o.cmd, "cannot share the GPU through MPS (above); nothing was run");
  ff_status ls;
  if (o.stream) {
    /* Party processes are forked, not exec'd: CLOEXEC only keeps the sockets from any later exec. */
    const ff_launch_helper dealer = {.fn = ff__stream_dealer, .started = ff__stream_dealer_started,
                                     .parties_started = ff__stream_parties_started, .arg = &o, .name = "the dealer"};
    /* Whoever fails first, the others get --timeout and 5 s to fail with their own message (the dealer's
     * feeds and the parties' key streams wait at most --timeout), then are killed. */
    const uint64_t grace_ms = o.timeout_ns / 1000000u + 5000u;
    ls = ff_launch_local_helper(ff__party_main, &pa, o.run_id, grace_ms > INT_MAX ? INT_MAX : (int)grace_ms, &dealer,
                                codes);
    for (int q = 0; q < 2; q++)
      if (o.stream_fd[q][0] >= 0) close(o.stream_fd[q][0]), o.stream_fd[q][0] = -1; /* a launch that failed early */
  } else {
    ls = ff_launch_local(ff__party_main, &pa, o.run_id, 5000, codes);
  }
  ff_mps_stop(&mps);
  if (ls && o.stream)
    return ff_cli_fail(o.cmd, "the run failed (party 0 exit %d, party 1 exit %d, the dealer exit %d); see the messages "
                       "above", codes[0], codes[1], codes[2]);
  if (ls)
    return ff_cli_fail(o.cmd, "the run failed (party 0 exit %d, party 1 exit %d); see the messages above", codes[0], codes[1]);
  const double wall_s = (double)(ff_now_ns() - t0) * 1e-9;
  char p0[4096], p1[4096], merged[4096];
  snprintf(p0, sizeof p0, "%s/prof_p0.json", o.out);
  snprintf(p1, sizeof p1, "%s/prof_p1.json", o.out);
  snprintf(merged, sizeof merged, "%s/breakdown_merged.json", o.out);
  ff_breakdown *bd = NULL;
  if (ff_merge_logs(p0, p1, &bd)) return ff_cli_fail(o.cmd, "merging %s and %s failed", p0, p1);
  if (ff_breakdown_write(bd, merged)) {
    ff_breakdown_free(bd);
    return ff_cli_fail(o.cmd, "cannot write %s", merged);
  }
  if (o.trace) {
    char t0p[4200], t1p[4200], tp[4200];
    snprintf(t0p, sizeof t0p, "%s/trace_p0.json", o.out);
    snprintf(t1p, sizeof t1p, "%s/trace_p1.json", o.out);
    snprintf(tp, sizeof tp, "%s/trace.json", o.out);
    ff_trace_info ti;
    if (ff_trace_combine(t0p, t1p, 0, tp, &ti)) {
      ff_breakdown_free(bd);
      return ff_cli_fail(o.cmd, "cannot join the parties' traces into %s (details above)", tp);
    }
    char tb[32];
    printf("trace: %s (%zu slices, %zu send->receive arrows, %s)\n", tp, ti.slices, ti.flows,
           ff_fmt_bytes((double)ti.bytes, tb, sizeof tb));
  }
  char *rargv[] = {"report", merged, "--by", "family", NULL};
  printf("\n");
  fflush(stdout);
  int rc = ff_cmd_report(4, rargv);
  optind = 1;
  double peak_host[2], peak_dev[2];
  ff__peaks(bd, peak_host, peak_dev);
  const double overhead_pct[2] = {ff__overhead_num(bd, 0, "diff_pct"), ff__overhead_num(bd, 1, "diff_pct")};
  if (o.inproc) { /* the summary's keygen: the slower of the two parties' in-memory dealings */
    const double k0 = ff__inproc_keygen_s(bd, 0), k1 = ff__inproc_keygen_s(bd, 1);
    keygen.total_s = isnan(k0) ? k1 : isnan(k1) ? k0 : k0 > k1 ? k0 : k1;
    keygen.write_s = 0;
  }
  ff_cost_table ct;
  int cost_bad = 1, exact = 0;
  double err = 0;
  if (!ff_model_cost(o.cfg, &o.suf, o.seq, o.batch, &ct)) {
    char a[32], b[32], l[32], k0[32], k1[32];
    printf("\nper inference (median of %zu): online %s, link %s, %.0f rounds; keys %s (P0) / %s (P1)",
           ff_breakdown_counted_reps(bd), ff_fmt_ns(ff__median_total(bd, FF_BD_TOTAL, FF_M_WALL), a, sizeof a),
           ff_fmt_bytes(ff__median_total(bd, FF_BD_TOTAL, FF_M_LINK), b, sizeof b),
           ff__median_total(bd, FF_BD_TOTAL, FF_M_ROUNDS), ff_fmt_bytes((double)ct.total[0].key_bytes, k0, sizeof k0),
           ff_fmt_bytes((double)ct.total[1].key_bytes, k1, sizeof k1));
    if (!o.inproc && !o.stream)
      printf("; keygen %.3f s (writing %.3f s), key files %s", keygen.total_s, keygen.write_s,
             ff_fmt_bytes((double)(kbytes[0] + kbytes[1]), l, sizeof l));
    if (o.inproc) { /* both parties dealt in memory, side by side, before going online */
      printf("; keygen in memory");
      for (int q = 0; q < 2; q++) {
        const double s = ff__inproc_keygen_s(bd, q);
        if (isnan(s)) printf("%s not recorded (P%d)", q ? " /" : "", q);
        else printf("%s %.3f s (P%d)", q ? " /" : "", s, q);
      }
    }
    printf("; whole pipeline %.2f s\n", wall_s);
    printf("peak memory:");
    for (int q = 0; q < 2; q++) {
      char h[32], d[32];
      printf("%s P%d host %s", q ? ";" : "", q, peak_host[q] >= 0 ? ff_fmt_bytes(peak_host[q], h, sizeof h) : "not recorded");
      if (peak_dev[q] >= 0) printf(", device pool %s", ff_fmt_bytes(peak_dev[q], d, sizeof d));
    }
    printf("\n");
    ff__print_overhead(bd, &o);
    if (ff_scope_enabled()) {
      cost_bad = ff__check_costs(&ct, bd, stdout);
      printf("cost model (`fusefss cost`): %s\n", cost_bad ? "DIFFERS from the run (above)" : "equals the run's link bytes and rounds in every scope");
    } else { /* FF_PROFILE=0: the parties recorded no scopes, only the totals */
      cost_bad = 0;
      printf("cost model (`fusefss cost`): not checked (scopes are off: FF_PROFILE=0)\n");
    }
    ff_cost_table_free(&ct);
  }
  if (o.no_verify)
    printf("verification: NOT RUN (--verify off): P1's output was not compared with the emulation; run a cut model "
           "of the same shapes (--layers 1) to check the gates\n");
  else if (ff__verify(&o, stdout, &exact, &err))
    rc = FF_EXIT_FAIL;
  ff_breakdown_free(bd);
  if (o.output && !o.keep_raw) { /* verified: the raw file was the pipeline's, --output is the user's */
    char raw[4200];
    snprintf(raw, sizeof raw, "%s/output_p1.bin", o.out);
    unlink(raw);
  }
  if (ff__write_summary(&o, &keygen, kbytes, peak_host, peak_dev, overhead_pct, wall_s, cost_bad, exact, err, rc))
    rc = FF_EXIT_FAIL;
  printf("files: %s%s%s\n", o.out, o.output ? "; output " : "", o.output ? o.output : "");
  free(o.input_fx);
  return rc ? rc : (cost_bad || (!exact && !o.no_verify)) ? FF_EXIT_FAIL : FF_EXIT_OK;
}
