/* kdev.c: attach an NBD export of our server as a local block device — the mode-independent
 * half: mode selection, the record directories, reattach and reap, dispatching to one ops
 * table per mode (kdev_fuse_ops, kdev_kernel_ops; see internal.h).
 *
 * Every attach owns a record directory <state_dir>/<name>.<n> (mode 0700).  Each kernel object
 * (nbdfuse process and its FUSE mount, loop device, /dev/nbdN, dm table) is written there
 * before it is created and removed from there after it is gone, and the directory names its
 * owner (pid and start time).  A record whose owner is dead is a leftover of a crash:
 * kdev_reap undoes what it names, and kdev_reattach adopts a kernel-mode device from it. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>

#include "common/common.h"
#include "attach/internal.h"

int
kdev_mode_parse (const char *s, enum kdev_mode *mode)
{
  if (strcmp (s, "auto") == 0)
    *mode = KDEV_AUTO;
  else if (strcmp (s, "kernel") == 0)
    *mode = KDEV_KERNEL;
  else if (strcmp (s, "fuse") == 0)
    *mode = KDEV_FUSE;
  else {
    err_set (EINVAL, "attach mode '%s': expected auto, kernel or fuse", s);
    return -1;
  }
  return 0;
}

const char *
kdev_mode_name (enum kdev_mode mode)
{
  switch (mode) {
  case KDEV_KERNEL: return "kernel";
  case KDEV_FUSE: return "fuse";
  default: return "auto";
  }
}

enum kdev_mode
kdev_mode_resolve (enum kdev_mode mode)
{
  if (mode != KDEV_AUTO)
    return mode;
  if (access ("/dev/nbd0", F_OK) != 0) {
    char *argv[] = { "modprobe", "-q", "nbd", NULL };
    if (run_cmd (argv, NULL) != 0)
      err_clear ();
  }
  return access ("/dev/nbd0", F_OK) == 0 ? KDEV_KERNEL : KDEV_FUSE;
}

/* The table of MODE (KDEV_KERNEL or KDEV_FUSE, never auto). */
static const struct kdev_mode_ops *
ops_of (enum kdev_mode mode)
{
  return mode == KDEV_KERNEL ? &kdev_kernel_ops : &kdev_fuse_ops;
}

/* Every mode, in the order reap undoes a record's objects (dm and nbd before nbdfuse). */
static const struct kdev_mode_ops *const all_modes[] = { &kdev_kernel_ops, &kdev_fuse_ops };

/* ---- record directories ---------------------------------------------------------- */

/* "PID STARTTIME" of a process, from /proc/PID/stat (field 22); NULL if it does not exist. */
static char *
proc_identity (pid_t pid)
{
  char path[64];
  CLEANUP_FREE char *stat = NULL;
  char *p;
  unsigned long long start = 0;

  snprintf (path, sizeof path, "/proc/%d/stat", (int)pid);
  if (access (path, F_OK) != 0 || (stat = read_file (path, NULL)) == NULL) {
    err_clear ();
    return NULL;
  }
  p = strrchr (stat, ')');
  for (int field = 2; p && field < 22; field++)
    p = strchr (p + 1, ' ');
  if (p == NULL || sscanf (p + 1, "%llu", &start) != 1)
    return NULL;
  return xasprintf ("%d %llu", (int)pid, start);
}

static int
rec_claim (struct kdev *dev)
{
  CLEANUP_FREE char *me = proc_identity (getpid ());

  return kdev_rec_write (dev, "owner", "%s\n", me ? me : "0 0");
}

/* Is the record's owner still running (it may be us)? */
static bool
rec_owner_alive (const char *rec)
{
  CLEANUP_FREE char *owner = kdev_rec_read (rec, "owner");
  CLEANUP_FREE char *now = NULL;
  int pid;

  if (owner == NULL || sscanf (owner, "%d", &pid) != 1 || pid <= 0)
    return false;
  now = proc_identity (pid);
  return now && strcmp (now, owner) == 0;
}

/* Create <state_dir>/<name>.<n> for a new attach. */
static int
rec_create (struct kdev *dev)
{
  char *abs;

  if (mkdir_p (dev->state_dir, 0700) == -1)
    return -1;
  abs = realpath (dev->state_dir, NULL); /* sysfs shows loop backing files by absolute path */
  if (abs == NULL) {
    err_set (errno, "realpath %s", dev->state_dir);
    return -1;
  }
  free (dev->state_dir);
  dev->state_dir = abs;
  dev->opts.state_dir = abs;
  /* fill a hidden directory first, so kdev_reap never sees a record without its owner */
  dev->rec = xasprintf ("%s/.new-%d-%p", dev->state_dir, (int)getpid (), (void *)dev);
  if (dev->rec == NULL)
    return -1;
  if (mkdir (dev->rec, 0700) == -1) {
    err_set (errno, "mkdir %s", dev->rec);
    return -1;
  }
  if (rec_claim (dev) == -1 || kdev_rec_write (dev, "name", "%s\n", dev->name) == -1 ||
      kdev_rec_write (dev, "mode", "%s\n", kdev_mode_name (dev->mode)) == -1)
    return -1;
  for (int n = 0; n < 1000; n++) {
    char *rec = xasprintf ("%s/%s.%d", dev->state_dir, dev->name, n);
    if (rec == NULL)
      return -1;
    if (rename (dev->rec, rec) == 0) {
      free (dev->rec);
      dev->rec = rec;
      return 0;
    }
    free (rec);
    if (errno != EEXIST && errno != ENOTEMPTY) {
      err_set (errno, "rename %s", dev->rec);
      return -1;
    }
  }
  err_set (EMFILE, "%s: too many records for %s", dev->state_dir, dev->name);
  return -1;
}

/* ---- attach / detach ---------------------------------------------------------------- */

static struct kdev *
kdev_new (const char *name, enum kdev_mode mode, const struct kdev_opts *opts)
{
  struct kdev *dev = calloc (1, sizeof *dev);

  if (dev == NULL) {
    err_set (ENOMEM, "kdev");
    return NULL;
  }
  dev->mode = mode;
  dev->nbd_index = -1;
  dev->ioctl_fd = -1;
  dev->opts = *opts;
  if (dev->opts.connections == 0)
    dev->opts.connections = 2;
  if (dev->opts.connections > KDEV_MAX_CONNS)
    dev->opts.connections = KDEV_MAX_CONNS;
  if (dev->opts.timeout_s == 0)
    dev->opts.timeout_s = 30;
  dev->name = strdup (name);
  dev->state_dir = strdup (opts->state_dir ? opts->state_dir : "/run/buse/kdev");
  dev->opts.state_dir = dev->state_dir;
  if (dev->name == NULL || dev->state_dir == NULL) {
    err_set (ENOMEM, "kdev");
    kdev_detach (dev);
    return NULL;
  }
  return dev;
}

static void
kdev_free (struct kdev *dev)
{
  free (dev->name);
  free (dev->rec);
  free (dev->path);
  free (dev->state_dir);
  free (dev->fuse_mnt);
  free (dev->fuse_file);
  free (dev->loop);
  free (dev->nbd);
  free (dev->dm_name);
  free (dev);
}

struct kdev *
kdev_attach (struct nbds_server *srv, const char *name, enum kdev_mode mode,
             const struct kdev_opts *opts)
{
  struct kdev *dev;
  struct kdev_err e;
  int r;

  if (check_id (name) == -1)
    return NULL;
  mode = kdev_mode_resolve (mode);
  dev = kdev_new (name, mode, opts);
  if (dev == NULL)
    return NULL;
  if (rec_create (dev) == 0) {
    r = ops_of (mode)->attach (dev, srv);
    if (r == 0) {
      log_info ("layer %s attached as %s (%s mode)", name, dev->path, kdev_mode_name (mode));
      return dev;
    }
  }
  kdev_err_save (&e);
  kdev_detach (dev);
  kdev_err_restore (&e);
  err_prefix ("layer %s: %s attach", name, kdev_mode_name (mode));
  return NULL;
}

const char *
kdev_path (const struct kdev *dev)
{
  return dev->path;
}

int
kdev_busy (const struct kdev *dev, char **where)
{
  *where = NULL;
  return dev && dev->path && *dev->path ? kdev_mounted (dev->path, where) : 0;
}

int
kdev_detach (struct kdev *dev)
{
  int r = 0;

  if (dev == NULL)
    return 0;
  if (dev->rec) {
    r = ops_of (dev->mode)->detach (dev);
    if (r == 0)
      remove_tree (dev->rec);
    else { /* leave the record to kdev_reap, marked as nobody's */
      kdev_rec_write (dev, "owner", "0 0\n");
      err_prefix ("layer %s: detach", dev->name);
    }
  }
  kdev_free (dev);
  return r;
}

int
kdev_suspend (struct kdev *dev)
{
  const struct kdev_mode_ops *ops = ops_of (dev->mode);

  return ops->suspend ? ops->suspend (dev) : 0;
}

int
kdev_resume (struct kdev *dev)
{
  const struct kdev_mode_ops *ops = ops_of (dev->mode);

  return ops->resume ? ops->resume (dev) : 0;
}

int
kdev_check (struct kdev *dev)
{
  int r = ops_of (dev->mode)->check (dev);

  if (r == -1)
    err_prefix ("layer %s (%s)", dev->name, dev->path ? dev->path : "no device");
  return r;
}

/* ---- crash recovery ----------------------------------------------------------------- */

/* Undo everything record REC names; 0 when nothing is left. */
static int
reap_record (const char *rec, const struct kdev_opts *opts)
{
  CLEANUP_FREE char *name = kdev_rec_read (rec, "name");
  CLEANUP_FREE char *mode = kdev_rec_read (rec, "mode");
  int r = 0;

  log_warn ("layer %s: reaping the %s-mode device left in %s", name ? name : "?", mode ? mode : "?",
            rec);
  for (size_t i = 0; i < ARRAY_SIZE (all_modes); i++)
    if (all_modes[i]->reap (rec, opts) == -1)
      r = -1;
  if (r == 0)
    r = remove_tree (rec);
  return r;
}

int
kdev_reap (const struct kdev_opts *opts)
{
  const char *state_dir = opts->state_dir;
  DIR *d = opendir (state_dir);
  struct dirent *e;
  int r = 0;

  if (d == NULL)
    return errno == ENOENT ? 0 : (err_set (errno, "opendir %s", state_dir), -1);
  while ((e = readdir (d)) != NULL) {
    CLEANUP_FREE char *rec = NULL;
    struct stat st;
    int pid;
    rec = xasprintf ("%s/%s", state_dir, e->d_name);
    /* a half-made record of a dead process names no kernel object yet: just remove it */
    if (rec && sscanf (e->d_name, ".new-%d-", &pid) == 1 && kill (pid, 0) == -1 && errno == ESRCH)
      remove_tree (rec);
    if (e->d_name[0] == '.')
      continue;
    if (rec == NULL || lstat (rec, &st) == -1 || !S_ISDIR (st.st_mode) || rec_owner_alive (rec))
      continue;
    if (reap_record (rec, opts) == -1) {
      log_error ("reap %s: %s", rec, err_get ());
      r = -1;
    }
  }
  closedir (d);
  return r;
}

/* Load a dead owner's kernel-mode record of NAME into DEV. */
static int
adopt_record (struct kdev *dev)
{
  DIR *d = opendir (dev->state_dir);
  struct dirent *e;
  size_t len = strlen (dev->name);

  if (d == NULL) {
    err_set (errno, "opendir %s", dev->state_dir);
    return -1;
  }
  while ((e = readdir (d)) != NULL) {
    if (strncmp (e->d_name, dev->name, len) != 0 || e->d_name[len] != '.')
      continue;
    free (dev->rec);
    dev->rec = xasprintf ("%s/%s", dev->state_dir, e->d_name);
    CLEANUP_FREE char *mode = kdev_rec_read (dev->rec, "mode");
    CLEANUP_FREE char *nbd = kdev_rec_read (dev->rec, "nbd");
    if (rec_owner_alive (dev->rec) || mode == NULL || strcmp (mode, "kernel") != 0 || !nbd || !*nbd)
      continue;
    closedir (d);
    dev->nbd_index = atoi (nbd);
    dev->nbd = xasprintf ("/dev/nbd%d", dev->nbd_index);
    dev->dm_name = kdev_rec_read (dev->rec, "dm");
    return rec_claim (dev);
  }
  closedir (d);
  free (dev->rec);
  dev->rec = NULL;
  err_set (ENOENT, "no kernel-mode device of a dead run recorded in %s", dev->state_dir);
  return -1;
}

struct kdev *
kdev_reattach (struct nbds_server *srv, const char *name, const struct kdev_opts *opts)
{
  struct kdev *dev = kdev_new (name, KDEV_KERNEL, opts);
  struct kdev_err e;

  if (dev == NULL)
    return NULL;
  if (adopt_record (dev) == 0 && ops_of (KDEV_KERNEL)->reattach (dev, srv) == 0) {
    log_info ("layer %s reattached as %s", name, dev->path);
    return dev;
  }
  kdev_err_save (&e);
  if (dev->rec) /* give it back to kdev_reap */
    kdev_rec_write (dev, "owner", "0 0\n");
  free (dev->rec);
  dev->rec = NULL;
  kdev_detach (dev);
  kdev_err_restore (&e);
  err_prefix ("layer %s: reattach", name);
  return NULL;
}
