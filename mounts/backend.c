/* backend.c: a layer stack offered to the NBD server as a backend, and a resolver that opens
 * any layer of a store by id.  This is the only place that knows both nbd/ and layers/; each
 * callback is a thin cast onto layer_stack_*, which are thread-safe and set err/errno.
 * Every connection opens the layer's stack (refcounted: all connections share one view, so
 * CAN_MULTI_CONN holds) and closes it when it ends. */
#include <string.h>

#include "mounts/internal.h"

static int64_t
lb_get_size (void *h)
{
  return layer_stack_size (h);
}

static int
lb_pread (void *h, void *buf, uint32_t count, uint64_t offset)
{
  return layer_stack_pread (h, buf, count, offset);
}

static int
lb_read_runs (void *h, uint32_t count, uint64_t offset, bool probe, nbds_run_fn fn, void *cbdata)
{
  (void)probe;
  return layer_stack_read_runs (h, count, offset, fn, cbdata);
}

static int
lb_pwrite (void *h, const void *buf, uint32_t count, uint64_t offset, bool fua)
{
  return layer_stack_pwrite (h, buf, count, offset, fua);
}

static int
lb_flush (void *h)
{
  return layer_stack_flush (h);
}

static int
lb_trim (void *h, uint32_t count, uint64_t offset, bool fua)
{
  return layer_stack_trim (h, count, offset, fua);
}

/* Zeroing is always a map update (never slow), so FAST_ZERO is honoured and NO_HOLE changes
 * nothing a client can see: the blocks read as zeros either way. */
static int
lb_zero (void *h, uint32_t count, uint64_t offset, bool may_trim, bool fast, bool fua)
{
  (void)may_trim, (void)fast;
  return layer_stack_zero (h, count, offset, fua);
}

static int
lb_extents (void *h, uint32_t count, uint64_t offset, nbds_extent_fn fn, void *cbdata)
{
  return layer_stack_extents (h, count, offset, fn, cbdata);
}

static void
lb_close (void *h)
{
  layer_stack_close (h);
}

const struct nbds_backend mm_layer_backend = {
  .name = "layer",
  .get_size = lb_get_size,
  .pread = lb_pread,
  .pwrite = lb_pwrite,
  .flush = lb_flush,
  .trim = lb_trim,
  .zero = lb_zero,
  .extents = lb_extents,
  .close = lb_close,
  .read_runs = lb_read_runs,
};

static int
open_layer (struct layer_store *st, const char *name, bool read_only,
            const struct nbds_backend **backend, void **handle, bool *ro_out)
{
  struct layer_stack *ls;

  if (!layer_exists (st, name)) {
    err_set (ENOENT, "no layer %s", name);
    return -1;
  }
  if (!(ls = layer_stack_open (st, name, false)))
    return -1;
  *backend = &mm_layer_backend;
  *handle = ls;
  *ro_out = read_only || !layer_stack_writable (ls);
  return 0;
}

static int
resolve_rw (void *ctx, const char *name, const struct nbds_backend **backend, void **handle,
            bool *read_only)
{
  return open_layer (ctx, name, false, backend, handle, read_only);
}

static int
resolve_ro (void *ctx, const char *name, const struct nbds_backend **backend, void **handle,
            bool *read_only)
{
  return open_layer (ctx, name, true, backend, handle, read_only);
}

struct list_ctx {
  int (*fn) (void *cbdata, const char *name);
  void *cbdata;
};

static int
list_one (void *cbdata, const struct layer_info *info)
{
  struct list_ctx *lc = cbdata;
  return lc->fn (lc->cbdata, info->id);
}

static int
resolve_list (void *ctx, int (*fn) (void *cbdata, const char *name), void *cbdata)
{
  struct list_ctx lc = { fn, cbdata };
  return layer_list (ctx, list_one, &lc);
}

void
mm_layer_resolver (struct nbds_resolver *r, struct layer_store *st, bool read_only)
{
  memset (r, 0, sizeof *r);
  r->open = read_only ? resolve_ro : resolve_rw;
  r->list = resolve_list;
  r->ctx = st;
}
