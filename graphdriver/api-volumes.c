/* api-volumes.c: Docker's volume plugin API (VolumeDriver.*) on the graphdriver's socket,
 * served from the volume store `buse serve` opened (d->vols; none: every call says so).
 *
 * Shapes are moby's volume driver proxy's: requests {"Name", "Opts"|"ID"}, replies with
 * "Err" set on failure.  Failures are answered with status 200 and "Err", which dockerd
 * shows as it is ("create NAME: <Err>"); a non-200 status would prefix the method name.
 * Volume calls need no GraphDriver.Init: a daemon that serves only volumes works. */
#include <string.h>

#include "graphdriver/internal.h"

/* The request's "Name", checked before anything else looks at it; NULL + err. */
static const char *
req_name (const json_t *req)
{
  const char *name = json_string_value (json_object_get (req, "Name"));

  if (!name) {
    err_set_plain (EINVAL, "the request has no Name");
    return NULL;
  }
  return vol_check_name (name) == 0 ? name : NULL;
}

/* Fill "Err" from the error state when R failed; always 0 (the reply carries the error). */
static int
answer (json_t *reply, int r)
{
  if (r == -1)
    json_object_set_new (reply, "Err", json_string (err_get ()));
  return 0;
}

static struct vol_store *
vols_of (struct gd_daemon *d)
{
  if (!d->vols)
    err_set_plain (ENOTSUP, "this buse serves no volumes (started with --no-volumes)");
  return d->vols;
}

int
gd_vol_create (struct gd_daemon *d, const json_t *req, json_t *reply)
{
  struct vol_store *v = vols_of (d);
  const char *name = v ? req_name (req) : NULL;

  return answer (reply, name ? vol_create (v, name, json_object_get (req, "Opts")) : -1);
}

int
gd_vol_remove (struct gd_daemon *d, const json_t *req, json_t *reply)
{
  struct vol_store *v = vols_of (d);
  const char *name = v ? req_name (req) : NULL;

  return answer (reply, name ? vol_remove (v, name) : -1);
}

/* Mount and Path reply {"Mountpoint"}. */
static int
mountpoint_reply (json_t *reply, char *path)
{
  if (!path)
    return answer (reply, -1);
  json_object_set_new (reply, "Mountpoint", json_string (path));
  free (path);
  return 0;
}

int
gd_vol_mount (struct gd_daemon *d, const json_t *req, json_t *reply)
{
  struct vol_store *v = vols_of (d);
  const char *name = v ? req_name (req) : NULL;
  const char *id = json_string_value (json_object_get (req, "ID"));

  return mountpoint_reply (reply, name ? vol_mount (v, name, id ? id : "") : NULL);
}

int
gd_vol_unmount (struct gd_daemon *d, const json_t *req, json_t *reply)
{
  struct vol_store *v = vols_of (d);
  const char *name = v ? req_name (req) : NULL;
  const char *id = json_string_value (json_object_get (req, "ID"));

  return answer (reply, name ? vol_unmount (v, name, id ? id : "") : -1);
}

int
gd_vol_path (struct gd_daemon *d, const json_t *req, json_t *reply)
{
  struct vol_store *v = vols_of (d);
  const char *name = v ? req_name (req) : NULL;

  return mountpoint_reply (reply, name ? vol_path (v, name) : NULL);
}

int
gd_vol_get (struct gd_daemon *d, const json_t *req, json_t *reply)
{
  struct vol_store *v = vols_of (d);
  const char *name = v ? req_name (req) : NULL;
  json_t *vol = name ? vol_get (v, name) : NULL;

  if (!vol)
    return answer (reply, -1);
  json_object_set_new (reply, "Volume", vol);
  return 0;
}

int
gd_vol_list (struct gd_daemon *d, const json_t *req, json_t *reply)
{
  struct vol_store *v = vols_of (d);
  json_t *all = v ? vol_list (v) : NULL;

  (void)req;
  if (!all)
    return answer (reply, -1);
  json_object_set_new (reply, "Volumes", all);
  return 0;
}

int
gd_vol_capabilities (struct gd_daemon *d, const json_t *req, json_t *reply)
{
  (void)d, (void)req;
  json_object_set_new (reply, "Capabilities", json_pack ("{s:s}", "Scope", "local"));
  return 0;
}
