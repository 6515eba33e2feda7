/* http-stream.c: the two streaming endpoints, without ever holding a whole tar in memory.
 *
 * Upload (ApplyDiff): MHD pushes the body to us in pieces; the handler (ar_apply_tar) pulls.
 * A pipe joins them: MHD's connection thread writes each piece into the pipe (blocking while
 * the handler is behind, which is flow control), a worker thread runs the handler reading
 * from the pipe.  If the handler stops early, it closes its end; further pieces are dropped
 * (EPIPE) and the error is the reply.
 *
 * Download (Diff): a worker runs the handler writing into a pipe; the MHD response callback
 * reads from it.  The first bytes are read before the response is queued, so a handler that
 * fails before writing anything gets a proper non-200 {"Err"} reply; a failure later cuts
 * the chunked stream short, which the client sees as an error. */
#include <fcntl.h>
#include <string.h>

#include "graphdriver/internal.h"

#define GD_PIPE_SIZE (1 << 20)
#define GD_CHUNK     (64 * 1024)

struct gd_stream_in {
  struct gd_daemon *d;
  const struct gd_route *rt;
  int rfd, wfd;
  pthread_t thread;
  bool started, joined, broken;
  char *id, *parent;
  json_t *reply;
  int result;
  char *errmsg;
};

static int
make_pipe (int fds[2])
{
  if (pipe2 (fds, O_CLOEXEC) == -1) {
    err_set (errno, "pipe");
    return -1;
  }
  fcntl (fds[1], F_SETPIPE_SZ, GD_PIPE_SIZE); /* best effort */
  return 0;
}

static ssize_t
pipe_read (void *ctx, void *buf, size_t len)
{
  struct gd_stream_in *s = ctx;

  for (;;) {
    ssize_t n = read (s->rfd, buf, len);
    if (n >= 0)
      return n;
    if (errno != EINTR) {
      err_set (errno, "read request body");
      return -1;
    }
  }
}

static void *
in_worker (void *arg)
{
  struct gd_stream_in *s = arg;
  int r = -1;

  err_clear ();
  if (gd_daemon_enter (s->d) == 0) {
    r = s->rt->tar_in (s->d, s->id, s->parent, pipe_read, s, s->reply);
    gd_daemon_leave (s->d);
  }
  if (r == -1)
    s->errmsg = strdup (err_get ());
  s->result = r;
  close (s->rfd); /* the writer now gets EPIPE and drops the rest */
  s->rfd = -1;
  return NULL;
}

static char *
query_arg (struct MHD_Connection *c, const char *key)
{
  const char *v = MHD_lookup_connection_value (c, MHD_GET_ARGUMENT_KIND, key);

  return strdup (v ? v : "");
}

struct gd_stream_in *
gd_stream_in_start (struct gd_daemon *d, struct MHD_Connection *c, const struct gd_route *rt)
{
  struct gd_stream_in *s = calloc (1, sizeof *s);
  int fds[2];

  if (!s)
    return NULL;
  s->d = d;
  s->rt = rt;
  s->rfd = s->wfd = -1;
  s->id = query_arg (c, "id");
  s->parent = query_arg (c, "parent");
  s->reply = json_object ();
  if (!s->id || !s->parent || !s->reply || make_pipe (fds) == -1) {
    s->errmsg = strdup ("cannot start the upload");
    return s;
  }
  s->rfd = fds[0];
  s->wfd = fds[1];
  if (pthread_create (&s->thread, NULL, in_worker, s) != 0) {
    close (s->rfd);
    s->rfd = -1;
    s->errmsg = strdup ("cannot start the upload thread");
    return s;
  }
  s->started = true;
  return s;
}

void
gd_stream_in_data (struct gd_stream_in *s, const char *data, size_t len)
{
  if (!s || s->broken || s->wfd == -1)
    return;
  if (write_full (s->wfd, data, len) == -1)
    s->broken = true; /* the handler stopped reading; its result says why */
}

static void
in_join (struct gd_stream_in *s)
{
  if (s->wfd != -1) {
    close (s->wfd); /* end of body: the handler reads EOF */
    s->wfd = -1;
  }
  if (s->started && !s->joined) {
    pthread_join (s->thread, NULL);
    s->joined = true;
  }
}

enum MHD_Result
gd_stream_in_finish (struct gd_stream_in *s, struct MHD_Connection *c)
{
  if (!s)
    return gd_http_error (c, 500, "out of memory");
  in_join (s);
  if (!s->started || s->result == -1)
    return gd_http_error (c, 500, s->errmsg ? s->errmsg : "upload failed");
  return gd_http_reply (c, 200, s->reply);
}

void
gd_stream_in_free (struct gd_stream_in *s)
{
  if (!s)
    return;
  in_join (s);
  if (s->rfd != -1)
    close (s->rfd);
  json_decref (s->reply);
  free (s->id);
  free (s->parent);
  free (s->errmsg);
  free (s);
}

/* ---- download ------------------------------------------------------------------------ */

struct gd_stream_out {
  struct gd_daemon *d;
  const struct gd_route *rt;
  json_t *req;
  int rfd, wfd;
  pthread_t thread;
  bool joined;
  int result;
  char *errmsg;
  char first[GD_CHUNK];
  size_t first_len, first_off;
};

static int
pipe_write (void *ctx, const void *buf, size_t len)
{
  struct gd_stream_out *s = ctx;

  if (write_full (s->wfd, buf, len) == -1) {
    err_set (errno, "send diff (client went away?)");
    return -1;
  }
  return 0;
}

static void *
out_worker (void *arg)
{
  struct gd_stream_out *s = arg;
  int r = -1;

  err_clear ();
  if (gd_daemon_enter (s->d) == 0) {
    r = s->rt->tar_out (s->d, s->req, pipe_write, s);
    gd_daemon_leave (s->d);
  }
  if (r == -1) {
    s->errmsg = strdup (err_get ());
    log_warn ("%s: %s", s->rt->path, err_get ());
  }
  s->result = r;
  close (s->wfd); /* the reader sees EOF */
  s->wfd = -1;
  return NULL;
}

static void
out_join (struct gd_stream_out *s)
{
  if (!s->joined) {
    pthread_join (s->thread, NULL);
    s->joined = true;
  }
}

static void
out_free (void *cls)
{
  struct gd_stream_out *s = cls;

  if (s->rfd != -1)
    close (s->rfd); /* a worker still writing gets EPIPE and stops */
  out_join (s);
  json_decref (s->req);
  free (s->errmsg);
  free (s);
}

static ssize_t
out_reader (void *cls, uint64_t pos, char *buf, size_t max)
{
  struct gd_stream_out *s = cls;
  ssize_t n;

  (void)pos;
  if (s->first_off < s->first_len) {
    n = (ssize_t)MIN (max, s->first_len - s->first_off);
    memcpy (buf, s->first + s->first_off, (size_t)n);
    s->first_off += (size_t)n;
    return n;
  }
  do
    n = read (s->rfd, buf, max);
  while (n == -1 && errno == EINTR);
  if (n > 0)
    return n;
  out_join (s);
  return n == 0 && s->result == 0 ? MHD_CONTENT_READER_END_OF_STREAM
                                  : MHD_CONTENT_READER_END_WITH_ERROR;
}

/* Wait for the first bytes (or the end) of the handler's output. */
static ssize_t
read_first (struct gd_stream_out *s)
{
  ssize_t n;

  do
    n = read (s->rfd, s->first, sizeof s->first);
  while (n == -1 && errno == EINTR);
  if (n > 0)
    s->first_len = (size_t)n;
  return n;
}

enum MHD_Result
gd_stream_out (struct gd_daemon *d, struct MHD_Connection *c, const struct gd_route *rt,
               const json_t *req)
{
  struct gd_stream_out *s = calloc (1, sizeof *s);
  struct MHD_Response *resp;
  enum MHD_Result ret;
  int fds[2];

  if (!s || make_pipe (fds) == -1) {
    free (s);
    return gd_http_error (c, 500, "cannot start the download");
  }
  s->d = d;
  s->rt = rt;
  s->req = json_incref ((json_t *)req);
  s->rfd = fds[0];
  s->wfd = fds[1];
  if (pthread_create (&s->thread, NULL, out_worker, s) != 0) {
    close (s->wfd);
    s->joined = true;
    out_free (s);
    return gd_http_error (c, 500, "cannot start the download thread");
  }
  if (read_first (s) <= 0) {
    out_join (s);
    if (s->result == -1 || s->first_len == 0) {
      ret = gd_http_error (c, 500, s->errmsg ? s->errmsg : "diff produced no data");
      out_free (s);
      return ret;
    }
  }
  resp = MHD_create_response_from_callback (MHD_SIZE_UNKNOWN, GD_CHUNK, out_reader, s, out_free);
  if (!resp) {
    out_free (s);
    return MHD_NO;
  }
  MHD_add_response_header (resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/x-tar");
  ret = MHD_queue_response (c, 200, resp);
  MHD_destroy_response (resp);
  return ret;
}
