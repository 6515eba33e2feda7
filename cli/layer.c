/* layer.c: `buse layer create|rm`, `buse ls`, `buse inspect` — the layer store from the
 * command line.  Changes open the store exclusively (they fail while a daemon holds it);
 * ls and inspect open it read-only, so they also work beside a running daemon. */
#include <stddef.h>
#include <string.h>

#include "cli/cli.h"

struct args {
  const char *home, *parent, *mkfs_args;
  uint64_t size, base_size;
  bool ro;
};

#define HOME_HELP "the store (default " CLI_DEFAULT_HOME ")"
static const struct opt layer_opts[] = {
  { "home", 0, OPT_STRING, offsetof (struct args, home), "DIR", .help = HOME_HELP },
  { "parent", 0, OPT_STRING, offsetof (struct args, parent), "P",
    .help = "stack the new layer on layer P (default: on the base)" },
  { "size", 0, OPT_SIZE, offsetof (struct args, size), "S",
    .help = "virtual size (default: the parent's); may only grow" },
  { "ro", 0, OPT_FLAG, offsetof (struct args, ro), NULL, .help = "a read-only layer" },
  { "base-size", 0, OPT_SIZE, offsetof (struct args, base_size), "S",
    .help = "size of the base ext4 when the store is created (10G)" },
  { "mkfs-args", 0, OPT_STRING, offsetof (struct args, mkfs_args), "ARGS",
    .help = "extra mke2fs arguments when the store is created" },
  { NULL },
};
static const struct opt home_opts[] = {
  { "home", 0, OPT_STRING, offsetof (struct args, home), "DIR", .help = HOME_HELP }, { NULL }
};
#undef HOME_HELP

static const struct opt_cmd layer_cmd = {
  .name = "buse layer",
  .synopsis = "create ID [OPTIONS]  |  rm ID [--home DIR]",
  .opts = layer_opts,
};
static const struct opt_cmd ls_cmd = {
  .name = "buse ls",
  .synopsis = "[--home DIR]",
  .about = "List the layers of the store: id, parent, sizes, depth, mode.",
  .opts = home_opts,
};
static const struct opt_cmd inspect_cmd = {
  .name = "buse inspect",
  .synopsis = "[--home DIR] ID",
  .about = "Show layer ID as JSON.",
  .opts = home_opts,
};

static const struct opt_cmd *
cmd_of (const char *name)
{
  return !strcmp (name, "layer") ? &layer_cmd : !strcmp (name, "ls") ? &ls_cmd : &inspect_cmd;
}

static void
usage (FILE *fp, const char *cmd)
{
  opts_usage (cmd_of (cmd), fp);
}

/* Parse options; *argc becomes 1 + the number of operands (now argv[1..]).  Returns the index
 * of the first operand, or -1 (exit 2), -2 (help, exit 0). */
static int
parse (int *argc, char **argv, struct args *a)
{
  memset (a, 0, sizeof *a);
  a->home = CLI_DEFAULT_HOME;
  return cli_parse (cmd_of (argv[0]), a, argc, argv);
}

static int
layer_create_cmd (struct args *a, const char *id)
{
  struct layer_store_opts o = { .base_size = a->base_size, .mkfs_args = a->mkfs_args };
  struct layer_store *st = layer_store_open (a->home, a->base_size || a->mkfs_args ? &o : NULL);
  int r;

  if (!st)
    return cli_fail ("layer create");
  r = layer_create (st, id, a->parent, a->size, !a->ro);
  if (r == -1)
    cli_fail ("layer create");
  layer_store_close (st);
  return r == 0 ? 0 : 1;
}

static int
layer_rm_cmd (struct args *a, const char *id)
{
  struct layer_store *st = layer_store_open (a->home, NULL);
  int r;

  if (!st)
    return cli_fail ("layer rm");
  r = layer_remove (st, id);
  if (r == -1)
    cli_fail ("layer rm");
  layer_store_close (st);
  return r == 0 ? 0 : 1;
}

int
cmd_layer (int argc, char **argv)
{
  struct args a;
  int i = parse (&argc, argv, &a);
  const char *sub;

  if (i < 0)
    return i == -2 ? 0 : 2;
  if (argc - i != 2) {
    usage (stderr, "layer");
    return 2;
  }
  sub = argv[i];
  if (!strcmp (sub, "create"))
    return layer_create_cmd (&a, argv[i + 1]);
  if (!strcmp (sub, "rm") || !strcmp (sub, "remove")) {
    if (a.parent || a.size || a.ro) {
      fprintf (stderr, "buse layer rm: takes only --home\n");
      return 2;
    }
    return layer_rm_cmd (&a, argv[i + 1]);
  }
  fprintf (stderr, "buse layer: unknown action '%s' (create or rm)\n", sub);
  return 2;
}

static int
print_one (void *cbdata, const struct layer_info *in)
{
  char v[32], o[32], d[32];
  (void)cbdata;
  printf ("%-24s %-24s %10s %10s %10s %5u %-2s %s\n", in->id, *in->parent ? in->parent : "-",
          fmt_size (in->virtual_size, v, sizeof v), fmt_size (in->owned_bytes, o, sizeof o),
          fmt_size (in->disk_bytes, d, sizeof d), in->depth, in->rw ? "rw" : "ro",
          in->open ? "open" : "");
  return 0;
}

int
cmd_ls (int argc, char **argv)
{
  struct args a;
  int i = parse (&argc, argv, &a), r;
  struct layer_store *st;

  if (i < 0)
    return i == -2 ? 0 : 2;
  if (i != argc) {
    usage (stderr, "ls");
    return 2;
  }
  if (!(st = layer_store_open_ro (a.home)))
    return cli_fail ("ls");
  printf ("%-24s %-24s %10s %10s %10s %5s %s\n", "ID", "PARENT", "SIZE", "OWNED", "DISK", "DEPTH",
          "MODE");
  r = layer_list (st, print_one, NULL);
  if (r == -1)
    cli_fail ("ls");
  layer_store_close (st);
  return r == 0 ? 0 : 1;
}

int
cmd_inspect (int argc, char **argv)
{
  struct args a;
  int i = parse (&argc, argv, &a);
  struct layer_store *st;
  char *json;

  if (i < 0)
    return i == -2 ? 0 : 2;
  if (argc - i != 1) {
    usage (stderr, "inspect");
    return 2;
  }
  if (!(st = layer_store_open_ro (a.home)))
    return cli_fail ("inspect");
  json = layer_inspect_json (st, argv[i]);
  if (json)
    printf ("%s\n", json);
  else
    cli_fail ("inspect");
  free (json);
  layer_store_close (st);
  return json ? 0 : 1;
}
