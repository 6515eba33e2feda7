/* engine.c: the snapshotter's only door to buse's engine — the layer store (layers/), the
 * in-process NBD server (nbd/) and the mount manager.  Everything else in snapshotter/ sees
 * snapshot ids and paths through engine.h, so moving the engine is a change to this file.
 *
 * Each active or view snapshot holds one reference of the mount manager on its layer; the
 * mount manager saves references, so a restarted snapshotter mounts them again before it
 * listens.  The store lives in <home>, the mount manager's state in <home>/state. */
#include <limits.h>
#include <string.h>
#include <sys/statfs.h>

#include "mounts/mounts.h"
#include "snapshotter/engine.h"
#include "snapshotter/snapshotter.h"

struct snap_engine {
  char *home;
  struct layer_store *st;
  struct nbds_server *srv;
  struct mm_mounts *mounts;
  struct mm_lowspace *lowspace; /* a full host disk gives containers ENOSPC, not EROFS */
};

struct snap_engine *
snap_engine_open (const char *home, const struct snap_opts *o)
{
  struct snap_engine *e = calloc (1, sizeof *e);
  CLEANUP_FREE char *state = NULL;
  struct nbds_resolver r;
  enum kdev_mode mode = KDEV_AUTO;
  char real[PATH_MAX];

  if (!e) {
    err_set (ENOMEM, "engine");
    return NULL;
  }
  if (mkdir_p (home, 0700) == -1 || !realpath (home, real) || !(e->home = strdup (real))) {
    err_set (errno, "home %s", home);
    goto err;
  }
  static const struct snap_opts defaults = { 0 };
  if (!o)
    o = &defaults;
  struct layer_store_opts so = { .buffered_io = o->buffered_io };
  if (o->attach && kdev_mode_parse (o->attach, &mode) == -1)
    goto err;
  if (!(state = xasprintf ("%s/state", e->home)) || mkdir_p (state, 0700) == -1)
    goto err;
  if (!(e->st = layer_store_open (e->home, &so)) || !(e->srv = nbds_new (&o->nbd)))
    goto err;
  mm_layer_resolver (&r, e->st, false);
  nbds_set_resolver (e->srv, &r);
  struct mm_cfg mc = {
    .home = e->home,
    .state_dir = state,
    .st = e->st,
    .srv = e->srv,
    .mode = kdev_mode_resolve (mode),
    .kdev = o->kdev,
  };
  if (!(e->mounts = mm_new (&mc)) || !(e->lowspace = mm_lowspace_start (e->home, e->mounts, NULL)))
    goto err;
  log_info ("snapshotter engine: home %s, attach %s", e->home, kdev_mode_name (mc.mode));
  return e;
err:
  err_prefix ("snapshotter engine");
  snap_engine_close (e);
  return NULL;
}

void
snap_engine_close (struct snap_engine *e)
{
  if (!e)
    return;
  mm_lowspace_stop (e->lowspace);
  mm_free (e->mounts, false);
  nbds_free (e->srv);
  layer_store_close (e->st);
  free (e->home);
  free (e);
}

int
snap_engine_create (struct snap_engine *e, const char *id, const char *parent,
                    struct fsync_batch *b)
{
  return mm_create_in (e->mounts, id, parent, 0, b);
}

int
snap_engine_remove (struct snap_engine *e, const char *id)
{
  if (snap_engine_unmount (e, id) == -1)
    return -1;
  return mm_remove (e->mounts, id);
}

bool
snap_engine_exists (struct snap_engine *e, const char *id)
{
  return layer_exists (e->st, id);
}

struct list_ctx {
  int (*fn) (void *ctx, const char *id);
  void *ctx;
};

static int
list_one (void *cbdata, const struct layer_info *info)
{
  struct list_ctx *lc = cbdata;
  return lc->fn (lc->ctx, info->id);
}

int
snap_engine_list (struct snap_engine *e, int (*fn) (void *ctx, const char *id), void *ctx)
{
  struct list_ctx lc = { fn, ctx };
  return layer_list (e->st, list_one, &lc);
}

char *
snap_engine_path (struct snap_engine *e, const char *id)
{
  return xasprintf ("%s/mnt/%s/rootfs", e->home, id);
}

char *
snap_engine_mount (struct snap_engine *e, const char *id)
{
  bool held = mm_count (e->mounts, id) > 0;
  char *dir = mm_get (e->mounts, id, false); /* mounts again a mount that died */

  if (dir && held && mm_put (e->mounts, id, false) == -1) {
    free (dir);
    return NULL;
  }
  return dir;
}

int
snap_engine_unmount (struct snap_engine *e, const char *id)
{
  while (mm_count (e->mounts, id) > 0)
    if (mm_put (e->mounts, id, false) == -1)
      return -1;
  return 0;
}

bool
snap_engine_mounted (struct snap_engine *e, const char *id)
{
  return mm_count (e->mounts, id) > 0;
}

/* Used inodes of the ext4 on an unmounted layer, from its superblock read through the
 * stack (no device, no mount).  The counts there are exact for a filesystem that was
 * unmounted cleanly or never mounted, which is what an unmounted snapshot holds: a
 * committed parent (unmounted at its commit) or mke2fs's base, under an empty top diff. */
static int
sb_inodes (struct snap_engine *e, const char *id, int64_t *inodes)
{
  struct layer_stack *ls = layer_stack_open (e->st, id, false);
  unsigned char sb[1024];
  uint32_t count, free_count;
  uint16_t magic;

  if (!ls)
    return -1;
  if (layer_stack_pread (ls, sb, sizeof sb, 1024) == -1) {
    layer_stack_close (ls);
    return -1;
  }
  layer_stack_close (ls);
  count = (uint32_t)sb[0] | (uint32_t)sb[1] << 8 | (uint32_t)sb[2] << 16 | (uint32_t)sb[3] << 24;
  free_count =
      (uint32_t)sb[16] | (uint32_t)sb[17] << 8 | (uint32_t)sb[18] << 16 | (uint32_t)sb[19] << 24;
  magic = (uint16_t)(sb[56] | sb[57] << 8);
  if (magic != 0xef53 || free_count > count) {
    err_set (EINVAL, "layer %s: no ext4 superblock", id);
    return -1;
  }
  *inodes = (int64_t)(count - free_count);
  return 0;
}

int
snap_engine_usage (struct snap_engine *e, const char *id, int64_t *bytes, int64_t *inodes)
{
  CLEANUP_FREE char *fs = xasprintf ("%s/mnt/%s/fs", e->home, id);
  struct layer_info info;
  struct statfs sf;

  if (!fs || layer_info (e->st, id, &info) == -1)
    return -1;
  *bytes = (int64_t)info.disk_bytes;
  *inodes = -1;
  if (snap_engine_mounted (e, id)) {
    if (statfs (fs, &sf) == 0 && sf.f_files >= sf.f_ffree)
      *inodes = (int64_t)(sf.f_files - sf.f_ffree);
  } else if (sb_inodes (e, id, inodes) == -1) {
    log_debug ("snap", "usage of %s: %s", id, err_get ());
    *inodes = -1;
  }
  return 0;
}
