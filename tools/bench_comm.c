/* `fusefss bench comm`: a synthetic two-party workload over the real channel — nested scopes of
 * latency-bound exchanges, ping-pongs, bandwidth-bound exchanges of several sizes and local ring
 * work — that writes both parties' logs, merges them and prints the link's measured round latency
 * and bandwidth (the parameters for `fusefss project`). It is also the end-to-end check of the
 * profiling runtime before any gate exists (DESIGN.md §6, issue "Foundation").
 * Test: tests/cli.cmake (bench comm, then merge/report/amdahl/project on its output). */
#include "tools/bench_comm.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "comm/chan.h"
#include "core/log.h"
#include "core/time.h"
#include "scope/scope.h"
#include "tools/lib/analysis.h"
#include "tools/cli.h"
#include "tools/launch.h"

#define FF__MAX_SIZES 16

typedef struct {
  int party;             /* -1: both, locally */
  char host[256];
  int port;
  const char *run_id;
  int reps, warmup, layers;
  int latency_rounds;    /* exchanges of 8 B per layer */
  uint64_t sizes[FF__MAX_SIZES];
  int n_sizes;
  uint64_t compute;      /* ring multiply-adds of local work per layer */
  uint64_t timeout_ns;
  ff_shaping shaping;
  int trace;
  const char *out;
  int scope_ids[FF__MAX_SIZES];
} ff__bench_opts;

static void ff__usage(FILE *f) {
  fprintf(f,
          "usage: fusefss bench comm [options]\n"
          "\n"
          "Two-party channel benchmark. Both parties run, per repetition, a Forward scope with L layers;\n"
          "each layer does local ring work (Bench::Compute), N one-round exchanges of 8 B\n"
          "(Bench::Latency), N/2 ping-pongs (Bench::PingPong) and one exchange of each size\n"
          "(Bench::Exchange@SIZE). Both logs are written, merged, and the link's round latency and\n"
          "bandwidth are printed. With no --party, both parties run here as two processes over\n"
          "loopback TCP.\n"
          "\n"
          "options:\n"
          "  --party 0|1          run one party only (two hosts: party 0 first)\n"
          "  --listen [HOST:]PORT party 0: where to listen (default 0.0.0.0:7000 with --party 0)\n"
          "  --peer HOST:PORT     party 1: party 0's address\n"
          "  --run-id ID          run id for both logs (default: chosen by party 0)\n"
          "  --reps N             counted repetitions (default 10)\n"
          "  --warmup N           warm-up repetitions, excluded from statistics (default 2)\n"
          "  --layers N           layers per repetition (default 2)\n"
          "  --rounds N           8-byte exchanges per layer for the latency figure (default 100)\n"
          "  --sizes LIST         exchange sizes, comma-separated (default 64,4KiB,256KiB,4MiB,32MiB)\n"
          "  --compute N          ring multiply-adds of local work per layer (default 4000000)\n"
          "  --timeout DURATION   fail when the peer is silent this long (default 60s)\n"
          "  --shape-lat DURATION emulate a link: added latency per round (e.g. 0.5ms)\n"
          "  --shape-bw BANDWIDTH emulate a link: bandwidth cap per direction (e.g. 1GB/s)\n"
          "  --trace              also write Chrome traces (trace_p0.json, trace_p1.json)\n"
          "  --out DIR            output directory (default fusefss-out/bench-comm)\n"
          "  -h, --help           this help\n"
          "\n"
          "Writes DIR/prof_p0.json, DIR/prof_p1.json and (when both parties ran here) DIR/breakdown_merged.json.\n");
}

/* Local ring work: a multiply-add chain over a small buffer (stays in cache, so it measures the
 * core, not memory). The checksum is returned so the compiler cannot drop the loop. */
static uint64_t ff__compute(uint64_t n) {
  enum { W = 1024 };
  static uint64_t buf[W];
  uint64_t acc = 0x9E3779B97F4A7C15u;
  for (uint64_t i = 0; i < n; i++) {
    uint64_t *x = &buf[i & (W - 1)];
    *x = *x * 0xD1342543DE82EF95u + acc;
    acc ^= *x >> 7;
  }
  return acc;
}

/* The byte pattern party p sends in exchange k: lets the receiver check it got the peer's data. */
static void ff__fill(uint8_t *buf, size_t n, int party, uint64_t k) {
  for (size_t i = 0; i < n; i += 4096) buf[i] = (uint8_t)(party * 131 + k * 7 + i / 4096);
  if (n) buf[n - 1] = (uint8_t)(party * 131 + k * 7 + 3);
}

static int ff__check(const uint8_t *buf, size_t n, int party, uint64_t k) {
  for (size_t i = 0; i < n; i += 4096)
    if (buf[i] != (uint8_t)(party * 131 + k * 7 + i / 4096)) return -1;
  return n && buf[n - 1] != (uint8_t)(party * 131 + k * 7 + 3) ? -1 : 0;
}

static ff_status ff__exchange_checked(ff_chan *ch, int party, uint8_t *out, uint8_t *in, size_t n, uint64_t k) {
  ff__fill(out, n, party, k);
  ff_status st = ff_chan_exchange(ch, out, in, n);
  if (st) return st;
  if (ff__check(in, n, 1 - party, k)) {
    FF_ERROR("exchange %llu of %zu bytes: the peer's data is not what it sent", (unsigned long long)k, n);
    return FF_EPROTO;
  }
  return FF_OK;
}

static ff_status ff__workload(ff_chan *ch, const ff__bench_opts *o, uint8_t *out, uint8_t *in, uint64_t *sink) {
  int party = ff_chan_party(ch);
  uint64_t k = 0;
  ff_status st = FF_OK;
  FF_SCOPE("Forward");
  for (int l = 0; l < o->layers && !st; l++) {
    FF_SCOPE_LAYER("Layer", l);
    {
      FF_SCOPE("Bench::Compute");
      *sink += ff__compute(o->compute);
    }
    {
      FF_SCOPE("Bench::Latency");
      for (int r = 0; r < o->latency_rounds && !st; r++) st = ff__exchange_checked(ch, party, out, in, 8, k++);
    }
    {
      FF_SCOPE("Bench::PingPong");
      for (int r = 0; r < o->latency_rounds / 2 && !st; r++) {
        if (party == 0) {
          ff__fill(out, 8, 0, k);
          st = ff_chan_send(ch, out, 8);
          if (!st) st = ff_chan_recv(ch, in, 8);
          if (!st && ff__check(in, 8, 1, k)) st = FF_EPROTO;
        } else {
          st = ff_chan_recv(ch, in, 8);
          if (!st && ff__check(in, 8, 0, k)) st = FF_EPROTO;
          ff__fill(out, 8, 1, k);
          if (!st) st = ff_chan_send(ch, out, 8);
        }
        k++;
      }
    }
    for (int s = 0; s < o->n_sizes && !st; s++) {
      ff__scope_frame f = ff_scope_begin(ff_scope_name(o->scope_ids[s]), FF_NO_LAYER);
      st = ff__exchange_checked(ch, party, out, in, (size_t)o->sizes[s], k++);
      ff_scope_end(f);
    }
  }
  return st;
}

static void ff__size_name(uint64_t b, char *buf, size_t n) {
  if (b >= 1048576 && b % 1048576 == 0)
    snprintf(buf, n, "%lluMiB", (unsigned long long)(b / 1048576));
  else if (b >= 1024 && b % 1024 == 0)
    snprintf(buf, n, "%lluKiB", (unsigned long long)(b / 1024));
  else
    snprintf(buf, n, "%lluB", (unsigned long long)b);
}

static int ff__party_main(const ff_tcp_opts *tcp_in, void *arg) {
  const ff__bench_opts *o = arg;
  int party = tcp_in->party;
  ff_log_set_prefix(party ? "P1" : "P0");
  ff_tcp_opts tcp = *tcp_in;
  tcp.io_timeout_ms = (int)(o->timeout_ns / 1000000u);
  tcp.connect_timeout_ms = (int)(o->timeout_ns / 1000000u);
  tcp.shaping = o->shaping;
  ff_chan *ch = NULL;
  ff_prof *p = NULL;
  uint8_t *out = NULL, *in = NULL;
  int rc = FF_EXIT_FAIL;
  ff_status st = ff_chan_tcp_open(&ch, &tcp);
  if (st) goto done;

  ff_prof_opts po = {.party = party, .run_id = ff_chan_run_id(ch), .trace = o->trace};
  if ((st = ff_prof_create(&p, &po))) goto done;
  char cpu[256];
  int64_t off_ns, err_ns;
  ff_chan_clock_offset(ch, &off_ns, &err_ns);
  ff_shaping sh = ff_chan_shaping(ch);
  ff_prof_meta_str(p, "tool", "bench comm");
  ff_prof_meta_str(p, "backend", "cpu");
  ff_prof_meta_str(p, "device", ff_cpu_name(cpu, sizeof cpu));
  ff_prof_meta_str(p, "timing.mode", "wall");
  ff_prof_meta_int(p, "timing.warmup", o->warmup);
  ff_prof_meta_int(p, "timing.reps", o->reps);
  ff_prof_meta_int(p, "clock.peer_offset_ns", off_ns);
  ff_prof_meta_int(p, "clock.offset_err_ns", err_ns);
  ff_prof_meta_str(p, "net.transport", ff_chan_transport(ch));
  ff_prof_meta_str(p, "net.peer", ff_chan_peer(ch));
  ff_prof_meta_int(p, "net.shaping.lat_ns", (int64_t)sh.lat_ns);
  ff_prof_meta_int(p, "net.shaping.bw_Bps", (int64_t)sh.bw_Bps);
  ff_prof_meta_int(p, "workload.layers", o->layers);
  ff_prof_meta_int(p, "workload.latency_rounds", o->latency_rounds);
  ff_prof_meta_int(p, "workload.compute", (int64_t)o->compute);
  char sizes[512] = "";
  for (int s = 0; s < o->n_sizes; s++) {
    char one[32];
    ff__size_name(o->sizes[s], one, sizeof one);
    snprintf(sizes + strlen(sizes), sizeof sizes - strlen(sizes), "%s%s", s ? "," : "", one);
  }
  ff_prof_meta_str(p, "workload.sizes", sizes);
  if ((st = ff_prof_thread_attach(p, party ? "P1 main" : "P0 main", NULL))) goto done;

  uint64_t max_size = 8;
  for (int s = 0; s < o->n_sizes; s++)
    if (o->sizes[s] > max_size) max_size = o->sizes[s];
  out = malloc((size_t)max_size);
  in = malloc((size_t)max_size);
  if (!out || !in) {
    FF_ERROR("cannot allocate two buffers of %llu bytes", (unsigned long long)max_size);
    goto done;
  }
  uint64_t sink = 0;
  int total = o->warmup + o->reps;
  for (int r = 0; r < total; r++) {
    if ((st = ff_chan_barrier(ch))) goto done;
    if (r == o->warmup) ff_prof_capture_start(); /* nsys -c cudaProfilerApi records counted reps only */
    if ((st = ff_prof_rep_begin(p, r < o->warmup))) goto done;
    st = ff__workload(ch, o, out, in, &sink);
    ff_status st2 = ff_prof_rep_end(p);
    if (st || (st = st2)) goto done;
    if (party == 0) ff_cli_progress("bench comm", (uint64_t)r + 1, (uint64_t)total);
  }
  ff_prof_capture_stop();
  if ((st = ff_chan_barrier(ch))) goto done;
  if ((st = ff_prof_write(p, o->out, NULL, NULL, 0))) goto done;
  FF_DEBUG("checksum of local work: %llx", (unsigned long long)sink);
  rc = FF_EXIT_OK;
done:
  if (st) FF_ERROR("party %d: %s", party, ff_strerror(st));
  free(out);
  free(in);
  ff_prof_destroy(p);
  ff_chan_close(ch);
  return rc;
}

/* The measured link: per-round latency from Bench::Latency, round trip from Bench::PingPong, and
 * per-size bandwidth from Bench::Exchange@SIZE, each a median over the counted repetitions of the
 * merged (max over parties) times. */
static int ff__print_results(const ff__bench_opts *o, const ff_breakdown *bd, const char *merged_path) {
  size_t n = ff_breakdown_counted_reps(bd);
  double *v = calloc(n ? n : 1, sizeof *v), *r = calloc(n ? n : 1, sizeof *r);
  ff_stats s_lat = {0}, s_rtt = {0}, st_tot = {0};
  char a[64], b[64], c[64];
  int rc = FF_EXIT_FAIL;
  if (!v || !r) goto done;
  ff_breakdown_stats(bd, FF_BD_TOTAL, 0, FF_M_WALL, &st_tot);

  uint64_t rounds_per_rep = (uint64_t)o->layers * (uint64_t)o->latency_rounds;
  ff_breakdown_scope_values(bd, "Bench::Latency", FF_M_WALL, v);
  for (size_t i = 0; i < n; i++) v[i] /= (double)rounds_per_rep;
  ff_stats_compute(v, n, &s_lat);
  uint64_t pings = (uint64_t)o->layers * (uint64_t)(o->latency_rounds / 2);
  if (pings) {
    ff_breakdown_scope_values(bd, "Bench::PingPong", FF_M_WALL, v);
    for (size_t i = 0; i < n; i++) v[i] /= (double)pings;
    ff_stats_compute(v, n, &s_rtt);
  }

  printf("fusefss bench comm: run %s, %zu counted repetitions (+%d warm-up), %d layers\n",
         ff_breakdown_run_str(bd, "run_id"), n, o->warmup, o->layers);
  printf("  repetition          %s median (p25 %s, p75 %s)\n", ff_fmt_ns(st_tot.median, a, sizeof a),
         ff_fmt_ns(st_tot.p25, b, sizeof b), ff_fmt_ns(st_tot.p75, c, sizeof c));
  printf("  round latency       %s per round (exchange of 8 B each way; p25 %s, p75 %s)\n",
         ff_fmt_ns(s_lat.median, a, sizeof a), ff_fmt_ns(s_lat.p25, b, sizeof b), ff_fmt_ns(s_lat.p75, c, sizeof c));
  if (pings)
    printf("  round trip          %s per ping-pong of 8 B (p25 %s, p75 %s)\n", ff_fmt_ns(s_rtt.median, a, sizeof a),
           ff_fmt_ns(s_rtt.p25, b, sizeof b), ff_fmt_ns(s_rtt.p75, c, sizeof c));
  printf("\n  %-12s %14s %16s %16s\n", "size", "time/exchange", "per direction", "link (both)");
  double best_bw = 0;
  for (int s = 0; s < o->n_sizes; s++) {
    char name[32];
    ff__size_name(o->sizes[s], name, sizeof name);
    size_t found = ff_breakdown_scope_values(bd, ff_scope_name(o->scope_ids[s]), FF_M_WALL, v);
    if (!found) continue;
    for (size_t i = 0; i < n; i++) v[i] /= (double)o->layers;
    ff_stats se;
    ff_stats_compute(v, n, &se);
    double bw = se.median > 0 ? (double)o->sizes[s] / (se.median / 1e9) : 0;
    if (bw > best_bw) best_bw = bw;
    printf("  %-12s %14s %11.3f GB/s %11.3f GB/s\n", name, ff_fmt_ns(se.median, a, sizeof a), bw / 1e9, 2 * bw / 1e9);
  }
  printf("\n  project with the measured link:\n    fusefss project %s --bw %.0f --lat %.0fns\n", merged_path, best_bw,
         s_lat.median);
  printf("  (bandwidth: the best per-direction rate above; latency: the per-round time of 8-byte exchanges)\n");
  rc = FF_EXIT_OK;
done:
  free(v);
  free(r);
  return rc;
}

static int ff__parse_sizes(const char *s, ff__bench_opts *o) {
  char buf[1024];
  snprintf(buf, sizeof buf, "%s", s);
  o->n_sizes = 0;
  for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    uint64_t v;
    if (o->n_sizes == FF__MAX_SIZES || ff_parse_size(t, &v) || v == 0 || v > (UINT64_C(1) << 31)) return -1;
    o->sizes[o->n_sizes++] = v;
  }
  return o->n_sizes ? 0 : -1;
}

int ff_cmd_bench_comm(int argc, char **argv) {
  const char *cmd = "bench comm";
  ff__bench_opts o = {.party = -1, .port = -1, .reps = 10, .warmup = 2, .layers = 2, .latency_rounds = 100,
                      .compute = 4000000, .timeout_ns = UINT64_C(60000000000), .out = "fusefss-out/bench-comm"};
  ff__parse_sizes("64,4KiB,256KiB,4MiB,32MiB", &o);
  const char *listen = NULL, *peer = NULL;
  enum { O_PARTY = 256, O_LISTEN, O_PEER, O_RUNID, O_REPS, O_WARMUP, O_LAYERS, O_ROUNDS, O_SIZES, O_COMPUTE,
         O_TIMEOUT, O_SLAT, O_SBW, O_TRACE, O_OUT };
  static const struct option opts[] = {
      {"party", required_argument, 0, O_PARTY},     {"listen", required_argument, 0, O_LISTEN},
      {"peer", required_argument, 0, O_PEER},       {"run-id", required_argument, 0, O_RUNID},
      {"reps", required_argument, 0, O_REPS},       {"warmup", required_argument, 0, O_WARMUP},
      {"layers", required_argument, 0, O_LAYERS},   {"rounds", required_argument, 0, O_ROUNDS},
      {"sizes", required_argument, 0, O_SIZES},     {"compute", required_argument, 0, O_COMPUTE},
      {"timeout", required_argument, 0, O_TIMEOUT}, {"shape-lat", required_argument, 0, O_SLAT},
      {"shape-bw", required_argument, 0, O_SBW},    {"trace", no_argument, 0, O_TRACE},
      {"out", required_argument, 0, O_OUT},         {"help", no_argument, 0, 'h'},
      {0, 0, 0, 0}};
  optind = 1;
  opterr = 0;
  int c;
  long long v;
  while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
    switch (c) {
      case 'h': ff__usage(stdout); return FF_EXIT_OK;
      case O_PARTY:
        if (ff_parse_int(optarg, 0, 1, &v)) return ff_cli_usage_error(cmd, "--party must be 0 or 1, not '%s'", optarg);
        o.party = (int)v;
        break;
      case O_LISTEN: listen = optarg; break;
      case O_PEER: peer = optarg; break;
      case O_RUNID: o.run_id = optarg; break;
      case O_REPS:
        if (ff_parse_int(optarg, 1, 100000, &v)) return ff_cli_usage_error(cmd, "--reps must be 1..100000, not '%s'", optarg);
        o.reps = (int)v;
        break;
      case O_WARMUP:
        if (ff_parse_int(optarg, 0, 1000, &v)) return ff_cli_usage_error(cmd, "--warmup must be 0..1000, not '%s'", optarg);
        o.warmup = (int)v;
        break;
      case O_LAYERS:
        if (ff_parse_int(optarg, 1, 1000, &v)) return ff_cli_usage_error(cmd, "--layers must be 1..1000, not '%s'", optarg);
        o.layers = (int)v;
        break;
      case O_ROUNDS:
        if (ff_parse_int(optarg, 1, 1000000, &v)) return ff_cli_usage_error(cmd, "--rounds must be 1..1000000, not '%s'", optarg);
        o.latency_rounds = (int)v;
        break;
      case O_SIZES:
        if (ff__parse_sizes(optarg, &o))
          return ff_cli_usage_error(cmd, "--sizes wants up to %d sizes of 1 B to 2 GiB separated by commas (e.g. 64,4KiB,1MiB), not '%s'",
                                    FF__MAX_SIZES, optarg);
        break;
      case O_COMPUTE:
        if (ff_parse_int(optarg, 0, (long long)1 << 40, &v)) return ff_cli_usage_error(cmd, "--compute must be 0..2^40, not '%s'", optarg);
        o.compute = (uint64_t)v;
        break;
      case O_TIMEOUT:
        if (ff_parse_duration_ns(optarg, &o.timeout_ns) || o.timeout_ns < 1000000u || o.timeout_ns > UINT64_C(86400000000000))
          return ff_cli_usage_error(cmd, "--timeout wants a duration from 1ms to 24h (e.g. 30s), not '%s'", optarg);
        break;
      case O_SLAT:
        if (ff_parse_duration_ns(optarg, &o.shaping.lat_ns))
          return ff_cli_usage_error(cmd, "--shape-lat wants a duration (e.g. 0.5ms), not '%s'", optarg);
        break;
      case O_SBW: {
        double bw;
        if (ff_parse_bandwidth(optarg, &bw)) return ff_cli_usage_error(cmd, "--shape-bw wants a bandwidth (e.g. 1GB/s), not '%s'", optarg);
        o.shaping.bw_Bps = (uint64_t)bw;
        break;
      }
      case O_TRACE: o.trace = 1; break;
      case O_OUT: o.out = optarg; break;
      case ':': return ff_cli_usage_error(cmd, "option '%s' needs a value", argv[optind - 1]);
      default: return ff_cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
    }
  }
  if (optind < argc) return ff_cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
  if (o.party < 0 && (listen || peer)) return ff_cli_usage_error(cmd, "--listen and --peer need --party");
  if (o.party == 0 && peer) return ff_cli_usage_error(cmd, "party 0 listens: use --listen, not --peer");
  if (o.party == 1 && listen) return ff_cli_usage_error(cmd, "party 1 connects: use --peer, not --listen");
  if (o.party == 1 && !peer) return ff_cli_usage_error(cmd, "party 1 needs --peer HOST:PORT (party 0's address)");

  for (int s = 0; s < o.n_sizes; s++) {
    char name[64], sz[32];
    ff__size_name(o.sizes[s], sz, sizeof sz);
    snprintf(name, sizeof name, "Bench::Exchange@%s", sz);
    o.scope_ids[s] = ff_scope_register(name, "Comm");
  }
  ff_scope_register("Bench::Latency", "Comm");
  ff_scope_register("Bench::PingPong", "Comm");
  ff_scope_register("Bench::Compute", "Compute");

  if (o.party >= 0) {
    ff_tcp_opts tcp = {.party = o.party, .run_id = o.run_id};
    char host[256] = "";
    int port = 7000;
    const char *addr = o.party == 0 ? listen : peer;
    if (addr && ff_parse_hostport(addr, host, sizeof host, &port, o.party == 0))
      return ff_cli_usage_error(cmd, "'%s' is not HOST:PORT (or :PORT)", addr);
    if (o.party == 1 && !host[0]) return ff_cli_usage_error(cmd, "--peer needs a host: '%s'", peer);
    snprintf(o.host, sizeof o.host, "%s", host);
    tcp.host = o.host[0] ? o.host : NULL;
    tcp.port = port;
    int rc = ff__party_main(&tcp, &o);
    if (rc == 0)
      fprintf(stderr, "fusefss bench comm: party %d wrote %s/prof_p%d.json; merge it with the peer's log:\n"
                      "  fusefss merge prof_p0.json prof_p1.json -o breakdown_merged.json\n",
              o.party, o.out, o.party);
    return rc;
  }

  int codes[2];
  if (ff_launch_local(ff__party_main, &o, o.run_id, 5000, codes))
    return ff_cli_fail(cmd, "the benchmark failed (party 0 exit %d, party 1 exit %d); see the messages above", codes[0],
                       codes[1]);
  char p0[4096], p1[4096], merged[4096];
  snprintf(p0, sizeof p0, "%s/prof_p0.json", o.out);
  snprintf(p1, sizeof p1, "%s/prof_p1.json", o.out);
  snprintf(merged, sizeof merged, "%s/breakdown_merged.json", o.out);
  ff_breakdown *bd = NULL;
  if (ff_merge_logs(p0, p1, &bd)) return ff_cli_fail(cmd, "merging %s and %s failed", p0, p1);
  int rc = ff_breakdown_write(bd, merged) ? ff_cli_fail(cmd, "cannot write %s", merged)
                                          : ff__print_results(&o, bd, merged);
  ff_breakdown_free(bd);
  return rc;
}
