/* graphdriver.h: the public interface of graphdriver/ — the Docker graphdriver plugin that
 * `buse serve` runs: the daemon state (Init, restore, the store and engine it opened), its
 * Init options, and the HTTP server on the plugin socket. */
#ifndef BUSE_GRAPHDRIVER_H
#define BUSE_GRAPHDRIVER_H

#include <pthread.h>

#include "archive/archive.h"
#include "common/common.h"
#include "mounts/mounts.h"

/* ---- options.c: GraphDriver.Init's Opts ("buse.key=value") ------------------------ */
struct gd_options {
  uint64_t basesize;
  char *fs;
  char *attach;
  char *mkfsarg;
  char *mountopt;
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

/* ---- api-init.c: the daemon ------------------------------------------------------- */
/* What the front end passes down to everything Init builds (cli/env.c fills it from the
 * environment).  Zeroed: the defaults.  Its strings must outlive the daemon. */
struct gd_daemon_opts {
  bool buffered_io;             /* layer_store_opts.buffered_io of the store */
  struct nbds_opts nbd;         /* the layers' NBD server and the --export one */
  struct kdev_opts kdev;        /* mm_cfg.kdev: how the mount manager attaches layers */
  enum ar_changes_mode changes; /* ar_engine.changes */
  bool no_clone;                /* ar_engine.no_clone */
};
struct gd_daemon {
  char *state_dir;
  char *default_home; /* --home: used when a call needs Init and none came */
  struct gd_daemon_opts dopts;
  pthread_rwlock_t lock; /* write: Init; read: every other call */
  bool ready;
  char *home;
  struct gd_options opts;
  enum kdev_mode mode;
  struct ar_idmap *uid, *gid;
  struct ar_idmaps maps;
  struct ar_engine engine; /* st, mounts, home, maps: what archive/ works with */
  struct layer_store *st;
  struct nbds_server *srv;
  struct mm_mounts *mounts;
  struct mm_lowspace *lowspace; /* the full-disk guard of the mounted layers */
  struct mm_metrics *metrics;   /* --metrics: counts every export's requests (may be NULL) */
  char *export_spec;            /* --export: the remote read-only export, started at Init */
  struct mm_export *export;
};
/* DEFAULT_HOME (may be NULL): see default_home above.  OPTS may be NULL (defaults). */
struct gd_daemon *gd_daemon_new (const char *state_dir, const char *default_home,
                                 const struct gd_daemon_opts *opts);
/* Init again from <state_dir>/init.json if an earlier run saved one (0 when none). */
int gd_daemon_restore (struct gd_daemon *d);
/* Take the daemon lock shared for a call that needs Init: -1 + err when not initialised. */
int gd_daemon_enter (struct gd_daemon *d);
void gd_daemon_leave (struct gd_daemon *d);
/* FORGET: as for mm_free.  Accepts NULL. */
void gd_daemon_free (struct gd_daemon *d, bool forget);

/* ---- http.c: libmicrohttpd on a unix socket ---------------------------------------- */
struct gd_http;
struct gd_http *gd_http_start (struct gd_daemon *d, const char *socket_path);
void gd_http_stop (struct gd_http *h); /* accepts NULL */
/* The gauges of `buse serve` for mm_metrics_listen: CTX is its struct gd_daemon. */
void gd_daemon_gauges (void *ctx, struct mm_metrics_gauges *g);

#endif
