/* http.c: the graphdriver plugin API over HTTP on a unix socket (libmicrohttpd).
 *
 * dockerd POSTs JSON to /GraphDriver.<Method> and expects JSON back, {"Err": "..."} with a
 * non-200 status on failure.  Routing is a table {path, body kind, handler}.  MHD runs one
 * thread per connection, so a handler may block (mounting, a long ApplyDiff or Diff stream)
 * without holding up other calls.  The two streaming endpoints never hold a whole tar in
 * memory: ApplyDiff's upload is written into a pipe read by a worker thread that runs the
 * handler (stream.c-style pull), and Diff's worker writes into a pipe that the response
 * callback drains.  JSON bodies are capped at GD_JSON_MAX. */
#include <fcntl.h>
#include <microhttpd.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "graphdriver/internal.h"

#define GD_JSON_MAX (1 << 20)
#define GD_CT       "application/vnd.docker.plugins.v1.2+json"

static const struct gd_route routes[] = {
  { "/Plugin.Activate", GD_BODY_JSON, false, gd_api_activate, NULL, NULL },
  { "/GraphDriver.Init", GD_BODY_JSON, false, gd_api_init, NULL, NULL },
  { "/GraphDriver.Capabilities", GD_BODY_JSON, false, gd_api_capabilities, NULL, NULL },
  { "/GraphDriver.Create", GD_BODY_JSON, true, gd_api_create, NULL, NULL },
  { "/GraphDriver.CreateReadWrite", GD_BODY_JSON, true, gd_api_create_rw, NULL, NULL },
  { "/GraphDriver.Remove", GD_BODY_JSON, true, gd_api_remove, NULL, NULL },
  { "/GraphDriver.Get", GD_BODY_JSON, true, gd_api_get, NULL, NULL },
  { "/GraphDriver.Put", GD_BODY_JSON, true, gd_api_put, NULL, NULL },
  { "/GraphDriver.Exists", GD_BODY_JSON, true, gd_api_exists, NULL, NULL },
  { "/GraphDriver.Status", GD_BODY_JSON, true, gd_api_status, NULL, NULL },
  { "/GraphDriver.GetMetadata", GD_BODY_JSON, true, gd_api_metadata, NULL, NULL },
  { "/GraphDriver.Cleanup", GD_BODY_JSON, true, gd_api_cleanup, NULL, NULL },
  { "/GraphDriver.Changes", GD_BODY_JSON, true, gd_api_changes, NULL, NULL },
  { "/GraphDriver.DiffSize", GD_BODY_JSON, true, gd_api_diff_size, NULL, NULL },
  { "/GraphDriver.Diff", GD_BODY_TAR_OUT, true, NULL, NULL, gd_api_diff },
  { "/GraphDriver.ApplyDiff", GD_BODY_TAR_IN, true, NULL, gd_api_apply_diff, NULL },
  { "/VolumeDriver.Create", GD_BODY_JSON, false, gd_vol_create, NULL, NULL },
  { "/VolumeDriver.Remove", GD_BODY_JSON, false, gd_vol_remove, NULL, NULL },
  { "/VolumeDriver.Mount", GD_BODY_JSON, false, gd_vol_mount, NULL, NULL },
  { "/VolumeDriver.Unmount", GD_BODY_JSON, false, gd_vol_unmount, NULL, NULL },
  { "/VolumeDriver.Path", GD_BODY_JSON, false, gd_vol_path, NULL, NULL },
  { "/VolumeDriver.Get", GD_BODY_JSON, false, gd_vol_get, NULL, NULL },
  { "/VolumeDriver.List", GD_BODY_JSON, false, gd_vol_list, NULL, NULL },
  { "/VolumeDriver.Capabilities", GD_BODY_JSON, false, gd_vol_capabilities, NULL, NULL },
};

struct gd_http {
  struct MHD_Daemon *mhd;
  struct gd_daemon *d;
  char *path;
};

const struct gd_route *
gd_route_find (const char *url)
{
  for (size_t i = 0; i < ARRAY_SIZE (routes); i++)
    if (strcmp (routes[i].path, url) == 0)
      return &routes[i];
  return NULL;
}

enum MHD_Result
gd_http_reply (struct MHD_Connection *c, unsigned status, json_t *reply)
{
  char *text = json_dumps (reply, JSON_COMPACT);
  struct MHD_Response *resp;
  enum MHD_Result r;

  if (!text)
    text = strdup ("{\"Err\":\"out of memory\"}");
  if (!text)
    return MHD_NO;
  resp = MHD_create_response_from_buffer (strlen (text), text, MHD_RESPMEM_MUST_FREE);
  if (!resp) {
    free (text);
    return MHD_NO;
  }
  MHD_add_response_header (resp, MHD_HTTP_HEADER_CONTENT_TYPE, GD_CT);
  r = MHD_queue_response (c, status, resp);
  MHD_destroy_response (resp);
  return r;
}

enum MHD_Result
gd_http_error (struct MHD_Connection *c, unsigned status, const char *msg)
{
  CLEANUP_JSON_DECREF json_t *reply = json_pack ("{s:s}", "Err", msg && *msg ? msg : "error");

  return gd_http_reply (c, status, reply);
}

/* Run a JSON handler under the daemon lock (shared), turning err_get() into {"Err"}. */
static enum MHD_Result
run_json (struct gd_http *h, struct MHD_Connection *c, const struct gd_route *rt, const json_t *req)
{
  CLEANUP_JSON_DECREF json_t *reply = json_object ();
  int r;

  err_clear ();
  if (rt->needs_init && gd_daemon_enter (h->d) == -1)
    return gd_http_error (c, 500, err_get ());
  r = rt->json (h->d, req, reply);
  if (rt->needs_init)
    gd_daemon_leave (h->d);
  if (r == -1) {
    log_debug ("gd", "%s: %s", rt->path, err_get ());
    return gd_http_error (c, 500, err_get ());
  }
  log_debug ("gd", "%s: ok", rt->path);
  return gd_http_reply (c, 200, reply);
}

/* The body of a JSON call is complete: parse it ("" is {}) and dispatch. */
static enum MHD_Result
finish_json (struct gd_http *h, struct MHD_Connection *c, struct gd_request *r)
{
  CLEANUP_JSON_DECREF json_t *req = NULL;
  json_error_t jerr;

  if (r->too_big)
    return gd_http_error (c, 413, "request body too large");
  if (r->len == 0)
    req = json_object ();
  else
    req = json_loadb (r->buf, r->len, 0, &jerr);
  if (!req || !json_is_object (req)) {
    CLEANUP_FREE char *msg = xasprintf ("%s: malformed JSON request: %s", r->route->path,
                                        req ? "not an object" : jerr.text);
    return gd_http_error (c, 400, msg);
  }
  if (r->route->kind == GD_BODY_TAR_OUT)
    return gd_stream_out (h->d, c, r->route, req);
  return run_json (h, c, r->route, req);
}

static int
append_body (struct gd_request *r, const char *data, size_t len)
{
  if (r->too_big || r->len + len > GD_JSON_MAX) {
    r->too_big = true;
    return 0;
  }
  if (r->len + len > r->cap) {
    size_t cap = MAX (r->cap * 2, r->len + len + 256);
    char *b = realloc (r->buf, cap);
    if (!b)
      return -1;
    r->buf = b;
    r->cap = cap;
  }
  memcpy (r->buf + r->len, data, len);
  r->len += len;
  return 0;
}

static struct gd_request *
request_new (struct gd_http *h, struct MHD_Connection *c, const char *url, const char *method)
{
  struct gd_request *r = calloc (1, sizeof *r);

  if (!r)
    return NULL;
  r->route = gd_route_find (url);
  r->bad_method = strcmp (method, MHD_HTTP_METHOD_POST) != 0;
  if (r->route && !r->bad_method && r->route->kind == GD_BODY_TAR_IN)
    r->in = gd_stream_in_start (h->d, c, r->route);
  return r;
}

static enum MHD_Result
on_request (void *cls, struct MHD_Connection *c, const char *url, const char *method,
            const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
  struct gd_http *h = cls;
  struct gd_request *r = *con_cls;

  (void)version;
  if (!r) {
    log_debug ("gd", "%s %s", method, url);
    r = *con_cls = request_new (h, c, url, method);
    return r ? MHD_YES : MHD_NO;
  }
  if (*upload_size) {
    /* Bodies of unknown paths and wrong methods are read and dropped. */
    if (r->route && !r->bad_method) {
      if (r->route->kind == GD_BODY_TAR_IN)
        gd_stream_in_data (r->in, upload, *upload_size);
      else if (append_body (r, upload, *upload_size) == -1)
        return MHD_NO;
    }
    *upload_size = 0;
    return MHD_YES;
  }
  if (!r->route) {
    CLEANUP_FREE char *msg = xasprintf ("unknown endpoint %s", url);
    return gd_http_error (c, 404, msg);
  }
  if (r->bad_method)
    return gd_http_error (c, 405, "only POST is supported");
  if (r->route->kind == GD_BODY_TAR_IN)
    return gd_stream_in_finish (r->in, c);
  return finish_json (h, c, r);
}

static void
on_completed (void *cls, struct MHD_Connection *c, void **con_cls,
              enum MHD_RequestTerminationCode code)
{
  struct gd_request *r = *con_cls;

  (void)cls, (void)c, (void)code;
  if (!r)
    return;
  gd_stream_in_free (r->in);
  free (r->buf);
  free (r);
  *con_cls = NULL;
}

static void
mhd_log (void *cls, const char *fmt, va_list ap)
{
  char buf[512];

  (void)cls;
  vsnprintf (buf, sizeof buf, fmt, ap);
  buf[strcspn (buf, "\n")] = '\0';
  log_debug ("gd", "microhttpd: %s", buf);
}

/* A unix socket at PATH, mode 0600, its directory created; any old socket replaced. */
static int
listen_unix (const char *path)
{
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  CLEANUP_FREE char *dir = strdup (path);
  char *slash;
  int fd;

  if (!dir || strlen (path) >= sizeof sa.sun_path) {
    err_set (ENAMETOOLONG, "socket path %s", path);
    return -1;
  }
  slash = strrchr (dir, '/');
  if (slash && slash != dir) {
    *slash = '\0';
    if (mkdir_p (dir, 0755) == -1)
      return -1;
  }
  strcpy (sa.sun_path, path);
  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd == -1) {
    err_set (errno, "socket");
    return -1;
  }
  unlink (path);
  mode_t old = umask (0177);
  int r = bind (fd, (struct sockaddr *)&sa, sizeof sa);
  umask (old);
  if (r == -1 || chmod (path, 0600) == -1 || listen (fd, 128) == -1) {
    err_set (errno, "listen on %s", path);
    close (fd);
    return -1;
  }
  return fd;
}

struct gd_http *
gd_http_start (struct gd_daemon *d, const char *socket_path)
{
  struct gd_http *h = calloc (1, sizeof *h);
  int fd;

  if (!h || !(h->path = strdup (socket_path))) {
    err_set (ENOMEM, "http");
    free (h);
    return NULL;
  }
  h->d = d;
  fd = listen_unix (socket_path);
  if (fd == -1)
    goto err;
  h->mhd = MHD_start_daemon (
      MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG, 0, NULL,
      NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h, MHD_OPTION_LISTEN_SOCKET, fd,
      MHD_OPTION_CONNECTION_LIMIT, (unsigned)128, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)600,
      MHD_OPTION_NOTIFY_COMPLETED, on_completed, h, MHD_OPTION_END);
  if (!h->mhd) {
    err_set (EIO, "cannot start the HTTP server on %s", socket_path);
    close (fd);
    goto err;
  }
  log_info ("listening on %s", socket_path);
  return h;
err:
  gd_http_stop (h);
  return NULL;
}

void
gd_http_stop (struct gd_http *h)
{
  if (!h)
    return;
  if (h->mhd) {
    MHD_stop_daemon (h->mhd); /* closes the listening socket too */
    unlink (h->path);
  }
  free (h->path);
  free (h);
}
