/* changes.c: ar_changes and ar_diff_size — Docker's naive diff of two rootfs trees.
 *
 * Mirrors moby 20.10 ChangesDirs (collectFileInfoForChanges + FileInfo.addChanges): both
 * trees are walked in parallel, names sorted bytewise; a name present in both with the same
 * inode on the same device is pruned unseen; an entry is modified when mode, uid, gid or
 * rdev differ, or (non-directories) mtime or size differ, or security.capability differs;
 * the children of a deleted directory are not listed; a directory with changes below it is
 * listed as modified.  The list is sorted by path, as ExportChanges sorts it.
 * ar_diff_size is moby's ChangesSize, what Docker's own drivers report as a container's size
 * (SizeRw): the lstat size of every added or modified non-directory, symlinks included (their
 * target's length), an inode with several links once.  It is not ApplyDiff's size, which
 * leaves symlinks out; dockerd asks DiffSize only for SizeRw.
 *
 * Guided walk (changes-guide.h): when the calling thread set a guide for these two trees, an
 * entry whose inode is not a candidate is the same file in both trees (same inode number,
 * same inode), so it is neither stat-ed nor compared, and a directory whose inode is not a
 * candidate has the same entries in both, so the parent's listing is not read; only its
 * subdirectories are walked.  The result is exactly the naive one (BUSE_CHANGES=verify
 * checks that on every call; BUSE_CHANGES=naive turns the guide off).  The guide may carry the
 * parent read in-process (changes-ext2.c) instead of a mount of it: then the parent's
 * listings and stats come from there, and its "root" is only a name. */
#include <dirent.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include "archive/internal.h"

#define CAP_MAX 64

struct walk {
  const char *root, *parent;
  const struct ar_guide *g; /* NULL: naive */
  struct ar_ext2 *px;       /* the parent in-process (NULL: mounted on PARENT) */
  size_t ndirs, nstats;     /* directories read, entries stat-ed (for the debug log) */
  struct ar_change *v;
  size_t n, cap;
};

/* One directory entry: its name, inode number and type (DT_*). */
struct ent {
  char *name;
  uint64_t ino;
  unsigned char type;
};

static __thread const struct ar_guide *thread_guide;

struct node {
  bool exists;
  struct stat st;
  size_t caplen;
  unsigned char cap[CAP_MAX];
};

static int
emit (struct walk *w, const char *rel, enum ar_change_kind kind)
{
  if (w->n == w->cap) {
    size_t cap = w->cap ? 2 * w->cap : 64;
    struct ar_change *v = realloc (w->v, cap * sizeof *v);
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
  return strcmp (((const struct ent *)a)->name, ((const struct ent *)b)->name);
}

static void
free_names (struct ent *v, size_t n)
{
  size_t i;
  for (i = 0; i < n; i++)
    free (v[i].name);
  free (v);
}

/* A listing being read; with QUIET (a guide), only the entries a quiet directory's walk looks
 * at: directories and candidates. */
struct names {
  struct ent *v;
  size_t n, cap;
  const struct ar_guide *quiet;
};

static int
add_name (void *cbdata, const char *name, uint64_t ino, unsigned char type)
{
  struct names *ns = cbdata;

  if (ns->quiet && type != DT_DIR && type != DT_UNKNOWN && !ar_guide_has (ns->quiet, ino))
    return 0;
  if (ns->n == ns->cap) {
    size_t cap = ns->cap ? 2 * ns->cap : 32;
    struct ent *v = realloc (ns->v, cap * sizeof *v);
    if (v == NULL) {
      err_set (ENOMEM, "realloc");
      return -1;
    }
    ns->v = v, ns->cap = cap;
  }
  if ((ns->v[ns->n].name = strdup (name)) == NULL) {
    err_set (ENOMEM, "strdup");
    return -1;
  }
  ns->v[ns->n].ino = ino;
  ns->v[ns->n++].type = type;
  return 0;
}

/* Entries of directory BASE+REL sorted by name (NULL, 0 when BASE is NULL), filtered by
 * QUIET (see struct names). */
static int
read_names (const char *base, const char *rel, const struct ar_guide *quiet, struct ent **out,
            size_t *n)
{
  CLEANUP_FREE char *path = NULL;
  struct names ns = { .quiet = quiet };
  struct dirent *de;
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
    if (add_name (&ns, de->d_name, de->d_ino, de->d_type) == -1)
      goto err;
  }
  closedir (d);
  if (ns.n > 0)
    qsort (ns.v, ns.n, sizeof *ns.v, cmp_name);
  *out = ns.v, *n = ns.n;
  return 0;
err:
  err_set (ENOMEM, "readdir %s", path);
  closedir (d);
  free_names (ns.v, ns.n);
  return -1;
}

/* Entries of directory REL of the parent read in-process, sorted, filtered by QUIET. */
static int
read_ext2_names (struct ar_ext2 *px, const char *rel, const struct ar_guide *quiet,
                 struct ent **out, size_t *n)
{
  struct names ns = { .quiet = quiet };

  *out = NULL, *n = 0;
  if (ar_ext2_list (px, rel, add_name, &ns) == -1) {
    free_names (ns.v, ns.n);
    return -1;
  }
  if (ns.n > 0)
    qsort (ns.v, ns.n, sizeof *ns.v, cmp_name);
  *out = ns.v, *n = ns.n;
  return 0;
}

/* The parent's entries of REL sorted by name, from its mount or in-process (none when
 * OLD_IS_DIR is false). */
static int
read_old_names (const struct walk *w, const char *rel, bool old_is_dir, struct ent **out, size_t *n)
{
  if (!w->px || !old_is_dir)
    return read_names (old_is_dir ? w->parent : NULL, rel, NULL, out, n);
  return read_ext2_names (w->px, rel, NULL, out, n);
}

/* The layer's entries of REL sorted by name (QUIET: a quiet directory's, filtered).  A quiet
 * directory holds the same entries in both trees: with the parent in-process, they are read
 * there, not through the layer's mount (cold directory blocks through loop/FUSE/NBD). */
static int
read_new_names (const struct walk *w, const char *rel, bool quiet, struct ent **out, size_t *n)
{
  if (quiet && w->px)
    return read_ext2_names (w->px, rel, w->g, out, n);
  return read_names (w->root, rel, quiet ? w->g : NULL, out, n);
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

/* The parent's REL, from its mount or in-process. */
static int
stat_old (const struct walk *w, const char *rel, struct node *nd)
{
  if (!w->px)
    return stat_node (w->parent, rel, nd);
  return ar_ext2_stat (w->px, rel, &nd->st, nd->cap, sizeof nd->cap, &nd->caplen, &nd->exists);
}

static bool loose_times; /* ar_changes_loose_times */

void
ar_changes_loose_times (bool loose)
{
  loose_times = loose;
}

/* Exact by default, unlike moby's naive diff (same second and either nanosecond part 0 counts
 * as the same: tar drops nanoseconds, and copying drivers may too).  Between a layer and its
 * parent an unchanged file is the parent's very inode, block for block, so its mtime is equal
 * to the nanosecond; and a layer applied from a tar has whole-second mtimes, so moby's rule
 * missed a file changed within the same second as its parent was written (a fast classic
 * `docker build` lost RUN steps).  Trees of other origins (tests comparing a tar-applied tree
 * with its source) ask for moby's rule. */
static bool
same_time (const struct timespec *a, const struct timespec *b)
{
  return a->tv_sec == b->tv_sec &&
         (a->tv_nsec == b->tv_nsec || (loose_times && (a->tv_nsec == 0 || b->tv_nsec == 0)));
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

static int walk_dir (struct walk *w, const char *rel, bool old_is_dir, bool listed, uint64_t ino);

/* NAME is in the new tree, maybe in the old one. */
static int
walk_child (struct walk *w, const char *rel, bool in_old)
{
  struct node o = { 0 }, nw;
  bool changed;

  w->nstats++;
  if (stat_node (w->root, rel, &nw) == -1 || (in_old && stat_old (w, rel, &o) == -1))
    return -1;
  if (!nw.exists)
    return in_old && o.exists ? emit (w, rel, AR_CHANGE_DELETE) : 0; /* vanished meanwhile */
  if (!o.exists) {
    if (emit (w, rel, AR_CHANGE_ADD) == -1)
      return -1;
    return S_ISDIR (nw.st.st_mode) ? walk_dir (w, rel, false, true, 0) : 0;
  }
  if (o.st.st_ino == nw.st.st_ino && o.st.st_dev == nw.st.st_dev)
    return 0; /* the same file in both trees: pruned, as moby's walker does */
  changed = node_differs (&o, &nw);
  if (changed && emit (w, rel, AR_CHANGE_MODIFY) == -1)
    return -1;
  if (!S_ISDIR (nw.st.st_mode))
    return 0;
  /* the guide speaks of an inode of both trees: only when the name holds it in both */
  return walk_dir (w, rel, S_ISDIR (o.st.st_mode), changed,
                   o.st.st_ino == nw.st.st_ino ? nw.st.st_ino : 0);
}

/* Guided: entry E of the new tree (OLD: the old tree's entry of that name, NULL when the
 * directory is known to hold the same entries in both) is the same inode in both trees. */
static bool
unchanged (const struct walk *w, const struct ent *e, const struct ent *old)
{
  return w->g && e->type != DT_UNKNOWN && (!old || old->ino == e->ino) &&
         !ar_guide_has (w->g, e->ino);
}

/* Directory REL of the new tree against REL of the old tree (a directory when OLD_IS_DIR).
 * LISTED: REL itself is already in the list (added or modified).  INO: REL's inode, which
 * is also the old tree's REL (0: unknown).  Guided, a directory whose inode cannot differ
 * has the same entries in both trees ("quiet"): the old one is not read. */
static int
walk_dir (struct walk *w, const char *rel, bool old_is_dir, bool listed, uint64_t ino)
{
  struct ent *nn = NULL, *on = NULL;
  size_t n_new, n_old, i = 0, j = 0, at = w->n;
  bool quiet = old_is_dir && w->g && !ar_guide_has (w->g, ino);
  int r = 0;

  w->ndirs++;
  if (read_new_names (w, rel, quiet, &nn, &n_new) == -1 ||
      read_old_names (w, rel, old_is_dir && !quiet, &on, &n_old) == -1) {
    free_names (nn, n_new);
    return -1;
  }
  while (r == 0 && (i < n_new || j < n_old)) {
    int c = quiet ? 0 : i == n_new ? 1 : j == n_old ? -1 : strcmp (nn[i].name, on[j].name);
    const struct ent *e = c <= 0 ? &nn[i] : &on[j];
    CLEANUP_FREE char *child = xasprintf ("%s/%s", rel, e->name);
    if (child == NULL)
      r = -1;
    else if (c > 0)
      r = emit (w, child, AR_CHANGE_DELETE);
    else if (c == 0 && unchanged (w, e, quiet ? NULL : &on[j]))
      r = e->type == DT_DIR ? walk_dir (w, child, true, false, e->ino) : 0;
    else
      r = walk_child (w, child, c == 0);
    i += c <= 0;
    j += c >= 0 && !quiet;
  }
  free_names (nn, n_new);
  free_names (on, n_old);
  if (r == 0 && w->n > at && !listed && *rel)
    r = emit (w, rel, AR_CHANGE_MODIFY);
  return r;
}

static int
cmp_change (const void *a, const void *b)
{
  return strcmp (((const struct ar_change *)a)->path, ((const struct ar_change *)b)->path);
}

static int
walk_trees (const char *root, const char *parent_root, const struct ar_guide *g,
            struct ar_change **out, size_t *n)
{
  struct walk w = { .root = root, .parent = parent_root, .g = g, .px = g ? g->pfs : NULL };
  uint64_t t0 = now_ns ();
  struct stat st;

  if (parent_root && !w.px && lstat (parent_root, &st) == -1) {
    err_set (errno, "changes: %s", parent_root);
    return -1;
  }
  if (walk_dir (&w, "", parent_root != NULL, true, 0) == -1) {
    err_prefix ("changes");
    ar_changes_free (w.v, w.n);
    return -1;
  }
  if (w.n > 0)
    qsort (w.v, w.n, sizeof *w.v, cmp_change);
  log_debug ("gd",
             "changes %s: %zu, %s walk%s: %zu directories read, %zu entries compared (%.1f ms)",
             root, w.n, g ? "guided" : "naive", w.px ? " (parent in-process)" : "", w.ndirs,
             w.nstats, (now_ns () - t0) / 1e6);
  *out = w.v;
  *n = w.n;
  return 0;
}

/* BUSE_CHANGES=verify: the naive walk (on a mount of the parent) must give exactly V. */
static int
verify (const char *root, const struct ar_guide *g, const struct ar_change *v, size_t n)
{
  const char *parent_root = g->pfs ? g->mount_parent (g->ctx) : g->proot;
  struct ar_change *nv;
  size_t nn, i;
  int r = 0;

  if (!parent_root || walk_trees (root, parent_root, NULL, &nv, &nn) == -1)
    return -1;
  for (i = 0; r == 0 && i < MAX (n, nn); i++)
    if (i == n || i == nn || strcmp (v[i].path, nv[i].path) != 0 || v[i].kind != nv[i].kind) {
      err_set (EIO, "changes: the guided walk gives %s (%d), the naive one %s (%d)",
               i < n ? v[i].path : "nothing", i < n ? (int)v[i].kind : -1,
               i < nn ? nv[i].path : "nothing", i < nn ? (int)nv[i].kind : -1);
      log_error ("%s", err_get ());
      r = -1;
    }
  ar_changes_free (nv, nn);
  return r;
}

void
ar_changes_set_guide (const struct ar_guide *g)
{
  thread_guide = g;
}

int
ar_changes (const char *root, const char *parent_root, struct ar_change **out, size_t *n)
{
  const struct ar_guide *g = thread_guide;

  if (!g || !parent_root || strcmp (g->root, root) != 0 || strcmp (g->proot, parent_root) != 0)
    return walk_trees (root, parent_root, NULL, out, n);
  if (walk_trees (root, parent_root, g, out, n) == -1)
    return -1;
  if (g->verify && verify (root, g, *out, *n) == -1) {
    ar_changes_free (*out, *n);
    return -1;
  }
  return 0;
}

void
ar_changes_free (struct ar_change *changes, size_t n)
{
  size_t i;

  for (i = 0; changes && i < n; i++)
    free (changes[i].path);
  free (changes);
}

int
ar_diff_size (const char *root, const char *parent_root, uint64_t *size)
{
  struct ar_change *v;
  struct afs_strset seen = { 0 };
  size_t n, i;
  int r = 0;

  if (ar_changes (root, parent_root, &v, &n) == -1)
    return -1;
  *size = 0;
  for (i = 0; r == 0 && i < n; i++) {
    CLEANUP_FREE char *path = NULL, *key = NULL;
    struct stat st;
    if (v[i].kind == AR_CHANGE_DELETE)
      continue;
    path = xasprintf ("%s%s", root, v[i].path);
    if (path == NULL || lstat (path, &st) == -1 || S_ISDIR (st.st_mode))
      continue; /* vanished meanwhile: moby logs and goes on */
    if (st.st_nlink > 1) {
      key = xasprintf ("%ju", (uintmax_t)st.st_ino); /* one tree, one device: moby's key */
      if (key == NULL || afs_strset_has (&seen, key))
        continue;
      r = afs_strset_add (&seen, key);
    }
    *size += st.st_size;
  }
  afs_strset_free (&seen);
  ar_changes_free (v, n);
  return r;
}
