/* request.c: the transmission phase's requests — read and validate one request (the reader
 * thread), then run it against the backend and reply (a worker).  Validation happens before
 * any backend call, so no request reaches a backend with an offset or length outside the
 * export; a write's payload is always consumed, or the connection dropped, so the stream
 * never loses its framing.  nbds_errno_to_nbd is the one place errno becomes NBD_E*. */
#include <inttypes.h>
#include <string.h>
#include <sys/socket.h>

#include "nbd/internal.h"

static const char *const cmd_names[] = { "READ", "WRITE", "DISC",         "FLUSH",
                                         "TRIM", "CACHE", "WRITE_ZEROES", "BLOCK_STATUS" };

int
nbds_errno_to_nbd (int err)
{
  switch (err) {
  case 0: return 0;
  case EPERM:
  case EROFS: return NBDS_EPERM;
  case ENOMEM: return NBDS_ENOMEM;
  case EINVAL: return NBDS_EINVAL;
  case ENOSPC:
  case EDQUOT:
  case EFBIG: return NBDS_ENOSPC;
  case EOVERFLOW: return NBDS_EOVERFLOW;
  case ENOTSUP: return NBDS_ENOTSUP;
  case ESHUTDOWN: return NBDS_ESHUTDOWN;
  default: return NBDS_EIO;
  }
}

/* The command flags each command accepts. */
static uint16_t
allowed_flags (const struct conn *c, uint16_t type)
{
  switch (type) {
  case NBDS_CMD_READ: return c->structured ? NBDS_CMD_FLAG_DF : 0;
  case NBDS_CMD_WRITE:
  case NBDS_CMD_TRIM: return NBDS_CMD_FLAG_FUA;
  case NBDS_CMD_WRITE_ZEROES:
    return NBDS_CMD_FLAG_FUA | NBDS_CMD_FLAG_NO_HOLE | NBDS_CMD_FLAG_FAST_ZERO;
  case NBDS_CMD_BLOCK_STATUS: return NBDS_CMD_FLAG_REQ_ONE;
  default: return 0;
  }
}

/* 0 if R may run, else the NBD error to answer with. */
static uint32_t
validate (const struct conn *c, const struct request *r)
{
  const struct nbds_backend *be = c->exp->be;
  bool write = r->type == NBDS_CMD_WRITE || r->type == NBDS_CMD_WRITE_ZEROES;

  if (r->type > NBDS_CMD_BLOCK_STATUS || (r->flags & ~allowed_flags (c, r->type)))
    return NBDS_EINVAL;
  if ((r->type == NBDS_CMD_TRIM && !be->trim) || (r->type == NBDS_CMD_WRITE_ZEROES && !be->zero) ||
      (r->type == NBDS_CMD_CACHE && !be->cache) ||
      (r->type == NBDS_CMD_BLOCK_STATUS && !c->meta_base))
    return NBDS_EINVAL; /* not advertised */
  if (c->exp->read_only && (write || r->type == NBDS_CMD_TRIM))
    return NBDS_EPERM;
  if (r->type == NBDS_CMD_FLUSH)
    return r->offset || r->count ? NBDS_EINVAL : 0;
  if (r->count == 0)
    return NBDS_EINVAL;
  if ((r->type == NBDS_CMD_READ || r->type == NBDS_CMD_WRITE) &&
      r->count > c->srv->opts.max_payload)
    return NBDS_EINVAL; /* beyond the maximum block size we advertised */
  if (r->offset > c->size || r->count > c->size - r->offset)
    return write ? NBDS_ENOSPC : NBDS_EINVAL;
  return 0;
}

#define RBUF_SIZE 65536

/* Read LEN bytes through the connection's buffer (big payloads go straight to BUF).  After
 * a big WRITE the next refill takes just the header asked for: one recv of RBUF_SIZE would
 * also take a part of the next payload, which then costs one more copy. */
static int
conn_recv (struct conn *c, void *buf, size_t len)
{
  char *p = buf;

  if (c->rbuf == NULL && (c->rbuf = malloc (RBUF_SIZE)) == NULL)
    return -1;
  while (len > 0) {
    size_t n = MIN (len, c->rlen - c->rpos);
    memcpy (p, c->rbuf + c->rpos, n);
    c->rpos += n, p += n, len -= n;
    if (len == 0)
      break;
    if (len >= RBUF_SIZE)
      return nbds_recv_all (c->fd, p, len);
    ssize_t r = recv (c->fd, c->rbuf, c->big_writes ? len : RBUF_SIZE, 0);
    if (r == -1 && errno == EINTR)
      continue;
    if (r <= 0)
      return -1;
    c->rpos = 0, c->rlen = r;
  }
  return 0;
}

/* Read and drop LEN payload bytes. */
static int
skip_payload (struct conn *c, uint32_t len)
{
  char buf[65536];

  while (len > 0) {
    uint32_t n = len < sizeof buf ? len : sizeof buf;
    if (conn_recv (c, buf, n) == -1)
      return -1;
    len -= n;
  }
  return 0;
}

/* A WRITE's payload: into r->buf if the request is valid, else skipped (or, when it is
 * beyond what we are willing to read through, the connection is dropped). */
static int
read_payload (struct conn *c, struct request *r)
{
  if (r->error) {
    if (r->count > NBDS_DISCARD_LIMIT) {
      log_warn ("nbd: fd %d: WRITE of %" PRIu32 " bytes: dropping the connection", c->fd, r->count);
      return -1;
    }
    return skip_payload (c, r->count);
  }
  nbds_conn_wait_room (c, r->count); /* counted until the request is answered */
  r->held = r->count;
  if ((r->buf = nbds_buf_get (c, r->count)) == NULL) {
    r->error = NBDS_ENOMEM;
    return skip_payload (c, r->count);
  }
  return conn_recv (c, r->buf, r->count);
}

int
nbds_request_read (struct conn *c, struct request **out)
{
  uint8_t h[28];
  struct request *r;

  if (conn_recv (c, h, sizeof h) == -1)
    return 0;
  if (be32_get (h) != NBDS_REQUEST_MAGIC) {
    log_warn ("nbd: fd %d: bad request magic 0x%08x: disconnecting", c->fd, be32_get (h));
    return 0;
  }
  if (be16_get (h + 6) == NBDS_CMD_DISC) {
    log_debug ("nbd", "nbd: fd %d: DISC", c->fd);
    return 0;
  }
  if ((r = calloc (1, sizeof *r)) == NULL)
    return 0;
  r->flags = be16_get (h + 4), r->type = be16_get (h + 6);
  r->cookie = be64_get (h + 8), r->offset = be64_get (h + 16), r->count = be32_get (h + 24);
  r->error = validate (c, r);
  c->big_writes = r->type == NBDS_CMD_WRITE && r->count >= RBUF_SIZE;
  if (r->type == NBDS_CMD_WRITE && read_payload (c, r) == -1) {
    nbds_request_free (c, r);
    return 0;
  }
  *out = r;
  return 1;
}

void
nbds_request_free (struct conn *c, struct request *r)
{
  if (r == NULL)
    return;
  nbds_buf_put (c, r->buf);
  free (r);
}

static bool
all_zero (const char *p, size_t n)
{
  return n == 0 || (p[0] == 0 && memcmp (p, p + 1, n - 1) == 0);
}

/* Reads this big or bigger are spliced when they can be (splice.c); a small one costs less
 * copied than set up in a pipe. */
#define SPLICE_MIN 65536

static int
do_read (struct conn *c, struct request *r)
{
  const struct export *e = c->exp;
  char *buf;
  int ret = -1, s;

  if (r->count >= SPLICE_MIN && !c->structured && e->be->read_runs &&
      (s = nbds_splice_read (c, r)) != 2)
    return s;
  buf = nbds_buf_get (c, r->count);

  if (buf == NULL)
    errno = ENOMEM;
  else if (e->be->pread (e->h, buf, r->count, r->offset) == 0)
    ret = nbds_reply_read (c, r->cookie, r->offset, buf, r->count,
                           c->structured && all_zero (buf, r->count)) == -1
              ? 1 /* the connection is gone: nothing more to send */
              : 0;
  nbds_buf_put (c, buf);
  return ret;
}

/* Run R against the backend: 0 done (replied), 1 connection gone, -1 errno set. */
static int
dispatch (struct conn *c, struct request *r)
{
  const struct nbds_backend *be = c->exp->be;
  void *h = c->exp->h;
  bool fua = r->flags & NBDS_CMD_FLAG_FUA;
  int ret;

  switch (r->type) {
  case NBDS_CMD_READ: return do_read (c, r);
  case NBDS_CMD_BLOCK_STATUS: return nbds_block_status (c, r);
  case NBDS_CMD_WRITE: ret = be->pwrite (h, r->buf, r->count, r->offset, fua); break;
  case NBDS_CMD_FLUSH: ret = be->flush ? be->flush (h) : 0; break;
  case NBDS_CMD_TRIM: ret = be->trim (h, r->count, r->offset, fua); break;
  case NBDS_CMD_CACHE: ret = be->cache (h, r->count, r->offset); break;
  case NBDS_CMD_WRITE_ZEROES:
    ret = be->zero (h, r->count, r->offset, !(r->flags & NBDS_CMD_FLAG_NO_HOLE),
                    r->flags & NBDS_CMD_FLAG_FAST_ZERO, fua);
    break;
  default: errno = EINVAL; return -1;
  }
  if (ret == -1)
    return -1;
  return nbds_reply_simple (c, r->cookie, 0, NULL, 0) == -1 ? 1 : 0;
}

static void
log_request (const struct conn *c, const struct request *r, const char *how)
{
  log_debug ("nbd", "nbd: fd %d: %s offset %" PRIu64 " count %" PRIu32 " flags 0x%x%s", c->fd,
             r->type < ARRAY_SIZE (cmd_names) ? cmd_names[r->type] : "UNKNOWN", r->offset, r->count,
             r->flags, how);
}

/* The reader thread's fast path: a READ served from the page cache, answered right here.
 * False: it would block (or is not a plain read), give it to a worker. */
bool
nbds_request_try_inline (struct conn *c, struct request *r)
{
  const struct export *e = c->exp;
  char *buf;
  bool hole;

  if (r->type != NBDS_CMD_READ || r->error || e->be->pread_nowait == NULL)
    return false;
  if ((buf = nbds_buf_get (c, r->count)) == NULL)
    return false;
  if (e->be->pread_nowait (e->h, buf, r->count, r->offset) == -1) {
    nbds_buf_put (c, buf);
    return false;
  }
  if (log_debug_on ("nbd"))
    log_request (c, r, " (cached)");
  hole = c->structured && all_zero (buf, r->count);
  nbds_reply_read (c, r->cookie, r->offset, buf, r->count, hole);
  nbds_buf_put (c, buf);
  return true;
}

void
nbds_request_run (struct conn *c, struct request *r)
{
  int nbd_err = r->error, ret;

  if (log_debug_on ("nbd"))
    log_request (c, r, nbd_err ? " (rejected)" : "");
  if (nbd_err) {
    nbds_reply_error (c, r->cookie, nbd_err, "invalid request");
    return;
  }
  err_clear ();
  ret = dispatch (c, r);
  if (ret == -1) {
    int e = errno;
    nbd_err = nbds_errno_to_nbd (e);
    if (nbd_err != NBDS_ENOTSUP)
      log_warn ("nbd: %s: %s: %s", c->exp->name, cmd_names[r->type],
                *err_get () ? err_get () : strerror (e));
    nbds_reply_error (c, r->cookie, nbd_err, *err_get () ? err_get () : strerror (e));
  }
}
