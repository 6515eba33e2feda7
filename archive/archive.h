/* archive.h: the public interface of archive/ — Docker's layer diffs: tar apply into a mounted
 * rootfs (libarchive), Changes and Diff with Docker's naive-diff rules (guided by the block
 * maps, the parent read in-process with libext2fs), and commit by block-level clone. */
#ifndef BUSE_ARCHIVE_H
#define BUSE_ARCHIVE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/common.h"
#include "layers/layers.h"
#include "mounts/mounts.h"

/* ---- archive.c / changes.c: tar in and out of a mounted rootfs (libarchive) ---------- */

/* ID maps from Init's UIDMaps/GIDMaps: container id C maps to host id H for SIZE ids. */
struct ar_idmap {
  uint32_t container_id, host_id, size;
};
struct ar_idmaps {
  const struct ar_idmap *uid, *gid;
  size_t n_uid, n_gid;
};
/* Pull reader: fill BUF with up to LEN bytes; 0 at end of stream, -1 + err on error. */
typedef ssize_t (*ar_read_fn) (void *ctx, void *buf, size_t len);
/* Push writer: write all LEN bytes; -1 + err on error (e.g. the client went away). */
typedef int (*ar_write_fn) (void *ctx, const void *buf, size_t len);

/* Apply a (possibly compressed) layer tar read through RD to the directory ROOT: whiteouts
 * (.wh.NAME, .wh..wh..opq), ownership mapped through MAPS (may be NULL: identity), modes,
 * times, xattrs, hardlinks, symlinks, device nodes, sparse files.  Nothing is ever written
 * outside ROOT.  *SIZE gets Docker's ApplyDiff size (bytes of regular file content). */
int ar_apply_tar (const char *root, ar_read_fn rd, void *ctx, const struct ar_idmaps *maps,
                  uint64_t *size);

enum ar_change_kind { AR_CHANGE_MODIFY = 0, AR_CHANGE_ADD = 1, AR_CHANGE_DELETE = 2 };
struct ar_change {
  char *path; /* "/etc/passwd" */
  enum ar_change_kind kind;
};
/* Changes of ROOT against PARENT_ROOT (NULL: everything in ROOT is an add), sorted by path,
 * with Docker's naive-diff rules. */
int ar_changes (const char *root, const char *parent_root, struct ar_change **out, size_t *n);
void ar_changes_free (struct ar_change *changes, size_t n);
/* Compare mtimes as moby's naive diff does (equal seconds with one nanosecond part 0 match),
 * for trees that are not a layer and its parent (e.g. one applied from a tar). */
void ar_changes_loose_times (bool loose);
/* Write the tar stream of those changes (AUFS whiteouts for deletes, 512-byte records, no
 * padding past the two zero records: an empty change is exactly 1024 zero bytes). MAPS maps
 * host ids back to container ids (may be NULL). */
int ar_write_diff (const char *root, const char *parent_root, const struct ar_idmaps *maps,
                   ar_write_fn wr, void *ctx);
/* The size of that change as Docker's drivers report a container's (moby's ChangesSize):
 * lstat sizes of added/modified non-directories, symlinks included, hard links once. */
int ar_diff_size (const char *root, const char *parent_root, uint64_t *size);

/* ---- commit by clone (commit-clone.c, commit-revert.c, archive.c, archive-keep.c) ------
 * A commit (Diff of a container streamed into ApplyDiff of a new child of its image) gives
 * the new layer a block-level clone of the container, applies the tar on top keeping
 * identical files, and puts back what the tar did not decide: the result is image + tar. */
/* What a commit by clone, Changes and Diff work with: the store, the mount manager over it,
 * the home (for size limits), the daemon's id maps (may be NULL) and two switches the front
 * end sets (cli/ from BUSE_CHANGES and BUSE_COMMIT_CLONE; zeroed: the defaults). */
enum ar_changes_mode {
  AR_CHANGES_GUIDED, /* default: walk the inodes the block maps say may differ */
  AR_CHANGES_NAIVE,  /* BUSE_CHANGES=naive: walk both trees in full */
  AR_CHANGES_VERIFY, /* BUSE_CHANGES=verify: guided, checked against the full walk */
};
struct ar_engine {
  struct layer_store *st;
  struct mm_mounts *mounts;
  const char *home;
  const struct ar_idmaps *maps;
  enum ar_changes_mode changes; /* how Changes and Diff find what changed */
  bool no_clone;                /* BUSE_COMMIT_CLONE=off: every ApplyDiff plain (to compare) */
};
struct ar_tar_touch;
/* Did the tar decide REL ("" is the root)?  *IMPLIED: a member lies below REL. */
bool ar_tar_touched (const struct ar_tar_touch *t, const char *rel, bool *implied);
typedef int (*ar_apply_fixup_fn) (void *ctx, const struct ar_tar_touch *t);
/* ar_apply_tar onto a clone: identical regular files keep their inode (only differing data
 * is written); FIXUP runs after the members, before the directory times are set. */
int ar_apply_tar_keep (const char *root, ar_read_fn rd, void *ctx, const struct ar_idmaps *maps,
                       ar_apply_fixup_fn fixup, void *fixup_ctx, uint64_t *size);
/* ar_write_diff of layer ID against PARENT, registered as a clone source while it runs. */
int ar_clone_write_diff (const char *root, const char *parent_root, const char *id,
                         const char *parent, const struct ar_idmaps *maps, ar_write_fn wr,
                         void *ctx);
/* ApplyDiff of layer ID (parent PARENT, "" for none): by clone when a Diff in flight matches
 * the stream, else plainly.  Mounts ID itself; *SIZE as ar_apply_tar. */
int ar_clone_apply (const struct ar_engine *d, const char *id, const char *parent, ar_read_fn rd,
                    void *ctx, uint64_t *size);
/* Put back under ROOT every change against PARENT_ROOT the tar did not decide. */
int ar_revert_untouched (const char *root, const char *parent_root, const struct ar_tar_touch *t);

/* ---- pair.c: a layer and its parent held for one Changes, DiffSize or Diff -------------- */
struct ar_pair {
  const struct ar_engine *e;
  const char *id, *parent;
  char *root, *proot;     /* proot NULL without a parent; with pfs, only a name for the guide */
  struct ar_ext2 *pfs;    /* the parent in-process (not mounted) */
  char *pmount;           /* with pfs: the parent mounted on demand (verify) */
  struct ar_guide *guide; /* NULL: naive walk */
};
/* Mount ID (and PARENT, may be NULL or "", unless it is read in-process) for the call, and set
 * the guide of their changes for this thread's ar_changes.  P->root and P->proot are the trees
 * to hand to ar_changes, ar_diff_size or ar_clone_write_diff.  -1 + err. */
int ar_pair_get (const struct ar_engine *e, const char *id, const char *parent, struct ar_pair *p);
void ar_pair_put (struct ar_pair *p);

#endif
