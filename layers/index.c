/* index.c: the merged index of an immutable chain of diffs.  For the chain whose topmost diff
 * is KEY, it is a sorted list of extents [start, next start) each naming the diff that owns
 * those blocks (or LINDEX_ZERO: nothing below has data).  It is built from KEY's map laid over
 * the index of KEY's parent, so building costs O(runs) per level, and a lookup costs
 * O(log extents) whatever the depth.  The store caches one index per key (store.c); every
 * stack on that chain shares it. */
#include <string.h>

#include "layers/internal.h"

struct builder {
  struct lindex *ix;
  size_t cap;
};

static int
push (struct builder *bd, uint64_t start, int32_t owner)
{
  struct lindex *ix = bd->ix;

  if (ix->n > 0 && ix->owner[ix->n - 1] == owner)
    return 0;
  if (ix->n == bd->cap) {
    size_t cap = bd->cap ? bd->cap * 2 : 64;
    uint64_t *s = realloc (ix->start, (cap + 1) * sizeof *s);
    if (s)
      ix->start = s;
    int32_t *o = realloc (ix->owner, cap * sizeof *o);
    if (o)
      ix->owner = o;
    if (!s || !o) {
      err_set (ENOMEM, "merged index");
      return -1;
    }
    bd->cap = cap;
  }
  ix->start[ix->n] = start;
  ix->owner[ix->n++] = owner;
  return 0;
}

/* Lay the extents of BELOW over [b, e). */
static int
push_below (struct builder *bd, const struct lindex *below, uint64_t b, uint64_t e)
{
  while (b < e) {
    uint64_t end = e;
    int32_t owner = below ? lindex_lookup (below, b, &end) : LINDEX_ZERO;
    if (push (bd, b, owner) == -1)
      return -1;
    b = MIN (end, e);
  }
  return 0;
}

static int
copy_diffs (struct layer_store *st, struct lindex *ix, const struct lindex *below, struct diff *key)
{
  size_t n = below ? below->ndiffs : 0;

  ix->diffs = calloc (n + 1, sizeof *ix->diffs);
  if (!ix->diffs) {
    err_set (errno, "calloc");
    return -1;
  }
  for (size_t i = 0; i <= n; i++) {
    struct diff *d = i < n ? below->diffs[i] : key;
    if (diff_open_fds (st, d) == -1)
      return -1;
    ix->diffs[ix->ndiffs++] = d;
  }
  return 0;
}

struct lindex *
lindex_build (struct layer_store *st, struct diff *key, const struct bmap *m,
              const struct lindex *below)
{
  struct lindex *ix = calloc (1, sizeof *ix);
  struct builder bd = { ix, 0 };
  uint64_t b = 0;

  if (!ix) {
    err_set (errno, "calloc");
    return NULL;
  }
  ix->key = key;
  ix->nblocks = key->nblocks;
  if (copy_diffs (st, ix, below, key) == -1)
    goto err;
  while (b < key->nblocks) {
    uint64_t e = bmap_run_end (m, b, key->nblocks);
    int r;
    switch (bmap_get (m, b)) {
    case BMAP_PRESENT: r = push (&bd, b, ix->ndiffs - 1); break;
    case BMAP_ABSENT: r = push_below (&bd, below, b, e); break;
    default: r = push (&bd, b, LINDEX_ZERO); break;
    }
    if (r == -1)
      goto err;
    b = e;
  }
  if (ix->n == 0 && push (&bd, 0, LINDEX_ZERO) == -1)
    goto err;
  ix->start[ix->n] = ix->nblocks;
  return ix;
err:
  err_prefix ("index of diff %s", key->id);
  lindex_free (ix);
  return NULL;
}

void
lindex_free (struct lindex *ix)
{
  if (!ix)
    return;
  for (size_t i = 0; i < ix->ndiffs; i++)
    diff_close_fds (ix->diffs[i]);
  free (ix->diffs);
  free (ix->start);
  free (ix->owner);
  free (ix);
}

int32_t
lindex_lookup (const struct lindex *ix, uint64_t b, uint64_t *end)
{
  size_t lo = 0, hi = ix->n;

  if (b >= ix->nblocks) {
    *end = UINT64_MAX;
    return LINDEX_ZERO;
  }
  /* largest i with start[i] <= b; start[0] == 0 */
  while (hi - lo > 1) {
    size_t mid = lo + (hi - lo) / 2;
    if (ix->start[mid] <= b)
      lo = mid;
    else
      hi = mid;
  }
  *end = ix->start[lo + 1];
  return ix->owner[lo];
}

size_t
lindex_mem (const struct lindex *ix)
{
  return sizeof *ix + ix->n * (sizeof *ix->start + sizeof *ix->owner) +
         ix->ndiffs * sizeof *ix->diffs;
}
