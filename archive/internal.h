/* internal.h: what the files of archive/ share — confined filesystem operations (fs.c), the
 * apply-onto-a-clone helpers (keep.c), and the block-map guide of Changes/Diff. */
#ifndef BUSE_ARCHIVE_INTERNAL_H
#define BUSE_ARCHIVE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "archive/archive.h"

/* fs.c — every path is relative to an O_PATH fd of the layer root and is resolved
 * by the kernel with openat2 (RESOLVE_IN_ROOT): symlinks and ".." never leave the root. */
int afs_open_root (const char *root);
/* Resolve directory REL ("" or "a/b") inside ROOT_FD; an O_PATH fd or -1 with errno. */
int afs_open_dir (int root_fd, const char *rel);
/* The same, creating missing directories (mode 0755) one component at a time. */
int afs_make_dirs (int root_fd, const char *rel);
/* rm -rf NAME (one component) in directory DFD, never following a symlink; 0 if absent. */
int afs_remove_at (int dfd, const char *name);
/* lsetxattr on NAME (one component) in directory DFD, the link itself when a symlink. */
int afs_lsetxattr (int dfd, const char *name, const char *key, const void *val, size_t len);
/* Clean a tar member name the way Go's filepath.Clean does, relative to the root: "." and
 * empty components go, ".." pops; an absolute name is taken below the root.  A relative name
 * whose ".." climbs above the root is refused (NULL + err).  "" means the root itself. */
char *afs_clean_name (const char *name);

/* A set of strings (the paths a tar created, for opaque whiteouts). */
struct afs_strset {
  char **slots;
  size_t n, cap;
};
int afs_strset_add (struct afs_strset *s, const char *str);
bool afs_strset_has (const struct afs_strset *s, const char *str);
void afs_strset_free (struct afs_strset *s);

/* Map ID through the map table (container → host when TO_HOST, else host → container).
 * No table (N == 0) maps every id to itself.  -1 + err when ID is not covered. */
int afs_map_id (const struct ar_idmap *m, size_t n, uint32_t id, bool to_host, uint32_t *out);

/* keep.c — an apply onto a clone (commit-clone.c): keep identical files, and record
 * which paths the tar decided (struct ar_tar_touch, queried with ar_tar_touched). */
struct archive;
struct archive_entry;
enum akeep_touch {
  AKEEP_MEMBER,     /* a non-directory member: it and its subtree */
  AKEEP_MEMBER_DIR, /* a directory member: itself */
  AKEEP_WHITEOUT,   /* a removed path and its subtree */
  AKEEP_OPAQUE,     /* an opaque directory: everything below it */
};
struct ar_tar_touch *akeep_touch_new (void);
void akeep_touch_free (struct ar_tar_touch *t); /* accepts NULL */
int akeep_touch_add (struct ar_tar_touch *t, const char *rel, enum akeep_touch how);
/* Read the current member's data from A into regular file FD (SIZE bytes, same size), writing
 * only the 4 KiB units that differ. */
int akeep_data (struct archive *a, int fd, int64_t size);
/* Remove every xattr of FD that entry E does not carry. */
int akeep_xattrs_exact (int fd, struct archive_entry *e);

/* ---- block-map-guided Changes/Diff (changes-guide.c builds the guide, changes.c walks with
 * it).  A guide is the set of inode numbers of a layer's ext4 whose inode-table block was
 * written in the diffs where the layer and its parent diverge: any other inode is the same
 * in both trees, so the walk needs neither its stat nor, for a directory, the parent's
 * listing. */
struct ar_guide {
  char *root, *proot; /* the trees it is valid for */
  uint64_t ninodes;   /* inode numbers 1..ninodes */
  uint64_t *cand;     /* bit i: inode i may differ */
  uint64_t ncand;
  bool verify; /* BUSE_CHANGES=verify: walk naively too and fail on any difference */
  /* Set by the caller: the parent read in-process (changes-ext2.c), PROOT then only a name;
   * and for verify's naive walk, the parent mounted on demand (NULL + err on failure). */
  struct ar_ext2 *pfs;
  const char *(*mount_parent) (void *ctx);
  void *ctx;
};

/* One of the two trees: layer ID mounted on ROOT.  IN_USE: it was mounted before this call
 * (someone may have written to it since its last unmount, so it must be settled). */
struct ar_guide_tree {
  const char *id, *root;
  bool in_use;
};

/* The guide for the changes of layer L against its parent P: settles the writable
 * filesystems in use (L: syncfs and a scan of its journal, or FIFREEZE; P: FIFREEZE) so their
 * inode tables are on their devices (one mounted afresh for this call was checkpointed when
 * it was last unmounted), then maps the diverged blocks (layer_diverged_blocks) onto the
 * inode tables.  NULL when it does not apply (no parent,
 * e->changes naive, not the expected ext4, ...): the reason is logged at debug level
 * ("gd") and the caller walks naively. */
struct ar_guide *ar_guide_new (const struct ar_engine *e, const struct ar_guide_tree *l,
                               const struct ar_guide_tree *p);
void ar_guide_free (struct ar_guide *g); /* accepts NULL */
/* INO may differ between the trees (true for 0 and out-of-range numbers). */
bool ar_guide_has (const struct ar_guide *g, uint64_t ino);

/* changes-journal.c: the journal of the ext4 on LS whose journal inode is at byte INODE_OFF
 * of the device.  NULL + err unless it is a journal we understand (extents in the inode, a
 * jbd2 superblock, no fast commits). */
struct ar_journal;
struct ar_journal *ar_journal_open (struct layer_stack *ls, uint64_t inode_off);
void ar_journal_free (struct ar_journal *j); /* accepts NULL */
/* Filesystem block B is a block of the journal. */
bool ar_journal_has (const struct ar_journal *j, uint64_t b);
/* Read journal block B through LS; if it is a descriptor block, call FN for each filesystem
 * block it logs. */
int ar_journal_scan (const struct ar_journal *j, struct layer_stack *ls, uint64_t b,
                     int (*fn) (void *cbdata, uint64_t blk), void *cbdata);

/* changes-ext2.c: layer ID's ext4 opened read-only in-process through its stack (it must
 * not be mounted: nothing is replayed).  NULL + err. */
struct ar_ext2;
struct ar_ext2 *ar_ext2_open (struct layer_store *st, const char *id);
void ar_ext2_close (struct ar_ext2 *x); /* accepts NULL */
/* What lstat and lgetxattr (security.capability, CAPMAX bytes) of REL ("" or "/a/b") give on
 * a mount of it; *EXISTS false when REL is absent.  st_dev is 0. */
int ar_ext2_stat (struct ar_ext2 *x, const char *rel, struct stat *st, unsigned char *cap,
                  size_t capmax, size_t *caplen, bool *exists);
/* Calls FN for each entry of directory REL but "." and "..", in directory order; non-zero
 * stops the listing and is returned as -1. */
typedef int (*ar_ext2_entry_fn) (void *cbdata, const char *name, uint64_t ino, unsigned char type);
int ar_ext2_list (struct ar_ext2 *x, const char *rel, ar_ext2_entry_fn fn, void *cbdata);

/* changes.c: until called again with NULL, ar_changes on this thread of exactly G's ROOT and
 * PROOT walks guided by G (ar_write_diff and ar_diff_size call ar_changes). */
void ar_changes_set_guide (const struct ar_guide *g);

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
