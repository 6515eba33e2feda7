/* dm.c: the device-mapper wrapper of kernel mode — /dev/mapper/buse-<name>, a linear
 * table over /dev/nbdN, made with libdevmapper.
 *
 * The indirection is what makes two things possible: I/O can be suspended (held in dm, not
 * failed) around a live snapshot, and after a daemon restart whose old /dev/nbdN could not be
 * reconfigured, the same mapper device — still mounted — is reloaded onto a new /dev/nbdM.
 * Device nodes are made by libdevmapper itself (no udev in the guests we test in). */
#include <errno.h>
#include <libdevmapper.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>

#include "common/common.h"
#include "attach/internal.h"

bool
kdev_dm_available (void)
{
  return access ("/dev/mapper/control", F_OK) == 0;
}

/* Run one dm task of TYPE on NAME; with a linear table over dev->nbd when DEV is given.
 * QUICK (suspend): neither wait for queued I/O nor freeze the filesystem above — for a
 * device whose connections are dead. */
static int
dm_run (int type, const char *name, struct kdev *dev, bool quick)
{
  struct dm_task *dmt = dm_task_create (type);
  char params[64];
  struct stat st;
  int ok = 0;

  if (dmt == NULL || !dm_task_set_name (dmt, name))
    goto out;
  if (dev) {
    if (stat (dev->nbd, &st) == -1) {
      err_set (errno, "stat %s", dev->nbd);
      dm_task_destroy (dmt);
      return -1;
    }
    snprintf (params, sizeof params, "%u:%u 0", major (st.st_rdev), minor (st.st_rdev));
    if (!dm_task_add_target (dmt, 0, dev->size / 512, "linear", params))
      goto out;
  }
  if (quick && (!dm_task_no_flush (dmt) || !dm_task_skip_lockfs (dmt)))
    goto out;
  if (type == DM_DEVICE_REMOVE)
    dm_task_retry_remove (dmt);
  ok = dm_task_run (dmt);
  dm_task_update_nodes ();
out:
  if (dmt)
    dm_task_destroy (dmt);
  if (!ok) {
    err_set (EIO, "device-mapper %s %s failed",
             type == DM_DEVICE_CREATE    ? "create"
             : type == DM_DEVICE_RELOAD  ? "reload"
             : type == DM_DEVICE_SUSPEND ? "suspend"
             : type == DM_DEVICE_RESUME  ? "resume"
                                         : "remove",
             name);
    return -1;
  }
  return 0;
}

static bool
dm_exists (const char *name)
{
  struct dm_task *dmt = dm_task_create (DM_DEVICE_INFO);
  struct dm_info info = { 0 };
  bool r = false;

  if (dmt && dm_task_set_name (dmt, name) && dm_task_run (dmt) && dm_task_get_info (dmt, &info))
    r = info.exists;
  if (dmt)
    dm_task_destroy (dmt);
  return r;
}

int
kdev_dm_create (struct kdev *dev)
{
  char *name = xasprintf ("buse-%s", dev->name);

  dm_udev_set_sync_support (0);
  if (name == NULL)
    return -1;
  if (strlen (name) >= 128 /* DM_NAME_LEN */) {
    err_set (ENAMETOOLONG, "dm name %s", name);
    free (name);
    return -1;
  }
  if (kdev_rec_write (dev, "dm", "%s\n", name) == -1 ||
      dm_run (DM_DEVICE_CREATE, name, dev, false) == -1) {
    kdev_rec_remove (dev, "dm");
    free (name);
    return -1;
  }
  dev->dm_name = name;
  free (dev->path);
  dev->path = xasprintf ("/dev/mapper/%s", name);
  for (int ms = 0; dev->path && access (dev->path, F_OK) != 0 && ms < 5000; ms += 10) {
    struct timespec ts = { 0, 10 * 1000 * 1000 };
    nanosleep (&ts, NULL);
  }
  return dev->path && access (dev->path, F_OK) == 0
             ? 0
             : (err_set (ENOENT, "%s did not appear", dev->path), -1);
}

int
kdev_dm_reload (struct kdev *dev)
{
  dm_udev_set_sync_support (0);
  if (!dev->suspended && dm_run (DM_DEVICE_SUSPEND, dev->dm_name, NULL, true) == -1)
    return -1;
  if (dm_run (DM_DEVICE_RELOAD, dev->dm_name, dev, false) == -1)
    return -1;
  dev->suspended = false;
  return dm_run (DM_DEVICE_RESUME, dev->dm_name, NULL, false);
}

int
kdev_dm_hold (struct kdev *dev)
{
  if (dm_run (DM_DEVICE_SUSPEND, dev->dm_name, NULL, true) == -1)
    return -1;
  dev->suspended = true;
  return 0;
}

int
kdev_dm_suspend (struct kdev *dev)
{
  if (dm_run (DM_DEVICE_SUSPEND, dev->dm_name, NULL, false) == -1)
    return -1;
  dev->suspended = true;
  return 0;
}

int
kdev_dm_resume (struct kdev *dev)
{
  if (dm_run (DM_DEVICE_RESUME, dev->dm_name, NULL, false) == -1)
    return -1;
  dev->suspended = false;
  return 0;
}

int
kdev_dm_remove (const char *dm_name)
{
  dm_udev_set_sync_support (0);
  if (!kdev_dm_available () || !dm_exists (dm_name))
    return 0;
  dm_run (DM_DEVICE_RESUME, dm_name, NULL, false); /* a suspended device cannot go */
  return dm_run (DM_DEVICE_REMOVE, dm_name, NULL, false);
}
