/* api_diffs.c: the endpoints that move layer contents as tar — ApplyDiff (tar in), Diff (tar
 * out), and Changes and DiffSize (what Diff would contain).  Each mounts the layer (and its
 * parent, to compare against) through the mount manager for the length of the call, so they
 * share mounts with dockerd's own Get/Put and work whether or not the layer is in use.
 * When the changes are guided and the parent is not mounted, the parent is not mounted for
 * the call either: the guided walk reads it in-process (changes-ext2.c), and only
 * BUSE_CHANGES=verify's naive walk mounts it, on demand.
 * The tar work itself is archive.c's and changes.c's. */
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>

#include "graphdriver/api.h"
#include "graphdriver/changes-guide.h"

/* A layer and its parent, mounted for one call (the parent maybe read in-process instead),
 * and the guide of the changes between them (NULL: naive walk), set for this thread's
 * gd_changes for as long as the pair is held. */
struct pair {
  struct gd_daemon *d;
  const char *id, *parent;
  char *root, *proot;  /* proot NULL without a parent; with pfs, only a name for the guide */
  struct gd_ext2 *pfs; /* the parent in-process (not mounted) */
  char *pmount;        /* with pfs: the parent mounted on demand (verify) */
  struct gd_guide *guide;
};

static void
pair_put (struct gd_daemon *d, struct pair *p)
{
  gd_changes_set_guide (NULL);
  gd_guide_free (p->guide);
  p->guide = NULL;
  if (p->proot && !p->pfs && gd_mount_put (d->mounts, p->parent, true) == -1)
    log_warn ("%s", err_get ());
  if (p->pmount && gd_mount_put (d->mounts, p->parent, true) == -1)
    log_warn ("%s", err_get ());
  gd_ext2_close (p->pfs);
  free (p->pmount);
  p->pfs = NULL, p->pmount = NULL;
  if (p->root && gd_mount_put (d->mounts, p->id, true) == -1)
    log_warn ("%s", err_get ());
  free (p->root);
  free (p->proot);
  p->root = p->proot = NULL;
}

static bool
mounted (struct gd_daemon *d, const char *id)
{
  char dev[256];

  gd_mount_device (d->mounts, id, dev, sizeof dev);
  return *dev != '\0';
}

/* The guide's mount_parent: the parent mounted for the rest of the call. */
static const char *
mount_parent (void *ctx)
{
  struct pair *p = ctx;

  if (!p->pmount)
    p->pmount = gd_mount_get (p->d->mounts, p->parent, true);
  return p->pmount;
}

/* The parent, not mounted, read in-process for a guided walk.  1: done, with the guide;
 * 0: no guide (walk naively, on a mount); -1: cannot be read in-process (mount it). */
static int
in_process (struct gd_daemon *d, struct pair *p, const struct gd_guide_tree *l)
{
  struct gd_guide_tree pt = { .id = p->parent };

  if (!(p->pfs = gd_ext2_open (d->st, p->parent))) {
    log_debug ("gd", "changes of %s: mounting parent %s (%s)", p->id, p->parent, err_get ());
    return -1;
  }
  pt.root = p->proot = xasprintf ("ext2:%s", p->parent); /* never a path gd_changes opens */
  if (p->proot && (p->guide = gd_guide_new (d->st, l, &pt)) != NULL) {
    p->guide->pfs = p->pfs;
    p->guide->mount_parent = mount_parent;
    p->guide->ctx = p;
    log_debug ("gd", "changes of %s: parent %s read in-process, not mounted", p->id, p->parent);
    return 1;
  }
  gd_ext2_close (p->pfs);
  free (p->proot);
  p->pfs = NULL, p->proot = NULL;
  return 0;
}

static int
pair_get (struct gd_daemon *d, const json_t *req, struct pair *p)
{
  struct gd_guide_tree l, pt;
  bool bad;
  int r = -1;

  memset (p, 0, sizeof *p);
  p->d = d;
  p->id = gd_req_id (req);
  p->parent = gd_req_parent (req, &bad);
  if (!p->id || bad)
    return -1;
  l.in_use = mounted (d, p->id);
  pt.in_use = p->parent && mounted (d, p->parent);
  p->root = gd_mount_get (d->mounts, p->id, true);
  if (!p->root)
    return -1;
  l.id = p->id, l.root = p->root;
  if (p->parent && !pt.in_use && (r = in_process (d, p, &l)) == 1) {
    gd_changes_set_guide (p->guide);
    return 0;
  }
  if (p->parent && !(p->proot = gd_mount_get (d->mounts, p->parent, true))) {
    pair_put (d, p);
    return -1;
  }
  pt.id = p->parent, pt.root = p->proot;
  p->guide = r == 0 ? NULL : gd_guide_new (d->st, &l, &pt);
  gd_changes_set_guide (p->guide);
  return 0;
}

int
gd_api_changes (struct gd_daemon *d, const json_t *req, json_t *reply)
{
  struct pair p;
  struct gd_change *ch = NULL;
  size_t n = 0;
  json_t *list;
  int r;

  if (pair_get (d, req, &p) == -1)
    return -1;
  r = gd_changes (p.root, p.proot, &ch, &n);
  pair_put (d, &p);
  if (r == -1)
    return -1;
  list = json_array ();
  for (size_t i = 0; list && i < n; i++)
    json_array_append_new (list,
                           json_pack ("{s:s, s:i}", "Path", ch[i].path, "Kind", (int)ch[i].kind));
  gd_changes_free (ch, n);
  if (!list) {
    err_set (ENOMEM, "changes");
    return -1;
  }
  return json_object_set_new (reply, "Changes", list);
}

int
gd_api_diff_size (struct gd_daemon *d, const json_t *req, json_t *reply)
{
  struct pair p;
  uint64_t size = 0;
  int r;

  if (pair_get (d, req, &p) == -1)
    return -1;
  r = gd_diff_size (p.root, p.proot, &size);
  pair_put (d, &p);
  if (r == -1)
    return -1;
  return json_object_set_new (reply, "Size", json_integer ((json_int_t)size));
}

int
gd_api_diff (struct gd_daemon *d, const json_t *req, gd_write_fn wr, void *ctx)
{
  struct pair p;
  int r;

  if (pair_get (d, req, &p) == -1)
    return -1;
  r = gd_clone_write_diff (p.root, p.proot, p.id, p.parent, &d->maps, wr, ctx);
  if (r == -1)
    err_prefix ("Diff of layer %s", p.id);
  pair_put (d, &p);
  return r;
}

/* The tar work, and the commit by clone when the stream is a Diff in flight, are
 * commit-clone.c's. */
int
gd_api_apply_diff (struct gd_daemon *d, const char *id, const char *parent, gd_read_fn rd,
                   void *ctx, json_t *reply)
{
  uint64_t size = 0;

  if (!*id) {
    err_set (EINVAL, "ApplyDiff: missing id in the query");
    return -1;
  }
  if (check_id (id) == -1 || (*parent && check_id (parent) == -1))
    return -1;
  if (gd_clone_apply (d, id, parent, rd, ctx, &size) == -1) {
    err_prefix ("ApplyDiff to layer %s", id);
    return -1;
  }
  log_debug ("gd", "ApplyDiff %s: %" PRIu64 " bytes", id, size);
  return json_object_set_new (reply, "Size", json_integer ((json_int_t)size));
}
