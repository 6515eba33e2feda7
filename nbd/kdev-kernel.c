/* kdev-kernel.c: kernel mode (stub until built). */
#include <errno.h>

#include "common/common.h"
#include "nbd/kdev-internal.h"

bool
kdev_kernel_available (void)
{
  return false;
}

int
kdev_kernel_attach (struct kdev *dev, struct nbds_server *srv)
{
  (void)dev, (void)srv;
  err_set (ENOTSUP, "kernel mode not built yet");
  return -1;
}

int
kdev_kernel_reconnect (struct kdev *dev, struct nbds_server *srv)
{
  return kdev_kernel_attach (dev, srv);
}

int
kdev_kernel_detach (struct kdev *dev)
{
  (void)dev;
  return 0;
}

int
kdev_kernel_check (struct kdev *dev)
{
  (void)dev;
  return 0;
}

int
kdev_kernel_reap_index (int index)
{
  (void)index;
  return 0;
}
