/* io.c: reads and writes on a layer stack.  A block's source is the top diff's map (present:
 * the top's data, zero: zeros), else the merged index of the diffs below; a range read issues
 * one pread per contiguous run from one diff.  Writes go only into the top diff: whole aligned
 * blocks are written straight through, a partial block not yet present in the top is copied up
 * first (read-modify-write) under a per-block stripe lock.  A map bit is set only after its
 * data write returned, which is what makes stack_flush_locked's ordering durable.
 *
 * A data write that finds the host filesystem full (ENOSPC) is not failed at once: ext4 in the
 * container already accepted it, and an NBD write error would make ext4 abort its journal.
 * The daemon's low-space guard (mounts/lowspace.c) keeps a fallocated emergency reserve,
 * <home>/lowspace-reserve; the write gives back a chunk of it and tries again while it lasts. */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "layers/internal.h"

static const uint8_t zero_block[LAYER_BS];

#define RESERVE_FILE  "lowspace-reserve" /* same name in mounts/lowspace.c */
#define RESERVE_CHUNK (4u << 20)

/* The host filesystem is full: shrink the emergency reserve by a chunk and commit that, so
 * the space is free at once.  -1 when there is no reserve left. */
static int
release_reserve (struct layer_stack *ls)
{
  CLEANUP_FREE char *path = xasprintf ("%s/" RESERVE_FILE, ls->st->home);
  CLEANUP_CLOSE int fd = path ? open (path, O_WRONLY | O_CLOEXEC) : -1;
  struct stat sb;
  uint64_t left;

  if (fd == -1 || fstat (fd, &sb) == -1 || sb.st_blocks == 0)
    return -1;
  left = (uint64_t)sb.st_size > RESERVE_CHUNK ? (uint64_t)sb.st_size - RESERVE_CHUNK : 0;
  if (ftruncate (fd, (off_t)left) == -1 || fsync (fd) == -1)
    return -1;
  log_warn ("layer %s: host disk full: released %u MiB of the emergency reserve (%" PRIu64
            " MiB left) so that a write the container's filesystem accepted still lands",
            ls->layer->id, RESERVE_CHUNK >> 20, left >> 20);
  return 0;
}

/* The fd for I/O of LEN bytes at OFF from/into BUF on diff D: its O_DIRECT one when it has
 * one and all three are block-aligned, else the buffered one.  A transfer O_DIRECT refuses
 * anyway (EINVAL: a short transfer left the rest unaligned) is done again buffered. */
static int
data_fd_for (const struct diff *d, const void *buf, uint64_t len, uint64_t off)
{
  if (d->dio_fd >= 0 && (((uintptr_t)buf | len | off) & (LAYER_BS - 1)) == 0)
    return d->dio_fd;
  return d->data_fd;
}

/* pwrite into the top diff's data; on ENOSPC, release reserve and retry. */
static int
top_pwrite (struct layer_stack *ls, const void *buf, size_t len, uint64_t off)
{
  int fd = data_fd_for (ls->top, buf, len, off);

  while (pwrite_full (fd, buf, len, (off_t)off) == -1) {
    int e = errno;
    if (e == EINVAL && fd != ls->top->data_fd) {
      fd = ls->top->data_fd;
      continue;
    }
    if ((e != ENOSPC && e != EDQUOT) || release_reserve (ls) == -1) {
      err_set (e, "layer %s: write at %" PRIu64, ls->layer->id, off);
      return -1;
    }
  }
  __atomic_add_fetch (&ls->wgen, 1, __ATOMIC_RELEASE); /* before the reply: a FLUSH covers it */
  return 0;
}

static int
check_range (struct layer_stack *ls, uint32_t count, uint64_t offset, bool write)
{
  if (offset > ls->top->size || count > ls->top->size - offset) {
    err_set (EINVAL, "layer %s: range %" PRIu64 "+%" PRIu32 " is past the end", ls->layer->id,
             offset, count);
    return -1;
  }
  if (write && !ls->rw) {
    err_set (EROFS, "layer %s is read-only", ls->layer->id);
    return -1;
  }
  return 0;
}

/* Walks a range block run by block run; remembers the current run of the top's map so a long
 * absent run over a fragmented index is scanned once, not once per extent. */
struct cursor {
  uint64_t lim;     /* end of the range, in blocks */
  uint64_t top_end; /* the top's run [.., top_end) with state top_state */
  unsigned top_state;
};

/* The data fd that block B reads from (-1: zeros); *end gets the end of that run (<= lim). */
static int
source (struct layer_stack *ls, struct cursor *c, uint64_t b, uint64_t *end)
{
  uint64_t xe;
  int32_t o;

  if (b >= c->top_end) { /* ranges only move forward */
    c->top_state = bmap_get (ls->map, b);
    c->top_end = bmap_run_end (ls->map, b, c->lim);
  }
  *end = c->top_end;
  if (c->top_state == BMAP_PRESENT)
    return ls->top->data_fd;
  if (c->top_state == BMAP_ZERO || !ls->lower)
    return -1;
  o = lindex_lookup (ls->lower, b, &xe);
  *end = MIN (c->top_end, xe);
  return o == LINDEX_ZERO ? -1 : ls->lower->diffs[o]->data_fd;
}

static int
read_run (struct layer_stack *ls, int fd, void *buf, uint64_t len, uint64_t off)
{
  if (fd < 0) {
    memset (buf, 0, len);
    return 0;
  }
  int dfd = fd == ls->top->data_fd ? data_fd_for (ls->top, buf, len, off) : fd;
  if (pread_full (dfd, buf, len, off) == -1 &&
      (errno != EINVAL || dfd == fd || pread_full (fd, buf, len, off) == -1)) {
    err_set (errno, "layer %s: read at %" PRIu64, ls->layer->id, off);
    return -1;
  }
  return 0;
}

/* The run of [pos, end) that starts at POS, read from one fd (-1: zeros); *stop gets its
 * end.  Runs of a range are taken in order with one cursor. */
static int
run_at (struct layer_stack *ls, struct cursor *c, uint64_t pos, uint64_t end, uint64_t *stop)
{
  uint64_t rend, e2;
  int fd = source (ls, c, pos >> LAYER_BS_SHIFT, &rend);

  while (rend < c->lim && source (ls, c, rend, &e2) == fd)
    rend = e2;
  *stop = MIN (end, rend << LAYER_BS_SHIFT);
  return fd;
}

static int
pread_locked (struct layer_stack *ls, uint8_t *buf, uint32_t count, uint64_t offset)
{
  uint64_t end = offset + count;
  struct cursor c = { (end + LAYER_BS - 1) >> LAYER_BS_SHIFT, 0, 0 };

  for (uint64_t pos = offset, stop; pos < end; pos = stop) {
    int fd = run_at (ls, &c, pos, end, &stop);
    if (read_run (ls, fd, buf + (pos - offset), stop - pos, pos) == -1)
      return -1;
  }
  return 0;
}

int
layer_stack_read_runs (struct layer_stack *ls, uint32_t count, uint64_t offset,
                       int (*fn) (void *cbdata, int fd, uint64_t off, uint64_t len, bool direct),
                       void *cbdata)
{
  uint64_t end = offset + count;
  struct cursor c = { (end + LAYER_BS - 1) >> LAYER_BS_SHIFT, 0, 0 };
  int r;

  pthread_rwlock_rdlock (&ls->lock);
  r = check_range (ls, count, offset, false);
  for (uint64_t pos = offset, stop; r == 0 && pos < end; pos = stop) {
    int fd = run_at (ls, &c, pos, end, &stop);
    if (fd >= 0 && fd == ls->top->data_fd) /* no buffer: only the range must be aligned */
      fd = data_fd_for (ls->top, NULL, stop - pos, pos);
    r = fn (cbdata, fd, pos, stop - pos, fd >= 0 && fd == ls->top->dio_fd);
  }
  pthread_rwlock_unlock (&ls->lock);
  return r;
}

int
layer_stack_pread (struct layer_stack *ls, void *buf, uint32_t count, uint64_t offset)
{
  pthread_rwlock_rdlock (&ls->lock);
  int r = check_range (ls, count, offset, false);
  if (r == 0)
    r = pread_locked (ls, buf, count, offset);
  pthread_rwlock_unlock (&ls->lock);
  return r;
}

/* Write LEN bytes at BOFF inside block B, copying the block up first if the top lacks it. */
static int
write_partial (struct layer_stack *ls, uint64_t b, uint32_t boff, const void *data, uint32_t len)
{
  pthread_mutex_t *lk = &ls->stripes[b % ARRAY_SIZE (ls->stripes)];
  uint8_t blk[LAYER_BS];
  uint64_t off = b << LAYER_BS_SHIFT;
  int r = -1;

  pthread_mutex_lock (lk);
  unsigned s = bmap_get (ls->map, b);
  if (s == BMAP_PRESENT) {
    r = top_pwrite (ls, data, len, off + boff);
    goto out;
  }
  if (s == BMAP_ZERO)
    memset (blk, 0, sizeof blk);
  else if (pread_locked (ls, blk, LAYER_BS, off) == -1)
    goto out;
  memcpy (blk + boff, data, len);
  if ((r = top_pwrite (ls, blk, LAYER_BS, off)) == 0)
    bmap_set_range (ls->map, b, 1, BMAP_PRESENT);
out:
  pthread_mutex_unlock (lk);
  return r;
}

static int
pwrite_locked (struct layer_stack *ls, const uint8_t *buf, uint32_t count, uint64_t offset)
{
  uint64_t pos = offset, end = offset + count;

  while (pos < end) {
    uint64_t b = pos >> LAYER_BS_SHIFT;
    uint32_t boff = pos & (LAYER_BS - 1);
    if (boff == 0 && end - pos >= LAYER_BS) {
      uint64_t n = (end - pos) >> LAYER_BS_SHIFT;
      if (top_pwrite (ls, buf + (pos - offset), n << LAYER_BS_SHIFT, pos) == -1)
        return -1;
      bmap_set_range (ls->map, b, n, BMAP_PRESENT);
      pos += n << LAYER_BS_SHIFT;
    } else {
      uint32_t len = MIN (LAYER_BS - boff, end - pos);
      if (write_partial (ls, b, boff, buf + (pos - offset), len) == -1)
        return -1;
      pos += len;
    }
  }
  return 0;
}

int
layer_stack_pwrite (struct layer_stack *ls, const void *buf, uint32_t count, uint64_t offset,
                    bool fua)
{
  int r;

  pthread_rwlock_rdlock (&ls->lock);
  r = check_range (ls, count, offset, true) == -1 ? -1 : pwrite_locked (ls, buf, count, offset);
  if (r == 0 && fua)
    r = stack_flush_locked (ls);
  pthread_rwlock_unlock (&ls->lock);
  return r;
}

/* Drop whole blocks [b0, b1) from the top: zero where something below has data, absent
 * where nothing does; then free their space in the data file. */
static int
drop_blocks (struct layer_stack *ls, uint64_t b0, uint64_t b1)
{
  for (uint64_t b = b0; b < b1;) {
    uint64_t e = b1;
    int32_t o = ls->lower ? lindex_lookup (ls->lower, b, &e) : LINDEX_ZERO;
    e = MIN (e, b1);
    bmap_set_range (ls->map, b, e - b, o == LINDEX_ZERO ? BMAP_ABSENT : BMAP_ZERO);
    b = e;
  }
  if (b1 > b0 &&
      fallocate (ls->top->data_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, b0 << LAYER_BS_SHIFT,
                 (b1 - b0) << LAYER_BS_SHIFT) == -1 &&
      errno != EOPNOTSUPP) {
    err_set (errno, "layer %s: punch hole", ls->layer->id);
    return -1;
  }
  if (b1 > b0)
    __atomic_add_fetch (&ls->wgen, 1, __ATOMIC_RELEASE);
  return 0;
}

/* Zeroes over [from, to), a few blocks at most (the partial ends of a zero request). */
static int
write_zeros (struct layer_stack *ls, uint64_t from, uint64_t to)
{
  while (from < to) {
    uint32_t len = MIN (LAYER_BS - (from & (LAYER_BS - 1)), to - from);
    if (pwrite_locked (ls, zero_block, len, from) == -1)
      return -1;
    from += len;
  }
  return 0;
}

static int
trim_or_zero (struct layer_stack *ls, uint32_t count, uint64_t offset, bool fua, bool zero)
{
  uint64_t end = offset + count;
  uint64_t b0 = (offset + LAYER_BS - 1) >> LAYER_BS_SHIFT, b1 = end >> LAYER_BS_SHIFT;
  int r = 0;

  pthread_rwlock_rdlock (&ls->lock);
  if (check_range (ls, count, offset, true) == -1)
    r = -1;
  else if (b0 >= b1) { /* no whole block: at most two partial ones */
    if (zero)
      r = write_zeros (ls, offset, end);
  } else {
    if (zero)
      r = write_zeros (ls, offset, b0 << LAYER_BS_SHIFT);
    if (r == 0 && zero)
      r = write_zeros (ls, b1 << LAYER_BS_SHIFT, end);
    if (r == 0)
      r = drop_blocks (ls, b0, b1);
  }
  if (r == 0 && fua)
    r = stack_flush_locked (ls);
  pthread_rwlock_unlock (&ls->lock);
  return r;
}

int
layer_stack_trim (struct layer_stack *ls, uint32_t count, uint64_t offset, bool fua)
{
  return trim_or_zero (ls, count, offset, fua, false);
}

int
layer_stack_zero (struct layer_stack *ls, uint32_t count, uint64_t offset, bool fua)
{
  return trim_or_zero (ls, count, offset, fua, true);
}

int
layer_stack_extents (struct layer_stack *ls, uint32_t count, uint64_t offset,
                     int (*fn) (void *cbdata, uint64_t off, uint64_t len, uint32_t flags),
                     void *cbdata)
{
  uint64_t pos = offset, end = offset + count;
  uint64_t lim = (end + LAYER_BS - 1) >> LAYER_BS_SHIFT;
  struct cursor c = { lim, 0, 0 };

  pthread_rwlock_rdlock (&ls->lock);
  if (check_range (ls, count, offset, false) == -1) {
    pthread_rwlock_unlock (&ls->lock);
    return -1;
  }
  while (pos < end) {
    uint64_t rend, e2;
    bool data = source (ls, &c, pos >> LAYER_BS_SHIFT, &rend) >= 0;
    while (rend < lim && (source (ls, &c, rend, &e2) >= 0) == data)
      rend = e2;
    uint64_t stop = MIN (end, rend << LAYER_BS_SHIFT);
    if (fn (cbdata, pos, stop - pos, data ? 0 : 3))
      break;
    pos = stop;
  }
  pthread_rwlock_unlock (&ls->lock);
  return 0;
}
