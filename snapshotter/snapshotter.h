/* snapshotter.h: the public interface of snapshotter/ — buse as a containerd proxy
 * snapshotter (containerd.services.snapshots.v1.Snapshots over gRPC on a unix socket). */
#ifndef BUSE_SNAPSHOTTER_H
#define BUSE_SNAPSHOTTER_H

#include <stdbool.h>

#include "attach/attach.h"
#include "nbd/nbds.h"

#define SNAP_DEFAULT_HOME   "/var/lib/buse/snapshotter"
#define SNAP_DEFAULT_SOCKET "/run/buse/snapshotter.sock"

/* How the snapshotter's engine runs (the command fills it from its options and the
 * environment, as `buse serve` does for the graphdriver). */
struct snap_opts {
  const char *attach;    /* "auto" (NULL), "kernel" or "fuse" */
  bool buffered_io;      /* layer_store_opts.buffered_io */
  struct nbds_opts nbd;  /* the layers' NBD server */
  struct kdev_opts kdev; /* mm_cfg.kdev: how layers are attached */
};

struct snap;
/* Open the snapshotter on HOME: the layer store, the engine, and every snapshot record, with
 * the active snapshots mounted again, so it knows every snapshot before it serves.  O may be
 * NULL (defaults).  NULL + err. */
struct snap *snap_open (const char *home, const struct snap_opts *o);
void snap_close (struct snap *s); /* accepts NULL */

struct snap_server;
/* Listen on unix socket PATH (mode 0600; a stale socket is replaced) and serve S. */
struct snap_server *snap_server_start (struct snap *s, const char *path);
void snap_server_stop (struct snap_server *srv); /* waits for calls in flight; accepts NULL */

#endif
