/* export.c: a layer's whole stack out of the store, two ways.
 *
 * mm_export_image writes the merged view as a raw image: it walks layer_stack_extents so
 * holes and zeroed extents are never read, and writes a regular file with holes (data at its
 * offset, all-zero blocks of data extents skipped too), or a pipe as a plain byte stream.
 *
 * mm_export_start is the remote export of `buse serve --export tcp://HOST:PORT`: a TCP NBD
 * listener on a server of its own.  It has its own server because a server has one resolver
 * and shares one export object per name: a read-only resolver on the daemon's server would
 * make its local (writable) attaches read-only too.  Its resolver serves only committed
 * layers: a layer open for writing (mounted by dockerd) is refused, every export is
 * read-only, so a write gets EPERM from the server. */
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>

#include "mounts/internal.h"

#define CHUNK   (1u << 20) /* bytes read and written at a time */
#define EXT_MAX (1u << 30) /* extents asked for at a time */

struct img {
  struct layer_stack *ls;
  int fd;
  bool seekable, progress;
  uint64_t size, done, written;
  int last_pct;
  uint8_t *buf;
};

static void
progress (struct img *im, uint64_t pos)
{
  int pct = im->size ? (int)(pos * 100 / im->size) : 100;
  char a[32], b[32];

  if (!im->progress || pct == im->last_pct)
    return;
  im->last_pct = pct;
  fprintf (stderr, "\r[%-40.*s] %3d%% %s of data, %s virtual", pct * 40 / 100,
           "########################################", pct, fmt_size (im->written, a, sizeof a),
           fmt_size (im->size, b, sizeof b));
  if (pct == 100)
    fputc ('\n', stderr);
}

static bool
all_zero (const uint8_t *p, size_t n)
{
  return n == 0 || (p[0] == 0 && memcmp (p, p + 1, n - 1) == 0);
}

/* Stream output: zeros up to OFF (the hole before the next data). */
static int
pad_to (struct img *im, uint64_t off)
{
  memset (im->buf, 0, CHUNK);
  while (im->done < off) {
    size_t n = MIN ((uint64_t)CHUNK, off - im->done);
    if (write_full (im->fd, im->buf, n) == -1)
      return -1;
    im->done += n;
    progress (im, im->done);
  }
  return 0;
}

static int
copy_data (struct img *im, uint64_t off, uint64_t len)
{
  while (len > 0) {
    uint32_t n = MIN ((uint64_t)CHUNK, len);
    if (layer_stack_pread (im->ls, im->buf, n, off) == -1)
      return -1;
    if (!im->seekable) {
      if (write_full (im->fd, im->buf, n) == -1)
        return -1;
    } else
      for (uint32_t o = 0; o < n; o += 4096) { /* keep zero blocks as holes */
        uint32_t k = MIN (4096u, n - o);
        if (!all_zero (im->buf + o, k) && pwrite_full (im->fd, im->buf + o, k, off + o) == -1)
          return -1;
      }
    im->written += n, off += n, len -= n;
    im->done = off;
    progress (im, off);
  }
  return 0;
}

static int
on_extent (void *cbdata, uint64_t off, uint64_t len, uint32_t flags)
{
  struct img *im = cbdata;
  uint64_t end = MIN (off + len, im->size);

  if (off < im->done) /* an extent reported again or reaching back: skip what is written */
    off = im->done;
  if (off >= end)
    return 0;
  if (flags & NBDS_EXTENT_ZERO)
    return 0; /* a hole: leave it (file) or pad it later (stream) */
  if (!im->seekable && pad_to (im, off) == -1)
    return -1;
  if (copy_data (im, off, end - off) == -1)
    return -1;
  return 0;
}

static int
write_image (struct img *im)
{
  for (uint64_t off = 0; off < im->size;) {
    uint32_t n = MIN ((uint64_t)EXT_MAX, im->size - off);
    if (layer_stack_extents (im->ls, n, off, on_extent, im) == -1)
      return -1;
    off += n;
    if (im->done < off) { /* the rest of this range was holes */
      if (!im->seekable && pad_to (im, off) == -1)
        return -1;
      im->done = off;
      progress (im, off);
    }
  }
  return 0;
}

int
mm_export_image (struct layer_store *st, const char *id, int fd, bool show_progress)
{
  struct img im = { .fd = fd, .progress = show_progress, .last_pct = -1 };
  struct stat sb;
  int r = -1;

  if (fstat (fd, &sb) == -1) {
    err_set (errno, "fstat");
    return -1;
  }
  im.seekable = S_ISREG (sb.st_mode);
  if (!(im.ls = layer_stack_open (st, id, false)))
    return -1;
  im.size = layer_stack_size (im.ls);
  if (!(im.buf = malloc (CHUNK)))
    err_set (errno, "malloc");
  else if (im.seekable && ftruncate (fd, 0) == -1)
    err_set (errno, "truncate the output");
  else if (write_image (&im) == 0) {
    if (im.seekable && ftruncate (fd, im.size) == -1)
      err_set (errno, "truncate the output to %" PRIu64, im.size);
    else
      r = 0;
  }
  if (r == -1)
    err_prefix ("export layer %s", id);
  free (im.buf);
  layer_stack_close (im.ls);
  return r;
}

/* ---- remote export --------------------------------------------------------------------- */

struct mm_export {
  struct nbds_server *srv;
  struct layer_store *st;
};

/* Serve NAME only if nothing has it open for writing; the export is read-only either way. */
static int
remote_open (void *ctx, const char *name, const struct nbds_backend **backend, void **handle,
             bool *read_only)
{
  struct mm_export *e = ctx;
  struct layer_info info;
  struct layer_stack *ls;

  if (check_id (name) == -1 || layer_info (e->st, name, &info) == -1)
    return -1;
  if (!(ls = layer_stack_open (e->st, name, false)))
    return -1;
  if (info.open && layer_stack_writable (ls)) {
    layer_stack_close (ls);
    err_set (EPERM, "layer %s is open for writing (mounted): not exported", name);
    return -1;
  }
  *backend = &mm_layer_backend;
  *handle = ls;
  *read_only = true;
  return 0;
}

struct list_ctx {
  int (*fn) (void *cbdata, const char *name);
  void *cbdata;
};

static int
list_one (void *cbdata, const struct layer_info *info)
{
  struct list_ctx *lc = cbdata;
  return info->open ? 0 : lc->fn (lc->cbdata, info->id);
}

static int
remote_list (void *ctx, int (*fn) (void *cbdata, const char *name), void *cbdata)
{
  struct mm_export *e = ctx;
  struct list_ctx lc = { fn, cbdata };
  return layer_list (e->st, list_one, &lc);
}

/* "tcp://HOST:PORT", "tcp://:PORT", "HOST:PORT", "[::1]:PORT", ":PORT" or "PORT". */
static int
split_spec (const char *spec, char **host, char **port)
{
  const char *s = strncmp (spec, "tcp://", 6) ? spec : spec + 6;
  const char *colon = strrchr (s, ':');
  size_t hl = colon ? (size_t)(colon - s) : 0;

  if (s[0] == '[' && hl >= 2 && s[hl - 1] == ']')
    *host = strndup (s + 1, hl - 2);
  else
    *host = hl ? strndup (s, hl) : strdup ("127.0.0.1");
  *port = strdup (colon ? colon + 1 : s);
  if (!*host || !*port || !**port || strspn (*port, "0123456789") != strlen (*port)) {
    free (*host), free (*port);
    *host = *port = NULL;
    err_set (EINVAL, "'%s': want tcp://HOST:PORT", spec);
    return -1;
  }
  return 0;
}

struct mm_export *
mm_export_start (struct layer_store *st, const char *spec, struct mm_metrics *m,
                 const struct nbds_opts *nbd)
{
  struct mm_export *e = calloc (1, sizeof *e);
  struct nbds_resolver r = { remote_open, remote_list, e };
  CLEANUP_FREE char *host = NULL, *port = NULL;

  if (!e) {
    err_set (errno, "calloc");
    return NULL;
  }
  e->st = st;
  if (split_spec (spec, &host, &port) == -1 || !(e->srv = nbds_new (nbd)) ||
      (m && mm_metrics_wrap (m, &r) == -1))
    goto err;
  nbds_set_resolver (e->srv, &r);
  if (nbds_listen_tcp (e->srv, host, port) == -1)
    goto err;
  log_info ("remote export: committed layers, read-only, on nbd://%s:%s/ID", host, port);
  return e;
err:
  err_prefix ("export %s", spec);
  mm_export_stop (e);
  return NULL;
}

void
mm_export_stop (struct mm_export *e)
{
  if (!e)
    return;
  nbds_free (e->srv);
  free (e);
}
