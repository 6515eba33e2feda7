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
/* Compare mtimes as moby's naive diff does (equal seconds with one nanosecond part 0 match),
 * for trees that are not a layer and its parent (e.g. one applied from a tar). */
void gd_changes_loose_times (bool loose);
/* Write the tar stream of those changes (AUFS whiteouts for deletes, 512-byte records, no
 * padding past the two zero records: an empty change is exactly 1024 zero bytes). MAPS maps
 * host ids back to container ids (may be NULL). */
int gd_write_diff (const char *root, const char *parent_root, const struct gd_idmaps *maps,
                   gd_write_fn wr, void *ctx);
/* What gd_apply_tar would report as SIZE for that same change. */
int gd_diff_size (const char *root, const char *parent_root, uint64_t *size);

/* ---- commit by clone (commit-clone.c, commit-revert.c, archive.c, archive-keep.c) ------
 * A commit (Diff of a container streamed into ApplyDiff of a new child of its image) gives
 * the new layer a block-level clone of the container, applies the tar on top keeping
 * identical files, and puts back what the tar did not decide: the result is image + tar. */
struct gd_daemon;
struct gd_tar_touch;
/* Did the tar decide REL ("" is the root)?  *IMPLIED: a member lies below REL. */
bool gd_tar_touched (const struct gd_tar_touch *t, const char *rel, bool *implied);
typedef int (*gd_apply_fixup_fn) (void *ctx, const struct gd_tar_touch *t);
/* gd_apply_tar onto a clone: identical regular files keep their inode (only differing data
 * is written); FIXUP runs after the members, before the directory times are set. */
int gd_apply_tar_keep (const char *root, gd_read_fn rd, void *ctx, const struct gd_idmaps *maps,
                       gd_apply_fixup_fn fixup, void *fixup_ctx, uint64_t *size);
/* gd_write_diff of layer ID against PARENT, registered as a clone source while it runs. */
int gd_clone_write_diff (const char *root, const char *parent_root, const char *id,
                         const char *parent, const struct gd_idmaps *maps, gd_write_fn wr,
                         void *ctx);
/* ApplyDiff of layer ID (parent PARENT, "" for none): by clone when a Diff in flight matches
 * the stream, else plainly.  Mounts ID itself; *SIZE as gd_apply_tar. */
int gd_clone_apply (struct gd_daemon *d, const char *id, const char *parent, gd_read_fn rd,
                    void *ctx, uint64_t *size);
/* Put back under ROOT every change against PARENT_ROOT the tar did not decide. */
int gd_revert_untouched (const char *root, const char *parent_root, const struct gd_tar_touch *t);

/* ---- operator commands, exports, metrics (cmd_ops.c, ops_fsck.c, export.c, metrics.c) -- */
int cmd_du (int argc, char **argv);     /* cmd_ops.c */
int cmd_export (int argc, char **argv); /* cmd_ops.c */
int cmd_gc (int argc, char **argv);     /* cmd_ops.c */
int cmd_fsck (int argc, char **argv);   /* ops_fsck.c */

/* Write layer ID's whole stack to FD as a raw image: sparse (holes and zero blocks skipped)
 * when FD is a regular file, every byte otherwise.  PROGRESS: a bar on stderr. */
int gd_export_image (struct layer_store *st, const char *id, int fd, bool progress);

struct gd_metrics;
struct gd_export;
/* The remote export: committed layers of ST by id, read-only, over NBD on TCP, on a server of
 * its own.  SPEC: "tcp://HOST:PORT", "tcp://:PORT" or "HOST:PORT" (no host: 127.0.0.1).
 * M (may be NULL) counts their requests.  Stop it before closing ST. */
struct gd_export *gd_export_start (struct layer_store *st, const char *spec, struct gd_metrics *m);
void gd_export_stop (struct gd_export *e); /* accepts NULL */

/* Prometheus text on HOST:PORT/metrics: per-export NBD request counts and bytes, a latency
 * histogram, and gauges filled at each scrape by a callback. */
struct gd_metrics_gauges {
  bool valid; /* false: not initialised yet (gauges left out) */
  uint64_t layers, mounts, disk_bytes;
};
typedef void (*gd_gauges_fn) (void *ctx, struct gd_metrics_gauges *g);
struct gd_metrics *gd_metrics_new (void);
/* Wrap R so that every export it opens counts its requests in M.  -1 + err on ENOMEM. */
int gd_metrics_wrap (struct gd_metrics *m, struct nbds_resolver *r);
/* Serve /metrics on HOST:PORT (a "tcp://" prefix is allowed; no host: 127.0.0.1). */
int gd_metrics_listen (struct gd_metrics *m, const char *hostport, gd_gauges_fn fn, void *ctx);
/* The gauges of `buse serve`: CTX is its struct gd_daemon. */
void gd_metrics_daemon_gauges (void *ctx, struct gd_metrics_gauges *g);
/* Stop serving /metrics (before the gauges' context goes away).  Accepts NULL. */
void gd_metrics_stop (struct gd_metrics *m);
/* Free after every server that used a wrapped resolver is freed.  Accepts NULL. */
void gd_metrics_free (struct gd_metrics *m);

/* Default home for CLI commands when --home is not given. */
#define GD_DEFAULT_HOME   "/var/lib/docker/buse"
#define GD_DEFAULT_SOCKET "/run/docker/plugins/buse.sock"

#endif
