/* tarwrite.c: ar_write_diff — the Diff tar of a rootfs against its parent.
 *
 * Written like moby 20.10's ExportChanges with its tarAppender: changes sorted by path;
 * a delete is an empty ".wh.NAME" file in the parent directory; everything else is the
 * entry as it is now (PAX headers only where needed, mtime in whole seconds, no atime or
 * ctime, no user or group names, ids mapped host → container); the second name of an inode
 * with several links becomes a hard link to the first; security.capability is written
 * (revision 3 turned into revision 2, as moby does) and so are user.* and trusted.*
 * xattrs, all as SCHILY.xattr records, which Go's tar reader understands.
 * Framing is Go's: 512-byte records, the two zero records, no padding after them — so an
 * empty change is exactly 1024 zero bytes, the digest Docker recognises as an empty layer.
 * Output is pushed through the caller's writer as libarchive fills its block buffer.
 * A name that is not valid in the locale's charset (any non-ASCII name under the C locale)
 * is written as raw bytes with hdrcharset=BINARY; libarchive warns, and that is fine. */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>

#include "archive/internal.h"

#define BLOCK  (64 * 1024)
#define XLIST  (64 * 1024)
#define XVALUE (64 * 1024)
#define CAP_V2 20

struct link {
  dev_t dev;
  ino_t ino;
  char *name;
};

struct tw {
  struct archive *a;
  ar_write_fn wr;
  void *ctx;
  bool wr_failed;
  const char *root;
  const struct ar_idmaps *maps;
  struct link *links; /* first name of each multiply-linked inode written */
  size_t n_links, cap_links;
  char *buf;
};

static la_ssize_t
write_cb (struct archive *a, void *opaque, const void *buf, size_t len)
{
  struct tw *tw = opaque;

  if (tw->wr (tw->ctx, buf, len) == -1) {
    tw->wr_failed = true;
    archive_set_error (a, EIO, "write: %s", err_get ());
    return -1;
  }
  return len;
}

static int
archive_err (struct tw *tw, const char *what)
{
  if (!tw->wr_failed)
    err_set (archive_errno (tw->a) > 0 ? archive_errno (tw->a) : EIO, "%s: %s", what,
             archive_error_string (tw->a));
  return -1;
}

static size_t
link_slot (const struct link *v, size_t cap, dev_t dev, ino_t ino)
{
  size_t j = (size_t)(ino * 0x9e3779b97f4a7c15ull ^ dev) & (cap - 1);

  while (v[j].name && !(v[j].dev == dev && v[j].ino == ino))
    j = (j + 1) & (cap - 1);
  return j;
}

/* The name this inode was first written under, or NULL after remembering NAME for it.
 * An open-addressing table, at most half full. */
static const char *
link_seen (struct tw *tw, const struct stat *st, const char *name)
{
  size_t j, i;

  if (tw->cap_links &&
      tw->links[j = link_slot (tw->links, tw->cap_links, st->st_dev, st->st_ino)].name)
    return tw->links[j].name;
  if (2 * (tw->n_links + 1) > tw->cap_links) {
    size_t cap = tw->cap_links ? 2 * tw->cap_links : 64;
    struct link *v = calloc (cap, sizeof *v);
    if (v == NULL)
      return NULL;
    for (i = 0; i < tw->cap_links; i++)
      if (tw->links[i].name)
        v[link_slot (v, cap, tw->links[i].dev, tw->links[i].ino)] = tw->links[i];
    free (tw->links);
    tw->links = v;
    tw->cap_links = cap;
  }
  j = link_slot (tw->links, tw->cap_links, st->st_dev, st->st_ino);
  tw->links[j].name = strdup (name);
  tw->links[j].dev = st->st_dev;
  tw->links[j].ino = st->st_ino;
  tw->n_links += tw->links[j].name != NULL;
  return NULL;
}

static bool
xattr_wanted (const char *key)
{
  return strcmp (key, "security.capability") == 0 || strncmp (key, "user.", 5) == 0 ||
         strncmp (key, "trusted.", 8) == 0;
}

static void
add_xattrs (struct archive_entry *e, const char *path)
{
  CLEANUP_FREE char *list = malloc (XLIST), *val = malloc (XVALUE);
  ssize_t n = list && val ? llistxattr (path, list, XLIST) : -1;
  const char *key;

  for (key = list; n > 0 && key < list + n; key += strlen (key) + 1) {
    ssize_t len;
    if (!xattr_wanted (key) || (len = lgetxattr (path, key, val, XVALUE)) < 0)
      continue;
    if (strcmp (key, "security.capability") == 0 && len > 3 && val[3] == 3) {
      val[3] = 2; /* VFS_CAP_REVISION_3 → 2: the root uid means nothing elsewhere */
      len = MIN (len, CAP_V2);
    }
    archive_entry_xattr_add_entry (e, key, val, len);
  }
}

/* Fill E from ST for NAME; 1 when the file's data follows, 0 when not, -1 to skip it. */
static int
fill_entry (struct tw *tw, struct archive_entry *e, const char *path, const char *name,
            const struct stat *st)
{
  const struct ar_idmaps *m = tw->maps;
  uint32_t uid, gid;
  const char *first;

  if (afs_map_id (m ? m->uid : NULL, m ? m->n_uid : 0, st->st_uid, false, &uid) == -1 ||
      afs_map_id (m ? m->gid : NULL, m ? m->n_gid : 0, st->st_gid, false, &gid) == -1)
    return -1;
  archive_entry_set_pathname (e, name);
  archive_entry_set_mode (e, st->st_mode);
  archive_entry_set_uid (e, uid);
  archive_entry_set_gid (e, gid);
  archive_entry_set_mtime (e, st->st_mtim.tv_sec, 0);
  if (S_ISCHR (st->st_mode) || S_ISBLK (st->st_mode))
    archive_entry_set_rdev (e, st->st_rdev);
  if (S_ISLNK (st->st_mode)) {
    ssize_t n = readlink (path, tw->buf, BLOCK - 1);
    if (n < 0)
      return -1;
    tw->buf[n] = '\0';
    archive_entry_copy_symlink (e, tw->buf);
  }
  add_xattrs (e, path);
  if (!S_ISDIR (st->st_mode) && st->st_nlink > 1 && (first = link_seen (tw, st, name))) {
    archive_entry_set_hardlink (e, first);
    archive_entry_set_size (e, 0);
    return 0;
  }
  archive_entry_set_size (e, S_ISREG (st->st_mode) ? st->st_size : 0);
  return S_ISREG (st->st_mode) && st->st_size > 0;
}

/* Exactly SIZE bytes of FD: a file that shrank meanwhile is padded with zeros. */
static int
copy_data (struct tw *tw, int fd, uint64_t size, const char *name)
{
  uint64_t done = 0;

  while (done < size) {
    size_t want = MIN ((uint64_t)BLOCK, size - done);
    ssize_t n = read_full (fd, tw->buf, want);
    if (n < 0) {
      err_set (errno, "read %s", name);
      return -1;
    }
    if ((size_t)n < want)
      memset (tw->buf + n, 0, want - n);
    if (archive_write_data (tw->a, tw->buf, want) != (la_ssize_t)want)
      return archive_err (tw, name);
    done += want;
  }
  return 0;
}

static int
add_file (struct tw *tw, const char *rel)
{
  CLEANUP_FREE char *path = xasprintf ("%s%s", tw->root, rel);
  CLEANUP_CLOSE int fd = -1;
  struct archive_entry *e;
  struct stat st;
  int r;

  if (path == NULL)
    return -1;
  if (lstat (path, &st) == -1) {
    log_debug ("gd", "diff: %s: %m (skipped)", path);
    return 0; /* changed under us: moby logs and goes on */
  }
  if (S_ISREG (st.st_mode) && (fd = open (path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
    log_warn ("diff: open %s: %m (skipped)", path);
    return 0;
  }
  e = archive_entry_new ();
  if (e == NULL)
    return -1;
  r = fill_entry (tw, e, path, rel + 1, &st);
  if (r == -1 || S_ISSOCK (st.st_mode)) {
    log_warn ("diff: %s skipped: %s", rel, r == -1 ? err_get () : "a socket");
    r = 0;
  } else {
    int w = archive_write_header (tw->a, e);
    if (w == ARCHIVE_FATAL)
      r = archive_err (tw, rel);
    else if (w == ARCHIVE_FAILED) { /* this entry only: moby logs and goes on */
      log_warn ("diff: %s skipped: %s", rel, archive_error_string (tw->a));
      r = 0;
    } else
      r = r == 1 ? copy_data (tw, fd, st.st_size, rel) : 0;
  }
  archive_entry_free (e);
  return r;
}

static int
add_whiteout (struct tw *tw, const char *rel)
{
  const char *slash = strrchr (rel, '/');
  CLEANUP_FREE char *name = xasprintf ("%.*s.wh.%s", (int)(slash - rel), rel + 1, slash + 1);
  struct archive_entry *e = archive_entry_new ();
  int r = 0;

  if (name == NULL || e == NULL) {
    archive_entry_free (e);
    return -1;
  }
  archive_entry_set_pathname (e, name);
  archive_entry_set_filetype (e, AE_IFREG);
  archive_entry_set_perm (e, 0);
  archive_entry_set_size (e, 0);
  archive_entry_set_mtime (e, time (NULL), 0);
  if (archive_write_header (tw->a, e) < ARCHIVE_WARN)
    r = archive_err (tw, name);
  archive_entry_free (e);
  return r;
}

static int
write_changes (struct tw *tw, const struct ar_change *v, size_t n)
{
  size_t i;

  for (i = 0; i < n; i++)
    if ((v[i].kind == AR_CHANGE_DELETE ? add_whiteout (tw, v[i].path) : add_file (tw, v[i].path)) ==
        -1)
      return -1;
  if (archive_write_close (tw->a) != ARCHIVE_OK)
    return archive_err (tw, "close");
  return 0;
}

static struct archive *
new_writer (struct tw *tw)
{
  struct archive *a = archive_write_new ();

  if (a == NULL || archive_write_set_format_pax_restricted (a) != ARCHIVE_OK ||
      archive_write_set_format_option (a, "pax", "xattrheader", "SCHILY") != ARCHIVE_OK ||
      archive_write_set_bytes_per_block (a, BLOCK) != ARCHIVE_OK ||
      archive_write_set_bytes_in_last_block (a, 1) != ARCHIVE_OK ||
      archive_write_open (a, tw, NULL, write_cb, NULL) != ARCHIVE_OK) {
    err_set (EIO, "diff: libarchive: %s", a ? archive_error_string (a) : "out of memory");
    if (a)
      archive_write_free (a);
    return NULL;
  }
  return a;
}

int
ar_write_diff (const char *root, const char *parent_root, const struct ar_idmaps *maps,
               ar_write_fn wr, void *ctx)
{
  struct tw tw = { .wr = wr, .ctx = ctx, .root = root, .maps = maps };
  struct ar_change *v = NULL;
  size_t n = 0, i;
  int r = -1;

  if (ar_changes (root, parent_root, &v, &n) == -1)
    return -1;
  tw.buf = malloc (BLOCK);
  if (tw.buf == NULL)
    err_set (errno, "malloc");
  else if ((tw.a = new_writer (&tw)) != NULL)
    r = write_changes (&tw, v, n);
  if (tw.a)
    archive_write_free (tw.a);
  for (i = 0; i < tw.cap_links; i++)
    free (tw.links[i].name);
  free (tw.links);
  free (tw.buf);
  ar_changes_free (v, n);
  if (r == -1)
    err_prefix ("diff");
  return r;
}
