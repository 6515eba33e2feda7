/* layers-bench.c: numbers for the layer store, through the C API (no NBD in the way).
 *   layers-bench snapshot DIR [QUICK]  snapshot latency with a 1 MiB, 1 GiB (and 10 GiB) written
 *                                      parent, open (live seal) and closed
 *   layers-bench read DIR              sequential read throughput at depth 1/16/64/128
 *   layers-bench index DIR             memory of the merged index, 20 layers over 1 GiB
 * DIR must not exist (a new store is made there and removed at the end). */
#include <inttypes.h>
#include <string.h>

#include "layers/internal.h"

#define MiB ((uint64_t)1 << 20)

static int
die (const char *what)
{
  fprintf (stderr, "layers-bench: %s: %s\n", what, err_get ());
  exit (1);
}

static double
ms_since (uint64_t t0)
{
  return (now_ns () - t0) / 1e6;
}

static void
fill (struct layer_stack *ls, uint64_t off, uint64_t len)
{
  static uint8_t buf[8 * MiB];
  memset (buf, 0xa5, sizeof buf);
  for (uint64_t done = 0; done < len;) {
    uint32_t n = MIN (sizeof buf, len - done);
    if (layer_stack_pwrite (ls, buf, n, off + done, false) == -1)
      die ("write");
    done += n;
  }
  if (layer_stack_flush (ls) == -1)
    die ("flush");
}

static void
bench_snapshot (struct layer_store *st, bool quick)
{
  const uint64_t sizes[] = { MiB, 1024 * MiB, 10240 * MiB };
  char id[64], child[96];

  for (size_t i = 0; i < (quick ? 2 : 3); i++) {
    snprintf (id, sizeof id, "snap-parent-%zu", i);
    if (layer_create (st, id, NULL, 0, true) == -1)
      die ("create");
    struct layer_stack *ls = layer_stack_open (st, id, true);
    if (!ls)
      die ("open");
    fill (ls, 0, sizes[i]);
    double best = 1e9, worst = 0, sum = 0;
    for (int k = 0; k < 5; k++) {
      fill (ls, k * 4096, 4096); /* the parent keeps changing between snapshots */
      snprintf (child, sizeof child, "%s-c%d", id, k);
      uint64_t t0 = now_ns ();
      if (layer_create (st, child, id, 0, true) == -1)
        die ("snapshot");
      double ms = ms_since (t0);
      best = MIN (best, ms), worst = MAX (worst, ms);
      sum += ms;
    }
    layer_stack_close (ls);
    snprintf (child, sizeof child, "%s-closed", id);
    uint64_t t0 = now_ns ();
    if (layer_create (st, child, id, 0, true) == -1)
      die ("snapshot closed");
    printf ("snapshot, parent with %6" PRIu64 " MiB written: open (live seal) min %.2f avg %.2f"
            " max %.2f ms; closed %.2f ms\n",
            sizes[i] / MiB, best, sum / 5, worst, ms_since (t0));
  }
}

static double
read_mbs (struct layer_store *st, const char *id, uint64_t len)
{
  static uint8_t buf[MiB];
  struct layer_stack *ls = layer_stack_open (st, id, false);
  double best = 0;

  if (!ls)
    die ("open");
  for (int pass = 0; pass < 3; pass++) {
    uint64_t t0 = now_ns ();
    for (uint64_t off = 0; off < len; off += sizeof buf)
      if (layer_stack_pread (ls, buf, sizeof buf, off) == -1)
        die ("read");
    best = MAX (best, len / MiB / ((now_ns () - t0) / 1e9));
  }
  layer_stack_close (ls);
  return best;
}

/* One layer with 256 MiB of data, 127 layers above it each owning 64 scattered blocks
 * elsewhere (so the index below the top has thousands of extents); read the data region. */
static void
bench_read (struct layer_store *st)
{
  const uint64_t len = 256 * MiB;
  const unsigned at[] = { 1, 16, 64, 128 };
  double base_mbs = 0;
  char id[32], parent[32];
  uint64_t r = 1;

  for (unsigned k = 0; k < 128; k++) {
    snprintf (id, sizeof id, "r%u", k);
    if (layer_create (st, id, k ? parent : NULL, 0, true) == -1)
      die ("create");
    struct layer_stack *ls = layer_stack_open (st, id, true);
    if (!ls)
      die ("open");
    if (k == 0)
      fill (ls, 0, len);
    else
      for (int i = 0; i < 64; i++) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        fill (ls, 512 * MiB + ((r >> 20) % (512 * MiB / 4096)) * 4096, 4096);
      }
    layer_stack_close (ls);
    snprintf (parent, sizeof parent, "%s", id);
  }
  for (size_t i = 0; i < ARRAY_SIZE (at); i++) {
    struct layer_info info;
    snprintf (id, sizeof id, "r%u", at[i] - 1);
    double mbs = read_mbs (st, id, len);
    if (i == 0)
      base_mbs = mbs;
    layer_info (st, id, &info);
    printf ("read 256 MiB at depth %3u (%3u diffs): %7.0f MiB/s (%.2fx depth 1)\n", at[i],
            info.depth, mbs, mbs / base_mbs);
  }
}

static void
bench_index (const char *dir)
{
  CLEANUP_FREE char *home = xasprintf ("%s/index", dir);
  struct layer_store_opts o = { .base_size = 1024 * MiB };
  struct layer_store *st = layer_store_open (home, &o);
  char id[32], parent[32];
  uint64_t r = 7;

  if (!st)
    die ("open store");
  for (unsigned k = 0; k < 20; k++) {
    snprintf (id, sizeof id, "i%u", k);
    if (layer_create (st, id, k ? parent : NULL, 0, true) == -1)
      die ("create");
    struct layer_stack *ls = layer_stack_open (st, id, true);
    for (int i = 0; ls && i < 1000; i++) {
      r = r * 6364136223846793005ull + 1442695040888963407ull;
      fill (ls, ((r >> 20) % (1024 * MiB / 4096)) * 4096, 4096);
    }
    layer_stack_close (ls);
    snprintf (parent, sizeof parent, "%s", id);
  }
  snprintf (id, sizeof id, "top");
  if (layer_create (st, id, parent, 0, true) == -1)
    die ("create top");
  uint64_t t0 = now_ns ();
  struct layer_stack *ls = layer_stack_open (st, id, false);
  if (!ls)
    die ("open top");
  double ms = ms_since (t0);
  printf ("merged index, 20 layers x 1000 random 4 KiB blocks over 1 GiB: %zu extents, "
          "%zu KiB (built in %.1f ms); top map %zu KiB\n",
          ls->lower->n, lindex_mem (ls->lower) / 1024, ms, ls->map->nwords * 8 / 1024);
  layer_stack_close (ls);
  layer_store_close (st);
}

int
main (int argc, char **argv)
{
  struct layer_store *st;
  char cmd[600];

  if (argc < 3) {
    fprintf (stderr, "usage: layers-bench snapshot|read|index DIR [QUICK]\n");
    return 2;
  }
  if (!strcmp (argv[1], "index"))
    bench_index (argv[2]);
  else {
    if (!(st = layer_store_open (argv[2], NULL)))
      die ("open store");
    if (!strcmp (argv[1], "snapshot"))
      bench_snapshot (st, argc > 3 && strcmp (argv[3], "0"));
    else
      bench_read (st);
    layer_store_close (st);
  }
  snprintf (cmd, sizeof cmd, "rm -rf '%s'", argv[2]);
  return system (cmd) == 0 ? 0 : 1;
}
