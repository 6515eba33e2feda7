/* diverged.c: layer_diverged_blocks — the blocks where two layers' views may differ.
 *
 * Two stacks share their diffs up to their last common diff (a layer created on a parent
 * stacks on the parent's top diff of that moment); every block either view can show
 * differently is held (present or zero) by a diff above that point in one of the stacks.
 * graphdriver's Changes/Diff uses this to know which inodes of an ext4 can have changed
 * without stat-ing every file of both trees.  It reads only maps: the in-memory map of an
 * open stack's top (the live one), else the diff's map file (final for a sealed diff, what
 * was last flushed for a closed layer's top).  The store lock is held throughout, so no diff
 * goes away and no stack is sealed meanwhile. */
#include <string.h>

#include "layers/internal.h"

#define CHAIN_MAX 4096 /* diffs in one stack: far above any real depth */

struct chain {
  struct diff *d[CHAIN_MAX];
  size_t n;
};

static int
load_chain (struct layer_store *st, const char *id, struct chain *c)
{
  struct layer *l = store_find_layer (st, id);

  if (!l) {
    err_set (ENOENT, "layer %s does not exist", id);
    return -1;
  }
  c->n = 0;
  for (struct diff *d = l->top; d; d = d->parent) {
    if (c->n == CHAIN_MAX) {
      err_set (ELOOP, "layer %s: stack deeper than %d", id, CHAIN_MAX);
      return -1;
    }
    c->d[c->n++] = d;
  }
  return 0;
}

static bool
in_chain (const struct chain *c, const struct diff *d)
{
  for (size_t i = 0; i < c->n; i++)
    if (c->d[i] == d)
      return true;
  return false;
}

/* The live map of D if it is the top of an open stack, else NULL. */
static const struct bmap *
live_map (struct layer_store *st, const struct diff *d)
{
  for (struct layer_stack *ls = st->stacks; ls; ls = ls->next)
    if (ls->top == d)
      return ls->map;
  return NULL;
}

/* Calls FN for each run of blocks D holds. */
static int
diff_runs (struct layer_store *st, struct diff *d,
           int (*fn) (void *cbdata, uint64_t blk, uint64_t n), void *cbdata)
{
  const struct bmap *m = live_map (st, d);
  struct bmap *loaded = NULL;
  int r = 0;

  if (!m && !(m = loaded = diff_load_map (st, d)))
    return -1;
  for (uint64_t b = 0, e; r == 0 && b < m->nblocks; b = e) {
    e = bmap_run_end (m, b, m->nblocks);
    if (bmap_get (m, b) != BMAP_ABSENT)
      r = fn (cbdata, b, e - b);
  }
  bmap_free (loaded);
  return r;
}

/* FN for the diffs of A above anything in B. */
static int
own_runs (struct layer_store *st, const struct chain *a, const struct chain *b,
          int (*fn) (void *cbdata, uint64_t blk, uint64_t n), void *cbdata, size_t *ndiffs)
{
  for (size_t i = 0; i < a->n && !in_chain (b, a->d[i]); i++) {
    if (diff_runs (st, a->d[i], fn, cbdata) == -1)
      return -1;
    (*ndiffs)++;
  }
  return 0;
}

int
layer_diverged_blocks (struct layer_store *st, const char *a, const char *b,
                       int (*fn) (void *cbdata, uint64_t blk, uint64_t n), void *cbdata)
{
  struct chain *ca = malloc (sizeof *ca), *cb = malloc (sizeof *cb);
  size_t ndiffs = 0;
  int r = -1;

  if (!ca || !cb) {
    err_set (errno, "malloc");
    goto out;
  }
  pthread_mutex_lock (&st->lock);
  if (load_chain (st, a, ca) == 0 && load_chain (st, b, cb) == 0 &&
      own_runs (st, ca, cb, fn, cbdata, &ndiffs) == 0 &&
      own_runs (st, cb, ca, fn, cbdata, &ndiffs) == 0)
    r = 0;
  pthread_mutex_unlock (&st->lock);
  if (r == 0)
    log_debug ("layers", "layers %s and %s diverge in %zu diffs", a, b, ndiffs);
out:
  free (ca);
  free (cb);
  return r;
}
