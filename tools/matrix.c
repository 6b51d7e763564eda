/* `fusefss matrix`: runs a grid of `fusefss run`s, one child process per cell in its own folder,
 * resumable (a finished cell is skipped), refusing up front the cells whose keys cannot fit (from
 * `fusefss cost` against the machine's memory and disk), recording a failed cell with its reason and
 * going on; then the grid's tables and figures (the analysis library's ff_grid_* / ff_matrix_* /
 * ff_plot_*). DESIGN.md §6. Test: tests/test_analysis.c. */
#include "tools/matrix.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "core/log.h"
#include "core/time.h"
#include "tools/cli.h"
#include "tools/launch.h"

static void ff__matrix_usage(FILE *f) {
  fputs("Usage: fusefss matrix [--grid FILE] [--model M,...] [--suite sigma,suf] [--seq N,...] [--batch N,...]\n"
        "                      [--backend cpu|cuda,...] [--placement device|host|disk,...] [--suf K=V[,K=V...]]...\n"
        "                      [--gpu-share timeslice,mps] [--dealer file|inproc|stream,...]\n"
        "                      [--weights-per-layer] [--verify on|off]\n"
        "                      [--reps N] [--warmup W] [--layers N] [--trace-depth N] [-o DIR]\n"
        "                      [--mem SIZE] [--disk SIZE] [--keep-keys] [--dry-run] [--no-html]\n"
        "\n"
        "Runs one `fusefss run` per cell of a grid (the product of the lists), each into DIR/cells/NAME/,\n"
        "and writes the grid's tables and figures into DIR:\n"
        "  matrix.csv            one row per cell: status (done, failed, refused) and reason, online time\n"
        "                        (median, p25, p75), link bytes, bytes per party, rounds, LAN and WAN\n"
        "                        projections (duplex), keygen time, key file bytes, each party's key bytes\n"
        "                        (the cost model's), max output error, peak host and device memory (the\n"
        "                        larger party's), the checks, and time and link bytes per family\n"
        "  matrix_families.csv   one row per cell and family (time, link bytes, rounds, LAN, WAN)\n"
        "  matrix.json           the grid and every cell (fusefss.matrix/1)\n"
        "  scaling.svg           time, link bytes and rounds against seq, one line per model/suite/...\n"
        "  matrix.md             the per-cell table in Markdown (keys, keygen, online, link, rounds, error,\n"
        "                        peak memory), as docs/results.md's per-model tables\n"
        "  index.html            the table and the figure (not with --no-html)\n"
        "  grid.json             the grid as run (a grid file: `--grid DIR/grid.json` runs it again)\n"
        "\n"
        "Resumable: a cell whose folder holds a finished run (cell.json says done) is skipped, so the same\n"
        "command continues a grid that was interrupted; failed cells are run again. A cell that fails is\n"
        "recorded with its reason and the grid goes on. Before running, each cell's key bytes (from\n"
        "`fusefss cost`) are checked against the available memory and disk (key files: both; --dealer\n"
        "inproc: memory; --dealer stream: neither, as its keys are dealt while read: the run's own check\n"
        "decides); a cell that cannot fit is refused with the reason (the GPU's memory is not checked\n"
        "here; `fusefss run` checks it). Key files are deleted once a cell is\n"
        "done (--keep-keys keeps them). A progress line per cell gives its figures and an ETA.\n"
        "\n"
        "Grid (lists are comma-separated; each replaces the grid file's list of that axis):\n"
        "  --grid FILE           a JSON grid: {\"model\": [...], \"suite\": [...], \"seq\": [...], \"batch\": [...],\n"
        "                        \"backend\": [...], \"placement\": [...], \"suf\": [\"\", \"K=V,K=V\"],\n"
        "                        \"gpu_share\": [\"timeslice\", \"mps\"], \"dealer\": [\"file\", \"stream\"],\n"
        "                        \"reps\": 3, \"warmup\": 1, \"layers\": 0, \"trace_depth\": -1,\n"
        "                        \"weights_per_layer\": false, \"verify\": true} (every key optional)\n"
        "  --model, --suite, --seq, --batch, --backend, --placement   the axes (defaults: bert-tiny, sigma,\n"
        "                        128, 1, cpu, device)\n"
        "  --suf K=V[,K=V...]    one suf knob set (repeat for more; sigma cells ignore them)\n"
        "  --gpu-share timeslice,mps  how each cell's two parties share the GPU (fusefss run --gpu-share;\n"
        "                        default timeslice; mps cells need backend cuda, others are refused)\n"
        "  --dealer file,inproc,stream  where each cell's keys come from (fusefss run --dealer; default file);\n"
        "                        a stream cell takes no placement (one cell, \"stream\" in its name)\n"
        "  --weights-per-layer   every cell masks each layer's weights at every inference (fusefss run\n"
        "                        --weights-per-layer: the models whose weights do not fit, e.g. llama7b)\n"
        "  --verify on|off       check each run's outputs against the emulation (default on; off: for the\n"
        "                        models whose emulation is too slow, verified instead on a cut model)\n"
        "  --reps N, --warmup W  counted and warm-up repetitions of each run (1, 0)\n"
        "  --layers N            run only the first N blocks of each model\n"
        "  --trace-depth N       each run also writes a Perfetto trace (fusefss run --trace-depth N; 0: all)\n"
        "Machine:\n"
        "  --mem SIZE, --disk SIZE  what cells may use, instead of MemAvailable and the free space of DIR\n"
        "  --keep-keys           keep each cell's key files\n"
        "  --dry-run             print the cells and the fit check, run nothing\n"
        "  -o, --out DIR         the grid's folder (default fusefss-matrix)\n"
        "  -h, --help            show this help\n"
        "\n"
        "Exit status: 0 every cell done, 1 a cell failed or was refused (the tables are written anyway) or\n"
        "an unwritable DIR, 2 usage error.\n",
        f);
}

/* ---- Child processes ---------------------------------------------------------------------------- */

static volatile sig_atomic_t ff__matrix_child;

static void ff__forward_term(int sig) {
  if (ff__matrix_child > 0) kill((pid_t)ff__matrix_child, SIGTERM);
  signal(sig, SIG_DFL);
  raise(sig);
}

/* Runs /proc/self/exe with argv, stdout and stderr into log_path (or a pipe into *out when out is not
 * NULL: at most cap bytes are kept). Returns the exit code, 128 + signal, or -1 when it cannot start. */
static int ff__spawn(char *const *argv, const char *log_path, char **out, size_t cap) {
  int pfd[2] = {-1, -1};
  if (out && pipe(pfd) != 0) return -1;
  const pid_t parent = getpid();
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    ff_launch_die_with_parent(parent);
    int fd = out ? pfd[1] : open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) _exit(126);
    if (out) {
      int nul = open(log_path ? log_path : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(fd, STDOUT_FILENO);
      if (nul >= 0) dup2(nul, STDERR_FILENO);
    } else {
      dup2(fd, STDOUT_FILENO);
      dup2(fd, STDERR_FILENO);
    }
    execv("/proc/self/exe", argv);
    _exit(127);
  }
  ff__matrix_child = pid;
  size_t len = 0;
  if (out) {
    close(pfd[1]);
    *out = malloc(cap + 1);
    char sink[4096];
    ssize_t r;
    while ((r = read(pfd[0], *out && len < cap ? *out + len : sink, *out && len < cap ? cap - len : sizeof sink)) > 0 ||
           (r < 0 && errno == EINTR))
      if (r > 0 && *out && len < cap) len += (size_t)r;
    close(pfd[0]);
    if (*out) (*out)[len] = 0;
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  ff__matrix_child = 0;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* The last line of a file that says "error" (else its last non-empty line), for a cell's reason. */
static void ff__reason_from_log(const char *path, char *buf, size_t n) {
  char *text = NULL;
  size_t len = 0;
  snprintf(buf, n, "see %s", path);
  if (ff_read_user_file(path, "cell log", 64u << 20, &text, &len)) return;
  char *best = NULL, *last = NULL;
  for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
    if (!*line) continue;
    last = line;
    if (strstr(line, "error")) best = line;
  }
  if (best || last) snprintf(buf, n, "%s", best ? best : last);
  free(text);
}

/* ---- The fit check ---------------------------------------------------------------------------------- */

static double ff__mem_available(void) {
  FILE *f = fopen("/proc/meminfo", "r");
  if (!f) return NAN;
  char line[256];
  double kb = NAN;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "MemAvailable: %lf kB", &kb) == 1) break;
  fclose(f);
  return kb * 1024;
}

static double ff__disk_free(const char *dir) {
  struct statvfs s;
  return statvfs(dir, &s) == 0 ? (double)s.f_bavail * (double)s.f_frsize : NAN;
}

/* Room for a cell's command line: its fixed options (about 40 words) and a knob set of at most 120
 * characters (ff_grid_add), i.e. at most 61 "--suf" pairs (one-letter knobs). */
#define FF__MAX_ARGS 256

/* The options of a cell's model and suite, shared by `cost` and `run` (argv from *at). */
static void ff__model_args(const ff_grid *g, const ff_grid_cell *c, char **argv, int *at, char bufs[][64],
                           char *knobs_copy, size_t knobs_n) {
  argv[(*at)++] = "--model";
  argv[(*at)++] = (char *)c->model;
  argv[(*at)++] = "--suite";
  argv[(*at)++] = (char *)c->suite;
  snprintf(bufs[0], 64, "%d", c->seq);
  snprintf(bufs[1], 64, "%d", c->batch);
  argv[(*at)++] = "--seq";
  argv[(*at)++] = bufs[0];
  argv[(*at)++] = "--batch";
  argv[(*at)++] = bufs[1];
  if (g->layers > 0) {
    snprintf(bufs[2], 64, "%d", g->layers);
    argv[(*at)++] = "--layers";
    argv[(*at)++] = bufs[2];
  }
  if (g->weights_per_layer) argv[(*at)++] = "--weights-per-layer";
  snprintf(knobs_copy, knobs_n, "%s", c->knobs);
  char *save = NULL;
  for (char *kv = strtok_r(knobs_copy, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
    argv[(*at)++] = "--suf";
    argv[(*at)++] = kv;
  }
}

/* Key bytes of both parties from `fusefss cost --format json` ("total" + "Weights" rows), or a reason. */
static int ff__cost_keys(const ff_grid *g, const ff_grid_cell *c, const char *err_log, double keys[2], char *reason,
                         size_t n) {
  char *argv[FF__MAX_ARGS], bufs[4][64], knobs[256];
  int at = 0;
  argv[at++] = "fusefss";
  argv[at++] = "cost";
  ff__model_args(g, c, argv, &at, bufs, knobs, sizeof knobs);
  argv[at++] = "--format";
  argv[at++] = "json";
  argv[at] = NULL;
  char *out = NULL;
  int rc = ff__spawn(argv, err_log, &out, 64u << 20);
  cJSON *j = rc == 0 && out ? cJSON_Parse(out) : NULL;
  free(out);
  if (!j) {
    char why[400];
    ff__reason_from_log(err_log, why, sizeof why);
    snprintf(reason, n, "fusefss cost failed (exit %d): %s", rc, why);
    return -1;
  }
  keys[0] = keys[1] = 0;
  const cJSON *row;
  cJSON_ArrayForEach(row, cJSON_GetObjectItemCaseSensitive(j, "scopes")) {
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(row, "scope");
    if (!cJSON_IsString(s) || (strcmp(s->valuestring, "total") && strcmp(s->valuestring, "Weights"))) continue;
    for (int p = 0; p < 2; p++) {
      const cJSON *v = cJSON_GetObjectItemCaseSensitive(row, p ? "key_B_p1" : "key_B_p0");
      if (cJSON_IsNumber(v)) keys[p] += v->valuedouble;
    }
  }
  cJSON_Delete(j);
  return 0;
}

/* ---- Cell status (cell.json) -------------------------------------------------------------------- */

/* keys: each party's key bytes as the cell recorded them (NAN when it did not). */
static void ff__cell_status(const char *cell_dir, char *status, size_t sn, char *reason, size_t rn, double keys[2]) {
  keys[0] = keys[1] = NAN;
  char path[4200];
  snprintf(status, sn, "pending");
  reason[0] = 0;
  snprintf(path, sizeof path, "%s/cell.json", cell_dir);
  cJSON *j = NULL;
  if (access(path, F_OK) != 0 || ff_json_load_file(path, "cell status", &j)) return;
  const cJSON *s = cJSON_GetObjectItemCaseSensitive(j, "status"), *r = cJSON_GetObjectItemCaseSensitive(j, "reason");
  if (cJSON_IsString(s)) snprintf(status, sn, "%s", s->valuestring);
  if (cJSON_IsString(r)) snprintf(reason, rn, "%s", r->valuestring);
  for (int p = 0; p < 2; p++) {
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(j, p ? "key_B_p1" : "key_B_p0");
    if (cJSON_IsNumber(k)) keys[p] = k->valuedouble;
  }
  cJSON_Delete(j);
  snprintf(path, sizeof path, "%s/breakdown_merged.json", cell_dir);
  if (strcmp(status, "done") == 0 && access(path, F_OK) != 0) snprintf(status, sn, "pending"); /* half gone */
}

/* keys: each party's key bytes from the cost model (NAN: unknown, not written). */
static ff_status ff__cell_mark(const char *cell_dir, const char *status, const char *reason, int exit_code,
                               double seconds, const double keys[2]) {
  cJSON *j = cJSON_CreateObject();
  cJSON_AddStringToObject(j, "schema", "fusefss.cell/1");
  cJSON_AddStringToObject(j, "status", status);
  cJSON_AddStringToObject(j, "reason", reason ? reason : "");
  cJSON_AddNumberToObject(j, "exit", exit_code);
  cJSON_AddNumberToObject(j, "seconds", seconds);
  for (int p = 0; p < 2; p++)
    if (isfinite(keys[p])) cJSON_AddNumberToObject(j, p ? "key_B_p1" : "key_B_p0", keys[p]);
  char *text = cJSON_Print(j), path[4200];
  cJSON_Delete(j);
  if (!text) return FF_ENOMEM;
  snprintf(path, sizeof path, "%s/cell.json", cell_dir);
  ff_status st = ff_write_file_atomic(path, text, strlen(text), 0644);
  free(text);
  return st;
}

/* ---- Outputs ------------------------------------------------------------------------------------------ */

static ff_status ff__write(const char *dir, const char *name, const char *text) {
  char path[4200];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  ff_status st = ff_write_file_atomic(path, text, strlen(text), 0644);
  if (!st) printf("wrote %s\n", path);
  return st;
}

/* Reads every cell's status and figures, writes the tables (tables != 0), scaling.svg and index.html. */
static ff_status ff__outputs(const char *dir, const char *out, const ff_grid *g, const ff_grid_cell *cells, size_t n,
                             int tables, int html, size_t *n_done) {
  ff_cell_result *res = calloc(n ? n : 1, sizeof *res);
  if (!res) return FF_ENOMEM;
  ff_status st = FF_OK;
  *n_done = 0;
  for (size_t i = 0; i < n; i++) {
    char cdir[3700], status[16], reason[512];
    double keys[2];
    snprintf(cdir, sizeof cdir, "%s/cells/%s", dir, cells[i].name);
    ff__cell_status(cdir, status, sizeof status, reason, sizeof reason, keys);
    if (strcmp(status, "done") == 0 && ff_cell_collect(cdir, &res[i])) {
      snprintf(status, sizeof status, "failed");
      snprintf(reason, sizeof reason, "its results in %.400s cannot be read (details above)", cdir);
    }
    snprintf(res[i].status, sizeof res[i].status, "%s", status);
    snprintf(res[i].reason, sizeof res[i].reason, "%s", reason);
    res[i].key_B_p0 = keys[0];
    res[i].key_B_p1 = keys[1];
    if (strcmp(status, "done") == 0) ++*n_done;
  }
  char *csv = NULL, *fcsv = NULL, *json = NULL, *svg = NULL, *page = NULL, *md = NULL;
  ff_plot_series *series = NULL;
  size_t n_series = 0;
  double *storage = NULL;
  if (tables) {
    if (!(st = ff_matrix_tables(g, cells, res, n, &csv, &fcsv, &json)))
      if (!(st = ff__write(out, "matrix.csv", csv)))
        if (!(st = ff__write(out, "matrix_families.csv", fcsv))) st = ff__write(out, "matrix.json", json);
    if (!st && !(st = ff_matrix_markdown(cells, res, n, &md))) st = ff__write(out, "matrix.md", md);
  }
  if (!st && *n_done) {
    if (!(st = ff_matrix_series(cells, res, n, &series, &n_series, &storage)) &&
        !(st = ff_plot_scaling_svg(series, n_series, "sequence length (tokens)", &svg)))
      st = ff__write(out, "scaling.svg", svg);
  }
  if (!st && html && !(st = ff_matrix_html(cells, res, n, svg, &page))) st = ff__write(out, "index.html", page);
  free(csv);
  free(fcsv);
  free(json);
  free(svg);
  free(page);
  free(md);
  free(series);
  free(storage);
  for (size_t i = 0; i < n; i++) ff_cell_result_free(&res[i]);
  free(res);
  return st;
}

ff_status ff_matrix_plot(const char *dir, const char *out, int html) {
  char path[4200];
  snprintf(path, sizeof path, "%s/grid.json", dir);
  ff_grid g;
  ff_grid_init(&g);
  ff_grid_cell *cells = NULL;
  size_t n = 0, n_done = 0;
  ff_status st = ff_grid_load(path, &g);
  if (!st) st = ff_grid_cells(&g, &cells, &n);
  if (!st) st = ff__outputs(dir, out, &g, cells, n, 0, html, &n_done);
  if (!st && n_done == 0) {
    FF_ERROR("no finished cell in %s/cells: nothing to plot", dir);
    st = FF_ENOENT;
  }
  free(cells);
  ff_grid_free(&g);
  return st;
}

/* ---- The command ------------------------------------------------------------------------------------ */

static int ff__mkdir(const char *d) { return mkdir(d, 0777) == 0 || errno == EEXIST ? 0 : -1; }

int ff_cmd_matrix(int argc, char **argv) {
  const char *cmd = "matrix", *out = "fusefss-matrix", *grid_file = NULL;
  ff_grid g, cli;
  ff_grid_init(&g);
  ff_grid_init(&cli);
  int reps = -1, warmup = -1, layers = -1, trace_depth = -2, keep_keys = 0, dry = 0, html = 1, rc = FF_EXIT_OK;
  int wpl = -1, verify = -1;
  double mem_cap = NAN, disk_cap = NAN;
  enum { O_GRID = 256, O_MODEL, O_SUITE, O_SEQ, O_BATCH, O_BACKEND, O_PLACEMENT, O_SUF, O_SHARE, O_DEALER, O_REPS,
         O_WARMUP, O_LAYERS, O_TDEPTH, O_MEM, O_DISK, O_KEEP, O_DRY, O_NOHTML, O_WPL, O_VERIFY };
  static const struct option opts[] = {
      {"grid", required_argument, NULL, O_GRID},     {"model", required_argument, NULL, O_MODEL},
      {"suite", required_argument, NULL, O_SUITE},   {"seq", required_argument, NULL, O_SEQ},
      {"batch", required_argument, NULL, O_BATCH},   {"backend", required_argument, NULL, O_BACKEND},
      {"placement", required_argument, NULL, O_PLACEMENT}, {"suf", required_argument, NULL, O_SUF},
      {"gpu-share", required_argument, NULL, O_SHARE}, {"dealer", required_argument, NULL, O_DEALER},
      {"weights-per-layer", no_argument, NULL, O_WPL}, {"verify", required_argument, NULL, O_VERIFY},
      {"reps", required_argument, NULL, O_REPS},     {"warmup", required_argument, NULL, O_WARMUP},
      {"layers", required_argument, NULL, O_LAYERS}, {"trace-depth", required_argument, NULL, O_TDEPTH},
      {"mem", required_argument, NULL, O_MEM},       {"disk", required_argument, NULL, O_DISK},
      {"keep-keys", no_argument, NULL, O_KEEP},      {"dry-run", no_argument, NULL, O_DRY},
      {"no-html", no_argument, NULL, O_NOHTML},      {"out", required_argument, NULL, 'o'},
      {"help", no_argument, NULL, 'h'},              {NULL, 0, NULL, 0}};
  optind = 0;
  opterr = 0;
  int c;
  long long v;
  uint64_t sz;
  while ((c = getopt_long(argc, argv, ":o:h", opts, NULL)) != -1) {
    ff_grid_axis ax = FF_GRID_N_AXES;
    switch (c) {
    case O_GRID: grid_file = optarg; break;
    case O_MODEL: ax = FF_GRID_MODEL; break;
    case O_SUITE: ax = FF_GRID_SUITE; break;
    case O_SEQ: ax = FF_GRID_SEQ; break;
    case O_BATCH: ax = FF_GRID_BATCH; break;
    case O_BACKEND: ax = FF_GRID_BACKEND; break;
    case O_PLACEMENT: ax = FF_GRID_PLACEMENT; break;
    case O_SHARE: ax = FF_GRID_SHARE; break;
    case O_DEALER: ax = FF_GRID_DEALER; break;
    case O_WPL: wpl = 1; break;
    case O_VERIFY:
      if (strcmp(optarg, "on") && strcmp(optarg, "off"))
        rc = ff_cli_usage_error(cmd, "--verify must be on or off, not '%s'", optarg);
      verify = strcmp(optarg, "off") != 0;
      break;
    case O_SUF: ax = FF_GRID_SUF; break;
    case O_REPS:
      if (ff_parse_int(optarg, 1, 10000, &v)) rc = ff_cli_usage_error(cmd, "--reps must be 1..10000, not '%s'", optarg);
      reps = (int)v;
      break;
    case O_WARMUP:
      if (ff_parse_int(optarg, 0, 1000, &v)) rc = ff_cli_usage_error(cmd, "--warmup must be 0..1000, not '%s'", optarg);
      warmup = (int)v;
      break;
    case O_LAYERS:
      if (ff_parse_int(optarg, 0, 1000, &v)) rc = ff_cli_usage_error(cmd, "--layers must be 0..1000, not '%s'", optarg);
      layers = (int)v;
      break;
    case O_TDEPTH:
      if (ff_parse_int(optarg, 0, 64, &v))
        rc = ff_cli_usage_error(cmd, "--trace-depth must be 0..64, not '%s'", optarg);
      trace_depth = (int)v;
      break;
    case O_MEM:
    case O_DISK:
      if (ff_parse_size(optarg, &sz) || sz == 0)
        rc = ff_cli_usage_error(cmd, "%s takes a size such as 16GiB, not '%s'", c == O_MEM ? "--mem" : "--disk",
                                optarg);
      *(c == O_MEM ? &mem_cap : &disk_cap) = (double)sz;
      break;
    case O_KEEP: keep_keys = 1; break;
    case O_DRY: dry = 1; break;
    case O_NOHTML: html = 0; break;
    case 'o': out = optarg; break;
    case 'h': ff__matrix_usage(stdout); return FF_EXIT_OK;
    case ':': rc = ff_cli_usage_error(cmd, "option '%s' needs a value", argv[optind - 1]); break;
    default: rc = ff_cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]); break;
    }
    if (!rc && ax != FF_GRID_N_AXES && ff_grid_add_list(&cli, ax, optarg))
      rc = ff_cli_usage_error(cmd, "bad --%s '%s' (details above)", ff_grid_axis_name(ax), optarg);
    if (rc) goto done;
  }
  if (optind < argc) {
    rc = ff_cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    goto done;
  }
  if (strlen(out) > 3000) {
    rc = ff_cli_usage_error(cmd, "--out is longer than 3000 characters");
    goto done;
  }
  if (grid_file && ff_grid_load(grid_file, &g)) {
    rc = ff_cli_fail(cmd, "cannot use the grid file %s (details above)", grid_file);
    goto done;
  }
  for (int a = 0; a < FF_GRID_N_AXES; a++) { /* the command line's lists replace the file's */
    if (!cli.n[a]) continue;
    for (size_t i = 0; i < g.n[a]; i++) free(g.v[a][i]);
    g.n[a] = cli.n[a];
    for (size_t i = 0; i < cli.n[a]; i++) g.v[a][i] = cli.v[a][i], cli.v[a][i] = NULL;
    cli.n[a] = 0;
  }
  if (reps >= 0) g.reps = reps;
  if (warmup >= 0) g.warmup = warmup;
  if (layers >= 0) g.layers = layers;
  if (trace_depth >= -1) g.trace_depth = trace_depth;
  if (wpl >= 0) g.weights_per_layer = wpl;
  if (verify >= 0) g.verify = verify;
  ff_grid_fill_defaults(&g);
  ff_grid_cell *cells = NULL;
  size_t n = 0;
  if (ff_grid_cells(&g, &cells, &n)) {
    rc = ff_cli_usage_error(cmd, "the grid cannot be expanded (details above)");
    goto done;
  }
  char cells_dir[3400], path[4200];
  snprintf(cells_dir, sizeof cells_dir, "%s/cells", out);
  if (ff__mkdir(out) || ff__mkdir(cells_dir)) {
    rc = ff_cli_fail(cmd, "cannot create %s: %s", cells_dir, strerror(errno));
    free(cells);
    goto done;
  }
  {
    cJSON *gj = ff_grid_to_json(&g);
    char *text = gj ? cJSON_Print(gj) : NULL;
    cJSON_Delete(gj);
    snprintf(path, sizeof path, "%s/grid.json", out);
    ff_status st = text ? ff_write_file_atomic(path, text, strlen(text), 0644) : FF_ENOMEM;
    free(text);
    if (st) {
      rc = ff_cli_fail(cmd, "cannot write %s", path);
      free(cells);
      goto done;
    }
  }
  const double mem = isfinite(mem_cap) ? mem_cap : ff__mem_available();
  const double disk = isfinite(disk_cap) ? disk_cap : ff__disk_free(out);
  char mb[32], db[32];
  printf("grid: %zu cells into %s/cells (memory %s%s, disk %s%s)\n", n, out, ff_fmt_bytes(mem, mb, sizeof mb),
         isfinite(mem_cap) ? " (--mem)" : " available", ff_fmt_bytes(disk, db, sizeof db),
         isfinite(disk_cap) ? " (--disk)" : " free");
  fflush(stdout);

  struct sigaction sa, old_int, old_term;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = ff__forward_term;
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);

  /* Pass 1: statuses and the fit check of the cells still to run. */
  char (*status)[16] = calloc(n, sizeof *status);
  char (*reason)[512] = calloc(n, sizeof *reason);
  double (*keys)[2] = calloc(n, sizeof *keys); /* each cell's key bytes per party (cost model), NAN: unknown */
  size_t to_run = 0, skipped = 0, refused = 0, failed = 0, ran = 0;
  if (!status || !reason || !keys) {
    rc = ff_cli_fail(cmd, "out of memory for %zu cells", n);
    dry = 1;
    n = 0;
  }
  for (size_t i = 0; i < n; i++) {
    char cdir[3700];
    snprintf(cdir, sizeof cdir, "%s/%s", cells_dir, cells[i].name);
    ff__cell_status(cdir, status[i], sizeof status[i], reason[i], sizeof reason[i], keys[i]);
    if (strcmp(status[i], "done") == 0) {
      skipped++;
      continue;
    }
    keys[i][0] = keys[i][1] = NAN;
    char log[4200];
    if (ff__mkdir(cdir)) {
      snprintf(status[i], sizeof status[i], "failed");
      snprintf(reason[i], sizeof reason[i], "cannot create %.400s: %s", cdir, strerror(errno));
      failed++;
      continue;
    }
    snprintf(log, sizeof log, "%s/cost.log", cdir);
    if (strcmp(cells[i].share, "mps") == 0 && strcmp(cells[i].backend, "cuda") != 0) {
      snprintf(status[i], sizeof status[i], "refused");
      snprintf(reason[i], sizeof reason[i], "--gpu-share mps shares a GPU: it needs backend cuda, not %s", cells[i].backend);
    } else if (ff__cost_keys(&g, &cells[i], log, keys[i], reason[i], sizeof reason[i])) {
      snprintf(status[i], sizeof status[i], "refused");
      keys[i][0] = keys[i][1] = NAN;
    } else {
      /* Key files need the disk and, unless read from it gate by gate, the memory; --dealer inproc keeps
       * them in memory only; --dealer stream holds a window of layers (the run's own check decides). */
      const double *k = keys[i], need = k[0] + k[1];
      const int stream = strcmp(cells[i].dealer, "stream") == 0, inproc = strcmp(cells[i].dealer, "inproc") == 0;
      const int in_memory = !stream && strcmp(cells[i].placement, "disk") != 0, on_disk = !stream && !inproc;
      char nb[32], ab[32], k0[32], k1[32];
      snprintf(status[i], sizeof status[i], "pending");
      reason[i][0] = 0;
      if (in_memory && isfinite(mem) && need > 0.9 * mem)
        snprintf(reason[i], sizeof reason[i], "keys need %s (P0 %s + P1 %s), more than 90%% of the %s of memory %s",
                 ff_fmt_bytes(need, nb, sizeof nb), ff_fmt_bytes(k[0], k0, sizeof k0),
                 ff_fmt_bytes(k[1], k1, sizeof k1), ff_fmt_bytes(mem, ab, sizeof ab),
                 isfinite(mem_cap) ? "given (--mem)" : "available");
      else if (on_disk && isfinite(disk) && need > 0.9 * disk)
        snprintf(reason[i], sizeof reason[i], "key files need %s (P0 %s + P1 %s), more than 90%% of the %s of disk %s",
                 ff_fmt_bytes(need, nb, sizeof nb), ff_fmt_bytes(k[0], k0, sizeof k0),
                 ff_fmt_bytes(k[1], k1, sizeof k1), ff_fmt_bytes(disk, ab, sizeof ab),
                 isfinite(disk_cap) ? "given (--disk)" : "free");
      if (reason[i][0]) snprintf(status[i], sizeof status[i], "refused");
    }
    if (strcmp(status[i], "refused") == 0) {
      refused++;
      printf("refused %s: %s\n", cells[i].name, reason[i]);
      if (!dry) (void)ff__cell_mark(cdir, "refused", reason[i], 0, 0, keys[i]);
    } else {
      to_run++;
    }
  }
  printf("%zu to run, %zu done earlier (skipped), %zu refused\n", to_run, skipped, refused);
  fflush(stdout);

  /* Pass 2: run the pending cells, one at a time. */
  const uint64_t t_start = ff_now_ns();
  for (size_t i = 0; !dry && i < n; i++) {
    if (strcmp(status[i], "pending") != 0) continue; /* done earlier, refused, or no folder */
    char cdir[3700], log[4200], bufs[4][64], knobs[256], rbuf[16], wbuf[16], tbuf[16];
    snprintf(cdir, sizeof cdir, "%s/%s", cells_dir, cells[i].name);
    snprintf(path, sizeof path, "%s/cell.json", cdir);
    unlink(path); /* a killed run must not look finished */
    snprintf(log, sizeof log, "%s/run.log", cdir);
    char *rargv[FF__MAX_ARGS];
    int at = 0;
    rargv[at++] = "fusefss";
    rargv[at++] = "run";
    ff__model_args(&g, &cells[i], rargv, &at, bufs, knobs, sizeof knobs);
    snprintf(rbuf, sizeof rbuf, "%d", g.reps);
    snprintf(wbuf, sizeof wbuf, "%d", g.warmup);
    rargv[at++] = "--backend";
    rargv[at++] = (char *)cells[i].backend;
    if (strcmp(cells[i].dealer, "stream") != 0) { /* a streamed party's keys have no placement */
      rargv[at++] = "--placement";
      rargv[at++] = (char *)cells[i].placement;
    }
    if (strcmp(cells[i].dealer, "file") != 0) {
      rargv[at++] = "--dealer";
      rargv[at++] = (char *)cells[i].dealer;
    }
    if (!g.verify) {
      rargv[at++] = "--verify";
      rargv[at++] = "off";
    }
    if (strcmp(cells[i].share, "mps") == 0) {
      rargv[at++] = "--gpu-share";
      rargv[at++] = "mps";
    }
    rargv[at++] = "--reps";
    rargv[at++] = rbuf;
    rargv[at++] = "--warmup";
    rargv[at++] = wbuf;
    if (g.trace_depth >= 0) {
      snprintf(tbuf, sizeof tbuf, "%d", g.trace_depth);
      rargv[at++] = "--trace-depth";
      rargv[at++] = tbuf;
    }
    rargv[at++] = "--out";
    rargv[at++] = cdir;
    rargv[at] = NULL;
    const uint64_t t0 = ff_now_ns();
    const int code = ff__spawn(rargv, log, NULL, 0);
    const double secs = (double)(ff_now_ns() - t0) * 1e-9;
    ran++;
    ff_cell_result r;
    char line[1024];
    if (code == 0 && !ff_cell_collect(cdir, &r)) {
      snprintf(status[i], sizeof status[i], "done");
      reason[i][0] = 0;
      char t[32], l[32];
      snprintf(line, sizeof line, "done in %.1f s: online %s, link %s, %.0f rounds", secs,
               ff_fmt_ns(r.online_ns, t, sizeof t), ff_fmt_bytes(r.link_B, l, sizeof l), r.rounds);
      ff_cell_result_free(&r);
      if (!keep_keys)
        for (int p = 0; p < 2; p++) {
          snprintf(path, sizeof path, "%s/keys_p%d.ffk", cdir, p);
          unlink(path);
          snprintf(path, sizeof path, "%s/keys_p%d.ffk.mac", cdir, p);
          unlink(path);
        }
      if (ff__cell_mark(cdir, "done", "", 0, secs, keys[i])) {
        rc = ff_cli_fail(cmd, "cannot write %s/cell.json", cdir);
        break;
      }
    } else {
      snprintf(status[i], sizeof status[i], "failed");
      char why[480];
      ff__reason_from_log(log, why, sizeof why);
      snprintf(reason[i], sizeof reason[i], "exit %d: %s", code, why);
      snprintf(line, sizeof line, "FAILED after %.1f s (%s)", secs, reason[i]);
      failed++;
      (void)ff__cell_mark(cdir, "failed", reason[i], code, secs, keys[i]);
    }
    const double per = (double)(ff_now_ns() - t_start) * 1e-9 / (double)ran;
    const size_t left = to_run > ran ? to_run - ran : 0;
    printf("[%zu/%zu] %s: %s · ETA %.0f s\n", skipped + refused + ran, n, cells[i].name, line, per * (double)left);
    fflush(stdout);
  }
  sigaction(SIGINT, &old_int, NULL);
  sigaction(SIGTERM, &old_term, NULL);
  if (!dry && rc == FF_EXIT_OK) {
    size_t n_done = 0;
    if (ff__outputs(out, out, &g, cells, n, 1, html, &n_done))
      rc = ff_cli_fail(cmd, "cannot write the grid's tables or figures into %s (details above)", out);
    else
      printf("%zu of %zu cells done, %zu failed, %zu refused\n", n_done, n, failed, refused);
    if (!rc && n_done < n) rc = FF_EXIT_FAIL;
  }
  free(status);
  free(reason);
  free(keys);
  free(cells);
done:
  ff_grid_free(&g);
  ff_grid_free(&cli);
  return rc;
}
