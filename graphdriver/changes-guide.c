/* changes-guide.c: gd_guide_new — which inodes of a layer's ext4 may differ from its parent's.
 *
 * Docker's naive diff stats every file of both trees; on a 50,000-file image that is most of
 * a `docker commit`.  But a layer and its parent are the same filesystem up to the diffs where
 * their stacks diverge, and ext4 keeps every inode at a fixed place: inode I lives in the
 * inode table of group (I-1)/inodes_per_group.  Any change the naive diff can see (mode,
 * owner, times, size, xattrs, and for a directory its entries, which move its mtime) rewrites
 * the inode, so an inode whose inode-table block is held by none of the diverged diffs is
 * identical in both trees.  FIFREEZE first: it makes ext4 write back dirty inodes and
 * checkpoint its journal, so the inode tables on the device are current.
 * The geometry comes from the superblock and group descriptors, read through the layers'
 * stacks (the NBD server's own view); anything unexpected (not ext4, other block size, meta_bg,
 * the two filesystems laid out differently) means no guide, and the caller walks naively. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "graphdriver/changes-guide.h"

#define FS_BS          4096u /* ext4 block = layer block: required */
#define SB_OFF         1024
#define SB_MAGIC       0xEF53
#define INCOMPAT_FTYPE 0x0002u
#define INCOMPAT_METAB 0x0010u
#define INCOMPAT_64BIT 0x0080u
#define INCOMPAT_EAINO 0x0400u
#define GROUPS_MAX     (1u << 20)

struct geom {
  uint32_t ninodes, ipg, isz, ngroups, itb; /* itb: inode-table blocks per group */
  uint64_t *itable;                         /* first block of each group's inode table */
};

static uint32_t
le32 (const unsigned char *p)
{
  return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t
le16 (const unsigned char *p)
{
  return p[0] | p[1] << 8;
}

/* Geometry of the ext4 on layer ID (superblock and group descriptors), or -1 with a reason. */
static int
read_geom (struct layer_store *st, const char *id, struct geom *g)
{
  struct layer_stack *ls = layer_stack_open (st, id, false);
  unsigned char sb[1024];
  CLEANUP_FREE unsigned char *gdt = NULL;
  uint64_t blocks;
  uint32_t incompat, dsz, first, bpg;
  int r = -1;

  memset (g, 0, sizeof *g);
  if (!ls || layer_stack_pread (ls, sb, sizeof sb, SB_OFF) == -1)
    goto out;
  incompat = le32 (sb + 0x60);
  dsz = incompat & INCOMPAT_64BIT ? le16 (sb + 0xFE) : 32;
  g->ninodes = le32 (sb + 0x0), g->ipg = le32 (sb + 0x28), g->isz = le16 (sb + 0x58);
  first = le32 (sb + 0x14), bpg = le32 (sb + 0x20);
  blocks = le32 (sb + 0x4) | (incompat & INCOMPAT_64BIT ? (uint64_t)le32 (sb + 0x150) << 32 : 0);
  if (le16 (sb + 0x38) != SB_MAGIC || le32 (sb + 0x18) != 2 || !(incompat & INCOMPAT_FTYPE) ||
      incompat & (INCOMPAT_METAB | INCOMPAT_EAINO) || dsz < 32 || dsz > 1024 || !bpg || !g->ipg ||
      g->isz < 128 || g->isz > FS_BS || FS_BS % g->isz || blocks <= first) {
    err_set (ENOTSUP, "layer %s: not an ext4 with 4 KiB blocks and plain group descriptors", id);
    goto out;
  }
  g->ngroups = (blocks - first + bpg - 1) / bpg;
  g->itb = ((uint64_t)g->ipg * g->isz + FS_BS - 1) / FS_BS;
  if (g->ngroups > GROUPS_MAX || (uint64_t)g->ngroups * g->ipg < g->ninodes) {
    err_set (ENOTSUP, "layer %s: %u groups of %u inodes", id, g->ngroups, g->ipg);
    goto out;
  }
  gdt = malloc ((size_t)g->ngroups * dsz);
  g->itable = calloc (g->ngroups, sizeof *g->itable);
  if (!gdt || !g->itable) {
    err_set (errno, "malloc");
    goto out;
  }
  if (layer_stack_pread (ls, gdt, g->ngroups * dsz, (uint64_t)(first + 1) * FS_BS) == -1)
    goto out;
  for (uint32_t i = 0; i < g->ngroups; i++) {
    const unsigned char *d = gdt + (size_t)i * dsz;
    g->itable[i] = le32 (d + 0x8) | (dsz >= 64 ? (uint64_t)le32 (d + 0x28) << 32 : 0);
  }
  r = 0;
out:
  layer_stack_close (ls);
  return r;
}

static bool
same_geom (const struct geom *a, const struct geom *b)
{
  return a->ninodes == b->ninodes && a->ipg == b->ipg && a->isz == b->isz &&
         a->ngroups == b->ngroups &&
         memcmp (a->itable, b->itable, a->ngroups * sizeof *a->itable) == 0;
}

/* Groups ordered by where their inode table starts, for the lookup in mark_run. */
struct mapper {
  const struct geom *geom;
  uint32_t *order;
  struct gd_guide *guide;
};

static int
cmp_itable (const void *a, const void *b, void *arg)
{
  const uint64_t *it = arg;
  uint64_t x = it[*(const uint32_t *)a], y = it[*(const uint32_t *)b];

  return x < y ? -1 : x > y;
}

static void
mark_inodes (struct gd_guide *g, uint64_t first, uint64_t n)
{
  for (uint64_t i = first; i < first + n && i <= g->ninodes; i++)
    if (!(g->cand[i / 64] & 1ull << (i % 64))) {
      g->cand[i / 64] |= 1ull << (i % 64);
      g->ncand++;
    }
}

/* Blocks [B, B+N) may differ: mark the inodes stored in them. */
static int
mark_run (void *cbdata, uint64_t b, uint64_t n)
{
  struct mapper *m = cbdata;
  const struct geom *ge = m->geom;
  uint32_t lo = 0, hi = ge->ngroups, ipb = FS_BS / ge->isz;

  while (lo < hi) { /* first group whose table ends after B */
    uint32_t mid = lo + (hi - lo) / 2;
    if (ge->itable[m->order[mid]] + ge->itb <= b)
      lo = mid + 1;
    else
      hi = mid;
  }
  for (; lo < ge->ngroups && ge->itable[m->order[lo]] < b + n; lo++) {
    uint32_t grp = m->order[lo];
    uint64_t s = ge->itable[grp], from = MAX (b, s), to = MIN (b + n, s + ge->itb);
    if (from < to)
      mark_inodes (m->guide, (uint64_t)grp * ge->ipg + (from - s) * ipb + 1, (to - from) * ipb);
  }
  return 0;
}

/* Freeze and thaw T's filesystem if it is in use and its stack writable: afterwards every
 * inode change made before the call is in the inode tables on the device. */
static int
settle (struct layer_store *st, const struct gd_guide_tree *t)
{
  struct layer_stack *ls = t->in_use ? layer_stack_open (st, t->id, false) : NULL;
  bool rw = ls && layer_stack_writable (ls);
  int r = ls || !t->in_use ? 0 : -1;

  layer_stack_close (ls);
  if (rw && (r = mnt_freeze (t->root)) == 0 && (r = mnt_thaw (t->root)) == -1)
    log_error ("%s (left frozen)", err_get ());
  return r;
}

static int
fill_guide (struct layer_store *st, const char *id, const char *parent, const struct geom *ge,
            struct gd_guide *g)
{
  struct mapper m = { .geom = ge, .guide = g };
  int r;

  g->ninodes = ge->ninodes;
  g->cand = calloc (ge->ninodes / 64 + 1, sizeof *g->cand);
  m.order = malloc (ge->ngroups * sizeof *m.order);
  if (!g->cand || !m.order) {
    free (m.order);
    err_set (errno, "malloc");
    return -1;
  }
  for (uint32_t i = 0; i < ge->ngroups; i++)
    m.order[i] = i;
  qsort_r (m.order, ge->ngroups, sizeof *m.order, cmp_itable, ge->itable);
  r = layer_diverged_blocks (st, id, parent, mark_run, &m);
  free (m.order);
  return r;
}

static struct gd_guide *
build (struct layer_store *st, const struct gd_guide_tree *l, const struct gd_guide_tree *p)
{
  struct geom a = { 0 }, b = { 0 };
  struct gd_guide *g = calloc (1, sizeof *g);
  int r = -1;

  if (!g) {
    err_set (errno, "calloc");
    return NULL;
  }
  g->root = strdup (l->root);
  g->proot = strdup (p->root);
  if (!g->root || !g->proot)
    err_set (errno, "strdup");
  else if (settle (st, l) == 0 && settle (st, p) == 0 && read_geom (st, l->id, &a) == 0 &&
           read_geom (st, p->id, &b) == 0) {
    if (!same_geom (&a, &b))
      err_set (ENOTSUP, "layers %s and %s: filesystems laid out differently", l->id, p->id);
    else
      r = fill_guide (st, l->id, p->id, &a, g);
  }
  free (a.itable);
  free (b.itable);
  if (r == -1) {
    gd_guide_free (g);
    return NULL;
  }
  return g;
}

struct gd_guide *
gd_guide_new (struct layer_store *st, const struct gd_guide_tree *l, const struct gd_guide_tree *p)
{
  const char *mode = getenv ("BUSE_CHANGES");
  struct gd_guide *g;
  uint64_t t0 = now_ns ();

  if (!p->id || !p->root) {
    log_debug ("gd", "changes of %s: naive walk (no parent)", l->id);
    return NULL;
  }
  if (mode && strcmp (mode, "naive") == 0) {
    log_debug ("gd", "changes of %s: naive walk (BUSE_CHANGES=naive)", l->id);
    return NULL;
  }
  g = build (st, l, p);
  if (!g) {
    log_debug ("gd", "changes of %s: naive walk (%s)", l->id, err_get ());
    return NULL;
  }
  g->verify = mode && strcmp (mode, "verify") == 0;
  log_debug ("gd", "changes of %s: guided, %" PRIu64 " of %" PRIu64 " inodes may differ (%.1f ms)",
             l->id, g->ncand, g->ninodes, (now_ns () - t0) / 1e6);
  return g;
}

void
gd_guide_free (struct gd_guide *g)
{
  if (!g)
    return;
  free (g->root);
  free (g->proot);
  free (g->cand);
  free (g);
}

bool
gd_guide_has (const struct gd_guide *g, uint64_t ino)
{
  return ino == 0 || ino > g->ninodes || g->cand[ino / 64] & 1ull << (ino % 64);
}
