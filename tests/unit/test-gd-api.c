/* test-gd-api.c: unit tests of the parts of `buse serve` that need no mounts — the Init
 * options table (defaults, buse. prefix, unknown keys and bad values named in the error, the
 * mkfs arguments handed to the store), the routing table, and the request field helpers. */
#include <stdio.h>
#include <string.h>

#include "graphdriver/internal.h"

#include "tests/unit/check.h"

/* Parse OPTS (JSON text); return 0/-1 and leave the result in *O. */
static int
parse (const char *opts, struct gd_options *o)
{
  json_t *j = json_loads (opts, 0, NULL);
  int r;

  err_clear ();
  r = gd_options_parse (o, j);
  json_decref (j);
  return r;
}

static void
test_options (void)
{
  struct gd_options o;
  struct layer_store_opts so;
  char *args = NULL;

  CHECK (parse ("[]", &o) == 0 && o.basesize == 10ull << 30 && strcmp (o.fs, "ext4") == 0 &&
         strcmp (o.attach, "auto") == 0);
  CHECK (gd_options_store (&o, &so, &args) == 0 && strcmp (so.mkfs_args, "-m 0") == 0 &&
         so.base_size == 10ull << 30);
  free (args);
  gd_options_free (&o);
  CHECK (parse ("null", &o) == 0);
  gd_options_free (&o);
  CHECK (parse ("[\"buse.basesize=20G\",\"attach=fuse\",\"buse.mkfsarg=-E foo\"]", &o) == 0 &&
         o.basesize == 20ull << 30 && strcmp (o.attach, "fuse") == 0);
  CHECK (gd_options_store (&o, &so, &args) == 0 && strcmp (so.mkfs_args, "-m 0 -E foo") == 0);
  free (args);
  gd_options_free (&o);
  CHECK (parse ("[\"buse.colour=blue\"]", &o) == -1 && strstr (err_get (), "buse.colour"));
  gd_options_free (&o);
  CHECK (parse ("[\"buse.basesize\"]", &o) == -1 && strstr (err_get (), "buse.basesize"));
  gd_options_free (&o);
  CHECK (parse ("[\"buse.fs=btrfs\"]", &o) == -1 && strstr (err_get (), "btrfs"));
  gd_options_free (&o);
  CHECK (parse ("[\"buse.attach=nbd\"]", &o) == -1 && strstr (err_get (), "buse.attach"));
  gd_options_free (&o);
  CHECK (parse ("[\"buse.blocksize=4096\"]", &o) == -1 && strstr (err_get (), "blocksize"));
  gd_options_free (&o);
  CHECK (parse ("[\"buse.basesize=1M\"]", &o) == -1 && strstr (err_get (), "basesize"));
  gd_options_free (&o);
  CHECK (parse ("[1]", &o) == -1 && strstr (err_get (), "Opts[0]"));
  gd_options_free (&o);
  CHECK (parse ("{}", &o) == -1 && strstr (err_get (), "Opts"));
  gd_options_free (&o);
}

static void
test_routes (void)
{
  const struct gd_route *r;

  CHECK ((r = gd_route_find ("/Plugin.Activate")) && r->kind == GD_BODY_JSON && !r->needs_init);
  CHECK ((r = gd_route_find ("/GraphDriver.Init")) && !r->needs_init && r->json);
  CHECK ((r = gd_route_find ("/GraphDriver.ApplyDiff")) && r->kind == GD_BODY_TAR_IN && r->tar_in);
  CHECK ((r = gd_route_find ("/GraphDriver.Diff")) && r->kind == GD_BODY_TAR_OUT && r->tar_out);
  CHECK ((r = gd_route_find ("/GraphDriver.DiffSize")) && r->kind == GD_BODY_JSON && r->json);
  CHECK ((r = gd_route_find ("/GraphDriver.Get")) && r->needs_init && r->json);
  CHECK (gd_route_find ("/GraphDriver.get") == NULL);
  CHECK (gd_route_find ("/GraphDriver.Get/") == NULL);
  CHECK (gd_route_find ("") == NULL);
  const char *all[] = { "Init",    "Capabilities", "Create",  "CreateReadWrite", "Remove",
                        "Get",     "Put",          "Exists",  "Status",          "GetMetadata",
                        "Cleanup", "Diff",         "Changes", "ApplyDiff",       "DiffSize" };
  for (size_t i = 0; i < ARRAY_SIZE (all); i++) {
    char path[64];
    snprintf (path, sizeof path, "/GraphDriver.%s", all[i]);
    CHECK (gd_route_find (path) != NULL);
  }
}

static void
test_fields (void)
{
  json_t *j = json_pack ("{s:s, s:s}", "ID", "abc", "Parent", "");

  CHECK (gd_req_id (j) && strcmp (gd_req_id (j), "abc") == 0);
  CHECK (gd_req_parent (j) == NULL);
  /* ids are taken as they come: the store checks them (once), see test-layers-* and
   * tests/api/test-errors.sh for the errors a bad one gets */
  json_object_set_new (j, "Parent", json_string ("../x"));
  CHECK (gd_req_parent (j) && strcmp (gd_req_parent (j), "../x") == 0);
  json_object_set_new (j, "ID", json_integer (3));
  CHECK (gd_req_id (j) == NULL && strstr (err_get (), "missing ID"));
  json_decref (j);
}

int
main (void)
{
  test_options ();
  test_routes ();
  test_fields ();
  if (failures) {
    fprintf (stderr, "%d checks failed\n", failures);
    return 1;
  }
  printf ("test-gd-api: ok\n");
  return 0;
}
