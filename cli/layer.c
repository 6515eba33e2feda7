/* layer.c: `buse layer create|rm`, `buse ls`, `buse inspect` — the layer store from the
 * command line.  Changes open the store exclusively (they fail while a daemon holds it);
 * ls and inspect open it read-only, so they also work beside a running daemon. */
#include <getopt.h>
#include <string.h>

#include "cli/cli.h"

struct args {
  const char *home, *parent, *mkfs_args;
  uint64_t size, base_size;
  bool ro;
};

static void
usage (FILE *fp, const char *cmd)
{
  if (!strcmp (cmd, "layer"))
    fprintf (fp, "usage: buse layer create ID [--parent P] [--size S] [--ro] [--home DIR]\n"
                 "                         [--base-size S] [--mkfs-args ARGS]\n"
                 "       buse layer rm ID [--home DIR]\n\n"
                 "  --parent P      stack the new layer on layer P (default: on the base)\n"
                 "  --size S        virtual size (default: the parent's); may only grow\n"
                 "  --ro            a read-only layer\n"
                 "  --base-size S   size of the base ext4 when the store is created (10G)\n"
                 "  --mkfs-args A   extra mke2fs arguments when the store is created\n");
  else
    fprintf (fp, "usage: buse %s%s [--home DIR]\n", cmd, strcmp (cmd, "ls") ? " ID" : "");
  fprintf (fp, "  --home DIR      the store (default %s)\n", CLI_DEFAULT_HOME);
}

/* Parse options; returns the index of the first operand, or -1 (exit 2), -2 (help, exit 0). */
static int
parse (int argc, char **argv, struct args *a)
{
  static const struct option opts[] = {
    { "home", required_argument, NULL, 'H' },
    { "parent", required_argument, NULL, 'p' },
    { "size", required_argument, NULL, 's' },
    { "ro", no_argument, NULL, 'r' },
    { "base-size", required_argument, NULL, 'b' },
    { "mkfs-args", required_argument, NULL, 'm' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  int c;

  memset (a, 0, sizeof *a);
  a->home = CLI_DEFAULT_HOME;
  optind = 0; /* glibc: full re-initialisation after main's getopt */
  while ((c = getopt_long (argc, argv, "h", opts, NULL)) != -1) {
    switch (c) {
    case 'H': a->home = optarg; break;
    case 'p': a->parent = optarg; break;
    case 'r': a->ro = true; break;
    case 'm': a->mkfs_args = optarg; break;
    case 's':
    case 'b':
      if (parse_size (optarg, c == 's' ? &a->size : &a->base_size) == -1) {
        fprintf (stderr, "buse %s: --%s: %s\n", argv[0], c == 's' ? "size" : "base-size",
                 err_get ());
        return -1;
      }
      break;
    case 'h': usage (stdout, argv[0]); return -2;
    default: usage (stderr, argv[0]); return -1;
    }
  }
  return optind;
}

static int
fail (const char *cmd)
{
  fprintf (stderr, "buse %s: %s\n", cmd, err_get ());
  return 1;
}

static int
layer_create_cmd (struct args *a, const char *id)
{
  struct layer_store_opts o = { .base_size = a->base_size, .mkfs_args = a->mkfs_args };
  struct layer_store *st = layer_store_open (a->home, a->base_size || a->mkfs_args ? &o : NULL);
  int r;

  if (!st)
    return fail ("layer create");
  r = layer_create (st, id, a->parent, a->size, !a->ro);
  if (r == -1)
    fail ("layer create");
  layer_store_close (st);
  return r == 0 ? 0 : 1;
}

static int
layer_rm_cmd (struct args *a, const char *id)
{
  struct layer_store *st = layer_store_open (a->home, NULL);
  int r;

  if (!st)
    return fail ("layer rm");
  r = layer_remove (st, id);
  if (r == -1)
    fail ("layer rm");
  layer_store_close (st);
  return r == 0 ? 0 : 1;
}

int
cmd_layer (int argc, char **argv)
{
  struct args a;
  int i = parse (argc, argv, &a);
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
  int i = parse (argc, argv, &a), r;
  struct layer_store *st;

  if (i < 0)
    return i == -2 ? 0 : 2;
  if (i != argc || a.parent || a.size || a.ro) {
    usage (stderr, "ls");
    return 2;
  }
  if (!(st = layer_store_open_ro (a.home)))
    return fail ("ls");
  printf ("%-24s %-24s %10s %10s %10s %5s %s\n", "ID", "PARENT", "SIZE", "OWNED", "DISK", "DEPTH",
          "MODE");
  r = layer_list (st, print_one, NULL);
  if (r == -1)
    fail ("ls");
  layer_store_close (st);
  return r == 0 ? 0 : 1;
}

int
cmd_inspect (int argc, char **argv)
{
  struct args a;
  int i = parse (argc, argv, &a);
  struct layer_store *st;
  char *json;

  if (i < 0)
    return i == -2 ? 0 : 2;
  if (argc - i != 1 || a.parent || a.size || a.ro) {
    usage (stderr, "inspect");
    return 2;
  }
  if (!(st = layer_store_open_ro (a.home)))
    return fail ("inspect");
  json = layer_inspect_json (st, argv[i]);
  if (json)
    printf ("%s\n", json);
  else
    fail ("inspect");
  free (json);
  layer_store_close (st);
  return json ? 0 : 1;
}
