/* quota.c: StorageOpt size — a container may write at most SIZE bytes.
 *
 * Every layer is its own ext4 (made with -O quota,project), so one project id is enough:
 * the first mount of a sized layer tags every directory of its rootfs with GD_PROJID and
 * PROJINHERIT (new files anywhere inherit it; files of the image keep project 0 and are not
 * charged), notes what the tags already use, and each mount sets the project's hard limit to
 * that plus SIZE (the layer is mounted with prjquota, so writes past it fail with EDQUOT).
 * A size above the device's makes the store grow the device; the filesystem is grown here
 * with resize2fs (online) the first time the device is seen at a new size.
 * The size and the markers live in <home>/mnt/<id>/ beside the mount points. */
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/quota.h>
#include <sys/stat.h>

#include "graphdriver/api.h"

#define GD_PROJID 4242u

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

static int
tag_one (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
  struct fsxattr fa;
  int fd, r = -1;

  (void)st, (void)ftw;
  if (flag != FTW_D)
    return 0;
  fd = open (path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd == -1)
    return 0; /* vanished or not a directory any more */
  if (ioctl (fd, FS_IOC_FSGETXATTR, &fa) == 0) {
    fa.fsx_projid = GD_PROJID;
    fa.fsx_xflags |= FS_XFLAG_PROJINHERIT;
    r = ioctl (fd, FS_IOC_FSSETXATTR, &fa);
  }
  if (r == -1)
    err_set (errno, "set project on %s", path);
  close (fd);
  return r;
}

static int
get_usage (const char *dev, uint64_t *bytes)
{
  struct dqblk dq;

  if (quotactl (QCMD (Q_GETQUOTA, PRJQUOTA), dev, GD_PROJID, (caddr_t)&dq) == -1) {
    err_set (errno, "quota of %s", dev);
    return -1;
  }
  *bytes = dq.dqb_curspace;
  return 0;
}

/* Tag the rootfs once; return what the tagged directories used then. */
static int
tag (const char *home, const char *id, const char *dev, const char *rootfs, uint64_t *base)
{
  CLEANUP_FREE char *marker = file_of (home, id, "quota-base");

  if (!marker)
    return -1;
  if (access (marker, F_OK) == 0) {
    *base = load_u64 (marker);
    return 0;
  }
  if (nftw (rootfs, tag_one, 32, FTW_PHYS | FTW_MOUNT) != 0)
    return -1;
  if (get_usage (dev, base) == -1)
    return -1;
  return save_u64 (marker, *base);
}

int
gd_quota_apply (const char *home, const char *id, const char *dev, const char *fsdir,
                const char *rootfs, uint64_t size)
{
  struct dqblk dq = { 0 };
  uint64_t base = 0;

  (void)fsdir;
  if (grow (home, id, dev) == -1 || tag (home, id, dev, rootfs, &base) == -1) {
    err_prefix ("size limit of layer %s", id);
    return -1;
  }
  dq.dqb_bhardlimit = (base + size + 1023) / 1024;
  dq.dqb_bsoftlimit = dq.dqb_bhardlimit;
  dq.dqb_valid = QIF_BLIMITS;
  if (quotactl (QCMD (Q_SETQUOTA, PRJQUOTA), dev, GD_PROJID, (caddr_t)&dq) == -1) {
    err_set (errno, "size limit of layer %s: set quota on %s", id, dev);
    return -1;
  }
  log_debug ("gd", "layer %s: limited to %" PRIu64 " bytes (+%" PRIu64 ")", id, size, base);
  return 0;
}
