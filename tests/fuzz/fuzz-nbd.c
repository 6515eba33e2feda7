/* fuzz-nbd.c: libFuzzer target for the NBD server's handshake and request path.  Each input
 * is the byte stream a client sends: it is written into one end of a socketpair whose other
 * end is served by nbds_serve_fd against a memory backend, while the server's replies are
 * read and thrown away.  The backend aborts on any access outside the export, so "never a
 * write outside the export" is checked along with crashes, leaks and hangs.
 * Seeds (tests/fuzz/seeds-fuzz-nbd/) hold valid sessions for the fuzzer to mutate. */
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/common.h"
#include "nbd/nbds.h"

#define MEM_SIZE (1u << 20)

struct mem {
  pthread_mutex_t lock;
  unsigned char data[MEM_SIZE];
};

static void
check_range (uint32_t count, uint64_t offset)
{
  if (offset > MEM_SIZE || count > MEM_SIZE - offset)
    abort (); /* the server let a request outside the export through */
}

static int64_t
mem_size (void *h)
{
  (void)h;
  return MEM_SIZE;
}

static int
mem_pread (void *h, void *buf, uint32_t count, uint64_t offset)
{
  struct mem *m = h;
  check_range (count, offset);
  pthread_mutex_lock (&m->lock);
  memcpy (buf, m->data + offset, count);
  pthread_mutex_unlock (&m->lock);
  return 0;
}

static int
mem_pwrite (void *h, const void *buf, uint32_t count, uint64_t offset, bool fua)
{
  struct mem *m = h;
  (void)fua;
  check_range (count, offset);
  pthread_mutex_lock (&m->lock);
  memcpy (m->data + offset, buf, count);
  pthread_mutex_unlock (&m->lock);
  return 0;
}

static int
mem_flush (void *h)
{
  (void)h;
  return 0;
}

static int
mem_zero (void *h, uint32_t count, uint64_t offset, bool may_trim, bool fast, bool fua)
{
  struct mem *m = h;
  (void)may_trim, (void)fua;
  check_range (count, offset);
  if (fast && count > 65536) {
    errno = ENOTSUP;
    return -1;
  }
  pthread_mutex_lock (&m->lock);
  memset (m->data + offset, 0, count);
  pthread_mutex_unlock (&m->lock);
  return 0;
}

static int
mem_trim (void *h, uint32_t count, uint64_t offset, bool fua)
{
  return mem_zero (h, count, offset, true, false, fua);
}

/* Alternating 64 KiB data / hole extents, starting before OFFSET. */
static int
mem_extents (void *h, uint32_t count, uint64_t offset, nbds_extent_fn fn, void *cbdata)
{
  (void)h;
  check_range (count, offset);
  for (uint64_t pos = offset & ~UINT64_C (0xffff); pos < offset + count; pos += 65536)
    if (fn (cbdata, pos, 65536, (pos >> 16) & 1 ? NBDS_EXTENT_HOLE | NBDS_EXTENT_ZERO : 0))
      break;
  return 0;
}

static int
mem_cache (void *h, uint32_t count, uint64_t offset)
{
  (void)h;
  check_range (count, offset);
  if (offset == 4096) { /* one failing spot, to exercise the error path */
    errno = EIO;
    return -1;
  }
  return 0;
}

static void
mem_close (void *h)
{
  (void)h;
}

static const struct nbds_backend mem_backend = {
  .name = "mem",
  .get_size = mem_size,
  .pread = mem_pread,
  .pwrite = mem_pwrite,
  .flush = mem_flush,
  .trim = mem_trim,
  .zero = mem_zero,
  .extents = mem_extents,
  .cache = mem_cache,
  .close = mem_close,
};

/* Write DATA into FD while draining what the server sends back, then read to EOF. */
static void
pump (int fd, const uint8_t *data, size_t size)
{
  char buf[65536];
  size_t done = 0;
  bool wr_open = true;

  for (;;) {
    struct pollfd p = { .fd = fd, .events = POLLIN | (wr_open ? POLLOUT : 0) };
    if (wr_open && done == size) {
      shutdown (fd, SHUT_WR);
      wr_open = false;
      continue;
    }
    if (poll (&p, 1, 5000) <= 0)
      abort (); /* the server hangs */
    if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t r = recv (fd, buf, sizeof buf, MSG_DONTWAIT);
      if (r == 0 || (r == -1 && errno != EAGAIN))
        return; /* the server closed the connection */
    }
    if (wr_open && (p.revents & POLLOUT)) {
      ssize_t r = send (fd, data + done, size - done, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (r > 0)
        done += r;
      else if (r == -1 && errno != EAGAIN)
        wr_open = false; /* the server is gone: read what is left */
    }
  }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static struct mem rw, ro;
  const struct nbds_opts opts = { .workers = 2, .max_requests = 4, .max_payload = 1u << 20 };
  struct nbds_server *srv = nbds_new (&opts);
  int sv[2];

  if (srv == NULL)
    abort ();
  log_set_level (LOG_LEVEL_ERROR);
  pthread_mutex_init (&rw.lock, NULL);
  pthread_mutex_init (&ro.lock, NULL);
  if (nbds_add_export (srv, "a", "fuzz", &mem_backend, &rw, false) == -1 ||
      nbds_add_export (srv, "r", NULL, &mem_backend, &ro, true) == -1 ||
      socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1 ||
      nbds_serve_fd (srv, sv[0], "a") == -1)
    abort ();
  pump (sv[1], data, size);
  close (sv[1]);
  nbds_free (srv);
  return 0;
}
