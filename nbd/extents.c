/* extents.c: NBD_CMD_BLOCK_STATUS for the base:allocation context.  The backend reports
 * extents through a callback; they are clipped to the request, merged when their flags are
 * equal, capped (one descriptor with REQ_ONE, a bounded number otherwise: the protocol lets
 * a reply cover less than asked) and sent as one BLOCK_STATUS chunk. */
#include <string.h>

#include "nbd/internal.h"

#define MAX_DESCRIPTORS 16384

struct collect {
  uint64_t pos, end;
  uint8_t *d; /* context id, then (length, flags) pairs, big-endian */
  uint32_t n, max;
};

static void
append (struct collect *s, uint64_t len, uint32_t flags)
{
  uint8_t *last = s->n > 0 ? s->d + 4 + 8 * (s->n - 1) : NULL;

  if (last && be32_get (last + 4) == flags && be32_get (last) + len <= UINT32_MAX) {
    be32_put (last, be32_get (last) + len);
  } else if (s->n < s->max) {
    be32_put (s->d + 4 + 8 * s->n, len);
    be32_put (s->d + 8 + 8 * s->n, flags);
    s->n++;
  } else {
    return; /* full: the reply covers less than asked, which is allowed */
  }
  s->pos += len;
}

/* nbds_extent_fn: clip to [pos, end); a gap the backend skipped counts as data. */
static int
collect_one (void *cbdata, uint64_t offset, uint64_t length, uint32_t flags)
{
  struct collect *s = cbdata;
  uint64_t end = offset + length < offset ? UINT64_MAX : offset + length;
  uint32_t before = s->n;
  uint64_t pos = s->pos;

  if (end <= s->pos)
    return 0;
  if (offset > s->pos)
    append (s, MIN (offset, s->end) - s->pos, 0);
  if (s->pos < s->end && s->pos >= offset)
    append (s, MIN (end, s->end) - s->pos, flags & (NBDS_EXTENT_HOLE | NBDS_EXTENT_ZERO));
  if (s->pos >= s->end || (s->n == s->max && s->n > before) || pos == s->pos)
    return 1;
  return 0;
}

/* 0 replied, 1 connection gone, -1 errno set. */
int
nbds_block_status (struct conn *c, struct request *r)
{
  const struct export *e = c->exp;
  struct collect s = { .pos = r->offset, .end = r->offset + r->count };
  int ret;

  s.max = (r->flags & NBDS_CMD_FLAG_REQ_ONE) ? 1 : MAX_DESCRIPTORS;
  s.d = malloc (4 + 8 * (size_t)s.max);
  if (s.d == NULL) {
    errno = ENOMEM;
    return -1;
  }
  be32_put (s.d, NBDS_META_ID);
  if (e->be->extents) {
    if (e->be->extents (e->h, r->count, r->offset, collect_one, &s) == -1) {
      int saved = errno;
      free (s.d);
      errno = saved;
      return -1;
    }
  }
  if (s.n == 0) /* nothing reported: all data */
    append (&s, r->count, 0);
  ret = nbds_reply_chunk (c, r->cookie, NBDS_REPLY_TYPE_BLOCK_STATUS, s.d, 4 + 8 * s.n, NULL, 0);
  free (s.d);
  return ret == -1 ? 1 : 0;
}
