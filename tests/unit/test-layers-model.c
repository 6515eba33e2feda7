/* test-layers-model.c: random operations on a layer store checked read-for-read against a
 * reference model (every layer a plain in-memory copy of its device).  Writes, zeroes, trims
 * and reads at random unaligned offsets, flushes, snapshots (of open writable layers too, so
 * live sealing is exercised), removes of layers with children, closes and store reopens, on
 * stacks up to depth 64 with branches.  SEED=n replays a run; OPS=n sets the number of ops;
 * LAYERS_TEST_DIR=dir puts the store there (default /dev/shm). */
#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "common/common.h"
#include "layers/layers.h"
#include "tests/unit/check.h"

#define MAX_LAYERS 64
#define MAX_DEPTH  64
#define BASE_SIZE  (2u << 20)
#define BS         4096u

struct mlayer {
  char id[32];
  uint8_t *data;
  uint64_t size;
  struct layer_stack *ls;
  unsigned children;
};

static struct mlayer L[MAX_LAYERS];
static size_t nl;
static uint8_t *base_data;
static struct layer_store *st;
static char home[256];
static uint64_t rng, seq, op_no;
static bool trace;
static unsigned max_depth, live_seals, snapshots, branches;
#define TR(...)                                                                                    \
  do {                                                                                             \
    if (trace)                                                                                     \
      printf (__VA_ARGS__);                                                                        \
  } while (0)

static uint64_t
rnd (uint64_t n)
{
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return n ? rng % n : 0;
}

static void
load_base (void)
{
  char path[512];
  CLEANUP_JSON_DECREF json_t *j = NULL;
  FILE *fp;

  snprintf (path, sizeof path, "%s/store.json", home);
  CHECK ((j = json_load_path (path)));
  snprintf (path, sizeof path, "%s/diffs/%s/data", home, json_str (j, "base"));
  CHECK ((fp = fopen (path, "r")));
  CHECK ((base_data = malloc (BASE_SIZE)));
  CHECK (fread (base_data, 1, BASE_SIZE, fp) == BASE_SIZE);
  fclose (fp);
}

static struct layer_stack *
stack_of (struct mlayer *m)
{
  if (!m->ls)
    CHECK ((m->ls = layer_stack_open (st, m->id, true)));
  return m->ls;
}

static void
range (struct mlayer *m, uint64_t *off, uint32_t *len)
{
  uint64_t max = rnd (10) == 0 ? 1 << 20 : rnd (2) ? 65536 : 9000;
  *len = 1 + rnd (max);
  if (rnd (3) == 0) /* block aligned */
    *len = (*len + BS - 1) / BS * BS;
  if (*len > m->size)
    *len = m->size;
  *off = rnd (m->size - *len + 1);
  if (rnd (3) == 0)
    *off &= ~(uint64_t)(BS - 1);
}

static void
check_read (struct mlayer *m, uint64_t off, uint32_t len)
{
  struct layer_stack *ls = m->ls;
  uint8_t *buf = malloc (len);

  size_t i = 0;

  if (!ls)
    CHECK ((ls = layer_stack_open (st, m->id, false)));
  CHECK (buf && ls && layer_stack_pread (ls, buf, len, off) == 0);
  while (buf && ls && i < len && buf[i] == m->data[off + i])
    i++;
  CHECKF (!buf || !ls || i == len,
          "op %" PRIu64 ": layer %s differs at %" PRIu64 " (got %02x want %02x)", op_no, m->id,
          off + i, buf[i], m->data[off + i]);
  if (ls && !m->ls)
    layer_stack_close (ls);
  free (buf);
}

struct ext_check {
  struct mlayer *m;
  uint64_t next;
};

static int
ext_fn (void *cbdata, uint64_t off, uint64_t len, uint32_t flags)
{
  struct ext_check *e = cbdata;
  CHECK (off == e->next && len > 0 && (flags == 0 || flags == 3));
  if (flags == 3) /* hole+zero: must read as zeros */
    for (uint64_t i = 0; i < len; i++)
      CHECK (e->m->data[off + i] == 0);
  e->next = off + len;
  return 0;
}

/* Extents cover the range in order and every hole+zero extent reads as zeros. */
static void
check_extents (struct mlayer *m)
{
  uint64_t off;
  uint32_t len;
  struct ext_check e = { m, 0 };

  range (m, &off, &len);
  e.next = off;
  CHECK (layer_stack_extents (stack_of (m), len, off, ext_fn, &e) == 0);
  CHECK (e.next >= off + len);
}

static void
op_write (struct mlayer *m)
{
  uint64_t off;
  uint32_t len;
  uint8_t *buf;

  range (m, &off, &len);
  CHECK ((buf = malloc (len)));
  for (uint32_t i = 0; i < len; i++)
    buf[i] = rnd (4) ? (uint8_t)(seq + i / 512) : 0; /* zero runs must still hide the parent */
  seq++;
  TR ("%" PRIu64 " write %s %" PRIu64 "+%u\n", op_no, m->id, off, len);
  CHECK (layer_stack_pwrite (stack_of (m), buf, len, off, rnd (20) == 0) == 0);
  memcpy (m->data + off, buf, len);
  free (buf);
}

static void
op_zero_trim (struct mlayer *m, bool zero)
{
  uint64_t off, b0, b1;
  uint32_t len;

  range (m, &off, &len);
  TR ("%" PRIu64 " %s %s %" PRIu64 "+%u\n", op_no, zero ? "zero" : "trim", m->id, off, len);
  if (zero) {
    CHECK (layer_stack_zero (stack_of (m), len, off, rnd (10) == 0) == 0);
    memset (m->data + off, 0, len);
    return;
  }
  CHECK (layer_stack_trim (stack_of (m), len, off, false) == 0);
  b0 = (off + BS - 1) / BS, b1 = (off + len) / BS;
  if (b1 > b0)
    memset (m->data + b0 * BS, 0, (b1 - b0) * BS);
}

static void
op_snapshot (struct mlayer *p)
{
  struct layer_info info;
  struct mlayer *c;

  if (nl == MAX_LAYERS)
    return;
  CHECK (layer_info (st, p->id, &info) == 0);
  if (info.depth >= MAX_DEPTH - 1)
    return;
  c = &L[nl];
  memset (c, 0, sizeof *c);
  snprintf (c->id, sizeof c->id, "l%" PRIu64, op_no);
  c->size = p->size + (rnd (8) == 0 ? BS * rnd (64) : 0);
  CHECK (layer_create (st, c->id, p->id, rnd (2) ? c->size : (c->size == p->size ? 0 : c->size),
                       true) == 0);
  TR ("%" PRIu64 " snapshot %s -> %s (parent open %d)\n", op_no, p->id, c->id, p->ls != NULL);
  CHECK ((c->data = calloc (1, c->size)));
  memcpy (c->data, p->data, p->size);
  nl++;
  CHECK (layer_info (st, c->id, &info) == 0 && info.virtual_size == c->size);
  max_depth = MAX (max_depth, info.depth);
  snapshots++;
  live_seals += p->ls != NULL;
  branches += p->children++ > 0; /* a second child of one parent */
}

static void
op_remove (size_t i)
{
  struct mlayer *m = &L[i];

  TR ("%" PRIu64 " remove %s\n", op_no, m->id);
  if (m->ls) {
    CHECK (layer_remove (st, m->id) == -1 && errno == EBUSY && strstr (err_get (), m->id));
    layer_stack_close (m->ls);
    m->ls = NULL;
  }
  CHECK (layer_remove (st, m->id) == 0);
  CHECK (!layer_exists (st, m->id));
  free (m->data);
  L[i] = L[--nl];
}

static void
reopen (void)
{
  for (size_t i = 0; i < nl; i++) {
    layer_stack_close (L[i].ls);
    L[i].ls = NULL;
  }
  layer_store_close (st);
  CHECK ((st = layer_store_open (home, NULL)));
  for (size_t i = 0; i < nl; i++)
    CHECK (layer_exists (st, L[i].id));
}

static int
count_fn (void *cbdata, const struct layer_info *info)
{
  (void)info;
  ++*(size_t *)cbdata;
  return 0;
}

static size_t
count_layers (void)
{
  size_t n = 0;
  CHECK (layer_list (st, count_fn, &n) == 0);
  return n;
}

/* Bad ids and operations fail naming the id and the problem, and change nothing. */
static void
op_errors (void)
{
  static const char *const bad[] = { "", "../x", ".hidden", "a/b", "-x", "x y" };
  size_t before = count_layers ();
  const char *bid = bad[rnd (ARRAY_SIZE (bad))];

  if (nl) {
    CHECK (layer_create (st, L[0].id, NULL, 0, true) == -1 && errno == EEXIST);
    CHECK (strstr (err_get (), L[0].id) && strstr (err_get (), "exists"));
  }
  CHECK (layer_create (st, "fresh", "no-such-parent", 0, true) == -1 && errno == ENOENT);
  CHECK (strstr (err_get (), "no-such-parent") && strstr (err_get (), "fresh"));
  CHECK (layer_remove (st, "no-such-layer") == -1 && strstr (err_get (), "no-such-layer"));
  CHECK (layer_create (st, bid, NULL, 0, true) == -1);
  CHECK (*bid == '\0' || strstr (err_get (), bid));
  CHECK (layer_stack_open (st, "no-such-layer", false) == NULL);
  CHECK (count_layers () == before && !layer_exists (st, "fresh"));
}

static void
check_all (void)
{
  for (size_t i = 0; i < nl; i++)
    check_read (&L[i], 0, L[i].size);
}

/* The deepest live layer (under the cap), so that chains do reach MAX_DEPTH. */
static struct mlayer *
deepest (void)
{
  struct layer_info info;
  size_t best = 0;
  unsigned d = 0;

  for (size_t i = 0; i < nl; i++) {
    CHECK (layer_info (st, L[i].id, &info) == 0);
    if (info.depth > d && info.depth < MAX_DEPTH - 1)
      d = info.depth, best = i;
  }
  return &L[best];
}

static void
one_op (void)
{
  size_t i = rnd (nl);
  unsigned r = rnd (100);

  if (nl == 0 || r < 4) { /* new layer on the base */
    if (nl == MAX_LAYERS)
      return;
    struct mlayer *m = &L[nl];
    memset (m, 0, sizeof *m);
    snprintf (m->id, sizeof m->id, "b%" PRIu64, op_no);
    TR ("%" PRIu64 " create %s\n", op_no, m->id);
    CHECK (layer_create (st, m->id, NULL, 0, true) == 0);
    m->size = BASE_SIZE;
    CHECK ((m->data = malloc (BASE_SIZE)));
    memcpy (m->data, base_data, BASE_SIZE);
    nl++;
  } else if (r < 34)
    op_write (&L[i]);
  else if (r < 58) {
    uint64_t off;
    uint32_t len;
    range (&L[i], &off, &len);
    check_read (&L[i], off, len);
    if (rnd (4) == 0)
      check_extents (&L[i]);
  } else if (r < 64)
    op_zero_trim (&L[i], true);
  else if (r < 70)
    op_zero_trim (&L[i], false);
  else if (r < 74)
    CHECK (layer_stack_flush (stack_of (&L[i])) == 0);
  else if (r < 86)
    op_snapshot (rnd (2) ? &L[i] : deepest ());
  else if (r < 90)
    op_remove (i);
  else if (r < 97) {
    layer_stack_close (L[i].ls);
    L[i].ls = NULL;
  } else if (r < 98) {
    TR ("%" PRIu64 " reopen\n", op_no);
    reopen ();
  } else
    op_errors ();
}

int
main (void)
{
  const char *s = getenv ("SEED"), *o = getenv ("OPS"), *tmp = getenv ("LAYERS_TEST_DIR");
  struct layer_store_opts opts = { .base_size = BASE_SIZE };
  uint64_t ops = o ? strtoull (o, NULL, 10) : 12000, seed;
  char cmd[300];

  seed = s ? strtoull (s, NULL, 10) : (uint64_t)time (NULL) ^ ((uint64_t)getpid () << 20);
  printf ("SEED=%" PRIu64 " OPS=%" PRIu64 "\n", seed, ops);
  fflush (stdout);
  rng = seed * 2654435761u + 1;
  trace = getenv ("TRACE") != NULL;
  /* tmpfs by default: thousands of fsyncs would make a busy disk the bottleneck */
  if (!tmp)
    tmp = access ("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  snprintf (home, sizeof home, "%s/test-layers-model.XXXXXX", tmp);
  CHECK (mkdtemp (home));
  CHECK ((st = layer_store_open (home, &opts)));
  load_base ();
  if (!st)
    return CHECK_RESULT ();
  for (op_no = 0; op_no < ops; op_no++) {
    one_op ();
    if (failures) { /* the model has left the store: the rest would only repeat it */
      fprintf (stderr, "FAIL at op %" PRIu64 " (SEED=%" PRIu64 ")\n", op_no, seed);
      return CHECK_RESULT ();
    }
    if (op_no % 1000 == 999)
      check_all ();
  }
  check_all ();
  reopen ();
  check_all ();
  printf ("ok: %" PRIu64 " operations, %u snapshots (%u of open layers, %u branches), max depth %u,"
          " %zu layers, store uses %" PRIu64 " KiB\n",
          ops, snapshots, live_seals, branches, max_depth, nl, layer_store_disk_bytes (st) >> 10);
  CHECK (max_depth >= 32 && live_seals > 0 && branches > 0);
  for (size_t i = 0; i < nl; i++) {
    layer_stack_close (L[i].ls);
    free (L[i].data);
  }
  layer_store_close (st);
  free (base_data);
  snprintf (cmd, sizeof cmd, "rm -rf '%s'", home);
  CHECK (system (cmd) == 0);
  return CHECK_RESULT ();
}
