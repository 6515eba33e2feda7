/* backend.c: placeholder until the layer backend is built. */
#include <string.h>

#include "graphdriver/gd.h"

const struct nbds_backend gd_layer_backend = { .name = "layer" };

void
gd_layer_resolver (struct nbds_resolver *r, struct layer_store *st, bool read_only)
{
  (void)st, (void)read_only;
  memset (r, 0, sizeof *r);
}
