/* snap.c: the snapshotter — containerd's snapshot semantics over the metadata (meta.c) and
 * the engine (engine.h), with the rules and error kinds of containerd's own snapshotters
 * (snapshots/storage/bolt.go, snapshots/testsuite).
 *
 * Lazy mounts: Prepare makes the layer and the record only (O(1) whatever the parent's
 * size); the device is attached and the ext4 mounted by the first Mounts (see mount_now for
 * the callers that use Prepare's own mounts at once, which get them mounted).  A snapshot
 * never mounted reads exactly its parent, so Commit and Remove of one need no mount.
 *
 * Ordering for crashes: a layer is made (and, when mounted at once, mounted) before its
 * record is written, and a record is dropped before its layer is removed, so kill -9 at any
 * point leaves at worst a layer no record owns, which Cleanup reaps.  One lock serialises
 * every call: they are short (Prepare is O(1); a mount is the slow part, and the mount
 * manager serialises mounts anyway) and containerd's GC walks the whole list, which must
 * not see a half-made change.  So two racing Mounts of one key make one mount. */
#include <fcntl.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "snapshotter/internal.h"

struct snap {
  pthread_mutex_t lock;
  struct snap_meta *meta;
  struct snap_engine *eng;
  char *clean_marker; /* <home>/state/clean-stop: there while no snapshotter runs on the home */
  enum snap_lazy lazy;
};

/* Is S valid UTF-8 (what containerd's Go side and our JSON records can hold)? */
static bool
utf8_ok (const char *s)
{
  const unsigned char *p = (const unsigned char *)s;

  while (*p) {
    int n = *p < 0x80             ? 0
            : (*p & 0xe0) == 0xc0 ? 1
            : (*p & 0xf0) == 0xe0 ? 2
            : (*p & 0xf8) == 0xf0 ? 3
                                  : -1;
    if (n < 0 || (n == 1 && *p < 0xc2))
      return false;
    p++;
    for (int i = 0; i < n; i++, p++)
      if ((*p & 0xc0) != 0x80)
        return false;
  }
  return true;
}

int
snap_check_key (const char *what, const char *key, bool empty_ok)
{
  size_t len = key ? strlen (key) : 0;

  if (key && !utf8_ok (key)) {
    err_set (EINVAL, "%s is not valid UTF-8", what);
    return -1;
  }
  if (len == 0 && !empty_ok) {
    err_set (EINVAL, "%s must not be empty", what);
    return -1;
  }
  if (len > SNAP_KEY_MAX) {
    err_set (EINVAL, "%s is longer than %d bytes", what, SNAP_KEY_MAX);
    return -1;
  }
  return 0;
}

int
snap_check_labels (const struct snap_label *labels, size_t n)
{
  if (n > SNAP_LABELS_MAX) {
    err_set (EINVAL, "more than %d labels", SNAP_LABELS_MAX);
    return -1;
  }
  for (size_t i = 0; i < n; i++) {
    if (!labels[i].key || !*labels[i].key) {
      err_set (EINVAL, "label key must not be empty");
      return -1;
    }
    if (!utf8_ok (labels[i].key) || (labels[i].value && !utf8_ok (labels[i].value))) {
      err_set (EINVAL, "label %.64s is not valid UTF-8", labels[i].key);
      return -1;
    }
    if (strlen (labels[i].key) + strlen (labels[i].value ? labels[i].value : "") > SNAP_LABEL_MAX) {
      err_set (EINVAL, "label key and value of %.64s longer than %d bytes", labels[i].key,
               SNAP_LABEL_MAX);
      return -1;
    }
  }
  return 0;
}

/* The layer ids of the store, collected first: the store is not changed while it lists. */
struct ids {
  char (*v)[LAYER_ID_MAX + 1];
  size_t n, cap;
};

static int
collect_id (void *ctx, const char *id)
{
  struct ids *ids = ctx;

  if (ids->n == ids->cap) {
    size_t cap = ids->cap ? ids->cap * 2 : 64;
    void *nv = realloc (ids->v, cap * sizeof *ids->v);
    if (!nv) {
      err_set (ENOMEM, "layer list");
      return -1;
    }
    ids->v = nv;
    ids->cap = cap;
  }
  snprintf (ids->v[ids->n++], sizeof *ids->v, "%s", id);
  return 0;
}

static int
list_ids (struct snap *s, struct ids *ids)
{
  memset (ids, 0, sizeof *ids);
  if (snap_engine_list (s->eng, collect_id, ids) == -1) {
    free (ids->v);
    return -1;
  }
  return 0;
}

/* Make the records and the layers agree after a crash: every active or view snapshot that
 * was mounted held mounted again, nothing else held.  Errors are logged (the next Mounts
 * tries again). */
/* CRASHED: the last snapshotter did not stop cleanly.  Active snapshots it held mounted
 * then lost their device with it; whatever containerd wrote into their mounts after that (an
 * unpack goes on writing into the page cache without an error) was dropped when the dead
 * device's mounts were reaped.  Such a snapshot is marked (on disk) so that Commit refuses
 * it: containerd then unpacks the layer again instead of sealing a partial one.  One never
 * mounted had no device to lose and is not marked. */
static void
reconcile (struct snap *s, bool crashed)
{
  struct ids ids;

  if (list_ids (s, &ids) == 0) {
    for (size_t i = 0; i < ids.n; i++) {
      struct snap_info *info = meta_find_id (s->meta, ids.v[i]);
      if ((!info || info->kind == SNAP_COMMITTED) && snap_engine_mounted (s->eng, ids.v[i]) &&
          snap_engine_unmount (s->eng, ids.v[i]) == -1)
        log_warn ("snapshotter: %s", err_get ());
    }
    free (ids.v);
  }
  /* Those that were mounted are mounted again (the mount manager kept their references);
   * those never mounted stay so until their first Mounts. */
  for (size_t i = 0; i < meta_count (s->meta); i++) {
    struct snap_info *info = meta_at (s->meta, i);
    CLEANUP_FREE char *dir = NULL;
    if (info->kind == SNAP_COMMITTED)
      continue;
    if (crashed && info->kind == SNAP_ACTIVE && !info->lost_writes &&
        snap_engine_mounted (s->eng, info->id)) {
      info->lost_writes = true;
      if (meta_save (s->meta, info) == -1)
        log_error ("snapshot %s: %s", info->key, err_get ());
      log_warn ("snapshot %s was mounted when the snapshotter died: writes since may be lost; "
                "it will not be committed",
                info->key);
    }
    if (!snap_engine_exists (s->eng, info->id))
      log_error ("snapshot %s: its layer %s is missing", info->key, info->id);
    else if (snap_engine_mounted (s->eng, info->id) &&
             !(dir = snap_engine_mount (s->eng, info->id)))
      log_warn ("snapshot %s: %s (the next Mounts tries again)", info->key, err_get ());
  }
}

struct snap *
snap_open (const char *home, const struct snap_opts *o)
{
  struct snap *s = calloc (1, sizeof *s);
  CLEANUP_FREE char *dir = xasprintf ("%s/snapshots", home);

  if (!s || !dir) {
    free (s);
    err_set (ENOMEM, "snapshotter");
    return NULL;
  }
  pthread_mutex_init (&s->lock, NULL);
  s->lazy = o ? o->lazy : SNAP_LAZY_DOCKER;
  if (!(s->eng = snap_engine_open (home, o)) || !(s->meta = meta_open (dir))) {
    snap_close (s);
    return NULL;
  }
  /* The marker of a clean stop is taken away while this process runs. */
  s->clean_marker = xasprintf ("%s/state/clean-stop", home);
  bool crashed = s->clean_marker && access (s->clean_marker, F_OK) != 0;
  if (s->clean_marker && unlink (s->clean_marker) == 0)
    fsync_dir_of (s->clean_marker);
  reconcile (s, crashed);
  log_info ("snapshotter: %zu snapshots%s", meta_count (s->meta),
            crashed ? " (the last run did not stop cleanly)" : "");
  return s;
}

void
snap_close (struct snap *s)
{
  if (!s)
    return;
  meta_close (s->meta);
  snap_engine_close (s->eng);
  /* every mount was flushed and unmounted: a clean stop */
  if (s->clean_marker && s->eng) {
    int fd = open (s->clean_marker, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0) {
      fsync (fd);
      close (fd);
      fsync_dir_of (s->clean_marker);
    }
  }
  free (s->clean_marker);
  pthread_mutex_destroy (&s->lock);
  free (s);
}

static int
new_id (char *id, size_t len)
{
  unsigned char r[12];

  if (getrandom (r, sizeof r, 0) != (ssize_t)sizeof r) {
    err_set (errno, "getrandom");
    return -1;
  }
  snprintf (id, len, "snap-");
  for (size_t i = 0; i < sizeof r; i++)
    snprintf (id + 5 + 2 * i, len - 5 - 2 * i, "%02x", r[i]);
  return 0;
}

/* *MNT for INFO: mounted first when MOUNT, else only the path (mounted by Mounts). */
static int
fill_mount (struct snap *s, const struct snap_info *info, bool mount, struct snap_mount *mnt)
{
  mnt->source = mount ? snap_engine_mount (s->eng, info->id) : snap_engine_path (s->eng, info->id);
  if (!mnt->source) {
    err_prefix ("snapshot %s", info->key);
    return -1;
  }
  mnt->type = "bind";
  mnt->options[0] = "rbind";
  mnt->options[1] = info->kind == SNAP_VIEW ? "ro" : "rw";
  return 0;
}

static struct snap_info *
new_info (const char *key, const char *parent, enum snap_kind kind, const struct snap_label *labels,
          size_t n_labels)
{
  struct snap_info *info = calloc (1, sizeof *info);

  if (!info || !(info->key = strdup (key)) || (parent && !(info->parent = strdup (parent))) ||
      snap_info_set_labels (info, labels, n_labels) == -1 ||
      new_id (info->id, sizeof info->id) == -1) {
    snap_info_free (info);
    err_set (ENOMEM, "snapshot");
    return NULL;
  }
  info->kind = kind;
  info->created = info->updated = snap_now ();
  info->inodes = -1;
  return info;
}

/* KEY without the "<namespace>/<n>/" containerd's metadata store puts before it. */
static const char *
client_key (const char *key)
{
  const char *p = key ? strchr (key, '/') : NULL, *q;

  if (!p || p[1] < '0' || p[1] > '9')
    return key;
  for (q = p + 1; *q >= '0' && *q <= '9'; q++)
    ;
  return *q == '/' ? q + 1 : key;
}

static bool
ends_with (const char *s, const char *tail)
{
  size_t n = strlen (s), t = strlen (tail);
  return n >= t && strcmp (s + n - t, tail) == 0;
}

/* Is this Prepare or View mounted before it returns?  The snapshots API lets a caller use
 * Prepare's mounts at once, and most do: containerd's differ (every View), its unpacker
 * ("extract-<nonce> <chain id>", snapshots.UnpackKeyFormat), dockerd's init layer
 * ("<container>-init-key") and classic builder, `ctr snapshots prepare --mounts`, and any
 * program that calls mount.All on them.  So the default mounts every Prepare at once but
 * one: dockerd's container layer (over "<container>-init"), which dockerd always mounts
 * through Mounts (daemon/containerd/mount.go).  --lazy all also defers every other key that
 * is not a 64-hex id (the classic builder's and CRI's), for clients known to call Mounts
 * first (`ctr run`, containerd's NewTask); --lazy off defers none.  A caller that uses
 * Prepare's mounts of a deferred snapshot gets ENOENT from its bind (the directory exists
 * only once mounted), never an empty directory. */
static bool
mount_now (enum snap_lazy lazy, enum snap_kind kind, const char *key, const char *parent)
{
  const char *k = client_key (key);
  size_t n = strspn (k, "0123456789abcdef");

  if (lazy == SNAP_LAZY_OFF || kind == SNAP_VIEW || strncmp (k, "extract-", 8) == 0 ||
      ends_with (k, "-init-key"))
    return true;
  if (parent && ends_with (client_key (parent), "-init"))
    return false;
  return lazy == SNAP_LAZY_DOCKER || (n == 64 && k[n] == '\0');
}

/* Undo a Prepare that failed after its layer (and, RECORDED, its record in memory and in
 * the batch's files) was made; keeps the error. */
static void
undo_prepare (struct snap *s, struct snap_info *info, bool recorded)
{
  CLEANUP_FREE char *msg = strdup (err_get ());
  int en = err_errno ();
  char id[sizeof info->id];

  snprintf (id, sizeof id, "%s", info->id);
  if (!recorded)
    snap_info_free (info);
  else if (meta_remove (s->meta, info) == -1)
    log_warn ("undo of the record of %s: %s", id, err_get ());
  if (snap_engine_remove (s->eng, id) == -1)
    log_warn ("undo of %s: %s", id, err_get ());
  err_set (en, "%s", msg ? msg : "prepare failed");
}

static int
prepare_locked (struct snap *s, enum snap_kind kind, const char *key, const char *parent,
                const struct snap_label *labels, size_t n_labels, struct snap_mount *mnt)
{
  struct snap_info *p = parent ? meta_find (s->meta, parent) : NULL, *info;
  struct fsync_batch b = { .n = 0 };
  bool now;

  if (parent && !p) {
    err_set (ENOENT, "parent snapshot %s does not exist", parent);
    return -1;
  }
  if (p && p->kind != SNAP_COMMITTED) {
    err_set (EINVAL, "parent %s is not a committed snapshot", parent);
    return -1;
  }
  if (meta_find (s->meta, key)) {
    err_set (EEXIST, "snapshot %s already exists", key);
    return -1;
  }
  if (!(info = new_info (key, parent, kind, labels, n_labels)))
    return -1;
  now = mount_now (s->lazy, kind, key, parent);
  /* The layer's files and the record go to disk together (one journal commit; written in
   * that order, so a journal that commits a prefix never holds a record without its layer),
   * then the layer is mounted if it is now. */
  if (snap_engine_create (s->eng, info->id, p ? p->id : NULL, &b) == -1)
    goto err;
  if (meta_add (s->meta, info, &b) == -1) {
    fsync_batch_clear (&b);
    undo_prepare (s, info, false);
    return -1;
  }
  if (fsync_batch_run (&b) == -1 || fill_mount (s, info, now, mnt) == -1) {
    undo_prepare (s, info, true);
    return -1;
  }
  log_info ("%s %s: layer %s over %s%s", kind == SNAP_VIEW ? "view" : "prepare", key, info->id,
            p ? p->id : "the base", now ? ", mounted" : "");
  return 0;
err:
  fsync_batch_clear (&b);
  snap_info_free (info);
  return -1;
}

int
snap_prepare (struct snap *s, enum snap_kind kind, const char *key, const char *parent,
              const struct snap_label *labels, size_t n_labels, struct snap_mount *mnt)
{
  int r;

  if (parent && !*parent)
    parent = NULL;
  if (snap_check_key ("key", key, false) == -1 || snap_check_key ("parent", parent, true) == -1 ||
      snap_check_labels (labels, n_labels) == -1)
    return -1;
  pthread_mutex_lock (&s->lock);
  r = prepare_locked (s, kind, key, parent, labels, n_labels, mnt);
  pthread_mutex_unlock (&s->lock);
  return r;
}

/* The active or view snapshot KEY, or NULL + err. */
static struct snap_info *
find_live (struct snap *s, const char *key)
{
  struct snap_info *info = meta_find (s->meta, key);

  if (!info)
    err_set (ENOENT, "snapshot %s does not exist", key);
  else if (info->kind == SNAP_COMMITTED) {
    err_set (EBUSY, "snapshot %s is committed, not active or view", key);
    info = NULL;
  }
  return info;
}

int
snap_mounts (struct snap *s, const char *key, struct snap_mount *mnt)
{
  struct snap_info *info;
  int r = -1;

  if (snap_check_key ("key", key, false) == -1)
    return -1;
  pthread_mutex_lock (&s->lock);
  if ((info = find_live (s, key)))
    r = fill_mount (s, info, true, mnt);
  pthread_mutex_unlock (&s->lock);
  return r;
}

static int
commit_locked (struct snap *s, const char *name, const char *key, const struct snap_label *labels,
               size_t n_labels)
{
  struct snap_info *info, *copy;
  int64_t bytes, inodes = -1;

  if (meta_find (s->meta, name)) {
    err_set (EEXIST, "snapshot %s already exists", name);
    return -1;
  }
  if (!(info = meta_find (s->meta, key))) {
    err_set (ENOENT, "snapshot %s does not exist", key);
    return -1;
  }
  if (info->kind != SNAP_ACTIVE) {
    err_set (EBUSY, "snapshot %s is not active", key);
    return -1;
  }
  if (info->lost_writes) {
    err_set_plain (EBUSY,
                   "snapshot %s was mounted when buse's snapshotter died: writes made through "
                   "it since may be lost, so it is not committed (remove it and write it again)",
                   key);
    return -1;
  }
  /* The new record first, in memory: nothing on disk changes until the layer is sealed. */
  if (!(copy = new_info (name, info->parent, SNAP_COMMITTED, labels, n_labels)))
    return -1;
  snprintf (copy->id, sizeof copy->id, "%s", info->id);
  if (snap_engine_usage (s->eng, info->id, &bytes, &inodes) == 0)
    copy->inodes = inodes;
  /* Unmounting flushes the filesystem and the device; the layer is sealed when a child
   * stacks on it (a diff with children is immutable) and nothing mounts it writable again. */
  if (snap_engine_unmount (s->eng, info->id) == -1) {
    err_prefix ("commit %s", key);
    snap_info_free (copy);
    return -1;
  }
  /* One atomic rewrite of the same record file (named by the layer id) renames the key. */
  if (meta_save (s->meta, copy) == -1) {
    snap_info_free (copy);
    return -1;
  }
  free (info->key);
  free (info->parent);
  snap_info_set_labels (info, NULL, 0);
  free (info->labels);
  *info = *copy;
  free (copy);
  log_info ("commit %s as %s (layer %s)", key, name, info->id);
  return 0;
}

int
snap_commit (struct snap *s, const char *name, const char *key, const struct snap_label *labels,
             size_t n_labels)
{
  int r;

  if (snap_check_key ("name", name, false) == -1 || snap_check_key ("key", key, false) == -1 ||
      snap_check_labels (labels, n_labels) == -1)
    return -1;
  pthread_mutex_lock (&s->lock);
  r = commit_locked (s, name, key, labels, n_labels);
  pthread_mutex_unlock (&s->lock);
  return r;
}

static int
remove_locked (struct snap *s, const char *key)
{
  struct snap_info *info = meta_find (s->meta, key);
  char id[LAYER_ID_MAX + 1];

  if (!info) {
    err_set (ENOENT, "snapshot %s does not exist", key);
    return -1;
  }
  if (meta_has_children (s->meta, key)) {
    err_set (EBUSY, "cannot remove snapshot %s with children", key);
    return -1;
  }
  if (snap_engine_unmount (s->eng, info->id) == -1) {
    err_prefix ("remove %s", key);
    return -1;
  }
  snprintf (id, sizeof id, "%s", info->id);
  if (meta_remove (s->meta, info) == -1)
    return -1;
  if (snap_engine_remove (s->eng, id) == -1)
    log_warn ("remove %s: %s (Cleanup reaps it)", key, err_get ());
  log_info ("remove %s (layer %s)", key, id);
  return 0;
}

int
snap_remove (struct snap *s, const char *key)
{
  int r;

  if (snap_check_key ("key", key, false) == -1)
    return -1;
  pthread_mutex_lock (&s->lock);
  r = remove_locked (s, key);
  pthread_mutex_unlock (&s->lock);
  return r;
}

int
snap_stat (struct snap *s, const char *key, int (*fn) (void *ctx, const struct snap_info *),
           void *ctx)
{
  struct snap_info *info;
  int r = -1;

  if (snap_check_key ("key", key, false) == -1)
    return -1;
  pthread_mutex_lock (&s->lock);
  if (!(info = meta_find (s->meta, key)))
    err_set (ENOENT, "snapshot %s does not exist", key);
  else
    r = fn (ctx, info);
  pthread_mutex_unlock (&s->lock);
  return r;
}

/* Apply the update to a copy of INFO's labels, so a bad path changes nothing. */
static int
update_labels (struct snap_info *tmp, const struct snap_label *labels, size_t n_labels,
               char *const *paths, size_t n_paths)
{
  if (n_paths == 0)
    return snap_info_set_labels (tmp, labels, n_labels);
  for (size_t i = 0; i < n_paths; i++) {
    if (strncmp (paths[i], "labels.", 7) == 0) {
      const char *v = NULL;
      for (size_t j = 0; j < n_labels; j++)
        if (strcmp (labels[j].key, paths[i] + 7) == 0)
          v = labels[j].value;
      if (snap_info_set_label (tmp, paths[i] + 7, v) == -1)
        return -1;
    } else if (strcmp (paths[i], "labels") == 0) {
      if (snap_info_set_labels (tmp, labels, n_labels) == -1)
        return -1;
    } else {
      err_set (EINVAL, "cannot update %s of a snapshot (only labels)", paths[i]);
      return -1;
    }
  }
  return 0;
}

static int
update_locked (struct snap *s, const char *key, const struct snap_label *labels, size_t n_labels,
               char *const *paths, size_t n_paths, int (*fn) (void *ctx, const struct snap_info *),
               void *ctx)
{
  struct snap_info *info = meta_find (s->meta, key);
  struct snap_info tmp = { 0 };
  int r;

  if (!info) {
    err_set (ENOENT, "snapshot %s does not exist", key);
    return -1;
  }
  tmp = *info;
  tmp.labels = NULL, tmp.n_labels = 0;
  if (snap_info_set_labels (&tmp, info->labels, info->n_labels) == -1 ||
      update_labels (&tmp, labels, n_labels, paths, n_paths) == -1 ||
      snap_check_labels (tmp.labels, tmp.n_labels) == -1)
    goto err;
  tmp.updated = snap_now ();
  if (meta_save (s->meta, &tmp) == -1)
    goto err;
  snap_info_set_labels (info, NULL, 0);
  free (info->labels);
  info->labels = tmp.labels, info->n_labels = tmp.n_labels;
  info->updated = tmp.updated;
  r = fn (ctx, info);
  return r;
err:
  tmp.key = tmp.parent = NULL;
  snap_info_set_labels (&tmp, NULL, 0);
  free (tmp.labels);
  return -1;
}

int
snap_update (struct snap *s, const char *key, const struct snap_label *labels, size_t n_labels,
             char *const *paths, size_t n_paths, int (*fn) (void *ctx, const struct snap_info *),
             void *ctx)
{
  int r;

  if (snap_check_key ("name", key, false) == -1 || snap_check_labels (labels, n_labels) == -1)
    return -1;
  pthread_mutex_lock (&s->lock);
  r = update_locked (s, key, labels, n_labels, paths, n_paths, fn, ctx);
  pthread_mutex_unlock (&s->lock);
  return r;
}

int
snap_walk (struct snap *s, char *const *filters, size_t n_filters,
           int (*fn) (void *ctx, const struct snap_info *), void *ctx)
{
  int r = 0;

  pthread_mutex_lock (&s->lock);
  for (size_t i = 0; r == 0 && i < meta_count (s->meta); i++) {
    struct snap_info *info = meta_at (s->meta, i);
    int m = snap_filter_match (filters, n_filters, info);
    r = m == -1 ? -1 : m == 1 ? fn (ctx, info) : 0;
  }
  pthread_mutex_unlock (&s->lock);
  return r;
}

int
snap_usage (struct snap *s, const char *key, int64_t *bytes, int64_t *inodes)
{
  struct snap_info *info;
  int r = -1;

  if (snap_check_key ("key", key, false) == -1)
    return -1;
  pthread_mutex_lock (&s->lock);
  if (!(info = meta_find (s->meta, key)))
    err_set (ENOENT, "snapshot %s does not exist", key);
  else if ((r = snap_engine_usage (s->eng, info->id, bytes, inodes)) == 0 && *inodes < 0)
    *inodes = info->inodes > 0 ? info->inodes : 0;
  pthread_mutex_unlock (&s->lock);
  return r;
}

int
snap_cleanup (struct snap *s)
{
  struct ids ids;
  size_t reaped = 0;

  pthread_mutex_lock (&s->lock);
  if (list_ids (s, &ids) == -1) {
    pthread_mutex_unlock (&s->lock);
    return -1;
  }
  for (size_t i = 0; i < ids.n; i++) {
    if (meta_find_id (s->meta, ids.v[i]))
      continue;
    if (snap_engine_remove (s->eng, ids.v[i]) == -1)
      log_warn ("cleanup: %s", err_get ());
    else
      reaped++;
  }
  pthread_mutex_unlock (&s->lock);
  free (ids.v);
  log_info ("cleanup: %zu layers no snapshot owns removed", reaped);
  return 0;
}
