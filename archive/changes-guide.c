/* changes-guide.c: ar_guide_new — which inodes of a layer's ext4 may differ from its parent's.
 *
 * Docker's naive diff stats every file of both trees; on a 50,000-file image that is most of
 * a `docker commit`.  But a layer and its parent are the same filesystem up to the diffs where
 * their stacks diverge, and ext4 keeps every inode at a fixed place: inode I lives in the
 * inode table of group (I-1)/inodes_per_group.  Any change the naive diff can see (mode,
 * owner, times, size, xattrs, and for a directory its entries, which move its mtime) rewrites
 * the inode, so an inode whose inode-table block is held by none of the diverged diffs is
 * identical in both trees.  The blocks must be current on the device first.  A layer mounted
 * afresh for this call is (unmount checkpoints the journal).  One in use is synced: syncfs
 * commits every change to the journal and then writes the committed metadata home
 * (sync_blockdev); a block a newer transaction holds stays only in the journal, so the
 * journal blocks the layer wrote are scanned for the blocks they log (changes-journal.c).
 * Where that journal is not one we understand, FIFREEZE checkpoints it instead (tens of
 * milliseconds through NBD, against a few for syncfs).  A parent in use is frozen.
 * The geometry comes from the superblock and group descriptors, read through the layers'
 * stacks (the NBD server's own view); anything unexpected (not ext4, other block size, meta_bg,
 * the two filesystems laid out differently) means no guide, and the caller walks naively. */
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "archive/internal.h"

#define FS_BS          4096u /* ext4 block = layer block: required */
#define SB_OFF         1024
#define SB_MAGIC       0xEF53
#define INCOMPAT_FTYPE 0x0002u
#define INCOMPAT_METAB 0x0010u
#define INCOMPAT_64BIT 0x0080u
#define INCOMPAT_EAINO 0x0400u
#define COMPAT_FASTCMT 0x0400u
#define GROUPS_MAX     (1u << 20)

struct geom {
  uint32_t ninodes, ipg, isz, ngroups, itb; /* itb: inode-table blocks per group */
  uint64_t *itable;                         /* first block of each group's inode table */
  uint32_t journal_ino;                     /* 0: none, or fast commits (not scannable) */
};

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
  g->journal_ino = le32 (sb + 0x5C) & COMPAT_FASTCMT ? 0 : le32 (sb + 0xE0);
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

/* Groups ordered by where their inode table starts, for the lookup in mark_itable; the
 * journal (NULL: settled by freezing) and the runs of written blocks that fall in it. */
struct mapper {
  const struct geom *geom;
  uint32_t *order;
  struct ar_guide *guide;
  const struct ar_journal *j;
  uint64_t *jb; /* journal blocks to scan */
  size_t njb, capjb;
};

static int
cmp_itable (const void *a, const void *b, void *arg)
{
  const uint64_t *it = arg;
  uint64_t x = it[*(const uint32_t *)a], y = it[*(const uint32_t *)b];

  return x < y ? -1 : x > y;
}

static void
mark_inodes (struct ar_guide *g, uint64_t first, uint64_t n)
{
  for (uint64_t i = first; i < first + n && i <= g->ninodes; i++)
    if (!(g->cand[i / 64] & 1ull << (i % 64))) {
      g->cand[i / 64] |= 1ull << (i % 64);
      g->ncand++;
    }
}

/* Blocks [B, B+N) may differ: mark the inodes stored in them. */
static void
mark_itable (struct mapper *m, uint64_t b, uint64_t n)
{
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
}

static int
mark_block (void *cbdata, uint64_t b)
{
  mark_itable (cbdata, b, 1);
  return 0;
}

/* Blocks [B, B+N) were written: their inodes may differ, and journal blocks among them may
 * log other blocks (scanned later: this runs under the store lock). */
static int
mark_run (void *cbdata, uint64_t b, uint64_t n)
{
  struct mapper *m = cbdata;

  mark_itable (m, b, n);
  for (uint64_t i = b; m->j && i < b + n; i++) {
    if (!ar_journal_has (m->j, i))
      continue;
    if (m->njb == m->capjb) {
      size_t cap = m->capjb ? 2 * m->capjb : 256;
      uint64_t *v = realloc (m->jb, cap * sizeof *v);
      if (!v) {
        err_set (errno, "realloc");
        return -1;
      }
      m->jb = v, m->capjb = cap;
    }
    m->jb[m->njb++] = i;
  }
  return 0;
}

/* The journal of layer ID's ext4, or NULL + err. */
static struct ar_journal *
open_journal (struct layer_store *st, const char *id, const struct geom *ge)
{
  struct layer_stack *ls;
  struct ar_journal *j;
  uint32_t i = ge->journal_ino - 1;

  if (!ge->journal_ino || ge->journal_ino > ge->ninodes) {
    err_set (ENOTSUP, "no internal journal, or fast commits");
    return NULL;
  }
  if (!(ls = layer_stack_open (st, id, false)))
    return NULL;
  j = ar_journal_open (ls, ge->itable[i / ge->ipg] * FS_BS + (uint64_t)(i % ge->ipg) * ge->isz);
  layer_stack_close (ls);
  return j;
}

/* Mark what the journal blocks collected by mark_run log, reading them in layer ID. */
static int
scan_journal (struct layer_store *st, const char *id, struct mapper *m)
{
  struct layer_stack *ls;
  int r = 0;

  if (!m->njb)
    return 0;
  if (!(ls = layer_stack_open (st, id, false)))
    return -1;
  for (size_t i = 0; r == 0 && i < m->njb; i++)
    r = ar_journal_scan (m->j, ls, m->jb[i], mark_block, m);
  layer_stack_close (ls);
  log_debug ("gd", "layer %s: %zu journal blocks scanned", id, m->njb);
  return r;
}

/* If T is in use and writable: with SYNC_ONLY, syncfs (every change is then in the journal
 * or in place) and return 1; else freeze and thaw (every inode change is then in the inode
 * tables on the device).  0: nothing to do. */
static int
settle (struct layer_store *st, const struct ar_guide_tree *t, bool sync_only)
{
  struct layer_stack *ls = t->in_use ? layer_stack_open (st, t->id, false) : NULL;
  bool rw = ls && layer_stack_writable (ls);
  CLEANUP_CLOSE int fd = -1;
  int r;

  layer_stack_close (ls);
  if (!rw)
    return ls || !t->in_use ? 0 : -1;
  if (sync_only) {
    fd = open (t->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd == -1 || syncfs (fd) == -1) {
      err_set (errno, "syncfs %s", t->root);
      return -1;
    }
    return 1;
  }
  if ((r = mnt_freeze (t->root)) == 0 && (r = mnt_thaw (t->root)) == -1)
    log_error ("%s (left frozen)", err_get ());
  return r;
}

static int
fill_guide (struct layer_store *st, const char *id, const char *parent, const struct geom *ge,
            const struct ar_journal *j, struct ar_guide *g)
{
  struct mapper m = { .geom = ge, .guide = g, .j = j };
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
  if (r == 0)
    r = scan_journal (st, id, &m);
  free (m.order);
  free (m.jb);
  return r;
}

/* Settle both trees and read their geometry (A, B): L by syncfs and a scan of its journal
 * (*J) when the journal is one we understand, else by freezing; P by freezing. */
static int
prepare (struct layer_store *st, const struct ar_guide_tree *l, const struct ar_guide_tree *p,
         struct geom *a, struct geom *b, struct ar_journal **j)
{
  int synced = settle (st, l, true);

  if (synced == -1 || settle (st, p, false) == -1 || read_geom (st, l->id, a) == -1 ||
      read_geom (st, p->id, b) == -1)
    return -1;
  if (!same_geom (a, b)) {
    err_set (ENOTSUP, "layers %s and %s: filesystems laid out differently", l->id, p->id);
    return -1;
  }
  if (synced == 1 && !(*j = open_journal (st, l->id, a))) {
    log_debug ("gd", "layer %s: freezing it (%s)", l->id, err_get ());
    return settle (st, l, false);
  }
  return 0;
}

static struct ar_guide *
build (struct layer_store *st, const struct ar_guide_tree *l, const struct ar_guide_tree *p)
{
  struct geom a = { 0 }, b = { 0 };
  struct ar_guide *g = calloc (1, sizeof *g);
  struct ar_journal *j = NULL;
  int r = -1;

  if (!g) {
    err_set (errno, "calloc");
    return NULL;
  }
  g->root = strdup (l->root);
  g->proot = strdup (p->root);
  if (!g->root || !g->proot)
    err_set (errno, "strdup");
  else if (prepare (st, l, p, &a, &b, &j) == 0)
    r = fill_guide (st, l->id, p->id, &a, j, g);
  ar_journal_free (j);
  free (a.itable);
  free (b.itable);
  if (r == -1) {
    ar_guide_free (g);
    return NULL;
  }
  return g;
}

struct ar_guide *
ar_guide_new (const struct ar_engine *e, const struct ar_guide_tree *l,
              const struct ar_guide_tree *p)
{
  struct ar_guide *g;
  uint64_t t0 = now_ns ();

  if (!p->id || !p->root) {
    log_debug ("gd", "changes of %s: naive walk (no parent)", l->id);
    return NULL;
  }
  if (e->changes == AR_CHANGES_NAIVE) {
    log_debug ("gd", "changes of %s: naive walk (BUSE_CHANGES=naive)", l->id);
    return NULL;
  }
  g = build (e->st, l, p);
  if (!g) {
    log_debug ("gd", "changes of %s: naive walk (%s)", l->id, err_get ());
    return NULL;
  }
  g->verify = e->changes == AR_CHANGES_VERIFY;
  log_debug ("gd", "changes of %s: guided, %" PRIu64 " of %" PRIu64 " inodes may differ (%.1f ms)",
             l->id, g->ncand, g->ninodes, (now_ns () - t0) / 1e6);
  return g;
}

void
ar_guide_free (struct ar_guide *g)
{
  if (!g)
    return;
  free (g->root);
  free (g->proot);
  free (g->cand);
  free (g);
}

bool
ar_guide_has (const struct ar_guide *g, uint64_t ino)
{
  return ino == 0 || ino > g->ninodes || g->cand[ino / 64] & 1ull << (ino % 64);
}
