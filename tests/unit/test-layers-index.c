/* test-layers-index.c: unit tests of the pieces under the layer store — the 2-bit map (set,
 * runs, counts, dirty pages, save/load), the merged index (lookups against a per-block
 * reference over a random chain), and concurrent partial writes into one block from several
 * threads while flushes and a live snapshot run (copy-up must not lose any writer's bytes). */
#include <inttypes.h>
#include <string.h>

#include "layers/internal.h"
#include "tests/unit/check.h"

static uint64_t rng = 88172645463325252ull;

static uint64_t
rnd (uint64_t n)
{
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return rng % n;
}

static void
test_bmap (void)
{
  const uint64_t nb = 70001;
  struct bmap *m = bmap_new (nb), *m2 = bmap_new (nb);
  uint8_t *ref = calloc (nb, 1);
  size_t *pages = NULL, n = 0;
  uint64_t owned = 0;
  FILE *tmp = tmpfile ();

  CHECK (m && m2 && ref && tmp);
  CHECK (bmap_file_size (nb) == 20480 && m->npages == 5);
  for (int i = 0; i < 2000; i++) {
    uint64_t b = rnd (nb), len = 1 + rnd (i % 10 ? 40 : 5000);
    unsigned s = rnd (3);
    len = MIN (len, nb - b);
    bmap_set_range (m, b, len, s);
    memset (ref + b, s, len);
  }
  for (uint64_t b = 0; b < nb; b++) {
    CHECK (bmap_get (m, b) == ref[b]);
    owned += ref[b] != 0;
  }
  CHECK (bmap_count_owned (m) == owned);
  for (uint64_t b = 0; b < nb; b = bmap_run_end (m, b, nb)) {
    uint64_t e = bmap_run_end (m, b, nb);
    CHECK (e > b && e <= nb);
    for (uint64_t x = b; x < e; x++)
      CHECK (ref[x] == ref[b]);
    CHECK (e == nb || ref[e] != ref[b]);
  }
  CHECK (bmap_get (m, nb + 5) == BMAP_ABSENT);
  uint8_t *buf = bmap_take_dirty (m, &pages, &n);
  CHECK (buf && n == 5 && pages[0] == 0 && pages[4] == 4);
  free (buf), free (pages);
  CHECK (bmap_take_dirty (m, &pages, &n) == NULL && n == 0);
  bmap_set_range (m, 40000, 1, ref[40000] == 1 ? 2 : 1); /* word 1250: page 2 */
  ref[40000] = ref[40000] == 1 ? 2 : 1;
  bmap_set_range (m, 40001, 1, ref[40001]); /* unchanged: stays clean */
  buf = bmap_take_dirty (m, &pages, &n);
  CHECK (buf && n == 1 && pages[0] == 2);
  free (buf), free (pages);
  CHECK (bmap_save_all (m, fileno (tmp)) == 0 && bmap_load (m2, fileno (tmp)) == 0);
  for (uint64_t b = 0; b < nb; b++)
    CHECK (bmap_get (m2, b) == ref[b]);
  fclose (tmp), free (ref), bmap_free (m), bmap_free (m2);
  printf ("ok: bmap\n");
}

/* A chain of DEPTH fake diffs (no files: opens preset so no fd is ever opened). */
static void
test_index (unsigned depth)
{
  const uint64_t nb = 5000;
  struct diff d[8];
  struct bmap *m[8];
  struct lindex *ix[8] = { NULL };
  struct layer_store st = { .home = "/nonexistent" };

  CHECK (depth <= 8);
  for (unsigned i = 0; i < depth; i++) {
    memset (&d[i], 0, sizeof d[i]);
    snprintf (d[i].id, sizeof d[i].id, "fake%u", i);
    d[i].parent = i ? &d[i - 1] : NULL;
    d[i].nblocks = nb - (depth - 1 - i) * 100; /* each level bigger than its parent */
    d[i].opens = 1;
    CHECK ((m[i] = bmap_new (d[i].nblocks)));
    for (int k = 0; k < 60; k++)
      bmap_set_range (m[i], rnd (d[i].nblocks), 1 + rnd (80), rnd (3));
    CHECK ((ix[i] = lindex_build (&st, &d[i], m[i], i ? ix[i - 1] : NULL)));
    CHECK (ix[i]->ndiffs == i + 1);
  }
  for (uint64_t b = 0; b < nb + 10; b++) {
    int32_t want = LINDEX_ZERO;
    uint64_t end;
    for (int i = depth - 1; i >= 0; i--) {
      unsigned s = b < d[i].nblocks ? bmap_get (m[i], b) : BMAP_ABSENT;
      if (s == BMAP_ABSENT)
        continue;
      want = s == BMAP_PRESENT ? i : LINDEX_ZERO;
      break;
    }
    int32_t got = lindex_lookup (ix[depth - 1], b, &end);
    CHECK (got == want && end > b);
  }
  printf ("ok: merged index, depth %u: %zu extents, %zu bytes\n", depth, ix[depth - 1]->n,
          lindex_mem (ix[depth - 1]));
  for (unsigned i = 0; i < depth; i++)
    lindex_free (ix[i]), bmap_free (m[i]);
}

#define NTHREADS 4
#define NBLOCKS  256
#define ROUNDS   40

static pthread_barrier_t barrier;

struct worker {
  struct layer_stack *ls;
  unsigned t;
};

/* Thread T owns bytes [T*1024, T*1024+1024) of every block: partial writes only.  Rounds start
 * together on blocks the main thread just trimmed, so every write is a racing copy-up. */
static void *
writer (void *arg)
{
  struct worker *w = arg;
  uint8_t buf[1024];

  for (unsigned r = 0; r < ROUNDS; r++) {
    pthread_barrier_wait (&barrier);
    for (unsigned b = 0; b < NBLOCKS; b++) {
      memset (buf, (uint8_t)(w->t * 50 + r + 1), sizeof buf);
      CHECK (layer_stack_pwrite (w->ls, buf, sizeof buf, (uint64_t)b * 4096 + w->t * 1024, false) ==
             0);
    }
    pthread_barrier_wait (&barrier);
  }
  return NULL;
}

static void
check_round (struct layer_stack *ls, unsigned r)
{
  uint8_t blk[4096];

  for (unsigned b = 0; b < NBLOCKS; b++) {
    CHECK (layer_stack_pread (ls, blk, sizeof blk, (uint64_t)b * 4096) == 0);
    for (unsigned t = 0; t < NTHREADS; t++)
      for (unsigned i = 0; i < 1024; i++)
        if (blk[t * 1024 + i] != (uint8_t)(t * 50 + r + 1)) {
          CHECKF (blk[t * 1024 + i] == (uint8_t)(t * 50 + r + 1),
                  "round %u block %u: thread %u's bytes lost", r, b, t);
          return;
        }
  }
}

static void
test_concurrent (void)
{
  char home[] = "/dev/shm/test-layers-index.XXXXXX", cmd[100], id[32];
  struct layer_store_opts o = { .base_size = 4 << 20 };
  struct layer_store *st;
  struct layer_stack *ls;
  pthread_t th[NTHREADS];
  struct worker w[NTHREADS];

  if (access ("/dev/shm", W_OK) == -1)
    memcpy (home, "/tmp/", 5), memmove (home + 5, home + 9, sizeof home - 9);
  CHECK (mkdtemp (home) && (st = layer_store_open (home, &o)));
  if (!st)
    return;
  CHECK (layer_create (st, "x", NULL, 0, true) == 0);
  CHECK ((ls = layer_stack_open (st, "x", true)));
  if (!ls)
    return;
  CHECK (layer_stack_open (st, "x", false) == ls); /* one shared object */
  layer_stack_close (ls);
  pthread_barrier_init (&barrier, NULL, NTHREADS + 1);
  for (unsigned t = 0; t < NTHREADS; t++) {
    w[t] = (struct worker){ ls, t };
    CHECK (pthread_create (&th[t], NULL, writer, &w[t]) == 0);
  }
  for (unsigned r = 0; r < ROUNDS; r++) {
    pthread_barrier_wait (&barrier); /* go */
    if (r % 8 == 3) {                /* a live seal and a flush under the racing writes */
      snprintf (id, sizeof id, "snap%u", r);
      CHECK (layer_create (st, id, "x", 0, true) == 0);
      CHECK (layer_stack_flush (ls) == 0);
    }
    pthread_barrier_wait (&barrier); /* done */
    check_round (ls, r);
    CHECK (layer_stack_trim (ls, NBLOCKS * 4096, 0, false) == 0); /* absent or zero again */
  }
  for (unsigned t = 0; t < NTHREADS; t++)
    pthread_join (th[t], NULL);
  pthread_barrier_destroy (&barrier);
  struct layer_info info;
  CHECK (layer_info (st, "x", &info) == 0 && info.open && info.depth == 2 + ROUNDS / 8);
  CHECK (layer_remove (st, "x") == -1 && errno == EBUSY);
  layer_stack_close (ls);
  CHECK (layer_remove (st, "x") == 0 && layer_exists (st, "snap3"));
  layer_store_close (st);
  snprintf (cmd, sizeof cmd, "rm -rf %s", home);
  CHECK (system (cmd) == 0);
  printf ("ok: %d threads racing copy-ups of the same blocks, %d rounds, with live seals\n",
          NTHREADS, ROUNDS);
}

/* Threads own unaligned byte regions (so neighbours share edge blocks) and run random
 * writes, zeroes, trims and reads there against their own model, while the main thread takes
 * live snapshots of the layer and flushes. */
#define REGION 300000

struct mthread {
  struct layer_stack *ls;
  unsigned t;
  uint64_t rng;
  uint8_t model[REGION];
};

static uint64_t
trnd (struct mthread *m, uint64_t n)
{
  m->rng ^= m->rng << 13, m->rng ^= m->rng >> 7, m->rng ^= m->rng << 17;
  return m->rng % n;
}

static void *
model_thread (void *arg)
{
  struct mthread *m = arg;
  const uint64_t base = 1000 + (uint64_t)m->t * REGION;
  static __thread uint8_t buf[REGION];

  for (int i = 0; i < 4000; i++) {
    uint32_t len = 1 + trnd (m, 20000), off = trnd (m, REGION - len + 1), op = trnd (m, 10);
    if (op < 5) {
      memset (buf, (uint8_t)(m->t * 64 + i), len);
      CHECK (layer_stack_pwrite (m->ls, buf, len, base + off, false) == 0);
      memcpy (m->model + off, buf, len);
    } else if (op < 6) {
      CHECK (layer_stack_zero (m->ls, len, base + off, false) == 0);
      memset (m->model + off, 0, len);
    } else if (op < 7) {
      uint64_t a = base + off, b0 = (a + 4095) / 4096, b1 = (a + len) / 4096;
      CHECK (layer_stack_trim (m->ls, len, a, false) == 0);
      if (b1 > b0)
        memset (m->model + (b0 * 4096 - base), 0, (b1 - b0) * 4096);
    } else {
      CHECK (layer_stack_pread (m->ls, buf, len, base + off) == 0);
      CHECK (memcmp (buf, m->model + off, len) == 0);
    }
  }
  return NULL;
}

static void
test_concurrent_model (void)
{
  char home[] = "/dev/shm/test-layers-model2.XXXXXX", cmd[100], id[32];
  struct layer_store_opts o = { .base_size = 4 << 20 };
  struct layer_store *st;
  static struct mthread m[NTHREADS];
  pthread_t th[NTHREADS];

  if (access ("/dev/shm", W_OK) == -1)
    memcpy (home, "/tmp/", 5), memmove (home + 5, home + 9, sizeof home - 9);
  CHECK (mkdtemp (home) && (st = layer_store_open (home, &o)));
  if (!st)
    return;
  CHECK (layer_create (st, "y", NULL, 0, true) == 0);
  for (unsigned t = 0; t < NTHREADS; t++) {
    m[t].ls = layer_stack_open (st, "y", true);
    m[t].t = t, m[t].rng = 0x9e3779b97f4a7c15ull * (t + 1);
    CHECK (m[t].ls && layer_stack_pread (m[t].ls, m[t].model, REGION, 1000 + t * REGION) == 0);
  }
  for (unsigned t = 0; t < NTHREADS; t++)
    CHECK (pthread_create (&th[t], NULL, model_thread, &m[t]) == 0);
  for (int k = 0; k < 20; k++) {
    usleep (2000);
    snprintf (id, sizeof id, "y-snap%d", k);
    CHECK (layer_create (st, id, "y", 0, true) == 0);
    CHECK (layer_stack_flush (m[0].ls) == 0);
  }
  for (unsigned t = 0; t < NTHREADS; t++) {
    pthread_join (th[t], NULL);
    layer_stack_close (m[t].ls); /* the last close flushes */
  }
  layer_store_close (st);
  CHECK ((st = layer_store_open (home, NULL)));
  if (!st)
    return;
  struct layer_stack *ls = layer_stack_open (st, "y", false);
  static uint8_t buf[REGION];
  for (unsigned t = 0; t < NTHREADS; t++) {
    CHECK (ls && layer_stack_pread (ls, buf, REGION, 1000 + t * REGION) == 0);
    CHECK (memcmp (buf, m[t].model, REGION) == 0);
  }
  layer_stack_close (ls);
  layer_store_close (st);
  snprintf (cmd, sizeof cmd, "rm -rf %s", home);
  CHECK (system (cmd) == 0);
  printf ("ok: %d threads of random I/O on shared edge blocks against their models, with 20 live "
          "snapshots, then reopened\n",
          NTHREADS);
}

int
main (void)
{
  test_bmap ();
  for (unsigned d = 1; d <= 8; d++)
    test_index (d);
  test_concurrent ();
  test_concurrent_model ();
  return CHECK_RESULT ();
}
