/* diff.c: one diff on disk — diffs/<id>/data (sparse, virtual size, holds this diff's blocks at
 * their own offsets), diffs/<id>/map (the 2-bit map, bmap.c) and diffs/<id>/meta.json (parent,
 * sizes, state).  A diff is committed only once a layer names it; anything else is garbage that
 * store_gc removes, so creation needs no journal beyond the "state" field. */
#include <fcntl.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include "layers/internal.h"

int
diff_new_id (char id[DIFF_ID_LEN + 1])
{
  uint8_t r[DIFF_ID_LEN / 2];

  if (getrandom (r, sizeof r, 0) != (ssize_t)sizeof r) {
    err_set (errno, "getrandom");
    return -1;
  }
  for (size_t i = 0; i < sizeof r; i++)
    snprintf (id + 2 * i, 3, "%02x", r[i]);
  return 0;
}

char *
diff_path (struct layer_store *st, const char *id, const char *file)
{
  if (file)
    return xasprintf ("%s/diffs/%s/%s", st->home, id, file);
  return xasprintf ("%s/diffs/%s", st->home, id);
}

void
diff_free (struct diff *d)
{
  if (!d)
    return;
  if (d->data_fd >= 0)
    close (d->data_fd);
  if (d->dio_fd >= 0)
    close (d->dio_fd);
  if (d->map_fd >= 0)
    close (d->map_fd);
  free (d);
}

static struct diff *
diff_alloc (void)
{
  struct diff *d = calloc (1, sizeof *d);
  if (!d) {
    err_set (errno, "calloc");
    return NULL;
  }
  d->data_fd = d->map_fd = d->dio_fd = -1;
  return d;
}

/* meta.json of D with STATE: replaced atomically and durably; B given: a new file, durable
 * once B is run; STATE "creating": a new file not worth an fsync (a diff whose meta.json is
 * lost or unreadable is garbage anyway). */
static int
save_meta (struct layer_store *st, struct diff *d, const char *state, struct fsync_batch *b)
{
  CLEANUP_FREE char *path = diff_path (st, d->id, "meta.json");
  CLEANUP_JSON_DECREF json_t *j = NULL;

  if (!path)
    return -1;
  j = json_pack ("{s:s, s:s?, s:i, s:I, s:s, s:I}", "id", d->id, "parent",
                 d->parent ? d->parent->id : NULL, "block_size", (int)LAYER_BS, "virtual_size",
                 (json_int_t)d->size, "state", state, "created", (json_int_t)d->created);
  if (!j) {
    err_set (ENOMEM, "diff %s: json", d->id);
    return -1;
  }
  if (b)
    return json_save_new (path, j, b);
  if (strcmp (state, "creating") == 0) {
    if (json_dump_file (j, path, JSON_INDENT (2)) == -1) {
      err_set (errno, "write %s", path);
      return -1;
    }
    return 0;
  }
  return json_save_path (path, j);
}

int
diff_save_meta (struct layer_store *st, struct diff *d, const char *state)
{
  return save_meta (st, d, state, NULL);
}

static int
create_sized (const char *path, uint64_t size)
{
  int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd == -1 || ftruncate (fd, size) == -1) {
    err_set (errno, "create %s", path);
    if (fd >= 0)
      close (fd);
    return -1;
  }
  close (fd);
  return 0;
}

struct diff *
diff_create (struct layer_store *st, struct diff *parent, uint64_t size, struct fsync_batch *b)
{
  struct diff *d = diff_alloc ();
  CLEANUP_FREE char *dir = NULL, *data = NULL, *map = NULL;

  if (!d || diff_new_id (d->id) == -1)
    goto err;
  d->parent = parent;
  d->size = size;
  d->nblocks = size / LAYER_BS;
  d->created = time (NULL);
  dir = diff_path (st, d->id, NULL);
  data = diff_path (st, d->id, "data");
  map = diff_path (st, d->id, "map");
  if (!dir || !data || !map)
    goto err;
  if (mkdir (dir, 0700) == -1) {
    err_set (errno, "mkdir %s", dir);
    goto err;
  }
  if (create_sized (data, size) == -1 || create_sized (map, bmap_file_size (d->nblocks)) == -1)
    goto err_tree;
  if (b) {
    if (save_meta (st, d, "ready", b) == -1 || fsync_batch_add (b, data) == -1 ||
        fsync_batch_add (b, map) == -1 || fsync_batch_add_dir_of (b, dir) == -1)
      goto err_tree;
  } else if (save_meta (st, d, "creating", NULL) == -1 || fsync_dir_of (dir) == -1)
    goto err_tree;
  return d;
err_tree:
  remove_tree (dir);
err:
  diff_free (d);
  return NULL;
}

struct diff *
diff_load (struct layer_store *st, const char *id, char **parent_id, const char **state)
{
  CLEANUP_FREE char *path = diff_path (st, id, "meta.json");
  CLEANUP_JSON_DECREF json_t *j = NULL;
  struct diff *d = NULL;
  const char *s, *p;
  json_int_t size = 0, created = 0;

  *parent_id = NULL;
  if (!path || !(j = json_load_path (path)))
    return NULL;
  s = json_str (j, "state");
  p = json_str (j, "parent");
  if (json_unpack (j, "{s:I, s?:I}", "virtual_size", &size, "created", &created) == -1 || !s ||
      size <= 0 || size % LAYER_BS || strlen (id) != DIFF_ID_LEN) {
    err_set (EINVAL, "%s: bad diff metadata", path);
    return NULL;
  }
  *state = !strcmp (s, "ready") ? "ready" : !strcmp (s, "creating") ? "creating" : "removing";
  if (!(d = diff_alloc ()) || (p && !(*parent_id = strdup (p)))) {
    diff_free (d);
    return NULL;
  }
  memcpy (d->id, id, DIFF_ID_LEN + 1);
  d->size = size, d->nblocks = size / LAYER_BS;
  d->created = created, d->owned_blocks = UINT64_MAX; /* counted when asked */
  return d;
}

int
diff_open_fds (struct layer_store *st, struct diff *d)
{
  CLEANUP_FREE char *data = NULL, *map = NULL;
  int mode = st->read_only ? O_RDONLY : O_RDWR;

  if (d->opens > 0) {
    d->opens++;
    return 0;
  }
  if (!(data = diff_path (st, d->id, "data")) || !(map = diff_path (st, d->id, "map")))
    return -1;
  d->data_fd = open (data, mode | O_CLOEXEC);
  if (d->data_fd == -1) {
    err_set (errno, "open %s", data);
    return -1;
  }
  /* a sealed diff's map is final and read once into an index: only its data stays open */
  d->map_fd = d->sealed ? -1 : open (map, mode | O_CLOEXEC);
  if (!d->sealed && d->map_fd == -1) {
    err_set (errno, "open %s", map);
    close (d->data_fd);
    d->data_fd = -1;
    return -1;
  }
  /* A writable diff is the top of one stack, read and written by one device whose own
   * page cache (the container's ext4) already holds what it reads: its aligned I/O skips the
   * host's page cache, as loop --direct-io does.  Shared, sealed diffs stay cached.  A
   * filesystem without O_DIRECT (tmpfs before 6.6) keeps the buffered fd alone. */
  if (!d->sealed && mode == O_RDWR && !st->buffered_io)
    d->dio_fd = open (data, O_RDWR | O_DIRECT | O_CLOEXEC);
  d->opens = 1;
  return 0;
}

void
diff_close_fds (struct diff *d)
{
  if (!d || d->opens == 0 || --d->opens > 0)
    return;
  close (d->data_fd);
  if (d->map_fd >= 0)
    close (d->map_fd);
  if (d->dio_fd >= 0)
    close (d->dio_fd);
  d->data_fd = d->map_fd = d->dio_fd = -1;
}

struct bmap *
diff_load_map (struct layer_store *st, struct diff *d)
{
  CLEANUP_FREE char *path = NULL;
  CLEANUP_CLOSE int fd = -1;
  struct bmap *m;

  if (d->map_fd < 0) { /* not open (or sealed): read it from its file */
    if (!(path = diff_path (st, d->id, "map")))
      return NULL;
    if ((fd = open (path, O_RDONLY | O_CLOEXEC)) == -1) {
      err_set (errno, "open %s", path);
      return NULL;
    }
  }
  m = bmap_new (d->nblocks);
  if (m && bmap_load (m, d->map_fd >= 0 ? d->map_fd : fd) == -1) {
    err_prefix ("diff %s", d->id);
    bmap_free (m);
    return NULL;
  }
  return m;
}

int
diff_delete_files (struct layer_store *st, const char *id)
{
  CLEANUP_FREE char *dir = diff_path (st, id, NULL);
  if (!dir || remove_tree (dir) == -1)
    return -1;
  return fsync_dir_of (dir);
}

uint64_t
diff_disk_bytes (struct layer_store *st, const struct diff *d)
{
  static const char *const files[] = { "data", "map", "meta.json" };
  uint64_t n = 0;
  struct stat sb;

  for (size_t i = 0; i < ARRAY_SIZE (files); i++) {
    CLEANUP_FREE char *p = diff_path (st, d->id, files[i]);
    if (p && stat (p, &sb) == 0)
      n += (uint64_t)sb.st_blocks * 512;
  }
  return n;
}
