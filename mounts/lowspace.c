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
 * Everything runs under the mount manager's lock, so no mount goes away under a balloon fd.
 * The per-layer half (measuring, sharing, balloons) is lowspace-layers.c. */
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>

#include "mounts/internal.h"

/* Bytes the host holds for buse's writes above the watermark (the reserve counts as free). */
static uint64_t
host_room (struct mm_lowspace *g, uint64_t *avail)
{
  CLEANUP_FREE char *path = xasprintf ("%s/" LS_RESERVE, g->home);
  struct stat sb;
  uint64_t have = path && stat (path, &sb) == 0 ? (uint64_t)sb.st_blocks * 512 : 0;

  *avail = ls_avail (g->home, NULL);
  return *avail + have > g->min_free ? *avail + have - g->min_free : 0;
}

static void
log_state (struct mm_lowspace *g, uint64_t room, uint64_t avail)
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
tick (struct mm_lowspace *g)
{
  uint64_t avail, room, pending = 0, want = 0, t0;

  pthread_mutex_lock (&g->m->lock);
  t0 = now_ns ();
  ls_scan (g);
  room = host_room (g, &avail);
  for (size_t i = 0; i < g->n; i++)
    if (g->l[i].pending >= LS_SYNC_MIN && g->l[i].pending > room / 4)
      ls_sync (g, &g->l[i]);
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
    ls_share (g, room);
  for (size_t i = 0; i < g->n; i++)
    ls_set_balloon (g, &g->l[i]);
  log_state (g, room, avail);
  if (now_ns () - t0 > 10000000)
    log_debug ("gd", "low-space round: %" PRIu64 " ms with the mount lock held",
               (now_ns () - t0) / 1000000);
  pthread_mutex_unlock (&g->m->lock);
}

/* Keep <home>/lowspace-reserve at its size while the host has room for it.  Each round
 * only stats it: the file is opened when it is short (or missing). */
static void
refill (struct mm_lowspace *g)
{
  CLEANUP_FREE char *path = xasprintf ("%s/" LS_RESERVE, g->home);
  struct stat sb;
  uint64_t have;

  if (!path)
    return;
  if (stat (path, &sb) == -1)
    sb.st_blocks = 0;
  have = (uint64_t)sb.st_blocks * 512;
  if (have >= g->reserve || ls_avail (g->home, NULL) < g->reserve - have + g->min_free / 2)
    return;
  CLEANUP_CLOSE int fd = open (path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (fd == -1)
    return; /* as a full disk: tried again next round, without a line each time */
  if (fallocate (fd, 0, 0, (off_t)g->reserve) == -1)
    log_warn ("emergency reserve %s: %s", path, strerror (errno));
  else if (have)
    log_info ("emergency reserve %s is whole again (%" PRIu64 " MiB)", path, MiB (g->reserve));
}

static void *
run (void *arg)
{
  struct mm_lowspace *g = arg;
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

  ls_avail (home, &total);
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

struct mm_lowspace *
mm_lowspace_start (const char *home, struct mm_mounts *m, const char *spec)
{
  struct mm_lowspace *g = calloc (1, sizeof *g);
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
    mm_lowspace_stop (g);
    return NULL;
  }
  if (spec && strcmp (spec, "off") == 0)
    return g; /* no guard: a full disk turns the layers' ext4 read-only */
  if (parse_min_free (home, spec ? spec : "", &g->min_free) == -1) {
    mm_lowspace_stop (g);
    return NULL;
  }
  g->reserve = MIN (g->min_free / 2, 64ull << 20);
  if ((e = pthread_create (&g->thread, NULL, run, g)) != 0) {
    err_set (e, "low-space guard thread");
    mm_lowspace_stop (g);
    return NULL;
  }
  g->running = true;
  log_info ("low-space guard: %" PRIu64 " MiB kept free on %s, %" PRIu64 " MiB emergency reserve",
            MiB (g->min_free), home, MiB (g->reserve));
  return g;
}

void
mm_lowspace_stop (struct mm_lowspace *g)
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
