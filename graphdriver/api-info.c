/* api-info.c: the endpoints that only describe — Plugin.Activate, Capabilities, Status
 * (`docker info`) and GetMetadata (`docker inspect`).  Shapes are dockerd's: Capabilities is
 * nested, Status is a list of [key, value] pairs, Metadata values are strings. */
#include <inttypes.h>
#include <string.h>

#include "graphdriver/internal.h"

int
gd_api_activate (struct gd_daemon *d, const json_t *req, json_t *reply)
{
  (void)req;
  if (d->vols)
    return json_object_set_new (reply, "Implements",
                                json_pack ("[ss]", "GraphDriver", "VolumeDriver"));
  return json_object_set_new (reply, "Implements", json_pack ("[s]", "GraphDriver"));
}

int
gd_api_capabilities (struct gd_daemon *d, const json_t *req, json_t *reply)
{
  (void)d, (void)req;
  return json_object_set_new (reply, "Capabilities",
                              json_pack ("{s:b}", "ReproducesExactDiffs", 0));
}

static int
count_layer (void *cbdata, const struct layer_info *info)
{
  (void)info;
  ++*(size_t *)cbdata;
  return 0;
}

static int
add_pair (json_t *list, const char *k, const char *v)
{
  return json_array_append_new (list, json_pack ("[ss]", k, v));
}

int
gd_api_status (struct gd_daemon *d, const json_t *req, json_t *reply)
{
  json_t *list = json_array ();
  char base[32], used[32], n[32], m[32];
  size_t layers = 0;

  (void)req;
  if (!list)
    return -1;
  layer_list (d->st, count_layer, &layers);
  snprintf (n, sizeof n, "%zu", layers);
  snprintf (m, sizeof m, "%zu", mm_active (d->mounts));
  fmt_size (d->opts.basesize, base, sizeof base);
  fmt_size (layer_store_disk_bytes (d->st), used, sizeof used);
  add_pair (list, "Home", d->home);
  add_pair (list, "Attach mode", kdev_mode_name (d->mode));
  add_pair (list, "Filesystem", d->opts.fs);
  add_pair (list, "Base size", base);
  add_pair (list, "Layers", n);
  add_pair (list, "Mounted", m);
  add_pair (list, "Host space used", used);
  return json_object_set_new (reply, "Status", list);
}

int
gd_api_metadata (struct gd_daemon *d, const json_t *req, json_t *reply)
{
  const char *id = gd_req_id (req);
  struct layer_info info;
  char dev[256], size[32], owned[32], depth[32], disk[32];
  json_t *md;

  if (!id)
    return -1;
  if (!layer_exists (d->st, id)) {
    err_set (ENOENT, "layer %s does not exist", id);
    return -1;
  }
  if (layer_info (d->st, id, &info) == -1)
    return -1;
  mm_device (d->mounts, id, dev, sizeof dev);
  snprintf (size, sizeof size, "%" PRIu64, info.virtual_size);
  snprintf (owned, sizeof owned, "%" PRIu64, info.owned_bytes);
  snprintf (disk, sizeof disk, "%" PRIu64, info.disk_bytes);
  snprintf (depth, sizeof depth, "%u", info.depth);
  md =
      json_pack ("{s:s, s:s, s:s, s:s, s:s, s:s}", "Device", dev, "VirtualSize", size, "OwnedBytes",
                 owned, "DiskBytes", disk, "DiffChainLength", depth, "TopDiff", info.top_diff);
  if (!md)
    return -1;
  return json_object_set_new (reply, "Metadata", md);
}

/* The gauges of `buse serve`'s /metrics (mounts/metrics.c calls this at each scrape). */
void
gd_daemon_gauges (void *ctx, struct mm_metrics_gauges *g)
{
  struct gd_daemon *d = ctx;

  /* never wait behind an Init: a scrape then just lacks the gauges */
  if (pthread_rwlock_tryrdlock (&d->lock) != 0)
    return;
  if (d->ready) {
    g->valid = layer_list (d->st, count_layer, &g->layers) == 0;
    g->mounts = mm_active (d->mounts);
    g->disk_bytes = layer_store_disk_bytes (d->st);
  }
  pthread_rwlock_unlock (&d->lock);
}
