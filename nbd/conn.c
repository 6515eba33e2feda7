/* conn.c: one client connection.  Its thread does the handshake, then becomes the reader:
 * it reads requests (with their payloads) and queues them for a pool of worker threads,
 * never more than max_requests in flight.  Workers run requests in any order and reply
 * under the send lock.  Two fast paths skip the hand-off (a thread wake-up costs more than
 * the work): reads the page cache answers without blocking, and plain writes while every
 * worker sleeps are done by the reader itself.  On DISC, EOF, a protocol violation or a failed send, the reader
 * stops, the queue is drained (every accepted request still gets its reply), the workers
 * are joined, and only then is the socket closed and the export released. */
#include <string.h>
#include <sys/socket.h>

#include "nbd/internal.h"

/* Buffers: a stream of big READs or WRITEs would otherwise malloc and free one buffer per
 * request, and glibc gives big freed blocks back to the kernel, so every request faulted in
 * (and the kernel zeroed) fresh pages before the real copy.  A connection keeps up to
 * POOL_MAX freed buffers of POOL_MIN..POOL_BIG bytes, POOL_BYTES in all (nbdkit keeps one
 * buffer per thread, 16 per connection); POOL_BIG covers the 1280 KiB requests of a kernel
 * device (nbd/kdev-kernel.c).  A header holding its size (which also links the free ones)
 * sits just before the data; data of POOL_MIN bytes or more starts on a page boundary, so
 * a backend may hand it to O_DIRECT I/O (layers/io.c does). */
#define POOL_MAX   32
#define POOL_MIN   4096
#define POOL_BIG   (4u << 20)
#define POOL_BYTES (8u << 20)
#define POOL_ROUND (64u << 10) /* a pooled buffer's size is rounded up to a multiple */
#define BUF_ALIGN  4096

struct pool_buf {
  struct pool_buf *next;
  size_t size; /* bytes after the header */
} __attribute__ ((aligned (16)));

/* Bytes from the start of a buffer's allocation to its data. */
static size_t
buf_lead (size_t size)
{
  return size >= POOL_MIN ? BUF_ALIGN : sizeof (struct pool_buf);
}

static void
buf_free (struct pool_buf *b)
{
  if (b)
    free ((char *)(b + 1) - buf_lead (b->size));
}

void *
nbds_buf_get (struct conn *c, size_t size)
{
  struct pool_buf *b = NULL, **pp;
  void *p = NULL;

  if (size >= POOL_MIN && size <= POOL_BIG) {
    /* the first free buffer big enough: request sizes vary (a kernel device's read-ahead
     * grows from 128 KiB to 1280 KiB), and freeing a small one to make a big one would give
     * the pages back and fault fresh (zeroed) ones in */
    pthread_mutex_lock (&c->pool_lock);
    for (pp = &c->pool; *pp && (*pp)->size < size; pp = &(*pp)->next)
      ;
    if ((b = *pp) != NULL)
      *pp = b->next, c->npool--, c->pool_bytes -= b->size;
    pthread_mutex_unlock (&c->pool_lock);
    if (b)
      return b + 1;
    size = (size + POOL_ROUND - 1) & ~(size_t)(POOL_ROUND - 1);
  }
  if (size >= POOL_MIN ? posix_memalign (&p, BUF_ALIGN, BUF_ALIGN + size) != 0
                       : (p = malloc (sizeof *b + size)) == NULL)
    return NULL;
  b = (struct pool_buf *)((char *)p + buf_lead (size)) - 1;
  b->size = size;
  return b + 1;
}

void
nbds_buf_put (struct conn *c, void *buf)
{
  struct pool_buf *b = buf ? (struct pool_buf *)buf - 1 : NULL;

  if (b && b->size >= POOL_MIN && b->size <= POOL_BIG) {
    pthread_mutex_lock (&c->pool_lock);
    if (c->npool < POOL_MAX && c->pool_bytes + b->size <= POOL_BYTES) {
      b->next = c->pool;
      c->pool = b, c->npool++, c->pool_bytes += b->size, b = NULL;
    }
    pthread_mutex_unlock (&c->pool_lock);
  }
  buf_free (b);
}

static void
pool_free (struct conn *c)
{
  for (struct pool_buf *b = c->pool, *next; b; b = next) {
    next = b->next;
    buf_free (b);
  }
  c->pool = NULL, c->npool = 0, c->pool_bytes = 0;
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
