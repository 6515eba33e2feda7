/* mount.c: mount, unmount, freeze and thaw the filesystem on an attached layer.
 *
 * mount(2) is called directly rather than through mount(8): the options we use are few and
 * known, errors come back as an errno we can report with the layer's device, and the tests run
 * in initramfs guests where util-linux may be missing.  Option words that are mount flags
 * (ro, noatime, nodev, ...) become MS_* bits; everything else goes to the filesystem as data.
 * A read-only ext4 mount adds "noload" so mounting never replays the journal, which would
 * write to a device that must not change. */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>

#include "common/common.h"
#include "attach/internal.h"

static const struct {
  const char *word;
  unsigned long flag;
  bool clear;
} mount_flags[] = {
  { "ro", MS_RDONLY, false },
  { "rw", MS_RDONLY, true },
  { "nosuid", MS_NOSUID, false },
  { "suid", MS_NOSUID, true },
  { "nodev", MS_NODEV, false },
  { "dev", MS_NODEV, true },
  { "noexec", MS_NOEXEC, false },
  { "exec", MS_NOEXEC, true },
  { "sync", MS_SYNCHRONOUS, false },
  { "async", MS_SYNCHRONOUS, true },
  { "noatime", MS_NOATIME, false },
  { "atime", MS_NOATIME, true },
  { "nodiratime", MS_NODIRATIME, false },
  { "relatime", MS_RELATIME, false },
  { "strictatime", MS_STRICTATIME, false },
  { "lazytime", MS_LAZYTIME, false },
  { "dirsync", MS_DIRSYNC, false },
  { "defaults", 0, false },
};

/* Split OPTIONS into mount flags (*flags) and filesystem data (returned, caller frees). */
static char *
split_options (const char *options, unsigned long *flags)
{
  CLEANUP_FREE char *copy = strdup (options ? options : "");
  char *data = calloc (1, strlen (options ? options : "") + 16);
  char *save = NULL;

  if (copy == NULL || data == NULL) {
    free (data);
    err_set (ENOMEM, "mount options");
    return NULL;
  }
  for (char *w = strtok_r (copy, ",", &save); w; w = strtok_r (NULL, ",", &save)) {
    size_t i;
    for (i = 0; i < ARRAY_SIZE (mount_flags); i++)
      if (strcmp (w, mount_flags[i].word) == 0)
        break;
    if (i < ARRAY_SIZE (mount_flags)) {
      if (mount_flags[i].clear)
        *flags &= ~mount_flags[i].flag;
      else
        *flags |= mount_flags[i].flag;
      continue;
    }
    if (*data)
      strcat (data, ",");
    strcat (data, w);
  }
  return data;
}

int
mnt_mount (const char *dev, const char *dir, const char *fstype, const char *options,
           bool read_only)
{
  unsigned long flags = 0;
  CLEANUP_FREE char *data = NULL;
  CLEANUP_FREE char *all = NULL;

  if (fstype == NULL)
    fstype = "ext4";
  if (read_only && strcmp (fstype, "ext4") == 0)
    all = xasprintf ("%s%snoload", options ? options : "", options && *options ? "," : "");
  else
    all = strdup (options ? options : "");
  if (all == NULL)
    return -1;
  data = split_options (all, &flags);
  if (data == NULL)
    return -1;
  if (read_only)
    flags |= MS_RDONLY;
  if (mount (dev, dir, fstype, flags, *data ? data : NULL) == -1) {
    err_set (errno, "mount %s on %s (%s%s%s)", dev, dir, fstype, *data ? "," : "", data);
    return -1;
  }
  log_debug ("kdev", "mounted %s on %s (%s, flags %#lx, %s)", dev, dir, fstype, flags, data);
  return 0;
}

int
mnt_umount (const char *dir)
{
  for (int i = 0; i < 30; i++) {
    if (umount2 (dir, UMOUNT_NOFOLLOW) == 0) {
      log_debug ("kdev", "unmounted %s", dir);
      return 0;
    }
    if (errno == EINVAL || errno == ENOENT)
      return 0; /* not a mount point (any more) */
    if (errno != EBUSY) {
      err_set (errno, "umount %s", dir);
      return -1;
    }
    struct timespec ts = { 0, 100 * 1000 * 1000 };
    nanosleep (&ts, NULL);
  }
  log_warn ("umount %s: still busy after 3 s, detaching it lazily", dir);
  if (umount2 (dir, MNT_DETACH | UMOUNT_NOFOLLOW) == -1 && errno != EINVAL) {
    err_set (errno, "umount -l %s", dir);
    return -1;
  }
  return 0;
}

static int
fs_ioctl (const char *dir, unsigned long req, const char *what)
{
  int fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

  if (fd == -1) {
    err_set (errno, "%s: open %s", what, dir);
    return -1;
  }
  if (ioctl (fd, req, 0) == -1) {
    err_set (errno, "%s %s", what, dir);
    close (fd);
    return -1;
  }
  close (fd);
  log_debug ("kdev", "%s %s", what, dir);
  return 0;
}

int
mnt_freeze (const char *dir)
{
  return fs_ioctl (dir, FIFREEZE, "freeze");
}

int
mnt_thaw (const char *dir)
{
  return fs_ioctl (dir, FITHAW, "thaw");
}

/* Undo the octal escapes (\040 etc.) of a mountinfo path, in place. */
static void
unescape (char *s)
{
  char *o = s;

  for (; *s; s++, o++) {
    if (s[0] == '\\' && s[1] >= '0' && s[1] <= '7' && s[2] && s[3]) {
      *o = (char)(((s[1] - '0') << 6) | ((s[2] - '0') << 3) | (s[3] - '0'));
      s += 3;
    } else
      *o = *s;
  }
  *o = '\0';
}

/* Mount points of the block device DEVPATH (by device number), newest last; NULL-ended.
 * Returns NULL + err on error, an empty list when unmounted or DEVPATH does not exist. */
static char **
mounts_of (const char *devpath)
{
  struct stat st;
  char **list = calloc (1, sizeof *list);
  CLEANUP_FCLOSE FILE *fp = NULL;
  char *line = NULL;
  size_t cap = 0, n = 0;

  if (list == NULL)
    return NULL;
  if (stat (devpath, &st) == -1 || !S_ISBLK (st.st_mode))
    return list;
  fp = fopen ("/proc/self/mountinfo", "re");
  if (fp == NULL) {
    err_set (errno, "open /proc/self/mountinfo");
    free (list);
    return NULL;
  }
  while (getline (&line, &cap, fp) > 0) {
    unsigned maj, min;
    char dir[4096];
    if (sscanf (line, "%*u %*u %u:%u %*s %4095s", &maj, &min, dir) != 3 ||
        makedev (maj, min) != st.st_rdev)
      continue;
    unescape (dir);
    char **l2 = realloc (list, (n + 2) * sizeof *list);
    if (l2 == NULL)
      break;
    list = l2;
    list[n++] = strdup (dir);
    list[n] = NULL;
  }
  free (line);
  return list;
}

static void
free_list (char **list)
{
  for (size_t i = 0; list && list[i]; i++)
    free (list[i]);
  free (list);
}

int
kdev_mounted (const char *devpath, char **where)
{
  char **list = mounts_of (devpath);
  int r;

  if (list == NULL)
    return -1;
  r = list[0] != NULL;
  if (r && where)
    *where = strdup (list[0]);
  free_list (list);
  return r;
}

int
kdev_umount_users (const char *devpath)
{
  char **list = mounts_of (devpath);
  int r = 0;

  if (list == NULL)
    return -1;
  /* newest first: a mount stacked on top of another must go first */
  size_t n = 0;
  while (list[n])
    n++;
  while (n-- > 0) {
    log_warn ("unmounting %s from %s", list[n], devpath);
    if (mnt_umount (list[n]) == -1)
      r = -1;
  }
  free_list (list);
  return r;
}
