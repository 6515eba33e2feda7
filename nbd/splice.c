/* splice.c: READ replies without copying the data through user space.  When the backend can
 * name the files a range is read from (backend->read_runs) and the reply is a simple one, the
 * header is sent and each run moves file → pipe → socket with splice(2): the socket takes
 * references to the page cache's pages, so the one copy left is the client's receive.  A
 * kernel NBD client is the one that asks for simple replies (and sends large reads), so this
 * is kernel mode's read path, for what is read from the page cache: the image's shared diffs.
 *
 * A run read with O_DIRECT (the layer's own top diff, layers/io.c) gains nothing here: its
 * pages would have to be allocated for the pipe anyway, and measured in the QEMU guest it was
 * half as fast as a pread into a pooled buffer and a send.  So a read served by O_DIRECT runs
 * alone takes the usual path, and in a mixed one those runs are read and sent the plain way.
 * Zero runs are sent from a static buffer.  Only unix sockets (kernel mode's socketpairs):
 * over TCP loopback, 4 KiB pages one by one made 1 MiB replies 40 % slower than a copy.
 *
 * The data is read while the connection's send lock is held, one pipe-full at a time, each
 * drained at once (filling the pipe with the whole reply first and then draining it was half
 * as fast in the guest).  The header is out before the data is read, so a run that fails half
 * way cannot become an error reply: the connection is shut down instead and the client sees
 * the request fail.  A socket whose peer is gone fails with EPIPE: the programs that serve
 * NBD ignore SIGPIPE. */
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "nbd/internal.h"

#define PIPE_WANT  (1u << 20) /* /proc/sys/fs/pipe-max-size's default */
#define COPY_CHUNK (1u << 20)
#define ZERO_CHUNK 65536u

static const char zeros[ZERO_CHUNK];

/* ---- is it worth it ---------------------------------------------------------------- */

/* Probe: stops at the first run that is not O_DIRECT (*cbdata set: splicing pays). */
static int
plan_run (void *cbdata, int fd, uint64_t off, uint64_t len, bool direct)
{
  (void)fd, (void)off, (void)len;
  if (direct)
    return 0;
  *(bool *)cbdata = true;
  return -1;
}

/* ---- sending ------------------------------------------------------------------------ */

struct run_ctx {
  struct conn *c;
  uint64_t sent, total; /* bytes of the reply sent, and in all (header + data) */
  bool sock_failed;     /* the socket (not a file) failed */
};

static int
send_more (struct run_ctx *x, const void *buf, size_t len)
{
  int more = x->sent + len < x->total ? MSG_MORE : 0; /* TCP: no partial frame left corked */

  if (nbds_send_flags (x->c->fd, buf, len, more) == -1) {
    x->sock_failed = true;
    return -1;
  }
  x->sent += len;
  return 0;
}

/* One run the plain way: pread into a buffer, send. */
static int
copy_run (struct run_ctx *x, int fd, uint64_t off, uint64_t len)
{
  uint32_t chunk = len < COPY_CHUNK ? len : COPY_CHUNK;
  char *buf = nbds_buf_get (x->c, chunk);
  int r = buf ? 0 : -1;

  while (r == 0 && len > 0) {
    uint32_t n = len < chunk ? len : chunk;
    if (pread_full (fd, buf, n, off) == -1 || send_more (x, buf, n) == -1)
      r = -1;
    off += n, len -= n;
  }
  nbds_buf_put (x->c, buf);
  return r;
}

/* Move the N bytes in the pipe to the socket. */
static int
drain (struct run_ctx *x, size_t n)
{
  while (n > 0) {
    unsigned more = x->sent + n < x->total ? SPLICE_F_MORE : 0;
    ssize_t r = splice (x->c->pipe[0], NULL, x->c->fd, NULL, n, SPLICE_F_MOVE | more);
    if (r == -1 && errno == EINTR)
      continue;
    if (r <= 0) {
      x->sock_failed = true;
      if (r == 0)
        errno = EPIPE;
      return -1;
    }
    n -= r, x->sent += r;
  }
  return 0;
}

static int
send_run (void *cbdata, int fd, uint64_t off, uint64_t len, bool direct)
{
  struct run_ctx *x = cbdata;
  struct conn *c = x->c;
  loff_t pos = (loff_t)off;

  while (fd < 0 && len > 0) { /* zeros */
    size_t n = len < ZERO_CHUNK ? len : ZERO_CHUNK;
    if (send_more (x, zeros, n) == -1)
      return -1;
    len -= n;
  }
  if (len > 0 && direct)
    return copy_run (x, fd, off, len);
  while (len > 0) {
    ssize_t n =
        splice (fd, &pos, c->pipe[1], NULL, len < c->pipe_size ? len : c->pipe_size, SPLICE_F_MOVE);
    if (n == -1 && errno == EINTR)
      continue;
    if (n == -1 && (errno == EINVAL || errno == ENOSYS)) /* the pipe is empty: drained below */
      return copy_run (x, fd, (uint64_t)pos, len);
    if (n == -1)
      return -1;
    if (n == 0) /* past the end of the file: it reads as zeros */
      return send_run (cbdata, -1, (uint64_t)pos, len, false);
    if (drain (x, n) == -1)
      return -1;
    len -= n;
  }
  return 0;
}

static bool
is_unix (int fd)
{
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  return getsockname (fd, (struct sockaddr *)&ss, &len) == 0 && ss.ss_family == AF_UNIX;
}

static int
pipe_open (struct conn *c)
{
  if (c->pipe[0] >= 0)
    return 0;
  if (pipe2 (c->pipe, O_CLOEXEC) == -1) {
    c->pipe[0] = c->pipe[1] = -1;
    return -1;
  }
  fcntl (c->pipe[1], F_SETPIPE_SZ, PIPE_WANT); /* best effort */
  int sz = fcntl (c->pipe[1], F_GETPIPE_SZ);
  c->pipe_size = sz > 0 ? (uint32_t)sz : 65536;
  return 0;
}

void
nbds_splice_init (struct conn *c)
{
  c->pipe[0] = c->pipe[1] = -1;
  c->splice_ok = is_unix (c->fd);
}

void
nbds_splice_close (struct conn *c)
{
  if (c->pipe[0] >= 0)
    close (c->pipe[0]), close (c->pipe[1]);
  c->pipe[0] = c->pipe[1] = -1;
}

int
nbds_splice_read (struct conn *c, const struct request *r)
{
  const struct export *e = c->exp;
  bool worth = false;
  struct run_ctx x = { .c = c, .total = 16 + (uint64_t)r->count };
  uint8_t h[16];
  int ret;

  if (!c->splice_ok)
    return 2;
  e->be->read_runs (e->h, r->count, r->offset, true, plan_run, &worth);
  if (!worth)
    return 2; /* all O_DIRECT (or an error the usual path will report) */
  be32_put (h, NBDS_SIMPLE_MAGIC);
  be32_put (h + 4, 0);
  be64_put (h + 8, r->cookie);
  pthread_mutex_lock (&c->send_lock);
  if (c->dead) {
    pthread_mutex_unlock (&c->send_lock);
    return 1;
  }
  if (pipe_open (c) == -1) {
    pthread_mutex_unlock (&c->send_lock);
    return 2;
  }
  ret = send_more (&x, h, sizeof h);
  if (ret == 0)
    ret = e->be->read_runs (e->h, r->count, r->offset, false, send_run, &x);
  if (ret == 0 && x.sent != x.total) {
    errno = EIO;
    ret = -1;
  }
  if (ret == -1) {
    if (!x.sock_failed)
      log_warn ("nbd: %s: READ offset %" PRIu64 " count %" PRIu32 " failed after its reply "
                "started: %s; dropping the connection",
                e->name, r->offset, r->count, *err_get () ? err_get () : strerror (errno));
    c->dead = true;
    shutdown (c->fd, SHUT_RDWR);
    nbds_splice_close (c); /* it may hold bytes that will never be sent */
  }
  pthread_mutex_unlock (&c->send_lock);
  return ret == -1 ? 1 : 0;
}
