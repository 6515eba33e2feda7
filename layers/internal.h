/* internal.h: what the files of layers/ share — the 2-bit block map (bmap.c), diffs and their
 * metadata (diff.c), the merged index of immutable diffs (index.c), stacks (stack.c, io.c),
 * the store and its layer table (store.c, layer.c, base.c). */
#ifndef BUSE_LAYERS_INTERNAL_H
#define BUSE_LAYERS_INTERNAL_H

#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/common.h"
#include "layers/layers.h"

#define LAYER_BS       LAYER_BLOCK_SIZE
#define LAYER_BS_SHIFT 12
#define DIFF_ID_LEN    32 /* hex characters */

/* ---- bmap.c: 2 bits per block, 32 blocks per word, atomic updates -------------------- */
enum { BMAP_ABSENT = 0, BMAP_PRESENT = 1, BMAP_ZERO = 2 };
#define BMAP_PAGE       4096u /* bytes of map written back as one unit */
#define BMAP_PAGE_WORDS (BMAP_PAGE / 8)

struct bmap {
  uint64_t nblocks;
  size_t nwords;   /* whole pages' worth of words */
  uint64_t *w;     /* block b: bits 2*(b%32) of w[b/32] */
  size_t npages;   /* map pages on disk */
  uint64_t *dirty; /* one bit per page: changed since the last flush */
};
struct bmap *bmap_new (uint64_t nblocks);
void bmap_free (struct bmap *m);
size_t bmap_file_size (uint64_t nblocks);
unsigned bmap_get (const struct bmap *m, uint64_t b);
/* Set blocks [b, b+n) to STATE and mark their pages dirty. */
void bmap_set_range (struct bmap *m, uint64_t b, uint64_t n, unsigned state);
/* First block >= b (and < end) whose state differs from the state of b; END if none. */
uint64_t bmap_run_end (const struct bmap *m, uint64_t b, uint64_t end);
uint64_t bmap_count_owned (const struct bmap *m); /* blocks present or zero */
int bmap_load (struct bmap *m, int fd);
int bmap_save_all (struct bmap *m, int fd);
/* Copy the dirty pages (clearing their dirty bits) into a fresh buffer: *pages gets page
 * numbers, returns the buffer (n * BMAP_PAGE bytes) or NULL when none/err (check *n). */
uint8_t *bmap_take_dirty (struct bmap *m, size_t **pages, size_t *n);
void bmap_mark_dirty (struct bmap *m, const size_t *pages, size_t n);

/* ---- diff.c: one diff = diffs/<id>/{data,map,meta.json} ------------------------------ */
struct diff {
  char id[DIFF_ID_LEN + 1];
  struct diff *parent; /* NULL for the base */
  uint64_t size;       /* virtual size in bytes (multiple of LAYER_BS) */
  uint64_t nblocks;
  bool sealed;     /* immutable: the base, or a diff with children (derived at open, not stored) */
  int64_t created; /* unix seconds */
  uint64_t owned_blocks; /* unless an open stack's top; UINT64_MAX: not counted yet */
  unsigned opens;        /* users of the fds (stacks, indexes); protected by the store lock */
  int data_fd, map_fd;
  int dio_fd; /* data opened O_DIRECT, for aligned I/O of a writable diff; -1: none */
  bool gc_mark;
  struct diff *next; /* store's list */
};
int diff_new_id (char id[DIFF_ID_LEN + 1]);
/* Make the files of a new diff, not yet in the store list: state "creating" (the base, whose
 * content comes next), or with B "ready" and empty, durable once B is run. */
struct diff *diff_create (struct layer_store *st, struct diff *parent, uint64_t size,
                          struct fsync_batch *b);
/* Write meta.json with STATE ("creating", "ready", "removing"). */
int diff_save_meta (struct layer_store *st, struct diff *d, const char *state);
/* Load diffs/<id>/meta.json; *state gets its state (static string). */
struct diff *diff_load (struct layer_store *st, const char *id, char **parent_id,
                        const char **state);
/* A writable diff also gets an O_DIRECT fd unless st->buffered_io. */
int diff_open_fds (struct layer_store *st, struct diff *d); /* opens++ */
void diff_close_fds (struct diff *d);                       /* opens-- */
int diff_delete_files (struct layer_store *st, const char *id);
void diff_free (struct diff *d);
uint64_t diff_disk_bytes (struct layer_store *st, const struct diff *d);
char *diff_path (struct layer_store *st, const char *id, const char *file);
/* Load a diff's map from its file into a new bmap. */
struct bmap *diff_load_map (struct layer_store *st, struct diff *d);

/* ---- index.c: merged index of an immutable chain ------------------------------------ */
#define LINDEX_ZERO     (-1)
#define LINDEX_IDLE_MAX 32
struct lindex {
  struct diff *key; /* the topmost immutable diff */
  unsigned refs;    /* store lock; 0: idle, kept for reuse (store.c) */
  uint64_t idle_tick;
  size_t n; /* extents: [start[i], start[i+1]) owned by owner[i]; start[n] = nblocks */
  uint64_t *start;
  int32_t *owner; /* index into diffs[], or LINDEX_ZERO */
  struct diff **diffs;
  size_t ndiffs;
  uint64_t nblocks;
  struct lindex *next;
};
/* Build from KEY's map M over BELOW (may be NULL). Opens KEY's and BELOW's diffs. */
struct lindex *lindex_build (struct layer_store *st, struct diff *key, const struct bmap *m,
                             const struct lindex *below);
void lindex_free (struct lindex *ix);
/* Owner of block B (LINDEX_ZERO past the end); *end gets the end of that extent. */
int32_t lindex_lookup (const struct lindex *ix, uint64_t b, uint64_t *end);
size_t lindex_mem (const struct lindex *ix);

/* ---- store.c ------------------------------------------------------------------------ */
struct layer {
  char id[LAYER_ID_MAX + 1];
  char parent[LAYER_ID_MAX + 1];
  struct diff *top;
  bool rw;
  int64_t created;
  struct layer_stack *stack; /* open stack or NULL */
  struct layer *next;
};

struct layer_store {
  char *home;
  pthread_mutex_t lock; /* everything below, and the diff/layer tables */
  int lock_fd;
  bool read_only;
  bool buffered_io; /* layer_store_opts.buffered_io */
  uint64_t base_size;
  char *mkfs_args, *fs;
  struct diff *base;
  struct diff *diffs;
  struct layer *layers;
  struct lindex *indexes; /* in use and idle ones */
  uint64_t idle_tick;
  struct layer_stack *stacks;
};
struct diff *store_find_diff (struct layer_store *st, const char *id);
struct layer *store_find_layer (struct layer_store *st, const char *id);
/* Cached index of the chain whose topmost diff is KEY (NULL key: NULL, no error). */
struct lindex *store_index_get (struct layer_store *st, struct diff *key, const struct bmap *m);
void store_index_put (struct layer_store *st, struct lindex *ix);
void store_index_drop_idle (struct layer_store *st, size_t keep);
int store_gc (struct layer_store *st);
/* recover.c */
int store_load_diffs (struct layer_store *st);
int store_load_layers (struct layer_store *st);

/* ---- layer.c ------------------------------------------------------------------------ */
int layer_save (struct layer_store *st, const struct layer *l);
int layer_fresh_top (struct layer_store *st, struct layer *l);
struct layer *layer_load (struct layer_store *st, const char *path);
unsigned layer_depth (const struct layer *l);

/* ---- base.c ------------------------------------------------------------------------- */
struct diff *base_create (struct layer_store *st);

/* ---- stack.c / io.c ----------------------------------------------------------------- */
struct layer_stack {
  struct layer_store *st;
  struct layer *layer;
  unsigned refs; /* store lock */
  bool rw;
  uint64_t size;         /* virtual size: fixed while open */
  pthread_rwlock_t lock; /* I/O holds it shared; sealing holds it exclusive */
  pthread_mutex_t flush_lock;
  uint64_t wgen;       /* data writes and punches of the top so far (atomic) */
  uint64_t synced_gen; /* wgen covered by the last fdatasync of the data (flush_lock) */
  struct diff *top;
  struct bmap *map;
  struct lindex *lower;        /* NULL: nothing below reads as zeros */
  pthread_mutex_t stripes[64]; /* copy-up of partial blocks */
  struct layer_stack *next;
};
int stack_flush_locked (struct layer_stack *ls);
/* Give the open stack LS a fresh top diff over its current top (which becomes sealed). */
int stack_seal (struct layer_stack *ls);
void seal_diff (struct diff *d, const struct bmap *m);

#endif
