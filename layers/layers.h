/* layers.h: the public interface of layers/ — buse's layer store.  A layer is a stack of
 * thin block diffs (sparse data file + 2-bit map); it reads through its stack and writes only
 * into its own top diff.  layers/ depends on common/ only. Every function is thread-safe.
 * Errors: -1 or NULL with err_set (messages name the layer id). */
#ifndef BUSE_LAYERS_H
#define BUSE_LAYERS_H

#include <stdbool.h>
#include <stdint.h>

#define LAYER_ID_MAX     128
#define LAYER_BLOCK_SIZE 4096u /* every diff's block, and the base ext4's */

struct layer_store;
struct layer_stack;

struct layer_store_opts {
  uint64_t base_size;    /* virtual size of the base ext4, default 10 GiB */
  uint32_t block_size;   /* 4096 */
  const char *mkfs_args; /* extra mke2fs arguments (space-separated), may be NULL */
  const char *fs;        /* "ext4" */
  /* Not stored with the store, given at every open (cli/ sets it from BUSE_DIRECT_IO=off):
   * writable diffs get no O_DIRECT fd, all their I/O goes through the host's page cache. */
  bool buffered_io;
};

/* Open (creating if needed) the store in HOME: makes diffs/ layers/ mnt/, the base diff on
 * first use (mke2fs -t ext4 -d with an empty rootfs/), and finishes or rolls back anything
 * left half done.  OPTS may be NULL (defaults, or what the store was created with). */
struct layer_store *layer_store_open (const char *home, const struct layer_store_opts *opts);
/* Open HOME only to look (`buse ls`/`inspect` beside a daemon that holds the store): no lock,
 * no recovery, every change and every writable open refused with EROFS. */
struct layer_store *layer_store_open_ro (const char *home);
void layer_store_close (struct layer_store *st); /* accepts NULL */
const char *layer_store_home (const struct layer_store *st);

/* Create layer ID on top of PARENT (NULL: on the base).  SIZE 0: the parent's (or base) size;
 * larger grows the virtual device (the filesystem is grown by the caller).  O(1).
 * If PARENT is open writable, its current top diff is sealed (made immutable and shared) and
 * PARENT gets a fresh top diff; the caller freezes the filesystem around this. */
int layer_create (struct layer_store *st, const char *id, const char *parent, uint64_t size,
                  bool rw);
struct fsync_batch; /* common/common.h */
/* layer_create whose new files join B instead of being synced: durable once the caller runs
 * B (fsync_batch_run), so the caller's own new files share the one journal commit.  Should B
 * fail, the caller removes the layer. */
int layer_create_in (struct layer_store *st, const char *id, const char *parent, uint64_t size,
                     bool rw, struct fsync_batch *b);
/* Remove ID (refused while it is open).  Diffs live while any layer uses them. */
int layer_remove (struct layer_store *st, const char *id);
bool layer_exists (struct layer_store *st, const char *id);
bool layer_is_open (struct layer_store *st, const char *id); /* a stack is open on it */

struct layer_info {
  char id[LAYER_ID_MAX + 1];
  char parent[LAYER_ID_MAX + 1]; /* "" without a parent */
  char top_diff[LAYER_ID_MAX + 8];
  uint64_t virtual_size;
  uint64_t owned_bytes; /* bytes of blocks its top diff holds (present or zero) */
  uint64_t disk_bytes;  /* host disk used by its top diff's files */
  unsigned depth;       /* diffs in its stack, base included */
  bool rw;
  bool open; /* a stack is open on it */
};
int layer_info (struct layer_store *st, const char *id, struct layer_info *info);
/* Calls fn for every layer (sorted by id); stops when fn returns non-zero. */
int layer_list (struct layer_store *st, int (*fn) (void *cbdata, const struct layer_info *info),
                void *cbdata);
/* JSON text for `buse inspect ID` (parent, diffs with owned bytes, virtual size); caller frees. */
char *layer_inspect_json (struct layer_store *st, const char *id);
/* Host disk bytes used by the whole store. */
uint64_t layer_store_disk_bytes (struct layer_store *st);

/* clone.c: make layer DST read exactly what layer SRC reads (same virtual size), copying into
 * DST's top diff only the blocks where their stacks differ (the diffs one has and the other
 * has not).  SRC must not be written meanwhile (freeze its filesystem); DST must not be in use. */
int layer_clone_view (struct layer_store *st, const char *dst, const char *src);

/* ---- I/O on a layer's stack (what the NBD backend calls) ---------------------------- */

/* Open the stack of ID.  Opening an open layer returns the same object (refcounted), so all
 * connections share one view.  writable=false on a writable layer still shares the object. */
struct layer_stack *layer_stack_open (struct layer_store *st, const char *id, bool writable);
void layer_stack_close (struct layer_stack *ls); /* drops a reference; accepts NULL */
uint64_t layer_stack_size (struct layer_stack *ls);
bool layer_stack_writable (struct layer_stack *ls);
int layer_stack_pread (struct layer_stack *ls, void *buf, uint32_t count, uint64_t offset);
/* What layer_stack_pread would read, as runs: fn gets each contiguous run's data fd and offset
 * (the file offset is the device offset; fd -1: zeros) while the stack cannot change under it;
 * direct: FD is opened O_DIRECT (aligned buffers only).  Stops at fn's first -1 and returns
 * it; 0 when every run was given. */
int layer_stack_read_runs (struct layer_stack *ls, uint32_t count, uint64_t offset,
                           int (*fn) (void *cbdata, int fd, uint64_t off, uint64_t len,
                                      bool direct),
                           void *cbdata);
int layer_stack_pwrite (struct layer_stack *ls, const void *buf, uint32_t count, uint64_t offset,
                        bool fua);
int layer_stack_flush (struct layer_stack *ls);
int layer_stack_trim (struct layer_stack *ls, uint32_t count, uint64_t offset, bool fua);
int layer_stack_zero (struct layer_stack *ls, uint32_t count, uint64_t offset, bool fua);
/* Extents of the merged view: flags 0 = data, 3 = hole+zero (absent in every diff or zeroed). */
int layer_stack_extents (struct layer_stack *ls, uint32_t count, uint64_t offset,
                         int (*fn) (void *cbdata, uint64_t off, uint64_t len, uint32_t flags),
                         void *cbdata);
/* Blocks where the views of layers A and B may differ: FN gets runs [blk, blk+n) (4 KiB blocks)
 * held by the diffs of each stack above their last common diff, diff by diff (runs may
 * overlap).  An open layer's top is read from memory: flush first (FIFREEZE) for all of it. */
int layer_diverged_blocks (struct layer_store *st, const char *a, const char *b,
                           int (*fn) (void *cbdata, uint64_t blk, uint64_t n), void *cbdata);

/* ---- scan.c: a store's files read straight from disk, for `buse fsck`, `buse gc` and
 * `buse du`: no lock taken, nothing changed, so it may run beside a daemon; what it reads
 * half-written is reported, not fixed. */
struct scan_diff {
  char id[LAYER_ID_MAX + 1];
  char parent[LAYER_ID_MAX + 1]; /* "" for a diff without parent (the base) */
  char state[16];                /* "ready", "creating", "removing", "" if unreadable */
  uint64_t size;                 /* virtual size */
  bool meta_ok;                  /* meta.json parsed and complete */
  unsigned users;                /* layers whose chain contains it */
  bool reached;                  /* the base, or in some layer's chain */
};

struct scan_layer {
  char id[LAYER_ID_MAX + 1];
  char parent[LAYER_ID_MAX + 1];
  char top[LAYER_ID_MAX + 1];
  char state[16];
  bool ok; /* parsed, names a top diff */
};

struct scan_store {
  char *home;
  char base[LAYER_ID_MAX + 1];
  bool store_ok; /* store.json parsed */
  struct scan_diff *d;
  size_t nd;
  struct scan_layer *l;
  size_t nl;
  char **mnt; /* names under mnt/ */
  size_t nmnt;
};

/* Read store.json, diffs/<id>/meta.json, layers/<id>.json and list mnt/.  Unreadable
 * entries are kept with meta_ok/ok false; -1 only when HOME cannot be read at all. */
int store_scan (const char *home, struct scan_store *s);
void scan_store_free (struct scan_store *s);
struct scan_diff *scan_find_diff (struct scan_store *s, const char *id);
struct scan_layer *scan_find_layer (struct scan_store *s, const char *id);
/* Call FN for each diff of L's chain, top first; stops at a missing diff or a loop. */
void scan_chain (struct scan_store *s, const struct scan_layer *l,
                 void (*fn) (void *cbdata, struct scan_diff *d), void *cbdata);
/* Take the store's lock (<home>/lock, the flock layer_store_open takes) without waiting:
 * an fd to close later, or -1 + err (EBUSY naming the lock when a daemon holds it). */
int store_lock_try (const char *home);
/* Size in bytes of the map file of a diff of SIZE virtual bytes (the format of bmap.c). */
uint64_t layer_map_size (uint64_t size);

#endif
