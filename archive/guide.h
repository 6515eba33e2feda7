/* changes-guide.h: block-map-guided Changes/Diff (changes-guide.c builds the guide, changes.c
 * walks with it).  A guide is the set of inode numbers of a layer's ext4 whose inode-table
 * block was written in the diffs where the layer and its parent diverge: any other inode is
 * the same in both trees, so the walk needs neither its stat nor, for a directory, the
 * parent's listing. */
#ifndef BUSE_GD_CHANGES_GUIDE_H
#define BUSE_GD_CHANGES_GUIDE_H

#include <sys/stat.h>

#include "graphdriver/gd.h"

struct gd_guide {
  char *root, *proot; /* the trees it is valid for */
  uint64_t ninodes;   /* inode numbers 1..ninodes */
  uint64_t *cand;     /* bit i: inode i may differ */
  uint64_t ncand;
  bool verify; /* BUSE_CHANGES=verify: walk naively too and fail on any difference */
  /* Set by the caller: the parent read in-process (changes-ext2.c), PROOT then only a name;
   * and for verify's naive walk, the parent mounted on demand (NULL + err on failure). */
  struct gd_ext2 *pfs;
  const char *(*mount_parent) (void *ctx);
  void *ctx;
};

/* One of the two trees: layer ID mounted on ROOT.  IN_USE: it was mounted before this call
 * (someone may have written to it since its last unmount, so it must be settled). */
struct gd_guide_tree {
  const char *id, *root;
  bool in_use;
};

/* The guide for the changes of layer L against its parent P: settles the writable
 * filesystems in use (L: syncfs and a scan of its journal, or FIFREEZE; P: FIFREEZE) so their
 * inode tables are on their devices (one mounted afresh for this call was checkpointed when
 * it was last unmounted), then maps the diverged blocks (layer_diverged_blocks) onto the
 * inode tables.  NULL when it does not apply (no parent,
 * BUSE_CHANGES=naive, not the expected ext4, ...): the reason is logged at debug level
 * ("gd") and the caller walks naively. */
struct gd_guide *gd_guide_new (struct layer_store *st, const struct gd_guide_tree *l,
                               const struct gd_guide_tree *p);
void gd_guide_free (struct gd_guide *g); /* accepts NULL */
/* INO may differ between the trees (true for 0 and out-of-range numbers). */
bool gd_guide_has (const struct gd_guide *g, uint64_t ino);

/* changes-journal.c: the journal of the ext4 on LS whose journal inode is at byte INODE_OFF
 * of the device.  NULL + err unless it is a journal we understand (extents in the inode, a
 * jbd2 superblock, no fast commits). */
struct gd_journal;
struct gd_journal *gd_journal_open (struct layer_stack *ls, uint64_t inode_off);
void gd_journal_free (struct gd_journal *j); /* accepts NULL */
/* Filesystem block B is a block of the journal. */
bool gd_journal_has (const struct gd_journal *j, uint64_t b);
/* Read journal block B through LS; if it is a descriptor block, call FN for each filesystem
 * block it logs. */
int gd_journal_scan (const struct gd_journal *j, struct layer_stack *ls, uint64_t b,
                     int (*fn) (void *cbdata, uint64_t blk), void *cbdata);

/* changes-ext2.c: layer ID's ext4 opened read-only in-process through its stack (it must
 * not be mounted: nothing is replayed).  NULL + err. */
struct gd_ext2;
struct gd_ext2 *gd_ext2_open (struct layer_store *st, const char *id);
void gd_ext2_close (struct gd_ext2 *x); /* accepts NULL */
/* What lstat and lgetxattr (security.capability, CAPMAX bytes) of REL ("" or "/a/b") give on
 * a mount of it; *EXISTS false when REL is absent.  st_dev is 0. */
int gd_ext2_stat (struct gd_ext2 *x, const char *rel, struct stat *st, unsigned char *cap,
                  size_t capmax, size_t *caplen, bool *exists);
/* Calls FN for each entry of directory REL but "." and "..", in directory order; non-zero
 * stops the listing and is returned as -1. */
typedef int (*gd_ext2_entry_fn) (void *cbdata, const char *name, uint64_t ino, unsigned char type);
int gd_ext2_list (struct gd_ext2 *x, const char *rel, gd_ext2_entry_fn fn, void *cbdata);

/* changes.c: until called again with NULL, gd_changes on this thread of exactly G's ROOT and
 * PROOT walks guided by G (gd_write_diff and gd_diff_size call gd_changes). */
void gd_changes_set_guide (const struct gd_guide *g);

/* Little-endian fields of ext4's on-disk structures (the guide and the journal scan). */
static inline uint32_t
le32 (const unsigned char *p)
{
  return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint16_t
le16 (const unsigned char *p)
{
  return p[0] | p[1] << 8;
}

#endif
