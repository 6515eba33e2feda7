/* internal.h: what the files of snapshotter/ share — snapshot records and their store
 * (meta.c), the snapshotter's semantics (snap.c), List filters (filter.c) and the gRPC
 * server (grpc.c) with its method table (methods.c). */
#ifndef BUSE_SNAP_INTERNAL_H
#define BUSE_SNAP_INTERNAL_H

#include <pthread.h>

#include "common/common.h"
#include "layers/layers.h"
#include "snapshotter/engine.h"
#include "snapshotter/snapshotter.h"

#define SNAP_KEY_MAX    4096 /* bytes of a key (containerd has no bound; its keys are ~100) */
#define SNAP_LABEL_MAX  4096 /* bytes of a label's key + value, as containerd's API says */
#define SNAP_LABELS_MAX 1024

enum snap_kind { SNAP_VIEW = 1, SNAP_ACTIVE = 2, SNAP_COMMITTED = 3 }; /* the API's values */

struct snap_label {
  char *key, *value;
};

/* One snapshot.  KEY is containerd's opaque string; ID is the buse layer, generated. */
struct snap_info {
  char *key;
  char id[LAYER_ID_MAX + 1];
  enum snap_kind kind;
  char *parent; /* key of a committed snapshot, or NULL */
  struct snap_label *labels;
  size_t n_labels;
  int64_t created, updated; /* ns since the epoch */
  int64_t inodes;           /* at commit (committed snapshots), else -1 */
  /* active, and mounted when an earlier snapshotter died: what was written through its
   * mount after the device went may be lost, so it must not be committed */
  bool lost_writes;
};

/* ---- meta.c: the records, one file <dir>/<id>.json each, written atomically --------- */
struct snap_meta;
/* Load every record of DIR (created if needed).  A record that cannot be read is an error:
 * the metadata must be exact, never silently partial. */
struct snap_meta *meta_open (const char *dir);
void meta_close (struct snap_meta *m); /* accepts NULL */
struct snap_info *meta_find (struct snap_meta *m, const char *key);
struct snap_info *meta_find_id (struct snap_meta *m, const char *id);
size_t meta_count (struct snap_meta *m);
struct snap_info *meta_at (struct snap_meta *m, size_t i);
/* Does any snapshot name KEY as its parent? */
bool meta_has_children (struct snap_meta *m, const char *key);
/* Store INFO (taken over by M on success): its new record file joins B, durable once the
 * caller runs B (with the layer's files: one journal commit). */
int meta_add (struct snap_meta *m, struct snap_info *info, struct fsync_batch *b);
/* INFO (a record of M) was changed: write it again durably. */
int meta_save (struct snap_meta *m, struct snap_info *info);
/* Forget INFO durably and free it. */
int meta_remove (struct snap_meta *m, struct snap_info *info);
void snap_info_free (struct snap_info *info); /* accepts NULL */
/* Replace INFO's labels by a copy of LABELS. */
int snap_info_set_labels (struct snap_info *info, const struct snap_label *labels, size_t n);
/* Set label KEY to VALUE (NULL: delete it). */
int snap_info_set_label (struct snap_info *info, const char *key, const char *value);
const char *snap_info_label (const struct snap_info *info, const char *key);
int64_t snap_now (void);

/* ---- filter.c: containerd's filter syntax, for List --------------------------------- */
/* Does INFO match any of FILTERS (none: everything)?  -1 + err (EINVAL) on a bad filter. */
int snap_filter_match (char *const *filters, size_t n, const struct snap_info *info);

/* ---- snap.c: the snapshotter (semantics of containerd's snapshotters) ---------------
 * Errors set err with the errno that grpc.c maps to a status code: ENOENT NotFound, EEXIST
 * AlreadyExists, EINVAL InvalidArgument, EBUSY/ENOTEMPTY FailedPrecondition, ENOSYS
 * Unimplemented; anything else Unknown. */
struct snap;
struct snap_mount {
  const char *type;
  char *source;
  const char *options[2];
};
/* Prepare (KIND active) or View: *MNT filled (free MNT->source). */
int snap_prepare (struct snap *s, enum snap_kind kind, const char *key, const char *parent,
                  const struct snap_label *labels, size_t n_labels, struct snap_mount *mnt);
int snap_mounts (struct snap *s, const char *key, struct snap_mount *mnt);
int snap_commit (struct snap *s, const char *name, const char *key, const struct snap_label *labels,
                 size_t n_labels);
int snap_remove (struct snap *s, const char *key);
/* FN gets a copy-free view of each record while the snapshotter is locked. */
int snap_stat (struct snap *s, const char *key, int (*fn) (void *ctx, const struct snap_info *),
               void *ctx);
/* Update: PATHS (n may be 0: labels) from INFO's labels. */
int snap_update (struct snap *s, const char *key, const struct snap_label *labels, size_t n_labels,
                 char *const *paths, size_t n_paths,
                 int (*fn) (void *ctx, const struct snap_info *), void *ctx);
int snap_walk (struct snap *s, char *const *filters, size_t n_filters,
               int (*fn) (void *ctx, const struct snap_info *), void *ctx);
int snap_usage (struct snap *s, const char *key, int64_t *bytes, int64_t *inodes);
int snap_cleanup (struct snap *s);
/* Checks of client strings: non-empty (unless EMPTY_OK), no NUL, bounded, UTF-8. */
int snap_check_key (const char *what, const char *key, bool empty_ok);
int snap_check_labels (const struct snap_label *labels, size_t n);

/* ---- grpc.c: the server -------------------------------------------------------------- */
struct snap_reply; /* the messages a call sends back */
/* A method: REQ is the unpacked request (its descriptor is the table's); add replies
 * with snap_reply_add.  0, or -1 with err set. */
typedef int (*snap_method_fn) (struct snap *s, const void *req, struct snap_reply *out);
struct snap_method {
  const char *path;
  snap_method_fn fn;
  const void *request; /* const ProtobufCMessageDescriptor * */
  bool streaming;      /* server streaming (List) */
};
extern const struct snap_method snap_methods[];
extern const size_t snap_n_methods;
/* Pack MSG (a ProtobufCMessage) as the call's next reply. */
int snap_reply_add (struct snap_reply *out, const void *msg);

/* ---- decode.c: requests ------------------------------------------------------------- */
/* Unpack LEN bytes as a message of DESC (a const ProtobufCMessageDescriptor *): NULL + err
 * (EINVAL) on bad bytes, and on strings with a NUL byte in them (protobuf-c would cut
 * them short: two keys would become one).  Free with snap_request_free. */
void *snap_request_unpack (const void *desc, const uint8_t *data, size_t len);
void snap_request_free (void *msg);

#endif
