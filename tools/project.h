/* `fusefss project`: LAN/WAN latency projection of a merged run, T = comp + bytes term + rounds·lat,
 * under two named conventions (seed: 2·link_B/bw; duplex: max(sent_P0, sent_P1)/bw).
 * DESIGN.md §6; research/profiling.md §6–§7. Test: tests/test_amdahl.c (project cases). */
#ifndef FF_TOOLS_PROJECT_H
#define FF_TOOLS_PROJECT_H

#include <stddef.h>

#include "core/status.h"
#include "tools/breakdown.h"

typedef enum {
  FF_CONV_SEED,   /* T = comp + 2·link_B/bw + rounds·lat: the published formula (both directions serialised) */
  FF_CONV_DUPLEX, /* T = comp + max(sent_P0, sent_P1)/bw + rounds·lat: full-duplex physical time */
} ff_convention;

const char *ff_convention_name(ff_convention c);
/* The convention's formula, printed next to every projection. */
const char *ff_convention_formula(ff_convention c);
int ff_convention_parse(const char *s); /* -1 if unknown */

typedef struct {
  const char *name; /* "LAN", "WAN", "custom" */
  double bw_Bps;    /* bytes per second */
  double lat_ns;    /* one-way latency charged per round */
} ff_network;

/* Presets: LAN = 1 GB/s (1e9 B/s) and 0.5 ms; WAN = 400 MB/s (4e8 B/s) and 4 ms. */
ff_network ff_network_lan(void);
ff_network ff_network_wan(void);

typedef struct {
  char *key;        /* family, or path by scope; "total" for the total */
  int depth;
  double comp_ns;   /* median over counted reps of comp (max over parties of wall − wait) */
  double bytes_B;   /* median of the bytes the convention charges: link_B (seed) or max(sent_P0, sent_P1) */
  double bytes_ns;  /* median of the bytes term: 2·link_B/bw (seed) or max(sent_P0, sent_P1)/bw (duplex) */
  double rounds;    /* median rounds */
  double lat_ns;    /* rounds · lat */
  double T_ns;      /* comp_ns + bytes_ns + lat_ns */
  double wall_ns;   /* measured wall median (reference) */
} ff_proj_row;

typedef struct {
  ff_network net;
  ff_convention conv;
  ff_group_by by;
  ff_proj_row total; /* from the merged repetition totals */
  size_t n_rows;
  ff_proj_row *rows; /* by family (Other included) or by scope (exclusive values per path, then Other) */
} ff_projection;

/* by: FF_GROUP_FAMILY or FF_GROUP_SCOPE (other groupings are accepted too). Each term is a median
 * across the counted repetitions; T is their sum (bytes and rounds are the same in every repetition
 * of a deterministic protocol, so this is the median of the per-repetition T). */
ff_status ff_project_compute(const ff_breakdown *bd, const ff_network *net, ff_convention conv, ff_group_by by,
                             ff_projection *out);
void ff_projection_free(ff_projection *p);

/* fusefss project breakdown_merged.json [--lan|--wan|--bw B --lat L] [--convention seed|duplex]
 *                 [--by family|scope] [--format md|json] */
int ff_cmd_project(int argc, char **argv);

#endif
