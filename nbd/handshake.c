/* handshake.c: the server side of fixed-newstyle negotiation.  One function per option;
 * each reads nothing more than the option's payload (already in memory) and answers with
 * option replies, so a malformed option costs an NBD_REP_ERR_* and negotiation goes on.
 * Only OPT_GO and OPT_EXPORT_NAME leave the loop into the transmission phase.  The whole
 * negotiation has one deadline (srv->handshake_timeout_ms, 60 s): every recv and send may
 * block only for the time left, so neither a silent nor a trickling client keeps its thread. */
#include <inttypes.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "nbd/internal.h"

#define REP_ERR_PLATFORM NBDS_REP_ERR (4)

/* One option reply: the 20-byte header and LEN bytes of DATA. */
static int
send_rep (struct conn *c, uint32_t opt, uint32_t type, const void *data, uint32_t len)
{
  uint8_t *buf = malloc (20 + len);
  int r;

  if (buf == NULL)
    return -1;
  be64_put (buf, NBDS_REP_MAGIC);
  be32_put (buf + 8, opt);
  be32_put (buf + 12, type);
  be32_put (buf + 16, len);
  if (len)
    memcpy (buf + 20, data, len);
  r = nbds_send_all (c->fd, buf, 20 + len);
  free (buf);
  return r;
}

static int
send_err (struct conn *c, uint32_t opt, uint32_t type, const char *msg)
{
  log_debug ("nbd", "nbd: option %u refused: %s", opt, msg);
  return send_rep (c, opt, type, msg, strlen (msg));
}

static uint16_t
transmission_flags (struct conn *c, const struct export *exp)
{
  const struct nbds_backend *be = exp->be;
  uint16_t f = NBDS_TF_HAS_FLAGS | NBDS_TF_SEND_FLUSH | NBDS_TF_CAN_MULTI_CONN;

  if (exp->read_only)
    f |= NBDS_TF_READ_ONLY;
  else {
    f |= NBDS_TF_SEND_FUA;
    if (be->trim)
      f |= NBDS_TF_SEND_TRIM;
    if (be->zero)
      f |= NBDS_TF_SEND_WRITE_ZEROES | NBDS_TF_SEND_FAST_ZERO;
  }
  if (be->cache)
    f |= NBDS_TF_SEND_CACHE;
  if (c->structured)
    f |= NBDS_TF_SEND_DF;
  return f;
}

/* The export a client means by NAME ("" is the connection's default export, if any). */
static struct export *
lookup (struct conn *c, const char *name)
{
  if (*name == '\0' && c->default_export)
    name = c->default_export;
  return nbds_export_get (c->srv, name);
}

/* Make EXP the connection's export (keeps the reference). */
static int
enter_transmission (struct conn *c, struct export *exp, const char *name)
{
  int64_t size = exp->be->get_size (exp->h);

  if (size < 0) {
    nbds_export_put (c->srv, exp);
    return -1;
  }
  c->size = size;
  c->tflags = transmission_flags (c, exp);
  if (c->meta_base && (c->meta_export == NULL || strcmp (c->meta_export, name) != 0))
    c->meta_base = false; /* contexts were negotiated for another export */
  /* Under the server lock, so nbds_remove_export either sees this connection using EXP
   * (and disconnects it) or has already marked EXP removed (and we refuse it here). */
  pthread_mutex_lock (&c->srv->lock);
  if (!exp->removed)
    c->exp = exp;
  pthread_mutex_unlock (&c->srv->lock);
  if (c->exp != exp) {
    err_set (ENOENT, "export %s was removed", exp->name);
    nbds_export_put (c->srv, exp);
    return -1;
  }
  log_debug ("nbd", "nbd: fd %d: export %s, size %" PRIi64 ", flags 0x%x%s", c->fd, exp->name, size,
             c->tflags, c->structured ? ", structured" : "");
  return 0;
}

static int
opt_export_name (struct conn *c, const char *name)
{
  struct export *exp = lookup (c, name);
  uint8_t buf[8 + 2 + 124] = { 0 };

  if (exp == NULL || enter_transmission (c, exp, name) == -1) {
    log_info ("nbd: fd %d: EXPORT_NAME '%s': %s", c->fd, name, err_get ());
    return -1;
  }
  be64_put (buf, c->size);
  be16_put (buf + 8, c->tflags);
  return nbds_send_all (c->fd, buf, c->no_zeroes ? 10 : sizeof buf);
}

static int
send_info (struct conn *c, uint32_t opt, uint16_t type, const void *p, size_t len)
{
  uint8_t buf[2 + NBDS_MAX_STRING + 16];

  if (len > sizeof buf - 2)
    len = sizeof buf - 2;
  be16_put (buf, type);
  memcpy (buf + 2, p, len);
  return send_rep (c, opt, NBDS_REP_INFO, buf, 2 + len);
}

/* The replies of a successful INFO/GO: export, requested name/description, block size. */
static int
send_infos (struct conn *c, uint32_t opt, struct export *exp, uint64_t size, uint16_t tflags,
            const uint8_t *reqs, uint16_t nreqs)
{
  uint8_t e[10], bs[12];
  bool name = false, desc = false;

  for (unsigned i = 0; i < nreqs; i++) {
    uint16_t t = be16_get (reqs + 2 * i);
    name |= t == NBDS_INFO_NAME, desc |= t == NBDS_INFO_DESCRIPTION;
  }
  be64_put (e, size);
  be16_put (e + 8, tflags);
  be32_put (bs, 1);
  be32_put (bs + 4, 4096);
  be32_put (bs + 8, c->srv->opts.max_payload);
  if (send_info (c, opt, NBDS_INFO_EXPORT, e, sizeof e) == -1 ||
      (name && send_info (c, opt, NBDS_INFO_NAME, exp->name, strlen (exp->name)) == -1) ||
      (desc && exp->description &&
       send_info (c, opt, NBDS_INFO_DESCRIPTION, exp->description, strlen (exp->description)) ==
           -1) ||
      send_info (c, opt, NBDS_INFO_BLOCK_SIZE, bs, sizeof bs) == -1)
    return -1;
  return send_rep (c, opt, NBDS_REP_ACK, NULL, 0);
}

/* OPT_INFO / OPT_GO.  1: GO succeeded, 0: answered, go on negotiating, -1: drop. */
static int
opt_info_go (struct conn *c, uint32_t opt, const uint8_t *d, uint32_t len)
{
  uint32_t nlen = len >= 4 ? be32_get (d) : 0;
  CLEANUP_FREE char *name = NULL;
  struct export *exp;
  uint16_t nreqs = 0;
  int64_t size;
  int r;

  if (len >= 6 && nlen <= len - 6)
    nreqs = be16_get (d + 4 + nlen);
  if (len < 6 || nlen > len - 6 || nlen > NBDS_MAX_STRING || len != 4 + nlen + 2 + 2u * nreqs ||
      memchr (d + 4, 0, nlen))
    return send_err (c, opt, NBDS_REP_ERR_INVALID, "malformed INFO/GO request");
  name = strndup ((const char *)d + 4, nlen);
  if (name == NULL || (exp = lookup (c, name)) == NULL)
    return send_err (c, opt, NBDS_REP_ERR_UNKNOWN, name ? err_get () : "out of memory");
  size = exp->be->get_size (exp->h);
  if (size < 0) {
    nbds_export_put (c->srv, exp);
    return send_err (c, opt, REP_ERR_PLATFORM, err_get ());
  }
  if (opt == NBDS_OPT_INFO) {
    r = send_infos (c, opt, exp, size, transmission_flags (c, exp), d + 6 + nlen, nreqs);
    nbds_export_put (c->srv, exp);
    return r;
  }
  /* GO: the connection takes the export before the client hears the final ACK. */
  if (enter_transmission (c, exp, name) == -1)
    return send_err (c, opt, NBDS_REP_ERR_UNKNOWN, err_get ());
  return send_infos (c, opt, exp, c->size, c->tflags, d + 6 + nlen, nreqs) == -1 ? -1 : 1;
}

static int
list_one (void *cbdata, const char *name)
{
  struct conn *c = cbdata;
  size_t n = strlen (name);
  uint8_t buf[4 + NBDS_MAX_STRING];

  if (n > NBDS_MAX_STRING)
    return 0;
  be32_put (buf, n);
  memcpy (buf + 4, name, n);
  return send_rep (c, NBDS_OPT_LIST, NBDS_REP_SERVER, buf, 4 + n) == -1 ? -1 : 0;
}

static int
opt_list (struct conn *c, uint32_t len)
{
  if (len != 0)
    return send_err (c, NBDS_OPT_LIST, NBDS_REP_ERR_INVALID, "LIST takes no payload");
  if (nbds_export_list (c->srv, list_one, c) == -1)
    return send_err (c, NBDS_OPT_LIST, REP_ERR_PLATFORM, err_get ());
  return send_rep (c, NBDS_OPT_LIST, NBDS_REP_ACK, NULL, 0);
}

static int
send_meta (struct conn *c, uint32_t opt)
{
  uint8_t buf[4 + sizeof NBDS_META_BASE_ALLOCATION];
  size_t n = strlen (NBDS_META_BASE_ALLOCATION);

  be32_put (buf, opt == NBDS_OPT_SET_META_CONTEXT ? NBDS_META_ID : 0);
  memcpy (buf + 4, NBDS_META_BASE_ALLOCATION, n);
  return send_rep (c, opt, NBDS_REP_META_CONTEXT, buf, 4 + n);
}

/* Does the query Q (length N) select base:allocation?  LIST also takes "base:". */
static bool
meta_match (uint32_t opt, const uint8_t *q, uint32_t n)
{
  size_t blen = strlen (NBDS_META_BASE_ALLOCATION);

  if (n == blen && memcmp (q, NBDS_META_BASE_ALLOCATION, n) == 0)
    return true;
  return opt == NBDS_OPT_LIST_META_CONTEXT && n == 5 && memcmp (q, "base:", 5) == 0;
}

/* OPT_LIST_META_CONTEXT / OPT_SET_META_CONTEXT: only base:allocation exists. */
static int
opt_meta (struct conn *c, uint32_t opt, const uint8_t *d, uint32_t len)
{
  uint32_t nlen = len >= 4 ? be32_get (d) : 0, nq, pos;
  bool found = false;

  if (opt == NBDS_OPT_SET_META_CONTEXT && !c->structured)
    return send_err (c, opt, NBDS_REP_ERR_INVALID, "structured replies not negotiated");
  if (len < 8 || nlen > len - 8 || nlen > NBDS_MAX_STRING)
    return send_err (c, opt, NBDS_REP_ERR_INVALID, "malformed meta context request");
  nq = be32_get (d + 4 + nlen);
  pos = 8 + nlen;
  for (uint32_t i = 0; i < nq; i++) {
    uint32_t qlen = len - pos >= 4 ? be32_get (d + pos) : UINT32_MAX;
    if (qlen > len - pos - 4 || qlen > NBDS_MAX_STRING)
      return send_err (c, opt, NBDS_REP_ERR_INVALID, "malformed meta context query");
    found |= meta_match (opt, d + pos + 4, qlen);
    pos += 4 + qlen;
  }
  if (pos != len)
    return send_err (c, opt, NBDS_REP_ERR_INVALID, "trailing bytes in meta context request");
  if (nq == 0 && opt == NBDS_OPT_LIST_META_CONTEXT)
    found = true;
  if (opt == NBDS_OPT_SET_META_CONTEXT) {
    free (c->meta_export);
    c->meta_export = strndup ((const char *)d + 4, nlen);
    c->meta_base = found && c->meta_export;
  }
  if (found && send_meta (c, opt) == -1)
    return -1;
  return send_rep (c, opt, NBDS_REP_ACK, NULL, 0);
}

/* Handle one option whose payload D (LEN bytes, NUL-terminated) is in memory.
 * 1: enter transmission, 0: go on, -1: drop the connection. */
static int
option (struct conn *c, uint32_t opt, const uint8_t *d, uint32_t len)
{
  log_debug ("nbd", "nbd: fd %d: option %u, %u bytes", c->fd, opt, len);
  switch (opt) {
  case NBDS_OPT_EXPORT_NAME:
    if (memchr (d, 0, len))
      return -1;
    return opt_export_name (c, (const char *)d) == -1 ? -1 : 1;
  case NBDS_OPT_ABORT: send_rep (c, opt, NBDS_REP_ACK, NULL, 0); return -1;
  case NBDS_OPT_LIST: return opt_list (c, len);
  case NBDS_OPT_INFO:
  case NBDS_OPT_GO: return opt_info_go (c, opt, d, len);
  case NBDS_OPT_STRUCTURED_REPLY:
    if (len != 0)
      return send_err (c, opt, NBDS_REP_ERR_INVALID, "STRUCTURED_REPLY takes no payload");
    c->structured = true;
    return send_rep (c, opt, NBDS_REP_ACK, NULL, 0);
  case NBDS_OPT_LIST_META_CONTEXT:
  case NBDS_OPT_SET_META_CONTEXT: return opt_meta (c, opt, d, len);
  default: return send_err (c, opt, NBDS_REP_ERR_UNSUP, "option not supported");
  }
}

/* Bound every socket call of the negotiation by the time left until the deadline: a recv
 * (and the replies sent after it) may block only that long.  -1: no time left. */
static int
set_timeouts (struct conn *c)
{
  uint64_t now = now_ns (), left;
  struct timeval tv;

  if (now >= c->hs_deadline)
    return -1;
  left = (c->hs_deadline - now + 999) / 1000; /* µs, never 0 (0 means no timeout) */
  tv.tv_sec = left / 1000000, tv.tv_usec = left % 1000000;
  setsockopt (c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv); /* best effort */
  setsockopt (c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  return 0;
}

/* Receive LEN bytes of the negotiation: 0 ok, -1 EOF, error or deadline passed. */
static int
hs_recv (struct conn *c, void *buf, size_t len)
{
  char *p = buf;

  while (len > 0) {
    if (set_timeouts (c) == -1) {
      errno = ETIMEDOUT;
      return -1;
    }
    ssize_t r = recv (c->fd, p, len, 0);
    if (r == -1 && (errno == EINTR || errno == EAGAIN))
      continue; /* EAGAIN: SO_RCVTIMEO fired; set_timeouts sees the deadline */
    if (r <= 0)
      return -1;
    p += r, len -= r;
  }
  return 0;
}

/* Read and throw away LEN bytes (an option too big to look at). */
static int
discard (struct conn *c, uint64_t len)
{
  char buf[4096];

  while (len > 0) {
    size_t n = len < sizeof buf ? len : sizeof buf;
    if (hs_recv (c, buf, n) == -1)
      return -1;
    len -= n;
  }
  return 0;
}

static int negotiate (struct conn *c);

int
nbds_handshake (struct conn *c)
{
  struct timeval none = { 0 };
  unsigned ms = c->srv->handshake_timeout_ms;
  int r;

  c->hs_deadline = now_ns () + ms * UINT64_C (1000000);
  r = negotiate (c);
  if (r == -1 && now_ns () >= c->hs_deadline)
    log_info ("nbd: fd %d: negotiation not finished within %u.%03u s: disconnecting", c->fd,
              ms / 1000, ms % 1000);
  setsockopt (c->fd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof none);
  setsockopt (c->fd, SOL_SOCKET, SO_SNDTIMEO, &none, sizeof none);
  return r;
}

static int
negotiate (struct conn *c)
{
  uint8_t g[18], h[16];
  int r;

  be64_put (g, NBDS_MAGIC);
  be64_put (g + 8, NBDS_IHAVEOPT);
  be16_put (g + 16, NBDS_FLAG_FIXED_NEWSTYLE | NBDS_FLAG_NO_ZEROES);
  if (nbds_send_all (c->fd, g, sizeof g) == -1 || hs_recv (c, h, 4) == -1)
    return -1;
  if (be32_get (h) & ~(NBDS_FLAG_FIXED_NEWSTYLE | NBDS_FLAG_NO_ZEROES))
    return -1; /* client flags we do not know: the protocol says disconnect */
  c->no_zeroes = be32_get (h) & NBDS_FLAG_NO_ZEROES;
  for (;;) {
    if (hs_recv (c, h, 16) == -1 || be64_get (h) != NBDS_IHAVEOPT)
      return -1;
    uint32_t opt = be32_get (h + 8), len = be32_get (h + 12);
    if (len > NBDS_MAX_OPTION) {
      if (opt == NBDS_OPT_EXPORT_NAME || len > (1u << 20) || discard (c, len) == -1 ||
          send_err (c, opt, NBDS_REP_ERR_TOO_BIG, "option too long") == -1)
        return -1;
      continue;
    }
    uint8_t *d = malloc (len + 1);
    if (d == NULL || hs_recv (c, d, len) == -1) {
      free (d);
      return -1;
    }
    d[len] = '\0';
    r = option (c, opt, d, len);
    free (d);
    if (r != 0)
      return r == 1 ? 0 : -1;
  }
}
