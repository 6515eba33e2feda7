/* listen.c: where connections come from — a unix socket (mode 0600, set before listen(2)
 * so nobody can connect in between), TCP (every address HOST resolves to), or a socket
 * handed over by the caller (nbds_serve_fd, for socketpairs).  Each listener is a thread
 * that polls its socket and the server's stop pipe; each connection gets its own thread. */
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "nbd/internal.h"

int
nbds_conn_start (struct nbds_server *srv, int fd, const char *default_export)
{
  struct conn *c = calloc (1, sizeof *c);
  pthread_attr_t attr;
  pthread_t thr;
  int r;

  if (c == NULL || (default_export && (c->default_export = strdup (default_export)) == NULL)) {
    free (c);
    close (fd);
    err_set (ENOMEM, "new connection");
    return -1;
  }
  c->srv = srv, c->fd = fd;
  nbds_splice_init (c);
  pthread_mutex_init (&c->send_lock, NULL);
  pthread_mutex_init (&c->q_lock, NULL);
  pthread_mutex_init (&c->pool_lock, NULL);
  pthread_cond_init (&c->q_work, NULL);
  pthread_cond_init (&c->q_space, NULL);
  pthread_mutex_lock (&srv->lock);
  if (srv->shutting_down) {
    pthread_mutex_unlock (&srv->lock);
    err_set (ESHUTDOWN, "server is shutting down");
    goto err;
  }
  c->next = srv->conns;
  srv->conns = c;
  srv->nconns++;
  pthread_attr_init (&attr);
  pthread_attr_setdetachstate (&attr, PTHREAD_CREATE_DETACHED);
  r = pthread_create (&thr, &attr, nbds_conn_run, c);
  pthread_attr_destroy (&attr);
  if (r != 0) {
    srv->conns = c->next;
    srv->nconns--;
    pthread_mutex_unlock (&srv->lock);
    err_set (r, "pthread_create");
    goto err;
  }
  pthread_mutex_unlock (&srv->lock);
  return 0;

err:
  pthread_mutex_destroy (&c->send_lock);
  pthread_mutex_destroy (&c->q_lock);
  pthread_mutex_destroy (&c->pool_lock);
  pthread_cond_destroy (&c->q_work);
  pthread_cond_destroy (&c->q_space);
  free (c->default_export);
  free (c);
  close (fd);
  return -1;
}

int
nbds_serve_fd (struct nbds_server *srv, int fd, const char *default_export)
{
  return nbds_conn_start (srv, fd, default_export);
}

static void *
listener_run (void *arg)
{
  struct listener *l = arg;
  struct pollfd p[2] = { { .fd = l->fd, .events = POLLIN },
                         { .fd = l->srv->stop_pipe[0], .events = POLLIN } };
  int one = 1;

  for (;;) {
    if (poll (p, 2, -1) == -1) {
      if (errno == EINTR)
        continue;
      log_error ("nbd: poll: %m");
      return NULL;
    }
    if (p[1].revents)
      return NULL;
    int fd = accept4 (l->fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd == -1) {
      if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED)
        log_warn ("nbd: accept: %m");
      continue;
    }
    if (l->unix_path == NULL)
      setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    log_debug ("nbd", "nbd: new connection on fd %d", fd);
    if (nbds_conn_start (l->srv, fd, NULL) == -1)
      log_warn ("nbd: %s", err_get ());
  }
}

/* Start a listener thread on the listening socket FD (owned from now on). */
static int
listener_add (struct nbds_server *srv, int fd, const char *unix_path)
{
  struct listener *l = calloc (1, sizeof *l);
  int r;

  if (l == NULL || (unix_path && (l->unix_path = strdup (unix_path)) == NULL)) {
    free (l);
    close (fd);
    err_set (ENOMEM, "listener");
    return -1;
  }
  l->fd = fd, l->srv = srv;
  if ((r = pthread_create (&l->thread, NULL, listener_run, l)) != 0) {
    err_set (r, "pthread_create");
    close (fd);
    free (l->unix_path);
    free (l);
    return -1;
  }
  pthread_mutex_lock (&srv->lock);
  l->next = srv->listeners;
  srv->listeners = l;
  pthread_mutex_unlock (&srv->lock);
  return 0;
}

int
nbds_listen_unix (struct nbds_server *srv, const char *path)
{
  struct sockaddr_un sun = { .sun_family = AF_UNIX };
  struct stat st;
  int fd;

  if (strlen (path) >= sizeof sun.sun_path) {
    err_set (ENAMETOOLONG, "unix socket %s", path);
    return -1;
  }
  strcpy (sun.sun_path, path);
  if (lstat (path, &st) == 0 && S_ISSOCK (st.st_mode))
    unlink (path); /* stale socket from an earlier run */
  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd == -1) {
    err_set (errno, "socket");
    return -1;
  }
  if (bind (fd, (struct sockaddr *)&sun, sizeof sun) == -1) {
    err_set (errno, "bind %s", path);
    close (fd);
    return -1;
  }
  if (chmod (path, 0600) == -1 || listen (fd, SOMAXCONN) == -1) {
    err_set (errno, "listen %s", path);
    close (fd);
    unlink (path);
    return -1;
  }
  if (listener_add (srv, fd, path) == -1) {
    unlink (path);
    return -1;
  }
  log_info ("nbd: listening on unix socket %s", path);
  return 0;
}

static int
tcp_socket (const struct addrinfo *ai)
{
  int fd = socket (ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
  int one = 1;

  if (fd == -1)
    return -1;
  setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (ai->ai_family == AF_INET6)
    setsockopt (fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (bind (fd, ai->ai_addr, ai->ai_addrlen) == -1 || listen (fd, SOMAXCONN) == -1) {
    int saved = errno;
    close (fd);
    errno = saved;
    return -1;
  }
  return fd;
}

int
nbds_listen_tcp (struct nbds_server *srv, const char *host, const char *port)
{
  struct addrinfo hints = { .ai_family = AF_UNSPEC,
                            .ai_socktype = SOCK_STREAM,
                            .ai_flags = AI_PASSIVE | AI_ADDRCONFIG };
  struct addrinfo *res, *ai;
  int r, n = 0, last_errno = 0;

  r = getaddrinfo (host && *host ? host : NULL, port, &hints, &res);
  if (r != 0) {
    err_set (EINVAL, "tcp %s:%s: %s", host ? host : "", port, gai_strerror (r));
    return -1;
  }
  for (ai = res; ai; ai = ai->ai_next) {
    int fd = tcp_socket (ai);
    if (fd == -1) {
      last_errno = errno;
      continue;
    }
    if (listener_add (srv, fd, NULL) == 0)
      n++;
  }
  freeaddrinfo (res);
  if (n == 0) {
    err_set (last_errno ? last_errno : EADDRNOTAVAIL, "listen tcp %s:%s", host ? host : "", port);
    return -1;
  }
  log_info ("nbd: listening on tcp %s:%s", host ? host : "*", port);
  return 0;
}
