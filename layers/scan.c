/* scan.c: read a layer store's files straight from disk for `buse fsck`, `buse gc` and
 * `buse du` — store.json, every diffs/<id>/meta.json, every layers/<id>.json, the names under
 * mnt/ — and work out which diffs each layer's chain holds.  It takes no lock and changes
 * nothing, so it may run beside a daemon; what it reads half-written is reported, not fixed. */
#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>

#include "layers/internal.h"

uint64_t
layer_map_size (uint64_t size)
{
  return bmap_file_size (size / LAYER_BS);
}

static void
copy (char *dst, size_t len, const char *src)
{
  snprintf (dst, len, "%s", src ? src : "");
}

static void
load_diff (struct scan_store *s, const char *id, struct scan_diff *d)
{
  CLEANUP_FREE char *path = xasprintf ("%s/diffs/%s/meta.json", s->home, id);
  CLEANUP_JSON_DECREF json_t *j = path ? json_load_path (path) : NULL;
  json_int_t size = 0;

  memset (d, 0, sizeof *d);
  copy (d->id, sizeof d->id, id);
  if (!j)
    return;
  copy (d->parent, sizeof d->parent, json_str (j, "parent"));
  copy (d->state, sizeof d->state, json_str (j, "state"));
  if (json_unpack (j, "{s:I}", "virtual_size", &size) == -1 || size <= 0 || size % 4096)
    return;
  d->size = size;
  d->meta_ok = *d->state && json_str (j, "id") && !strcmp (json_str (j, "id"), id);
}

static void
load_layer (struct scan_store *s, const char *file, struct scan_layer *l)
{
  CLEANUP_FREE char *path = xasprintf ("%s/layers/%s", s->home, file);
  CLEANUP_JSON_DECREF json_t *j = path ? json_load_path (path) : NULL;

  memset (l, 0, sizeof *l);
  snprintf (l->id, sizeof l->id, "%.*s", (int)(strlen (file) - 5), file);
  if (!j)
    return;
  copy (l->parent, sizeof l->parent, json_str (j, "parent"));
  copy (l->top, sizeof l->top, json_str (j, "top"));
  copy (l->state, sizeof l->state, json_str (j, "state"));
  l->ok = *l->top && json_str (j, "id") && !strcmp (json_str (j, "id"), l->id);
}

/* Names in HOME/SUB (not starting with '.'); -1 + err when it cannot be read. */
static int
list_dir (const char *home, const char *sub, char ***names, size_t *n)
{
  CLEANUP_FREE char *path = xasprintf ("%s/%s", home, sub);
  DIR *dir = path ? opendir (path) : NULL;
  struct dirent *e;

  *names = NULL, *n = 0;
  if (!dir) {
    err_set (errno, "opendir %s", path);
    return -1;
  }
  while ((e = readdir (dir))) {
    char **nv;
    if (e->d_name[0] == '.')
      continue;
    if (!(nv = realloc (*names, (*n + 1) * sizeof *nv)) || !(nv[*n] = strdup (e->d_name))) {
      *names = nv ? nv : *names;
      closedir (dir);
      err_set (ENOMEM, "scan %s", path);
      return -1;
    }
    *names = nv;
    (*n)++;
  }
  closedir (dir);
  return 0;
}

static void
free_names (char **v, size_t n)
{
  for (size_t i = 0; i < n; i++)
    free (v[i]);
  free (v);
}

static int
cmp_str (const void *a, const void *b)
{
  return strcmp (*(char *const *)a, *(char *const *)b);
}

static int
scan_layers (struct scan_store *s)
{
  char **names;
  size_t n;

  if (list_dir (s->home, "layers", &names, &n) == -1)
    return -1;
  qsort (names, n, sizeof *names, cmp_str);
  s->l = calloc (n ? n : 1, sizeof *s->l);
  for (size_t i = 0; s->l && i < n; i++) {
    size_t len = strlen (names[i]);
    if (len > 5 && len - 5 <= LAYER_ID_MAX && !strcmp (names[i] + len - 5, ".json"))
      load_layer (s, names[i], &s->l[s->nl++]);
  }
  free_names (names, n);
  return s->l ? 0 : -1;
}

static int
scan_diffs (struct scan_store *s)
{
  char **names;
  size_t n;

  if (list_dir (s->home, "diffs", &names, &n) == -1)
    return -1;
  qsort (names, n, sizeof *names, cmp_str);
  s->d = calloc (n ? n : 1, sizeof *s->d);
  for (size_t i = 0; s->d && i < n; i++)
    if (strlen (names[i]) <= LAYER_ID_MAX)
      load_diff (s, names[i], &s->d[s->nd++]);
  free_names (names, n);
  return s->d ? 0 : -1;
}

static void
count_user (void *cbdata, struct scan_diff *d)
{
  (void)cbdata;
  d->users++;
  d->reached = true;
}

int
store_scan (const char *home, struct scan_store *s)
{
  CLEANUP_FREE char *path = xasprintf ("%s/store.json", home);
  CLEANUP_JSON_DECREF json_t *j = NULL;

  memset (s, 0, sizeof *s);
  if (!path || !(s->home = strdup (home)))
    return -1;
  if ((j = json_load_path (path))) {
    copy (s->base, sizeof s->base, json_str (j, "base"));
    s->store_ok = *s->base != 0;
  } else if (errno == ENOENT) {
    err_set (ENOENT, "%s is not a layer store (no store.json)", home);
    return -1;
  }
  if (scan_diffs (s) == -1 || scan_layers (s) == -1)
    return -1;
  if (list_dir (home, "mnt", &s->mnt, &s->nmnt) == -1 && errno != ENOENT)
    return -1;
  for (size_t i = 0; i < s->nl; i++)
    scan_chain (s, &s->l[i], count_user, NULL);
  struct scan_diff *b = scan_find_diff (s, s->base);
  for (; b; b = *b->parent ? scan_find_diff (s, b->parent) : NULL)
    b->reached = true;
  return 0;
}

void
scan_store_free (struct scan_store *s)
{
  if (!s)
    return;
  free_names (s->mnt, s->nmnt);
  free (s->d);
  free (s->l);
  free (s->home);
  memset (s, 0, sizeof *s);
}

struct scan_diff *
scan_find_diff (struct scan_store *s, const char *id)
{
  for (size_t i = 0; i < s->nd; i++)
    if (!strcmp (s->d[i].id, id))
      return &s->d[i];
  return NULL;
}

struct scan_layer *
scan_find_layer (struct scan_store *s, const char *id)
{
  for (size_t i = 0; i < s->nl; i++)
    if (!strcmp (s->l[i].id, id))
      return &s->l[i];
  return NULL;
}

void
scan_chain (struct scan_store *s, const struct scan_layer *l,
            void (*fn) (void *cbdata, struct scan_diff *d), void *cbdata)
{
  struct scan_diff *d = l->ok ? scan_find_diff (s, l->top) : NULL;

  for (size_t steps = 0; d && steps <= s->nd; steps++) {
    fn (cbdata, d);
    d = *d->parent ? scan_find_diff (s, d->parent) : NULL;
  }
}

int
store_lock_try (const char *home)
{
  CLEANUP_FREE char *path = xasprintf ("%s/lock", home);
  int fd;

  if (!path)
    return -1;
  fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd == -1) {
    err_set (errno, "open %s", path);
    return -1;
  }
  if (flock (fd, LOCK_EX | LOCK_NB) == -1) {
    err_set (errno == EWOULDBLOCK ? EBUSY : errno,
             "the store is in use (a daemon holds %s): stop `buse serve` first", path);
    close (fd);
    return -1;
  }
  return fd;
}
