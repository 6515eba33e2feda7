/* loop.c: the loop device of fuse mode — a block device over nbdfuse's file.
 *
 * The device is made with the loop ioctls themselves (LOOP_CTL_GET_FREE, then LOOP_CONFIGURE
 * with direct I/O, so the page cache does not hold every block twice) rather than with
 * losetup(8): a fork and exec of losetup cost several ms of every Get, and `docker run` does
 * three.  Kernels before 5.8 lack LOOP_CONFIGURE and get LOOP_SET_FD + LOOP_SET_STATUS64.
 * The backing file is opened with O_DIRECT when the device is to use direct I/O, as losetup
 * does; a file that refuses it gets a buffered loop device.  $BUSE_LOSETUP, when set, names a
 * losetup-like command run instead (tests simulate a system without a free loop device).
 * The file's name is recorded (loop-file) before the device exists, so fuse.c's reap can
 * find the device by its backing file even if we die before recording the device itself. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <string.h>
#include <sys/ioctl.h>

#include "common/common.h"
#include "attach/internal.h"

#define LOOP_TRIES 32 /* another process may take the free device we were given */

/* BUSE_LOSETUP --find --show [--direct-io=on] [--read-only] FILE; *out gets /dev/loopN. */
static int
run_losetup (struct kdev *dev, const char *cmd, char **out)
{
  char *argv[] = { (char *)cmd, "--find", "--show", "--direct-io=on", dev->fuse_file, NULL, NULL };

  if (dev->opts.read_only)
    argv[4] = "--read-only", argv[5] = dev->fuse_file;
  *out = NULL;
  if (run_cmd (argv, out) != 0) {
    free (*out);
    *out = NULL;
    return -1;
  }
  (*out)[strcspn (*out, "\n")] = '\0';
  if (strncmp (*out, "/dev/", 5) != 0) {
    err_set (EIO, "losetup printed '%s', not a device", *out);
    free (*out);
    *out = NULL;
    return -1;
  }
  return 0;
}

/* Bind the loop device LFD to the file FFD: LOOP_CONFIGURE, or its pre-5.8 equivalent. */
static int
loop_bind (int lfd, int ffd, const char *file, uint32_t flags)
{
  struct loop_config cfg;

  memset (&cfg, 0, sizeof cfg);
  cfg.fd = (uint32_t)ffd;
  cfg.info.lo_flags = flags;
  snprintf ((char *)cfg.info.lo_file_name, sizeof cfg.info.lo_file_name, "%s", file);
  if (ioctl (lfd, LOOP_CONFIGURE, &cfg) == 0)
    return 0;
  if (errno != EINVAL && errno != ENOTTY)
    return -1;
  if (ioctl (lfd, LOOP_SET_FD, ffd) == -1)
    return -1;
  if (ioctl (lfd, LOOP_SET_STATUS64, &cfg.info) == -1) {
    int en = errno;
    ioctl (lfd, LOOP_CLR_FD, 0);
    errno = en;
    return -1;
  }
  if ((flags & LO_FLAGS_DIRECT_IO) && ioctl (lfd, LOOP_SET_DIRECT_IO, 1UL) == -1)
    log_debug ("kdev", "%s: LOOP_SET_DIRECT_IO refused: %m", file);
  return 0;
}

/* A free loop device bound to FFD; *out gets its path.  -1 + err. */
static int
loop_find_bind (int ffd, const char *file, uint32_t flags, char **out)
{
  int ctl = open ("/dev/loop-control", O_RDWR | O_CLOEXEC);
  int mode = (flags & LO_FLAGS_READ_ONLY) ? O_RDONLY : O_RDWR;

  if (ctl == -1) {
    err_set (errno, "open /dev/loop-control");
    return -1;
  }
  for (int i = 0; i < LOOP_TRIES; i++) {
    int n = ioctl (ctl, LOOP_CTL_GET_FREE);
    if (n < 0) {
      err_set (errno, "cannot find an unused loop device");
      break;
    }
    char *path = xasprintf ("/dev/loop%d", n);
    int lfd = path ? open (path, mode | O_CLOEXEC) : -1;
    if (lfd >= 0 && loop_bind (lfd, ffd, file, flags) == 0) {
      close (lfd);
      close (ctl);
      *out = path;
      return 0;
    }
    err_set (errno, "loop device %s for %s", path ? path : "?", file);
    if (lfd >= 0)
      close (lfd);
    free (path);
    if (err_errno () != EBUSY && err_errno () != ENOENT && err_errno () != ENXIO)
      break;
  }
  close (ctl);
  return -1;
}

/* Open the backing file (O_DIRECT if it allows) and bind a free loop device to it. */
static int
loop_setup (struct kdev *dev, char **out)
{
  int mode = dev->opts.read_only ? O_RDONLY : O_RDWR;
  uint32_t flags = LO_FLAGS_DIRECT_IO | (dev->opts.read_only ? LO_FLAGS_READ_ONLY : 0);
  int ffd = open (dev->fuse_file, mode | O_DIRECT | O_CLOEXEC);
  int r;

  if (ffd == -1 && errno == EINVAL) {
    log_info ("layer %s: %s refuses O_DIRECT; the loop device uses buffered I/O", dev->name,
              dev->fuse_file);
    flags &= ~(uint32_t)LO_FLAGS_DIRECT_IO;
    ffd = open (dev->fuse_file, mode | O_CLOEXEC);
  }
  if (ffd == -1) {
    err_set (errno, "open %s", dev->fuse_file);
    return -1;
  }
  r = loop_find_bind (ffd, dev->fuse_file, flags, out);
  close (ffd);
  return r;
}

int
kdev_loop_make (struct kdev *dev)
{
  const char *cmd = dev->opts.losetup;

  if (kdev_rec_write (dev, "loop-file", "%s\n", dev->fuse_file) == -1)
    return -1;
  if ((cmd && *cmd ? run_losetup (dev, cmd, &dev->loop) : loop_setup (dev, &dev->loop)) == -1)
    return -1;
  if (kdev_rec_write (dev, "loop", "%s\n", dev->loop) == -1)
    return -1;
  CLEANUP_FREE char *sys = xasprintf ("/sys/block/%s/loop", dev->loop + 5);
  CLEANUP_FREE char *dio = sys ? kdev_rec_read (sys, "dio") : NULL;
  if (dio && strcmp (dio, "0") == 0) /* the kernel may fall back without an error */
    log_info ("layer %s: %s uses buffered I/O (direct I/O refused)", dev->name, dev->loop);
  dev->path = strdup (dev->loop);
  if (dev->path == NULL) {
    err_set (ENOMEM, "loop path");
    return -1;
  }
  return 0;
}

int
kdev_loop_clear (const char *devpath)
{
  int fd = open (devpath, O_RDONLY | O_CLOEXEC);

  if (fd == -1) {
    if (errno == ENOENT || errno == ENXIO)
      return 0;
    err_set (errno, "open %s", devpath);
    return -1;
  }
  if (ioctl (fd, LOOP_CLR_FD, 0) == -1 && errno != ENXIO) {
    err_set (errno, "detach %s", devpath);
    close (fd);
    return -1;
  }
  close (fd);
  log_debug ("kdev", "detached %s", devpath);
  return 0;
}

int
kdev_loops_clear (const char *file, bool force)
{
  DIR *d = opendir ("/sys/block");
  struct dirent *e;
  int r = 0;

  if (d == NULL)
    return 0;
  while ((e = readdir (d)) != NULL) {
    CLEANUP_FREE char *bf = NULL;
    CLEANUP_FREE char *dev = NULL;
    if (strncmp (e->d_name, "loop", 4) != 0)
      continue;
    CLEANUP_FREE char *p = xasprintf ("/sys/block/%s/loop", e->d_name);
    if (p == NULL || (bf = kdev_rec_read (p, "backing_file")) == NULL)
      continue;
    if (strcmp (bf, file) != 0)
      continue;
    dev = xasprintf ("/dev/%s", e->d_name);
    if (dev == NULL || (force && kdev_umount_users (dev) == -1) || kdev_loop_clear (dev) == -1)
      r = -1;
  }
  closedir (d);
  return r;
}
