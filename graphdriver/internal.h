/* api.h: internals of `buse serve` — the daemon state, the HTTP layer (http.c), the endpoint
 * handlers (api_*.c), the mount manager (mountmgr.c) and the Init options (options.c).
 * Only graphdriver/ includes this. */
#ifndef BUSE_GD_API_H
#define BUSE_GD_API_H

#include <pthread.h>

#include "common/json.h"
#include "graphdriver/gd.h"

/* ---- options.c: GraphDriver.Init's Opts ("buse.key=value") ------------------------ */
struct gd_options {
  uint64_t basesize;
  char *fs;
  char *attach;
  char *mkfsarg;
  char *mountopt;
  uint64_t blocksize;
  char *min_free_space; /* lowspace.c */
};
extern const struct cfg_opt gd_init_options[];
/* Defaults, then every string of OPTS (a JSON array, may be NULL), then validation.
 * -1 + err naming the bad option. */
int gd_options_parse (struct gd_options *o, const json_t *opts);
void gd_options_free (struct gd_options *o);
/* The layer store options these imply (mkfs args gain "-m 0"); *ARGS is
 * allocated for the store and freed by the caller after layer_store_open. */
int gd_options_store (const struct gd_options *o, struct layer_store_opts *so, char **args);

/* ---- mountmgr.c: Get/Put with per-id reference counts ------------------------------- */
struct gd_mounts;
struct gd_mounts_cfg {
  const char *home;      /* <home>; mounts live in <home>/mnt/<id>/ */
  const char *state_dir; /* counts are saved in <state_dir>/mounts.json */
  struct layer_store *st;
  struct nbds_server *srv;
  enum kdev_mode mode;
  const char *mountopt; /* extra mount options, may be NULL */
};
/* Reaps stale mounts and devices of an earlier run, then re-mounts the layers whose saved
 * count is above zero (a restarted daemon keeps serving them). */
struct gd_mounts *gd_mounts_new (const struct gd_mounts_cfg *cfg);
/* Unmounts and detaches everything.  FORGET also drops the saved counts (Cleanup);
 * otherwise they stay for the next start.  Accepts NULL. */
void gd_mounts_free (struct gd_mounts *m, bool forget);
/* Returns <home>/mnt/<id>/rootfs (caller frees), mounting on the first reference. */
/* Unmount and detach everything and drop every count (GraphDriver.Cleanup). */
void gd_mounts_cleanup (struct gd_mounts *m);
/* dockerd (re)started (it sent Init): the references the last one held are gone with it.
 * Its mounts stay (a live-restored container may use them) but no longer block Remove;
 * Put ignores them, Get takes them up again, Remove and Cleanup unmount them. */
void gd_mounts_new_session (struct gd_mounts *m);
/* INTERNAL: a reference of our own (ApplyDiff, Diff...), never saved, so a crash in the
 * middle leaves nothing held at the next start. */
char *gd_mount_get (struct gd_mounts *m, const char *id, bool internal);
int gd_mount_put (struct gd_mounts *m, const char *id, bool internal);
unsigned gd_mount_count (struct gd_mounts *m, const char *id);
size_t gd_mounts_active (struct gd_mounts *m);
/* Device path of a mounted layer into BUF ("" when not mounted). */
void gd_mount_device (struct gd_mounts *m, const char *id, char *buf, size_t len);
/* layer_create, freezing PARENT's filesystem around it when PARENT is mounted. */
int gd_mount_create (struct gd_mounts *m, const char *id, const char *parent, uint64_t size);
/* layer_remove, refused (error naming ID) while ID is mounted. */
int gd_mount_remove (struct gd_mounts *m, const char *id);

/* ---- quota.c: StorageOpt size ------------------------------------------------------ */
/* Remember SIZE (bytes, 0 = none) for layer ID under HOME. */
int gd_quota_save (const char *home, const char *id, uint64_t size);
uint64_t gd_quota_load (const char *home, const char *id);
/* Before mounting DEV: grow its filesystem if the device is larger. */
int gd_quota_grow (const char *id, const char *dev);
/* After mounting on FSDIR: leave only SIZE bytes free for the layer's writes. */
int gd_quota_apply (const char *id, const char *fsdir, uint64_t size);

/* ---- lowspace.c: a full host disk gives containers ENOSPC, not a read-only ext4 ----- */
struct gd_lowspace;
/* Start the guard of the layers M mounts under HOME.  SPEC is buse.min_free_space: "auto"
 * (or NULL, ""), a size, "N%" of HOME's filesystem, or "off" (no guard).  NULL + err. */
struct gd_lowspace *gd_lowspace_start (const char *home, struct gd_mounts *m, const char *spec);
void gd_lowspace_stop (struct gd_lowspace *g); /* before M goes; accepts NULL */
/* Bytes the balloon holds in the layer filesystem mounted on FSDIR (0: none); remove it. */
uint64_t gd_lowspace_balloon (const char *fsdir);
void gd_lowspace_deflate (const char *fsdir);

/* ---- api_init.c: the daemon ------------------------------------------------------- */
struct gd_daemon {
  char *state_dir;
  char *default_home;    /* --home: used when a call needs Init and none came */
  pthread_rwlock_t lock; /* write: Init; read: every other call */
  bool ready;
  char *home;
  struct gd_options opts;
  enum kdev_mode mode;
  struct gd_idmap *uid, *gid;
  struct gd_idmaps maps;
  struct layer_store *st;
  struct nbds_server *srv;
  struct gd_mounts *mounts;
  struct gd_lowspace *lowspace; /* the full-disk guard of the mounted layers */
  struct gd_metrics *metrics;   /* --metrics: counts every export's requests (may be NULL) */
  char *export_spec;            /* --export: the remote read-only export, started at Init */
  struct gd_export *export;
};
/* DEFAULT_HOME (may be NULL): see default_home above. */
struct gd_daemon *gd_daemon_new (const char *state_dir, const char *default_home);
/* Init again from <state_dir>/init.json if an earlier run saved one (0 when none). */
int gd_daemon_restore (struct gd_daemon *d);
/* Take the daemon lock shared for a call that needs Init: -1 + err when not initialised. */
int gd_daemon_enter (struct gd_daemon *d);
void gd_daemon_leave (struct gd_daemon *d);
/* FORGET: as for gd_mounts_free.  Accepts NULL. */
void gd_daemon_free (struct gd_daemon *d, bool forget);

/* ---- http.c: libmicrohttpd on a unix socket ---------------------------------------- */
struct gd_http;
struct gd_http *gd_http_start (struct gd_daemon *d, const char *socket_path);
void gd_http_stop (struct gd_http *h); /* accepts NULL */

/* Handlers.  A JSON handler fills REPLY and returns 0, or returns -1 with err_set. */
typedef int (*gd_json_fn) (struct gd_daemon *d, const json_t *req, json_t *reply);
/* A tar upload (ApplyDiff): runs on its own thread, pulling the body through RD. */
typedef int (*gd_tar_in_fn) (struct gd_daemon *d, const char *id, const char *parent, gd_read_fn rd,
                             void *ctx, json_t *reply);
/* A tar download (Diff): runs on its own thread, pushing the body through WR. */
typedef int (*gd_tar_out_fn) (struct gd_daemon *d, const json_t *req, gd_write_fn wr, void *ctx);

/* api_info.c */
int gd_api_activate (struct gd_daemon *d, const json_t *req, json_t *reply);
int gd_api_capabilities (struct gd_daemon *d, const json_t *req, json_t *reply);
int gd_api_status (struct gd_daemon *d, const json_t *req, json_t *reply);
int gd_api_metadata (struct gd_daemon *d, const json_t *req, json_t *reply);
/* api_init.c */
int gd_api_init (struct gd_daemon *d, const json_t *req, json_t *reply);
int gd_api_cleanup (struct gd_daemon *d, const json_t *req, json_t *reply);
/* api_layers.c */
int gd_api_create (struct gd_daemon *d, const json_t *req, json_t *reply);
int gd_api_create_rw (struct gd_daemon *d, const json_t *req, json_t *reply);
int gd_api_remove (struct gd_daemon *d, const json_t *req, json_t *reply);
int gd_api_exists (struct gd_daemon *d, const json_t *req, json_t *reply);
int gd_api_get (struct gd_daemon *d, const json_t *req, json_t *reply);
int gd_api_put (struct gd_daemon *d, const json_t *req, json_t *reply);
/* The request's "ID" (checked with check_id), or NULL + err. */
const char *gd_req_id (const json_t *req);
/* The request's "Parent": NULL when absent or empty, or checked. *BAD set on a bad id. */
const char *gd_req_parent (const json_t *req, bool *bad);
/* api_diffs.c */
int gd_api_changes (struct gd_daemon *d, const json_t *req, json_t *reply);
int gd_api_diff_size (struct gd_daemon *d, const json_t *req, json_t *reply);
int gd_api_diff (struct gd_daemon *d, const json_t *req, gd_write_fn wr, void *ctx);
int gd_api_apply_diff (struct gd_daemon *d, const char *id, const char *parent, gd_read_fn rd,
                       void *ctx, json_t *reply);

#endif
