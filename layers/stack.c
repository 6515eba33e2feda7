/* stack.c: the life of a layer stack — open (one shared, refcounted object per layer, so every
 * NBD connection sees one view), close, flush, and live sealing for a snapshot of an open
 * writable layer.  A stack is its layer's top diff (in-memory map, written back on flush) over
 * the shared merged index of the immutable diffs below (index.c).  I/O holds the stack's rwlock
 * shared; sealing takes it exclusive, so in-flight requests finish before the top is swapped. */
#include <string.h>

#include "layers/internal.h"

static void
stack_free (struct layer_stack *ls)
{
  if (!ls)
    return;
  if (ls->layer && ls->layer->stack == ls)
    ls->layer->stack = NULL;
  store_index_put (ls->st, ls->lower);
  if (ls->top && ls->map) /* what inspect reports once it is closed */
    ls->top->owned_blocks = bmap_count_owned (ls->map);
  bmap_free (ls->map);
  diff_close_fds (ls->top);
  pthread_rwlock_destroy (&ls->lock);
  pthread_mutex_destroy (&ls->flush_lock);
  for (size_t i = 0; i < ARRAY_SIZE (ls->stripes); i++)
    pthread_mutex_destroy (&ls->stripes[i]);
  free (ls);
}

static struct layer_stack *
stack_alloc (struct layer_store *st, struct layer *l)
{
  struct layer_stack *ls = calloc (1, sizeof *ls);
  pthread_rwlockattr_t attr;

  if (!ls) {
    err_set (errno, "calloc");
    return NULL;
  }
  ls->st = st;
  ls->layer = l;
  ls->refs = 1;
  pthread_rwlockattr_init (&attr);
  /* a seal must not starve behind a steady stream of I/O */
  pthread_rwlockattr_setkind_np (&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
  pthread_rwlock_init (&ls->lock, &attr);
  pthread_rwlockattr_destroy (&attr);
  pthread_mutex_init (&ls->flush_lock, NULL);
  ls->synced_gen = UINT64_MAX; /* the first flush always syncs (a crashed daemon's writes) */
  for (size_t i = 0; i < ARRAY_SIZE (ls->stripes); i++)
    pthread_mutex_init (&ls->stripes[i], NULL);
  return ls;
}

static struct layer_stack *
open_locked (struct layer_store *st, const char *id, bool writable)
{
  struct layer *l = store_find_layer (st, id);
  struct layer_stack *ls;

  if (!l) {
    err_set (ENOENT, "layer %s does not exist", id);
    return NULL;
  }
  if (writable && (!l->rw || st->read_only)) {
    err_set (EROFS, "layer %s is read-only", id);
    return NULL;
  }
  if (l->stack) {
    l->stack->refs++;
    return l->stack;
  }
  if (l->rw && l->top->sealed && !st->read_only && layer_fresh_top (st, l) == -1)
    return NULL;
  if (!(ls = stack_alloc (st, l)))
    return NULL;
  if (diff_open_fds (st, l->top) == -1) {
    err_prefix ("layer %s", id);
    stack_free (ls);
    return NULL;
  }
  ls->top = l->top;
  ls->size = l->top->size;
  if (!(ls->map = diff_load_map (st, ls->top)) ||
      (ls->top->parent && !(ls->lower = store_index_get (st, ls->top->parent, NULL)))) {
    err_prefix ("layer %s", id);
    stack_free (ls);
    return NULL;
  }
  ls->rw = l->rw && !ls->top->sealed && !st->read_only;
  l->stack = ls;
  ls->next = st->stacks;
  st->stacks = ls;
  return ls;
}

struct layer_stack *
layer_stack_open (struct layer_store *st, const char *id, bool writable)
{
  if (check_id (id) == -1)
    return NULL;
  pthread_mutex_lock (&st->lock);
  struct layer_stack *ls = open_locked (st, id, writable);
  pthread_mutex_unlock (&st->lock);
  return ls;
}

void
layer_stack_close (struct layer_stack *ls)
{
  struct layer_store *st;

  if (!ls)
    return;
  st = ls->st;
  pthread_mutex_lock (&st->lock);
  if (--ls->refs == 0) {
    if (ls->rw && layer_stack_flush (ls) == -1)
      log_error ("layer %s: flush at close: %s", ls->layer->id, err_get ());
    for (struct layer_stack **p = &st->stacks; *p; p = &(*p)->next)
      if (*p == ls) {
        *p = ls->next;
        break;
      }
    stack_free (ls);
  }
  pthread_mutex_unlock (&st->lock);
}

uint64_t
layer_stack_size (struct layer_stack *ls)
{
  return ls->size;
}

bool
layer_stack_writable (struct layer_stack *ls)
{
  return __atomic_load_n (&ls->rw, __ATOMIC_ACQUIRE); /* may drop when a seal fails */
}

/* fdatasync the data, then write the map pages that changed, then fdatasync the map: a block
 * marked present on disk always has its data on disk.  The dirty pages are copied before the
 * data sync, and a bit is set only after its data write returned, so the copy never names
 * data the sync did not cover.  Caller holds ls->lock (shared or exclusive). */
int
stack_flush_locked (struct layer_stack *ls)
{
  size_t *pages = NULL, n = 0;
  uint8_t *buf;
  uint64_t g;
  int r = -1;

  if (!ls->rw)
    return 0;
  pthread_mutex_lock (&ls->flush_lock);
  buf = bmap_take_dirty (ls->map, &pages, &n);
  if (!buf && n) /* not reached: n is 0 without a buffer */
    goto out;
  /* Read after taking the dirty pages: a page's bit is set after its write counted, so G
   * covers every page taken.  Nothing written since the last sync: no fdatasync (a Put sends
   * several flushes back to back). */
  g = __atomic_load_n (&ls->wgen, __ATOMIC_ACQUIRE);
  if (g != ls->synced_gen && fdatasync (ls->top->data_fd) == -1) {
    err_set (errno, "layer %s: fdatasync data of diff %s", ls->layer->id, ls->top->id);
    goto out;
  }
  ls->synced_gen = g;
  for (size_t i = 0; i < n; i++)
    if (pwrite_full (ls->top->map_fd, buf + i * BMAP_PAGE, BMAP_PAGE, pages[i] * BMAP_PAGE) == -1) {
      err_set (errno, "layer %s: write map of diff %s", ls->layer->id, ls->top->id);
      goto out;
    }
  if (n && fdatasync (ls->top->map_fd) == -1) {
    err_set (errno, "layer %s: fdatasync map of diff %s", ls->layer->id, ls->top->id);
    goto out;
  }
  r = 0;
out:
  if (r == -1)
    bmap_mark_dirty (ls->map, pages, n);
  pthread_mutex_unlock (&ls->flush_lock);
  free (buf), free (pages);
  return r;
}

int
layer_stack_flush (struct layer_stack *ls)
{
  pthread_rwlock_rdlock (&ls->lock);
  int r = stack_flush_locked (ls);
  pthread_rwlock_unlock (&ls->lock);
  return r;
}

/* Seal LS's top diff live (store lock held): flush it, make it immutable, index it, and give
 * the layer a fresh top diff over it.  In-flight I/O drains first (exclusive lock). */
int
stack_seal (struct layer_stack *ls)
{
  struct layer_store *st = ls->st;
  struct diff *old = ls->top;
  struct lindex *ix = NULL;
  struct bmap *m = NULL;
  int r = -1;

  pthread_rwlock_wrlock (&ls->lock);
  if (stack_flush_locked (ls) == -1 || !(ix = store_index_get (st, old, ls->map)) ||
      !(m = bmap_new (old->nblocks)))
    goto out;
  seal_diff (old, ls->map);
  if (layer_fresh_top (st, ls->layer) == -1)
    goto out;
  if (diff_open_fds (st, ls->layer->top) == -1) {
    /* committed, but this stack cannot go on: keep serving the old view read-only */
    __atomic_store_n (&ls->rw, false, __ATOMIC_RELEASE);
    goto out;
  }
  store_index_put (st, ls->lower);
  ls->lower = ix, ix = NULL;
  bmap_free (ls->map);
  ls->map = m, m = NULL;
  ls->top = ls->layer->top;
  diff_close_fds (old);
  r = 0;
out:
  if (r == -1) {
    err_prefix ("snapshot of open layer %s", ls->layer->id);
    if (old->sealed) /* never write into a sealed diff */
      __atomic_store_n (&ls->rw, false, __ATOMIC_RELEASE);
  }
  store_index_put (st, ix);
  bmap_free (m);
  pthread_rwlock_unlock (&ls->lock);
  return r;
}
