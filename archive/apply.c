/* apply.c: ar_apply_tar — apply a layer tar (ApplyDiff) to a mounted rootfs.
 *
 * Follows moby 20.10's UnpackLayer: members are applied in order; ".wh.NAME" removes NAME,
 * ".wh..wh..opq" empties its directory of everything this tar did not create, other AUFS
 * ".wh..wh.*" metadata is skipped; an existing entry is replaced unless a directory lands on
 * a directory (then only its metadata changes); directory times are set last; missing
 * parents are made 0755 (moby: 0600); the size is the bytes of regular files.  The stream
 * is read through libarchive (any compression) and never buffered whole.  All filesystem
 * access goes through fs.c, so a hostile name cannot reach outside the root.
 * Regular files are written sparsely: holes from the tar and all-zero 4 KiB blocks are
 * skipped, which keeps the thin block layers under us thin. */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "archive/internal.h"

#define READ_BUF  (256 * 1024)
#define ZERO_UNIT 4096

#define WH_PREFIX ".wh."
#define WH_META   ".wh..wh."
#define WH_OPAQUE ".wh..wh..opq"

struct dir_time {
  char *rel;
  struct timespec ts[2];
};

struct apply {
  int root_fd;
  struct archive *a;
  const struct ar_idmaps *maps;
  ar_read_fn rd;
  void *ctx;
  char *buf;
  bool rd_failed;
  struct afs_strset done; /* paths this tar created: kept by opaque whiteouts */
  struct dir_time *dirs;
  size_t n_dirs, cap_dirs;
  uint64_t size;
  struct ar_tar_touch *touch; /* an apply onto a clone: keep identical files, record paths */
};

static la_ssize_t
read_cb (struct archive *a, void *opaque, const void **buf)
{
  struct apply *ap = opaque;
  ssize_t r = ap->rd (ap->ctx, ap->buf, READ_BUF);

  if (r < 0) {
    ap->rd_failed = true;
    archive_set_error (a, EIO, "read: %s", err_get ());
    return -1;
  }
  *buf = ap->buf;
  return r;
}

static bool
all_zero (const char *p, size_t n)
{
  return n == 0 || (p[0] == 0 && memcmp (p, p + 1, n - 1) == 0);
}

/* Write LEN bytes at OFF, leaving every all-zero ZERO_UNIT-aligned piece a hole. */
static int
write_sparse (int fd, const char *p, size_t len, off_t off)
{
  while (len > 0) {
    size_t n = MIN (len, ZERO_UNIT - (size_t)(off % ZERO_UNIT));
    if (!all_zero (p, n) && pwrite_full (fd, p, n, off) == -1)
      return -1;
    p += n;
    off += n;
    len -= n;
  }
  return 0;
}

static int
write_data (struct apply *ap, int fd, struct archive_entry *e)
{
  const void *p;
  size_t len;
  la_int64_t off;
  int r;

  while ((r = archive_read_data_block (ap->a, &p, &len, &off)) == ARCHIVE_OK || r == ARCHIVE_WARN)
    if (write_sparse (fd, p, len, off) == -1)
      return -1;
  if (r != ARCHIVE_EOF) {
    err_set (archive_errno (ap->a) > 0 ? archive_errno (ap->a) : EIO, "%s",
             archive_error_string (ap->a));
    return -1;
  }
  if (archive_entry_size_is_set (e) && ftruncate (fd, archive_entry_size (e)) == -1)
    return -1;
  return 0;
}

static int
set_owner (struct apply *ap, int pfd, const char *base, struct archive_entry *e)
{
  uint32_t uid, gid;
  const struct ar_idmaps *m = ap->maps;
  struct stat st;

  if (afs_map_id (m ? m->uid : NULL, m ? m->n_uid : 0, archive_entry_uid (e), true, &uid) == -1 ||
      afs_map_id (m ? m->gid : NULL, m ? m->n_gid : 0, archive_entry_gid (e), true, &gid) == -1)
    return -1;
  /* Only when it changes anything: chown drops security.capability, and the second name of
   * a hard link (which GNU tar writes without xattrs) must not lose the first one's. */
  if (fstatat (pfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_uid == uid && st.st_gid == gid)
    return 0;
  if (fchownat (pfd, base, uid, gid, AT_SYMLINK_NOFOLLOW) == -1) {
    err_set (errno, "chown");
    return -1;
  }
  return 0;
}

static int
set_xattrs (int pfd, const char *base, struct archive_entry *e)
{
  const char *key;
  const void *val;
  size_t len;

  archive_entry_xattr_reset (e);
  while (archive_entry_xattr_next (e, &key, &val, &len) == ARCHIVE_OK) {
    if (afs_lsetxattr (pfd, base, key, val, len) == 0)
      continue;
    if (errno != EPERM && errno != ENOTSUP) {
      err_set (errno, "setxattr %s", key);
      return -1;
    }
    log_debug ("gd", "apply: xattr %s on %s ignored: %m", key, base);
  }
  return 0;
}

/* Owner, xattrs (after chown, which clears security.capability), mode (after chown, which
 * clears setuid), times — in moby's order.  Directory times wait until the end. */
static int
set_meta (struct apply *ap, int pfd, const char *base, const char *rel, struct archive_entry *e)
{
  struct stat st;
  struct timespec ts[2];

  if (set_owner (ap, pfd, base, e) == -1 || set_xattrs (pfd, base, e) == -1)
    return -1;
  if (fstatat (pfd, base, &st, AT_SYMLINK_NOFOLLOW) == -1) {
    err_set (errno, "stat");
    return -1;
  }
  if (!S_ISLNK (st.st_mode) && (st.st_mode & 07777) != (archive_entry_mode (e) & 07777) &&
      fchmodat (pfd, base, archive_entry_mode (e) & 07777, 0) == -1) {
    err_set (errno, "chmod");
    return -1;
  }
  ts[1].tv_sec = archive_entry_mtime (e);
  ts[1].tv_nsec = archive_entry_mtime_nsec (e);
  ts[0] = ts[1];
  if (archive_entry_atime_is_set (e) &&
      (archive_entry_atime (e) > ts[1].tv_sec ||
       (archive_entry_atime (e) == ts[1].tv_sec && archive_entry_atime_nsec (e) > ts[1].tv_nsec))) {
    ts[0].tv_sec = archive_entry_atime (e); /* never before mtime, as moby */
    ts[0].tv_nsec = archive_entry_atime_nsec (e);
  }
  if (S_ISDIR (st.st_mode)) {
    if (ap->n_dirs == ap->cap_dirs) {
      size_t cap = ap->cap_dirs ? 2 * ap->cap_dirs : 64;
      struct dir_time *d = realloc (ap->dirs, cap * sizeof *d);
      if (d == NULL) {
        err_set (errno, "realloc");
        return -1;
      }
      ap->dirs = d;
      ap->cap_dirs = cap;
    }
    ap->dirs[ap->n_dirs].rel = strdup (rel);
    if (ap->dirs[ap->n_dirs].rel == NULL)
      return -1;
    memcpy (ap->dirs[ap->n_dirs++].ts, ts, sizeof ts);
    return 0;
  }
  if (utimensat (pfd, base, ts, AT_SYMLINK_NOFOLLOW) == -1) {
    err_set (errno, "utimes");
    return -1;
  }
  return 0;
}

static int
make_hardlink (struct apply *ap, int pfd, const char *base, const char *target)
{
  CLEANUP_FREE char *rel = afs_clean_name (target);
  CLEANUP_CLOSE int tfd = -1;
  char *slash;

  if (rel == NULL)
    return -1;
  if (*rel == '\0') {
    err_set (EINVAL, "hardlink to the root");
    return -1;
  }
  slash = strrchr (rel, '/');
  if (slash)
    *slash = '\0';
  tfd = afs_open_dir (ap->root_fd, slash ? rel : "");
  if (tfd == -1 || linkat (tfd, slash ? slash + 1 : rel, pfd, base, 0) == -1) {
    err_set (errno, "link to %s", target);
    return -1;
  }
  return 0;
}

/* Create the entry BASE in directory PFD (nothing there but maybe a directory). */
static int
create_entry (struct apply *ap, int pfd, const char *base, struct archive_entry *e)
{
  mode_t type = archive_entry_filetype (e), perm = archive_entry_mode (e) & 07777;
  const char *hl = archive_entry_hardlink (e), *sl;
  struct stat st;
  int fd, r = -1;

  if (hl)
    return make_hardlink (ap, pfd, base, hl);
  switch (type) {
  case AE_IFDIR:
    if (fstatat (pfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR (st.st_mode))
      return 0;
    r = mkdirat (pfd, base, 0700);
    break;
  case AE_IFREG:
    fd = openat (pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd == -1)
      break;
    ap->size += archive_entry_size (e);
    r = write_data (ap, fd, e);
    if (close (fd) == -1 && r == 0)
      r = -1;
    return r == -1 ? -1 : 0;
  case AE_IFLNK:
    sl = archive_entry_symlink (e);
    if (sl == NULL) {
      err_set (EINVAL, "symlink without a target");
      return -1;
    }
    r = symlinkat (sl, pfd, base);
    break;
  case AE_IFCHR:
  case AE_IFBLK:
  case AE_IFIFO:
    r = mknodat (pfd, base, type | perm, type == AE_IFIFO ? 0 : archive_entry_rdev (e));
    break;
  default: err_set (EINVAL, "unsupported member type 0%o", type); return -1;
  }
  if (r == -1) {
    err_set (errno, "create");
    return -1;
  }
  return 0;
}

/* Remove from directory REL (open as DFD) every entry this tar did not create. */
static int
opaque_dir (struct apply *ap, int dfd, const char *rel)
{
  CLEANUP_CLOSE int fd = openat (dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR *d = fd >= 0 ? fdopendir (dup (fd)) : NULL;
  struct dirent *de;
  int r = 0;

  if (d == NULL)
    return -1;
  while (r == 0 && (de = readdir (d)) != NULL) {
    CLEANUP_FREE char *child = NULL;
    struct stat st;
    if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
      continue;
    child = *rel ? xasprintf ("%s/%s", rel, de->d_name) : strdup (de->d_name);
    if (child == NULL)
      r = -1;
    else if (!afs_strset_has (&ap->done, child))
      r = afs_remove_at (fd, de->d_name);
    else if (fstatat (fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR (st.st_mode)) {
      int cfd = openat (fd, de->d_name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      r = cfd == -1 ? -1 : opaque_dir (ap, cfd, child);
      if (cfd >= 0)
        close (cfd);
    }
  }
  closedir (d);
  return r;
}

static int
touch_whiteout (struct apply *ap, const char *parent, const char *victim)
{
  CLEANUP_FREE char *rel = *parent ? xasprintf ("%s/%s", parent, victim) : strdup (victim);

  return rel ? akeep_touch_add (ap->touch, rel, AKEEP_WHITEOUT) : -1;
}

static int
whiteout (struct apply *ap, const char *parent, const char *base)
{
  CLEANUP_CLOSE int pfd = afs_open_dir (ap->root_fd, parent);
  const char *victim = base + strlen (WH_PREFIX);

  if (strcmp (base, WH_OPAQUE) == 0) {
    if (ap->touch && akeep_touch_add (ap->touch, parent, AKEEP_OPAQUE) == -1)
      return -1;
    if (pfd >= 0 && opaque_dir (ap, pfd, parent) == 0)
      return 0;
    err_set (errno, "opaque directory /%.200s", parent);
    return -1;
  }
  if (strncmp (base, WH_META, strlen (WH_META)) == 0)
    return 0; /* AUFS metadata (.wh..wh.plnk, .wh..wh.aufs): skipped */
  if (*victim == '\0' || strcmp (victim, ".") == 0 || strcmp (victim, "..") == 0) {
    log_warn ("apply: ignoring whiteout %s in /%s", base, parent);
    return 0;
  }
  if (ap->touch && touch_whiteout (ap, parent, victim) == -1)
    return -1;
  if (pfd == -1 && errno == ENOENT)
    return 0;
  if (pfd >= 0 && afs_remove_at (pfd, victim) == 0)
    return 0;
  err_set (errno, "remove /%.200s/%s", parent, victim);
  return -1;
}

static int
touch_member (struct apply *ap, const char *rel, struct archive_entry *e)
{
  bool dir = archive_entry_filetype (e) == AE_IFDIR && archive_entry_hardlink (e) == NULL;

  return akeep_touch_add (ap->touch, rel, dir ? AKEEP_MEMBER_DIR : AKEEP_MEMBER);
}

/* A regular file member on a regular file of the same size that no other name shares. */
static bool
keepable (const struct stat *st, struct archive_entry *e)
{
  return archive_entry_filetype (e) == AE_IFREG && archive_entry_hardlink (e) == NULL &&
         archive_entry_size_is_set (e) && archive_entry_sparse_count (e) == 0 &&
         S_ISREG (st->st_mode) && st->st_nlink == 1 && st->st_size == archive_entry_size (e);
}

/* Update that file in place: only differing data, then exactly the header's metadata. */
static int
keep_file (struct apply *ap, int pfd, const char *base, const char *rel, struct archive_entry *e)
{
  CLEANUP_CLOSE int fd = openat (pfd, base, O_RDWR | O_NOFOLLOW | O_CLOEXEC);

  if (fd == -1) {
    err_set (errno, "open");
    return -1;
  }
  ap->size += archive_entry_size (e);
  if (akeep_data (ap->a, fd, archive_entry_size (e)) == -1 ||
      set_meta (ap, pfd, base, rel, e) == -1)
    return -1;
  if (akeep_xattrs_exact (fd, e) == -1) {
    err_set (errno, "remove xattrs");
    return -1;
  }
  return afs_strset_add (&ap->done, rel);
}

static int
apply_member (struct apply *ap, const char *rel, struct archive_entry *e)
{
  CLEANUP_FREE char *parent = strdup (rel);
  CLEANUP_CLOSE int pfd = -1;
  char *slash = parent ? strrchr (parent, '/') : NULL;
  const char *base = slash ? slash + 1 : rel;
  struct stat st;

  if (parent == NULL)
    return -1;
  if (slash)
    *slash = '\0';
  else
    parent[0] = '\0';
  if (*rel == '\0')
    base = "."; /* the root itself: metadata only */
  else if (strncmp (rel, WH_META, strlen (WH_META)) == 0 && strcmp (rel, WH_OPAQUE) != 0)
    return 0; /* AUFS metadata directory at the top */
  else if (strncmp (base, WH_PREFIX, strlen (WH_PREFIX)) == 0)
    return whiteout (ap, parent, base);

  pfd = afs_make_dirs (ap->root_fd, parent);
  if (pfd == -1) {
    err_set (errno, "directory /%.200s", parent);
    return -1;
  }
  if (ap->touch && touch_member (ap, rel, e) == -1)
    return -1;
  if (ap->touch && *rel && fstatat (pfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 && keepable (&st, e))
    return keep_file (ap, pfd, base, rel, e);
  if (*rel && fstatat (pfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
      !(S_ISDIR (st.st_mode) && archive_entry_filetype (e) == AE_IFDIR &&
        archive_entry_hardlink (e) == NULL) &&
      afs_remove_at (pfd, base) == -1) {
    err_set (errno, "remove the old entry");
    return -1;
  }
  if ((*rel && create_entry (ap, pfd, base, e) == -1) || set_meta (ap, pfd, base, rel, e) == -1)
    return -1;
  return afs_strset_add (&ap->done, rel);
}

static int
set_dir_times (struct apply *ap)
{
  size_t i;

  for (i = 0; i < ap->n_dirs; i++) {
    const char *rel = ap->dirs[i].rel;
    int fd = afs_open_dir (ap->root_fd, rel);
    if (fd == -1 && errno == ENOENT)
      continue; /* removed by a later whiteout */
    if (fd == -1 || utimensat (fd, ".", ap->dirs[i].ts, 0) == -1) {
      err_set (errno, "apply: utimes /%s", rel);
      if (fd >= 0)
        close (fd);
      return -1;
    }
    close (fd);
  }
  return 0;
}

/* The member loop.  Errors name the member. */
static int
apply_all (struct apply *ap)
{
  struct archive_entry *e;
  int r;

  while ((r = archive_read_next_header (ap->a, &e)) != ARCHIVE_EOF) {
    const char *name;
    CLEANUP_FREE char *rel = NULL;
    if (r == ARCHIVE_RETRY)
      continue;
    if (r < ARCHIVE_WARN) {
      if (!ap->rd_failed)
        err_set (archive_errno (ap->a) > 0 ? archive_errno (ap->a) : EIO, "apply: %s",
                 archive_error_string (ap->a));
      return -1;
    }
    name = archive_entry_pathname (e);
    if (name == NULL) {
      err_set (EINVAL, "apply: a member without a name");
      return -1;
    }
    rel = afs_clean_name (name);
    if (rel == NULL || apply_member (ap, rel, e) == -1) {
      err_prefix ("apply %.200s%s", name, strlen (name) > 200 ? "..." : "");
      return -1;
    }
  }
  return 0;
}

/* Read what follows the end-of-archive records, so the caller's stream ends cleanly. */
static void
drain (struct apply *ap)
{
  while (!ap->rd_failed && ap->rd (ap->ctx, ap->buf, READ_BUF) > 0)
    ;
}

static int apply_run (struct apply *ap, const char *root, ar_apply_fixup_fn fixup, void *fixup_ctx,
                      uint64_t *size);

int
ar_apply_tar (const char *root, ar_read_fn rd, void *ctx, const struct ar_idmaps *maps,
              uint64_t *size)
{
  struct apply ap = { .root_fd = -1, .maps = maps, .rd = rd, .ctx = ctx };

  return apply_run (&ap, root, NULL, NULL, size);
}

int
ar_apply_tar_keep (const char *root, ar_read_fn rd, void *ctx, const struct ar_idmaps *maps,
                   ar_apply_fixup_fn fixup, void *fixup_ctx, uint64_t *size)
{
  struct apply ap = { .root_fd = -1, .maps = maps, .rd = rd, .ctx = ctx };
  int r;

  if (!(ap.touch = akeep_touch_new ()))
    return -1;
  r = apply_run (&ap, root, fixup, fixup_ctx, size);
  akeep_touch_free (ap.touch);
  return r;
}

/* The members, then FIXUP (may be NULL), then the directory times. */
static int
apply_run (struct apply *ap, const char *root, ar_apply_fixup_fn fixup, void *fixup_ctx,
           uint64_t *size)
{
  int r = -1;
  size_t i;

  ap->buf = malloc (READ_BUF);
  ap->a = archive_read_new ();
  if (ap->buf == NULL || ap->a == NULL) {
    err_set (ENOMEM, "apply: out of memory");
    goto out;
  }
  ap->root_fd = afs_open_root (root);
  if (ap->root_fd == -1)
    goto out;
  archive_read_support_filter_all (ap->a);
  archive_read_support_format_tar (ap->a);
  archive_read_support_format_gnutar (ap->a);
  archive_read_support_format_empty (ap->a);
  if (archive_read_open (ap->a, ap, NULL, read_cb, NULL) != ARCHIVE_OK) {
    if (!ap->rd_failed)
      err_set (EINVAL, "apply: %s", archive_error_string (ap->a));
    goto out;
  }
  r = apply_all (ap);
  if (r == 0 && fixup)
    r = fixup (fixup_ctx, ap->touch);
  if (r == 0)
    r = set_dir_times (ap);
  if (r == 0) {
    drain (ap);
    *size = ap->size;
  }
out:
  if (ap->a)
    archive_read_free (ap->a);
  if (ap->root_fd >= 0)
    close (ap->root_fd);
  for (i = 0; i < ap->n_dirs; i++)
    free (ap->dirs[i].rel);
  free (ap->dirs);
  afs_strset_free (&ap->done);
  free (ap->buf);
  return r;
}
