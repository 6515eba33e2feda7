/* grpc.c: the gRPC server — the C core (grpc_unsecure) on a unix socket, one completion
 * queue, generic calls (grpc_server_request_call) dispatched from the method table.
 *
 * One thread drives the queue.  A call goes NEW (requested) → RECV (its one request
 * message) → a handler on one of a pool of worker threads (a mount may take a while; the
 * queue keeps moving) → SEND (streaming replies, one message in flight) → DONE (status sent, close
 * seen) → freed.  Every tag is the call itself; its stage says what completed.  Unknown
 * methods get UNIMPLEMENTED, bad bytes INVALID_ARGUMENT, a message over the limit
 * RESOURCE_EXHAUSTED (from the core); the status message is the err text. */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <protobuf-c/protobuf-c.h>

#include "snapshotter/internal.h"

#define SNAP_MAX_MESSAGE (4 << 20) /* bytes of a request (gRPC's usual default) */
#define SNAP_WORKERS     8         /* handler threads: a mount may take a while */

struct snap_server {
  struct snap *snap;
  char *path;
  grpc_server *server;
  grpc_completion_queue *cq;
  pthread_t thread;
  bool started;
  atomic_bool stopping;
  bool shut_done;   /* the core's shutdown tag came back */
  atomic_long live; /* calls not freed yet, the requested one included */
  char shutdown_tag;
  /* the handlers' pool: calls with their request, waiting for a worker */
  pthread_mutex_t qlock;
  pthread_cond_t qcond;
  struct call *qhead, *qtail;
  bool qstop;
  pthread_t workers[SNAP_WORKERS];
  size_t n_workers;
};

struct snap_reply {
  grpc_byte_buffer **v;
  size_t n, cap, next;
};

enum stage { ST_NEW, ST_RECV, ST_SEND, ST_DONE };

struct call {
  struct snap_server *srv;
  enum stage stage;
  grpc_call *call;
  grpc_call_details details;
  grpc_metadata_array md;
  grpc_byte_buffer *recv;
  const struct snap_method *method;
  struct snap_reply out;
  grpc_status_code code;
  char *msg;
  bool sent_md;
  int cancelled;
  struct call *next; /* in the handlers' queue */
};

int
snap_reply_add (struct snap_reply *out, const void *msg)
{
  size_t len = protobuf_c_message_get_packed_size (msg);
  uint8_t *buf = malloc (len ? len : 1);
  grpc_slice slice;

  if (out->n == out->cap) {
    size_t cap = out->cap ? out->cap * 2 : 4;
    grpc_byte_buffer **nv = realloc (out->v, cap * sizeof *nv);
    if (!nv) {
      free (buf);
      err_set (ENOMEM, "reply");
      return -1;
    }
    out->v = nv;
    out->cap = cap;
  }
  if (!buf) {
    err_set (ENOMEM, "reply");
    return -1;
  }
  protobuf_c_message_pack (msg, buf);
  slice = grpc_slice_new (buf, len, free);
  out->v[out->n++] = grpc_raw_byte_buffer_create (&slice, 1);
  grpc_slice_unref (slice);
  return 0;
}

static grpc_status_code
status_of (int errnum)
{
  switch (errnum) {
  case ENOENT: return GRPC_STATUS_NOT_FOUND;
  case EEXIST: return GRPC_STATUS_ALREADY_EXISTS;
  case EINVAL: return GRPC_STATUS_INVALID_ARGUMENT;
  case EBUSY:
  case ENOTEMPTY: return GRPC_STATUS_FAILED_PRECONDITION;
  case ENOSYS: return GRPC_STATUS_UNIMPLEMENTED;
  case EMSGSIZE: return GRPC_STATUS_RESOURCE_EXHAUSTED;
  default: return GRPC_STATUS_UNKNOWN;
  }
}

/* The err text without its strerror tail: the status code already says that much. */
static char *
status_message (void)
{
  const char *m = err_get ();
  const char *tail = err_errno () ? strerror (err_errno ()) : "";
  size_t len = strlen (m), tl = strlen (tail);

  if (!*m)
    return strdup ("failed");
  if (tl && len > tl + 2 && strcmp (m + len - tl, tail) == 0 && m[len - tl - 2] == ':')
    len -= tl + 2;
  return strndup (m, len);
}

static void
call_free (struct call *c)
{
  struct snap_server *srv = c->srv;

  if (c->call)
    grpc_call_unref (c->call);
  grpc_call_details_destroy (&c->details);
  grpc_metadata_array_destroy (&c->md);
  if (c->recv)
    grpc_byte_buffer_destroy (c->recv);
  for (size_t i = 0; i < c->out.n; i++)
    grpc_byte_buffer_destroy (c->out.v[i]);
  free (c->out.v);
  free (c->msg);
  free (c);
  atomic_fetch_sub (&srv->live, 1);
}

/* Start a batch of N ops with C as the tag; on failure (a bug, not a peer) free C. */
static void
start (struct call *c, grpc_op *ops, size_t n)
{
  grpc_call_error e = grpc_call_start_batch (c->call, ops, n, c, NULL);

  if (e != GRPC_CALL_OK) {
    log_error ("grpc: start batch: %s", grpc_call_error_to_string (e));
    call_free (c);
  }
}

static size_t
op_initial_md (struct call *c, grpc_op *op)
{
  if (c->sent_md)
    return 0;
  c->sent_md = true;
  memset (op, 0, sizeof *op);
  op->op = GRPC_OP_SEND_INITIAL_METADATA;
  return 1;
}

static size_t
op_message (struct call *c, grpc_op *op)
{
  if (c->out.next >= c->out.n)
    return 0;
  memset (op, 0, sizeof *op);
  op->op = GRPC_OP_SEND_MESSAGE;
  op->data.send_message.send_message = c->out.v[c->out.next++];
  return 1;
}

/* The last batch: status (and the message, and initial metadata, if not sent yet). */
static void
finish (struct call *c, grpc_status_code code, const char *msg, bool with_message)
{
  grpc_slice details = grpc_slice_from_copied_string (msg ? msg : "");
  grpc_op ops[4];
  size_t n = op_initial_md (c, &ops[0]);

  if (with_message)
    n += op_message (c, &ops[n]);
  memset (&ops[n], 0, 2 * sizeof ops[0]);
  ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
  ops[n].data.send_status_from_server.status = code;
  ops[n].data.send_status_from_server.status_details = msg ? &details : NULL;
  ops[n + 1].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
  ops[n + 1].data.recv_close_on_server.cancelled = &c->cancelled;
  c->stage = ST_DONE;
  start (c, ops, n + 2);
  grpc_slice_unref (details);
}

/* Handler done: send its replies (streaming: one at a time) or its error. */
static void
reply (struct call *c)
{
  grpc_op ops[2];
  size_t n;

  if (c->code != GRPC_STATUS_OK)
    finish (c, c->code, c->msg, false);
  else if (c->out.n - c->out.next <= 1)
    finish (c, GRPC_STATUS_OK, NULL, true);
  else {
    n = op_initial_md (c, &ops[0]);
    n += op_message (c, &ops[n]);
    c->stage = ST_SEND;
    start (c, ops, n);
  }
}

static void
handle (struct call *c)
{
  grpc_byte_buffer_reader rd;
  grpc_slice all;
  void *req = NULL;
  uint64_t t0 = now_ns ();

  err_clear ();
  if (!grpc_byte_buffer_reader_init (&rd, c->recv))
    err_set (EINVAL, "the request cannot be decompressed");
  else {
    all = grpc_byte_buffer_reader_readall (&rd);
    grpc_byte_buffer_reader_destroy (&rd);
    req = snap_request_unpack (c->method->request, GRPC_SLICE_START_PTR (all),
                               GRPC_SLICE_LENGTH (all));
    grpc_slice_unref (all);
  }
  if (req && c->method->fn (c->srv->snap, req, &c->out) == 0)
    c->code = GRPC_STATUS_OK;
  else {
    c->code = status_of (err_errno ());
    c->msg = status_message ();
    /* NotFound and AlreadyExists are containerd's ordinary flow (its unpacker, its GC): a
     * line with -v; anything else always, as some clients drop the error (dockerd's View
     * for `docker diff`) */
    if (c->code == GRPC_STATUS_NOT_FOUND || c->code == GRPC_STATUS_ALREADY_EXISTS)
      log_info ("%s failed: %s", c->method->path, c->msg ? c->msg : "?");
    else
      log_warn ("%s failed: %s", c->method->path, c->msg ? c->msg : "?");
  }
  log_debug ("snap", "%s: %s, %.1f ms", c->method->path, c->msg ? c->msg : "ok",
             (double)(now_ns () - t0) / 1e6);
  snap_request_free (req);
  reply (c);
}

/* A worker of the pool: handles queued calls until the pool stops and the queue is empty. */
static void *
worker_thread (void *arg)
{
  struct snap_server *srv = arg;
  struct call *c;

  for (;;) {
    pthread_mutex_lock (&srv->qlock);
    while (!srv->qhead && !srv->qstop)
      pthread_cond_wait (&srv->qcond, &srv->qlock);
    c = srv->qhead;
    if (c && !(srv->qhead = c->next))
      srv->qtail = NULL;
    pthread_mutex_unlock (&srv->qlock);
    if (!c)
      return NULL;
    handle (c);
  }
}

static void
enqueue (struct snap_server *srv, struct call *c)
{
  pthread_mutex_lock (&srv->qlock);
  c->next = NULL;
  if (srv->qtail)
    srv->qtail->next = c;
  else
    srv->qhead = c;
  srv->qtail = c;
  pthread_cond_signal (&srv->qcond);
  pthread_mutex_unlock (&srv->qlock);
}

static int
pool_start (struct snap_server *srv)
{
  for (; srv->n_workers < SNAP_WORKERS; srv->n_workers++)
    if (pthread_create (&srv->workers[srv->n_workers], NULL, worker_thread, srv) != 0) {
      err_set (errno, "handler thread");
      return -1;
    }
  return 0;
}

/* After the queue thread: every call is done, so the workers only wait. */
static void
pool_stop (struct snap_server *srv)
{
  pthread_mutex_lock (&srv->qlock);
  srv->qstop = true;
  pthread_cond_broadcast (&srv->qcond);
  pthread_mutex_unlock (&srv->qlock);
  for (size_t i = 0; i < srv->n_workers; i++)
    pthread_join (srv->workers[i], NULL);
}

static void request_next (struct snap_server *srv);

static const struct snap_method *
find_method (grpc_slice path)
{
  for (size_t i = 0; i < snap_n_methods; i++)
    if (grpc_slice_str_cmp (path, snap_methods[i].path) == 0)
      return &snap_methods[i];
  return NULL;
}

static void
on_new (struct call *c)
{
  grpc_op op;
  char *path;

  request_next (c->srv);
  c->method = find_method (c->details.method);
  if (!c->method) {
    path = grpc_slice_to_c_string (c->details.method);
    CLEANUP_FREE char *msg = xasprintf ("unknown method %.200s", path);
    gpr_free (path);
    finish (c, GRPC_STATUS_UNIMPLEMENTED, msg, false);
    return;
  }
  memset (&op, 0, sizeof op);
  op.op = GRPC_OP_RECV_MESSAGE;
  op.data.recv_message.recv_message = &c->recv;
  c->stage = ST_RECV;
  start (c, &op, 1);
}

static void
on_recv (struct call *c, bool ok)
{
  if (!ok || !c->recv) {
    finish (c, GRPC_STATUS_INVALID_ARGUMENT, "no request message", false);
    return;
  }
  c->code = GRPC_STATUS_UNKNOWN;
  enqueue (c->srv, c);
}

/* A batch of C completed (OK: it succeeded). */
static void
step (struct call *c, bool ok)
{
  grpc_op op;

  switch (c->stage) {
  case ST_NEW:
    if (!ok) /* the server is shutting down */
      call_free (c);
    else
      on_new (c);
    break;
  case ST_RECV: on_recv (c, ok); break;
  case ST_SEND:
    if (!ok)
      call_free (c); /* the client went away */
    else if (c->out.n - c->out.next > 1) {
      op_message (c, &op);
      start (c, &op, 1);
    } else
      finish (c, GRPC_STATUS_OK, NULL, true);
    break;
  case ST_DONE: call_free (c); break;
  }
}

/* Ask the core for the next call. */
static void
request_next (struct snap_server *srv)
{
  struct call *c;
  grpc_call_error e;

  if (atomic_load (&srv->stopping))
    return;
  c = calloc (1, sizeof *c);
  if (!c) {
    log_error ("grpc: out of memory: no more calls accepted");
    return;
  }
  c->srv = srv;
  grpc_call_details_init (&c->details);
  grpc_metadata_array_init (&c->md);
  atomic_fetch_add (&srv->live, 1);
  e = grpc_server_request_call (srv->server, &c->call, &c->details, &c->md, srv->cq, srv->cq, c);
  if (e != GRPC_CALL_OK) {
    log_error ("grpc: request call: %s", grpc_call_error_to_string (e));
    call_free (c);
  }
}

static void *
cq_thread (void *arg)
{
  struct snap_server *srv = arg;
  bool cq_down = false;

  for (;;) {
    gpr_timespec t =
        gpr_time_add (gpr_now (GPR_CLOCK_MONOTONIC), gpr_time_from_millis (200, GPR_TIMESPAN));
    grpc_event ev = grpc_completion_queue_next (srv->cq, t, NULL);
    if (ev.type == GRPC_QUEUE_SHUTDOWN)
      break;
    if (ev.type == GRPC_OP_COMPLETE && ev.tag == &srv->shutdown_tag)
      srv->shut_done = true;
    else if (ev.type == GRPC_OP_COMPLETE)
      step (ev.tag, ev.success);
    if (srv->shut_done && atomic_load (&srv->live) == 0 && !cq_down) {
      grpc_completion_queue_shutdown (srv->cq);
      cq_down = true;
    }
  }
  return NULL;
}

/* Refuse a socket another server answers on; remove a stale one. */
static int
clear_socket (const char *path)
{
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  CLEANUP_CLOSE int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CLEANUP_FREE char *dir = strdup (path);
  char *slash = dir ? strrchr (dir, '/') : NULL;

  if (strlen (path) >= sizeof sa.sun_path) {
    err_set (ENAMETOOLONG, "socket path %s", path);
    return -1;
  }
  if (slash && slash != dir) {
    *slash = '\0';
    if (mkdir_p (dir, 0700) == -1)
      return -1;
  }
  memcpy (sa.sun_path, path, strlen (path) + 1);
  if (fd != -1 && connect (fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
    err_set (EADDRINUSE, "%s: another server is listening on it", path);
    return -1;
  }
  if (unlink (path) == -1 && errno != ENOENT) {
    err_set (errno, "remove %s", path);
    return -1;
  }
  return 0;
}

static int
listen_on (struct snap_server *srv)
{
  grpc_arg args[] = {
    { .type = GRPC_ARG_INTEGER,
      .key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
      .value.integer = SNAP_MAX_MESSAGE },
  };
  grpc_channel_args cargs = { ARRAY_SIZE (args), args };
  CLEANUP_FREE char *addr = xasprintf ("unix:%s", srv->path);
  grpc_server_credentials *creds;
  mode_t old;
  int port;

  if (!addr || clear_socket (srv->path) == -1)
    return -1;
  srv->server = grpc_server_create (&cargs, NULL);
  srv->cq = grpc_completion_queue_create_for_next (NULL);
  grpc_server_register_completion_queue (srv->server, srv->cq, NULL);
  creds = grpc_insecure_server_credentials_create ();
  old = umask (0177); /* the socket is created 0600: root's containerd only */
  port = grpc_server_add_http2_port (srv->server, addr, creds);
  umask (old);
  grpc_server_credentials_release (creds);
  if (!port || chmod (srv->path, 0600) == -1) {
    err_set (port ? errno : EADDRNOTAVAIL, "listen on %s", srv->path);
    return -1;
  }
  grpc_server_start (srv->server);
  srv->started = true;
  return 0;
}

struct snap_server *
snap_server_start (struct snap *s, const char *path)
{
  struct snap_server *srv = calloc (1, sizeof *srv);

  if (!srv || !(srv->path = strdup (path))) {
    free (srv);
    err_set (ENOMEM, "server");
    return NULL;
  }
  srv->snap = s;
  pthread_mutex_init (&srv->qlock, NULL);
  pthread_cond_init (&srv->qcond, NULL);
  grpc_init ();
  if (pool_start (srv) == -1 || listen_on (srv) == -1)
    goto err;
  request_next (srv);
  if (pthread_create (&srv->thread, NULL, cq_thread, srv) != 0) {
    err_set (errno, "server thread");
    goto err;
  }
  return srv;
err:
  snap_server_stop (srv);
  return NULL;
}

void
snap_server_stop (struct snap_server *srv)
{
  if (!srv)
    return;
  atomic_store (&srv->stopping, true);
  if (srv->started) {
    grpc_server_shutdown_and_notify (srv->server, srv->cq, &srv->shutdown_tag);
    grpc_server_cancel_all_calls (srv->server);
    if (srv->thread)
      pthread_join (srv->thread, NULL);
  } else if (srv->cq) {
    grpc_completion_queue_shutdown (srv->cq);
    while (grpc_completion_queue_next (srv->cq, gpr_inf_future (GPR_CLOCK_REALTIME), NULL).type !=
           GRPC_QUEUE_SHUTDOWN)
      ;
  }
  pool_stop (srv);
  if (srv->server)
    grpc_server_destroy (srv->server);
  if (srv->cq)
    grpc_completion_queue_destroy (srv->cq);
  if (srv->started)
    unlink (srv->path);
  grpc_shutdown ();
  pthread_mutex_destroy (&srv->qlock);
  pthread_cond_destroy (&srv->qcond);
  free (srv->path);
  free (srv);
}
