/* internal.h: what the files of mounts/ share: the mount manager's table of mounted layers and
 * its helpers (mountmgr.c: mounting, Get/Put; mountmgr-life.c: start, restore, session,
 * create/remove, stop) and the low-space guard's state (lowspace*.c). */
#ifndef BUSE_MOUNTS_INTERNAL_H
#define BUSE_MOUNTS_INTERNAL_H

#include "mounts/mounts.h"

struct mm_entry {
  char id[LAYER_ID_MAX + 1];
  unsigned count;    /* dockerd's references: saved, restored at start */
  unsigned internal; /* our own (ApplyDiff, Diff...): die with the process */
  struct kdev *dev;
  bool mounted;
};

struct mm_mounts {
  pthread_mutex_t lock;
  pthread_cond_t released; /* an internal reference was dropped */
  char *home, *state_file, *kdev_state, *mountopt;
  struct layer_store *st;
  struct nbds_server *srv;
  enum kdev_mode mode;
  struct kdev_opts kdev; /* mm_cfg.kdev, state_dir = kdev_state */
  bool stopping; /* starting or stopping: busy mounts are detached lazily, without waiting */
  struct mm_entry *e;
  size_t n, cap;
};

/* <home>/mnt/<id>/<leaf> ("" for the directory itself); NULL + err. */
char *mm_path_of (struct mm_mounts *m, const char *id, const char *leaf);
struct mm_entry *mm_find (struct mm_mounts *m, const char *id);
struct mm_entry *mm_find_or_add (struct mm_mounts *m, const char *id);
void mm_drop (struct mm_mounts *m, struct mm_entry *e);
/* Save dockerd's counts in <state>/mounts.json (a warning on failure). */
void mm_save (struct mm_mounts *m);
/* Unmount rootfs and fs of ID (whether or not we mounted them). */
int mm_umount_dirs (struct mm_mounts *m, const char *id);
int mm_unmount_layer (struct mm_mounts *m, struct mm_entry *e);
/* Attach ID, mount its filesystem, bind its rootfs/, apply its size limit. */
int mm_mount_layer (struct mm_mounts *m, struct mm_entry *e);
bool mm_healthy (struct mm_mounts *m, struct mm_entry *e);

/* ---- lowspace.c (the guard thread: host room, rounds, emergency reserve, start/stop) and
 * lowspace-layers.c (each mounted layer: measuring, sharing, balloons) ---------------- */
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

struct mm_lowspace {
  char *home;
  struct mm_mounts *m;
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
uint64_t ls_avail (const char *dir, uint64_t *total);
/* Refresh G's table from the layers mounted now (the mount manager's lock held). */
void ls_scan (struct mm_lowspace *g);
/* Set every layer's target: its share of ROOM bytes. */
void ls_share (struct mm_lowspace *g, uint64_t room);
/* Grow or shrink L's balloon so that it keeps at most its target free. */
void ls_set_balloon (struct mm_lowspace *g, struct ls_layer *l);
/* syncfs L so that what it took is on the host and counted there. */
void ls_sync (struct mm_lowspace *g, struct ls_layer *l);

#endif
