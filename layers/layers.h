/* layers.h: the public interface of layers/ — buse's layer store.  A layer is a stack of
 * thin block diffs (sparse data file + 2-bit map); it reads through its stack and writes only
 * into its own top diff.  layers/ depends on common/ only. Every function is thread-safe.
 * Errors: -1 or NULL with err_set (messages name the layer id). */
#ifndef BUSE_LAYERS_H
#define BUSE_LAYERS_H

#include <stdbool.h>
#include <stdint.h>

#define LAYER_ID_MAX 128

struct layer_store;
struct layer_stack;

struct layer_store_opts {
  uint64_t base_size;    /* virtual size of the base ext4, default 10 GiB */
  uint32_t block_size;   /* 4096 */
  const char *mkfs_args; /* extra mke2fs arguments (space-separated), may be NULL */
  const char *fs;        /* "ext4" */
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

#endif
