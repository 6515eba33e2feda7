/* attach.h: the public interface of attach/ — an NBD export of a server as a local block
 * device (kdev_*: fuse = nbdfuse + loop, kernel = /dev/nbdN through netlink, optionally under a
 * dm linear table) and the mount helpers (mnt_*).  Each mode is an ops table (internal.h). */
#ifndef BUSE_ATTACH_H
#define BUSE_ATTACH_H

#include <stdbool.h>
#include <stdint.h>

#include "nbd/nbds.h"

enum kdev_mode { KDEV_AUTO, KDEV_KERNEL, KDEV_FUSE };
int kdev_mode_parse (const char *s, enum kdev_mode *mode); /* "auto"/"kernel"/"fuse" */
const char *kdev_mode_name (enum kdev_mode mode);
/* Resolve auto to kernel or fuse on this host. */
enum kdev_mode kdev_mode_resolve (enum kdev_mode mode);

struct kdev;
struct kdev_opts {
  const char *state_dir; /* where attach state and nbdfuse mount points live (0700) */
  unsigned connections;  /* kernel mode, default 2 */
  unsigned timeout_s;    /* kernel mode dead-connection timeout, default 30 */
  bool read_only;
  bool use_dm; /* kernel mode: wrap in /dev/mapper/buse-<name> when dm exists */
  /* For tests and odd hosts (cli/ sets them from the environment variables named): */
  bool force_ioctl;    /* kernel mode, BUSE_NBD_IOCTL=1: ioctls even where netlink works */
  bool no_reconfigure; /* kernel mode, BUSE_KDEV_NO_RECONFIGURE=1: reattach never reconfigures
                        * the old device, it always moves the dm table to a new one */
  const char *losetup; /* fuse mode, BUSE_LOSETUP: a losetup-like command to make the loop
                        * device instead of our own ioctls; NULL or "": ours.  Must outlive
                        * every device attached with these options. */
  bool fuse_helper;    /* fuse mode, BUSE_FUSE_HELPER=nbdfuse: nbdfuse serves the file (over
                        * NBD) instead of our own FUSE server (fusesrv.c) */
};
/* Attach export NAME served by SRV (connections are made with socketpairs and
 * nbds_serve_fd).  Returns the device ("/dev/loop3", "/dev/nbd0", "/dev/mapper/buse-x"). */
struct kdev *kdev_attach (struct nbds_server *srv, const char *name, enum kdev_mode mode,
                          const struct kdev_opts *opts);
const char *kdev_path (const struct kdev *dev);
int kdev_detach (struct kdev *dev); /* accepts NULL; frees DEV, also when it fails */
/* Is DEV's block device mounted (by anyone: a bind of our mount by containerd's differ keeps
 * it so)?  1 (*WHERE: the first mount point, caller frees), 0 no, -1 + err.  A detach would
 * refuse it (EBUSY) before undoing anything. */
int kdev_busy (const struct kdev *dev, char **where);
/* Suspend / resume I/O (dm wrapper only; no-op returning 0 otherwise). */
int kdev_suspend (struct kdev *dev);
int kdev_resume (struct kdev *dev);
/* Reap devices and nbdfuse processes recorded in opts->state_dir by an earlier run (the
 * other fields of OPTS say how: force_ioctl). */
int kdev_reap (const struct kdev_opts *opts);
/* After a daemon restart: take over NAME's kernel-mode device recorded in opts->state_dir by
 * a dead earlier run and hand it new connections (NBD_CMD_RECONFIGURE; if that device is gone,
 * a new /dev/nbdN under the same dm table).  Call before kdev_reap.  NULL + err if none. */
struct kdev *kdev_reattach (struct nbds_server *srv, const char *name,
                            const struct kdev_opts *opts);
/* 0 while DEV works; -1 + err naming the layer when it was lost (e.g. nbdfuse exited). */
int kdev_check (struct kdev *dev);

/* Fork a watchdog while the caller is still single-threaded: when the caller dies, it kills
 * the caller's nbdfuse children, so stuck I/O to our own filesystems fails and the caller can
 * finish dying (watchdog.c). */
void kdev_start_watchdog (void);

/* ---- mounts -------------------------------------------------------------------------- */

/* Mount DEV (ext4) on DIR with extra OPTIONS (may be NULL); read-only adds "ro,noload". */
int mnt_mount (const char *dev, const char *dir, const char *fstype, const char *options,
               bool read_only);
int
mnt_umount (const char *dir); /* retries briefly on EBUSY, then lazy-unmount; 0 if not mounted */
int mnt_freeze (const char *dir); /* FIFREEZE */
int mnt_thaw (const char *dir);   /* FITHAW */

#endif
