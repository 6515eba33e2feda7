/* mounts.h: the public interface of mounts/ — the engine both front ends share: a layer
 * stack offered to the NBD server as a backend, the mount manager (attach + mount + a
 * reference count per layer), size limits, the low-space guard, the remote export, the
 * raw-image export and the metrics listener. */
#ifndef BUSE_MOUNTS_H
#define BUSE_MOUNTS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "attach/attach.h"
#include "common/common.h"
#include "layers/layers.h"
#include "nbd/nbds.h"

/* backend.c — a layer stack as an NBD backend (handle: struct layer_stack *). */
extern const struct nbds_backend mm_layer_backend;
/* A resolver that opens any layer of ST by id as an export (read-only when READ_ONLY or the
 * layer is not writable).  R is filled in; ST must outlive the server. */
void mm_layer_resolver (struct nbds_resolver *r, struct layer_store *st, bool read_only);

/* ---- mountmgr.c: Get/Put with per-id reference counts ------------------------------- */
struct mm_mounts;
struct mm_cfg {
  const char *home;      /* <home>; mounts live in <home>/mnt/<id>/ */
  const char *state_dir; /* counts are saved in <state_dir>/mounts.json */
  struct layer_store *st;
  struct nbds_server *srv;
  enum kdev_mode mode;
  const char *mountopt; /* extra mount options, may be NULL */
  /* How each layer is attached (kdev_attach): the front end's tuning (force_ioctl,
   * no_reconfigure, losetup...; zeroed: defaults).  state_dir and use_dm are the manager's:
   * <state_dir>/kdev, dm where it exists. */
  struct kdev_opts kdev;
};
/* Reaps stale mounts and devices of an earlier run, then re-mounts the layers whose saved
 * count is above zero (a restarted daemon keeps serving them). */
struct mm_mounts *mm_new (const struct mm_cfg *cfg);
/* Unmounts and detaches everything.  FORGET also drops the saved counts (Cleanup);
 * otherwise they stay for the next start.  Accepts NULL. */
void mm_free (struct mm_mounts *m, bool forget);
/* Unmount and detach everything and drop every count (GraphDriver.Cleanup). */
void mm_cleanup (struct mm_mounts *m);
/* dockerd (re)started (it sent Init): the references the last one held are gone with it.
 * Its mounts stay (a live-restored container may use them) but no longer block Remove;
 * Put ignores them, Get takes them up again, Remove and Cleanup unmount them. */
void mm_new_session (struct mm_mounts *m);
/* INTERNAL: a reference of our own (ApplyDiff, Diff...), never saved, so a crash in the
 * middle leaves nothing held at the next start. */
char *mm_get (struct mm_mounts *m, const char *id, bool internal);
int mm_put (struct mm_mounts *m, const char *id, bool internal);
unsigned mm_count (struct mm_mounts *m, const char *id);
size_t mm_active (struct mm_mounts *m);
/* Device path of a mounted layer into BUF ("" when not mounted). */
void mm_device (struct mm_mounts *m, const char *id, char *buf, size_t len);
/* layer_create, freezing PARENT's filesystem around it when PARENT is mounted. */
int mm_create (struct mm_mounts *m, const char *id, const char *parent, uint64_t size);
struct fsync_batch; /* common/common.h */
/* The same with the layer's new files joining B (layer_create_in): durable once B is run. */
int mm_create_in (struct mm_mounts *m, const char *id, const char *parent, uint64_t size,
                  struct fsync_batch *b);
/* layer_remove, refused (error naming ID) while ID is mounted. */
int mm_remove (struct mm_mounts *m, const char *id);

/* ---- quota.c: StorageOpt size ------------------------------------------------------ */
/* Remember SIZE (bytes, 0 = none) for layer ID under HOME. */
int mm_quota_save (const char *home, const char *id, uint64_t size);
uint64_t mm_quota_load (const char *home, const char *id);
/* Before mounting DEV: grow its filesystem if the device is larger. */
int mm_quota_grow (const char *id, const char *dev);
/* After mounting on FSDIR: leave only SIZE bytes free for the layer's writes. */
int mm_quota_apply (const char *id, const char *fsdir, uint64_t size);

/* ---- lowspace.c: a full host disk gives containers ENOSPC, not a read-only ext4 ----- */
struct mm_lowspace;
/* Start the guard of the layers M mounts under HOME.  SPEC is buse.min_free_space: "auto"
 * (or NULL, ""), a size, "N%" of HOME's filesystem, or "off" (no guard).  NULL + err. */
struct mm_lowspace *mm_lowspace_start (const char *home, struct mm_mounts *m, const char *spec);
void mm_lowspace_stop (struct mm_lowspace *g); /* before M goes; accepts NULL */
/* Bytes the balloon holds in the layer filesystem mounted on FSDIR (0: none); remove it. */
uint64_t mm_lowspace_balloon (const char *fsdir);
void mm_lowspace_deflate (const char *fsdir);

/* ---- export.c, metrics.c: the raw-image export, the remote export, metrics ---------- */
/* Write layer ID's whole stack to FD as a raw image: sparse (holes and zero blocks skipped)
 * when FD is a regular file, every byte otherwise.  PROGRESS: a bar on stderr. */
int mm_export_image (struct layer_store *st, const char *id, int fd, bool progress);

struct mm_metrics;
struct mm_export;
/* The remote export: committed layers of ST by id, read-only, over NBD on TCP, on a server of
 * its own.  SPEC: "tcp://HOST:PORT", "tcp://:PORT" or "HOST:PORT" (no host: 127.0.0.1).
 * M (may be NULL) counts their requests.  Stop it before closing ST. */
/* NBD: the options of its server (may be NULL). */
struct mm_export *mm_export_start (struct layer_store *st, const char *spec, struct mm_metrics *m,
                                   const struct nbds_opts *nbd);
void mm_export_stop (struct mm_export *e); /* accepts NULL */

/* Prometheus text on HOST:PORT/metrics: per-export NBD request counts and bytes, a latency
 * histogram, and gauges filled at each scrape by a callback. */
struct mm_metrics_gauges {
  bool valid; /* false: not initialised yet (gauges left out) */
  uint64_t layers, mounts, disk_bytes;
};
typedef void (*mm_gauges_fn) (void *ctx, struct mm_metrics_gauges *g);
struct mm_metrics *mm_metrics_new (void);
/* Wrap R so that every export it opens counts its requests in M.  -1 + err on ENOMEM. */
int mm_metrics_wrap (struct mm_metrics *m, struct nbds_resolver *r);
/* Serve /metrics on HOST:PORT (a "tcp://" prefix is allowed; no host: 127.0.0.1). */
int mm_metrics_listen (struct mm_metrics *m, const char *hostport, mm_gauges_fn fn, void *ctx);
/* Stop serving /metrics (before the gauges' context goes away).  Accepts NULL. */
void mm_metrics_stop (struct mm_metrics *m);
/* Free after every server that used a wrapped resolver is freed.  Accepts NULL. */
void mm_metrics_free (struct mm_metrics *m);
#endif
