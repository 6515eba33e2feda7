/* reply.c: socket I/O and the reply formats of the transmission phase.  Every reply goes
 * out as one sendmsg of header + payload under the connection's send lock, so workers can
 * answer in any order without interleaving bytes.  MSG_NOSIGNAL: a client that went away
 * is an error on that connection, never a SIGPIPE for the whole process. */
#include <string.h>
#include <sys/socket.h>

#include "nbd/internal.h"

static int
sendv_all (int fd, struct iovec *iov, int n, int flags)
{
  while (n > 0) {
    struct msghdr msg = { .msg_iov = iov, .msg_iovlen = n };
    ssize_t r = sendmsg (fd, &msg, MSG_NOSIGNAL | flags);
    if (r == -1 && errno == EINTR)
      continue;
    if (r == -1)
      return -1;
    while (n > 0 && (size_t)r >= iov->iov_len) {
      r -= iov->iov_len;
      iov++, n--;
    }
    if (n > 0) {
      iov->iov_base = (char *)iov->iov_base + r;
      iov->iov_len -= r;
    }
  }
  return 0;
}

int
nbds_send_flags (int fd, const void *buf, size_t len, int flags)
{
  struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };

  return sendv_all (fd, &iov, 1, flags);
}

int
nbds_send_all (int fd, const void *buf, size_t len)
{
  return nbds_send_flags (fd, buf, len, 0);
}

int
nbds_recv_all (int fd, void *buf, size_t len)
{
  size_t done = 0;

  while (done < len) {
    ssize_t r = recv (fd, (char *)buf + done, len - done, 0);
    if (r == -1 && errno == EINTR)
      continue;
    if (r <= 0) {
      if (r == 0)
        errno = ECONNRESET;
      return -1;
    }
    done += r;
  }
  return 0;
}

/* Send under the send lock; a failed send marks the connection dead and wakes its reader. */
static int
conn_sendv (struct conn *c, struct iovec *iov, int n)
{
  int r;

  pthread_mutex_lock (&c->send_lock);
  r = c->dead ? -1 : sendv_all (c->fd, iov, n, 0);
  if (r == -1 && !c->dead) {
    c->dead = true;
    shutdown (c->fd, SHUT_RDWR);
  }
  pthread_mutex_unlock (&c->send_lock);
  return r;
}

int
nbds_reply_simple (struct conn *c, uint64_t cookie, uint32_t error, const void *data, uint32_t len)
{
  uint8_t h[16];
  struct iovec iov[2] = { { h, sizeof h }, { (void *)data, len } };

  be32_put (h, NBDS_SIMPLE_MAGIC);
  be32_put (h + 4, error);
  be64_put (h + 8, cookie);
  return conn_sendv (c, iov, data && len ? 2 : 1);
}

/* One structured chunk with the DONE flag: fixed PAYLOAD then DATA. */
int
nbds_reply_chunk (struct conn *c, uint64_t cookie, uint16_t type, const void *payload, uint32_t len,
                  const void *data, uint32_t dlen)
{
  uint8_t h[20];
  struct iovec iov[3] = { { h, sizeof h }, { (void *)payload, len }, { (void *)data, dlen } };

  be32_put (h, NBDS_STRUCTURED_MAGIC);
  be16_put (h + 4, NBDS_REPLY_FLAG_DONE);
  be16_put (h + 6, type);
  be64_put (h + 8, cookie);
  be32_put (h + 16, len + dlen);
  return conn_sendv (c, iov, dlen ? 3 : len ? 2 : 1);
}

/* An error: an ERROR chunk with a message once structured replies are on, else simple. */
int
nbds_reply_error (struct conn *c, uint64_t cookie, int nbd_err, const char *msg)
{
  uint8_t p[6];
  size_t mlen = msg ? strlen (msg) : 0;

  if (!c->structured)
    return nbds_reply_simple (c, cookie, nbd_err, NULL, 0);
  if (mlen > 1024)
    mlen = 1024;
  be32_put (p, nbd_err);
  be16_put (p + 4, mlen);
  return nbds_reply_chunk (c, cookie, NBDS_REPLY_TYPE_ERROR, p, sizeof p, msg, mlen);
}

/* A successful read: simple reply + data, or one OFFSET_DATA / OFFSET_HOLE chunk (a single
 * chunk, so DF is always honoured). */
int
nbds_reply_read (struct conn *c, uint64_t cookie, uint64_t offset, const void *data, uint32_t len,
                 bool hole)
{
  uint8_t p[12];

  if (!c->structured)
    return nbds_reply_simple (c, cookie, 0, data, len);
  be64_put (p, offset);
  if (hole) {
    be32_put (p + 8, len);
    return nbds_reply_chunk (c, cookie, NBDS_REPLY_TYPE_OFFSET_HOLE, p, 12, NULL, 0);
  }
  return nbds_reply_chunk (c, cookie, NBDS_REPLY_TYPE_OFFSET_DATA, p, 8, data, len);
}
