/* mountmgr-life.c: the mount manager's life around Get/Put — start (reap what a dead run
 * left, adopt or re-mount what dockerd still holds), a new dockerd session, Create and Remove
 * of layers beside their mounts, Cleanup and stop. */
#include <dirent.h>
#include <string.h>
#include <time.h>

#include "mounts/internal.h"

void
mm_new_session (struct mm_mounts *m)
{
  size_t held = 0;

  pthread_mutex_lock (&m->lock);
  for (size_t i = 0; i < m->n; i++) {
    held += m->e[i].count > 0;
    m->e[i].count = 0;
  }
  mm_save (m);
  pthread_mutex_unlock (&m->lock);
  if (held)
    log_info ("new dockerd session: %zu layers held by the last one stay mounted, unreferenced",
              held);
}

unsigned
mm_count (struct mm_mounts *m, const char *id)
{
  struct mm_entry *e;
  unsigned n;

  pthread_mutex_lock (&m->lock);
  e = mm_find (m, id);
  n = e ? e->count : 0;
  pthread_mutex_unlock (&m->lock);
  return n;
}

size_t
mm_active (struct mm_mounts *m)
{
  size_t n = 0;

  pthread_mutex_lock (&m->lock);
  for (size_t i = 0; i < m->n; i++)
    n += m->e[i].mounted;
  pthread_mutex_unlock (&m->lock);
  return n;
}

void
mm_device (struct mm_mounts *m, const char *id, char *buf, size_t len)
{
  struct mm_entry *e;

  pthread_mutex_lock (&m->lock);
  e = mm_find (m, id);
  snprintf (buf, len, "%s", e && e->mounted && e->dev ? kdev_path (e->dev) : "");
  pthread_mutex_unlock (&m->lock);
}

int
mm_create_in (struct mm_mounts *m, const char *id, const char *parent, uint64_t size,
              struct fsync_batch *b)
{
  struct mm_entry *p;
  CLEANUP_FREE char *fs = NULL;
  int r;

  pthread_mutex_lock (&m->lock);
  p = parent ? mm_find (m, parent) : NULL;
  if (p && p->mounted) {
    /* The store seals the parent's top diff: the filesystem must be consistent on it. */
    fs = mm_path_of (m, parent, "fs");
    if (!fs || mnt_freeze (fs) == -1) {
      pthread_mutex_unlock (&m->lock);
      return -1;
    }
  }
  r = b ? layer_create_in (m->st, id, parent, size, true, b)
        : layer_create (m->st, id, parent, size, true);
  if (fs && mnt_thaw (fs) == -1)
    log_warn ("thaw %s: %s", fs, err_get ());
  pthread_mutex_unlock (&m->lock);
  return r;
}

int
mm_create (struct mm_mounts *m, const char *id, const char *parent, uint64_t size)
{
  return mm_create_in (m, id, parent, size, NULL);
}

/* A layer whose only references are our own (a Diff or an ApplyDiff, perhaps one whose
 * client just went away, as dockerd's retries of an interrupted ApplyDiff do) is about to be
 * free: wait up to MM_REMOVE_WAIT s for it, lock held.  Returns ID's entry, if any. */
#define MM_REMOVE_WAIT 30
static struct mm_entry *
wait_internal (struct mm_mounts *m, const char *id)
{
  struct timespec deadline;
  struct mm_entry *e;

  clock_gettime (CLOCK_REALTIME, &deadline);
  deadline.tv_sec += MM_REMOVE_WAIT;
  while ((e = mm_find (m, id)) && e->count == 0 && e->internal > 0)
    if (pthread_cond_timedwait (&m->released, &m->lock, &deadline) == ETIMEDOUT)
      break;
  return e;
}

int
mm_remove (struct mm_mounts *m, const char *id)
{
  struct mm_entry *e;
  CLEANUP_FREE char *dir = mm_path_of (m, id, "");
  int r;

  pthread_mutex_lock (&m->lock);
  e = wait_internal (m, id);
  if (e && (e->count > 0 || e->internal > 0)) {
    if (e->count > 0)
      err_set (EBUSY, "layer %s is mounted (%u Get without Put)", id, e->count);
    else
      err_set (EBUSY, "layer %s is in use by a diff or an apply", id);
    pthread_mutex_unlock (&m->lock);
    return -1;
  }
  if (e) { /* mounted for an earlier dockerd (see mm_new_session) */
    if (mm_unmount_layer (m, e) == -1) {
      pthread_mutex_unlock (&m->lock);
      return -1;
    }
    mm_drop (m, e);
  }
  /* The NBD connection of a just-detached device may still be closing the stack: it takes
   * a ms or so, so look again often (for up to 2.5 s). */
  for (int i = 0; (r = layer_remove (m->st, id)) == -1 && err_errno () == EBUSY && i < 1250; i++) {
    struct timespec ts = { 0, 2 * 1000 * 1000 };
    nanosleep (&ts, NULL);
  }
  if (r == 0 && dir && remove_tree (dir) == -1)
    log_warn ("%s", err_get ());
  pthread_mutex_unlock (&m->lock);
  return r;
}

/* Unmount whatever an earlier run left mounted under <home>/mnt (but not what we adopted). */
static void
reap_mounts (struct mm_mounts *m)
{
  CLEANUP_FREE char *dir = xasprintf ("%s/mnt", m->home);
  DIR *dp = dir ? opendir (dir) : NULL;
  struct dirent *de;

  if (!dp)
    return;
  while ((de = readdir (dp))) {
    struct mm_entry *e = mm_find (m, de->d_name);
    if (de->d_name[0] == '.' || (e && e->mounted))
      continue;
    if (mm_umount_dirs (m, de->d_name) == -1)
      log_warn ("reaping stale mounts: %s", err_get ());
  }
  closedir (dp);
}

/* The saved counts: what dockerd still holds. */
static void
load_counts (struct mm_mounts *m)
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
    struct mm_entry *e;
    if (n > 0 && check_id (id) == 0 && layer_exists (m->st, id) && (e = mm_find_or_add (m, id)))
      e->count = (unsigned)n;
  }
}

/* Kernel mode: a device of a dead run can be handed new connections, and its mount lives on. */
static void
adopt (struct mm_mounts *m)
{
  struct kdev_opts ko = m->kdev;

  for (size_t i = 0; m->mode == KDEV_KERNEL && i < m->n; i++) {
    struct mm_entry *e = &m->e[i];
    e->dev = kdev_reattach (m->srv, e->id, &ko);
    e->mounted = e->dev != NULL;
    if (e->mounted && !mm_healthy (m, e)) {
      e->mounted = false; /* mount_layer detaches and starts again */
    } else if (e->mounted)
      log_info ("layer %s: device %s adopted", e->id, kdev_path (e->dev));
  }
}

/* Mount again every layer the saved counts say dockerd still holds. */
static void
restore (struct mm_mounts *m)
{
  for (size_t i = 0; i < m->n; i++) {
    struct mm_entry *e = &m->e[i];
    if (e->mounted)
      continue;
    if (mm_mount_layer (m, e) == -1)
      log_warn ("restoring mount: %s (the next Get tries again)", err_get ());
    else
      log_info ("layer %s mounted again (%u references)", e->id, e->count);
  }
  mm_save (m);
}

struct mm_mounts *
mm_new (const struct mm_cfg *cfg)
{
  struct mm_mounts *m = calloc (1, sizeof *m);

  if (!m) {
    err_set (ENOMEM, "mounts");
    return NULL;
  }
  pthread_mutex_init (&m->lock, NULL);
  pthread_cond_init (&m->released, NULL);
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
    mm_free (m, false);
    return NULL;
  }
  m->kdev = cfg->kdev;
  m->kdev.state_dir = m->kdev_state;
  m->kdev.use_dm = true;
  load_counts (m);
  adopt (m);
  m->stopping = true;
  reap_mounts (m);
  m->stopping = false;
  if (kdev_reap (&m->kdev) == -1)
    log_warn ("reaping stale devices: %s", err_get ());
  restore (m);
  return m;
}

static void
unmount_all (struct mm_mounts *m)
{
  for (size_t i = 0; i < m->n; i++)
    if ((m->e[i].mounted || m->e[i].dev) && mm_unmount_layer (m, &m->e[i]) == -1)
      log_warn ("%s", err_get ());
}

void
mm_cleanup (struct mm_mounts *m)
{
  pthread_mutex_lock (&m->lock);
  unmount_all (m);
  m->n = 0;
  mm_save (m);
  pthread_mutex_unlock (&m->lock);
}

void
mm_free (struct mm_mounts *m, bool forget)
{
  if (!m)
    return;
  m->stopping = true;
  if (forget)
    mm_cleanup (m);
  else
    unmount_all (m); /* the saved counts stay for the next start */
  pthread_mutex_destroy (&m->lock);
  pthread_cond_destroy (&m->released);
  free (m->e);
  free (m->home);
  free (m->state_file);
  free (m->kdev_state);
  free (m->mountopt);
  free (m);
}
