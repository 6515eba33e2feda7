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
 * with resize2fs, before mounting, when the superblock says it is smaller than the device.
 * The size lives in <home>/mnt/<id>/size beside the mount points.  The ballast is permanent;
 * the low-space balloon beside it (lowspace.c) comes and goes with the host's free space. */
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "mounts/internal.h"

#define MM_BALLAST ".buse-size-ballast"

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
mm_quota_save (const char *home, const char *id, uint64_t size)
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
mm_quota_load (const char *home, const char *id)
{
  CLEANUP_FREE char *path = file_of (home, id, "size");

  return load_u64 (path);
}

/* Bytes the ext4 on FD covers, from its superblock (0 if it does not look like ext4). */
static uint64_t
fs_bytes (int fd)
{
  uint8_t sb[1024];
  uint64_t blocks;

  if (pread_full (fd, sb, sizeof sb, 1024) == -1 || sb[0x38] != 0x53 || sb[0x39] != 0xef)
    return 0;
  blocks = (uint64_t)sb[4] | (uint64_t)sb[5] << 8 | (uint64_t)sb[6] << 16 | (uint64_t)sb[7] << 24;
  if (sb[0x60] & 0x80) /* INCOMPAT_64BIT: s_blocks_count_hi */
    blocks |= ((uint64_t)sb[0x150] | (uint64_t)sb[0x151] << 8 | (uint64_t)sb[0x152] << 16 |
               (uint64_t)sb[0x153] << 24)
              << 32;
  return blocks << (10 + sb[24]);
}

/* Before mounting: e2fsck + resize2fs DEV when the device is larger than its filesystem.
 * Offline, because online resizing is refused by some kernels (EPERM). */
int
mm_quota_grow (const char *id, const char *dev)
{
  CLEANUP_CLOSE int fd = open (dev, O_RDONLY | O_CLOEXEC);
  uint64_t bytes = 0, fs;
  char *fsck[] = { (char *)"e2fsck", (char *)"-f", (char *)"-p", (char *)dev, NULL };
  char *resize[] = { (char *)"resize2fs", (char *)dev, NULL };
  int r;

  if (fd == -1 || ioctl (fd, BLKGETSIZE64, &bytes) == -1) {
    err_set (errno, "size of %s", dev);
    return -1;
  }
  fs = fs_bytes (fd);
  if (fs == 0 || fs >= bytes)
    return 0;
  r = run_cmd (fsck, NULL);
  if (r != 0 && r != 1) { /* 1: errors corrected */
    err_prefix ("layer %s: check before growing", id);
    return -1;
  }
  if (run_cmd (resize, NULL) != 0) {
    err_prefix ("layer %s: grow", id);
    return -1;
  }
  log_info ("layer %s: filesystem grown from %" PRIu64 " to %" PRIu64 " bytes", id, fs, bytes);
  return 0;
}

/* Fill FSDIR's free space but SIZE with the ballast file (once: a layer's children inherit
 * it, and the free space left then is the container's). */
static int
ballast (const char *id, const char *fsdir, uint64_t size)
{
  CLEANUP_FREE char *path = xasprintf ("%s/%s", fsdir, MM_BALLAST);
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
  /* a low-space balloon (lowspace.c) is not the layer's: it goes when the host has room */
  avail = (uint64_t)sv.f_bavail * sv.f_frsize + mm_lowspace_balloon (fsdir);
  if (avail <= size)
    return 0;                  /* the filesystem itself is the limit */
  mm_lowspace_deflate (fsdir); /* the ballast takes its room; the guard sizes it again */
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
mm_quota_apply (const char *id, const char *fsdir, uint64_t size)
{
  if (ballast (id, fsdir, size) == -1) {
    err_prefix ("size limit of layer %s", id);
    return -1;
  }
  return 0;
}
