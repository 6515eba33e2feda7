/* pair.c: a layer and its parent held for one Changes, DiffSize or Diff.  The layer is
 * mounted through the mount manager (an internal reference, shared with whatever else holds
 * it); the parent too, unless it is not mounted already, in which case the guided walk reads
 * it in-process (changes-ext2.c) and only BUSE_CHANGES=verify's naive walk mounts it, on
 * demand.  The guide of the changes between the two is set for this thread's ar_changes for
 * as long as the pair is held. */
#include <string.h>

#include "archive/internal.h"

void
ar_pair_put (struct ar_pair *p)
{
  ar_changes_set_guide (NULL);
  ar_guide_free (p->guide);
  p->guide = NULL;
  if (p->proot && !p->pfs && mm_put (p->e->mounts, p->parent, true) == -1)
    log_warn ("%s", err_get ());
  if (p->pmount && mm_put (p->e->mounts, p->parent, true) == -1)
    log_warn ("%s", err_get ());
  ar_ext2_close (p->pfs);
  free (p->pmount);
  p->pfs = NULL, p->pmount = NULL;
  if (p->root && mm_put (p->e->mounts, p->id, true) == -1)
    log_warn ("%s", err_get ());
  free (p->root);
  free (p->proot);
  p->root = p->proot = NULL;
}

static bool
mounted (const struct ar_engine *e, const char *id)
{
  char dev[256];

  mm_device (e->mounts, id, dev, sizeof dev);
  return *dev != '\0';
}

/* The guide's mount_parent: the parent mounted for the rest of the call. */
static const char *
mount_parent (void *ctx)
{
  struct ar_pair *p = ctx;

  if (!p->pmount)
    p->pmount = mm_get (p->e->mounts, p->parent, true);
  return p->pmount;
}

/* The parent, not mounted, read in-process for a guided walk.  1: done, with the guide;
 * 0: no guide (walk naively, on a mount); -1: cannot be read in-process (mount it). */
static int
in_process (struct ar_pair *p, const struct ar_guide_tree *l)
{
  struct ar_guide_tree pt = { .id = p->parent };

  if (!(p->pfs = ar_ext2_open (p->e->st, p->parent))) {
    log_debug ("gd", "changes of %s: mounting parent %s (%s)", p->id, p->parent, err_get ());
    return -1;
  }
  pt.root = p->proot = xasprintf ("ext2:%s", p->parent); /* never a path ar_changes opens */
  if (p->proot && (p->guide = ar_guide_new (p->e, l, &pt)) != NULL) {
    p->guide->pfs = p->pfs;
    p->guide->mount_parent = mount_parent;
    p->guide->ctx = p;
    log_debug ("gd", "changes of %s: parent %s read in-process, not mounted", p->id, p->parent);
    return 1;
  }
  ar_ext2_close (p->pfs);
  free (p->proot);
  p->pfs = NULL, p->proot = NULL;
  return 0;
}

int
ar_pair_get (const struct ar_engine *e, const char *id, const char *parent, struct ar_pair *p)
{
  struct ar_guide_tree l, pt;
  int r = -1;

  memset (p, 0, sizeof *p);
  p->e = e;
  p->id = id;
  p->parent = parent && *parent ? parent : NULL;
  l.in_use = mounted (e, p->id);
  pt.in_use = p->parent && mounted (e, p->parent);
  p->root = mm_get (p->e->mounts, p->id, true);
  if (!p->root)
    return -1;
  l.id = p->id, l.root = p->root;
  if (p->parent && !pt.in_use && (r = in_process (p, &l)) == 1) {
    ar_changes_set_guide (p->guide);
    return 0;
  }
  if (p->parent && !(p->proot = mm_get (p->e->mounts, p->parent, true))) {
    ar_pair_put (p);
    return -1;
  }
  pt.id = p->parent, pt.root = p->proot;
  p->guide = r == 0 ? NULL : ar_guide_new (p->e, &l, &pt);
  ar_changes_set_guide (p->guide);
  return 0;
}
