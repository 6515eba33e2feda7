/* mountmgr.c: Get/Put — a reference count per layer id, and the mount behind it.
 *
 * The first Get of a layer attaches its NBD export as a block device (kdev_attach: the
 * in-process NBD server opens the layer's stack), mounts the ext4 on <home>/mnt/<id>/fs and
 * bind-mounts that filesystem's own rootfs/ directory on <home>/mnt/<id>/rootfs, so dockerd
 * always gets the same Dir and never sees lost+found.  The last Put undoes it in reverse.
 *
 * Counts are saved in <state>/mounts.json on every change: a restarted daemon first reaps
 * what the old one left (stale mounts, then devices and nbdfuse), then re-mounts every layer
 * whose count was above zero, because dockerd still holds those references and will Put them
 * later.  A Get that finds its mount gone (the device died with an old process) re-mounts.
 * One lock serialises mounting; the store and the NBD server are thread-safe on their own. */
#include <dirent.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>

#include "graphdriver/api.h"

struct entry {
  char id[LAYER_ID_MAX + 1];
  unsigned count;    /* dockerd's references: saved, restored at start */
  unsigned internal; /* our own (ApplyDiff, Diff...): die with the process */
  struct kdev *dev;
  bool mounted;
};

struct gd_mounts {
  pthread_mutex_t lock;
  char *home, *state_file, *kdev_state, *mountopt;
  struct layer_store *st;
  struct nbds_server *srv;
  enum kdev_mode mode;
  bool stopping; /* starting or stopping: busy mounts are detached lazily, without waiting */
  struct entry *e;
  size_t n, cap;
};

static char *
path_of (struct gd_mounts *m, const char *id, const char *leaf)
{
  return xasprintf ("%s/mnt/%s%s%s", m->home, id, *leaf ? "/" : "", leaf);
}

static struct entry *
find (struct gd_mounts *m, const char *id)
{
  for (size_t i = 0; i < m->n; i++)
    if (strcmp (m->e[i].id, id) == 0)
      return &m->e[i];
  return NULL;
}

static struct entry *
find_or_add (struct gd_mounts *m, const char *id)
{
  struct entry *e = find (m, id);

  if (e)
    return e;
  if (m->n == m->cap) {
    size_t cap = m->cap ? m->cap * 2 : 16;
    struct entry *ne = realloc (m->e, cap * sizeof *ne);
    if (!ne) {
      err_set (ENOMEM, "mount table");
      return NULL;
    }
    m->e = ne;
    m->cap = cap;
  }
  e = &m->e[m->n++];
  memset (e, 0, sizeof *e);
  snprintf (e->id, sizeof e->id, "%s", id);
  return e;
}

static void
drop (struct gd_mounts *m, struct entry *e)
{
  *e = m->e[--m->n];
}

static void
save (struct gd_mounts *m)
{
  CLEANUP_JSON_DECREF json_t *obj = json_object ();

  for (size_t i = 0; obj && i < m->n; i++)
    if (m->e[i].count > 0)
      json_object_set_new (obj, m->e[i].id, json_integer (m->e[i].count));
  if (!obj || json_save_path (m->state_file, obj) == -1)
    log_warn ("cannot save mount counts in %s: %s", m->state_file, err_get ());
}

/* Unmount DIR at once, lazily if it is busy (shutdown and reaping: nobody waits for it). */
static int
umount_now (const char *dir)
{
  if (umount2 (dir, UMOUNT_NOFOLLOW) == 0 || errno == EINVAL || errno == ENOENT)
    return 0;
  if (errno == EBUSY && umount2 (dir, MNT_DETACH | UMOUNT_NOFOLLOW) == 0) {
    log_info ("%s is busy: detached lazily", dir);
    return 0;
  }
  err_set (errno, "umount %s", dir);
  return -1;
}

/* Unmount rootfs and fs of ID (whether or not we mounted them). */
static int
umount_dirs (struct gd_mounts *m, const char *id)
{
  CLEANUP_FREE char *rootfs = path_of (m, id, "rootfs");
  CLEANUP_FREE char *fs = path_of (m, id, "fs");
  int (*um) (const char *) = m->stopping ? umount_now : mnt_umount;

  if (!rootfs || !fs)
    return -1;
  if (um (rootfs) == -1 || um (fs) == -1) {
    err_prefix ("layer %s", id);
    return -1;
  }
  return 0;
}

static int
unmount_layer (struct gd_mounts *m, struct entry *e)
{
  int r = umount_dirs (m, e->id);

  if (r == 0 && kdev_detach (e->dev) == -1) {
    err_prefix ("layer %s: detach", e->id);
    r = -1;
  }
  if (r == 0)
    e->dev = NULL;
  e->mounted = false;
  log_debug ("gd", "layer %s unmounted%s", e->id, r ? " (with errors)" : "");
  return r;
}

static int
chmod_parents (struct gd_mounts *m, const char *id)
{
  CLEANUP_FREE char *mnt = xasprintf ("%s/mnt", m->home);
  CLEANUP_FREE char *dir = path_of (m, id, "");

  if (!mnt || !dir || chmod (mnt, 0711) == -1 || chmod (dir, 0711) == -1) {
    err_set (errno, "chmod %s", dir ? dir : "mnt");
    return -1;
  }
  return 0;
}

/* Attach ID, mount its filesystem, bind its rootfs/, apply its size limit. */
static int
mount_layer (struct gd_mounts *m, struct entry *e)
{
  CLEANUP_FREE char *fs = path_of (m, e->id, "fs");
  CLEANUP_FREE char *rootfs = path_of (m, e->id, "rootfs");
  CLEANUP_FREE char *inner = path_of (m, e->id, "fs/rootfs");
  struct kdev_opts ko = { .state_dir = m->kdev_state, .use_dm = true };
  uint64_t size = gd_quota_load (m->home, e->id);

  if (e->dev && unmount_layer (m, e) == -1) /* left from a failed unmount */
    return -1;
  if (!fs || !rootfs || !inner || mkdir_p (fs, 0700) == -1 || mkdir_p (rootfs, 0755) == -1)
    return -1;
  /* With user namespaces runc mounts the rootfs as the remapped root: it must be able to
   * walk to rootfs (search only, as overlay2's 0701 dirs allow). */
  if (chmod_parents (m, e->id) == -1)
    return -1;
  e->dev = kdev_attach (m->srv, e->id, m->mode, &ko);
  if (!e->dev)
    goto err;
  if (gd_quota_grow (e->id, kdev_path (e->dev)) == -1)
    goto err;
  if (mnt_mount (kdev_path (e->dev), fs, "ext4", m->mountopt, false) == -1)
    goto err;
  if (mkdir (inner, 0755) == -1 && errno != EEXIST) {
    err_set (errno, "mkdir %s", inner);
    goto err;
  }
  if (mount (inner, rootfs, NULL, MS_BIND, NULL) == -1) {
    err_set (errno, "bind mount %s on %s", inner, rootfs);
    goto err;
  }
  e->mounted = true;
  if (size && gd_quota_apply (e->id, fs, size) == -1)
    goto err;
  log_debug ("gd", "layer %s mounted from %s", e->id, kdev_path (e->dev));
  return 0;
err:
  err_prefix ("mount layer %s", e->id);
  {
    char *saved = strdup (err_get ());
    int en = err_errno ();
    unmount_layer (m, e);
    err_set (en, "%s", saved ? saved : "mount failed");
    free (saved);
  }
  return -1;
}

static bool
healthy (struct gd_mounts *m, struct entry *e)
{
  CLEANUP_FREE char *rootfs = path_of (m, e->id, "rootfs");
  CLEANUP_FREE char *fs = path_of (m, e->id, "fs");
  struct stat st;

  return e->mounted && rootfs && fs && kdev_check (e->dev) == 0 && is_mountpoint (rootfs) == 1 &&
         is_mountpoint (fs) == 1 && stat (rootfs, &st) == 0;
}

char *
gd_mount_get (struct gd_mounts *m, const char *id, bool internal)
{
  struct entry *e;
  char *dir = NULL;

  pthread_mutex_lock (&m->lock);
  if (!layer_exists (m->st, id)) {
    err_set (ENOENT, "layer %s does not exist", id);
    goto out;
  }
  e = find_or_add (m, id);
  if (!e)
    goto out;
  if (e->mounted && !healthy (m, e)) {
    log_warn ("layer %s: its mount is gone, mounting it again", id);
    unmount_layer (m, e);
  }
  if (!e->mounted && mount_layer (m, e) == -1) {
    if (e->count == 0 && e->internal == 0)
      drop (m, e);
    goto out;
  }
  dir = path_of (m, id, "rootfs");
  if (dir && internal)
    e->internal++;
  else if (dir) {
    e->count++;
    save (m);
  }
out:
  pthread_mutex_unlock (&m->lock);
  return dir;
}

int
gd_mount_put (struct gd_mounts *m, const char *id, bool internal)
{
  struct entry *e;
  unsigned *n;
  int r = 0;

  pthread_mutex_lock (&m->lock);
  e = find (m, id);
  n = e ? (internal ? &e->internal : &e->count) : NULL;
  if (!n || *n == 0) {
    if (!layer_exists (m->st, id)) {
      err_set (ENOENT, "layer %s does not exist", id);
      r = -1;
    } else
      log_warn ("Put of layer %s, which is not mounted", id);
  } else if (--*n == 0 && e->count + e->internal == 0) {
    r = unmount_layer (m, e);
    if (r == 0)
      drop (m, e);
  }
  if (!internal)
    save (m);
  pthread_mutex_unlock (&m->lock);
  return r;
}

void
gd_mounts_new_session (struct gd_mounts *m)
{
  size_t held = 0;

  pthread_mutex_lock (&m->lock);
  for (size_t i = 0; i < m->n; i++) {
    held += m->e[i].count > 0;
    m->e[i].count = 0;
  }
  save (m);
  pthread_mutex_unlock (&m->lock);
  if (held)
    log_info ("new dockerd session: %zu layers held by the last one stay mounted, unreferenced",
              held);
}

unsigned
gd_mount_count (struct gd_mounts *m, const char *id)
{
  struct entry *e;
  unsigned n;

  pthread_mutex_lock (&m->lock);
  e = find (m, id);
  n = e ? e->count : 0;
  pthread_mutex_unlock (&m->lock);
  return n;
}

size_t
gd_mounts_active (struct gd_mounts *m)
{
  size_t n = 0;

  pthread_mutex_lock (&m->lock);
  for (size_t i = 0; i < m->n; i++)
    n += m->e[i].mounted;
  pthread_mutex_unlock (&m->lock);
  return n;
}

void
gd_mount_device (struct gd_mounts *m, const char *id, char *buf, size_t len)
{
  struct entry *e;

  pthread_mutex_lock (&m->lock);
  e = find (m, id);
  snprintf (buf, len, "%s", e && e->mounted && e->dev ? kdev_path (e->dev) : "");
  pthread_mutex_unlock (&m->lock);
}

int
gd_mount_create (struct gd_mounts *m, const char *id, const char *parent, uint64_t size)
{
  struct entry *p;
  CLEANUP_FREE char *fs = NULL;
  int r;

  pthread_mutex_lock (&m->lock);
  p = parent ? find (m, parent) : NULL;
  if (p && p->mounted) {
    /* The store seals the parent's top diff: the filesystem must be consistent on it. */
    fs = path_of (m, parent, "fs");
    if (!fs || mnt_freeze (fs) == -1) {
      pthread_mutex_unlock (&m->lock);
      return -1;
    }
  }
  r = layer_create (m->st, id, parent, size, true);
  if (fs && mnt_thaw (fs) == -1)
    log_warn ("thaw %s: %s", fs, err_get ());
  pthread_mutex_unlock (&m->lock);
  return r;
}

int
gd_mount_remove (struct gd_mounts *m, const char *id)
{
  struct entry *e;
  CLEANUP_FREE char *dir = path_of (m, id, "");
  int r;

  pthread_mutex_lock (&m->lock);
  e = find (m, id);
  if (e && (e->count > 0 || e->internal > 0)) {
    if (e->count > 0)
      err_set (EBUSY, "layer %s is mounted (%u Get without Put)", id, e->count);
    else
      err_set (EBUSY, "layer %s is in use by a diff or an apply", id);
    pthread_mutex_unlock (&m->lock);
    return -1;
  }
  if (e) { /* mounted for an earlier dockerd (see gd_mounts_new_session) */
    if (unmount_layer (m, e) == -1) {
      pthread_mutex_unlock (&m->lock);
      return -1;
    }
    drop (m, e);
  }
  /* The NBD connection of a just-detached device may still be closing the stack. */
  for (int i = 0; (r = layer_remove (m->st, id)) == -1 && err_errno () == EBUSY && i < 50; i++) {
    struct timespec ts = { 0, 50 * 1000 * 1000 };
    nanosleep (&ts, NULL);
  }
  if (r == 0 && dir && remove_tree (dir) == -1)
    log_warn ("%s", err_get ());
  pthread_mutex_unlock (&m->lock);
  return r;
}

/* Unmount whatever an earlier run left mounted under <home>/mnt (but not what we adopted). */
static void
reap_mounts (struct gd_mounts *m)
{
  CLEANUP_FREE char *dir = xasprintf ("%s/mnt", m->home);
  DIR *dp = dir ? opendir (dir) : NULL;
  struct dirent *de;

  if (!dp)
    return;
  while ((de = readdir (dp))) {
    struct entry *e = find (m, de->d_name);
    if (de->d_name[0] == '.' || (e && e->mounted))
      continue;
    if (umount_dirs (m, de->d_name) == -1)
      log_warn ("reaping stale mounts: %s", err_get ());
  }
  closedir (dp);
}

/* The saved counts: what dockerd still holds. */
static void
load_counts (struct gd_mounts *m)
{
  CLEANUP_JSON_DECREF json_t *obj = NULL;
  const char *id;
  json_t *v;

  if (access (m->state_file, F_OK) == -1)
    return;
  obj = json_load_path (m->state_file);
  json_object_foreach (obj, id, v)
  {
    json_int_t n = json_integer_value (v);
    struct entry *e;
    if (n > 0 && check_id (id) == 0 && layer_exists (m->st, id) && (e = find_or_add (m, id)))
      e->count = (unsigned)n;
  }
}

/* Kernel mode: a device of a dead run can be handed new connections, and its mount lives on. */
static void
adopt (struct gd_mounts *m)
{
  struct kdev_opts ko = { .state_dir = m->kdev_state, .use_dm = true };

  for (size_t i = 0; m->mode == KDEV_KERNEL && i < m->n; i++) {
    struct entry *e = &m->e[i];
    e->dev = kdev_reattach (m->srv, e->id, &ko);
    e->mounted = e->dev != NULL;
    if (e->mounted && !healthy (m, e)) {
      e->mounted = false; /* mount_layer detaches and starts again */
    } else if (e->mounted)
      log_info ("layer %s: device %s adopted", e->id, kdev_path (e->dev));
  }
}

/* Mount again every layer the saved counts say dockerd still holds. */
static void
restore (struct gd_mounts *m)
{
  for (size_t i = 0; i < m->n; i++) {
    struct entry *e = &m->e[i];
    if (e->mounted)
      continue;
    if (mount_layer (m, e) == -1)
      log_warn ("restoring mount: %s (the next Get tries again)", err_get ());
    else
      log_info ("layer %s mounted again (%u references)", e->id, e->count);
  }
  save (m);
}

struct gd_mounts *
gd_mounts_new (const struct gd_mounts_cfg *cfg)
{
  struct gd_mounts *m = calloc (1, sizeof *m);

  if (!m) {
    err_set (ENOMEM, "mounts");
    return NULL;
  }
  pthread_mutex_init (&m->lock, NULL);
  m->st = cfg->st;
  m->srv = cfg->srv;
  m->mode = cfg->mode;
  m->home = strdup (cfg->home);
  m->mountopt = strdup (cfg->mountopt ? cfg->mountopt : "");
  m->state_file = xasprintf ("%s/mounts.json", cfg->state_dir);
  m->kdev_state = xasprintf ("%s/kdev", cfg->state_dir);
  if (!m->home || !m->mountopt || !m->state_file || !m->kdev_state ||
      mkdir_p (m->kdev_state, 0700) == -1) {
    err_set (ENOMEM, "mounts");
    gd_mounts_free (m, false);
    return NULL;
  }
  load_counts (m);
  adopt (m);
  m->stopping = true;
  reap_mounts (m);
  m->stopping = false;
  if (kdev_reap (m->kdev_state) == -1)
    log_warn ("reaping stale devices: %s", err_get ());
  restore (m);
  return m;
}

static void
unmount_all (struct gd_mounts *m)
{
  for (size_t i = 0; i < m->n; i++)
    if ((m->e[i].mounted || m->e[i].dev) && unmount_layer (m, &m->e[i]) == -1)
      log_warn ("%s", err_get ());
}

void
gd_mounts_cleanup (struct gd_mounts *m)
{
  pthread_mutex_lock (&m->lock);
  unmount_all (m);
  m->n = 0;
  save (m);
  pthread_mutex_unlock (&m->lock);
}

void
gd_mounts_free (struct gd_mounts *m, bool forget)
{
  if (!m)
    return;
  m->stopping = true;
  if (forget)
    gd_mounts_cleanup (m);
  else
    unmount_all (m); /* the saved counts stay for the next start */
  pthread_mutex_destroy (&m->lock);
  free (m->e);
  free (m->home);
  free (m->state_file);
  free (m->kdev_state);
  free (m->mountopt);
  free (m);
}
