/* test-nbd-serve-fd.c: the server over a socketpair against a memory backend, with our own
 * client handshake (what kernel attach does): handshake, WRITE, READ, FLUSH, an out-of-range
 * READ (EINVAL), a write to a read-only export (EPERM), an unknown export (refused), DISC. */
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>

#include "nbd/internal.h"
#include "tests/unit/check.h"

#define SIZE (1 << 20)

struct mem {
  pthread_mutex_t lock;
  char data[SIZE];
  int flushes, closed;
};

static int64_t
mem_size (void *h)
{
  (void)h;
  return SIZE;
}

static int
mem_pread (void *h, void *buf, uint32_t count, uint64_t offset)
{
  struct mem *m = h;
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
  pthread_mutex_lock (&m->lock);
  memcpy (m->data + offset, buf, count);
  pthread_mutex_unlock (&m->lock);
  return 0;
}

static int
mem_flush (void *h)
{
  struct mem *m = h;
  __atomic_add_fetch (&m->flushes, 1, __ATOMIC_SEQ_CST);
  return 0;
}

static void
mem_close (void *h)
{
  struct mem *m = h;
  __atomic_add_fetch (&m->closed, 1, __ATOMIC_SEQ_CST);
}

static const struct nbds_backend mem_backend = {
  .name = "mem",
  .get_size = mem_size,
  .pread = mem_pread,
  .pwrite = mem_pwrite,
  .flush = mem_flush,
  .close = mem_close,
};

static void
send_req (int fd, uint16_t type, uint64_t cookie, uint64_t off, uint32_t len, const void *p)
{
  uint8_t h[28];
  be32_put (h, NBDS_REQUEST_MAGIC);
  be16_put (h + 4, 0);
  be16_put (h + 6, type);
  be64_put (h + 8, cookie);
  be64_put (h + 16, off);
  be32_put (h + 24, len);
  CHECK (nbds_send_all (fd, h, sizeof h) == 0);
  if (p)
    CHECK (nbds_send_all (fd, p, len) == 0);
}

/* Read a simple reply; return its error, check the cookie. */
static uint32_t
recv_reply (int fd, uint64_t cookie, void *data, uint32_t len)
{
  uint8_t h[16];
  CHECK (nbds_recv_all (fd, h, sizeof h) == 0);
  CHECK (be32_get (h) == NBDS_SIMPLE_MAGIC);
  CHECK (be64_get (h + 8) == cookie);
  if (be32_get (h + 4) == 0 && data)
    CHECK (nbds_recv_all (fd, data, len) == 0);
  return be32_get (h + 4);
}

static void
wait_closed (struct mem *m)
{
  for (int i = 0; i < 500 && __atomic_load_n (&m->closed, __ATOMIC_SEQ_CST) == 0; i++)
    usleep (10000);
  CHECK (__atomic_load_n (&m->closed, __ATOMIC_SEQ_CST) == 1);
}

static int
connect_to (struct nbds_server *srv, const char *name, const char *def, uint64_t *size,
            uint16_t *flags)
{
  int sv[2];
  CHECK (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  CHECK (nbds_serve_fd (srv, sv[0], def) == 0);
  if (nbds_client_handshake (sv[1], name, size, flags) == -1) {
    close (sv[1]);
    return -1;
  }
  return sv[1];
}

int
main (void)
{
  static struct mem rw, ro;
  static char buf[65536], back[65536];
  struct nbds_server *srv = nbds_new (NULL);
  uint64_t size;
  uint16_t flags;
  int fd;

  pthread_mutex_init (&rw.lock, NULL);
  pthread_mutex_init (&ro.lock, NULL);
  CHECK (srv);
  if (!srv)
    return CHECK_RESULT ();
  CHECK (nbds_add_export (srv, "rw", "test", &mem_backend, &rw, false) == 0);
  CHECK (nbds_add_export (srv, "ro", NULL, &mem_backend, &ro, true) == 0);
  CHECK (nbds_add_export (srv, "rw", NULL, &mem_backend, &rw, false) == -1);

  fd = connect_to (srv, "", "rw", &size, &flags);
  CHECK (fd >= 0 && size == SIZE);
  CHECK (flags & NBDS_TF_SEND_FLUSH && !(flags & NBDS_TF_READ_ONLY));
  for (size_t i = 0; i < sizeof buf; i++)
    buf[i] = i * 7 + 3;
  send_req (fd, NBDS_CMD_WRITE, 1, 4096, sizeof buf, buf);
  CHECK (recv_reply (fd, 1, NULL, 0) == 0);
  send_req (fd, NBDS_CMD_READ, 2, 4096, sizeof back, NULL);
  CHECK (recv_reply (fd, 2, back, sizeof back) == 0);
  CHECK (memcmp (buf, back, sizeof buf) == 0 && memcmp (rw.data + 4096, buf, sizeof buf) == 0);
  send_req (fd, NBDS_CMD_FLUSH, 3, 0, 0, NULL);
  CHECK (recv_reply (fd, 3, NULL, 0) == 0 && rw.flushes == 1);
  send_req (fd, NBDS_CMD_READ, 4, SIZE - 512, 1024, NULL);
  CHECK (recv_reply (fd, 4, NULL, 0) == NBDS_EINVAL);
  send_req (fd, NBDS_CMD_BLOCK_STATUS, 5, 0, 512, NULL); /* not negotiated */
  CHECK (recv_reply (fd, 5, NULL, 0) == NBDS_EINVAL);
  send_req (fd, NBDS_CMD_DISC, 6, 0, 0, NULL);
  CHECK (read (fd, buf, 1) == 0); /* the server closed the connection */
  close (fd);

  fd = connect_to (srv, "ro", NULL, &size, &flags);
  CHECK (fd >= 0 && (flags & NBDS_TF_READ_ONLY));
  send_req (fd, NBDS_CMD_WRITE, 7, 0, 512, buf);
  CHECK (recv_reply (fd, 7, NULL, 0) == NBDS_EPERM);
  close (fd);

  CHECK (connect_to (srv, "nope", NULL, &size, &flags) == -1);
  CHECK (strstr (err_get (), "nope") != NULL);

  CHECK (nbds_remove_export (srv, "ro") == 0);
  CHECK (connect_to (srv, "ro", NULL, &size, &flags) == -1);
  wait_closed (&ro); /* once the connection that used it has ended */

  /* Removing an export in use disconnects its clients, then closes the backend. */
  fd = connect_to (srv, "rw", NULL, &size, &flags);
  CHECK (fd >= 0);
  CHECK (nbds_remove_export (srv, "rw") == 0);
  CHECK (read (fd, buf, 1) == 0);
  close (fd);
  wait_closed (&rw);
  nbds_free (srv);
  CHECK (rw.closed == 1 && ro.closed == 1);
  if (!failures)
    printf ("test-nbd-serve-fd: ok\n");
  return CHECK_RESULT ();
}
