/* layer.c: layers — <home>/layers/<id>.json naming the layer's top diff — and their creation
 * and removal.  Creating a child is O(1): it gets a new empty top diff over its parent's top
 * diff, which becomes sealed (immutable).  The rule for a sealed parent that is written again:
 * an open writable parent is sealed live (stack_seal: flush, then a fresh top diff for it); a
 * closed one keeps its sealed top and gets a fresh top diff the next time it is opened writable.
 * Sealing writes nothing: a diff is sealed when another diff names it as parent (derived at
 * open), so a diff whose children are all removed becomes writable again after a restart.
 * The layer json is the commit point: a new layer's is written after its diff's files and
 * synced together with them (one journal commit; an empty json after a crash is a create
 * that never committed), a changed one is replaced atomically once the diff it names is
 * durable. */
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "layers/internal.h"

static char *
layer_path (struct layer_store *st, const char *id)
{
  return xasprintf ("%s/layers/%s.json", st->home, id);
}

/* L's json: replaced atomically and durably, or with B a new file, durable once B is run. */
static int
write_layer (struct layer_store *st, const struct layer *l, struct fsync_batch *b)
{
  CLEANUP_FREE char *path = layer_path (st, l->id);
  CLEANUP_JSON_DECREF json_t *j = NULL;

  if (!path)
    return -1;
  j = json_pack ("{s:s, s:s, s:s, s:I, s:b, s:s, s:I}", "id", l->id, "parent", l->parent, "top",
                 l->top->id, "virtual_size", (json_int_t)l->top->size, "rw", l->rw, "state",
                 "ready", "created", (json_int_t)l->created);
  if (!j) {
    err_set (ENOMEM, "layer %s: json", l->id);
    return -1;
  }
  if ((b ? json_save_new (path, j, b) : json_save_path (path, j)) == -1) {
    err_prefix ("layer %s", l->id);
    return -1;
  }
  return 0;
}

int
layer_save (struct layer_store *st, const struct layer *l)
{
  return write_layer (st, l, NULL);
}

/* NULL with errno ESTALE when the file is an unfinished create/remove to drop. */
struct layer *
layer_load (struct layer_store *st, const char *path)
{
  CLEANUP_JSON_DECREF json_t *j = NULL;
  const char *id, *parent, *top, *state;
  struct layer *l;
  json_int_t created = 0;
  int rw = 1;
  struct stat sb;

  /* empty: a create that a crash stopped before its commit reached the disk */
  if (stat (path, &sb) == 0 && sb.st_size == 0) {
    err_set (ESTALE, "%s is empty: an unfinished create", path);
    return NULL;
  }
  if (!(j = json_load_path (path)))
    return NULL;
  id = json_str (j, "id"), parent = json_str (j, "parent");
  top = json_str (j, "top"), state = json_str (j, "state");
  json_unpack (j, "{s?:b, s?:I}", "rw", &rw, "created", &created);
  if (!id || !top || !state || check_id (id) == -1 || (parent && *parent && check_id (parent))) {
    err_set (EINVAL, "%s: bad layer metadata", path);
    return NULL;
  }
  if (strcmp (state, "ready")) {
    err_set (ESTALE, "layer %s was left '%s'", id, state);
    return NULL;
  }
  if (!(l = calloc (1, sizeof *l))) {
    err_set (errno, "calloc");
    return NULL;
  }
  snprintf (l->id, sizeof l->id, "%s", id);
  snprintf (l->parent, sizeof l->parent, "%s", parent ? parent : "");
  l->rw = rw, l->created = created;
  if (!(l->top = store_find_diff (st, top))) {
    err_set (ESTALE, "layer %s: its top diff %s is missing", id, top);
    free (l);
    return NULL;
  }
  return l;
}

unsigned
layer_depth (const struct layer *l)
{
  unsigned n = 0;
  for (const struct diff *d = l->top; d; d = d->parent)
    n++;
  return n;
}

/* Seal D: immutable from now on.  Nothing is written: on disk a diff is sealed exactly when
 * another diff names it as parent (store_open derives it), and the child's files are made
 * durable no later than the layer json that names the child.  M, if given, counts D's blocks for `inspect`. */
void
seal_diff (struct diff *d, const struct bmap *m)
{
  if (d->sealed)
    return;
  d->sealed = true;
  if (m)
    d->owned_blocks = bmap_count_owned (m);
}

/* A new ready diff of SIZE over BELOW, added to the store, durable once B is run. */
static struct diff *
new_diff (struct layer_store *st, struct diff *below, uint64_t size, struct fsync_batch *b)
{
  struct diff *d = diff_create (st, below, size, b);

  if (!d)
    return NULL;
  d->next = st->diffs;
  st->diffs = d;
  return d;
}

/* Give L a fresh top diff over its current (sealed) top and commit it: the diff's files are
 * durable before the layer json names it. */
int
layer_fresh_top (struct layer_store *st, struct layer *l)
{
  struct fsync_batch b = { .n = 0 };
  struct diff *old = l->top, *d = new_diff (st, old, old->size, &b);

  if (!d || fsync_batch_run (&b) == -1) {
    fsync_batch_clear (&b);
    store_gc (st);
    return -1;
  }
  l->top = d;
  if (layer_save (st, l) == -1) {
    l->top = old;
    store_gc (st);
    return -1;
  }
  return 0;
}

static int
check_create (struct layer_store *st, const char *id, const char *parent, struct layer **pl)
{
  *pl = NULL;
  if (st->read_only) {
    err_set (EROFS, "layer %s: the store is open read-only", id);
    return -1;
  }
  if (check_id (id) == -1 || (parent && check_id (parent) == -1)) {
    err_prefix ("layer %s", id);
    return -1;
  }
  if (store_find_layer (st, id)) {
    err_set (EEXIST, "layer %s already exists", id);
    return -1;
  }
  if (parent && !(*pl = store_find_layer (st, parent))) {
    err_set (ENOENT, "layer %s: parent layer %s does not exist", id, parent);
    return -1;
  }
  return 0;
}

static int
create_locked (struct layer_store *st, const char *id, const char *parent, uint64_t size, bool rw,
               struct fsync_batch *fb)
{
  struct layer *pl, *l;
  struct diff *below;
  char a[32], b[32];

  if (check_create (st, id, parent, &pl) == -1)
    return -1;
  below = pl ? pl->top : st->base;
  size = size ? (size + LAYER_BS - 1) / LAYER_BS * LAYER_BS : below->size;
  if (size < below->size) {
    err_set (EINVAL, "layer %s: size %s is smaller than its parent's %s", id,
             fmt_size (size, a, sizeof a), fmt_size (below->size, b, sizeof b));
    return -1;
  }
  if (pl && pl->stack && pl->stack->rw) {
    if (stack_seal (pl->stack) == -1)
      return -1;
    below = pl->top->parent;
  } else
    seal_diff (below, NULL);
  if (!(l = calloc (1, sizeof *l))) {
    err_set (errno, "calloc");
    return -1;
  }
  snprintf (l->id, sizeof l->id, "%s", id);
  snprintf (l->parent, sizeof l->parent, "%s", parent ? parent : "");
  l->rw = rw, l->created = time (NULL);
  /* The diff's files and the layer json go to disk together: one journal commit, not five. */
  if (!(l->top = new_diff (st, below, size, fb)) || write_layer (st, l, fb) == -1) {
    CLEANUP_FREE char *path = layer_path (st, id);
    if (path)
      unlink (path);
    fsync_batch_clear (fb);
    free (l);
    store_gc (st);
    return -1;
  }
  l->next = st->layers;
  st->layers = l;
  log_debug ("layers", "created layer %s (top diff %s)", id, l->top->id);
  return 0;
}

int
layer_create_in (struct layer_store *st, const char *id, const char *parent, uint64_t size, bool rw,
                 struct fsync_batch *b)
{
  pthread_mutex_lock (&st->lock);
  int r = create_locked (st, id, parent, size, rw, b);
  pthread_mutex_unlock (&st->lock);
  return r;
}

int
layer_create (struct layer_store *st, const char *id, const char *parent, uint64_t size, bool rw)
{
  struct fsync_batch b = { .n = 0 };

  if (layer_create_in (st, id, parent, size, rw, &b) == -1)
    return -1;
  if (fsync_batch_run (&b) == -1) {
    CLEANUP_FREE char *msg = strdup (err_get ());
    int en = err_errno ();
    if (layer_remove (st, id) == -1)
      log_warn ("layer %s: undo of the create: %s", id, err_get ());
    err_set (en, "layer %s: %s", id, msg ? msg : "sync failed");
    return -1;
  }
  return 0;
}

static int
remove_locked (struct layer_store *st, const char *id)
{
  CLEANUP_FREE char *path = NULL;
  struct layer *l = store_find_layer (st, id);

  if (!l) {
    err_set (ENOENT, "layer %s does not exist", id);
    return -1;
  }
  if (st->read_only) {
    err_set (EROFS, "layer %s: the store is open read-only", id);
    return -1;
  }
  if (l->stack) {
    err_set (EBUSY, "layer %s is open (in use by %u users): close it before removing it", id,
             l->stack->refs);
    return -1;
  }
  if (!(path = layer_path (st, id)))
    return -1;
  /* No fsync: should a power loss bring the file back, either its top diff is gone too and
   * the layer is dropped at open (layer_load: ESTALE), or it is a layer nobody uses. */
  if (unlink (path) == -1) {
    err_set (errno, "layer %s: unlink %s", id, path);
    return -1;
  }
  for (struct layer **p = &st->layers; *p; p = &(*p)->next)
    if (*p == l) {
      *p = l->next;
      break;
    }
  free (l);
  return store_gc (st);
}

int
layer_remove (struct layer_store *st, const char *id)
{
  if (check_id (id) == -1) {
    err_prefix ("remove");
    return -1;
  }
  pthread_mutex_lock (&st->lock);
  int r = remove_locked (st, id);
  pthread_mutex_unlock (&st->lock);
  return r;
}

bool
layer_exists (struct layer_store *st, const char *id)
{
  if (check_id (id) == -1)
    return false;
  pthread_mutex_lock (&st->lock);
  bool r = store_find_layer (st, id) != NULL;
  pthread_mutex_unlock (&st->lock);
  return r;
}

bool
layer_is_open (struct layer_store *st, const char *id)
{
  pthread_mutex_lock (&st->lock);
  struct layer *l = store_find_layer (st, id);
  bool r = l && l->stack;
  pthread_mutex_unlock (&st->lock);
  return r;
}
