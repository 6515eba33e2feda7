/* client.c: the client side of the fixed-newstyle handshake, for handing a connected socket
 * to the kernel (which starts in the transmission phase).  It asks for nothing the kernel
 * cannot speak: no structured replies, no meta contexts — just OPT_GO on a name, collecting
 * the size and transmission flags from NBD_INFO_EXPORT. */
#include <string.h>

#include "nbd/internal.h"

static int
send_go (int fd, const char *name)
{
  size_t n = strlen (name);
  uint8_t *buf;
  int r;

  if (n > NBDS_MAX_STRING) {
    err_set (EINVAL, "export name too long");
    return -1;
  }
  if ((buf = malloc (16 + 4 + n + 2)) == NULL) {
    err_set (ENOMEM, "malloc");
    return -1;
  }
  be64_put (buf, NBDS_IHAVEOPT);
  be32_put (buf + 8, NBDS_OPT_GO);
  be32_put (buf + 12, 4 + n + 2);
  be32_put (buf + 16, n);
  memcpy (buf + 20, name, n);
  be16_put (buf + 20 + n, 0); /* no info requests: EXPORT is always sent */
  r = nbds_send_all (fd, buf, 16 + 4 + n + 2);
  free (buf);
  if (r == -1)
    err_set (errno, "nbd handshake: send");
  return r;
}

/* Read one option reply to GO.  1: ACK, 0: go on, -1: error (err set). */
static int
read_reply (int fd, const char *name, uint64_t *size, uint16_t *flags, bool *got_export)
{
  uint8_t h[20], data[8192];
  uint32_t type, len;

  if (nbds_recv_all (fd, h, sizeof h) == -1) {
    err_set (errno, "nbd handshake: receive");
    return -1;
  }
  type = be32_get (h + 12), len = be32_get (h + 16);
  if (be64_get (h) != NBDS_REP_MAGIC || be32_get (h + 8) != NBDS_OPT_GO || len >= sizeof data) {
    err_set (EPROTO, "nbd handshake: bad option reply");
    return -1;
  }
  if (nbds_recv_all (fd, data, len) == -1) {
    err_set (errno, "nbd handshake: receive");
    return -1;
  }
  data[len] = '\0';
  if (type & 0x80000000u) {
    err_set (type == NBDS_REP_ERR_UNKNOWN ? ENOENT : EPROTO, "nbd export '%s': %s", name,
             len ? (char *)data : "refused");
    return -1;
  }
  if (type == NBDS_REP_INFO && len >= 12 && be16_get (data) == NBDS_INFO_EXPORT) {
    *size = be64_get (data + 2);
    *flags = be16_get (data + 10);
    *got_export = true;
  }
  return type == NBDS_REP_ACK;
}

int
nbds_client_handshake (int fd, const char *name, uint64_t *size, uint16_t *flags)
{
  uint8_t g[18], cf[4];
  bool got_export = false;
  int r;

  if (nbds_recv_all (fd, g, sizeof g) == -1) {
    err_set (errno, "nbd handshake: receive greeting");
    return -1;
  }
  if (be64_get (g) != NBDS_MAGIC || be64_get (g + 8) != NBDS_IHAVEOPT ||
      !(be16_get (g + 16) & NBDS_FLAG_FIXED_NEWSTYLE)) {
    err_set (EPROTO, "nbd handshake: not a fixed-newstyle NBD server");
    return -1;
  }
  be32_put (cf, NBDS_FLAG_FIXED_NEWSTYLE | (be16_get (g + 16) & NBDS_FLAG_NO_ZEROES));
  if (nbds_send_all (fd, cf, sizeof cf) == -1) {
    err_set (errno, "nbd handshake: send");
    return -1;
  }
  if (send_go (fd, name) == -1)
    return -1;
  while ((r = read_reply (fd, name, size, flags, &got_export)) == 0)
    ;
  if (r == -1)
    return -1;
  if (!got_export) {
    err_set (EPROTO, "nbd handshake: no export information");
    return -1;
  }
  return 0;
}
