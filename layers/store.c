/* store.c: open and close a layer store, recover it, and collect garbage.  At open every diff's
 * meta.json and every layer's json are read into memory; diffs left "creating" or "removing"
 * and diffs no layer reaches are deleted, layers left "creating" are rolled back, so whatever
 * a crash interrupted is either complete or gone.  One process owns a store (flock on
 * <home>/lock); layer_store_open_ro reads it without the lock for `buse ls` beside a daemon. */
#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>

#include "layers/internal.h"

struct diff *
store_find_diff (struct layer_store *st, const char *id)
{
  for (struct diff *d = st->diffs; d; d = d->next)
    if (!strcmp (d->id, id))
      return d;
  return NULL;
}

struct layer *
store_find_layer (struct layer_store *st, const char *id)
{
  for (struct layer *l = st->layers; l; l = l->next)
    if (!strcmp (l->id, id))
      return l;
  return NULL;
}

const char *
layer_store_home (const struct layer_store *st)
{
  return st->home;
}

struct lindex *
store_index_get (struct layer_store *st, struct diff *key, const struct bmap *m)
{
  struct lindex *ix, *below = NULL;
  struct bmap *own = NULL;

  if (!key)
    return NULL;
  for (ix = st->indexes; ix; ix = ix->next)
    if (ix->key == key) {
      ix->refs++; /* an idle one comes back to use */
      return ix;
    }
  if (key->parent && !(below = store_index_get (st, key->parent, NULL)))
    return NULL;
  if (!m && !(m = own = diff_load_map (st, key)))
    goto out;
  if ((ix = lindex_build (st, key, m, below))) {
    ix->refs = 1;
    ix->next = st->indexes;
    st->indexes = ix;
  }
out:
  bmap_free (own);
  store_index_put (st, below);
  return ix;
}

/* Free idle indexes, oldest first, until at most KEEP are left. */
void
store_index_drop_idle (struct layer_store *st, size_t keep)
{
  for (;;) {
    struct lindex **oldest = NULL;
    size_t idle = 0;
    for (struct lindex **p = &st->indexes; *p; p = &(*p)->next)
      if ((*p)->refs == 0 && (idle++, !oldest || (*p)->idle_tick < (*oldest)->idle_tick))
        oldest = p;
    if (idle <= keep)
      return;
    struct lindex *ix = *oldest;
    *oldest = ix->next;
    lindex_free (ix);
  }
}

/* An index nobody uses stays cached a while (LINDEX_IDLE_MAX of them): opening layers that
 * share a chain prefix then reuses it instead of rebuilding from the maps. */
void
store_index_put (struct layer_store *st, struct lindex *ix)
{
  if (!ix || --ix->refs > 0)
    return;
  ix->idle_tick = ++st->idle_tick;
  store_index_drop_idle (st, LINDEX_IDLE_MAX);
}

/* Delete diff ID's files without an fsync (`docker run --rm` removes two layers, and fsyncs
 * on a busy disk cost 5 to 30 ms each): its directory leaves diffs/ by one atomic rename to
 * <home>/trash.<id>, then is removed.  A power loss leaves either the whole diff (unreferenced:
 * the next open deletes it again) or a trash tree (the next open removes it). */
static int
delete_diff (struct layer_store *st, const char *id)
{
  CLEANUP_FREE char *dir = diff_path (st, id, NULL);
  CLEANUP_FREE char *trash = xasprintf ("%s/trash.%s", st->home, id);
  int r;

  if (!dir || !trash)
    return -1;
  r = rename (dir, trash);
  if (r == -1 && (errno == EEXIST || errno == ENOTEMPTY) && remove_tree (trash) == 0)
    r = rename (dir, trash); /* a trash tree of an earlier attempt was in the way */
  if (r == -1 && errno != ENOENT) {
    err_set (errno, "rename %s to %s", dir, trash);
    return -1;
  }
  return r == 0 ? remove_tree (trash) : 0;
}

static void
mark_chain (struct diff *d)
{
  for (; d && !d->gc_mark; d = d->parent)
    d->gc_mark = true;
}

int
store_gc (struct layer_store *st)
{
  int r = 0;

  if (st->read_only)
    return 0;
  store_index_drop_idle (st, 0); /* they hold diffs open */
  for (struct diff *d = st->diffs; d; d = d->next)
    d->gc_mark = false;
  mark_chain (st->base);
  for (struct layer *l = st->layers; l; l = l->next)
    mark_chain (l->top);
  for (struct diff *d = st->diffs; d; d = d->next) {
    if (d->opens > 0)
      d->gc_mark = true;
    if (d->gc_mark)
      continue;
    log_debug ("layers", "deleting unused diff %s", d->id);
    if (delete_diff (st, d->id) == -1) {
      err_prefix ("delete diff %s", d->id);
      r = -1;
      d->gc_mark = true; /* keep it listed: unreferenced, the next open deletes it again */
    }
  }
  /* free only after every victim's meta was written: a victim may be a victim's parent */
  for (struct diff **p = &st->diffs; *p;) {
    struct diff *d = *p;
    if (d->gc_mark) {
      p = &d->next;
      continue;
    }
    *p = d->next;
    diff_free (d);
  }
  return r;
}

static int
save_store_json (struct layer_store *st)
{
  CLEANUP_FREE char *path = xasprintf ("%s/store.json", st->home);
  CLEANUP_JSON_DECREF json_t *j = NULL;

  if (!path)
    return -1;
  j = json_pack ("{s:i, s:s, s:I, s:i, s:s?, s:s}", "version", 1, "base", st->base->id, "base_size",
                 (json_int_t)st->base_size, "block_size", (int)LAYER_BS, "mkfs_args", st->mkfs_args,
                 "fs", st->fs);
  if (!j) {
    err_set (ENOMEM, "store.json");
    return -1;
  }
  return json_save_path (path, j);
}

/* Read store.json: 0 found, 1 absent (new store), -1 error. */
static int
load_store_json (struct layer_store *st, char **base_id)
{
  CLEANUP_FREE char *path = xasprintf ("%s/store.json", st->home);
  CLEANUP_JSON_DECREF json_t *j = NULL;
  json_int_t size = 0;
  const char *b, *a, *f;

  if (!path)
    return -1;
  if (access (path, F_OK) == -1 && errno == ENOENT)
    return 1;
  if (!(j = json_load_path (path)))
    return -1;
  b = json_str (j, "base"), a = json_str (j, "mkfs_args"), f = json_str (j, "fs");
  if (!b || json_unpack (j, "{s:I}", "base_size", &size) == -1 || size <= 0) {
    err_set (EINVAL, "%s: bad store metadata", path);
    return -1;
  }
  free (st->mkfs_args), free (st->fs);
  st->mkfs_args = a ? strdup (a) : NULL;
  st->fs = strdup (f ? f : "ext4");
  st->base_size = size;
  *base_id = strdup (b);
  return *base_id && st->fs ? 0 : -1;
}

static int
apply_opts (struct layer_store *st, const struct layer_store_opts *opts)
{
  st->base_size = opts && opts->base_size ? opts->base_size : 10ull << 30;
  st->base_size = (st->base_size + LAYER_BS - 1) / LAYER_BS * LAYER_BS;
  if (opts && opts->block_size && opts->block_size != LAYER_BS) {
    err_set (EINVAL, "block size %u is not supported (only %u)", opts->block_size, LAYER_BS);
    return -1;
  }
  if (opts && opts->fs && strcmp (opts->fs, "ext4")) {
    err_set (EINVAL, "filesystem '%s' is not supported (only ext4)", opts->fs);
    return -1;
  }
  st->fs = strdup ("ext4");
  if (opts && opts->mkfs_args && *opts->mkfs_args)
    st->mkfs_args = strdup (opts->mkfs_args);
  return st->fs ? 0 : -1;
}

static int
take_lock (struct layer_store *st)
{
  CLEANUP_FREE char *path = xasprintf ("%s/lock", st->home);

  if (!path)
    return -1;
  st->lock_fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (st->lock_fd == -1) {
    err_set (errno, "open %s", path);
    return -1;
  }
  if (flock (st->lock_fd, LOCK_EX | LOCK_NB) == -1) {
    err_set (errno == EWOULDBLOCK ? EBUSY : errno, "in use by another process (it holds %s)", path);
    return -1;
  }
  return 0;
}

/* Trees left by a base creation that a crash interrupted (base.c makes <home>/mkfs.XXXXXX)
 * or by a diff removal (delete_diff: <home>/trash.<id>). */
static void
remove_stale_trees (struct layer_store *st)
{
  DIR *d = opendir (st->home);
  struct dirent *e;

  while (d && (e = readdir (d)))
    if (!strncmp (e->d_name, "mkfs.", 5) || !strncmp (e->d_name, "trash.", 6)) {
      CLEANUP_FREE char *p = xasprintf ("%s/%s", st->home, e->d_name);
      if (p && remove_tree (p) == -1)
        log_warn ("%s", err_get ());
    }
  if (d)
    closedir (d);
}

static int
make_dirs (struct layer_store *st)
{
  static const char *const sub[] = { "diffs", "layers", "mnt" };

  if (mkdir_p (st->home, 0700) == -1)
    return -1;
  for (size_t i = 0; i < ARRAY_SIZE (sub); i++) {
    CLEANUP_FREE char *p = xasprintf ("%s/%s", st->home, sub[i]);
    if (!p || mkdir_p (p, 0700) == -1)
      return -1;
  }
  return 0;
}

/* Base: the recorded one, or a new one for a new store. */
static int
open_base (struct layer_store *st, const struct layer_store_opts *opts)
{
  CLEANUP_FREE char *base_id = NULL;
  int r = load_store_json (st, &base_id);

  if (r == -1)
    return -1;
  if (r == 0) {
    if (!(st->base = store_find_diff (st, base_id))) {
      err_set (ENOENT, "store %s: base diff %s is missing", st->home, base_id);
      return -1;
    }
    if (opts && opts->base_size && opts->base_size != st->base_size)
      log_info ("store %s: keeping its base size %" PRIu64, st->home, st->base_size);
    return 0;
  }
  if (st->read_only) {
    err_set (ENOENT, "%s is not a layer store (no store.json)", st->home);
    return -1;
  }
  if (apply_opts (st, opts) == -1 || !(st->base = base_create (st)))
    return -1;
  st->base->next = st->diffs;
  st->diffs = st->base;
  return save_store_json (st);
}

static struct layer_store *
store_open (const char *home, const struct layer_store_opts *opts, bool read_only)
{
  struct layer_store *st = calloc (1, sizeof *st);

  if (!st) {
    err_set (errno, "calloc");
    return NULL;
  }
  st->lock_fd = -1;
  st->read_only = read_only;
  st->buffered_io = opts && opts->buffered_io;
  pthread_mutex_init (&st->lock, NULL);
  if (!(st->home = strdup (home)))
    goto err;
  if (!read_only && (make_dirs (st) == -1 || take_lock (st) == -1))
    goto err;
  if (!read_only)
    remove_stale_trees (st);
  if (store_load_diffs (st) == -1 || open_base (st, opts) == -1 || store_load_layers (st) == -1 ||
      store_gc (st) == -1)
    goto err;
  /* sealed is not stored: the base and every diff with a child are immutable */
  st->base->sealed = true;
  for (struct diff *d = st->diffs; d; d = d->next)
    if (d->parent)
      d->parent->sealed = true;
  return st;
err:
  err_prefix ("layer store %s", home);
  layer_store_close (st);
  return NULL;
}

struct layer_store *
layer_store_open (const char *home, const struct layer_store_opts *opts)
{
  return store_open (home, opts, false);
}

struct layer_store *
layer_store_open_ro (const char *home)
{
  return store_open (home, NULL, true);
}

void
layer_store_close (struct layer_store *st)
{
  if (!st)
    return;
  while (st->stacks) {
    log_warn ("store %s: closing layer %s still open", st->home, st->stacks->layer->id);
    st->stacks->refs = 1;
    layer_stack_close (st->stacks);
  }
  store_index_drop_idle (st, 0);
  while (st->layers) {
    struct layer *l = st->layers;
    st->layers = l->next;
    free (l);
  }
  while (st->diffs) {
    struct diff *d = st->diffs;
    st->diffs = d->next;
    diff_free (d);
  }
  if (st->lock_fd >= 0)
    close (st->lock_fd);
  pthread_mutex_destroy (&st->lock);
  free (st->mkfs_args), free (st->fs), free (st->home);
  free (st);
}
