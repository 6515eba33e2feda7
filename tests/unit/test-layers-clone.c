/* test-layers-clone.c: layer_clone_view makes a fresh child of an image read exactly what a
 * container (two layers further up, as dockerd's C over C-init over I) reads, and copies only
 * the blocks their stacks differ in: data, zeroed and trimmed blocks over image data, and a
 * block the image itself got after the container was made (a fresh top of the image). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "layers/layers.h"
#include "tests/unit/check.h"

#define BS      4096u
#define NBLOCKS 1024u /* the 4 MiB base */

static void
fill (struct layer_store *st, const char *id, uint64_t blk, unsigned n, int byte)
{
  struct layer_stack *ls = layer_stack_open (st, id, true);
  char buf[BS];

  memset (buf, byte, sizeof buf);
  CHECK (ls != NULL);
  for (unsigned i = 0; ls && i < n; i++)
    CHECK (layer_stack_pwrite (ls, buf, BS, (blk + i) * BS, false) == 0);
  layer_stack_close (ls);
}

static int
cmp_views (struct layer_store *st, const char *a, const char *b)
{
  struct layer_stack *la = layer_stack_open (st, a, false), *lb = layer_stack_open (st, b, false);
  char *x = malloc (NBLOCKS * BS), *y = malloc (NBLOCKS * BS);
  int r = -1;

  if (la && lb && x && y && layer_stack_pread (la, x, NBLOCKS * BS, 0) == 0 &&
      layer_stack_pread (lb, y, NBLOCKS * BS, 0) == 0)
    r = memcmp (x, y, NBLOCKS * BS) != 0;
  layer_stack_close (la), layer_stack_close (lb);
  free (x), free (y);
  return r;
}

static uint64_t
owned (struct layer_store *st, const char *id)
{
  struct layer_info in;
  return layer_info (st, id, &in) == 0 ? in.owned_bytes : UINT64_MAX;
}

int
main (void)
{
  char home[] = "/tmp/test-layers-clone.XXXXXX";
  struct layer_store_opts o = { .base_size = NBLOCKS * BS };
  struct layer_store *st = NULL;
  struct layer_stack *ls;

  if (access ("/sbin/mke2fs", X_OK) == -1 && access ("/usr/sbin/mke2fs", X_OK) == -1)
    return 77;
  CHECK (mkdtemp (home) && (st = layer_store_open (home, &o)));
  if (!st)
    return 1;
  CHECK (layer_create (st, "img", NULL, 0, true) == 0);
  fill (st, "img", 100, 50, 'i');
  CHECK (layer_create (st, "c-init", "img", 0, true) == 0);
  fill (st, "c-init", 10, 2, 'n');
  CHECK (layer_create (st, "c", "c-init", 0, true) == 0);
  fill (st, "c", 120, 1, 'c'); /* over image data */
  fill (st, "c", 500, 3, 'd'); /* new data */
  CHECK ((ls = layer_stack_open (st, "c", true)));
  CHECK (layer_stack_zero (ls, 2 * BS, 130 * BS, false) == 0); /* zeros over image data */
  CHECK (layer_stack_trim (ls, BS, 140 * BS, false) == 0);
  layer_stack_close (ls);
  fill (st, "img", 700, 1, 'p'); /* the image's fresh top: the clone must hide it */
  CHECK (layer_create (st, "new", "img", 0, true) == 0);
  CHECK (cmp_views (st, "new", "c") == 1);
  CHECK (layer_clone_view (st, "new", "c") == 0);
  CHECK (cmp_views (st, "new", "c") == 0);
  /* 2 + 1 + 3 + 2 + 1 blocks differ from the image, and block 700 (now zero): at most 10 */
  CHECK (owned (st, "new") > 0 && owned (st, "new") <= 10 * BS);
  CHECK (layer_create (st, "other", NULL, 2 * NBLOCKS * BS, true) == 0);
  CHECK (layer_clone_view (st, "other", "c") == -1); /* sizes differ */
  layer_store_close (st);
  remove_tree (home);
  return CHECK_RESULT ();
}
