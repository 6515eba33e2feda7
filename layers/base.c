/* base.c: the base diff every parentless layer stacks on — an ext4 made by mke2fs directly on
 * the diff's sparse data file (no device needed), with a prepared tree so the filesystem holds
 * an empty rootfs/ (0755, 0:0) where containers live.  mke2fs zeroes its inode tables and
 * journal with fallocate, which leaves unwritten extents that SEEK_DATA reports as holes: the
 * map is built from SEEK_DATA/SEEK_HOLE (present where data) and the holes are punched so the
 * base costs only the metadata blocks mke2fs really wrote. */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "layers/internal.h"

#define MAX_MKFS_ARGS 36

static int
make_tree (struct layer_store *st, char **dir)
{
  CLEANUP_FREE char *rootfs = NULL;

  if (!(*dir = xasprintf ("%s/mkfs.XXXXXX", st->home)))
    return -1;
  if (!mkdtemp (*dir)) {
    err_set (errno, "mkdtemp %s", *dir);
    return -1;
  }
  if (chmod (*dir, 0755) == -1 || !(rootfs = xasprintf ("%s/rootfs", *dir)))
    return -1;
  if (mkdir (rootfs, 0755) == -1 || chmod (rootfs, 0755) == -1) {
    err_set (errno, "mkdir %s", rootfs);
    return -1;
  }
  if (chown (rootfs, 0, 0) == -1 && errno != EPERM) {
    err_set (errno, "chown %s", rootfs);
    return -1;
  }
  return 0;
}

static int
run_mkfs (struct layer_store *st, const char *tree, const char *data)
{
  CLEANUP_FREE char *extra = st->mkfs_args ? strdup (st->mkfs_args) : NULL;
  CLEANUP_FREE char *size = xasprintf ("%" PRIu64 "k", st->base_size / 1024);
  char *argv[16 + MAX_MKFS_ARGS], *save = NULL;
  size_t n = 0;

  if (!size)
    return -1;
  /* mke2fs asks every mounted loop device for its backing file: one backed by a dead FUSE
   * server (a crashed nbdfuse) blocks it forever, so it runs under a time limit */
  if (access ("/usr/bin/timeout", X_OK) == 0)
    argv[n++] = "/usr/bin/timeout", argv[n++] = "-k", argv[n++] = "10", argv[n++] = "300";
  argv[n++] = access ("/sbin/mke2fs", X_OK) == 0 ? "/sbin/mke2fs" : "mke2fs";
  argv[n++] = "-q", argv[n++] = "-t", argv[n++] = "ext4", argv[n++] = "-F";
  argv[n++] = "-E", argv[n++] = "nodiscard,lazy_itable_init=0,lazy_journal_init=0";
  for (char *a = extra ? strtok_r (extra, " \t", &save) : NULL; a && n < MAX_MKFS_ARGS;
       a = strtok_r (NULL, " \t", &save))
    argv[n++] = a;
  argv[n++] = "-d", argv[n++] = (char *)tree;
  argv[n++] = (char *)data, argv[n++] = size, argv[n] = NULL;
  if (run_cmd (argv, NULL) != 0) {
    err_prefix ("format the base");
    return -1;
  }
  return 0;
}

/* Present where the data file has data; punch what it calls holes (unwritten extents). */
static int
map_from_data (struct diff *d, struct bmap *m)
{
  off_t off = 0, size = d->size;

  while (off < size) {
    off_t data = lseek (d->data_fd, off, SEEK_DATA), hole;
    if (data == -1 && errno == ENXIO)
      data = size;
    else if (data == -1) {
      err_set (errno, "SEEK_DATA base");
      return -1;
    }
    if (data > off)
      fallocate (d->data_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, data - off);
    if (data >= size)
      break;
    hole = lseek (d->data_fd, data, SEEK_HOLE);
    if (hole == -1) {
      err_set (errno, "SEEK_HOLE base");
      return -1;
    }
    uint64_t b0 = data / LAYER_BS, b1 = ((uint64_t)hole + LAYER_BS - 1) / LAYER_BS;
    bmap_set_range (m, b0, b1 - b0, BMAP_PRESENT);
    off = hole;
  }
  if (bmap_save_all (m, d->map_fd) == -1 || fdatasync (d->data_fd) == -1 ||
      fdatasync (d->map_fd) == -1) {
    err_set (errno, "write base map");
    return -1;
  }
  return 0;
}

struct diff *
base_create (struct layer_store *st)
{
  CLEANUP_FREE char *tree = NULL, *data = NULL;
  struct diff *d = diff_create (st, NULL, st->base_size, NULL);
  struct bmap *m = NULL;

  if (!d)
    return NULL;
  log_info ("store %s: formatting a %" PRIu64 "-byte ext4 base", st->home, st->base_size);
  if (!(data = diff_path (st, d->id, "data")) || make_tree (st, &tree) == -1 ||
      run_mkfs (st, tree, data) == -1 || diff_open_fds (st, d) == -1 ||
      !(m = bmap_new (d->nblocks)) || map_from_data (d, m) == -1)
    goto err;
  d->owned_blocks = bmap_count_owned (m);
  d->sealed = true;
  if (diff_save_meta (st, d, "ready") == -1)
    goto err;
  diff_close_fds (d);
  bmap_free (m);
  if (tree)
    remove_tree (tree);
  return d;
err:
  err_prefix ("store %s", st->home);
  bmap_free (m);
  if (tree)
    remove_tree (tree);
  diff_close_fds (d);
  diff_delete_files (st, d->id);
  diff_free (d);
  return NULL;
}
