/* commit-revert.c: ar_revert_untouched — the last step of an apply onto a clone.
 *
 * The new layer started as a block-level clone of the container, so it holds everything the
 * container (and its init layer: /.dockerenv, /etc/hosts, /dev/console, /proc, ...) changed
 * against the image.  After the tar's members are applied, every change against the image
 * that the tar did not decide is put back to the image's state: an added path goes, a
 * deleted or replaced one is copied back from the image, a directory gets the image's
 * metadata.  The layer is then exactly "image + tar" whatever the tar held; when the tar is
 * the container's own diff the only changes left are the init layer's, a handful of paths.
 * The image side is read through its own mount; both sides are reached with the confined
 * lookups of fs.c.  Limit: a path copied back from the image loses a hard link it
 * shared with a path outside the copied subtree. */
#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include "archive/internal.h"

#define CHUNK (256 * 1024)
#define UNIT  4096

struct revert {
  int root_fd, proot_fd;
  const struct ar_tar_touch *t;
  struct afs_strset restored; /* copied back whole: their subtrees are done */
  char **dirs;                /* directories whose metadata goes back to the image's */
  size_t n_dirs;
};

/* Open the directory holding REL on the root FD; *BASE points into REL. */
static int
open_parent (int root_fd, const char *rel, char **dir, const char **base)
{
  char *slash;

  *dir = strdup (rel);
  if (*dir == NULL)
    return -1;
  slash = strrchr (*dir, '/');
  *base = slash ? rel + (slash - *dir) + 1 : rel;
  if (slash)
    *slash = '\0';
  else
    **dir = '\0';
  return afs_open_dir (root_fd, *dir);
}

static char *
fd_path (int dfd, const char *name)
{
  return xasprintf ("/proc/self/fd/%d/%s", dfd, name);
}

/* Make the xattrs of D/DN exactly those of S/SN. */
static int
copy_xattrs (int sfd, const char *sn, int dfd, const char *dn)
{
  CLEANUP_FREE char *sp = fd_path (sfd, sn), *dp = fd_path (dfd, dn);
  char list[8192], val[8192];
  ssize_t n, len;

  if (!sp || !dp)
    return -1;
  if ((n = llistxattr (dp, list, sizeof list)) > 0)
    for (char *k = list; k < list + n; k += strlen (k) + 1)
      if (lgetxattr (sp, k, NULL, 0) < 0)
        lremovexattr (dp, k);
  if ((n = llistxattr (sp, list, sizeof list)) <= 0)
    return 0;
  for (char *k = list; k < list + n; k += strlen (k) + 1)
    if ((len = lgetxattr (sp, k, val, sizeof val)) >= 0 && afs_lsetxattr (dfd, dn, k, val, len) &&
        errno != EPERM && errno != ENOTSUP)
      return -1;
  return 0;
}

/* Owner, xattrs, mode, times of S/NAME onto D/NAME (moby's order: chown first). */
static int
copy_meta (int sfd, int dfd, const char *name, const struct stat *st)
{
  struct timespec ts[2] = { st->st_atim, st->st_mtim };

  if (fchownat (dfd, name, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW) == -1 ||
      copy_xattrs (sfd, name, dfd, name) == -1 ||
      (!S_ISLNK (st->st_mode) && fchmodat (dfd, name, st->st_mode & 07777, 0) == -1) ||
      utimensat (dfd, name, ts, AT_SYMLINK_NOFOLLOW) == -1) {
    err_set (errno, "metadata of %s", name);
    return -1;
  }
  return 0;
}

/* Write into DST the units of SRC (SIZE bytes) that differ from what DST holds (CREATED:
 * DST is new and empty, so all-zero units stay holes). */
static int
copy_data (int src, int dst, off_t size, bool created)
{
  CLEANUP_FREE char *a = malloc (CHUNK), *b = malloc (CHUNK);

  if (!a || !b)
    return -1;
  for (off_t off = 0; off < size; off += CHUNK) {
    size_t len = MIN ((off_t)CHUNK, size - off);
    if (pread_full (src, a, len, off) == -1)
      return -1;
    if (created)
      memset (b, 0, len);
    else if (pread_full (dst, b, len, off) == -1)
      return -1;
    for (size_t i = 0; i < len; i += UNIT) {
      size_t n = MIN ((size_t)UNIT, len - i);
      if (memcmp (a + i, b + i, n) && pwrite_full (dst, a + i, n, off + i) == -1)
        return -1;
    }
  }
  return ftruncate (dst, size);
}

static int copy_tree (int sfd, int dfd, const char *name, const struct stat *st);

static int
copy_children (int sfd, int dfd, const char *name)
{
  int s = openat (sfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  CLEANUP_CLOSE int d = openat (dfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  DIR *dir = s >= 0 ? fdopendir (s) : NULL;
  struct dirent *de;
  int r = 0;

  if (!dir || d == -1) {
    if (s >= 0 && !dir)
      close (s);
    if (dir)
      closedir (dir);
    return -1;
  }
  while (r == 0 && (de = readdir (dir)) != NULL) {
    struct stat st;
    if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
      continue;
    r = fstatat (dirfd (dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW);
    if (r == 0)
      r = copy_tree (dirfd (dir), d, de->d_name, &st);
  }
  closedir (dir);
  return r;
}

/* Copy S/NAME (stat ST) to D/NAME, which does not exist. */
static int
copy_tree (int sfd, int dfd, const char *name, const struct stat *st)
{
  char target[PATH_MAX];
  ssize_t n;
  int r = 0;

  if (S_ISDIR (st->st_mode)) {
    r = mkdirat (dfd, name, 0700);
    if (r == 0)
      r = copy_children (sfd, dfd, name);
  } else if (S_ISREG (st->st_mode)) {
    CLEANUP_CLOSE int s = openat (sfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    CLEANUP_CLOSE int d =
        openat (dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    r = s == -1 || d == -1 ? -1 : copy_data (s, d, st->st_size, true);
  } else if (S_ISLNK (st->st_mode)) {
    n = readlinkat (sfd, name, target, sizeof target - 1);
    r = n < 0 ? -1 : (target[n] = '\0', symlinkat (target, dfd, name));
  } else
    r = mknodat (dfd, name, st->st_mode & (S_IFMT | 07777), st->st_rdev);
  if (r == -1) {
    err_set (errno, "copy %s from the image", name);
    return -1;
  }
  return copy_meta (sfd, dfd, name, st);
}

/* Put REL back as the image has it (or remove it if the image lacks it). */
static int
restore (struct revert *rv, const char *rel, bool keep_dir)
{
  CLEANUP_FREE char *dir = NULL, *pdir = NULL;
  const char *base, *pbase;
  CLEANUP_CLOSE int d = open_parent (rv->root_fd, rel, &dir, &base);
  CLEANUP_CLOSE int s = open_parent (rv->proot_fd, rel, &pdir, &pbase);
  struct stat ps, rs;
  bool in_p = s >= 0 && fstatat (s, base, &ps, AT_SYMLINK_NOFOLLOW) == 0;
  bool in_r = d >= 0 && fstatat (d, base, &rs, AT_SYMLINK_NOFOLLOW) == 0;

  if (d == -1) {
    int en = errno;
    err_set (en, "put back /%s: its directory", rel);
    return en == ENOENT && !in_p ? 0 : -1;
  }
  if (in_r && in_p && S_ISDIR (rs.st_mode) && S_ISDIR (ps.st_mode))
    return 1; /* metadata only, after everything else */
  if (in_r && !in_p && keep_dir && S_ISDIR (rs.st_mode))
    return 0; /* the tar put something below it */
  if (in_r && in_p && S_ISREG (rs.st_mode) && S_ISREG (ps.st_mode) && rs.st_nlink == 1) {
    CLEANUP_CLOSE int sf = openat (s, base, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    CLEANUP_CLOSE int df = openat (d, base, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    if (sf == -1 || df == -1 || copy_data (sf, df, ps.st_size, false) == -1) {
      err_set (errno, "put back /%s", rel);
      return -1;
    }
    return copy_meta (s, d, base, &ps);
  }
  if (in_r && afs_remove_at (d, base) == -1) {
    err_set (errno, "remove /%s", rel);
    return -1;
  }
  return in_p ? copy_tree (s, d, base, &ps) : 0;
}

/* Is REL or one of its ancestors in SET? */
static bool
under (const struct afs_strset *set, const char *rel)
{
  CLEANUP_FREE char *p = strdup (rel);
  char *slash;

  if (p == NULL || afs_strset_has (set, p))
    return p != NULL;
  while ((slash = strrchr (p, '/')) != NULL) {
    *slash = '\0';
    if (afs_strset_has (set, p))
      return true;
  }
  return false;
}

static int
revert_one (struct revert *rv, const char *rel)
{
  bool implied;
  int r;

  if (ar_tar_touched (rv->t, rel, &implied) || under (&rv->restored, rel))
    return 0;
  log_debug ("gd", "commit: putting back /%s", rel);
  r = *rel ? restore (rv, rel, implied) : 1; /* the root is always a directory */
  if (r == 1) {
    char **n = realloc (rv->dirs, (rv->n_dirs + 1) * sizeof *n);
    if (!n || !(n[rv->n_dirs] = strdup (rel))) {
      free (n ? n : rv->dirs);
      rv->dirs = NULL, rv->n_dirs = 0;
      return -1;
    }
    rv->dirs = n, rv->n_dirs++;
    return 0;
  }
  return r == -1 ? -1 : afs_strset_add (&rv->restored, rel);
}

static int
restore_dir_meta (struct revert *rv, const char *rel)
{
  CLEANUP_FREE char *dir = NULL, *pdir = NULL;
  const char *base, *pbase;
  CLEANUP_CLOSE int d = open_parent (rv->root_fd, *rel ? rel : ".", &dir, &base);
  CLEANUP_CLOSE int s = open_parent (rv->proot_fd, *rel ? rel : ".", &pdir, &pbase);
  struct stat ps;

  if (d == -1 || s == -1 || fstatat (s, base, &ps, AT_SYMLINK_NOFOLLOW) == -1) {
    err_set (errno, "metadata of /%s", rel);
    return -1;
  }
  return copy_meta (s, d, base, &ps);
}

int
ar_revert_untouched (const char *root, const char *parent_root, const struct ar_tar_touch *t)
{
  struct revert rv = { .root_fd = afs_open_root (root),
                       .proot_fd = afs_open_root (parent_root),
                       .t = t };
  struct ar_change *ch = NULL;
  size_t n = 0;
  int r = -1;

  if (rv.root_fd == -1 || rv.proot_fd == -1 || ar_changes (root, parent_root, &ch, &n) == -1)
    goto out;
  r = 0;
  for (size_t i = 0; r == 0 && i < n; i++)
    r = revert_one (&rv, ch[i].path + 1);
  if (r == 0)
    r = revert_one (&rv, ""); /* the root: not a change of its own */
  for (size_t i = rv.n_dirs; r == 0 && i > 0; i--)
    r = restore_dir_meta (&rv, rv.dirs[i - 1]);
  if (r == -1)
    err_prefix ("commit: put back what the tar did not change");
out:
  for (size_t i = 0; i < rv.n_dirs; i++)
    free (rv.dirs[i]);
  free (rv.dirs);
  afs_strset_free (&rv.restored);
  ar_changes_free (ch, n);
  if (rv.root_fd >= 0)
    close (rv.root_fd);
  if (rv.proot_fd >= 0)
    close (rv.proot_fd);
  return r;
}
