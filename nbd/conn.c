/* conn.c: one client connection.  Its thread does the handshake, then becomes the reader:
 * it reads requests (with their payloads) and queues them for a pool of worker threads,
 * never more than max_requests in flight.  Workers run requests in any order and reply
 * under the send lock.  Two fast paths skip the hand-off (a thread wake-up costs more than
 * the work): reads the page cache answers without blocking, and plain writes while every
 * worker sleeps are done by the reader itself.  On DISC, EOF, a protocol violation or a failed send, the reader
 * stops, the queue is drained (every accepted request still gets its reply), the workers
 * are joined, and only then is the socket closed and the export released. */
#include <malloc.h>
#include <string.h>
#include <sys/socket.h>

#include "nbd/internal.h"

/* Buffers: a stream of big READs or WRITEs would otherwise malloc and free one buffer per
 * request, and glibc gives big freed blocks back to the kernel, so every request faulted in
 * (and the kernel zeroed) fresh pages before the real copy.  A connection keeps up to
 * NBDS_POOL_MAX freed buffers of POOL_MIN..POOL_BIG bytes, POOL_BYTES in all (nbdkit keeps
 * one buffer per thread, 16 per connection); POOL_BIG covers the 1280 KiB requests of a
 * kernel device (attach/kernel.c).  A buffer of POOL_MIN bytes or more starts on a page
 * boundary, so a backend may hand it to O_DIRECT I/O (layers/io.c does); its size is what
 * malloc_usable_size says, so no header page is spent on it. */
#define POOL_MIN   4096
#define POOL_BIG   (4u << 20)
#define POOL_BYTES (8u << 20)
#define POOL_ROUND (64u << 10) /* sizes from this up are rounded up to a multiple of it */

void *
nbds_buf_get (struct conn *c, size_t size)
{
  void *p = NULL;

  if (size >= POOL_MIN && size <= POOL_BIG) {
    /* the first free buffer big enough: request sizes vary (a kernel device's read-ahead
     * grows from 128 KiB to 1280 KiB), and freeing a small one to make a big one would give
     * the pages back and fault fresh (zeroed) ones in */
    pthread_mutex_lock (&c->pool_lock);
    for (unsigned i = 0; i < c->npool; i++) {
      size_t have = malloc_usable_size (c->pool[i]);
      if (have >= size) {
        p = c->pool[i];
        c->pool[i] = c->pool[--c->npool];
        c->pool_bytes -= have;
        break;
      }
    }
    pthread_mutex_unlock (&c->pool_lock);
    if (p)
      return p;
    if (size >= POOL_ROUND)
      size = (size + POOL_ROUND - 1) & ~(size_t)(POOL_ROUND - 1);
  }
  if (size < POOL_MIN)
    return malloc (size);
  return posix_memalign (&p, POOL_MIN, size) == 0 ? p : NULL;
}

void
nbds_buf_put (struct conn *c, void *buf)
{
  size_t have = buf ? malloc_usable_size (buf) : 0;

  /* a pooled buffer is page-aligned (malloc's small ones are not); malloc may give a little
   * more than was asked, hence the slack above POOL_BIG */
  if (have >= POOL_MIN && have <= POOL_BIG + POOL_MIN && ((uintptr_t)buf & (POOL_MIN - 1)) == 0) {
    pthread_mutex_lock (&c->pool_lock);
    if (c->npool < NBDS_POOL_MAX && c->pool_bytes + have <= POOL_BYTES) {
      c->pool[c->npool++] = buf, c->pool_bytes += have;
      buf = NULL;
    }
    pthread_mutex_unlock (&c->pool_lock);
  }
  free (buf);
}

static void
pool_free (struct conn *c)
{
  for (unsigned i = 0; i < c->npool; i++)
    free (c->pool[i]);
  c->npool = 0, c->pool_bytes = 0;
  pthread_mutex_destroy (&c->pool_lock);
}

/* Payload bytes a connection may hold at once: a client cannot make the server buffer
 * max_requests x max_payload of writes. */
static uint64_t
held_limit (const struct conn *c)
{
  return 2 * (uint64_t)c->srv->opts.max_payload;
}

void
nbds_conn_wait_room (struct conn *c, uint32_t bytes)
{
  pthread_mutex_lock (&c->q_lock);
  while (c->inflight >= c->srv->opts.max_requests ||
         (c->inflight > 0 && c->held + bytes > held_limit (c))) {
    c->reader_waits = true;
    pthread_cond_wait (&c->q_space, &c->q_lock);
  }
  c->reader_waits = false;
  c->held += bytes;
  pthread_mutex_unlock (&c->q_lock);
}

/* Take the next request (NULL: closing and the queue is empty).  DONE: the worker just
 * answered one holding DONE_BYTES, counted out under the same lock. */
static struct request *
next_request (struct conn *c, bool done, uint32_t done_bytes)
{
  struct request *r;

  pthread_mutex_lock (&c->q_lock);
  if (done) {
    c->inflight--;
    c->held -= done_bytes;
    if (c->reader_waits)
      pthread_cond_signal (&c->q_space);
  }
  while (c->q_head == NULL && !c->closing) {
    c->idle++;
    pthread_cond_wait (&c->q_work, &c->q_lock);
    c->idle--;
    if (c->waking > 0)
      c->waking--;
  }
  r = c->q_head;
  if (r) {
    c->q_head = r->next;
    if (c->q_head == NULL)
      c->q_tail = NULL;
    c->queued--;
  }
  pthread_mutex_unlock (&c->q_lock);
  return r;
}

static void *
worker_run (void *arg)
{
  struct conn *c = arg;
  struct request *r;
  uint32_t bytes;

  for (r = next_request (c, false, 0); r; r = next_request (c, true, bytes)) {
    bytes = r->held;
    nbds_request_run (c, r);
    nbds_request_free (c, r);
  }
  return NULL;
}

static void
start_workers (struct conn *c)
{
  unsigned n = c->srv->opts.workers;

  c->workers = calloc (n, sizeof *c->workers);
  if (c->workers == NULL)
    return;
  for (; c->nworkers < n; c->nworkers++) {
    int r = pthread_create (&c->workers[c->nworkers], NULL, worker_run, c);
    if (r != 0) {
      log_warn ("nbd: fd %d: worker thread: %s", c->fd, strerror (r));
      break;
    }
  }
}

static void
stop_workers (struct conn *c)
{
  pthread_mutex_lock (&c->q_lock);
  c->closing = true;
  pthread_cond_broadcast (&c->q_work);
  pthread_mutex_unlock (&c->q_lock);
  for (unsigned i = 0; i < c->nworkers; i++)
    pthread_join (c->workers[i], NULL);
  free (c->workers);
}

static void
enqueue (struct conn *c, struct request *r)
{
  pthread_mutex_lock (&c->q_lock);
  if (c->q_tail)
    c->q_tail->next = r;
  else
    c->q_head = r;
  c->q_tail = r;
  c->inflight++;
  c->queued++;
  /* Wake a sleeping worker only when the queue outgrows what the awake ones will take
   * right after their current request: quick requests (page cache) stay on a few hot
   * threads instead of bouncing through all of them; when requests block, the queue grows
   * and more workers wake up. */
  unsigned awake = c->nworkers - c->idle + c->waking;
  if (c->idle > c->waking && c->queued > 2 * awake) {
    c->waking++;
    pthread_cond_signal (&c->q_work);
  }
  pthread_mutex_unlock (&c->q_lock);
}

static void
release_held (struct conn *c, uint32_t bytes)
{
  pthread_mutex_lock (&c->q_lock);
  c->held -= bytes;
  pthread_mutex_unlock (&c->q_lock);
}

/* A small plain WRITE (no FUA: nothing waits for the disk) while every worker sleeps: running it
 * here costs less than waking a worker for it.  Anything that may wait for the disk, and
 * any request while workers are busy, still goes to the pool. */
static bool
quick_and_alone (struct conn *c, const struct request *r)
{
  bool alone;

  if (r->type != NBDS_CMD_WRITE || (r->flags & NBDS_CMD_FLAG_FUA) || r->count > 65536)
    return false; /* big writes: better overlapped with reading the next payload */
  pthread_mutex_lock (&c->q_lock);
  alone = c->idle == c->nworkers && c->waking == 0;
  pthread_mutex_unlock (&c->q_lock);
  return alone;
}

/* The reader loop of the transmission phase. */
static void
transmission (struct conn *c)
{
  struct request *r;

  start_workers (c);
  for (;;) {
    nbds_conn_wait_room (c, 0);
    if (nbds_request_read (c, &r) != 1)
      break;
    if (nbds_request_try_inline (c, r)) {
      nbds_request_free (c, r); /* answered from the page cache */
    } else if (r->error || c->nworkers == 0 || quick_and_alone (c, r)) {
      nbds_request_run (c, r); /* no need to wake a worker for this */
      release_held (c, r->held);
      nbds_request_free (c, r);
    } else {
      enqueue (c, r);
    }
  }
  stop_workers (c);
}

/* Leave the server's list; the last thing a connection thread does with the server. */
static void
conn_free (struct conn *c)
{
  struct nbds_server *srv = c->srv;

  nbds_export_put (srv, c->exp);
  pthread_mutex_destroy (&c->send_lock);
  pthread_mutex_destroy (&c->q_lock);
  pthread_cond_destroy (&c->q_work);
  pthread_cond_destroy (&c->q_space);
  free (c->default_export);
  free (c->meta_export);
  free (c->rbuf);
  nbds_splice_close (c);
  pool_free (c);
  pthread_mutex_lock (&srv->lock);
  for (struct conn **p = &srv->conns; *p; p = &(*p)->next)
    if (*p == c) {
      *p = c->next;
      break;
    }
  close (c->fd);
  free (c);
  if (--srv->nconns == 0)
    pthread_cond_broadcast (&srv->conns_done);
  pthread_mutex_unlock (&srv->lock);
}

void *
nbds_conn_run (void *arg)
{
  struct conn *c = arg;

  if (nbds_handshake (c) == 0)
    transmission (c);
  log_debug ("nbd", "nbd: fd %d: connection closed", c->fd);
  conn_free (c);
  return NULL;
}
