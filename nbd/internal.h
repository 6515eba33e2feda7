/* internal.h: what the files of the NBD server share — protocol constants (from the NBD
 * protocol document, doc/proto.md), the server, export and connection structures, and the
 * prototypes of each file, grouped under a comment naming the file. */
#ifndef BUSE_NBD_INTERNAL_H
#define BUSE_NBD_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "common/common.h"
#include "nbd/nbds.h"

/* ---- protocol ------------------------------------------------------------------------- */
#define NBDS_MAGIC            UINT64_C (0x4e42444d41474943) /* "NBDMAGIC" */
#define NBDS_IHAVEOPT         UINT64_C (0x49484156454f5054) /* "IHAVEOPT" */
#define NBDS_REP_MAGIC        UINT64_C (0x3e889045565a9)
#define NBDS_REQUEST_MAGIC    0x25609513u
#define NBDS_SIMPLE_MAGIC     0x67446698u
#define NBDS_STRUCTURED_MAGIC 0x668e33efu

#define NBDS_FLAG_FIXED_NEWSTYLE 1u
#define NBDS_FLAG_NO_ZEROES      2u

enum {
  NBDS_OPT_EXPORT_NAME = 1,
  NBDS_OPT_ABORT = 2,
  NBDS_OPT_LIST = 3,
  NBDS_OPT_STARTTLS = 5,
  NBDS_OPT_INFO = 6,
  NBDS_OPT_GO = 7,
  NBDS_OPT_STRUCTURED_REPLY = 8,
  NBDS_OPT_LIST_META_CONTEXT = 9,
  NBDS_OPT_SET_META_CONTEXT = 10,
};

#define NBDS_REP_ACK          1u
#define NBDS_REP_SERVER       2u
#define NBDS_REP_INFO         3u
#define NBDS_REP_META_CONTEXT 4u
#define NBDS_REP_ERR(n)       (0x80000000u | (n))
#define NBDS_REP_ERR_UNSUP    NBDS_REP_ERR (1)
#define NBDS_REP_ERR_POLICY   NBDS_REP_ERR (2)
#define NBDS_REP_ERR_INVALID  NBDS_REP_ERR (3)
#define NBDS_REP_ERR_UNKNOWN  NBDS_REP_ERR (6)
#define NBDS_REP_ERR_TOO_BIG  NBDS_REP_ERR (9)

#define NBDS_INFO_EXPORT      0
#define NBDS_INFO_NAME        1
#define NBDS_INFO_DESCRIPTION 2
#define NBDS_INFO_BLOCK_SIZE  3

/* transmission flags */
#define NBDS_TF_HAS_FLAGS         (1u << 0)
#define NBDS_TF_READ_ONLY         (1u << 1)
#define NBDS_TF_SEND_FLUSH        (1u << 2)
#define NBDS_TF_SEND_FUA          (1u << 3)
#define NBDS_TF_SEND_TRIM         (1u << 5)
#define NBDS_TF_SEND_WRITE_ZEROES (1u << 6)
#define NBDS_TF_SEND_DF           (1u << 7)
#define NBDS_TF_CAN_MULTI_CONN    (1u << 8)
#define NBDS_TF_SEND_CACHE        (1u << 10)
#define NBDS_TF_SEND_FAST_ZERO    (1u << 11)

enum {
  NBDS_CMD_READ = 0,
  NBDS_CMD_WRITE = 1,
  NBDS_CMD_DISC = 2,
  NBDS_CMD_FLUSH = 3,
  NBDS_CMD_TRIM = 4,
  NBDS_CMD_CACHE = 5,
  NBDS_CMD_WRITE_ZEROES = 6,
  NBDS_CMD_BLOCK_STATUS = 7,
};
#define NBDS_CMD_FLAG_FUA       (1u << 0)
#define NBDS_CMD_FLAG_NO_HOLE   (1u << 1)
#define NBDS_CMD_FLAG_DF        (1u << 2)
#define NBDS_CMD_FLAG_REQ_ONE   (1u << 3)
#define NBDS_CMD_FLAG_FAST_ZERO (1u << 4)

#define NBDS_REPLY_FLAG_DONE         1u
#define NBDS_REPLY_TYPE_NONE         0
#define NBDS_REPLY_TYPE_OFFSET_DATA  1
#define NBDS_REPLY_TYPE_OFFSET_HOLE  2
#define NBDS_REPLY_TYPE_BLOCK_STATUS 5
#define NBDS_REPLY_TYPE_ERROR        ((1u << 15) + 1)

/* NBD error values */
#define NBDS_EPERM     1
#define NBDS_EIO       5
#define NBDS_ENOMEM    12
#define NBDS_EINVAL    22
#define NBDS_ENOSPC    28
#define NBDS_EOVERFLOW 75
#define NBDS_ENOTSUP   95
#define NBDS_ESHUTDOWN 108

#define NBDS_META_BASE_ALLOCATION "base:allocation"
#define NBDS_META_ID              1u          /* the context id we hand out for base:allocation */
#define NBDS_MAX_STRING           4096        /* longest name or query string we accept */
#define NBDS_MAX_OPTION           65536       /* longest option payload we read */
#define NBDS_DISCARD_LIMIT        (64u << 20) /* oversize writes up to this are skipped */

/* ---- structures ----------------------------------------------------------------------- */

/* An export: either added with nbds_add_export (lives until removed) or opened on demand
 * through the resolver (dynamic: lives while a connection uses it).  All connections to one
 * name share this one backend handle, which is what makes CAN_MULTI_CONN true. */
struct export
{
  struct export *next;
  char *name, *description;
  const struct nbds_backend *be;
  void *h;
  bool read_only, dynamic, removed;
  unsigned refs; /* connections (and OPT_INFO lookups) using it */
};

struct conn;

struct listener {
  struct listener *next;
  int fd;
  char *unix_path; /* unlinked at free */
  pthread_t thread;
  struct nbds_server *srv;
};

struct nbds_server {
  struct nbds_opts opts;
  pthread_mutex_t lock; /* exports, conns, listeners, nconns */
  pthread_cond_t conns_done;
  struct export *exports;
  struct conn *conns;
  unsigned nconns;
  struct listener *listeners;
  struct nbds_resolver resolver;
  bool have_resolver, shutting_down;
  int stop_pipe[2];              /* nbds_stop writes one byte; readable = stopped */
  unsigned handshake_timeout_ms; /* a client must finish negotiating within this */
};

/* One client connection.  The reader thread does the handshake and then reads requests;
 * workers run them and send the replies (under send_lock, in any order). */
#define NBDS_POOL_MAX 32 /* idle buffers a connection keeps (conn.c) */

struct conn {
  struct conn *next; /* in srv->conns */
  struct nbds_server *srv;
  int fd;
  char *default_export;
  struct export *exp;
  uint64_t size;
  uint16_t tflags; /* transmission flags sent to the client */
  bool structured, meta_base, no_zeroes;
  char *meta_export; /* export name base:allocation was set for */
  pthread_mutex_t send_lock;
  bool dead;            /* a send failed: stop reading */
  uint64_t hs_deadline; /* now_ns () value by which negotiation must be over */

  pthread_mutex_t q_lock;
  pthread_cond_t q_work, q_space;
  struct request *q_head, *q_tail;
  unsigned inflight; /* read and not yet answered */
  unsigned queued;   /* in q_head..q_tail */
  unsigned idle;     /* workers waiting on q_work */
  unsigned waking;   /* signalled, not yet running */
  uint64_t held;     /* WRITE payload bytes in memory (in flight) */
  bool reader_waits; /* the reader sleeps on q_space */
  bool closing;
  pthread_t *workers;
  unsigned nworkers;

  /* the reader's buffer: requests arrive back to back, so one recv gets many headers */
  char *rbuf;
  size_t rpos, rlen;
  bool big_writes; /* the last request was a big WRITE: refill with its header only */

  /* splice.c: the pipe READ replies pass through (-1: none yet), used under send_lock */
  int pipe[2];
  uint32_t pipe_size;
  bool splice_ok; /* a unix socket */

  /* freed READ/WRITE buffers kept for the next requests (see nbds_buf_get) */
  pthread_mutex_t pool_lock;
  void *pool[NBDS_POOL_MAX];
  unsigned npool;
  size_t pool_bytes;
};

struct request {
  struct request *next;
  uint16_t flags, type;
  uint64_t cookie, offset;
  uint32_t count;
  uint32_t error; /* an NBD error found while reading it (the reply is just that error) */
  uint32_t held;  /* payload bytes counted in conn->held */
  void *buf;      /* WRITE payload */
};

/* ---- prototypes ----------------------------------------------------------------------- */

/* server.c */
struct export *nbds_export_get (struct nbds_server *srv, const char *name);
void nbds_export_put (struct nbds_server *srv, struct export *exp);
int nbds_export_list (struct nbds_server *srv, int (*fn) (void *cbdata, const char *name),
                      void *cbdata);
bool nbds_stopped (struct nbds_server *srv);

/* listen.c */
int nbds_conn_start (struct nbds_server *srv, int fd, const char *default_export);

/* conn.c */
void *nbds_conn_run (void *arg);
/* Wait until one more request (holding BYTES of payload) fits the connection's limits. */
void nbds_conn_wait_room (struct conn *c, uint32_t bytes);
/* A buffer of SIZE bytes for a request's data (NULL + errno); release it (or NULL) only
 * with nbds_buf_put, never free. */
void *nbds_buf_get (struct conn *c, size_t size);
void nbds_buf_put (struct conn *c, void *buf);

/* handshake.c: 0 = transmission phase entered, -1 = close the connection */
int nbds_handshake (struct conn *c);

/* request.c */
/* Read one request (and a WRITE's payload).  1 = got one, 0 = end of connection. */
int nbds_request_read (struct conn *c, struct request **out);
void nbds_request_run (struct conn *c, struct request *r);
bool nbds_request_try_inline (struct conn *c, struct request *r);
void nbds_request_free (struct conn *c, struct request *r);
int nbds_errno_to_nbd (int err);

/* extents.c: 0 replied, 1 connection gone, -1 errno set */
int nbds_block_status (struct conn *c, struct request *r);

/* reply.c */
int nbds_send_all (int fd, const void *buf, size_t len);
int nbds_send_flags (int fd, const void *buf, size_t len, int flags); /* MSG_NOSIGNAL too */
int nbds_recv_all (int fd, void *buf, size_t len);                    /* 0 ok, -1 error or EOF */
int nbds_reply_simple (struct conn *c, uint64_t cookie, uint32_t error, const void *data,
                       uint32_t len);
int nbds_reply_error (struct conn *c, uint64_t cookie, int nbd_err, const char *msg);
int nbds_reply_read (struct conn *c, uint64_t cookie, uint64_t offset, const void *data,
                     uint32_t len, bool hole);
int nbds_reply_chunk (struct conn *c, uint64_t cookie, uint16_t type, const void *payload,
                      uint32_t len, const void *data, uint32_t dlen);

/* splice.c: zero-copy READ replies (simple replies, a backend with read_runs).  0 replied,
 * 1 connection gone (or shut down after a read failed half way), 2 not done (nothing sent:
 * do it the usual way). */
int nbds_splice_read (struct conn *c, const struct request *r);
void nbds_splice_init (struct conn *c); /* at the start */
void nbds_splice_close (struct conn *c);

/* big-endian helpers */
static inline void
be16_put (uint8_t *p, uint16_t v)
{
  p[0] = v >> 8, p[1] = v;
}
static inline void
be32_put (uint8_t *p, uint32_t v)
{
  p[0] = v >> 24, p[1] = v >> 16, p[2] = v >> 8, p[3] = v;
}
static inline void
be64_put (uint8_t *p, uint64_t v)
{
  be32_put (p, v >> 32), be32_put (p + 4, (uint32_t)v);
}
static inline uint16_t
be16_get (const uint8_t *p)
{
  return (uint16_t)(p[0] << 8 | p[1]);
}
static inline uint32_t
be32_get (const uint8_t *p)
{
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t
be64_get (const uint8_t *p)
{
  return (uint64_t)be32_get (p) << 32 | be32_get (p + 4);
}

#endif
