/* engine.h: what the snapshotter needs of buse's engine (the layer store and the mount
 * manager), in one small interface so that engine.c is the only file that knows where the
 * engine lives.  Every function is thread-safe; errors: -1 or NULL with err_set. */
#ifndef BUSE_SNAP_ENGINE_H
#define BUSE_SNAP_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

struct snap_engine;
struct snap_opts;

/* Open the layer store in HOME (layers, diffs, mounts under it, state in HOME/state), start
 * the NBD server and the mount manager (which reaps what a dead run left and mounts again
 * the layers still referenced).  O: the attach mode and tunables (NULL: defaults). */
struct snap_engine *snap_engine_open (const char *home, const struct snap_opts *o);
/* Unmount and detach everything; references are kept for the next start.  Accepts NULL. */
void snap_engine_close (struct snap_engine *e);

struct fsync_batch; /* common/common.h */
/* A new writable layer ID over layer PARENT (NULL: over the empty base).  O(1).  Its new
 * files join B: durable once the caller runs B. */
int snap_engine_create (struct snap_engine *e, const char *id, const char *parent,
                        struct fsync_batch *b);
/* Remove layer ID (unmounted first if we hold it). */
int snap_engine_remove (struct snap_engine *e, const char *id);
bool snap_engine_exists (struct snap_engine *e, const char *id);
/* Calls FN for every layer id of the store; stops at FN's first non-zero. */
int snap_engine_list (struct snap_engine *e, int (*fn) (void *ctx, const char *id), void *ctx);

/* <home>/mnt/<id>/rootfs, where snap_engine_mount mounts ID; nothing is mounted (caller
 * frees).  The directory does not exist before ID's first mount. */
char *snap_engine_path (struct snap_engine *e, const char *id);
/* Hold layer ID mounted (one reference, kept across restarts): returns
 * <home>/mnt/<id>/rootfs (caller frees).  Idempotent: a held layer is checked (and mounted
 * again if its mount died) and its path returned. */
char *snap_engine_mount (struct snap_engine *e, const char *id);
/* Drop that reference: flush, unmount, detach.  0 when it was not held. */
int snap_engine_unmount (struct snap_engine *e, const char *id);
bool snap_engine_mounted (struct snap_engine *e, const char *id);

/* Host bytes held by ID's own diff; used inodes of its filesystem: live when mounted, else
 * from its superblock (-1 when that cannot be read). */
int snap_engine_usage (struct snap_engine *e, const char *id, int64_t *bytes, int64_t *inodes);

#endif
