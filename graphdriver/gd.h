/* gd.h: graphdriver/ internals — the subcommands of the buse binary, the glue that offers
 * a layer stack to the NBD server, the HTTP API and the mount manager. */
#ifndef BUSE_GD_H
#define BUSE_GD_H

#include <sys/types.h>

#include "common/common.h"
#include "layers/layers.h"
#include "nbd/nbds.h"

/* Subcommands: int cmd_X (int argc, char **argv), argv[0] is the subcommand name.
 * Return the process exit status.  Each lives in graphdriver/cmd_<name>.c. */
int cmd_nbd (int argc, char **argv);     /* cmd_nbd.c */
int cmd_layer (int argc, char **argv);   /* cmd_layer.c: layer create|rm */
int cmd_ls (int argc, char **argv);      /* cmd_layer.c */
int cmd_inspect (int argc, char **argv); /* cmd_layer.c */
int cmd_attach (int argc, char **argv);  /* cmd_attach.c */
int cmd_serve (int argc, char **argv);   /* cmd_serve.c */

/* backend.c — a layer stack as an NBD backend (handle: struct layer_stack *). */
extern const struct nbds_backend gd_layer_backend;
/* A resolver that opens any layer of ST by id as an export (read-only when READ_ONLY or the
 * layer is not writable).  R is filled in; ST must outlive the server. */
void gd_layer_resolver (struct nbds_resolver *r, struct layer_store *st, bool read_only);

/* ---- archive.c / changes.c: tar in and out of a mounted rootfs (libarchive) ---------- */

/* ID maps from Init's UIDMaps/GIDMaps: container id C maps to host id H for SIZE ids. */
struct gd_idmap {
  uint32_t container_id, host_id, size;
};
struct gd_idmaps {
  const struct gd_idmap *uid, *gid;
  size_t n_uid, n_gid;
};
/* Pull reader: fill BUF with up to LEN bytes; 0 at end of stream, -1 + err on error. */
typedef ssize_t (*gd_read_fn) (void *ctx, void *buf, size_t len);
/* Push writer: write all LEN bytes; -1 + err on error (e.g. the client went away). */
typedef int (*gd_write_fn) (void *ctx, const void *buf, size_t len);

/* Apply a (possibly compressed) layer tar read through RD to the directory ROOT: whiteouts
 * (.wh.NAME, .wh..wh..opq), ownership mapped through MAPS (may be NULL: identity), modes,
 * times, xattrs, hardlinks, symlinks, device nodes, sparse files.  Nothing is ever written
 * outside ROOT.  *SIZE gets Docker's ApplyDiff size (bytes of regular file content). */
int gd_apply_tar (const char *root, gd_read_fn rd, void *ctx, const struct gd_idmaps *maps,
                  uint64_t *size);

enum gd_change_kind { GD_CHANGE_MODIFY = 0, GD_CHANGE_ADD = 1, GD_CHANGE_DELETE = 2 };
struct gd_change {
  char *path; /* "/etc/passwd" */
  enum gd_change_kind kind;
};
/* Changes of ROOT against PARENT_ROOT (NULL: everything in ROOT is an add), sorted by path,
 * with Docker's naive-diff rules. */
int gd_changes (const char *root, const char *parent_root, struct gd_change **out, size_t *n);
void gd_changes_free (struct gd_change *changes, size_t n);
/* Write the tar stream of those changes (AUFS whiteouts for deletes, 512-byte records, no
 * padding past the two zero records: an empty change is exactly 1024 zero bytes). MAPS maps
 * host ids back to container ids (may be NULL). */
int gd_write_diff (const char *root, const char *parent_root, const struct gd_idmaps *maps,
                   gd_write_fn wr, void *ctx);
/* What gd_apply_tar would report as SIZE for that same change. */
int gd_diff_size (const char *root, const char *parent_root, uint64_t *size);

/* Default home for CLI commands when --home is not given. */
#define GD_DEFAULT_HOME   "/var/lib/docker/buse"
#define GD_DEFAULT_SOCKET "/run/docker/plugins/buse.sock"

#endif
