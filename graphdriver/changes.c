/* changes.c: gd_changes and gd_diff_size — Docker's naive diff of two rootfs trees.
 *
 * Mirrors moby 20.10 ChangesDirs (collectFileInfoForChanges + FileInfo.addChanges): both
 * trees are walked in parallel, names sorted bytewise; a name present in both with the same
 * inode on the same device is pruned unseen; an entry is modified when mode, uid, gid or
 * rdev differ, or (non-directories) mtime or size differ, or security.capability differs;
 * the children of a deleted directory are not listed; a directory with changes below it is
 * listed as modified.  The list is sorted by path, as ExportChanges sorts it.
 * gd_diff_size counts the bytes of regular files added or modified, each inode once: the
 * same number gd_apply_tar reports when applying the tar gd_write_diff makes of it (moby's
 * ChangesSize also counts symlink target lengths, which its own ApplyDiff does not). */
#include <dirent.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include "graphdriver/archive-internal.h"

#define CAP_MAX 64

struct walk {
  const char *root, *parent;
  struct gd_change *v;
  size_t n, cap;
};

struct node {
  bool exists;
  struct stat st;
  size_t caplen;
  unsigned char cap[CAP_MAX];
};

static int
emit (struct walk *w, const char *rel, enum gd_change_kind kind)
{
  if (w->n == w->cap) {
    size_t cap = w->cap ? 2 * w->cap : 64;
    struct gd_change *v = realloc (w->v, cap * sizeof *v);
    if (v == NULL) {
      err_set (errno, "realloc");
      return -1;
    }
    w->v = v;
    w->cap = cap;
  }
  w->v[w->n].path = strdup (rel);
  if (w->v[w->n].path == NULL) {
    err_set (errno, "strdup");
    return -1;
  }
  w->v[w->n++].kind = kind;
  return 0;
}

static int
cmp_name (const void *a, const void *b)
{
  return strcmp (*(char *const *)a, *(char *const *)b);
}

static void
free_names (char **v, size_t n)
{
  size_t i;
  for (i = 0; i < n; i++)
    free (v[i]);
  free (v);
}

/* Sorted names of directory PATH (NULL, 0 when BASE is NULL). */
static int
read_names (const char *base, const char *rel, char ***out, size_t *n)
{
  CLEANUP_FREE char *path = NULL;
  struct dirent *de;
  size_t cap = 0;
  DIR *d;

  *out = NULL;
  *n = 0;
  if (base == NULL)
    return 0;
  path = xasprintf ("%s%s", base, rel);
  d = path ? opendir (path) : NULL;
  if (d == NULL) {
    err_set (errno, "opendir %s", path ? path : base);
    return -1;
  }
  while ((de = readdir (d)) != NULL) {
    if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
      continue;
    if (*n == cap) {
      char **v = realloc (*out, (cap = cap ? 2 * cap : 32) * sizeof *v);
      if (v == NULL)
        goto err;
      *out = v;
    }
    if (((*out)[*n] = strdup (de->d_name)) == NULL)
      goto err;
    (*n)++;
  }
  closedir (d);
  if (*n > 0)
    qsort (*out, *n, sizeof **out, cmp_name);
  return 0;
err:
  err_set (ENOMEM, "readdir %s", path);
  closedir (d);
  free_names (*out, *n);
  *out = NULL;
  return -1;
}

static int
stat_node (const char *base, const char *rel, struct node *nd)
{
  CLEANUP_FREE char *path = xasprintf ("%s%s", base, rel);
  ssize_t r;

  nd->exists = false;
  if (path == NULL)
    return -1;
  if (lstat (path, &nd->st) == -1) {
    if (errno == ENOENT)
      return 0;
    err_set (errno, "lstat %s", path);
    return -1;
  }
  nd->exists = true;
  r = lgetxattr (path, "security.capability", nd->cap, sizeof nd->cap);
  nd->caplen = r > 0 ? r : 0;
  return 0;
}

static bool
same_time (const struct timespec *a, const struct timespec *b)
{
  return a->tv_sec == b->tv_sec && (a->tv_nsec == b->tv_nsec || a->tv_nsec == 0 || b->tv_nsec == 0);
}

static bool
node_differs (const struct node *o, const struct node *n)
{
  if (o->st.st_mode != n->st.st_mode || o->st.st_uid != n->st.st_uid ||
      o->st.st_gid != n->st.st_gid || o->st.st_rdev != n->st.st_rdev)
    return true;
  if (!S_ISDIR (o->st.st_mode) &&
      (!same_time (&o->st.st_mtim, &n->st.st_mtim) || o->st.st_size != n->st.st_size))
    return true;
  return o->caplen != n->caplen || memcmp (o->cap, n->cap, o->caplen) != 0;
}

static int walk_dir (struct walk *w, const char *rel, bool old_is_dir, bool listed);

/* NAME is in the new tree, maybe in the old one. */
static int
walk_child (struct walk *w, const char *rel, bool in_old)
{
  struct node o = { 0 }, nw;
  bool changed;

  if (stat_node (w->root, rel, &nw) == -1 || (in_old && stat_node (w->parent, rel, &o) == -1))
    return -1;
  if (!nw.exists)
    return in_old && o.exists ? emit (w, rel, GD_CHANGE_DELETE) : 0; /* vanished meanwhile */
  if (!o.exists) {
    if (emit (w, rel, GD_CHANGE_ADD) == -1)
      return -1;
    return S_ISDIR (nw.st.st_mode) ? walk_dir (w, rel, false, true) : 0;
  }
  if (o.st.st_ino == nw.st.st_ino && o.st.st_dev == nw.st.st_dev)
    return 0; /* the same file in both trees: pruned, as moby's walker does */
  changed = node_differs (&o, &nw);
  if (changed && emit (w, rel, GD_CHANGE_MODIFY) == -1)
    return -1;
  if (!S_ISDIR (nw.st.st_mode))
    return 0;
  return walk_dir (w, rel, S_ISDIR (o.st.st_mode), changed);
}

/* Directory REL of the new tree against REL of the old tree (a directory when OLD_IS_DIR).
 * LISTED: REL itself is already in the list (added or modified). */
static int
walk_dir (struct walk *w, const char *rel, bool old_is_dir, bool listed)
{
  char **nn = NULL, **on = NULL;
  size_t n_new, n_old, i = 0, j = 0, at = w->n;
  int r = 0;

  if (read_names (w->root, rel, &nn, &n_new) == -1 ||
      read_names (old_is_dir ? w->parent : NULL, rel, &on, &n_old) == -1) {
    free_names (nn, n_new);
    return -1;
  }
  while (r == 0 && (i < n_new || j < n_old)) {
    int c = i == n_new ? 1 : j == n_old ? -1 : strcmp (nn[i], on[j]);
    const char *name = c <= 0 ? nn[i] : on[j];
    CLEANUP_FREE char *child = xasprintf ("%s/%s", rel, name);
    if (child == NULL)
      r = -1;
    else if (c > 0)
      r = emit (w, child, GD_CHANGE_DELETE);
    else
      r = walk_child (w, child, c == 0);
    i += c <= 0;
    j += c >= 0;
  }
  free_names (nn, n_new);
  free_names (on, n_old);
  if (r == 0 && w->n > at && !listed && *rel)
    r = emit (w, rel, GD_CHANGE_MODIFY);
  return r;
}

static int
cmp_change (const void *a, const void *b)
{
  return strcmp (((const struct gd_change *)a)->path, ((const struct gd_change *)b)->path);
}

int
gd_changes (const char *root, const char *parent_root, struct gd_change **out, size_t *n)
{
  struct walk w = { .root = root, .parent = parent_root };
  struct stat st;

  if (parent_root && lstat (parent_root, &st) == -1) {
    err_set (errno, "changes: %s", parent_root);
    return -1;
  }
  if (walk_dir (&w, "", parent_root != NULL, true) == -1) {
    err_prefix ("changes");
    gd_changes_free (w.v, w.n);
    return -1;
  }
  if (w.n > 0)
    qsort (w.v, w.n, sizeof *w.v, cmp_change);
  *out = w.v;
  *n = w.n;
  return 0;
}

void
gd_changes_free (struct gd_change *changes, size_t n)
{
  size_t i;

  for (i = 0; changes && i < n; i++)
    free (changes[i].path);
  free (changes);
}

int
gd_diff_size (const char *root, const char *parent_root, uint64_t *size)
{
  struct gd_change *v;
  struct afs_strset seen = { 0 };
  size_t n, i;
  int r = 0;

  if (gd_changes (root, parent_root, &v, &n) == -1)
    return -1;
  *size = 0;
  for (i = 0; r == 0 && i < n; i++) {
    CLEANUP_FREE char *path = NULL, *key = NULL;
    struct stat st;
    if (v[i].kind == GD_CHANGE_DELETE)
      continue;
    path = xasprintf ("%s%s", root, v[i].path);
    if (path == NULL || lstat (path, &st) == -1 || !S_ISREG (st.st_mode))
      continue; /* vanished meanwhile: moby logs and goes on */
    if (st.st_nlink > 1) {
      key = xasprintf ("%ju:%ju", (uintmax_t)st.st_dev, (uintmax_t)st.st_ino);
      if (key == NULL || afs_strset_has (&seen, key))
        continue;
      r = afs_strset_add (&seen, key);
    }
    *size += st.st_size;
  }
  afs_strset_free (&seen);
  gd_changes_free (v, n);
  return r;
}
