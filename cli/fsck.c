/* fsck.c: `buse fsck [ID]` — check a layer store against its on-disk format, then check
 * each layer's filesystem.
 *
 * Structure (read from the files, store_scan.c): store.json names an existing base; every
 * meta.json parses; every diff a layer or a diff names exists; sizes never shrink up a chain;
 * data and map files have the lengths the virtual size implies; every map entry is 0, 1 or 2
 * and nothing is set past the last block; owned counts match what the store reports; every
 * chain ends at the base and passes through the parent layer's chain.
 * Filesystem: the layer is exported (read-only store) to a sparse temporary file and checked
 * with `e2fsck -fn`, so nothing is ever written to the store.
 * Every problem names the diff and the layers that use it; the exit status is 1 if any. */
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"

struct fsck {
  struct scan_store s;
  struct layer_store *st; /* read-only, for owned counts and the e2fsck export */
  bool *bad_diff, *bad_layer;
  const char *only; /* ID or NULL */
  const char *tmpdir;
  bool no_e2fsck;
  unsigned errors, warnings;
};

static void layer_problem (struct fsck *f, struct scan_layer *l, const char *fmt, ...)
    ATTR_PRINTF (3, 4);

static void
layer_problem (struct fsck *f, struct scan_layer *l, const char *fmt, ...)
{
  va_list ap;

  printf ("layer %s: ", l->id);
  va_start (ap, fmt);
  vprintf (fmt, ap);
  va_end (ap);
  putchar ('\n');
  f->bad_layer[l - f->s.l] = true;
  f->errors++;
}

static void
diff_problem (struct fsck *f, struct scan_diff *d, const char *msg)
{
  printf ("diff %s: %s\n", d->id, msg);
  f->bad_diff[d - f->s.d] = true;
  f->errors++;
}

/* First block with an invalid map entry (state 3, or set past the end), or -1. */
static int64_t
bad_map_block (int fd, uint64_t nblocks, uint64_t *owned)
{
  uint64_t w[512];
  uint64_t words = layer_map_size (nblocks * 4096) / 8;

  *owned = 0;
  for (uint64_t i = 0; i < words; i += ARRAY_SIZE (w)) {
    if (pread_full (fd, w, sizeof w, i * 8) == -1)
      return 0;
    for (size_t k = 0; k < ARRAY_SIZE (w) && i + k < words; k++) {
      uint64_t x = w[k], first = (i + k) * 32, valid = 32;
      if (first >= nblocks)
        valid = 0;
      else if (nblocks - first < 32)
        valid = nblocks - first;
      uint64_t keep = valid == 32 ? ~0ull : (1ull << (2 * valid)) - 1;
      if (x & ~keep)
        return first + valid; /* set past the last block */
      uint64_t three = x & (x >> 1) & 0x5555555555555555ull;
      if (three)
        return first + __builtin_ctzll (three) / 2;
      *owned += __builtin_popcountll ((x | (x >> 1)) & 0x5555555555555555ull);
    }
  }
  return -1;
}

static void
check_files (struct fsck *f, struct scan_diff *d, uint64_t *owned)
{
  CLEANUP_FREE char *data = xasprintf ("%s/diffs/%s/data", f->s.home, d->id);
  CLEANUP_FREE char *map = xasprintf ("%s/diffs/%s/map", f->s.home, d->id);
  CLEANUP_CLOSE int fd = -1;
  char msg[256];
  struct stat sb;
  int64_t b;

  if (!data || !map)
    return;
  if (stat (data, &sb) == -1 || !S_ISREG (sb.st_mode) || (uint64_t)sb.st_size != d->size) {
    snprintf (msg, sizeof msg, "data file missing or not %" PRIu64 " bytes long", d->size);
    diff_problem (f, d, msg);
  }
  if ((fd = open (map, O_RDONLY | O_CLOEXEC)) == -1 || fstat (fd, &sb) == -1 ||
      (uint64_t)sb.st_size != layer_map_size (d->size)) {
    snprintf (msg, sizeof msg, "map file missing or not %" PRIu64 " bytes long",
              layer_map_size (d->size));
    diff_problem (f, d, msg);
    return;
  }
  if ((b = bad_map_block (fd, d->size / 4096, owned)) >= 0) {
    snprintf (msg, sizeof msg, "map: invalid entry at block %" PRId64 " (corrupt map)", b);
    diff_problem (f, d, msg);
  }
}

static void
check_diff (struct fsck *f, struct scan_diff *d)
{
  struct scan_diff *p = *d->parent ? scan_find_diff (&f->s, d->parent) : NULL;
  uint64_t owned;
  char msg[256];

  if (!d->meta_ok) {
    diff_problem (f, d, "meta.json missing or unreadable");
    return;
  }
  if (strcmp (d->state, "ready")) {
    printf ("diff %s: left '%s' by an interrupted change (buse gc removes it)\n", d->id, d->state);
    f->warnings++;
  }
  if (*d->parent && !p) {
    snprintf (msg, sizeof msg, "its parent diff %s does not exist", d->parent);
    diff_problem (f, d, msg);
  } else if (p && p->meta_ok && p->size > d->size)
    diff_problem (f, d, "smaller than its parent diff");
  if (!*d->parent && strcmp (d->id, f->s.base))
    diff_problem (f, d, "has no parent but is not the base");
  check_files (f, d, &owned);
}

/* The layer's diffs in a fixed array: top first; returns the count (loops cut). */
static size_t
chain_of (struct fsck *f, const struct scan_layer *l, struct scan_diff **v, size_t max)
{
  size_t n = 0;
  struct scan_diff *d = l->ok ? scan_find_diff (&f->s, l->top) : NULL;

  for (; d && n < max; d = *d->parent ? scan_find_diff (&f->s, d->parent) : NULL)
    v[n++] = d;
  return n;
}

static void
check_layer (struct fsck *f, struct scan_layer *l)
{
  CLEANUP_FREE struct scan_diff **v = calloc (f->s.nd + 1, sizeof *v);
  CLEANUP_FREE struct scan_diff **pv = calloc (f->s.nd + 1, sizeof *pv);
  struct scan_layer *pl = *l->parent ? scan_find_layer (&f->s, l->parent) : NULL;
  size_t n, pn;
  bool found = false;

  if (!v || !pv)
    return;
  if (!l->ok || strcmp (l->state, "ready")) {
    layer_problem (f, l, "metadata unreadable or left '%s'", l->state);
    return;
  }
  if (!scan_find_diff (&f->s, l->top)) {
    layer_problem (f, l, "its top diff %s does not exist", l->top);
    return;
  }
  n = chain_of (f, l, v, f->s.nd + 1);
  if (n == 0 || n > f->s.nd || strcmp (v[n - 1]->id, f->s.base))
    layer_problem (f, l, "its chain of diffs does not end at the base %s", f->s.base);
  if (*l->parent && !pl) {
    layer_problem (f, l, "its parent layer %s does not exist", l->parent);
    return;
  }
  if (!pl || n < 2)
    return;
  pn = chain_of (f, pl, pv, f->s.nd + 1);
  /* below its top: a layer whose own top was sealed (a child was created while it was
   * open) has its older diffs first */
  for (size_t j = 1; j < n && !found; j++)
    for (size_t i = 0; i < pn; i++)
      found |= pv[i] == v[j];
  if (!found)
    layer_problem (f, l, "its chain does not pass through parent layer %s", pl->id);
}

/* Owned bytes the store reports for each layer's top diff against a count of its map. */
static void
check_owned (struct fsck *f, struct scan_layer *l)
{
  struct scan_diff *d = scan_find_diff (&f->s, l->top);
  CLEANUP_FREE char *map = d ? xasprintf ("%s/diffs/%s/map", f->s.home, d->id) : NULL;
  CLEANUP_CLOSE int fd = map ? open (map, O_RDONLY | O_CLOEXEC) : -1;
  struct layer_info info;
  uint64_t owned;

  if (fd == -1 || !f->st || f->bad_diff[d - f->s.d] ||
      bad_map_block (fd, d->size / 4096, &owned) >= 0)
    return;
  if (layer_info (f->st, l->id, &info) == -1)
    layer_problem (f, l, "the store cannot read it: %s", err_get ());
  else if (info.owned_bytes != owned * 4096) {
    char msg[128];
    snprintf (msg, sizeof msg, "%" PRIu64 " bytes, its map %" PRIu64, info.owned_bytes,
              owned * 4096);
    layer_problem (f, l, "owned count wrong: the store says %s", msg);
  }
}

/* Export L to a sparse temporary file and run e2fsck -fn on it.  A mounted layer is left
 * alone: its filesystem is live and its newest blocks may not be flushed yet. */
static void
check_fs (struct fsck *f, struct scan_layer *l)
{
  CLEANUP_FREE char *tmp = xasprintf ("%s/buse-fsck.XXXXXX", f->tmpdir);
  CLEANUP_FREE char *mnt = xasprintf ("%s/mnt/%s/rootfs", f->s.home, l->id);
  CLEANUP_FREE char *out = NULL;
  int fd = -1, r;

  if (mnt && is_mountpoint (mnt) == 1) {
    printf ("layer %s: mounted, filesystem not checked\n", l->id);
    f->warnings++;
    return;
  }
  if (tmp)
    fd = mkstemp (tmp);
  if (fd == -1) {
    fprintf (stderr, "buse fsck: temporary file in %s: %m\n", f->tmpdir);
    f->errors++;
    return;
  }
  unlink (tmp); /* gone at close; e2fsck reads it through /proc/self/fd of ours */
  if (mm_export_image (f->st, l->id, fd, false) == -1) {
    layer_problem (f, l, "cannot be read: %s", err_get ());
    close (fd);
    return;
  }
  CLEANUP_FREE char *path = xasprintf ("/proc/%d/fd/%d", (int)getpid (), fd);
  char *argv[] = { "e2fsck", "-fn", path, NULL };
  if (path && (r = run_cmd (argv, &out)) != 0) {
    layer_problem (f, l, "e2fsck -fn found errors in its filesystem: %s", err_get ());
    if (out)
      fputs (out, stdout);
  } else if (path)
    printf ("layer %s: filesystem clean\n", l->id);
  close (fd);
}

static bool
chain_bad (struct fsck *f, struct scan_layer *l)
{
  struct scan_diff *d = l->ok ? scan_find_diff (&f->s, l->top) : NULL;

  for (size_t n = 0; d && n <= f->s.nd; n++) {
    if (f->bad_diff[d - f->s.d])
      return true;
    d = *d->parent ? scan_find_diff (&f->s, d->parent) : NULL;
  }
  return false;
}

static bool
wanted_diff (struct fsck *f, struct scan_diff *d)
{
  struct scan_layer *l = f->only ? scan_find_layer (&f->s, f->only) : NULL;
  struct scan_diff *x = l && l->ok ? scan_find_diff (&f->s, l->top) : NULL;

  if (!f->only)
    return true;
  for (size_t n = 0; x && n <= f->s.nd; n++) {
    if (x == d)
      return true;
    x = *x->parent ? scan_find_diff (&f->s, x->parent) : NULL;
  }
  return false;
}

static void
run_checks (struct fsck *f)
{
  if (!f->s.store_ok)
    printf ("store: store.json missing or unreadable\n"), f->errors++;
  else if (!scan_find_diff (&f->s, f->s.base))
    printf ("store: its base diff %s does not exist\n", f->s.base), f->errors++;
  for (size_t i = 0; i < f->s.nd; i++)
    if (wanted_diff (f, &f->s.d[i])) {
      check_diff (f, &f->s.d[i]);
      if (!f->s.d[i].reached && !f->only)
        printf ("diff %s: no layer uses it (buse gc removes it)\n", f->s.d[i].id), f->warnings++;
    }
  for (size_t i = 0; i < f->s.nl; i++) {
    struct scan_layer *l = &f->s.l[i];
    if (f->only && strcmp (l->id, f->only))
      continue;
    check_layer (f, l);
    if (!f->bad_layer[i] && chain_bad (f, l))
      layer_problem (f, l, "BAD: a diff of its chain is damaged (see above)");
    if (!f->bad_layer[i])
      check_owned (f, l);
    if (!f->bad_layer[i] && !f->no_e2fsck && f->st)
      check_fs (f, l);
  }
}

struct fsck_args {
  const char *home, *tmpdir;
  bool no_e2fsck;
};

#define A(f) offsetof (struct fsck_args, f)
static const struct opt fsck_opts[] = {
  { "home", 0, OPT_STRING, A (home), "DIR", .help = "the store (default " CLI_DEFAULT_HOME ")" },
  { "no-e2fsck", 0, OPT_FLAG, A (no_e2fsck), NULL, .help = "only the store's structure" },
  { "tmpdir", 0, OPT_STRING, A (tmpdir), "DIR",
    .help = "where the temporary image goes (default $TMPDIR or /var/tmp)" },
  { NULL },
};
#undef A

static const struct opt_cmd fsck_cmd = {
  .name = "buse fsck",
  .synopsis = "[--home DIR] [--no-e2fsck] [--tmpdir DIR] [ID]",
  .about = "Check the store (all layers, or layer ID and the diffs of its chain): metadata\n"
           "parses, every diff named exists, data and map files have their sizes, every map\n"
           "entry is valid, owned counts match; then e2fsck -fn each layer's filesystem\n"
           "(exported read-only to a sparse temporary file).  Read-only: safe beside a\n"
           "running daemon.  Exit 1 if anything is wrong; every problem names its layer.",
  .opts = fsck_opts,
};

/* -1 to go on, else the exit status */
static int
parse (int argc, char **argv, struct fsck *f, const char **home)
{
  struct fsck_args a = { .home = *home, .tmpdir = f->tmpdir };
  int n = opts_parse (&fsck_cmd, &a, argc, argv);

  if (n < 0)
    return opts_exit (&fsck_cmd, n);
  if (n > 1) {
    opts_usage (&fsck_cmd, stderr);
    return 2;
  }
  *home = a.home, f->tmpdir = a.tmpdir, f->no_e2fsck = a.no_e2fsck;
  f->only = n == 1 ? argv[1] : NULL;
  return -1;
}

int
cmd_fsck (int argc, char **argv)
{
  struct fsck f = { .tmpdir = getenv ("TMPDIR") ? getenv ("TMPDIR") : "/var/tmp" };
  const char *home = CLI_DEFAULT_HOME;
  int r = parse (argc, argv, &f, &home);

  if (r >= 0)
    return r;
  if (store_scan (home, &f.s) == -1) {
    fprintf (stderr, "buse fsck: %s\n", err_get ());
    scan_store_free (&f.s);
    return 1;
  }
  if (f.only && !scan_find_layer (&f.s, f.only)) {
    fprintf (stderr, "buse fsck: layer %s does not exist\n", f.only);
    scan_store_free (&f.s);
    return 1;
  }
  f.bad_diff = calloc (f.s.nd + 1, sizeof *f.bad_diff);
  f.bad_layer = calloc (f.s.nl + 1, sizeof *f.bad_layer);
  if (!(f.st = layer_store_open_ro (home)))
    printf ("store: cannot be opened: %s\n", err_get ()), f.errors++;
  if (f.bad_diff && f.bad_layer)
    run_checks (&f);
  printf ("%s: %u error%s, %u warning%s\n", home, f.errors, f.errors == 1 ? "" : "s", f.warnings,
          f.warnings == 1 ? "" : "s");
  layer_store_close (f.st);
  free (f.bad_diff), free (f.bad_layer);
  scan_store_free (&f.s);
  return f.errors ? 1 : 0;
}
