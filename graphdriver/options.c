/* options.c: the options dockerd passes to GraphDriver.Init (`--storage-opt buse.key=value`),
 * as a cfg_* table so `buse serve --help` can list them and an unknown key fails Init with an
 * error naming it (a typo must not be silently ignored). */
#include <inttypes.h>
#include <stddef.h>
#include <string.h>

#include "graphdriver/internal.h"

/* No blocks reserved for root: in a container root is the usual writer, and StorageOpt size
 * (quota.c) counts free blocks as everyone's. */
#define GD_MKFS_DEFAULT "-m 0"

const struct cfg_opt gd_init_options[] = {
  { "basesize", CFG_SIZE, offsetof (struct gd_options, basesize), "10G",
    "virtual size of the base filesystem (set at the first Init of a home)" },
  { "fs", CFG_STRING, offsetof (struct gd_options, fs), "ext4", "filesystem (ext4 only)" },
  { "attach", CFG_STRING, offsetof (struct gd_options, attach), "auto",
    "how layers become block devices: auto, kernel (nbd) or fuse (nbdfuse + loop)" },
  { "mkfsarg", CFG_STRING, offsetof (struct gd_options, mkfsarg), "",
    "extra mke2fs arguments for the base, space-separated" },
  { "mountopt", CFG_STRING, offsetof (struct gd_options, mountopt), "",
    "extra mount options, comma-separated" },
  { "min_free_space", CFG_STRING, offsetof (struct gd_options, min_free_space), "auto",
    "host space kept free: container writes get ENOSPC past it (auto: 5%, at most 512M; a "
    "size; N%; off)" },
  { NULL },
};

static int
validate (const struct gd_options *o)
{
  enum kdev_mode mode;

  if (strcmp (o->fs, "ext4") != 0) {
    err_set (EINVAL, "option 'buse.fs': '%s' is not supported (only ext4)", o->fs);
    return -1;
  }
  if (kdev_mode_parse (o->attach, &mode) == -1) {
    err_set (EINVAL, "option 'buse.attach': '%s' is not auto, kernel or fuse", o->attach);
    return -1;
  }
  if (o->basesize < 64 * 1024 * 1024 || o->basesize % LAYER_BLOCK_SIZE) {
    err_set (EINVAL, "option 'buse.basesize': %" PRIu64 " is below 64M or not whole blocks",
             o->basesize);
    return -1;
  }
  return 0;
}

int
gd_options_parse (struct gd_options *o, const json_t *opts)
{
  size_t i;
  json_t *v;

  memset (o, 0, sizeof *o);
  if (cfg_defaults (gd_init_options, o) == -1)
    return -1;
  if (opts && !json_is_array (opts) && !json_is_null (opts)) {
    err_set (EINVAL, "Opts is not a list of strings");
    return -1;
  }
  json_array_foreach (opts, i, v)
  {
    if (!json_is_string (v)) {
      err_set (EINVAL, "Opts[%zu] is not a string", i);
      return -1;
    }
    if (cfg_set (gd_init_options, o, json_string_value (v)) == -1)
      return -1;
  }
  return validate (o);
}

void
gd_options_free (struct gd_options *o)
{
  if (o)
    cfg_free (gd_init_options, o);
}

int
gd_options_store (const struct gd_options *o, struct layer_store_opts *so, char **args)
{
  *args = xasprintf ("%s%s%s", GD_MKFS_DEFAULT, *o->mkfsarg ? " " : "", o->mkfsarg);
  if (!*args)
    return -1;
  memset (so, 0, sizeof *so);
  so->base_size = o->basesize;
  so->mkfs_args = *args;
  so->fs = o->fs;
  return 0;
}
