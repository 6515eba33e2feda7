/* changes-guide.h: block-map-guided Changes/Diff (changes-guide.c builds the guide, changes.c
 * walks with it).  A guide is the set of inode numbers of a layer's ext4 whose inode-table
 * block was written in the diffs where the layer and its parent diverge: any other inode is
 * the same in both trees, so the walk needs neither its stat nor, for a directory, the
 * parent's listing. */
#ifndef BUSE_GD_CHANGES_GUIDE_H
#define BUSE_GD_CHANGES_GUIDE_H

#include "graphdriver/gd.h"

struct gd_guide {
  char *root, *proot; /* the trees it is valid for */
  uint64_t ninodes;   /* inode numbers 1..ninodes */
  uint64_t *cand;     /* bit i: inode i may differ */
  uint64_t ncand;
  bool verify; /* BUSE_CHANGES=verify: walk naively too and fail on any difference */
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

/* changes.c: until called again with NULL, gd_changes on this thread of exactly G's ROOT and
 * PROOT walks guided by G (gd_write_diff and gd_diff_size call gd_changes). */
void gd_changes_set_guide (const struct gd_guide *g);

#endif
