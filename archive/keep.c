/* keep.c: the two extras of an apply onto a clone (archive/commit-clone.c).
 *
 * Keep identical: a tar member that is a regular file landing on a regular file of the same
 * size (and a single link) keeps that inode; its data is compared with the tar's, unit by
 * unit, while the stream is read, and only the units that differ are written, so a commit
 * that changed one byte of a huge file writes nothing of it.  Metadata is then set exactly
 * as the header says (xattrs the header lacks are removed), so the file is what a fresh
 * create would have made.
 *
 * The touch set: which paths the tar decided (members, whiteouts, opaque directories), so
 * the caller can put back, after the members, whatever else the clone changed. */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <string.h>
#include <sys/xattr.h>

#include "archive/internal.h"

#define UNIT 4096

struct ar_tar_touch {
  struct afs_strset paths;   /* members applied */
  struct afs_strset covered; /* whole subtree decided: whiteouts, non-directory members */
  struct afs_strset opaque;  /* every descendant decided: opaque directories */
  struct afs_strset implied; /* ancestors of members: must exist */
};

struct ar_tar_touch *
akeep_touch_new (void)
{
  struct ar_tar_touch *t = calloc (1, sizeof *t);

  if (t == NULL)
    err_set (errno, "calloc");
  return t;
}

void
akeep_touch_free (struct ar_tar_touch *t)
{
  if (t == NULL)
    return;
  afs_strset_free (&t->paths);
  afs_strset_free (&t->covered);
  afs_strset_free (&t->opaque);
  afs_strset_free (&t->implied);
  free (t);
}

static int
add_ancestors (struct ar_tar_touch *t, const char *rel)
{
  CLEANUP_FREE char *p = strdup (rel);
  char *slash;

  if (p == NULL)
    return -1;
  while ((slash = strrchr (p, '/')) != NULL) {
    *slash = '\0';
    if (afs_strset_add (&t->implied, p) == -1)
      return -1;
  }
  return *rel ? afs_strset_add (&t->implied, "") : 0;
}

int
akeep_touch_add (struct ar_tar_touch *t, const char *rel, enum akeep_touch how)
{
  struct afs_strset *s = how == AKEEP_MEMBER_DIR ? &t->paths
                         : how == AKEEP_OPAQUE   ? &t->opaque
                                                 : &t->covered;

  if (how == AKEEP_MEMBER && afs_strset_add (&t->paths, rel) == -1)
    return -1;
  if (afs_strset_add (s, rel) == -1)
    return -1;
  if (how == AKEEP_WHITEOUT)
    return 0;
  if (how == AKEEP_OPAQUE && afs_strset_add (&t->implied, rel) == -1)
    return -1;
  return add_ancestors (t, rel);
}

bool
ar_tar_touched (const struct ar_tar_touch *t, const char *rel, bool *implied)
{
  CLEANUP_FREE char *p = strdup (rel);
  char *slash;

  *implied = afs_strset_has (&t->implied, rel);
  if (afs_strset_has (&t->paths, rel) || afs_strset_has (&t->covered, rel))
    return true;
  if (p == NULL)
    return true; /* out of memory: leave it alone */
  while (*p) {
    slash = strrchr (p, '/');
    if (slash)
      *slash = '\0';
    else
      *p = '\0';
    if (afs_strset_has (&t->covered, p) || afs_strset_has (&t->opaque, p))
      return true;
  }
  return false;
}

/* Make [off, end) of FD read as zeros, writing only where it does not already. */
static int
zero_gap (int fd, char *cur, off_t off, off_t end)
{
  static const char zeros[UNIT];

  while (off < end) {
    size_t n = MIN ((off_t)UNIT - off % UNIT, end - off);
    if (pread_full (fd, cur, n, off) == -1)
      return -1;
    if (memcmp (cur, zeros, n) != 0 && pwrite_full (fd, zeros, n, off) == -1)
      return -1;
    off += n;
  }
  return 0;
}

/* Compare LEN bytes of P with FD at OFF (CUR: a buffer of LEN), writing the units that
 * differ. */
static int
patch (int fd, char *cur, const char *p, size_t len, off_t off)
{
  if (pread_full (fd, cur, len, off) == -1)
    return -1;
  for (size_t i = 0; i < len;) {
    size_t n = MIN ((size_t)(UNIT - (off + i) % UNIT), len - i);
    if (memcmp (cur + i, p + i, n) != 0 && pwrite_full (fd, p + i, n, off + i) == -1)
      return -1;
    i += n;
  }
  return 0;
}

int
akeep_data (struct archive *a, int fd, int64_t size)
{
  const void *p;
  size_t len, cap = 0;
  la_int64_t off;
  off_t pos = 0;
  CLEANUP_FREE char *cur = NULL;
  int r;

  while ((r = archive_read_data_block (a, &p, &len, &off)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
    if (len > cap) {
      free (cur);
      cap = MAX (len, (size_t)UNIT);
      if ((cur = malloc (cap)) == NULL) {
        err_set (errno, "malloc");
        return -1;
      }
    }
    if ((off > pos && zero_gap (fd, cur, pos, off) == -1) || patch (fd, cur, p, len, off) == -1) {
      err_set (errno, "update data");
      return -1;
    }
    pos = off + len;
  }
  if (r != ARCHIVE_EOF) {
    err_set (archive_errno (a) > 0 ? archive_errno (a) : EIO, "%s", archive_error_string (a));
    return -1;
  }
  if (pos < size && (cur || (cur = malloc (UNIT))) && zero_gap (fd, cur, pos, size) == -1) {
    err_set (errno, "update data");
    return -1;
  }
  return 0;
}

/* Remove the xattrs of FD that entry E does not have. */
int
akeep_xattrs_exact (int fd, struct archive_entry *e)
{
  char list[8192];
  ssize_t n = flistxattr (fd, list, sizeof list);

  if (n < 0)
    return errno == ENOTSUP ? 0 : -1;
  for (char *k = list; k < list + n; k += strlen (k) + 1) {
    const char *key;
    const void *val;
    size_t len;
    bool have = false;
    archive_entry_xattr_reset (e);
    while (!have && archive_entry_xattr_next (e, &key, &val, &len) == ARCHIVE_OK)
      have = strcmp (key, k) == 0;
    if (!have && fremovexattr (fd, k) == -1 && errno != ENODATA && errno != EPERM)
      return -1;
  }
  return 0;
}
