/* snapshotter.h: the public interface of snapshotter/ — buse as a containerd proxy
 * snapshotter (containerd.services.snapshots.v1.Snapshots over gRPC on a unix socket). */
#ifndef BUSE_SNAPSHOTTER_H
#define BUSE_SNAPSHOTTER_H

#define SNAP_DEFAULT_HOME   "/var/lib/buse/snapshotter"
#define SNAP_DEFAULT_SOCKET "/run/buse/snapshotter.sock"

/* `buse snapshotter [--home DIR] [--socket PATH]`: serve in the foreground until SIGTERM or
 * SIGINT.  Returns the process exit status. */
int cmd_snapshotter (int argc, char **argv);

#endif
