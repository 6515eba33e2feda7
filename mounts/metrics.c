/* metrics.c: Prometheus metrics of `buse serve` — per-export NBD request counts, bytes and
 * errors, a latency histogram per operation, and gauges (layers, mounts, host disk) — served
 * as text format 0.0.4 at /metrics by a small libmicrohttpd daemon on TCP.
 *
 * The counts come from the NBD server's backend calls: mm_metrics_wrap wraps a resolver so
 * that each export it opens gets a counting backend that times the call and forwards it to
 * the real one (mm_layer_backend).  Counters are relaxed atomics, so the data path pays two
 * clock reads and a few atomic adds per request and takes no lock.  Per-export counters live
 * as long as the metrics object (a counter never goes back when a connection ends). */
#include <inttypes.h>
#include <microhttpd.h>
#include <netdb.h>
#include <string.h>
#include <sys/socket.h>

#include "mounts/internal.h"

enum { OP_READ, OP_WRITE, OP_FLUSH, OP_TRIM, OP_ZERO, OP_EXTENTS, NOPS };
static const char *const op_names[NOPS] = { "read", "write", "flush", "trim", "zero", "extents" };
/* histogram bucket bounds, microseconds */
static const uint64_t bounds_us[] = { 50,   100,   250,   500,    1000,   2500,
                                      5000, 10000, 25000, 100000, 1000000 };
#define NBUCKETS (ARRAY_SIZE (bounds_us) + 1) /* the last is +Inf */

struct mstat {
  struct mstat *next;
  char *name;
  uint64_t requests[NOPS], bytes[NOPS], errors[NOPS];
  uint64_t open; /* connections using it */
};

struct wrap_ctx {
  struct wrap_ctx *next;
  struct nbds_resolver inner;
  struct mm_metrics *m;
};

struct mm_metrics {
  pthread_mutex_t lock; /* the lists; counters are atomics */
  struct mstat *stats;
  struct wrap_ctx *wraps;
  uint64_t hist[NOPS][NBUCKETS], sum_ns[NOPS], count[NOPS];
  struct MHD_Daemon *mhd;
  mm_gauges_fn gauges;
  void *gauges_ctx;
};

struct mhandle {
  const struct nbds_backend *be;
  void *h;
  struct mstat *s;
  struct mm_metrics *m;
};

#define ADD(p, v) __atomic_fetch_add (&(p), (v), __ATOMIC_RELAXED)
#define GET(p)    __atomic_load_n (&(p), __ATOMIC_RELAXED)

static int
account (struct mhandle *mh, int op, uint64_t bytes, uint64_t t0, int r)
{
  uint64_t ns = now_ns () - t0, us = ns / 1000;
  size_t b = 0;
  int saved = errno;

  while (b < ARRAY_SIZE (bounds_us) && us > bounds_us[b])
    b++;
  ADD (mh->s->requests[op], 1);
  if (r == 0)
    ADD (mh->s->bytes[op], bytes);
  else
    ADD (mh->s->errors[op], 1);
  ADD (mh->m->hist[op][b], 1);
  ADD (mh->m->sum_ns[op], ns);
  ADD (mh->m->count[op], 1);
  errno = saved;
  return r;
}

static int
unsupported (void)
{
  err_set (ENOTSUP, "not supported by this export");
  return -1;
}

static int64_t
m_get_size (void *h)
{
  struct mhandle *mh = h;
  return mh->be->get_size (mh->h);
}

static int
m_pread (void *h, void *buf, uint32_t count, uint64_t offset)
{
  struct mhandle *mh = h;
  uint64_t t0 = now_ns ();
  return account (mh, OP_READ, count, t0, mh->be->pread (mh->h, buf, count, offset));
}

/* Wraps only mm_layer_backend, which has read_runs.  A probe is not a read. */
static int
m_read_runs (void *h, uint32_t count, uint64_t offset, bool probe, nbds_run_fn fn, void *cbdata)
{
  struct mhandle *mh = h;
  uint64_t t0 = now_ns ();
  int r = mh->be->read_runs (mh->h, count, offset, probe, fn, cbdata);
  return probe ? r : account (mh, OP_READ, count, t0, r);
}

static int
m_pwrite (void *h, const void *buf, uint32_t count, uint64_t offset, bool fua)
{
  struct mhandle *mh = h;
  uint64_t t0 = now_ns ();
  if (!mh->be->pwrite)
    return unsupported ();
  return account (mh, OP_WRITE, count, t0, mh->be->pwrite (mh->h, buf, count, offset, fua));
}

static int
m_flush (void *h)
{
  struct mhandle *mh = h;
  uint64_t t0 = now_ns ();
  return account (mh, OP_FLUSH, 0, t0, mh->be->flush ? mh->be->flush (mh->h) : 0);
}

static int
m_trim (void *h, uint32_t count, uint64_t offset, bool fua)
{
  struct mhandle *mh = h;
  uint64_t t0 = now_ns ();
  if (!mh->be->trim)
    return unsupported ();
  return account (mh, OP_TRIM, count, t0, mh->be->trim (mh->h, count, offset, fua));
}

static int
m_zero (void *h, uint32_t count, uint64_t offset, bool may_trim, bool fast, bool fua)
{
  struct mhandle *mh = h;
  uint64_t t0 = now_ns ();
  if (!mh->be->zero)
    return unsupported ();
  return account (mh, OP_ZERO, count, t0, mh->be->zero (mh->h, count, offset, may_trim, fast, fua));
}

static int
m_extents (void *h, uint32_t count, uint64_t offset, nbds_extent_fn fn, void *cbdata)
{
  struct mhandle *mh = h;
  uint64_t t0 = now_ns ();
  if (!mh->be->extents)
    return unsupported ();
  return account (mh, OP_EXTENTS, 0, t0, mh->be->extents (mh->h, count, offset, fn, cbdata));
}

static void
m_close (void *h)
{
  struct mhandle *mh = h;
  mh->be->close (mh->h);
  ADD (mh->s->open, -1);
  free (mh);
}

/* Mirrors mm_layer_backend (every callback but cache); a missing one answers ENOTSUP. */
static const struct nbds_backend counting_backend = {
  .name = "layer+metrics",
  .get_size = m_get_size,
  .pread = m_pread,
  .pwrite = m_pwrite,
  .flush = m_flush,
  .trim = m_trim,
  .zero = m_zero,
  .extents = m_extents,
  .close = m_close,
  .read_runs = m_read_runs,
};

static struct mstat *
stat_get (struct mm_metrics *m, const char *name)
{
  struct mstat *s;

  pthread_mutex_lock (&m->lock);
  for (s = m->stats; s; s = s->next)
    if (!strcmp (s->name, name))
      break;
  if (!s && (s = calloc (1, sizeof *s))) {
    if (!(s->name = strdup (name))) {
      free (s);
      s = NULL;
    } else {
      s->next = m->stats;
      m->stats = s;
    }
  }
  pthread_mutex_unlock (&m->lock);
  return s;
}

static int
wrap_open (void *ctx, const char *name, const struct nbds_backend **backend, void **handle,
           bool *read_only)
{
  struct wrap_ctx *w = ctx;
  struct mhandle *mh = calloc (1, sizeof *mh);

  if (!mh || !(mh->s = stat_get (w->m, name))) {
    free (mh);
    err_set (ENOMEM, "metrics for %s", name);
    return -1;
  }
  if (w->inner.open (w->inner.ctx, name, &mh->be, &mh->h, read_only) == -1) {
    free (mh);
    return -1;
  }
  mh->m = w->m;
  ADD (mh->s->open, 1);
  *backend = &counting_backend;
  *handle = mh;
  return 0;
}

static int
wrap_list (void *ctx, int (*fn) (void *cbdata, const char *name), void *cbdata)
{
  struct wrap_ctx *w = ctx;
  return w->inner.list ? w->inner.list (w->inner.ctx, fn, cbdata) : 0;
}

int
mm_metrics_wrap (struct mm_metrics *m, struct nbds_resolver *r)
{
  struct wrap_ctx *w = calloc (1, sizeof *w);

  if (!w) {
    err_set (errno, "calloc");
    return -1;
  }
  w->inner = *r;
  w->m = m;
  pthread_mutex_lock (&m->lock);
  w->next = m->wraps;
  m->wraps = w;
  pthread_mutex_unlock (&m->lock);
  r->open = wrap_open;
  r->list = wrap_list;
  r->ctx = w;
  return 0;
}

/* ---- text format ---------------------------------------------------------------------- */

static void
per_export (struct mm_metrics *m, FILE *fp, const char *metric, const char *help, size_t field)
{
  fprintf (fp, "# HELP %s %s\n# TYPE %s counter\n", metric, help, metric);
  for (struct mstat *s = m->stats; s; s = s->next) {
    const uint64_t *v = (const uint64_t *)((const char *)s + field);
    for (int op = 0; op < NOPS; op++)
      fprintf (fp, "%s{export=\"%s\",op=\"%s\"} %" PRIu64 "\n", metric, s->name, op_names[op],
               GET (v[op]));
  }
}

static void
histogram (struct mm_metrics *m, FILE *fp)
{
  const char *h = "buse_nbd_request_duration_seconds";

  fprintf (fp, "# HELP %s Time the backend took per NBD request.\n# TYPE %s histogram\n", h, h);
  for (int op = 0; op < NOPS; op++) {
    uint64_t cum = 0;
    for (size_t b = 0; b < NBUCKETS; b++) {
      cum += GET (m->hist[op][b]);
      if (b < ARRAY_SIZE (bounds_us))
        fprintf (fp, "%s_bucket{op=\"%s\",le=\"%g\"} %" PRIu64 "\n", h, op_names[op],
                 bounds_us[b] / 1e6, cum);
      else
        fprintf (fp, "%s_bucket{op=\"%s\",le=\"+Inf\"} %" PRIu64 "\n", h, op_names[op], cum);
    }
    fprintf (fp, "%s_sum{op=\"%s\"} %.9f\n%s_count{op=\"%s\"} %" PRIu64 "\n", h, op_names[op],
             GET (m->sum_ns[op]) / 1e9, h, op_names[op], GET (m->count[op]));
  }
}

static void
gauge (FILE *fp, const char *metric, const char *help, uint64_t v)
{
  fprintf (fp, "# HELP %s %s\n# TYPE %s gauge\n%s %" PRIu64 "\n", metric, help, metric, metric, v);
}

static char *
render (struct mm_metrics *m, size_t *len)
{
  struct mm_metrics_gauges g = { 0 };
  char *text = NULL;
  FILE *fp = open_memstream (&text, len);

  if (!fp)
    return NULL;
  if (m->gauges)
    m->gauges (m->gauges_ctx, &g);
  gauge (fp, "buse_up", "1 while buse serves.", 1);
  if (g.valid) {
    gauge (fp, "buse_layers", "Layers in the store.", g.layers);
    gauge (fp, "buse_mounts", "Layers mounted.", g.mounts);
    gauge (fp, "buse_disk_bytes", "Host disk used by the store.", g.disk_bytes);
  }
  pthread_mutex_lock (&m->lock); /* the list of exports; values are atomics */
  per_export (m, fp, "buse_nbd_requests_total", "NBD requests by export and operation.",
              offsetof (struct mstat, requests));
  per_export (m, fp, "buse_nbd_bytes_total", "Bytes read, written, trimmed or zeroed.",
              offsetof (struct mstat, bytes));
  per_export (m, fp, "buse_nbd_errors_total", "NBD requests that failed.",
              offsetof (struct mstat, errors));
  fprintf (fp, "# HELP buse_nbd_connections Connections open per export.\n"
               "# TYPE buse_nbd_connections gauge\n");
  for (struct mstat *s = m->stats; s; s = s->next)
    fprintf (fp, "buse_nbd_connections{export=\"%s\"} %" PRIu64 "\n", s->name, GET (s->open));
  pthread_mutex_unlock (&m->lock);
  histogram (m, fp);
  if (fclose (fp) != 0) {
    free (text);
    return NULL;
  }
  return text;
}

static enum MHD_Result
on_request (void *cls, struct MHD_Connection *c, const char *url, const char *method,
            const char *version, const char *data, size_t *data_size, void **con_cls)
{
  static const char nf[] = "not found: try /metrics\n";
  struct MHD_Response *resp;
  enum MHD_Result r;
  unsigned status = MHD_HTTP_OK;
  size_t len = 0;
  char *text = NULL;

  (void)version, (void)data, (void)data_size, (void)con_cls;
  if (strcmp (method, "GET") && strcmp (method, "HEAD"))
    status = MHD_HTTP_METHOD_NOT_ALLOWED;
  else if (strcmp (url, "/metrics"))
    status = MHD_HTTP_NOT_FOUND;
  else if (!(text = render (cls, &len)))
    status = MHD_HTTP_INTERNAL_SERVER_ERROR;
  if (text)
    resp = MHD_create_response_from_buffer (len, text, MHD_RESPMEM_MUST_FREE);
  else
    resp = MHD_create_response_from_buffer (sizeof nf - 1, (void *)nf, MHD_RESPMEM_PERSISTENT);
  if (!resp)
    return MHD_NO;
  MHD_add_response_header (resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; version=0.0.4");
  r = MHD_queue_response (c, status, resp);
  MHD_destroy_response (resp);
  return r;
}

/* A listening TCP socket on HOSTPORT. */
static int
listen_on (const char *hostport)
{
  const char *s = strncmp (hostport, "tcp://", 6) ? hostport : hostport + 6;
  const char *colon = strrchr (s, ':');
  CLEANUP_FREE char *host = NULL;
  struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE }, *res = NULL;
  int fd = -1, one = 1, e;

  if (s[0] == '[' && colon && colon > s + 1 && colon[-1] == ']')
    host = strndup (s + 1, colon - s - 2);
  else
    host = colon && colon > s ? strndup (s, colon - s) : strdup ("127.0.0.1");
  if (!host || (e = getaddrinfo (host, colon ? colon + 1 : s, &hints, &res)) != 0) {
    err_set (EINVAL, "metrics address '%s': %s", hostport, host ? gai_strerror (e) : "ENOMEM");
    return -1;
  }
  fd = socket (res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd == -1 || setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == -1 ||
      bind (fd, res->ai_addr, res->ai_addrlen) == -1 || listen (fd, 16) == -1) {
    err_set (errno, "metrics: listen on %s", hostport);
    if (fd >= 0)
      close (fd);
    fd = -1;
  }
  freeaddrinfo (res);
  return fd;
}

struct mm_metrics *
mm_metrics_new (void)
{
  struct mm_metrics *m = calloc (1, sizeof *m);

  if (!m) {
    err_set (errno, "calloc");
    return NULL;
  }
  pthread_mutex_init (&m->lock, NULL);
  return m;
}

int
mm_metrics_listen (struct mm_metrics *m, const char *hostport, mm_gauges_fn fn, void *ctx)
{
  int fd = listen_on (hostport);

  if (fd == -1)
    return -1;
  m->gauges = fn, m->gauges_ctx = ctx;
  m->mhd = MHD_start_daemon (MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
                             on_request, m, MHD_OPTION_LISTEN_SOCKET, fd,
                             MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_END);
  if (!m->mhd) {
    close (fd);
    err_set (EIO, "metrics: cannot start the HTTP server on %s", hostport);
    return -1;
  }
  log_info ("metrics on http://%s/metrics", hostport);
  return 0;
}

void
mm_metrics_stop (struct mm_metrics *m)
{
  if (!m || !m->mhd)
    return;
  MHD_stop_daemon (m->mhd);
  m->mhd = NULL;
}

void
mm_metrics_free (struct mm_metrics *m)
{
  if (!m)
    return;
  mm_metrics_stop (m);
  while (m->stats) {
    struct mstat *s = m->stats;
    m->stats = s->next;
    free (s->name);
    free (s);
  }
  while (m->wraps) {
    struct wrap_ctx *w = m->wraps;
    m->wraps = w->next;
    free (w);
  }
  pthread_mutex_destroy (&m->lock);
  free (m);
}
