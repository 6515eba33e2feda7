/* lowspace.c: a full host disk gives the container ENOSPC at write(), not a read-only ext4.
 *
 * Every layer's ext4 sees a thin 10 GiB device.  Without help it accepts writes into the page
 * cache that the host cannot back; the NBD write fails at writeback and ext4 aborts its
 * journal (EROFS).  So a guard thread of the daemon keeps the free space every mounted ext4
 * reports within the host's: every 100 ms it compares the host's free space above a watermark
 * (buse.min_free_space) with the layers' free space and, when the layers together could write
 * more than the host holds, gives each a fair share and "inflates a balloon" in the others'
 * room: a fallocated file at the filesystem's root, beside rootfs/ (never visible to the
 * container, nor to Diff or Changes, like quota.c's ballast).  Its extents are unwritten, so
 * only a few metadata blocks reach the host; ext4 itself then refuses the container's next
 * write with ENOSPC (delayed allocation reserves blocks at write()).  When space comes back the
 * balloons shrink and go.
 *
 * What ext4 accepted but has not written back yet is not in the host's free space.  So a layer
 * counts what it took since its last sync (drops of its free space) less what its top diff
 * grew on the host meanwhile; that much is still coming and is taken off the host's share.
 * The estimate only errs high (blocks freed and written again), and a syncfs of the layer,
 * done when the estimate grows large, resets it.  Whatever still slips through (journal and
 * metadata copy-ups, other users of the disk) lands in the watermark, and failing that in the
 * emergency reserve, <home>/lowspace-reserve, which layers/io.c shrinks to let a write land
 * instead of failing it; the guard fills it again once there is room.
 * Everything runs under the mount manager's lock, so no mount goes away under a balloon fd. */
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>

#include "graphdriver/mountmgr.h"

#define LS_BALLOON   ".buse-lowspace-balloon"
#define LS_RESERVE   "lowspace-reserve" /* same name in layers/io.c */
#define LS_TICK_MS   100
#define LS_STEP      (1ull << 20)    /* slack before shrinking a balloon */
#define LS_SYNC_MIN  (8ull << 20)    /* pending bytes worth a syncfs */
#define LS_IDLE_MAX  (1ull << 30)    /* most an idle layer keeps when others write */
#define LS_ACTIVE_NS (2000000000ull) /* a layer that took space this recently writes */
#define MiB(x)       ((x) >> 20)

/* A mounted layer as the guard sees it. */
struct ls_layer {
  char id[LAYER_ID_MAX + 1];
  bool seen;          /* mounted at this tick */
  uint64_t prev;      /* natural free space at the last tick */
  uint64_t taken;     /* drops of natural free space since the last sync */
  uint64_t host_base; /* host bytes of its top diff at the last sync */
  uint64_t natural;   /* free space + balloon: what it would have without one */
  uint64_t balloon;   /* bytes the balloon holds */
  uint64_t pending;   /* taken but not yet on the host (estimate) */
  uint64_t target;    /* free space it may keep */
  uint64_t last_take; /* now_ns () when it last took space */
  bool warned;        /* a balloon failure was logged (once per mount) */
};

struct gd_lowspace {
  char *home;
  struct gd_mounts *m;
  uint64_t min_free, reserve;
  bool running, stop;
  int state; /* 0 room, 1 limited, 2 full (for the log) */
  pthread_t thread;
  pthread_mutex_t lock;
  pthread_cond_t wake;
  struct ls_layer *l;
  size_t n, cap;
};

uint64_t
gd_lowspace_balloon (const char *fsdir)
{
  CLEANUP_FREE char *path = xasprintf ("%s/" LS_BALLOON, fsdir);
  struct stat sb;

  return path && stat (path, &sb) == 0 ? (uint64_t)sb.st_blocks * 512 : 0;
}

void
gd_lowspace_deflate (const char *fsdir)
{
  CLEANUP_FREE char *path = xasprintf ("%s/" LS_BALLOON, fsdir);

  if (path && unlink (path) == -1 && errno != ENOENT)
    log_warn ("%s: %s", path, strerror (errno));
}

static uint64_t
avail_of (const char *dir, uint64_t *total)
{
  struct statvfs sv;

  if (statvfs (dir, &sv) == -1)
    return 0;
  if (total)
    *total = (uint64_t)sv.f_blocks * sv.f_frsize;
  return (uint64_t)sv.f_bavail * sv.f_frsize;
}

static struct ls_layer *
find_or_add (struct gd_lowspace *g, const char *id)
{
  for (size_t i = 0; i < g->n; i++)
    if (strcmp (g->l[i].id, id) == 0)
      return &g->l[i];
  if (g->n == g->cap) {
    size_t cap = g->cap ? g->cap * 2 : 16;
    struct ls_layer *nl = realloc (g->l, cap * sizeof *nl);
    if (!nl)
      return NULL;
    g->l = nl;
    g->cap = cap;
  }
  memset (&g->l[g->n], 0, sizeof g->l[g->n]);
  snprintf (g->l[g->n].id, sizeof g->l[g->n].id, "%s", id);
  g->l[g->n].host_base = UINT64_MAX; /* first sight counts as a sync */
  return &g->l[g->n++];
}

/* Host bytes of layer ID's top diff (0 if unknown). */
static uint64_t
host_bytes (struct gd_lowspace *g, const char *id)
{
  struct layer_info info;

  return layer_info (g->m->st, id, &info) == 0 ? info.disk_bytes : 0;
}

/* Measure one mounted layer: its natural free space and what is still on its way. */
static void
measure (struct gd_lowspace *g, struct ls_layer *l, const char *fs)
{
  uint64_t host = host_bytes (g, l->id);

  l->balloon = gd_lowspace_balloon (fs);
  l->natural = avail_of (fs, NULL) + l->balloon;
  if (l->host_base == UINT64_MAX || host < l->host_base) { /* new, or a fresh top diff */
    l->host_base = host;
    l->taken = 0;
  } else if (l->prev > l->natural) {
    l->taken += l->prev - l->natural;
    l->last_take = now_ns ();
  }
  l->prev = l->natural;
  l->pending = l->taken > host - l->host_base ? l->taken - (host - l->host_base) : 0;
  l->seen = true;
}

/* Refresh the table from the mounted layers (mount manager's lock held). */
static void
scan (struct gd_lowspace *g)
{
  for (size_t i = 0; i < g->n; i++)
    g->l[i].seen = false;
  for (size_t i = 0; i < g->m->n; i++) {
    struct gd_mm_entry *e = &g->m->e[i];
    CLEANUP_FREE char *fs = e->mounted ? gd_mm_path_of (g->m, e->id, "fs") : NULL;
    struct ls_layer *l = fs ? find_or_add (g, e->id) : NULL;
    if (l)
      measure (g, l, fs);
  }
  for (size_t i = 0; i < g->n;)
    if (!g->l[i].seen)
      g->l[i] = g->l[--g->n];
    else
      i++;
}

static int
by_natural (const void *a, const void *b)
{
  const struct ls_layer *x = a, *y = b;

  return x->natural < y->natural ? -1 : x->natural > y->natural;
}

static bool
active (const struct ls_layer *l, uint64_t now)
{
  return l->last_take && now - l->last_take < LS_ACTIVE_NS;
}

/* Share ROOM among the layers.  One that has not written lately keeps at most LS_IDLE_MAX
 * and no more than an even share (enough for a burst until the next round sees it writing;
 * a stable cap spares its balloon a change at every mount and unmount of another); the
 * writers share the rest, smallest first, none getting more than it could use. */
static void
share (struct gd_lowspace *g, uint64_t room)
{
  uint64_t now = now_ns (), idle_cap = MIN (room / g->n, LS_IDLE_MAX);
  size_t writers = 0;

  qsort (g->l, g->n, sizeof *g->l, by_natural);
  for (size_t i = 0; i < g->n; i++)
    if (active (&g->l[i], now))
      writers++;
    else {
      g->l[i].target = MIN (g->l[i].natural, idle_cap);
      room -= g->l[i].target;
    }
  for (size_t i = 0; i < g->n; i++)
    if (active (&g->l[i], now)) {
      uint64_t fair = room / writers--;
      g->l[i].target = MIN (g->l[i].natural, fair);
      room -= g->l[i].target;
    }
}

/* Grow or shrink L's balloon so that it keeps at most its target free. */
static void
set_balloon (struct gd_lowspace *g, struct ls_layer *l)
{
  CLEANUP_FREE char *path = gd_mm_path_of (g->m, l->id, "fs/" LS_BALLOON);
  CLEANUP_CLOSE int fd = -1;
  uint64_t want = l->natural > l->target ? (l->natural - l->target + 4095) & ~4095ull : 0;
  uint64_t slack = MIN (LS_STEP, l->target / 8); /* none when it must keep nothing free */
  bool grow = want > l->balloon + slack;
  bool shrink = want + LS_STEP <= l->balloon || (want == 0 && l->balloon > 0);
  int r = 0;

  if (!path || (!grow && !shrink))
    return;
  if (want == 0)
    r = unlink (path);
  else if ((fd = open (path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600)) == -1)
    r = -1;
  else if (grow) /* ENOSPC: the filesystem is full, which is what the balloon is for */
    r = fallocate (fd, 0, 0, (off_t)want) == -1 && errno != ENOSPC ? -1 : 0;
  else
    r = ftruncate (fd, (off_t)want);
  if (r == -1 && errno != ENOENT) {
    if (!l->warned) /* e.g. EROFS: mounted read-only by buse.mountopt */
      log_warn ("layer %s: balloon of %" PRIu64 " MiB: %s", l->id, MiB (want), strerror (errno));
    l->warned = true;
  } else
    log_debug ("gd",
               "layer %s: balloon %" PRIu64 " -> %" PRIu64 " MiB (keeps %" PRIu64 " MiB free)",
               l->id, MiB (l->balloon), MiB (want), MiB (l->target));
}

/* syncfs L so that what it took is on the host and counted there. */
static void
sync_layer (struct gd_lowspace *g, struct ls_layer *l)
{
  CLEANUP_FREE char *fs = gd_mm_path_of (g->m, l->id, "fs");
  CLEANUP_CLOSE int fd = fs ? open (fs, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;

  log_debug ("gd", "layer %s: %" PRIu64 " MiB on its way to the host: syncfs", l->id,
             MiB (l->pending));
  if (fd == -1 || syncfs (fd) == -1) /* then its data is lost anyway: count from here */
    log_warn ("layer %s: syncfs: %s", l->id, strerror (errno));
  l->taken = l->pending = 0;
  l->host_base = host_bytes (g, l->id);
}

/* Bytes the host holds for buse's writes above the watermark (the reserve counts as free). */
static uint64_t
host_room (struct gd_lowspace *g, uint64_t *avail)
{
  CLEANUP_FREE char *path = xasprintf ("%s/" LS_RESERVE, g->home);
  struct stat sb;
  uint64_t have = path && stat (path, &sb) == 0 ? (uint64_t)sb.st_blocks * 512 : 0;

  *avail = avail_of (g->home, NULL);
  return *avail + have > g->min_free ? *avail + have - g->min_free : 0;
}

static void
log_state (struct gd_lowspace *g, uint64_t room, uint64_t avail)
{
  int state = 0;

  for (size_t i = 0; i < g->n; i++)
    if (g->l[i].target < g->l[i].natural)
      state = 1;
  if (state && room < LS_STEP)
    state = 2;
  if (state == g->state)
    return;
  if (state == 2)
    log_warn ("host disk of %s is full (%" PRIu64 " MiB free, buse.min_free_space %" PRIu64
              " MiB): container writes fail with ENOSPC until space is freed",
              g->home, MiB (avail), MiB (g->min_free));
  else
    log_info ("host disk of %s: %" PRIu64 " MiB free: %s", g->home, MiB (avail),
              state ? "mounted layers share what is left" : "no limit on mounted layers");
  g->state = state;
}

/* One round: measure, sync what is worth it, share the room, set the balloons. */
static void
tick (struct gd_lowspace *g)
{
  uint64_t avail, room, pending = 0, want = 0, t0;

  pthread_mutex_lock (&g->m->lock);
  t0 = now_ns ();
  scan (g);
  room = host_room (g, &avail);
  for (size_t i = 0; i < g->n; i++)
    if (g->l[i].pending >= LS_SYNC_MIN && g->l[i].pending > room / 4)
      sync_layer (g, &g->l[i]);
  room = host_room (g, &avail);
  for (size_t i = 0; i < g->n; i++) {
    pending += g->l[i].pending;
    want += g->l[i].natural;
  }
  room = room > pending ? room - pending : 0;
  if (want <= room)
    for (size_t i = 0; i < g->n; i++)
      g->l[i].target = g->l[i].natural;
  else
    share (g, room);
  for (size_t i = 0; i < g->n; i++)
    set_balloon (g, &g->l[i]);
  log_state (g, room, avail);
  if (now_ns () - t0 > 10000000)
    log_debug ("gd", "low-space round: %" PRIu64 " ms with the mount lock held",
               (now_ns () - t0) / 1000000);
  pthread_mutex_unlock (&g->m->lock);
}

/* Keep <home>/lowspace-reserve at its size while the host has room for it. */
static void
refill (struct gd_lowspace *g)
{
  CLEANUP_FREE char *path = xasprintf ("%s/" LS_RESERVE, g->home);
  CLEANUP_CLOSE int fd = path ? open (path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600) : -1;
  struct stat sb;
  uint64_t have;

  if (fd == -1 || fstat (fd, &sb) == -1)
    return;
  have = (uint64_t)sb.st_blocks * 512;
  if (have >= g->reserve || avail_of (g->home, NULL) < g->reserve - have + g->min_free / 2)
    return;
  if (fallocate (fd, 0, 0, (off_t)g->reserve) == -1)
    log_warn ("emergency reserve %s: %s", path, strerror (errno));
  else if (have)
    log_info ("emergency reserve %s is whole again (%" PRIu64 " MiB)", path, MiB (g->reserve));
}

static void *
run (void *arg)
{
  struct gd_lowspace *g = arg;
  struct timespec ts;

  pthread_mutex_lock (&g->lock);
  while (!g->stop) {
    pthread_mutex_unlock (&g->lock);
    tick (g);
    refill (g);
    pthread_mutex_lock (&g->lock);
    clock_gettime (CLOCK_MONOTONIC, &ts);
    ts.tv_nsec += LS_TICK_MS * 1000000L;
    ts.tv_sec += ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    if (!g->stop)
      pthread_cond_timedwait (&g->wake, &g->lock, &ts);
  }
  pthread_mutex_unlock (&g->lock);
  return NULL;
}

/* buse.min_free_space: "auto" (5% of HOME's filesystem, at most 512 MiB), a size, "N%". */
static int
parse_min_free (const char *home, const char *spec, uint64_t *out)
{
  uint64_t total = 0;
  char *end;

  avail_of (home, &total);
  if (!*spec || strcmp (spec, "auto") == 0) {
    *out = MIN (total / 20, 512ull << 20);
    return 0;
  }
  if (spec[strlen (spec) - 1] == '%') {
    unsigned long pct = strtoul (spec, &end, 10);
    if (end == spec || *end != '%' || pct > 90)
      goto bad;
    *out = total / 100 * pct;
    return 0;
  }
  if (parse_size (spec, out) == 0)
    return 0;
bad:
  err_set (EINVAL, "option 'buse.min_free_space': '%s' is not auto, off, a size or N%%", spec);
  return -1;
}

struct gd_lowspace *
gd_lowspace_start (const char *home, struct gd_mounts *m, const char *spec)
{
  struct gd_lowspace *g = calloc (1, sizeof *g);
  pthread_condattr_t ca;
  int e;

  if (!g) {
    err_set (ENOMEM, "low-space guard");
    return NULL;
  }
  pthread_mutex_init (&g->lock, NULL);
  pthread_condattr_init (&ca);
  pthread_condattr_setclock (&ca, CLOCK_MONOTONIC);
  pthread_cond_init (&g->wake, &ca);
  pthread_condattr_destroy (&ca);
  g->m = m;
  if (!(g->home = strdup (home))) {
    err_set (ENOMEM, "low-space guard");
    gd_lowspace_stop (g);
    return NULL;
  }
  if (spec && strcmp (spec, "off") == 0)
    return g; /* no guard: a full disk turns the layers' ext4 read-only */
  if (parse_min_free (home, spec ? spec : "", &g->min_free) == -1) {
    gd_lowspace_stop (g);
    return NULL;
  }
  g->reserve = MIN (g->min_free / 2, 64ull << 20);
  if ((e = pthread_create (&g->thread, NULL, run, g)) != 0) {
    err_set (e, "low-space guard thread");
    gd_lowspace_stop (g);
    return NULL;
  }
  g->running = true;
  log_info ("low-space guard: %" PRIu64 " MiB kept free on %s, %" PRIu64 " MiB emergency reserve",
            MiB (g->min_free), home, MiB (g->reserve));
  return g;
}

void
gd_lowspace_stop (struct gd_lowspace *g)
{
  if (!g)
    return;
  if (g->running) {
    pthread_mutex_lock (&g->lock);
    g->stop = true;
    pthread_cond_signal (&g->wake);
    pthread_mutex_unlock (&g->lock);
    pthread_join (g->thread, NULL);
  }
  pthread_mutex_destroy (&g->lock);
  pthread_cond_destroy (&g->wake);
  free (g->l);
  free (g->home);
  free (g);
}
