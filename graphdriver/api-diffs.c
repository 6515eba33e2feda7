/* api-diffs.c: the endpoints that move layer contents as tar — ApplyDiff (tar in), Diff (tar
 * out), and Changes and DiffSize (what Diff would contain).  Each mounts the layer (and its
 * parent, to compare against) through the mount manager for the length of the call, so they
 * share mounts with dockerd's own Get/Put and work whether or not the layer is in use.
 * How the pair is held is archive/pair.c's; the tar work is archive/'s. */
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>

#include "graphdriver/internal.h"

/* Layer ID and its parent from REQ, held for the call (archive/pair.c). */
static int
pair_get (struct gd_daemon *d, const json_t *req, struct ar_pair *p)
{
  struct ar_engine *e = &d->engine;
  const char *id = gd_req_id (req);

  if (!id)
    return -1;
  return ar_pair_get (e, id, gd_req_parent (req), p);
}

int
gd_api_changes (struct gd_daemon *d, const json_t *req, json_t *reply)
{
  struct ar_pair p;
  struct ar_change *ch = NULL;
  size_t n = 0;
  json_t *list;
  int r;

  if (pair_get (d, req, &p) == -1)
    return -1;
  r = ar_changes (p.root, p.proot, &ch, &n);
  ar_pair_put (&p);
  if (r == -1)
    return -1;
  list = json_array ();
  for (size_t i = 0; list && i < n; i++)
    json_array_append_new (list,
                           json_pack ("{s:s, s:i}", "Path", ch[i].path, "Kind", (int)ch[i].kind));
  ar_changes_free (ch, n);
  if (!list) {
    err_set (ENOMEM, "changes");
    return -1;
  }
  return json_object_set_new (reply, "Changes", list);
}

int
gd_api_diff_size (struct gd_daemon *d, const json_t *req, json_t *reply)
{
  struct ar_pair p;
  uint64_t size = 0;
  int r;

  if (pair_get (d, req, &p) == -1)
    return -1;
  r = ar_diff_size (p.root, p.proot, &size);
  ar_pair_put (&p);
  if (r == -1)
    return -1;
  return json_object_set_new (reply, "Size", json_integer ((json_int_t)size));
}

int
gd_api_diff (struct gd_daemon *d, const json_t *req, ar_write_fn wr, void *ctx)
{
  struct ar_pair p;
  int r;

  if (pair_get (d, req, &p) == -1)
    return -1;
  r = ar_clone_write_diff (p.root, p.proot, p.id, p.parent, &d->maps, wr, ctx);
  if (r == -1)
    err_prefix ("Diff of layer %s", p.id);
  ar_pair_put (&p);
  return r;
}

/* The tar work, and the commit by clone when the stream is a Diff in flight, are
 * commit-clone.c's. */
int
gd_api_apply_diff (struct gd_daemon *d, const char *id, const char *parent, ar_read_fn rd,
                   void *ctx, json_t *reply)
{
  uint64_t size = 0;

  if (!*id) {
    err_set (EINVAL, "ApplyDiff: missing id in the query");
    return -1;
  }
  if (ar_clone_apply (&d->engine, id, parent, rd, ctx, &size) == -1) {
    err_prefix ("ApplyDiff to layer %s", id);
    return -1;
  }
  log_debug ("gd", "ApplyDiff %s: %" PRIu64 " bytes", id, size);
  return json_object_set_new (reply, "Size", json_integer ((json_int_t)size));
}
