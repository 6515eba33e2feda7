/* commit-clone.c: ApplyDiff by clone — what makes `docker commit` and every classic build
 * step cost the blocks the container changed, not the files it touched.
 *
 * dockerd commits a container C (parent C-init, whose parent is the image I) by streaming
 * Diff(C, C-init) straight into ApplyDiff(new, I), where new is a fresh empty child of I.
 * A plain apply rewrites every file of the tar, so one byte changed in a 1 GiB file costs
 * 1 GiB.  Here each Diff registers itself while it runs and keeps the first bytes it sent;
 * an ApplyDiff reads the first bytes of its own stream and looks for a registered Diff that
 * sent the same bytes and diffs against I (or a child of I).  With one, and a stream longer
 * than CLONE_MIN (a short one is cheaper to apply plainly), the new layer first gets a
 * block-level clone of C (layer_clone_view, C's filesystem frozen meanwhile), then the tar
 * is applied onto it keeping identical files (keep.c), then whatever the clone
 * changed against I and the tar did not decide is put back (commit-revert.c), compared with
 * a throwaway child of I so that I itself is never mounted writable.  The result is exactly
 * I + tar for any tar, so a wrong match costs time, never correctness.  A layer left half
 * cloned is one whose ApplyDiff failed, which dockerd removes; a throwaway child left by a
 * killed daemon is removed by the next one's first clone.  The registry is this file's own
 * state (a process-wide list of the Diffs in flight, under a mutex): it holds ids and bytes,
 * whatever daemon or store the calls come through. */
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <string.h>

#include "archive/internal.h"

#define PREFIX_MAX 4096 /* bytes of each Diff kept to recognise its stream */
/* An ApplyDiff reads this much ahead before it decides: a stream that ends sooner is applied
 * plainly (it writes little; the clone's extra mount and walk would cost more). */
#define CLONE_MIN (4 << 20)
#define HEADER    512

struct clone_src {
  char id[LAYER_ID_MAX + 1], parent[LAYER_ID_MAX + 1];
  unsigned char prefix[PREFIX_MAX];
  size_t plen;
  ar_write_fn wr;
  void *ctx;
  struct clone_src *next;
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct clone_src *reg;
/* Bases are made and mounted under base_lock; the sweep of those a killed daemon left runs
 * once, under it too, and skips open (mounted) layers: it never takes a live one. */
static pthread_mutex_t base_lock = PTHREAD_MUTEX_INITIALIZER;
static bool swept;

/* The image's view for the put-back step is a throwaway child of it, so mounting it never
 * writes into the image layer; one left by a killed daemon is removed by the next commit. */
#define BASE_SUFFIX "-commit-base"

/* The Diff's writer: keep the first bytes, then pass them on. */
static int
tee_write (void *ctx, const void *buf, size_t len)
{
  struct clone_src *cs = ctx;

  pthread_mutex_lock (&reg_lock);
  if (cs->plen < PREFIX_MAX) {
    size_t n = MIN (len, PREFIX_MAX - cs->plen);
    memcpy (cs->prefix + cs->plen, buf, n);
    cs->plen += n;
  }
  pthread_mutex_unlock (&reg_lock);
  return cs->wr (cs->ctx, buf, len);
}

int
ar_clone_write_diff (const char *root, const char *parent_root, const char *id, const char *parent,
                     const struct ar_idmaps *maps, ar_write_fn wr, void *ctx)
{
  struct clone_src *cs = parent ? calloc (1, sizeof *cs) : NULL;
  int r;

  if (!cs)
    return ar_write_diff (root, parent_root, maps, wr, ctx);
  snprintf (cs->id, sizeof cs->id, "%s", id);
  snprintf (cs->parent, sizeof cs->parent, "%s", parent);
  cs->wr = wr, cs->ctx = ctx;
  pthread_mutex_lock (&reg_lock);
  cs->next = reg, reg = cs;
  pthread_mutex_unlock (&reg_lock);
  r = ar_write_diff (root, parent_root, maps, tee_write, cs);
  pthread_mutex_lock (&reg_lock);
  for (struct clone_src **p = &reg; *p; p = &(*p)->next)
    if (*p == cs) {
      *p = cs->next;
      break;
    }
  pthread_mutex_unlock (&reg_lock);
  free (cs);
  return r;
}

/* The ApplyDiff's stream, its first bytes read ahead. */
struct peek {
  ar_read_fn rd;
  void *ctx;
  unsigned char *buf; /* CLONE_MIN bytes */
  size_t len, pos;
  bool eof;
};

/* Read ahead until WANT bytes (at most CLONE_MIN) are buffered or the stream ends. */
static int
peek_fill (struct peek *pk, size_t want)
{
  while (pk->len < want && !pk->eof) {
    ssize_t r = pk->rd (pk->ctx, pk->buf + pk->len, want - pk->len);
    if (r < 0)
      return -1;
    if (r == 0) {
      pk->eof = true;
      break;
    }
    pk->len += r;
  }
  return 0;
}

static ssize_t
peek_read (void *ctx, void *buf, size_t len)
{
  struct peek *pk = ctx;

  if (pk->pos < pk->len) {
    size_t n = MIN (len, pk->len - pk->pos);
    memcpy (buf, pk->buf + pk->pos, n);
    pk->pos += n;
    return n;
  }
  return pk->rd (pk->ctx, buf, len);
}

/* A Diff in flight whose stream starts as PK's and whose parent is P or a child of P. */
static bool
find_source (const struct ar_engine *d, const char *p, const struct peek *pk, char *src)
{
  static const unsigned char zeros[HEADER];
  bool found = false;

  if (pk->len < HEADER || memcmp (pk->buf, zeros, HEADER) == 0)
    return false; /* an empty tar: nothing to gain */
  pthread_mutex_lock (&reg_lock);
  for (struct clone_src *cs = reg; cs && !found; cs = cs->next) {
    struct layer_info pi;
    size_t n = MIN (cs->plen, pk->len);
    if (n < HEADER || memcmp (cs->prefix, pk->buf, n) != 0)
      continue;
    found = strcmp (cs->parent, p) == 0 ||
            (layer_info (d->st, cs->parent, &pi) == 0 && strcmp (pi.parent, p) == 0);
    if (found)
      snprintf (src, LAYER_ID_MAX + 1, "%s", cs->id);
  }
  pthread_mutex_unlock (&reg_lock);
  return found;
}

/* NEW must be a fresh, unused child of P of SRC's size; neither may have a size limit (its
 * ballast file lives beside rootfs/, where the put-back step does not look). */
static bool
can_clone (const struct ar_engine *d, const char *id, const char *p, const char *src)
{
  struct layer_info ni, si;

  return layer_info (d->st, id, &ni) == 0 && layer_info (d->st, src, &si) == 0 &&
         strcmp (ni.parent, p) == 0 && !ni.open && ni.owned_bytes == 0 &&
         ni.virtual_size == si.virtual_size && mm_quota_load (d->home, src) == 0 &&
         mm_quota_load (d->home, id) == 0;
}

/* Clone SRC into ID with SRC's filesystem frozen.  1: not taken (nothing written). */
static int
take_clone (const struct ar_engine *d, const char *id, const char *src)
{
  CLEANUP_FREE char *sroot = mm_get (d->mounts, src, true);
  int r;

  if (!sroot || mnt_freeze (sroot) == -1) {
    log_info ("commit of %s: no clone of %s: %s", id, src, err_get ());
    if (sroot && mm_put (d->mounts, src, true) == -1)
      log_warn ("%s", err_get ());
    return 1;
  }
  r = layer_clone_view (d->st, id, src);
  if (mnt_thaw (sroot) == -1)
    log_error ("%s", err_get ());
  if (mm_put (d->mounts, src, true) == -1)
    log_warn ("%s", err_get ());
  return r;
}

/* Make what ApplyDiff wrote durable before replying: dockerd records the layer next. */
static int
sync_dir (const char *dir)
{
  CLEANUP_CLOSE int fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

  if (fd == -1 || syncfs (fd) == -1) {
    err_set (errno, "sync %s", dir);
    return -1;
  }
  return 0;
}

struct fixup {
  const struct ar_engine *d;
  const char *id, *base;
  char *root, *proot;
};

/* The put-back walk compares the new layer with the image's view, guided by the block maps
 * (changes-guide.c) like Changes: only the inodes the clone and the tar wrote are looked at. */
static int
revert_fixup (void *ctx, const struct ar_tar_touch *t)
{
  struct fixup *fx = ctx;
  struct ar_guide_tree l = { fx->id, fx->root, true }, p = { fx->base, fx->proot, true };
  struct ar_guide *g = ar_guide_new (fx->d, &l, &p);
  int r;

  ar_changes_set_guide (g);
  r = ar_revert_untouched (fx->root, fx->proot, t);
  ar_changes_set_guide (NULL);
  ar_guide_free (g);
  return r;
}

static int
stale_base (void *ctx, const struct layer_info *info)
{
  const struct ar_engine *d = ctx;
  size_t n = strlen (info->id), k = strlen (BASE_SUFFIX);

  if (n > k && strcmp (info->id + n - k, BASE_SUFFIX) == 0 && !info->open &&
      mm_remove (d->mounts, info->id) == 0)
    log_info ("removed %s, left by an interrupted commit", info->id);
  return 0;
}

/* A fresh child of P, mounted: P's view.  *BASE gets its id. */
static char *
base_get (const struct ar_engine *d, const char *id, const char *p, char **base)
{
  char *root = NULL;

  *base = xasprintf ("%s" BASE_SUFFIX, id);
  if (!*base || check_id (*base) == -1)
    return NULL;
  pthread_mutex_lock (&base_lock);
  if (!swept)
    layer_list (d->st, stale_base, (void *)d);
  swept = true;
  if (mm_create (d->mounts, *base, p, 0) == 0 && !(root = mm_get (d->mounts, *base, true)) &&
      mm_remove (d->mounts, *base) == -1)
    log_warn ("%s", err_get ());
  pthread_mutex_unlock (&base_lock);
  return root;
}

static void
base_put (const struct ar_engine *d, const char *base)
{
  if (mm_put (d->mounts, base, true) == -1 || mm_remove (d->mounts, base) == -1)
    log_warn ("%s", err_get ());
}

/* Mount ID (and P's view when cloned), apply, sync, unmount. */
static int
apply_mounted (const struct ar_engine *d, const char *id, const char *p, struct peek *pk,
               uint64_t *size)
{
  CLEANUP_FREE char *base = NULL;
  struct fixup fx = { d, id, NULL, NULL, NULL };
  int r = -1;

  if (!(fx.root = mm_get (d->mounts, id, true)))
    return -1;
  if (p && !(fx.proot = base_get (d, id, p, &base)))
    goto out;
  fx.base = base;
  if (p)
    r = ar_apply_tar_keep (fx.root, peek_read, pk, d->maps, revert_fixup, &fx, size);
  else
    r = ar_apply_tar (fx.root, peek_read, pk, d->maps, size);
  if (r == 0)
    r = sync_dir (fx.root);
out:
  if (fx.proot)
    base_put (d, base);
  if (mm_put (d->mounts, id, true) == -1) {
    if (r == 0)
      r = -1;
    else
      log_warn ("%s", err_get ());
  }
  free (fx.root);
  free (fx.proot);
  return r;
}

/* Clone SRC into ID, then apply onto it; plainly when the clone is not taken. */
static int
clone_apply (const struct ar_engine *d, const char *id, const char *parent, const char *src,
             struct peek *pk, uint64_t *size)
{
  uint64_t t0 = now_ns ();
  int r;

  r = take_clone (d, id, src);
  if (r == 0)
    log_debug ("gd", "ApplyDiff %s: cloned %s in %" PRIu64 " ms", id, src,
               (now_ns () - t0) / 1000000);
  if (r != -1)
    r = apply_mounted (d, id, r == 0 ? parent : NULL, pk, size);
  return r;
}

int
ar_clone_apply (const struct ar_engine *d, const char *id, const char *parent, ar_read_fn rd,
                void *ctx, uint64_t *size)
{
  struct peek pk = { .rd = rd, .ctx = ctx };
  char src[LAYER_ID_MAX + 1];
  bool clone = false;
  int r = -1;

  if (*parent && !d->no_clone) { /* no_clone: to compare, or to rule it out */
    if (!(pk.buf = malloc (CLONE_MIN))) {
      err_set (ENOMEM, "malloc");
      return -1;
    }
    /* the Diff's first bytes, then (only when one matches) enough to be worth a clone */
    if (peek_fill (&pk, PREFIX_MAX) == -1 ||
        (find_source (d, parent, &pk, src) && peek_fill (&pk, CLONE_MIN) == -1))
      goto out;
    clone =
        pk.len == CLONE_MIN && find_source (d, parent, &pk, src) && can_clone (d, id, parent, src);
  }
  r = clone ? clone_apply (d, id, parent, src, &pk, size) : apply_mounted (d, id, NULL, &pk, size);
out:
  free (pk.buf);
  return r;
}
