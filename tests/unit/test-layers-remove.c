/* test-layers-remove.c: removing layers deletes exactly the diffs no layer uses any more,
 * leaves no trash tree behind, and a trash tree left by a crash in the middle of a removal
 * (<home>/trash.<id>) is gone after the next open, while every layer stays readable. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layers/layers.h"
#include "tests/unit/check.h"

static char home[] = "/tmp/buse-remove-XXXXXX";

static bool
exists (const char *fmt, const char *arg)
{
  CLEANUP_FREE char *p = xasprintf (fmt, home, arg);
  struct stat sb;

  return p && stat (p, &sb) == 0;
}

static void
top_of (struct layer_store *st, const char *id, char *out, size_t len)
{
  struct layer_info info;

  CHECK (layer_info (st, id, &info) == 0);
  snprintf (out, len, "%s", info.top_diff);
}

static bool
no_trash (void)
{
  CLEANUP_FREE char *cmd = xasprintf ("ls %s | grep -q '^trash\\.'", home);
  return cmd && system (cmd) != 0;
}

int
main (void)
{
  struct layer_store_opts o = { .base_size = 64 << 20 };
  struct layer_store *st;
  char img[LAYER_ID_MAX + 8], ctr[LAYER_ID_MAX + 8];

  if (!mkdtemp (home))
    return 77;
  CHECK ((st = layer_store_open (home, &o)));
  if (!st)
    return 1;
  CHECK (layer_create (st, "img", NULL, 0, true) == 0);
  CHECK (layer_create (st, "ctr-init", "img", 0, true) == 0);
  CHECK (layer_create (st, "ctr", "ctr-init", 0, true) == 0);
  top_of (st, "img", img, sizeof img);
  top_of (st, "ctr", ctr, sizeof ctr);
  CHECK (layer_remove (st, "ctr") == 0);
  CHECK (!layer_exists (st, "ctr"));
  CHECK (!exists ("%s/diffs/%s", ctr));
  CHECK (exists ("%s/diffs/%s", img));
  CHECK (no_trash ());
  CHECK (layer_remove (st, "ctr-init") == 0);
  CHECK (exists ("%s/diffs/%s", img));
  CHECK (no_trash ());

  /* a removal interrupted between its rename and the end of its remove_tree */
  CHECK (exists ("%s/diffs/%s", img));
  CLEANUP_FREE char *trash = xasprintf ("%s/trash.deadbeef", home);
  CHECK (trash && mkdir (trash, 0700) == 0);
  layer_store_close (st);
  CHECK ((st = layer_store_open (home, NULL)));
  CHECK (no_trash ());
  CHECK (st && layer_exists (st, "img"));
  layer_store_close (st);
  CLEANUP_FREE char *rm = xasprintf ("rm -rf %s", home);
  if (rm && system (rm) != 0)
    return 1;
  return CHECK_RESULT ();
}
