/* info.c: what the store tells about its layers — layer_info, layer_list (sorted by id, the
 * callback runs without the store lock so it may call back into the store), the JSON of
 * `buse inspect`, and disk usage.  Owned bytes come from the in-memory map of an open layer,
 * counted once for a sealed diff, else from the map file. */
#include <string.h>
#include <sys/stat.h>

#include "layers/internal.h"

static uint64_t
owned_blocks (struct layer_store *st, struct diff *d, struct layer_stack *ls)
{
  struct bmap *m;
  uint64_t n;

  if (ls && ls->top == d)
    return bmap_count_owned (ls->map);
  if (d->owned_blocks != UINT64_MAX) /* only this process writes, through open stacks */
    return d->owned_blocks;
  m = diff_load_map (st, d);
  n = m ? bmap_count_owned (m) : 0;
  if (m)
    d->owned_blocks = n;
  bmap_free (m);
  return n;
}

static void
fill_info (struct layer_store *st, struct layer *l, struct layer_info *info)
{
  memset (info, 0, sizeof *info);
  snprintf (info->id, sizeof info->id, "%s", l->id);
  snprintf (info->parent, sizeof info->parent, "%s", l->parent);
  snprintf (info->top_diff, sizeof info->top_diff, "%s", l->top->id);
  info->virtual_size = l->top->size;
  info->owned_bytes = owned_blocks (st, l->top, l->stack) * LAYER_BS;
  info->disk_bytes = diff_disk_bytes (st, l->top);
  info->depth = layer_depth (l);
  info->rw = l->rw;
  info->open = l->stack != NULL;
}

int
layer_info (struct layer_store *st, const char *id, struct layer_info *info)
{
  struct layer *l;
  int r = -1;

  if (check_id (id) == -1)
    return -1;
  pthread_mutex_lock (&st->lock);
  if ((l = store_find_layer (st, id))) {
    fill_info (st, l, info);
    r = 0;
  } else
    err_set (ENOENT, "layer %s does not exist", id);
  pthread_mutex_unlock (&st->lock);
  return r;
}

static int
cmp_info (const void *a, const void *b)
{
  return strcmp (((const struct layer_info *)a)->id, ((const struct layer_info *)b)->id);
}

int
layer_list (struct layer_store *st, int (*fn) (void *cbdata, const struct layer_info *info),
            void *cbdata)
{
  CLEANUP_FREE struct layer_info *v = NULL;
  size_t n = 0, i = 0;

  pthread_mutex_lock (&st->lock);
  for (struct layer *l = st->layers; l; l = l->next)
    n++;
  if (n && !(v = calloc (n, sizeof *v))) {
    pthread_mutex_unlock (&st->lock);
    err_set (errno, "calloc");
    return -1;
  }
  for (struct layer *l = st->layers; l; l = l->next)
    fill_info (st, l, &v[i++]);
  pthread_mutex_unlock (&st->lock);
  if (n > 1)
    qsort (v, n, sizeof *v, cmp_info);
  for (i = 0; i < n; i++)
    if (fn (cbdata, &v[i]))
      break;
  return 0;
}

static json_t *
diff_json (struct layer_store *st, struct diff *d, struct layer_stack *ls)
{
  return json_pack ("{s:s, s:I, s:I, s:I, s:b}", "id", d->id, "virtual_size", (json_int_t)d->size,
                    "owned_bytes", (json_int_t)(owned_blocks (st, d, ls) * LAYER_BS), "disk_bytes",
                    (json_int_t)diff_disk_bytes (st, d), "sealed", d->sealed);
}

static char *
inspect_locked (struct layer_store *st, struct layer *l)
{
  CLEANUP_JSON_DECREF json_t *j = NULL;
  json_t *diffs = json_array ();
  struct layer_info info;

  fill_info (st, l, &info);
  for (struct diff *d = l->top; d && diffs; d = d->parent)
    if (json_array_append_new (diffs, diff_json (st, d, l->stack)) == -1)
      break;
  j = json_pack ("{s:s, s:s, s:s, s:I, s:I, s:I, s:i, s:b, s:b, s:b, s:o}", "id", info.id, "parent",
                 info.parent, "top_diff", info.top_diff, "virtual_size",
                 (json_int_t)info.virtual_size, "owned_bytes", (json_int_t)info.owned_bytes,
                 "disk_bytes", (json_int_t)info.disk_bytes, "depth", (int)info.depth, "rw", info.rw,
                 "open", info.open, "base", l->top == st->base, "diffs", diffs);
  if (!j) {
    err_set (ENOMEM, "layer %s: json", l->id);
    return NULL;
  }
  return json_dumps (j, JSON_INDENT (2) | JSON_PRESERVE_ORDER);
}

char *
layer_inspect_json (struct layer_store *st, const char *id)
{
  struct layer *l;
  char *r = NULL;

  if (check_id (id) == -1)
    return NULL;
  pthread_mutex_lock (&st->lock);
  if ((l = store_find_layer (st, id)))
    r = inspect_locked (st, l);
  else
    err_set (ENOENT, "layer %s does not exist", id);
  pthread_mutex_unlock (&st->lock);
  return r;
}

uint64_t
layer_store_disk_bytes (struct layer_store *st)
{
  uint64_t n = 0;

  pthread_mutex_lock (&st->lock);
  for (struct diff *d = st->diffs; d; d = d->next)
    n += diff_disk_bytes (st, d);
  pthread_mutex_unlock (&st->lock);
  return n;
}
