/* archive-internal.h: helpers shared by the tar code of graphdriver/ — archive.c (apply),
 * archive-fs.c (confined filesystem operations), changes.c and tarwrite.c. */
#ifndef BUSE_ARCHIVE_INTERNAL_H
#define BUSE_ARCHIVE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "graphdriver/gd.h"

/* archive-fs.c — every path is relative to an O_PATH fd of the layer root and is resolved
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
int afs_map_id (const struct gd_idmap *m, size_t n, uint32_t id, bool to_host, uint32_t *out);

/* archive-keep.c — an apply onto a clone (commit-clone.c): keep identical files, and record
 * which paths the tar decided (struct gd_tar_touch, queried with gd_tar_touched). */
struct archive;
struct archive_entry;
enum akeep_touch {
  AKEEP_MEMBER,     /* a non-directory member: it and its subtree */
  AKEEP_MEMBER_DIR, /* a directory member: itself */
  AKEEP_WHITEOUT,   /* a removed path and its subtree */
  AKEEP_OPAQUE,     /* an opaque directory: everything below it */
};
struct gd_tar_touch *akeep_touch_new (void);
void akeep_touch_free (struct gd_tar_touch *t); /* accepts NULL */
int akeep_touch_add (struct gd_tar_touch *t, const char *rel, enum akeep_touch how);
/* Read the current member's data from A into regular file FD (SIZE bytes, same size), writing
 * only the 4 KiB units that differ. */
int akeep_data (struct archive *a, int fd, int64_t size);
/* Remove every xattr of FD that entry E does not carry. */
int akeep_xattrs_exact (int fd, struct archive_entry *e);

#endif
