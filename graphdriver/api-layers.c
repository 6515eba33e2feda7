/* api-layers.c: the endpoints that make, remove and mount layers — Create, CreateReadWrite,
 * Remove, Exists, Get, Put.  They take the fields out of the request and hand over to the
 * layer store and the mount manager, which check ids and existence (once) and whose errors
 * name the layer; a handler only turns them into replies.
 * Both kinds of Create make writable layers: dockerd writes image layers too (ApplyDiff). */
#include <inttypes.h>
#include <string.h>

#include "graphdriver/internal.h"

const char *
gd_req_id (const json_t *req)
{
  const char *id = json_str (req, "ID");

  if (!id || !*id) {
    err_set (EINVAL, "missing ID in the request");
    return NULL;
  }
  return id; /* the store checks it */
}

const char *
gd_req_parent (const json_t *req)
{
  const char *p = json_str (req, "Parent");

  return p && *p ? p : NULL; /* the store checks it */
}

/* StorageOpt {"size": "64M"}; any other key is an error naming it. */
static int
storage_size (const json_t *req, uint64_t *size)
{
  const json_t *so = json_object_get (req, "StorageOpt");
  const char *key;
  json_t *v;

  *size = 0;
  if (!so || json_is_null (so))
    return 0;
  if (!json_is_object (so)) {
    err_set (EINVAL, "StorageOpt is not an object");
    return -1;
  }
  json_object_foreach ((json_t *)so, key, v)
  {
    if (strcasecmp (key, "size") != 0) {
      err_set (EINVAL, "unsupported storage option '%s' (only size)", key);
      return -1;
    }
    if (!json_is_string (v) || parse_size (json_string_value (v), size) == -1) {
      err_prefix ("storage option size");
      return -1;
    }
  }
  return 0;
}

/* Device size for a layer limited to SIZE: grow only past what it inherits. */
static uint64_t
device_size (struct gd_daemon *d, const char *parent, uint64_t size)
{
  struct layer_info info;
  uint64_t inherited = d->opts.basesize;

  if (parent && layer_info (d->st, parent, &info) == 0)
    inherited = info.virtual_size;
  if (size <= inherited)
    return 0;
  return (size + LAYER_BLOCK_SIZE - 1) / LAYER_BLOCK_SIZE * LAYER_BLOCK_SIZE;
}

/* Host id of container id 0 under MAP (N entries); -1 when unmapped. */
static int64_t
host_root (const struct ar_idmap *map, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (map[i].container_id == 0)
      return map[i].host_id;
  return -1;
}

/* With user namespaces (UIDMaps/GIDMaps), a layer without parent gets a rootfs/ owned by the
 * host ids of the container's root, as dockerd expects (overlay2 does the same). */
static int
chown_root (struct gd_daemon *d, const char *id)
{
  int64_t uid = host_root (d->maps.uid, d->maps.n_uid);
  int64_t gid = host_root (d->maps.gid, d->maps.n_gid);
  CLEANUP_FREE char *dir = NULL;
  int r = 0;

  if (uid <= 0 && gid <= 0)
    return 0;
  dir = mm_get (d->mounts, id, true);
  if (!dir)
    return -1;
  if (chown (dir, (uid_t)(uid < 0 ? 0 : uid), (gid_t)(gid < 0 ? 0 : gid)) == -1) {
    err_set (errno, "chown %s", dir);
    r = -1;
  }
  if (mm_put (d->mounts, id, true) == -1)
    r = -1;
  return r;
}

static int
create (struct gd_daemon *d, const json_t *req, bool rw)
{
  const char *id = gd_req_id (req), *parent = gd_req_parent (req);
  uint64_t size;

  if (!id || storage_size (req, &size) == -1)
    return -1;
  if (mm_create (d->mounts, id, parent, device_size (d, parent, size)) == -1)
    return -1;
  if (mm_quota_save (d->home, id, size) == -1 || (!parent && chown_root (d, id) == -1)) {
    err_prefix ("layer %s", id);
    mm_remove (d->mounts, id);
    return -1;
  }
  log_debug ("gd", "created %s layer %s on %s (size %" PRIu64 ")", rw ? "rw" : "ro", id,
             parent ? parent : "the base", size);
  return 0;
}

int
gd_api_create (struct gd_daemon *d, const json_t *req, json_t *reply)
{
  (void)reply;
  return create (d, req, false);
}

int
gd_api_create_rw (struct gd_daemon *d, const json_t *req, json_t *reply)
{
  (void)reply;
  return create (d, req, true);
}

int
gd_api_remove (struct gd_daemon *d, const json_t *req, json_t *reply)
{
  const char *id = gd_req_id (req);

  (void)reply;
  if (!id)
    return -1;
  if (!layer_exists (d->st, id)) {
    log_info ("Remove of layer %s, which does not exist: nothing to do", id);
    return 0; /* idempotent: dockerd retries removals that were interrupted */
  }
  return mm_remove (d->mounts, id);
}

int
gd_api_exists (struct gd_daemon *d, const json_t *req, json_t *reply)
{
  const char *id = gd_req_id (req);

  if (!id)
    return -1;
  return json_object_set_new (reply, "Exists", json_boolean (layer_exists (d->st, id)));
}

int
gd_api_get (struct gd_daemon *d, const json_t *req, json_t *reply)
{
  const char *id = gd_req_id (req);
  CLEANUP_FREE char *dir = NULL;

  if (!id || !(dir = mm_get (d->mounts, id, false)))
    return -1;
  return json_object_set_new (reply, "Dir", json_string (dir));
}

int
gd_api_put (struct gd_daemon *d, const json_t *req, json_t *reply)
{
  const char *id = gd_req_id (req);

  (void)reply;
  if (!id)
    return -1;
  return mm_put (d->mounts, id, false);
}
