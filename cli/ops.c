/* ops.c: operator commands on a store — `buse du` (space per layer, shared vs owned),
 * `buse export ID FILE|-` (the full stack as a sparse raw image) and `buse gc` (diffs and
 * mount directories nobody owns).  du and export only read (a scan of the files, a read-only
 * store), so they work beside a running daemon; gc deletes, so it takes the store's lock
 * (<home>/lock, the flock `buse serve` holds) and is refused while a daemon has the store.
 * `buse fsck` is in fsck.c. */
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"

struct ops_args {
  const char *home;
  bool dry_run, bytes, progress, no_progress;
};

#define A(f)      offsetof (struct ops_args, f)
#define HOME_HELP "the store (default " CLI_DEFAULT_HOME ")"
static const struct opt du_opts[] = {
  { "home", 0, OPT_STRING, A (home), "DIR", .help = HOME_HELP },
  { "bytes", 'b', OPT_FLAG, A (bytes), NULL, .help = "sizes in bytes" },
  { NULL },
};
static const struct opt export_opts[] = {
  { "home", 0, OPT_STRING, A (home), "DIR", .help = HOME_HELP },
  { "progress", 0, OPT_FLAG, A (progress), NULL,
    .help = "a progress bar on stderr (default: when stderr is a terminal)" },
  { "no-progress", 0, OPT_FLAG, A (no_progress), NULL, .help = "no progress bar" },
  { NULL },
};
static const struct opt gc_opts[] = {
  { "home", 0, OPT_STRING, A (home), "DIR", .help = HOME_HELP },
  { "dry-run", 'n', OPT_FLAG, A (dry_run), NULL, .help = "only list what would be removed" },
  { NULL },
};
#undef HOME_HELP
#undef A

static const struct opt_cmd du_cmd = {
  .name = "buse du",
  .synopsis = "[--home DIR] [-b|--bytes]",
  .about = "Host disk space per layer: OWNED is used only by that layer's diffs, SHARED by\n"
           "diffs it shares with other layers (its parents, the base).  The totals count\n"
           "every diff once, and show diffs no layer reaches (what `buse gc` removes).",
  .opts = du_opts,
};
static const struct opt_cmd export_cmd = {
  .name = "buse export",
  .synopsis = "[--home DIR] [--progress|--no-progress] ID FILE|-",
  .about = "Write layer ID's whole stack (what its device shows) as a raw image.  A file is\n"
           "written sparse (holes and zero blocks are skipped); '-' streams every byte to\n"
           "stdout.  The store is opened read-only, so this works beside `buse serve`;\n"
           "export committed layers (a mounted writable layer is changing under you).",
  .opts = export_opts,
};
static const struct opt_cmd gc_cmd = {
  .name = "buse gc",
  .synopsis = "[--home DIR] [-n|--dry-run]",
  .about = "Remove what no layer owns: diffs outside every layer's chain (and leftovers of\n"
           "interrupted creates/removes) and mnt/ directories of layers that no longer\n"
           "exist.  Refused while a daemon holds the store (its lock HOME/lock).",
  .opts = gc_opts,
};

static const struct opt_cmd *
cmd_of (const char *name)
{
  return !strcmp (name, "du") ? &du_cmd : !strcmp (name, "export") ? &export_cmd : &gc_cmd;
}

static void
usage (FILE *fp, const char *cmd)
{
  opts_usage (cmd_of (cmd), fp);
}

/* *argc becomes 1 + the number of operands (now argv[1..]).  Index of the first operand,
 * -1 (exit 2) or -2 (help shown, exit 0). */
static int
parse (int *argc, char **argv, struct ops_args *a)
{
  memset (a, 0, sizeof *a);
  a->home = CLI_DEFAULT_HOME;
  return cli_parse (cmd_of (argv[0]), a, argc, argv);
}

static uint64_t
disk_bytes (const char *home, const char *diff)
{
  static const char *const files[] = { "data", "map", "meta.json" };
  uint64_t n = 0;
  struct stat sb;

  for (size_t i = 0; i < ARRAY_SIZE (files); i++) {
    CLEANUP_FREE char *p = xasprintf ("%s/diffs/%s/%s", home, diff, files[i]);
    if (p && stat (p, &sb) == 0)
      n += (uint64_t)sb.st_blocks * 512;
  }
  return n;
}

static const char *
sz (const struct ops_args *a, uint64_t n, char *buf, size_t len)
{
  if (a->bytes) {
    snprintf (buf, len, "%" PRIu64, n);
    return buf;
  }
  return fmt_size (n, buf, len);
}

struct du_acc {
  struct scan_store *s;
  uint64_t *disk; /* per diff, indexed like s->d */
  uint64_t owned, shared;
};

static void
du_one (void *cbdata, struct scan_diff *d)
{
  struct du_acc *acc = cbdata;
  uint64_t n = acc->disk[d - acc->s->d];

  if (d->users > 1 || !strcmp (d->id, acc->s->base))
    acc->shared += n;
  else
    acc->owned += n;
}

static void
du_print (const struct ops_args *a, struct scan_store *s, uint64_t *disk)
{
  uint64_t total = 0, own = 0, shared = 0, base = 0, unref = 0;
  char b[5][32];

  printf ("%-40s %5s %12s %12s\n", "LAYER", "DEPTH", "OWNED", "SHARED");
  for (size_t i = 0; i < s->nl; i++) {
    struct du_acc acc = { s, disk, 0, 0 };
    unsigned depth = 0;
    scan_chain (s, &s->l[i], du_one, &acc);
    for (struct scan_diff *d = scan_find_diff (s, s->l[i].top); d && depth <= s->nd;
         d = *d->parent ? scan_find_diff (s, d->parent) : NULL)
      depth++;
    printf ("%-40s %5u %12s %12s\n", s->l[i].id, depth, sz (a, acc.owned, b[0], 32),
            sz (a, acc.shared, b[1], 32));
  }
  for (size_t i = 0; i < s->nd; i++) {
    total += disk[i];
    if (!strcmp (s->d[i].id, s->base))
      base += disk[i];
    else if (!s->d[i].reached)
      unref += disk[i];
    else if (s->d[i].users > 1)
      shared += disk[i];
    else
      own += disk[i];
  }
  printf ("total %s in %zu layers, %zu diffs: owned %s, shared %s, base %s, unreferenced %s\n",
          sz (a, total, b[0], 32), s->nl, s->nd, sz (a, own, b[1], 32), sz (a, shared, b[2], 32),
          sz (a, base, b[3], 32), sz (a, unref, b[4], 32));
}

int
cmd_du (int argc, char **argv)
{
  struct ops_args a;
  struct scan_store s;
  int i = parse (&argc, argv, &a);
  uint64_t *disk;

  if (i < 0)
    return i == -2 ? 0 : 2;
  if (i != argc) {
    usage (stderr, "du");
    return 2;
  }
  if (store_scan (a.home, &s) == -1) {
    scan_store_free (&s);
    return cli_fail ("du");
  }
  if (!(disk = calloc (s.nd + 1, sizeof *disk))) {
    scan_store_free (&s);
    return 1;
  }
  for (size_t k = 0; k < s.nd; k++)
    disk[k] = disk_bytes (a.home, s.d[k].id);
  du_print (&a, &s, disk);
  free (disk);
  scan_store_free (&s);
  return 0;
}

static int
export_to (const struct ops_args *a, const char *id, const char *out)
{
  struct layer_store *st = layer_store_open_ro (a->home);
  int fd = 1, r;
  bool bar;

  if (!st)
    return cli_fail ("export");
  if (strcmp (out, "-") && (fd = open (out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) == -1)
    err_set (errno, "open %s", out);
  else if (fd == 1 && isatty (1))
    err_set (EINVAL, "not writing an image to a terminal (redirect stdout)"), fd = -1;
  if (fd == -1) {
    layer_store_close (st);
    return cli_fail ("export");
  }
  CLEANUP_FREE char *mnt = xasprintf ("%s/mnt/%s/rootfs", a->home, id);
  if (mnt && is_mountpoint (mnt) == 1)
    fprintf (stderr,
             "buse export: warning: layer %s is mounted; what is not flushed yet is "
             "missing from the image\n",
             id);
  bar = !a->no_progress && (a->progress || isatty (2));
  r = mm_export_image (st, id, fd, bar);
  if (r == 0 && fd != 1 && fsync (fd) == -1 && errno != EINVAL)
    r = -1, err_set (errno, "fsync %s", out);
  if (fd != 1 && close (fd) == -1 && r == 0)
    r = -1, err_set (errno, "close %s", out);
  if (r == -1)
    cli_fail ("export");
  layer_store_close (st);
  return r == 0 ? 0 : 1;
}

int
cmd_export (int argc, char **argv)
{
  struct ops_args a;
  int i = parse (&argc, argv, &a);

  if (i < 0)
    return i == -2 ? 0 : 2;
  if (argc - i != 2) {
    usage (stderr, "export");
    return 2;
  }
  return export_to (&a, argv[i], argv[i + 1]);
}

/* A mnt/ entry nobody owns: no such layer and nothing mounted in it. */
static bool
stale_mnt (struct scan_store *s, const char *name)
{
  CLEANUP_FREE char *dir = xasprintf ("%s/mnt/%s", s->home, name);
  CLEANUP_FREE char *root = xasprintf ("%s/mnt/%s/rootfs", s->home, name);

  if (scan_find_layer (s, name) || !dir || !root)
    return false;
  return is_mountpoint (dir) == 0 && is_mountpoint (root) == 0;
}

static int
gc_remove (const struct ops_args *a, struct scan_store *s, const char *what, const char *name)
{
  CLEANUP_FREE char *p = xasprintf ("%s/%s/%s", s->home, what, name);

  printf ("%s %s/%s\n", a->dry_run ? "would remove" : "removing", what, name);
  if (a->dry_run || !p)
    return 0;
  if (remove_tree (p) == -1) {
    fprintf (stderr, "buse gc: %s\n", err_get ());
    return -1;
  }
  return 0;
}

/* Deleting what looks unreferenced is safe only if every owner could be read. */
static bool
scan_complete (struct scan_store *s)
{
  if (!s->store_ok) {
    err_set (EINVAL, "%s/store.json is unreadable: not collecting (run buse fsck)", s->home);
    return false;
  }
  for (size_t k = 0; k < s->nl; k++)
    if (!s->l[k].ok) {
      err_set (EINVAL, "layer %s: unreadable metadata: not collecting (run buse fsck)", s->l[k].id);
      return false;
    }
  for (size_t k = 0; k < s->nd; k++)
    if (s->d[k].reached && !s->d[k].meta_ok) {
      err_set (EINVAL, "diff %s: unreadable metadata: not collecting (run buse fsck)", s->d[k].id);
      return false;
    }
  return true;
}

int
cmd_gc (int argc, char **argv)
{
  struct ops_args a;
  struct scan_store s;
  int i = parse (&argc, argv, &a), lock = -1, r = 0;
  size_t n = 0;

  if (i < 0)
    return i == -2 ? 0 : 2;
  if (i != argc) {
    usage (stderr, "gc");
    return 2;
  }
  if (!a.dry_run && (lock = store_lock_try (a.home)) == -1)
    return cli_fail ("gc");
  if (store_scan (a.home, &s) == -1) {
    r = cli_fail ("gc");
    goto out;
  }
  if (!scan_complete (&s)) {
    r = cli_fail ("gc");
    goto out;
  }
  for (size_t k = 0; k < s.nd; k++)
    if (!s.d[k].reached && ++n && gc_remove (&a, &s, "diffs", s.d[k].id) == -1)
      r = 1;
  for (size_t k = 0; k < s.nmnt; k++)
    if (stale_mnt (&s, s.mnt[k]) && ++n && gc_remove (&a, &s, "mnt", s.mnt[k]) == -1)
      r = 1;
  if (!a.dry_run && n && fsync_dir_of (a.home) == -1)
    r = 1;
  printf ("%zu %s\n", n, a.dry_run ? "to remove" : "removed");
out:
  scan_store_free (&s);
  if (lock >= 0)
    close (lock);
  return r;
}
