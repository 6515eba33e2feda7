/* quota.c: StorageOpt size — a container may write at most SIZE bytes.
 *
 * Every layer is its own ext4, so its free space is the limit.  The kernels we run on may lack
 * CONFIG_QUOTA (no project quotas), and shrinking a filesystem would move the image's blocks
 * into the container's diff, so the first mount of a sized layer instead fills the free space
 * but SIZE with a ballast file, fallocated (unwritten extents: only a few metadata blocks
 * reach the diff) at the filesystem's root, beside rootfs/ and so never visible to the
 * container.  Writes past SIZE then fail with ENOSPC, at write() time (delayed allocation
 * reserves blocks then).  The base is made with -m 0, so root and others get the same SIZE.
 * A size above the device's makes the store grow the device; the filesystem is grown here
 * with resize2fs (online) the first time the device is seen at a new size.
 * The size and the grown marker live in <home>/mnt/<id>/ beside the mount points. */
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "graphdriver/api.h"

#define GD_BALLAST ".buse-size-ballast"

static char *
file_of (const char *home, const char *id, const char *name)
{
  return xasprintf ("%s/mnt/%s/%s", home, id, name);
}

static int
save_u64 (const char *path, uint64_t v)
{
  char buf[32];
  int n = snprintf (buf, sizeof buf, "%" PRIu64 "\n", v);

  return write_file_atomic (path, buf, (size_t)n);
}

/* The number in PATH, or 0 when missing. */
static uint64_t
load_u64 (const char *path)
{
  CLEANUP_FREE char *text = path && access (path, F_OK) == 0 ? read_file (path, NULL) : NULL;

  return text ? strtoull (text, NULL, 10) : 0;
}

int
gd_quota_save (const char *home, const char *id, uint64_t size)
{
  CLEANUP_FREE char *dir = xasprintf ("%s/mnt/%s", home, id);
  CLEANUP_FREE char *path = file_of (home, id, "size");

  if (!dir || !path)
    return -1;
  if (size == 0)
    return 0;
  if (mkdir_p (dir, 0700) == -1)
    return -1;
  return save_u64 (path, size);
}

uint64_t
gd_quota_load (const char *home, const char *id)
{
  CLEANUP_FREE char *path = file_of (home, id, "size");

  return load_u64 (path);
}

/* resize2fs DEV when its size differs from the one we last grew to. */
static int
grow (const char *home, const char *id, const char *dev)
{
  CLEANUP_FREE char *marker = file_of (home, id, "grown");
  CLEANUP_CLOSE int fd = open (dev, O_RDONLY | O_CLOEXEC);
  uint64_t bytes = 0;

  if (!marker || fd == -1 || ioctl (fd, BLKGETSIZE64, &bytes) == -1) {
    err_set (errno, "size of %s", dev);
    return -1;
  }
  if (load_u64 (marker) == bytes)
    return 0;
  char *argv[] = { (char *)"resize2fs", (char *)dev, NULL };
  if (run_cmd (argv, NULL) != 0)
    return -1;
  log_info ("layer %s: filesystem grown to %" PRIu64 " bytes", id, bytes);
  return save_u64 (marker, bytes);
}

/* Fill FSDIR's free space but SIZE with the ballast file (once: a layer's children inherit
 * it, and the free space left then is the container's). */
static int
ballast (const char *id, const char *fsdir, uint64_t size)
{
  CLEANUP_FREE char *path = xasprintf ("%s/%s", fsdir, GD_BALLAST);
  CLEANUP_CLOSE int fd = -1;
  struct statvfs sv;
  uint64_t avail;

  if (!path)
    return -1;
  if (access (path, F_OK) == 0)
    return 0;
  if (statvfs (fsdir, &sv) == -1) {
    err_set (errno, "statvfs %s", fsdir);
    return -1;
  }
  avail = (uint64_t)sv.f_bavail * sv.f_frsize;
  if (avail <= size)
    return 0; /* the filesystem itself is the limit */
  fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd == -1 || fallocate (fd, 0, 0, (off_t)(avail - size)) == -1 || fsync (fd) == -1) {
    err_set (errno, "reserve %" PRIu64 " bytes in %s", avail - size, path);
    unlink (path);
    return -1;
  }
  log_info ("layer %s: %" PRIu64 " bytes left free (%" PRIu64 " reserved)", id, size, avail - size);
  return 0;
}

int
gd_quota_apply (const char *home, const char *id, const char *dev, const char *fsdir, uint64_t size)
{
  if (grow (home, id, dev) == -1 || ballast (id, fsdir, size) == -1) {
    err_prefix ("size limit of layer %s", id);
    return -1;
  }
  return 0;
}
