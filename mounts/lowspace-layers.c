/* lowspace-layers.c: the low-space guard's view of each mounted layer (see lowspace.c).
 *
 * A layer's "natural" free space is what its ext4 reports free plus what its balloon holds.
 * Drops of it are what the layer took; less what its top diff grew on the host since the
 * last sync, that is what ext4 accepted and has not written back yet ("pending").  The
 * room the host has is shared out as each layer's target free space, and the balloon, a
 * fallocated file at the filesystem's root (unwritten extents: only metadata reaches the
 * host), is sized to the difference. */
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "mounts/internal.h"

uint64_t
mm_lowspace_balloon (const char *fsdir)
{
  CLEANUP_FREE char *path = xasprintf ("%s/" LS_BALLOON, fsdir);
  struct stat sb;

  return path && stat (path, &sb) == 0 ? (uint64_t)sb.st_blocks * 512 : 0;
}

void
mm_lowspace_deflate (const char *fsdir)
{
  CLEANUP_FREE char *path = xasprintf ("%s/" LS_BALLOON, fsdir);

  if (path && unlink (path) == -1 && errno != ENOENT)
    log_warn ("%s: %s", path, strerror (errno));
}

uint64_t
ls_avail (const char *dir, uint64_t *total)
{
  struct statvfs sv;

  if (statvfs (dir, &sv) == -1)
    return 0;
  if (total)
    *total = (uint64_t)sv.f_blocks * sv.f_frsize;
  return (uint64_t)sv.f_bavail * sv.f_frsize;
}

static struct ls_layer *
find_or_add (struct mm_lowspace *g, const char *id)
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
host_bytes (struct mm_lowspace *g, const char *id)
{
  struct layer_info info;

  return layer_info (g->m->st, id, &info) == 0 ? info.disk_bytes : 0;
}

/* Measure one mounted layer: its natural free space and what is still on its way. */
static void
measure (struct mm_lowspace *g, struct ls_layer *l, const char *fs)
{
  uint64_t host = host_bytes (g, l->id);

  l->balloon = mm_lowspace_balloon (fs);
  l->natural = ls_avail (fs, NULL) + l->balloon;
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
void
ls_scan (struct mm_lowspace *g)
{
  for (size_t i = 0; i < g->n; i++)
    g->l[i].seen = false;
  for (size_t i = 0; i < g->m->n; i++) {
    struct mm_entry *e = &g->m->e[i];
    CLEANUP_FREE char *fs = e->mounted ? mm_path_of (g->m, e->id, "fs") : NULL;
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
void
ls_share (struct mm_lowspace *g, uint64_t room)
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
void
ls_set_balloon (struct mm_lowspace *g, struct ls_layer *l)
{
  CLEANUP_FREE char *path = mm_path_of (g->m, l->id, "fs/" LS_BALLOON);
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
void
ls_sync (struct mm_lowspace *g, struct ls_layer *l)
{
  CLEANUP_FREE char *fs = mm_path_of (g->m, l->id, "fs");
  CLEANUP_CLOSE int fd = fs ? open (fs, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;

  log_debug ("gd", "layer %s: %" PRIu64 " MiB on its way to the host: syncfs", l->id,
             MiB (l->pending));
  if (fd == -1 || syncfs (fd) == -1) /* then its data is lost anyway: count from here */
    log_warn ("layer %s: syncfs: %s", l->id, strerror (errno));
  l->taken = l->pending = 0;
  l->host_base = host_bytes (g, l->id);
}
