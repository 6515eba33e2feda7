/* file.c: the plain-file backend behind `buse nbd NAME=FILE` (regular files and block
 * devices).  One fd shared by every worker: pread/pwrite need no lock.  Flush and FUA are
 * fdatasync; trim punches holes; zeroing punches (when allowed) or uses ZERO_RANGE, writing
 * zeroes only as the last resort and never when FAST_ZERO was asked; extents come from
 * SEEK_DATA/SEEK_HOLE; cache is posix_fadvise(WILLNEED).
 * Large writes start their own writeback at once (sync_file_range WRITE, which does not
 * wait): a client that streams data and then flushes finds most of it already on its way
 * to the disk, so the flush waits for the tail, not for everything written since the last
 * one.  Small writes stay in the page cache (they are often rewritten before a flush). */
#include <fcntl.h>
#include <linux/falloc.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include "nbd/internal.h"

struct file {
  int fd;
  char *path;
};

void *
nbds_file_open (const char *path, bool read_only)
{
  struct file *f = calloc (1, sizeof *f);

  if (f == NULL || (f->path = strdup (path)) == NULL) {
    free (f);
    err_set (ENOMEM, "open %s", path);
    return NULL;
  }
  f->fd = open (path, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
  if (f->fd == -1) {
    err_set (errno, "open %s", path);
    free (f->path);
    free (f);
    return NULL;
  }
  return f;
}

static void
file_close (void *h)
{
  struct file *f = h;

  if (f == NULL)
    return;
  close (f->fd);
  free (f->path);
  free (f);
}

static int64_t
file_get_size (void *h)
{
  struct file *f = h;
  off_t size = lseek (f->fd, 0, SEEK_END);

  if (size == -1) {
    err_set (errno, "lseek %s", f->path);
    return -1;
  }
  return size;
}

static int
file_flush (void *h)
{
  struct file *f = h;

  if (fdatasync (f->fd) == -1) {
    err_set (errno, "fdatasync %s", f->path);
    return -1;
  }
  return 0;
}

static int
file_pread (void *h, void *buf, uint32_t count, uint64_t offset)
{
  struct file *f = h;

  if (pread_full (f->fd, buf, count, offset) == -1) {
    err_set (errno, "pread %s", f->path);
    return -1;
  }
  return 0;
}

static int
file_pread_nowait (void *h, void *buf, uint32_t count, uint64_t offset)
{
  struct file *f = h;
  struct iovec iov = { .iov_base = buf, .iov_len = count };
  ssize_t r = preadv2 (f->fd, &iov, 1, offset, RWF_NOWAIT);

  if (r == count)
    return 0;
  if (r >= 0 || errno == EOPNOTSUPP)
    errno = EAGAIN; /* partly cached, past EOF, or no RWF_NOWAIT: the blocking path knows */
  return -1;
}

/* Writes at least this big start their writeback right away. */
#define EARLY_WRITEBACK_MIN 65536

static int
file_pwrite (void *h, const void *buf, uint32_t count, uint64_t offset, bool fua)
{
  struct file *f = h;

  if (pwrite_full (f->fd, buf, count, offset) == -1) {
    err_set (errno, "pwrite %s", f->path);
    return -1;
  }
  if (fua)
    return file_flush (h);
  if (count >= EARLY_WRITEBACK_MIN)
    sync_file_range (f->fd, offset, count, SYNC_FILE_RANGE_WRITE); /* advisory */
  return 0;
}

static bool
unsupported (int e)
{
  return e == EOPNOTSUPP || e == ENOSYS || e == EINVAL || e == ENODEV;
}

static int
file_trim (void *h, uint32_t count, uint64_t offset, bool fua)
{
  struct file *f = h;

  if (fallocate (f->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, count) == -1) {
    if (!unsupported (errno)) {
      err_set (errno, "punch hole %s", f->path);
      return -1;
    }
    /* trim is advisory: nothing to do where holes cannot be punched */
  }
  return fua ? file_flush (h) : 0;
}

/* The slow way: write zeroes, 1 MiB at a time. */
static int
write_zeroes (struct file *f, uint32_t count, uint64_t offset)
{
  size_t n = MIN (count, 1u << 20);
  char *z = calloc (1, n);

  if (z == NULL) {
    err_set (ENOMEM, "zero %s", f->path);
    return -1;
  }
  while (count > 0) {
    size_t k = MIN (count, n);
    if (pwrite_full (f->fd, z, k, offset) == -1) {
      err_set (errno, "pwrite %s", f->path);
      free (z);
      return -1;
    }
    count -= k, offset += k;
  }
  free (z);
  return 0;
}

static int
file_zero (void *h, uint32_t count, uint64_t offset, bool may_trim, bool fast, bool fua)
{
  struct file *f = h;
  int r = -1;

  if (may_trim)
    r = fallocate (f->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, count);
  if (r == -1 && (!may_trim || unsupported (errno)))
    r = fallocate (f->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, offset, count);
  if (r == -1) {
    if (!unsupported (errno)) {
      err_set (errno, "zero %s", f->path);
      return -1;
    }
    if (fast) {
      err_set (ENOTSUP, "fast zero %s", f->path);
      return -1;
    }
    if (write_zeroes (f, count, offset) == -1)
      return -1;
  }
  return fua ? file_flush (h) : 0;
}

static int
file_extents (void *h, uint32_t count, uint64_t offset, nbds_extent_fn fn, void *cbdata)
{
  struct file *f = h;
  uint64_t end = offset + count, pos = offset;

  while (pos < end) {
    off_t data = lseek (f->fd, pos, SEEK_DATA), hole;
    if (data == -1 && errno != ENXIO) { /* no SEEK_DATA here: say it is all data */
      fn (cbdata, pos, end - pos, 0);
      return 0;
    }
    if (data == -1 || (uint64_t)data >= end) { /* ENXIO: no data after pos */
      fn (cbdata, pos, end - pos, NBDS_EXTENT_HOLE | NBDS_EXTENT_ZERO);
      return 0;
    }
    if ((uint64_t)data > pos && fn (cbdata, pos, data - pos, NBDS_EXTENT_HOLE | NBDS_EXTENT_ZERO))
      return 0;
    hole = lseek (f->fd, data, SEEK_HOLE);
    if (hole <= data || (uint64_t)hole > end)
      hole = end;
    if (fn (cbdata, data, hole - data, 0))
      return 0;
    pos = hole;
  }
  return 0;
}

static int
file_cache (void *h, uint32_t count, uint64_t offset)
{
  struct file *f = h;
  int r = posix_fadvise (f->fd, offset, count, POSIX_FADV_WILLNEED);

  if (r != 0) {
    err_set (r, "fadvise %s", f->path);
    return -1;
  }
  return 0;
}

const struct nbds_backend nbds_file_backend = {
  .name = "file",
  .get_size = file_get_size,
  .pread = file_pread,
  .pwrite = file_pwrite,
  .flush = file_flush,
  .trim = file_trim,
  .zero = file_zero,
  .extents = file_extents,
  .cache = file_cache,
  .close = file_close,
  .pread_nowait = file_pread_nowait,
};
