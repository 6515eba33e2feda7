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
#include <fcntl.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "mounts/internal.h"

char *
mm_path_of (struct mm_mounts *m, const char *id, const char *leaf)
{
  return xasprintf ("%s/mnt/%s%s%s", m->home, id, *leaf ? "/" : "", leaf);
}

struct mm_entry *
mm_find (struct mm_mounts *m, const char *id)
{
  for (size_t i = 0; i < m->n; i++)
    if (strcmp (m->e[i].id, id) == 0)
      return &m->e[i];
  return NULL;
}

struct mm_entry *
mm_find_or_add (struct mm_mounts *m, const char *id)
{
  struct mm_entry *e = mm_find (m, id);

  if (e)
    return e;
  if (m->n == m->cap) {
    size_t cap = m->cap ? m->cap * 2 : 16;
    struct mm_entry *ne = realloc (m->e, cap * sizeof *ne);
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

void
mm_drop (struct mm_mounts *m, struct mm_entry *e)
{
  *e = m->e[--m->n];
}

/* Write TEXT to PATH atomically (temp file, rename), without fsync: the counts describe
 * mounts, which a power loss takes away with them, so they only have to outlive our process.
 * Every Get and Put saves them: two fsyncs each were a good part of a Get. */
static int
save_text (const char *path, const char *text)
{
  CLEANUP_FREE char *tmp = xasprintf ("%s.tmp", path);
  int fd = tmp ? open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600) : -1;
  int w;

  if (fd == -1) {
    err_set (errno, "create %s", tmp ? tmp : path);
    return -1;
  }
  w = write_full (fd, text, strlen (text));
  if (close (fd) == -1 || w == -1 || rename (tmp, path) == -1) {
    err_set (errno, "write %s", path);
    unlink (tmp);
    return -1;
  }
  return 0;
}

void
mm_save (struct mm_mounts *m)
{
  CLEANUP_JSON_DECREF json_t *obj = json_object ();
  CLEANUP_FREE char *text = NULL;

  for (size_t i = 0; obj && i < m->n; i++)
    if (m->e[i].count > 0)
      json_object_set_new (obj, m->e[i].id, json_integer (m->e[i].count));
  text = obj ? json_dumps (obj, JSON_INDENT (2) | JSON_SORT_KEYS) : NULL;
  if (!text)
    err_set (ENOMEM, "mount counts");
  if (!text || save_text (m->state_file, text) == -1)
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
int
mm_umount_dirs (struct mm_mounts *m, const char *id)
{
  CLEANUP_FREE char *rootfs = mm_path_of (m, id, "rootfs");
  CLEANUP_FREE char *fs = mm_path_of (m, id, "fs");
  int (*um) (const char *) = m->stopping ? umount_now : mnt_umount;

  if (!rootfs || !fs)
    return -1;
  if (um (rootfs) == -1 || um (fs) == -1) {
    err_prefix ("layer %s", id);
    return -1;
  }
  return 0;
}

/* The NBD connection of a device just detached closes its layer's stack a moment later, in
 * the server's thread: wait for it (up to 200 ms; another user may hold the stack open).
 * Otherwise the next Create on this layer, which comes at once in `docker run`, finds it
 * open and seals it live: one more diff, and a slower Create. */
static void
wait_closed (struct mm_mounts *m, const char *id)
{
  struct timespec ts = { 0, 500 * 1000 };

  for (int i = 0; i < 400 && layer_is_open (m->st, id); i++)
    nanosleep (&ts, NULL);
}

int
mm_unmount_layer (struct mm_mounts *m, struct mm_entry *e)
{
  int r = mm_umount_dirs (m, e->id);
  CLEANUP_FREE char *where = NULL;

  if (r == 0 && e->dev && kdev_busy (e->dev, &where) == 1) {
    /* Someone else still mounts it (containerd's differ removes a View while its own mount
     * of our bind is still there): keep the device, so that the next unmount, Remove or
     * Cleanup detaches it once that mount is gone. */
    err_set (EBUSY, "layer %s: detach: %s is still mounted on %s", e->id, kdev_path (e->dev),
             where);
    r = -1;
  } else if (r == 0 && e->dev) {
    r = kdev_detach (e->dev); /* frees it, also when it fails (its record is left to kdev_reap) */
    e->dev = NULL;
    if (r == -1)
      err_prefix ("layer %s: detach", e->id);
    else if (!m->stopping)
      wait_closed (m, e->id);
  }
  e->mounted = false;
  log_debug ("gd", "layer %s unmounted%s", e->id, r ? " (with errors)" : "");
  return r;
}

static int
chmod_parents (struct mm_mounts *m, const char *id)
{
  CLEANUP_FREE char *mnt = xasprintf ("%s/mnt", m->home);
  CLEANUP_FREE char *dir = mm_path_of (m, id, "");

  if (!mnt || !dir || chmod (mnt, 0711) == -1 || chmod (dir, 0711) == -1) {
    err_set (errno, "chmod %s", dir ? dir : "mnt");
    return -1;
  }
  return 0;
}

/* Attach ID, mount its filesystem, bind its rootfs/, apply its size limit. */
int
mm_mount_layer (struct mm_mounts *m, struct mm_entry *e)
{
  CLEANUP_FREE char *fs = mm_path_of (m, e->id, "fs");
  CLEANUP_FREE char *rootfs = mm_path_of (m, e->id, "rootfs");
  CLEANUP_FREE char *inner = mm_path_of (m, e->id, "fs/rootfs");
  struct kdev_opts ko = m->kdev;
  uint64_t size = mm_quota_load (m->home, e->id);

  if (e->dev && mm_unmount_layer (m, e) == -1) /* left from a failed unmount */
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
  if (mm_quota_grow (e->id, kdev_path (e->dev)) == -1)
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
  if (size && mm_quota_apply (e->id, fs, size) == -1)
    goto err;
  log_debug ("gd", "layer %s mounted from %s", e->id, kdev_path (e->dev));
  return 0;
err:
  err_prefix ("mount layer %s", e->id);
  {
    char *saved = strdup (err_get ());
    int en = err_errno ();
    mm_unmount_layer (m, e);
    err_set (en, "%s", saved ? saved : "mount failed");
    free (saved);
  }
  return -1;
}

bool
mm_healthy (struct mm_mounts *m, struct mm_entry *e)
{
  CLEANUP_FREE char *rootfs = mm_path_of (m, e->id, "rootfs");
  CLEANUP_FREE char *fs = mm_path_of (m, e->id, "fs");
  struct stat st;

  return e->mounted && rootfs && fs && kdev_check (e->dev) == 0 && is_mountpoint (rootfs) == 1 &&
         is_mountpoint (fs) == 1 && stat (rootfs, &st) == 0;
}

char *
mm_get (struct mm_mounts *m, const char *id, bool internal)
{
  struct mm_entry *e;
  char *dir = NULL;

  pthread_mutex_lock (&m->lock);
  if (!layer_exists (m->st, id)) {
    err_set (ENOENT, "layer %s does not exist", id);
    goto out;
  }
  e = mm_find_or_add (m, id);
  if (!e)
    goto out;
  if (e->mounted && !mm_healthy (m, e)) {
    log_warn ("layer %s: its mount is gone, mounting it again", id);
    mm_unmount_layer (m, e);
  }
  if (!e->mounted && mm_mount_layer (m, e) == -1) {
    if (e->count == 0 && e->internal == 0)
      mm_drop (m, e);
    goto out;
  }
  dir = mm_path_of (m, id, "rootfs");
  if (dir && internal)
    e->internal++;
  else if (dir) {
    e->count++;
    mm_save (m);
  }
out:
  pthread_mutex_unlock (&m->lock);
  return dir;
}

int
mm_put (struct mm_mounts *m, const char *id, bool internal)
{
  struct mm_entry *e;
  unsigned *n;
  int r = 0;

  pthread_mutex_lock (&m->lock);
  e = mm_find (m, id);
  n = e ? (internal ? &e->internal : &e->count) : NULL;
  if (!n || *n == 0) {
    if (!layer_exists (m->st, id)) {
      err_set (ENOENT, "layer %s does not exist", id);
      r = -1;
    } else
      log_warn ("Put of layer %s, which is not mounted", id);
  } else if (--*n == 0 && e->count + e->internal == 0) {
    if (internal)
      pthread_cond_broadcast (&m->released);
    r = mm_unmount_layer (m, e);
    if (r == 0)
      mm_drop (m, e);
  }
  if (!internal)
    mm_save (m);
  pthread_mutex_unlock (&m->lock);
  return r;
}
