/* test-archive.c: unit tests of the tar code of archive/ — name cleaning, id maps,
 * streaming through tiny reads, reader and writer failures reaching the caller, the
 * 1024-byte empty diff, and apply size = diff size.  (Whole-tree behaviour is tested by
 * the tests/archive scripts with GNU tar and python.) */
#include <archive.h>
#include <archive_entry.h>
#include <string.h>
#include <sys/stat.h>

#include "archive/internal.h"

#include "tests/unit/check.h"

struct mem {
  char *buf;
  size_t len, pos, cap, chunk, fail_after;
};

static ssize_t
mem_read (void *ctx, void *buf, size_t len)
{
  struct mem *m = ctx;
  size_t n = MIN (MIN (len, m->chunk), m->len - m->pos);

  if (m->fail_after && m->pos >= m->fail_after) {
    err_set (ECONNRESET, "client went away");
    return -1;
  }
  memcpy (buf, m->buf + m->pos, n);
  m->pos += n;
  return n;
}

static int
mem_write (void *ctx, const void *buf, size_t len)
{
  struct mem *m = ctx;

  if (m->fail_after && m->len + len > m->fail_after) {
    err_set (EPIPE, "client went away");
    return -1;
  }
  if (m->len + len > m->cap) {
    m->cap = (m->len + len) * 2;
    m->buf = realloc (m->buf, m->cap);
  }
  memcpy (m->buf + m->len, buf, len);
  m->len += len;
  return 0;
}

static bool
all_zero_buf (const char *p, size_t n)
{
  size_t i;
  for (i = 0; i < n; i++)
    if (p[i])
      return false;
  return true;
}

static void
test_clean (void)
{
  static const char *const ok[][2] = {
    { "a/b", "a/b" }, { "./a//b/", "a/b" }, { "/abs/x", "abs/x" },
    { "/../x", "x" }, { "a/../b", "b" },    { ".", "" },
    { "./", "" },     { "a/./b/..", "a" },  { "/../../", "" },
  };
  size_t i;

  for (i = 0; i < ARRAY_SIZE (ok); i++) {
    char *c = afs_clean_name (ok[i][0]);
    CHECK (c && strcmp (c, ok[i][1]) == 0);
    free (c);
  }
  CHECK (afs_clean_name ("../x") == NULL && strstr (err_get (), "outside"));
  CHECK (afs_clean_name ("a/../../x") == NULL);
  CHECK (afs_clean_name ("..") == NULL);
}

static void
test_idmap (void)
{
  struct ar_idmap m[] = { { 0, 100000, 1000 }, { 1000, 5000, 10 } };
  uint32_t out;

  CHECK (afs_map_id (m, 2, 0, true, &out) == 0 && out == 100000);
  CHECK (afs_map_id (m, 2, 999, true, &out) == 0 && out == 100999);
  CHECK (afs_map_id (m, 2, 1005, true, &out) == 0 && out == 5005);
  CHECK (afs_map_id (m, 2, 1010, true, &out) == -1);
  CHECK (afs_map_id (m, 2, 100001, false, &out) == 0 && out == 1);
  CHECK (afs_map_id (m, 2, 7, false, &out) == -1);
  CHECK (afs_map_id (NULL, 0, 7, false, &out) == 0 && out == 7);
}

static void
add_member (struct archive *a, const char *name, mode_t type, const char *data)
{
  struct archive_entry *e = archive_entry_new ();

  archive_entry_set_pathname (e, name);
  archive_entry_set_filetype (e, type);
  archive_entry_set_perm (e, type == AE_IFDIR ? 0755 : 0640);
  archive_entry_set_size (e, data ? strlen (data) : 0);
  archive_entry_set_mtime (e, 1234567890, 0);
  archive_write_header (a, e);
  if (data)
    archive_write_data (a, data, strlen (data));
  archive_entry_free (e);
}

/* A small layer tar in memory. */
static void
make_tar (struct mem *m)
{
  struct archive *a = archive_write_new ();
  size_t used;

  m->cap = 1 << 20;
  m->buf = calloc (1, m->cap);
  archive_write_set_format_pax_restricted (a);
  archive_write_open_memory (a, m->buf, m->cap, &used);
  add_member (a, "dir/", AE_IFDIR, NULL);
  add_member (a, "dir/file", AE_IFREG, "hello, world\n");
  add_member (a, "other", AE_IFREG, "12345");
  add_member (a, ".wh.gone", AE_IFREG, NULL);
  archive_write_close (a);
  archive_write_free (a);
  m->len = used;
}

static void
test_apply_and_diff (const char *tmp)
{
  CLEANUP_FREE char *root = xasprintf ("%s/root", tmp), *gone = xasprintf ("%s/gone", root);
  CLEANUP_FREE char *file = xasprintf ("%s/dir/file", root);
  struct mem in = { .chunk = 7 }, out = { 0 }, bad = { .fail_after = 100 };
  uint64_t size = 0, dsize = 0;
  struct stat st;

  make_tar (&in);
  CHECK (mkdir (root, 0755) == 0 && mkdir (gone, 0755) == 0);
  CHECK (ar_apply_tar (root, mem_read, &in, NULL, &size) == 0);
  CHECK (size == 18);
  CHECK (stat (file, &st) == 0 && st.st_size == 13 && (st.st_mode & 07777) == 0640);
  CHECK (st.st_mtime == 1234567890);
  CHECK (stat (gone, &st) == -1 && errno == ENOENT);
  CHECK (ar_diff_size (root, NULL, &dsize) == 0 && dsize == size);

  /* Reader failure mid-stream: the reader's message reaches the caller. */
  in.pos = 0;
  in.fail_after = 600;
  CHECK (ar_apply_tar (root, mem_read, &in, NULL, &size) == -1);
  CHECK (strstr (err_get (), "client went away"));

  /* No changes: exactly two zero records, in one piece or many. */
  CHECK (ar_write_diff (root, root, NULL, mem_write, &out) == 0);
  CHECK (out.len == 1024 && all_zero_buf (out.buf, out.len));
  out.len = 0;
  CHECK (ar_write_diff (root, NULL, NULL, mem_write, &out) == 0);
  CHECK (out.len > 1024 && out.len % 512 == 0);
  CHECK (ar_write_diff (root, NULL, NULL, mem_write, &bad) == -1);
  CHECK (strstr (err_get (), "client went away"));
  free (in.buf);
  free (out.buf);
  free (bad.buf);
}

int
main (void)
{
  char tmp[] = "/tmp/test-archive.XXXXXX";

  test_clean ();
  test_idmap ();
  if (mkdtemp (tmp) == NULL)
    return 1;
  test_apply_and_diff (tmp);
  remove_tree (tmp);
  if (failures) {
    fprintf (stderr, "test-archive: %d failures\n", failures);
    return 1;
  }
  printf ("test-archive: ok\n");
  return 0;
}
