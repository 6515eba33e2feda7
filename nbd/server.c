/* server.c: the NBD server object and its export table.  An export is one backend handle
 * shared by every connection to its name ("one shared view"), reference counted by those
 * connections, so removing an export or freeing the server waits for the last user before
 * the backend is flushed and closed.  Exports the resolver opens on demand live only while
 * a connection uses them. */
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>

#include "nbd/internal.h"

/* A client gets this long, in total, to finish negotiating: a silent or trickling client does
 * not keep its thread and fd forever.  The transmission phase has no timeout (kernel
 * connections idle for hours).  nbds_opts.handshake_timeout_ms overrides it. */
#define HANDSHAKE_TIMEOUT_MS 60000

struct nbds_server *
nbds_new (const struct nbds_opts *opts)
{
  struct nbds_server *srv = calloc (1, sizeof *srv);

  if (srv == NULL) {
    err_set (errno, "calloc");
    return NULL;
  }
  srv->opts.workers = opts && opts->workers ? opts->workers : 8;
  srv->opts.max_requests = opts && opts->max_requests ? opts->max_requests : 64;
  srv->opts.max_payload = opts && opts->max_payload ? opts->max_payload : 32u << 20;
  srv->handshake_timeout_ms =
      opts && opts->handshake_timeout_ms ? opts->handshake_timeout_ms : HANDSHAKE_TIMEOUT_MS;
  if (pipe2 (srv->stop_pipe, O_CLOEXEC | O_NONBLOCK) == -1) {
    err_set (errno, "pipe");
    free (srv);
    return NULL;
  }
  pthread_mutex_init (&srv->lock, NULL);
  pthread_cond_init (&srv->conns_done, NULL);
  return srv;
}

/* Flush and close a backend handle that nobody uses any more. */
static void
export_release (struct export *exp)
{
  if (exp == NULL)
    return;
  if (exp->be->flush && !exp->read_only && exp->be->flush (exp->h) == -1)
    log_warn ("nbd: export %s: flush at close: %s", exp->name, err_get ());
  if (exp->be->close)
    exp->be->close (exp->h);
  free (exp->name);
  free (exp->description);
  free (exp);
}

static void
unlink_export (struct nbds_server *srv, struct export *exp)
{
  for (struct export **p = &srv->exports; *p; p = &(*p)->next)
    if (*p == exp) {
      *p = exp->next;
      return;
    }
}

void
nbds_free (struct nbds_server *srv)
{
  struct listener *l;
  struct export *exp;

  if (srv == NULL)
    return;
  nbds_stop (srv);
  while ((l = srv->listeners) != NULL) {
    srv->listeners = l->next;
    pthread_join (l->thread, NULL);
    close (l->fd);
    if (l->unix_path)
      unlink (l->unix_path);
    free (l->unix_path);
    free (l);
  }
  pthread_mutex_lock (&srv->lock);
  srv->shutting_down = true;
  for (struct conn *c = srv->conns; c; c = c->next)
    shutdown (c->fd, SHUT_RDWR);
  while (srv->nconns > 0)
    pthread_cond_wait (&srv->conns_done, &srv->lock);
  pthread_mutex_unlock (&srv->lock);
  while ((exp = srv->exports) != NULL) {
    srv->exports = exp->next;
    export_release (exp);
  }
  close (srv->stop_pipe[0]);
  close (srv->stop_pipe[1]);
  pthread_cond_destroy (&srv->conns_done);
  pthread_mutex_destroy (&srv->lock);
  free (srv);
}

void
nbds_set_resolver (struct nbds_server *srv, const struct nbds_resolver *r)
{
  pthread_mutex_lock (&srv->lock);
  srv->resolver = *r;
  srv->have_resolver = r->open != NULL;
  pthread_mutex_unlock (&srv->lock);
}

static struct export *
export_new (const char *name, const char *description, const struct nbds_backend *be, void *h,
            bool read_only)
{
  struct export *exp = calloc (1, sizeof *exp);

  if (exp == NULL || (exp->name = strdup (name)) == NULL ||
      (description && (exp->description = strdup (description)) == NULL)) {
    err_set (ENOMEM, "export %s", name);
    if (exp)
      free (exp->name);
    free (exp);
    return NULL;
  }
  exp->be = be, exp->h = h, exp->read_only = read_only;
  return exp;
}

/* The live export called NAME; caller holds srv->lock. */
static struct export *
find_export (struct nbds_server *srv, const char *name)
{
  for (struct export *e = srv->exports; e; e = e->next)
    if (!e->removed && strcmp (e->name, name) == 0)
      return e;
  return NULL;
}

int
nbds_add_export (struct nbds_server *srv, const char *name, const char *description,
                 const struct nbds_backend *backend, void *handle, bool read_only)
{
  struct export *exp;

  if (strlen (name) > NBDS_MAX_STRING) {
    err_set (EINVAL, "export name too long");
    return -1;
  }
  pthread_mutex_lock (&srv->lock);
  exp = find_export (srv, name);
  pthread_mutex_unlock (&srv->lock);
  if (exp) {
    err_set (EEXIST, "export %s", name);
    return -1;
  }
  if ((exp = export_new (name, description, backend, handle, read_only)) == NULL)
    return -1;
  pthread_mutex_lock (&srv->lock);
  struct export **tail = &srv->exports;
  while (*tail)
    tail = &(*tail)->next;
  *tail = exp; /* in the order added: OPT_LIST shows them so */
  pthread_mutex_unlock (&srv->lock);
  log_debug ("nbd", "nbd: export %s added (%s%s)", name, backend->name,
             read_only ? ", read-only" : "");
  return 0;
}

int
nbds_remove_export (struct nbds_server *srv, const char *name)
{
  struct export *exp;
  bool unused;

  pthread_mutex_lock (&srv->lock);
  exp = find_export (srv, name);
  if (exp == NULL) {
    pthread_mutex_unlock (&srv->lock);
    err_set (ENOENT, "export %s", name);
    return -1;
  }
  exp->removed = true;
  for (struct conn *c = srv->conns; c; c = c->next)
    if (c->exp == exp)
      shutdown (c->fd, SHUT_RDWR);
  unused = exp->refs == 0;
  if (unused)
    unlink_export (srv, exp);
  pthread_mutex_unlock (&srv->lock);
  if (unused)
    export_release (exp);
  return 0;
}

/* Open NAME through the resolver as a dynamic export (srv->lock not held). */
static struct export *
resolve_export (struct nbds_server *srv, const char *name)
{
  const struct nbds_backend *be;
  struct export *exp, *other;
  void *h;
  bool ro = false;

  if (srv->resolver.open (srv->resolver.ctx, name, &be, &h, &ro) == -1)
    return NULL;
  if ((exp = export_new (name, NULL, be, h, ro)) == NULL) {
    be->close (h);
    return NULL;
  }
  exp->dynamic = true;
  pthread_mutex_lock (&srv->lock);
  other = find_export (srv, name); /* another connection opened it meanwhile */
  if (other == NULL) {
    exp->next = srv->exports;
    srv->exports = exp;
    other = exp, exp = NULL;
  }
  other->refs++;
  pthread_mutex_unlock (&srv->lock);
  export_release (exp);
  return other;
}

struct export *
nbds_export_get (struct nbds_server *srv, const char *name)
{
  struct export *exp;
  bool resolve;

  pthread_mutex_lock (&srv->lock);
  exp = find_export (srv, name);
  if (exp)
    exp->refs++;
  resolve = exp == NULL && srv->have_resolver && !srv->shutting_down;
  pthread_mutex_unlock (&srv->lock);
  if (exp == NULL && resolve)
    exp = resolve_export (srv, name);
  else if (exp == NULL)
    err_set (ENOENT, "no export named '%s'", name);
  return exp;
}

void
nbds_export_put (struct nbds_server *srv, struct export *exp)
{
  bool last;

  if (exp == NULL)
    return;
  pthread_mutex_lock (&srv->lock);
  last = --exp->refs == 0 && (exp->removed || exp->dynamic);
  if (last)
    unlink_export (srv, exp);
  pthread_mutex_unlock (&srv->lock);
  if (last)
    export_release (exp);
}

struct nbds_export {
  struct export *exp;
};

struct nbds_export *
nbds_export_open (struct nbds_server *srv, const char *name, const struct nbds_backend **backend,
                  void **handle, bool *read_only)
{
  struct nbds_export *e = calloc (1, sizeof *e);

  if (e == NULL) {
    err_set (errno, "calloc");
    return NULL;
  }
  if ((e->exp = nbds_export_get (srv, name)) == NULL) {
    free (e);
    return NULL;
  }
  *backend = e->exp->be;
  *handle = e->exp->h;
  *read_only = e->exp->read_only;
  return e;
}

void
nbds_export_close (struct nbds_server *srv, struct nbds_export *e)
{
  if (e == NULL)
    return;
  nbds_export_put (srv, e->exp);
  free (e);
}

/* OPT_LIST: the exports added by name, then whatever the resolver lists. */
int
nbds_export_list (struct nbds_server *srv, int (*fn) (void *cbdata, const char *name), void *cbdata)
{
  char **names = NULL;
  size_t n = 0;
  int r = 0;

  pthread_mutex_lock (&srv->lock);
  for (struct export *e = srv->exports; e; e = e->next)
    n++;
  names = calloc (n + 1, sizeof *names);
  n = 0;
  for (struct export *e = srv->exports; names && e; e = e->next)
    if (!e->removed && !e->dynamic && (names[n] = strdup (e->name)) != NULL)
      n++;
  pthread_mutex_unlock (&srv->lock);
  if (names == NULL) {
    err_set (ENOMEM, "list");
    return -1;
  }
  for (size_t i = 0; i < n; i++)
    if (r == 0 && fn (cbdata, names[i]) != 0)
      r = -1;
  for (size_t i = 0; i < n; i++)
    free (names[i]);
  free (names);
  if (r == 0 && srv->have_resolver && srv->resolver.list)
    r = srv->resolver.list (srv->resolver.ctx, fn, cbdata);
  return r;
}

void
nbds_stop (struct nbds_server *srv)
{
  int saved = errno;
  ssize_t r = write (srv->stop_pipe[1], "x", 1);

  (void)r; /* a full pipe already says "stopped" */
  errno = saved;
}

bool
nbds_stopped (struct nbds_server *srv)
{
  struct pollfd p = { .fd = srv->stop_pipe[0], .events = POLLIN };

  return poll (&p, 1, 0) == 1;
}

void
nbds_wait (struct nbds_server *srv)
{
  struct pollfd p = { .fd = srv->stop_pipe[0], .events = POLLIN };

  while (poll (&p, 1, -1) != 1)
    ;
}
