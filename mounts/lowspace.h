/* lowspace.h: what lowspace.c (the guard thread: host room, rounds, emergency reserve,
 * start/stop) and lowspace-layers.c (each mounted layer: measuring, sharing, balloons) share. */
#ifndef BUSE_GD_LOWSPACE_H
#define BUSE_GD_LOWSPACE_H

#include "graphdriver/mountmgr.h"

#define LS_BALLOON   ".buse-lowspace-balloon"
#define LS_RESERVE   "lowspace-reserve" /* same name in layers/io.c */
#define LS_TICK_MS   100
#define LS_STEP      (1ull << 20)    /* slack before shrinking a balloon */
#define LS_SYNC_MIN  (8ull << 20)    /* pending bytes worth a syncfs */
#define LS_IDLE_MAX  (1ull << 30)    /* most an idle layer keeps when others write */
#define LS_ACTIVE_NS (2000000000ull) /* a layer that took space this recently writes */
#define MiB(x)       ((x) >> 20)

/* A mounted layer as the guard sees it. */
struct ls_layer {
  char id[LAYER_ID_MAX + 1];
  bool seen;          /* mounted at this tick */
  uint64_t prev;      /* natural free space at the last tick */
  uint64_t taken;     /* drops of natural free space since the last sync */
  uint64_t host_base; /* host bytes of its top diff at the last sync */
  uint64_t natural;   /* free space + balloon: what it would have without one */
  uint64_t balloon;   /* bytes the balloon holds */
  uint64_t pending;   /* taken but not yet on the host (estimate) */
  uint64_t target;    /* free space it may keep */
  uint64_t last_take; /* now_ns () when it last took space */
  bool warned;        /* a balloon failure was logged (once per mount) */
};

struct gd_lowspace {
  char *home;
  struct gd_mounts *m;
  uint64_t min_free, reserve;
  bool running, stop;
  int state; /* 0 room, 1 limited, 2 full (for the log) */
  pthread_t thread;
  pthread_mutex_t lock;
  pthread_cond_t wake;
  struct ls_layer *l;
  size_t n, cap;
};

/* lowspace-layers.c */
/* Free bytes of the filesystem holding DIR (0 on error); *TOTAL (may be NULL) its size. */
uint64_t gd_ls_avail (const char *dir, uint64_t *total);
/* Refresh G's table from the layers mounted now (the mount manager's lock held). */
void gd_ls_scan (struct gd_lowspace *g);
/* Set every layer's target: its share of ROOM bytes. */
void gd_ls_share (struct gd_lowspace *g, uint64_t room);
/* Grow or shrink L's balloon so that it keeps at most its target free. */
void gd_ls_set_balloon (struct gd_lowspace *g, struct ls_layer *l);
/* syncfs L so that what it took is on the host and counted there. */
void gd_ls_sync (struct gd_lowspace *g, struct ls_layer *l);

#endif
