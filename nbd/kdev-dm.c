/* kdev-dm.c: dm wrapper (stub until built). */
#include <errno.h>

#include "common/common.h"
#include "nbd/kdev-internal.h"

bool
kdev_dm_available (void)
{
  return false;
}

int
kdev_dm_create (struct kdev *dev)
{
  (void)dev;
  err_set (ENOTSUP, "dm not built yet");
  return -1;
}

int
kdev_dm_reload (struct kdev *dev)
{
  return kdev_dm_create (dev);
}

int
kdev_dm_suspend (struct kdev *dev)
{
  (void)dev;
  return 0;
}

int
kdev_dm_resume (struct kdev *dev)
{
  (void)dev;
  return 0;
}

int
kdev_dm_remove (const char *dm_name)
{
  (void)dm_name;
  return 0;
}
