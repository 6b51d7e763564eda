/* Figures as self-contained SVG (no script, no external resource; opens in any browser): time per
 * family per run (measured and LAN/WAN-projected), per-layer time and bytes, the Amdahl picture, and
 * the scaling of a grid. Colours per family come from the scope registry, the same table as the NVTX
 * ranges. Every data series is a <g class="series" data-series="NAME"> and has a legend entry, so a
 * test (or a script) can find it. DESIGN.md §6. Test: tests/test_analysis.c. */
#include "tools/lib/analysis.h"
#include "tools/lib/analysis_internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "scope/scope.h"

/* Text for XML character data and attribute values. */
static void ff__sbx(ff__sb *b, const char *t) {
  for (; t && *t; t++) {
    switch (*t) {
    case '&': ff__sbf(b, "&amp;"); break;
    case '<': ff__sbf(b, "&lt;"); break;
    case '>': ff__sbf(b, "&gt;"); break;
    case '"': ff__sbf(b, "&quot;"); break;
    default:
      if ((unsigned char)*t < 0x20 && *t != '\n' && *t != '\t') ff__sbf(b, "?"); /* not allowed in XML 1.0 */
      else ff__sbf(b, "%c", *t);
    }
  }
}

static ff_status ff__sb_done(ff__sb *b, char **out) {
  if (b->oom) {
    free(b->s);
    *out = NULL;
    return FF_ENOMEM;
  }
  *out = b->s;
  return FF_OK;
}

/* ---- Colours, units, axes ------------------------------------------------------------------------- */

static void ff__family_colour(const char *family, char buf[8]) {
  uint32_t c = ff_scope_family_argb(family);
  snprintf(buf, 8, "#%06X", (unsigned)(c & 0xFFFFFFu));
}

/* Colours for series that are not families (runs, grid lines): a qualitative palette. */
static const char *ff__series_colour(size_t i) {
  static const char *const pal[] = {"#1F77B4", "#D62728", "#2CA02C", "#9467BD", "#FF7F0E",
                                    "#8C564B", "#E377C2", "#17BECF", "#7F7F7F", "#BCBD22"};
  return pal[i % (sizeof pal / sizeof pal[0])];
}

/* A time axis in s, ms or µs and a byte axis in B, KiB, MiB or GiB, chosen from the largest value. */
typedef struct {
  const char *unit;
  double div;
} ff__unit;

static ff__unit ff__time_unit(double max_ns) {
  if (max_ns >= 1e9) return (ff__unit){"s", 1e9};
  if (max_ns >= 1e6) return (ff__unit){"ms", 1e6};
  return (ff__unit){"µs", 1e3};
}

static ff__unit ff__byte_unit(double max_B) {
  if (max_B >= 1073741824.0) return (ff__unit){"GiB", 1073741824.0};
  if (max_B >= 1048576.0) return (ff__unit){"MiB", 1048576.0};
  if (max_B >= 1024.0) return (ff__unit){"KiB", 1024.0};
  return (ff__unit){"B", 1};
}

/* A "nice" tick step (1, 2 or 5 × 10^k) giving about 5 ticks up to max. */
static double ff__nice_step(double max) {
  if (!(max > 0) || !isfinite(max)) return 1;
  double raw = max / 5, p = pow(10, floor(log10(raw))), m = raw / p;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

typedef struct {
  double x, y, w, h; /* the plotting area in SVG user units */
  double ymax;       /* the value at the top of the area */
} ff__panel;

static double ff__py(const ff__panel *p, double v) { return p->y + p->h - (v / p->ymax) * p->h; }

static void ff__svg_open(ff__sb *b, int w, int h, const char *title) {
  ff__sbf(b,
          "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
          "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
          "font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">\n<title>",
          w, h, w, h);
  ff__sbx(b, title);
  ff__sbf(b, "</title>\n<rect width=\"%d\" height=\"%d\" fill=\"#FFFFFF\"/>\n"
             "<text x=\"%d\" y=\"24\" font-size=\"16\" font-weight=\"bold\" text-anchor=\"middle\">",
          w, h, w / 2);
  ff__sbx(b, title);
  ff__sbf(b, "</text>\n");
}

/* Y axis with ticks, grid lines and a rotated label; sets p->ymax to a whole number of steps. */
static void ff__y_axis(ff__sb *b, ff__panel *p, double max, const char *label) {
  double step = ff__nice_step(max);
  p->ymax = step * ceil((max > 0 ? max : 1) / step);
  ff__sbf(b, "<g class=\"axis y\">\n");
  for (double v = 0; v <= p->ymax + step / 2; v += step) {
    double y = ff__py(p, v);
    ff__sbf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#DDDDDD\"/>\n", p->x, y, p->x + p->w, y);
    ff__sbf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n", p->x - 6, y + 4, v);
  }
  ff__sbf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333333\"/>\n", p->x, p->y, p->x,
          p->y + p->h);
  ff__sbf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333333\"/>\n", p->x, p->y + p->h,
          p->x + p->w, p->y + p->h);
  ff__sbf(b, "<text transform=\"translate(%.1f,%.1f) rotate(-90)\" text-anchor=\"middle\">", p->x - 52,
          p->y + p->h / 2);
  ff__sbx(b, label);
  ff__sbf(b, "</text>\n</g>\n");
}

static void ff__x_label(ff__sb *b, const ff__panel *p, const char *label) {
  ff__sbf(b, "<text class=\"axis x\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", p->x + p->w / 2, p->y + p->h + 44);
  ff__sbx(b, label);
  ff__sbf(b, "</text>\n");
}

/* One legend entry at (x, y): a swatch (or a line when `line`) and the name. */
static void ff__legend(ff__sb *b, double x, double y, const char *name, const char *colour, int line, int dashed) {
  ff__sbf(b, "<g class=\"legend-entry\" data-series=\"");
  ff__sbx(b, name);
  ff__sbf(b, "\">");
  if (line)
    ff__sbf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"%s/>", x,
            y - 4, x + 14, y - 4, colour, dashed ? " stroke-dasharray=\"5,3\"" : "");
  else
    ff__sbf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"12\" height=\"12\" fill=\"%s\"/>", x, y - 10, colour);
  ff__sbf(b, "<text x=\"%.1f\" y=\"%.1f\">", x + 18, y);
  ff__sbx(b, name);
  ff__sbf(b, "</text></g>\n");
}

static void ff__series_open(ff__sb *b, const char *name) {
  ff__sbf(b, "<g class=\"series\" data-series=\"");
  ff__sbx(b, name);
  ff__sbf(b, "\">\n");
}

static void ff__rect(ff__sb *b, double x, double y, double w, double h, const char *fill, const char *tip) {
  ff__sbf(b, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"%s\"><title>", x, y, w,
          h > 0 ? h : 0, fill);
  ff__sbx(b, tip);
  ff__sbf(b, "</title></rect>\n");
}

/* ---- Names across runs ---------------------------------------------------------------------------- */

typedef struct {
  size_t n;
  char *name[64];
} ff__names;

static int ff__names_add(ff__names *s, const char *name) {
  for (size_t i = 0; i < s->n; i++)
    if (strcmp(s->name[i], name) == 0) return (int)i;
  if (s->n == 64) return -1;
  s->name[s->n] = strdup(name);
  return s->name[s->n] ? (int)s->n++ : -1;
}

static void ff__names_free(ff__names *s) {
  for (size_t i = 0; i < s->n; i++) free(s->name[i]);
  s->n = 0;
}

/* The drawing order: first appearance, "Other" last. */
static void ff__names_order(const ff__names *s, size_t *ord) {
  size_t k = 0;
  for (size_t i = 0; i < s->n; i++)
    if (strcmp(s->name[i], "Other") != 0) ord[k++] = i;
  for (size_t i = 0; i < s->n; i++)
    if (strcmp(s->name[i], "Other") == 0) ord[k++] = i;
}

/* ---- Time per family (stacked bars) ---------------------------------------------------------------- */

#define FF__MAX_BARS 48

ff_status ff_plot_families_svg(const ff_plot_run *runs, size_t n_runs, int projected, char **svg) {
  *svg = NULL;
  const size_t per_run = projected ? 3 : 1, n_bars = n_runs * per_run;
  if (n_runs == 0 || n_bars > FF__MAX_BARS) {
    FF_ERROR("plot: 1 to %d runs per figure (got %zu)", FF__MAX_BARS / (int)per_run, n_runs);
    return FF_EINVAL;
  }
  ff__names fam = {0};
  /* value[bar][family] in ns; total[bar] = the run's merged total (measured) or projected T */
  double(*value)[64] = calloc(n_bars, sizeof *value);
  double *total = calloc(n_bars, sizeof *total);
  char(*blabel)[96] = calloc(n_bars, sizeof *blabel);
  ff_status st = value && total && blabel ? FF_OK : FF_ENOMEM;
  for (size_t r = 0; !st && r < n_runs; r++) {
    ff_report rep;
    if ((st = ff_report_compute(runs[r].bd, FF_GROUP_FAMILY, &rep))) break;
    size_t b = r * per_run;
    snprintf(blabel[b], sizeof blabel[b], "%s", projected ? "measured" : runs[r].label);
    total[b] = rep.total_wall.median;
    for (size_t i = 0; i < rep.n_rows; i++) {
      int f = ff__names_add(&fam, rep.rows[i].key);
      if (f < 0) st = FF_ENOMEM;
      else value[b][f] = rep.rows[i].time.median;
    }
    ff_report_free(&rep);
    for (size_t k = 1; !st && k < per_run; k++) {
      ff_network net = k == 1 ? ff_network_lan() : ff_network_wan();
      ff_projection pj;
      if ((st = ff_project_compute(runs[r].bd, &net, FF_CONV_DUPLEX, FF_GROUP_FAMILY, &pj))) break;
      snprintf(blabel[b + k], sizeof blabel[b + k], "%s", net.name);
      total[b + k] = pj.total.T_ns;
      for (size_t i = 0; i < pj.n_rows; i++) {
        int f = ff__names_add(&fam, pj.rows[i].key);
        if (f < 0) st = FF_ENOMEM;
        else value[b + k][f] = pj.rows[i].T_ns;
      }
      ff_projection_free(&pj);
    }
  }
  ff__sb b = {0};
  if (!st) {
    double max = 0;
    for (size_t i = 0; i < n_bars; i++) {
      double s = 0;
      for (size_t f = 0; f < fam.n; f++) s += value[i][f];
      if (s > max) max = s;
      if (total[i] > max) max = total[i];
    }
    ff__unit u = ff__time_unit(max);
    const int W = 280 + (int)n_bars * 64, H = 460;
    ff__panel p = {80, 50, W - 80 - 190, 320, 0};
    ff__svg_open(&b, W, H, projected ? "Time per family: measured and projected (LAN, WAN)" : "Time per family");
    char ylab[64];
    snprintf(ylab, sizeof ylab, "time per inference (%s)", u.unit);
    ff__y_axis(&b, &p, max / u.div, ylab);
    const double slot = p.w / (double)n_bars, bw = slot * 0.62;
    size_t ord[64];
    ff__names_order(&fam, ord);
    for (size_t k = 0; k < fam.n; k++) {
      const size_t f = ord[k];
      char col[8];
      ff__family_colour(fam.name[f], col);
      ff__series_open(&b, fam.name[f]);
      for (size_t i = 0; i < n_bars; i++) {
        double below = 0;
        for (size_t g = 0; g < k; g++) below += value[i][ord[g]];
        double y0 = ff__py(&p, below / u.div), y1 = ff__py(&p, (below + value[i][f]) / u.div);
        char tip[256], t[32];
        snprintf(tip, sizeof tip, "%s · %s · %s: %s", runs[i / per_run].label, blabel[i], fam.name[f],
                 ff_fmt_ns(value[i][f], t, sizeof t));
        if (value[i][f] > 0) ff__rect(&b, p.x + slot * (double)i + (slot - bw) / 2, y1, bw, y0 - y1, col, tip);
      }
      ff__sbf(&b, "</g>\n");
    }
    ff__sbf(&b, "<g class=\"labels\">\n");
    for (size_t i = 0; i < n_bars; i++) {
      char t[32];
      double cx = p.x + slot * ((double)i + 0.5);
      double top = total[i]; /* the label above the stack: medians of the parts need not sum to the total's */
      double stack = 0;
      for (size_t f = 0; f < fam.n; f++) stack += value[i][f];
      top = fmax(top, stack);
      ff__sbf(&b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"10\">%s</text>\n", cx,
              ff__py(&p, top / u.div) - 4, ff_fmt_ns(total[i], t, sizeof t));
      ff__sbf(&b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", cx, p.y + p.h + 16);
      ff__sbx(&b, blabel[i]);
      ff__sbf(&b, "</text>\n");
      if (projected && i % per_run == 0) {
        ff__sbf(&b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-weight=\"bold\">",
                p.x + slot * ((double)i + per_run / 2.0), p.y + p.h + 32);
        ff__sbx(&b, runs[i / per_run].label);
        ff__sbf(&b, "</text>\n");
      }
    }
    ff__sbf(&b, "</g>\n");
    if (projected) {
      ff__sbf(&b, "<text x=\"%.1f\" y=\"%d\" font-size=\"10\" fill=\"#555555\">projected: T = comp + "
                  "max(sent P0, sent P1)/bw + rounds × latency (duplex convention)</text>\n"
                  "<text x=\"%.1f\" y=\"%d\" font-size=\"10\" fill=\"#555555\">LAN 1 GB/s, 0.5 ms per round; "
                  "WAN 400 MB/s, 4 ms per round</text>\n",
              p.x, H - 26, p.x, H - 12);
    }
    for (size_t k = fam.n; k-- > 0;) { /* top of the stack first, as drawn */
      char col[8];
      ff__family_colour(fam.name[ord[k]], col);
      ff__legend(&b, p.x + p.w + 24, p.y + 14 + 20.0 * (double)(fam.n - 1 - k), fam.name[ord[k]], col, 0, 0);
    }
    ff__sbf(&b, "</svg>\n");
    st = ff__sb_done(&b, svg);
  }
  ff__names_free(&fam);
  free(value);
  free(total);
  free(blabel);
  return st;
}

/* ---- Per-layer time and bytes (grouped bars, two panels) ----------------------------------------- */

ff_status ff_plot_layers_svg(const ff_plot_run *runs, size_t n_runs, char **svg) {
  *svg = NULL;
  if (n_runs == 0 || n_runs > 8) {
    FF_ERROR("plot: 1 to 8 runs per per-layer figure (got %zu)", n_runs);
    return FF_EINVAL;
  }
  ff__names lay = {0};
  double t[8][64] = {{0}}, by[8][64] = {{0}};
  ff_status st = FF_OK;
  for (size_t r = 0; !st && r < n_runs; r++) {
    ff_report rep;
    if ((st = ff_report_compute(runs[r].bd, FF_GROUP_LAYER, &rep))) break;
    for (size_t i = 0; i < rep.n_rows; i++) {
      int l = ff__names_add(&lay, rep.rows[i].key);
      if (l < 0) {
        st = FF_ENOMEM;
        break;
      }
      t[r][l] = rep.rows[i].time.median;
      by[r][l] = rep.rows[i].link.median;
    }
    ff_report_free(&rep);
  }
  size_t ord[64];
  ff__names_order(&lay, ord);
  ff__sb b = {0};
  if (!st) {
    double tmax = 0, bmax = 0;
    for (size_t r = 0; r < n_runs; r++)
      for (size_t l = 0; l < lay.n; l++) {
        tmax = fmax(tmax, t[r][l]);
        bmax = fmax(bmax, by[r][l]);
      }
    ff__unit tu = ff__time_unit(tmax), bu = ff__byte_unit(bmax);
    const int W = 300 + (int)(lay.n * (n_runs * 26 + 20)) > 640 ? 300 + (int)(lay.n * (n_runs * 26 + 20)) : 640,
              H = 640;
    ff__svg_open(&b, W, H, "Time and link bytes per layer");
    ff__panel pt = {80, 50, W - 80 - 170, 220, 0}, pb = {80, 350, W - 80 - 170, 220, 0};
    char lab[64];
    snprintf(lab, sizeof lab, "time (%s)", tu.unit);
    ff__y_axis(&b, &pt, tmax / tu.div, lab);
    snprintf(lab, sizeof lab, "link bytes (%s)", bu.unit);
    ff__y_axis(&b, &pb, bmax / bu.div, lab);
    const double slot = pt.w / (double)(lay.n ? lay.n : 1), bw = slot * 0.8 / (double)n_runs;
    for (size_t r = 0; r < n_runs; r++) {
      const char *col = ff__series_colour(r);
      ff__series_open(&b, runs[r].label);
      for (size_t k = 0; k < lay.n; k++) {
        const size_t l = ord[k];
        double x = pt.x + slot * (double)k + slot * 0.1 + bw * (double)r;
        char tip[256], v[32];
        snprintf(tip, sizeof tip, "%s · layer %s: %s", runs[r].label, lay.name[l], ff_fmt_ns(t[r][l], v, sizeof v));
        double y = ff__py(&pt, t[r][l] / tu.div);
        ff__rect(&b, x, y, bw, pt.y + pt.h - y, col, tip);
        snprintf(tip, sizeof tip, "%s · layer %s: %s", runs[r].label, lay.name[l],
                 ff_fmt_bytes(by[r][l], v, sizeof v));
        y = ff__py(&pb, by[r][l] / bu.div);
        ff__rect(&b, x, y, bw, pb.y + pb.h - y, col, tip);
      }
      ff__sbf(&b, "</g>\n");
      ff__legend(&b, pt.x + pt.w + 24, pt.y + 14 + 20.0 * (double)r, runs[r].label, col, 0, 0);
    }
    for (size_t k = 0; k < lay.n; k++) {
      const char *name = lay.name[ord[k]];
      char txt[80];
      if (strcmp(name, "none") == 0) snprintf(txt, sizeof txt, "no layer");
      else if (strcmp(name, "Other") == 0) snprintf(txt, sizeof txt, "Other");
      else snprintf(txt, sizeof txt, "layer %s", name);
      for (int panel = 0; panel < 2; panel++) {
        const ff__panel *p = panel ? &pb : &pt;
        ff__sbf(&b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", p->x + slot * ((double)k + 0.5),
                p->y + p->h + 16);
        ff__sbx(&b, txt);
        ff__sbf(&b, "</text>\n");
      }
    }
    ff__sbf(&b, "<text x=\"%.1f\" y=\"%d\" font-size=\"10\" fill=\"#555555\">time: exclusive sum per layer; "
                "link bytes: P0 sent + P1 sent; medians over counted repetitions</text>\n",
            pt.x, H - 12);
    ff__sbf(&b, "</svg>\n");
    st = ff__sb_done(&b, svg);
  }
  ff__names_free(&lay);
  return st;
}

/* ---- The Amdahl picture -------------------------------------------------------------------------- */

ff_status ff_plot_amdahl_svg(const ff_amdahl *a, const char *base_label, const char *cand_label, char **svg) {
  *svg = NULL;
  size_t n = 0, idx[64];
  double max = fmax(a->S_meas, a->S_pred);
  for (size_t i = 0; i < a->n_rows && n < 64; i++) {
    const ff_amdahl_row *r = &a->rows[i];
    if (r->is_scope || !isfinite(r->s) || !(r->t_base > 0)) continue; /* no bar for ∞ or 0/0 */
    idx[n++] = i;
    max = fmax(max, r->s);
  }
  if (!isfinite(max) || max <= 0) max = 1;
  ff__sb b = {0};
  const int W = 380 + (int)n * 70, H = 460;
  char title[256];
  snprintf(title, sizeof title, "Amdahl: per-family speedups %s → %s against the end-to-end speedup", base_label,
           cand_label);
  ff__svg_open(&b, W, H, title);
  ff__panel p = {80, 50, W - 80 - 280, 320, 0};
  ff__y_axis(&b, &p, max * 1.1, "speedup (×): base time / candidate time");
  const double slot = p.w / (double)(n ? n : 1), bw = slot * 0.6;
  for (size_t k = 0; k < n; k++) {
    const ff_amdahl_row *r = &a->rows[idx[k]];
    char col[8], tip[256];
    ff__family_colour(r->name, col);
    ff__series_open(&b, r->name);
    snprintf(tip, sizeof tip, "%s: speedup %.3f× (%s), %.1f%% of %s's time%s", r->name, r->s,
             r->s_source == FF_AMDAHL_S_MICRO ? "microbenchmark" : "in-run", 100 * r->f, base_label,
             r->targeted ? ", targeted" : "");
    double y = ff__py(&p, r->s);
    ff__rect(&b, p.x + slot * (double)k + (slot - bw) / 2, y, bw, p.y + p.h - y, col, tip);
    ff__sbf(&b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"10\">%.2f×</text>\n",
            p.x + slot * ((double)k + 0.5), y - 4, r->s);
    ff__sbf(&b, "</g>\n");
    ff__legend(&b, p.x + p.w + 24, p.y + 114 + 20.0 * (double)k, r->name, col, 0, 0);
    ff__sbf(&b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", p.x + slot * ((double)k + 0.5), p.y + p.h + 16);
    ff__sbx(&b, r->name);
    ff__sbf(&b, "</text>\n<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"10\" fill=\"#555555\">"
                "f = %.1f%%%s</text>\n",
            p.x + slot * ((double)k + 0.5), p.y + p.h + 30, 100 * r->f, r->targeted ? " *" : "");
  }
  /* the two end-to-end speedups as horizontal lines across the bars */
  const struct {
    const char *name, *col;
    double v;
    int dashed;
  } lines[] = {{"measured end to end", "#000000", a->S_meas, 0}, {"predicted (Amdahl)", "#D62728", a->S_pred, 1}};
  for (size_t i = 0; i < 2; i++) {
    if (!isfinite(lines[i].v)) continue;
    double y = ff__py(&p, lines[i].v);
    ff__series_open(&b, lines[i].name);
    ff__sbf(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"%s>"
                "<title>%s: %.3f×</title></line>\n</g>\n",
            p.x, y, p.x + p.w, y, lines[i].col, lines[i].dashed ? " stroke-dasharray=\"6,4\"" : "", lines[i].name,
            lines[i].v);
    char nm[64];
    snprintf(nm, sizeof nm, "%s", lines[i].name);
    ff__legend(&b, p.x + p.w + 24, p.y + 14 + 20.0 * (double)i, nm, lines[i].col, 1, lines[i].dashed);
  }
  ff__sbf(&b, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\">S measured %.3f×, predicted %.3f×</text>\n",
          p.x + p.w + 24, p.y + 70, a->S_meas, a->S_pred);
  ff__sbf(&b, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\">residual %+.1f%%</text>\n", p.x + p.w + 24, p.y + 86,
          100 * a->residual);
  ff__sbf(&b, "<text x=\"%.1f\" y=\"%d\" font-size=\"10\" fill=\"#555555\">f: share of %s's online time; * a "
              "target of the prediction 1/((1 − Σf) + Σ f/s)</text>\n",
          p.x, H - 12, base_label);
  ff__sbf(&b, "</svg>\n");
  return ff__sb_done(&b, svg);
}

/* ---- Scaling of a grid (lines against x) -------------------------------------------------------- */

ff_status ff_plot_scaling_svg(const ff_plot_series *series, size_t n_series, const char *x_label, char **svg) {
  *svg = NULL;
  if (n_series == 0) {
    FF_ERROR("plot: a scaling figure needs at least one series");
    return FF_EINVAL;
  }
  double xmin = INFINITY, xmax = -INFINITY, mt = 0, mb = 0, mr = 0;
  for (size_t s = 0; s < n_series; s++)
    for (size_t i = 0; i < series[s].n; i++) {
      xmin = fmin(xmin, series[s].x[i]);
      xmax = fmax(xmax, series[s].x[i]);
      mt = fmax(mt, series[s].time_ns[i]);
      mb = fmax(mb, series[s].link_B[i]);
      mr = fmax(mr, series[s].rounds[i]);
    }
  if (!isfinite(xmin)) xmin = xmax = 0;
  if (xmax <= xmin) xmax = xmin + 1;
  ff__unit tu = ff__time_unit(mt), bu = ff__byte_unit(mb);
  const int W = 1080, H = 430 + 20 * (int)n_series; /* the legend goes under the panels, a line per series */
  ff__sb b = {0};
  ff__svg_open(&b, W, H, "Scaling of the grid: time, link bytes and rounds");
  ff__panel pn[3] = {{80, 50, 260, 300, 0}, {440, 50, 260, 300, 0}, {800, 50, 260, 300, 0}};
  char lab[3][64];
  snprintf(lab[0], sizeof lab[0], "online time (%s)", tu.unit);
  snprintf(lab[1], sizeof lab[1], "link bytes (%s)", bu.unit);
  snprintf(lab[2], sizeof lab[2], "rounds");
  for (size_t s = 0; s < n_series; s++)
    for (size_t i = 0; series[s].time_p75 && i < series[s].n; i++) mt = fmax(mt, series[s].time_p75[i]);
  const double maxv[3] = {mt / tu.div, mb / bu.div, mr};
  for (int k = 0; k < 3; k++) {
    ff__y_axis(&b, &pn[k], maxv[k], lab[k]);
    ff__x_label(&b, &pn[k], x_label);
    double step = ff__nice_step(xmax - xmin);
    for (double v = ceil(xmin / step) * step; v <= xmax + step / 2; v += step)
      ff__sbf(&b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%g</text>\n",
              pn[k].x + (v - xmin) / (xmax - xmin) * pn[k].w, pn[k].y + pn[k].h + 16, v);
  }
  for (size_t s = 0; s < n_series; s++) {
    const char *col = ff__series_colour(s);
    ff__series_open(&b, series[s].label);
    for (int k = 0; k < 3; k++) {
      const double *v = k == 0 ? series[s].time_ns : k == 1 ? series[s].link_B : series[s].rounds;
      const double div = k == 0 ? tu.div : k == 1 ? bu.div : 1;
      ff__sbf(&b, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", col);
      for (size_t i = 0; i < series[s].n; i++)
        ff__sbf(&b, "%s%.1f,%.1f", i ? " " : "", pn[k].x + (series[s].x[i] - xmin) / (xmax - xmin) * pn[k].w,
                ff__py(&pn[k], v[i] / div));
      ff__sbf(&b, "\"/>\n");
      for (size_t i = 0; k == 0 && series[s].time_p25 && series[s].time_p75 && i < series[s].n; i++) {
        const double x = pn[k].x + (series[s].x[i] - xmin) / (xmax - xmin) * pn[k].w;
        ff__sbf(&b, "<line class=\"iqr\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                    "stroke-width=\"1.5\"/>\n",
                x, ff__py(&pn[k], series[s].time_p25[i] / div), x, ff__py(&pn[k], series[s].time_p75[i] / div), col);
      }
      for (size_t i = 0; i < series[s].n; i++) {
        ff__sbf(&b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\"><title>",
                pn[k].x + (series[s].x[i] - xmin) / (xmax - xmin) * pn[k].w, ff__py(&pn[k], v[i] / div), col);
        ff__sbx(&b, series[s].label);
        ff__sbf(&b, " at %g: %g %s</title></circle>\n", series[s].x[i], v[i] / div,
                k == 2 ? "rounds" : k ? bu.unit : tu.unit);
      }
    }
    ff__sbf(&b, "</g>\n");
    ff__legend(&b, 80, 432 + 20.0 * (double)s, series[s].label, col, 1, 0);
  }
  int whiskers = 0;
  for (size_t s = 0; s < n_series; s++) whiskers |= series[s].time_p25 && series[s].time_p75;
  ff__sbf(&b, "<text x=\"560\" y=\"432\" font-size=\"10\" fill=\"#555555\">medians over the counted repetitions%s"
              "</text>\n",
          whiskers ? "; time whiskers: p25–p75" : "");
  ff__sbf(&b, "</svg>\n");
  return ff__sb_done(&b, svg);
}

/* ---- One HTML page: tables and figures ------------------------------------------------------------ */

ff_status ff_plot_html(const char *title, const ff_plot_run *runs, size_t n_runs, const char *const *svgs,
                       size_t n_svgs, char **html) {
  *html = NULL;
  ff__sb b = {0};
  ff__sbf(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>");
  ff__sbx(&b, title);
  ff__sbf(&b, "</title>\n<style>body{font-family:Helvetica,Arial,sans-serif;margin:2em;max-width:1300px}"
              "table{border-collapse:collapse;margin:0.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 8px}"
              "td.n{text-align:right}th{background:#f3f3f3}figure{margin:1em 0}</style></head><body>\n<h1>");
  ff__sbx(&b, title);
  ff__sbf(&b, "</h1>\n");
  for (size_t r = 0; r < n_runs; r++) {
    ff_report rep;
    ff_status st = ff_report_compute(runs[r].bd, FF_GROUP_FAMILY, &rep);
    if (st) {
      free(b.s);
      return st;
    }
    char hdr[512];
    ff__sbf(&b, "<h2>");
    ff__sbx(&b, runs[r].label);
    ff__sbf(&b, "</h2>\n<p>");
    ff__sbx(&b, ff_report_header(runs[r].bd, hdr, sizeof hdr));
    ff__sbf(&b, "</p>\n<table><tr><th>family</th><th>time (excl sum, median)</th><th>share</th><th>link bytes</th>"
                "<th>rounds</th><th>blocked on peer</th></tr>\n");
    for (size_t i = 0; i < rep.n_rows; i++) {
      const ff_report_row *w = &rep.rows[i];
      char t[32], l[32], wt[32], col[8];
      ff__family_colour(w->key, col);
      ff__sbf(&b, "<tr><td><span style=\"color:%s\">■</span> ", col);
      ff__sbx(&b, w->key);
      ff__sbf(&b, "</td><td class=\"n\">%s</td><td class=\"n\">%.1f%%</td><td class=\"n\">%s</td><td class=\"n\">%.0f"
                  "</td><td class=\"n\">%s</td></tr>\n",
              ff_fmt_ns(w->time.median, t, sizeof t), w->share, ff_fmt_bytes(w->link.median, l, sizeof l),
              w->rounds.median, ff_fmt_ns(w->wait.median, wt, sizeof wt));
    }
    char t[32], l[32];
    ff__sbf(&b, "<tr><th>total</th><th class=\"n\">%s</th><th></th><th class=\"n\">%s</th><th class=\"n\">%.0f</th>"
                "<th></th></tr></table>\n",
            ff_fmt_ns(rep.total_wall.median, t, sizeof t), ff_fmt_bytes(rep.total_link.median, l, sizeof l),
            rep.total_rounds.median);
    ff_report_free(&rep);
  }
  for (size_t i = 0; i < n_svgs; i++) {
    const char *s = svgs[i];
    if (!s) continue;
    const char *start = strstr(s, "<svg"); /* inline: drop the XML declaration */
    ff__sbf(&b, "<figure>\n%s</figure>\n", start ? start : s);
  }
  ff__sbf(&b, "</body></html>\n");
  return ff__sb_done(&b, html);
}
