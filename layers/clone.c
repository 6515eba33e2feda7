/* clone.c: layer_clone_view — make a layer read exactly what another layer reads, by copying
 * only the blocks where their stacks differ.
 *
 * Two layers that share an ancestor read the same bytes wherever their stacks resolve a block
 * to a diff they share.  They can differ only in blocks owned (present or zero) by a diff
 * that is in one stack and not in the other, so the copy set is the union of those diffs'
 * maps — for a container and a fresh child of its image that is the container's own diffs
 * plus its init layer's, a few hundred KiB whatever the size of the image.  Each block of
 * the set is read through the source stack and written into the destination's top diff; a
 * run the source reads as zeros becomes a zero (or absent) run there, never data.  This is
 * what lets a commit give the new image layer the container's filesystem without a copy of
 * its files (archive/commit-clone.c).  The source must not change meanwhile: its caller
 * freezes the filesystem on it. */
#include <string.h>

#include "layers/internal.h"

#define COPY_CHUNK (1024 * 1024)

/* Is diff D in the chain that starts at TOP? */
static bool
in_chain (const struct diff *top, const struct diff *d)
{
  for (; top; top = top->parent)
    if (top == d)
      return true;
  return false;
}

/* Add every block M owns (present or zero) below NBLOCKS to the bit set WANT. */
static void
add_owned (uint64_t *want, const struct bmap *m, uint64_t nblocks)
{
  uint64_t end = MIN (nblocks, m->nblocks);

  for (uint64_t b = 0; b < end;) {
    uint64_t e = bmap_run_end (m, b, end);
    if (bmap_get (m, b) != BMAP_ABSENT)
      for (uint64_t i = b; i < e; i++)
        want[i / 64] |= 1ull << (i % 64);
    b = e;
  }
}

/* Add the blocks of every diff of chain A that is not in chain B.  TOP_MAP stands for A's
 * first diff when that is an open stack's top (its map file may lag behind). */
static int
add_chain (struct layer_store *st, uint64_t *want, uint64_t nblocks, struct diff *a,
           const struct bmap *top_map, const struct diff *b)
{
  for (struct diff *d = a; d && !in_chain (b, d); d = d->parent) {
    struct bmap *m;
    if (d == a && top_map) {
      add_owned (want, top_map, nblocks);
      continue;
    }
    pthread_mutex_lock (&st->lock);
    m = diff_load_map (st, d);
    pthread_mutex_unlock (&st->lock);
    if (!m)
      return -1;
    add_owned (want, m, nblocks);
    bmap_free (m);
  }
  return 0;
}

/* Copy [off, off+len) of SRC into DST: data as data, zero runs as zeros. */
struct copy {
  struct layer_stack *src, *dst;
  uint8_t *buf;
  int r;
};

static int
copy_extent (void *cbdata, uint64_t off, uint64_t len, uint32_t flags)
{
  struct copy *c = cbdata;

  if (flags & 2) {
    c->r = layer_stack_zero (c->dst, len, off, false);
    return c->r;
  }
  c->r = layer_stack_pread (c->src, c->buf, len, off);
  if (c->r == 0)
    c->r = layer_stack_pwrite (c->dst, c->buf, len, off, false);
  return c->r;
}

static int
copy_blocks (struct copy *c, const uint64_t *want, uint64_t nblocks, uint64_t *copied)
{
  for (uint64_t b = 0; b < nblocks; b++) {
    if (!(want[b / 64] >> (b % 64) & 1)) {
      if (want[b / 64] >> (b % 64) == 0)
        b |= 63; /* the rest of this word is clear */
      continue;
    }
    uint64_t e = b + 1;
    while (e < nblocks && e - b < COPY_CHUNK / LAYER_BS && (want[e / 64] >> (e % 64) & 1))
      e++;
    c->r = 0;
    if (layer_stack_extents (c->src, (e - b) * LAYER_BS, b * LAYER_BS, copy_extent, c) == -1 ||
        c->r == -1)
      return -1;
    *copied += e - b;
    b = e - 1;
  }
  return 0;
}

static int
clone_stacks (struct layer_store *st, struct layer_stack *dst, struct layer_stack *src)
{
  uint64_t nblocks = src->size / LAYER_BS, copied = 0;
  CLEANUP_FREE uint64_t *want = calloc ((nblocks + 63) / 64, sizeof *want);
  struct copy c = { src, dst, malloc (COPY_CHUNK), 0 };
  int r = -1;

  if (!want || !c.buf) {
    err_set (ENOMEM, "clone: out of memory");
    goto out;
  }
  pthread_rwlock_rdlock (&src->lock);
  r = add_chain (st, want, nblocks, src->top, src->map, dst->top->parent);
  pthread_rwlock_unlock (&src->lock);
  pthread_rwlock_rdlock (&dst->lock);
  if (r == 0)
    r = add_chain (st, want, nblocks, dst->top, dst->map, src->top);
  pthread_rwlock_unlock (&dst->lock);
  if (r == 0)
    r = copy_blocks (&c, want, nblocks, &copied);
  if (r == 0)
    r = layer_stack_flush (dst);
  if (r == 0)
    log_debug ("layers", "clone of %s into %s: %" PRIu64 " blocks", src->layer->id, dst->layer->id,
               copied);
out:
  free (c.buf);
  return r;
}

int
layer_clone_view (struct layer_store *st, const char *dst_id, const char *src_id)
{
  struct layer_stack *dst = NULL, *src = NULL;
  int r = -1;

  if (!(src = layer_stack_open (st, src_id, false)) || !(dst = layer_stack_open (st, dst_id, true)))
    goto out;
  if (src->size != dst->size) {
    err_set (EINVAL, "clone: layers %s and %s differ in size", src_id, dst_id);
    goto out;
  }
  if (!layer_stack_writable (dst)) {
    err_set (EROFS, "clone: layer %s is read-only", dst_id);
    goto out;
  }
  r = clone_stacks (st, dst, src);
out:
  if (r == -1)
    err_prefix ("clone %s into %s", src_id, dst_id);
  layer_stack_close (dst);
  layer_stack_close (src);
  return r;
}
