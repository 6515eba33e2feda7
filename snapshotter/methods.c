/* methods.c: the method table of containerd.services.snapshots.v1.Snapshots and its
 * handlers, which turn protobuf-c messages into calls of snap.c and back.  The messages
 * are generated at build time from containerd's own .proto files. */
#include <string.h>

/* generated at build time into $(BUILD)/gen (see the Makefile) */
#include <github.com/containerd/containerd/api/services/snapshots/v1/snapshots.pb-c.h>
#include "snapshotter/internal.h"

#define PB(name)  Containerd__Services__Snapshots__V1__##name
#define PBD(name) containerd__services__snapshots__v1__##name##__descriptor
typedef Containerd__Types__Mount Mount;
typedef Google__Protobuf__Timestamp Timestamp;

/* Every map<string,string> entry type has this layout. */
struct pb_entry {
  ProtobufCMessage base;
  char *key, *value;
};

/* The labels of a request as an array pointing into it (free the array only). */
static struct snap_label *
labels_of (size_t n, void *entries, size_t *n_out)
{
  struct pb_entry **e = entries;
  struct snap_label *l = calloc (n ? n : 1, sizeof *l);

  *n_out = 0;
  if (!l) {
    err_set (ENOMEM, "labels");
    return NULL;
  }
  for (size_t i = 0; i < n; i++)
    l[i] = (struct snap_label){ e[i]->key, e[i]->value };
  *n_out = n;
  return l;
}

static int
reply_mounts (struct snap_reply *out, const struct snap_mount *m,
              const ProtobufCMessageDescriptor *desc)
{
  Mount mount = CONTAINERD__TYPES__MOUNT__INIT, *mounts[1] = { &mount };
  PB (MountsResponse) resp = CONTAINERD__SERVICES__SNAPSHOTS__V1__MOUNTS_RESPONSE__INIT;

  /* Prepare, View and Mounts responses have one field, repeated Mount mounts = 1. */
  resp.base.descriptor = desc;
  mount.type = (char *)m->type;
  mount.source = m->source;
  mount.n_options = 2;
  mount.options = (char **)m->options;
  resp.n_mounts = 1;
  resp.mounts = mounts;
  return snap_reply_add (out, &resp);
}

static int
do_prepare (struct snap *s, enum snap_kind kind, const char *key, const char *parent, size_t n,
            void *entries, struct snap_reply *out, const ProtobufCMessageDescriptor *resp)
{
  struct snap_mount m = { 0 };
  size_t nl;
  CLEANUP_FREE struct snap_label *l = labels_of (n, entries, &nl);
  int r;

  if (!l || snap_prepare (s, kind, key, parent, l, nl, &m) == -1)
    return -1;
  r = reply_mounts (out, &m, resp);
  free (m.source);
  return r;
}

static int
m_prepare (struct snap *s, const void *req, struct snap_reply *out)
{
  const PB (PrepareSnapshotRequest) *r = req;
  return do_prepare (s, SNAP_ACTIVE, r->key, r->parent, r->n_labels, r->labels, out,
                     &PBD (prepare_snapshot_response));
}

static int
m_view (struct snap *s, const void *req, struct snap_reply *out)
{
  const PB (ViewSnapshotRequest) *r = req;
  return do_prepare (s, SNAP_VIEW, r->key, r->parent, r->n_labels, r->labels, out,
                     &PBD (view_snapshot_response));
}

static int
m_mounts (struct snap *s, const void *req, struct snap_reply *out)
{
  const PB (MountsRequest) *r = req;
  struct snap_mount m = { 0 };
  int rc;

  if (snap_mounts (s, r->key, &m) == -1)
    return -1;
  rc = reply_mounts (out, &m, &PBD (mounts_response));
  free (m.source);
  return rc;
}

static int
reply_empty (struct snap_reply *out)
{
  Google__Protobuf__Empty e = GOOGLE__PROTOBUF__EMPTY__INIT;
  return snap_reply_add (out, &e);
}

static int
m_commit (struct snap *s, const void *req, struct snap_reply *out)
{
  const PB (CommitSnapshotRequest) *r = req;
  size_t nl;
  CLEANUP_FREE struct snap_label *l = labels_of (r->n_labels, r->labels, &nl);

  if (!l || snap_commit (s, r->name, r->key, l, nl) == -1)
    return -1;
  return reply_empty (out);
}

static int
m_remove (struct snap *s, const void *req, struct snap_reply *out)
{
  const PB (RemoveSnapshotRequest) *r = req;

  if (snap_remove (s, r->key) == -1)
    return -1;
  return reply_empty (out);
}

/* An Info message of INFO, pointing into it; free with info_free. */
struct info_msg {
  PB (Info) info;
  Timestamp created, updated;
  PB (Info__LabelsEntry) * entries, **ptrs;
};

static int
info_fill (struct info_msg *m, const struct snap_info *info)
{
  PB (Info) i0 = CONTAINERD__SERVICES__SNAPSHOTS__V1__INFO__INIT;
  Timestamp t0 = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
  PB (Info__LabelsEntry) e0 = CONTAINERD__SERVICES__SNAPSHOTS__V1__INFO__LABELS_ENTRY__INIT;
  size_t n = info->n_labels;

  m->info = i0;
  m->created = m->updated = t0;
  m->entries = calloc (n ? n : 1, sizeof *m->entries);
  m->ptrs = calloc (n ? n : 1, sizeof *m->ptrs);
  if (!m->entries || !m->ptrs) {
    err_set (ENOMEM, "info");
    return -1;
  }
  m->info.name = info->key;
  m->info.parent = info->parent ? info->parent : (char *)"";
  m->info.kind = (PB (Kind))info->kind;
  m->created.seconds = info->created / 1000000000, m->created.nanos = info->created % 1000000000;
  m->updated.seconds = info->updated / 1000000000, m->updated.nanos = info->updated % 1000000000;
  m->info.created_at = &m->created;
  m->info.updated_at = &m->updated;
  for (size_t i = 0; i < n; i++) {
    m->entries[i] = e0;
    m->entries[i].key = info->labels[i].key;
    m->entries[i].value = info->labels[i].value;
    m->ptrs[i] = &m->entries[i];
  }
  m->info.n_labels = n;
  m->info.labels = m->ptrs;
  return 0;
}

static void
info_free (struct info_msg *m)
{
  free (m->entries);
  free (m->ptrs);
}

/* Reply {Info info = 1} (Stat and Update responses have that one field). */
struct one_info {
  struct snap_reply *out;
  const ProtobufCMessageDescriptor *desc;
};

static int
reply_info (void *ctx, const struct snap_info *info)
{
  struct one_info *oi = ctx;
  PB (StatSnapshotResponse)
  resp = CONTAINERD__SERVICES__SNAPSHOTS__V1__STAT_SNAPSHOT_RESPONSE__INIT;
  struct info_msg m = { 0 };
  int r = info_fill (&m, info);

  resp.base.descriptor = oi->desc;
  resp.info = &m.info;
  if (r == 0)
    r = snap_reply_add (oi->out, &resp);
  info_free (&m);
  return r;
}

static int
m_stat (struct snap *s, const void *req, struct snap_reply *out)
{
  const PB (StatSnapshotRequest) *r = req;
  struct one_info oi = { out, &PBD (stat_snapshot_response) };

  return snap_stat (s, r->key, reply_info, &oi);
}

static int
m_update (struct snap *s, const void *req, struct snap_reply *out)
{
  const PB (UpdateSnapshotRequest) *r = req;
  struct one_info oi = { out, &PBD (update_snapshot_response) };
  size_t nl, np = r->update_mask ? r->update_mask->n_paths : 0;
  CLEANUP_FREE struct snap_label *l = NULL;

  if (!r->info) {
    err_set (EINVAL, "Update without an info");
    return -1;
  }
  if (!(l = labels_of (r->info->n_labels, r->info->labels, &nl)))
    return -1;
  return snap_update (s, r->info->name, l, nl, np ? r->update_mask->paths : NULL, np, reply_info,
                      &oi);
}

/* List: blocks of up to 100 infos, as containerd's own service sends them. */
#define LIST_BLOCK 100
struct list_ctx {
  struct snap_reply *out;
  struct info_msg m[LIST_BLOCK];
  PB (Info) * ptrs[LIST_BLOCK];
  size_t n;
};

static int
list_flush (struct list_ctx *lc)
{
  PB (ListSnapshotsResponse)
  resp = CONTAINERD__SERVICES__SNAPSHOTS__V1__LIST_SNAPSHOTS_RESPONSE__INIT;
  int r = 0;

  if (lc->n == 0)
    return 0;
  resp.n_info = lc->n;
  resp.info = lc->ptrs;
  r = snap_reply_add (lc->out, &resp);
  for (size_t i = 0; i < lc->n; i++)
    info_free (&lc->m[i]);
  lc->n = 0;
  return r;
}

static int
list_one (void *ctx, const struct snap_info *info)
{
  struct list_ctx *lc = ctx;

  if (info_fill (&lc->m[lc->n], info) == -1) {
    info_free (&lc->m[lc->n]);
    return -1;
  }
  lc->ptrs[lc->n] = &lc->m[lc->n].info;
  if (++lc->n == LIST_BLOCK)
    return list_flush (lc);
  return 0;
}

static int
m_list (struct snap *s, const void *req, struct snap_reply *out)
{
  const PB (ListSnapshotsRequest) *r = req;
  struct list_ctx *lc = calloc (1, sizeof *lc);
  int rc;

  if (!lc) {
    err_set (ENOMEM, "list");
    return -1;
  }
  lc->out = out;
  rc = snap_walk (s, r->filters, r->n_filters, list_one, lc);
  if (rc == 0)
    rc = list_flush (lc);
  for (size_t i = 0; i < lc->n; i++)
    info_free (&lc->m[i]);
  free (lc);
  return rc;
}

static int
m_usage (struct snap *s, const void *req, struct snap_reply *out)
{
  const PB (UsageRequest) *r = req;
  PB (UsageResponse) resp = CONTAINERD__SERVICES__SNAPSHOTS__V1__USAGE_RESPONSE__INIT;

  if (snap_usage (s, r->key, &resp.size, &resp.inodes) == -1)
    return -1;
  return snap_reply_add (out, &resp);
}

static int
m_cleanup (struct snap *s, const void *req, struct snap_reply *out)
{
  (void)req;
  if (snap_cleanup (s) == -1)
    return -1;
  return reply_empty (out);
}

#define SVC "/containerd.services.snapshots.v1.Snapshots/"
const struct snap_method snap_methods[] = {
  { SVC "Prepare", m_prepare, &PBD (prepare_snapshot_request), false },
  { SVC "View", m_view, &PBD (view_snapshot_request), false },
  { SVC "Mounts", m_mounts, &PBD (mounts_request), false },
  { SVC "Commit", m_commit, &PBD (commit_snapshot_request), false },
  { SVC "Remove", m_remove, &PBD (remove_snapshot_request), false },
  { SVC "Stat", m_stat, &PBD (stat_snapshot_request), false },
  { SVC "Update", m_update, &PBD (update_snapshot_request), false },
  { SVC "List", m_list, &PBD (list_snapshots_request), true },
  { SVC "Usage", m_usage, &PBD (usage_request), false },
  { SVC "Cleanup", m_cleanup, &PBD (cleanup_request), false },
};
const size_t snap_n_methods = ARRAY_SIZE (snap_methods);
