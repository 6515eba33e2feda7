/* recover.c: read a store's diffs and layers into memory at open, finishing or rolling back
 * what a crash interrupted: a diff left "creating" (never named by a layer) or "removing" is
 * deleted, a diff whose parent is gone is deleted, a layer json left "creating" is rolled back,
 * one left "removing" is finished, and stale *.tmp files of atomic writes are removed.
 * A read-only store (layer_store_open_ro) deletes nothing and just skips what is not ready. */
#include <dirent.h>
#include <string.h>

#include "layers/internal.h"

struct pending {
  struct diff *d;
  char *parent_id;
};

static void
drop_dir (struct layer_store *st, const char *name, const char *why)
{
  if (st->read_only)
    return;
  log_info ("store %s: removing diff %s (%s)", st->home, name, why);
  if (diff_delete_files (st, name) == -1)
    log_warn ("%s", err_get ());
}

static int
read_diff_dir (struct layer_store *st, struct pending **pv, size_t *n)
{
  CLEANUP_FREE char *path = xasprintf ("%s/diffs", st->home);
  DIR *dir;
  struct dirent *e;

  if (!path || !(dir = opendir (path))) {
    err_set (errno, "opendir %s", path);
    return -1;
  }
  while ((e = readdir (dir))) {
    char *parent_id = NULL;
    const char *state = NULL;
    struct diff *d;
    struct pending *nv;

    if (e->d_name[0] == '.')
      continue;
    if (!(d = diff_load (st, e->d_name, &parent_id, &state)) || strcmp (state, "ready")) {
      drop_dir (st, e->d_name, d ? state : err_get ());
      diff_free (d);
      free (parent_id);
      continue;
    }
    if (!(nv = realloc (*pv, (*n + 1) * sizeof **pv))) {
      diff_free (d), free (parent_id), closedir (dir);
      err_set (ENOMEM, "diff table");
      return -1;
    }
    *pv = nv;
    (*pv)[(*n)++] = (struct pending){ d, parent_id };
  }
  closedir (dir);
  return 0;
}

/* Link parents; diffs whose parent is missing are dropped (repeatedly: their children too). */
static void
link_parents (struct layer_store *st, struct pending *pv, size_t n)
{
  bool changed = true;

  for (size_t i = 0; i < n; i++)
    pv[i].d->next = st->diffs, st->diffs = pv[i].d;
  while (changed) {
    changed = false;
    for (size_t i = 0; i < n; i++) {
      if (!pv[i].d || !pv[i].parent_id || pv[i].d->parent)
        continue;
      if ((pv[i].d->parent = store_find_diff (st, pv[i].parent_id)))
        continue;
      for (struct diff **p = &st->diffs; *p; p = &(*p)->next)
        if (*p == pv[i].d) {
          *p = pv[i].d->next;
          break;
        }
      drop_dir (st, pv[i].d->id, "its parent is missing");
      diff_free (pv[i].d);
      pv[i].d = NULL;
      changed = true;
    }
  }
}

int
store_load_diffs (struct layer_store *st)
{
  struct pending *pv = NULL;
  size_t n = 0;
  int r = read_diff_dir (st, &pv, &n);

  if (r == 0)
    link_parents (st, pv, n);
  else
    for (size_t i = 0; i < n; i++)
      diff_free (pv[i].d);
  for (size_t i = 0; i < n; i++)
    free (pv[i].parent_id);
  free (pv);
  return r;
}

static bool
has_suffix (const char *s, const char *suffix)
{
  size_t a = strlen (s), b = strlen (suffix);
  return a > b && !strcmp (s + a - b, suffix);
}

static void
drop_file (struct layer_store *st, const char *path, const char *why)
{
  if (st->read_only)
    return;
  log_info ("store %s: removing %s (%s)", st->home, path, why);
  if (unlink (path) == -1)
    log_warn ("unlink %s: %m", path);
  fsync_dir_of (path);
}

int
store_load_layers (struct layer_store *st)
{
  CLEANUP_FREE char *path = xasprintf ("%s/layers", st->home);
  DIR *dir;
  struct dirent *e;

  if (!path || !(dir = opendir (path))) {
    err_set (errno, "opendir %s", path);
    return -1;
  }
  while ((e = readdir (dir))) {
    CLEANUP_FREE char *file = NULL;
    struct layer *l;

    if (e->d_name[0] == '.' || !(file = xasprintf ("%s/%s", path, e->d_name)))
      continue;
    if (has_suffix (e->d_name, ".tmp")) {
      drop_file (st, file, "unfinished write");
      continue;
    }
    if (!has_suffix (e->d_name, ".json"))
      continue;
    if (!(l = layer_load (st, file))) {
      if (err_errno () == ESTALE)
        drop_file (st, file, err_get ());
      else
        log_warn ("store %s: skipping %s", st->home, err_get ());
      continue;
    }
    l->next = st->layers;
    st->layers = l;
  }
  closedir (dir);
  return 0;
}
