/* volumes.h: the public interface of volumes/ — block volumes (Docker's VolumeDriver.* on
 * `buse serve`'s socket, `buse volume`).  A volume is a writable buse layer of a store of
 * its own under the volumes home, carrying an ext4 of the volume's size; names never reach
 * a path unchecked. */
#ifndef BUSE_VOLUMES_H
#define BUSE_VOLUMES_H

#include <stdbool.h>

#include "common/common.h"
#include "mounts/mounts.h"

struct vol_store;
struct vol_open_opts {
  enum kdev_mode mode;         /* how volumes are attached (auto, kernel, fuse) */
  bool buffered_io;            /* layer_store_opts.buffered_io */
  const struct nbds_opts *nbd; /* their NBD server's options (may be NULL) */
  struct kdev_opts kdev;       /* mm_cfg.kdev */
};
/* The -o options Create takes, for errors and --help. */
extern const char *const vol_known_opts;
/* A name dockerd may send: [A-Za-z0-9][A-Za-z0-9_.-]{0,63}, no "..".  -1 + err naming it. */
int vol_check_name (const char *name);
/* Open (creating) the volumes home HOME; mounts again the volumes whose mount ids a
 * container still holds.  O may be NULL (defaults).  NULL + err. */
struct vol_store *vol_open (const char *home, const struct vol_open_opts *o);
/* Unmount and detach; the mount ids stay for the next open.  Accepts NULL. */
void vol_close (struct vol_store *v);
/* OPTS: a JSON object of strings (size, from, ro, fs), or NULL.  -1 + err naming the
 * problem (EEXIST, ENOENT for a missing from=, EINVAL). */
int vol_create (struct vol_store *v, const char *name, const json_t *opts);
/* Remove NAME and its data, dropping the mounts of ids that dockerd never unmounted. */
int vol_remove (struct vol_store *v, const char *name);
/* One reference per MOUNT_ID (a repeat is a no-op): the data directory (caller frees). */
char *vol_mount (struct vol_store *v, const char *name, const char *mount_id);
/* Drop MOUNT_ID's reference; the last one unmounts and detaches.  An unknown id: 0. */
int vol_unmount (struct vol_store *v, const char *name, const char *mount_id);
/* The mount point of NAME, "" when not mounted (caller frees).  NULL + err. */
char *vol_path (struct vol_store *v, const char *name);
/* {"Name","Mountpoint","CreatedAt","Status":{...}}; NULL + err ("no such volume: NAME"). */
json_t *vol_get (struct vol_store *v, const char *name);
json_t *vol_list (struct vol_store *v); /* an array of vol_get objects */
/* Serve the volumes that nothing mounts (snapshots, say) read-only over NBD on TCP, export
 * name = volume name (as mm_export_start; stopped by vol_close).  M may be NULL. */
int vol_export_start (struct vol_store *v, const char *spec, struct mm_metrics *m,
                      const struct nbds_opts *nbd);

#endif
