/* nbd.c: `buse nbd` — serve plain files (NAME=FILE) or the layers of a store (--home)
 * as NBD exports on a unix socket and/or TCP, in the foreground, until SIGINT/SIGTERM.
 * Signals are blocked in every thread and taken synchronously with sigwait in the main
 * thread, which then stops the server; nbds_free flushes and closes every backend. */
#include <getopt.h>
#include <signal.h>
#include <string.h>

#include "cli/cli.h"

struct nbd_args {
  const char *unix_path, *tcp, *home;
  bool read_only;
  struct nbds_opts opts;
  char **names; /* positional arguments */
  int nnames;
};

/* --home with IDs: only those layers are exports. */
struct id_filter {
  struct nbds_resolver inner;
  char **ids;
  int n;
};

static void
usage (FILE *fp)
{
  fprintf (fp, "usage: buse nbd [OPTIONS] NAME=FILE...\n"
               "       buse nbd [OPTIONS] --home DIR [ID...]\n\n"
               "Serve files, or the layers of a store, as NBD exports until SIGINT/SIGTERM.\n\n"
               "  --unix PATH        listen on a unix socket (created mode 0600)\n"
               "  --tcp HOST:PORT    listen on TCP (e.g. 127.0.0.1:10809, [::1]:10809)\n"
               "                     at least one of --unix and --tcp is required\n"
               "  -r, --read-only    serve every export read-only\n"
               "  --home DIR         serve the layers of the store in DIR by id (all of them,\n"
               "                     or only the IDs given)\n"
               "  --workers N        worker threads per connection (default 8)\n"
               "  --max-requests N   requests in flight per connection (default 64)\n"
               "  --max-payload SIZE largest READ/WRITE (default 32M)\n"
               "  -h, --help         this help\n\n"
               "NAME is the export name clients ask for (nbd+unix:///NAME?socket=PATH).\n"
               "`buse --debug=nbd nbd ...` logs every request.\n");
}

static int
parse_uint (const char *opt, const char *s, unsigned *out)
{
  uint64_t v;

  if (parse_size (s, &v) == -1 || v == 0 || v > 4096) {
    fprintf (stderr, "buse nbd: %s: bad value '%s'\n", opt, s);
    return -1;
  }
  *out = v;
  return 0;
}

/* 0 ok, 1 --help, -1 error (message printed). */
static int
parse_args (int argc, char **argv, struct nbd_args *a)
{
  static const struct option lo[] = {
    { "unix", required_argument, NULL, 'u' },
    { "tcp", required_argument, NULL, 't' },
    { "read-only", no_argument, NULL, 'r' },
    { "home", required_argument, NULL, 'H' },
    { "workers", required_argument, NULL, 'w' },
    { "max-requests", required_argument, NULL, 'm' },
    { "max-payload", required_argument, NULL, 'p' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  uint64_t v;
  int c;

  while ((c = getopt_long (argc, argv, "rh", lo, NULL)) != -1) {
    switch (c) {
    case 'u': a->unix_path = optarg; break;
    case 't': a->tcp = optarg; break;
    case 'r': a->read_only = true; break;
    case 'H': a->home = optarg; break;
    case 'w':
      if (parse_uint ("--workers", optarg, &a->opts.workers) == -1)
        return -1;
      break;
    case 'm':
      if (parse_uint ("--max-requests", optarg, &a->opts.max_requests) == -1)
        return -1;
      break;
    case 'p':
      if (parse_size (optarg, &v) == -1 || v < 4096 || v > (256u << 20)) {
        fprintf (stderr, "buse nbd: --max-payload: bad size '%s'\n", optarg);
        return -1;
      }
      a->opts.max_payload = v;
      break;
    case 'h': usage (stdout); return 1;
    default: usage (stderr); return -1;
    }
  }
  a->names = argv + optind, a->nnames = argc - optind;
  if (!a->unix_path && !a->tcp) {
    fprintf (stderr, "buse nbd: --unix PATH or --tcp HOST:PORT is required\n");
    return -1;
  }
  if (!a->home && a->nnames == 0) {
    fprintf (stderr, "buse nbd: nothing to serve (NAME=FILE... or --home DIR)\n");
    return -1;
  }
  return 0;
}

static int
add_files (struct nbds_server *srv, const struct nbd_args *a)
{
  for (int i = 0; i < a->nnames; i++) {
    char *eq = strchr (a->names[i], '=');
    CLEANUP_FREE char *name = eq ? strndup (a->names[i], eq - a->names[i]) : NULL;
    void *h;

    if (name == NULL || check_id (name) == -1) {
      fprintf (stderr, "buse nbd: '%s': want NAME=FILE%s%s\n", a->names[i], name ? ": " : "",
               name ? err_get () : "");
      return -1;
    }
    if ((h = nbds_file_open (eq + 1, a->read_only)) == NULL ||
        nbds_add_export (srv, name, eq + 1, &nbds_file_backend, h, a->read_only) == -1) {
      fprintf (stderr, "buse nbd: %s\n", err_get ());
      if (h)
        nbds_file_backend.close (h);
      return -1;
    }
  }
  return 0;
}

static int
filter_open (void *ctx, const char *name, const struct nbds_backend **be, void **h, bool *ro)
{
  struct id_filter *f = ctx;

  for (int i = 0; i < f->n; i++)
    if (strcmp (f->ids[i], name) == 0)
      return f->inner.open (f->inner.ctx, name, be, h, ro);
  err_set (ENOENT, "layer %s is not served", name);
  return -1;
}

static int
filter_list (void *ctx, int (*fn) (void *cbdata, const char *name), void *cbdata)
{
  struct id_filter *f = ctx;

  for (int i = 0; i < f->n; i++)
    if (fn (cbdata, f->ids[i]) != 0)
      return -1;
  return 0;
}

static int
listen_tcp (struct nbds_server *srv, const char *spec)
{
  CLEANUP_FREE char *host = strdup (spec);
  char *colon = host ? strrchr (host, ':') : NULL;
  char *h = host;

  if (colon == NULL || colon[1] == '\0') {
    fprintf (stderr, "buse nbd: --tcp '%s': want HOST:PORT\n", spec);
    return -1;
  }
  *colon = '\0';
  if (h[0] == '[' && colon > h && colon[-1] == ']')
    colon[-1] = '\0', h++;
  if (nbds_listen_tcp (srv, h, colon + 1) == -1) {
    fprintf (stderr, "buse nbd: %s\n", err_get ());
    return -1;
  }
  return 0;
}

/* Serve until SIGINT or SIGTERM. */
static int
serve (struct nbds_server *srv, const struct nbd_args *a, const sigset_t *sigs)
{
  int sig = 0;

  if ((a->unix_path && nbds_listen_unix (srv, a->unix_path) == -1)) {
    fprintf (stderr, "buse nbd: %s\n", err_get ());
    return 1;
  }
  if (a->tcp && listen_tcp (srv, a->tcp) == -1)
    return 1;
  log_info ("nbd: serving; SIGINT or SIGTERM stops");
  while (sigwait (sigs, &sig) != 0)
    ;
  log_info ("nbd: signal %d: stopping", sig);
  nbds_stop (srv);
  return 0;
}

int
cmd_nbd (int argc, char **argv)
{
  struct nbd_args a = { 0 };
  struct layer_store *st = NULL;
  struct nbds_server *srv = NULL;
  struct id_filter filter = { 0 };
  sigset_t sigs;
  int r, rc = 1;

  if ((r = parse_args (argc, argv, &a)) != 0)
    return r == 1 ? 0 : 2;
  sigemptyset (&sigs);
  sigaddset (&sigs, SIGINT);
  sigaddset (&sigs, SIGTERM);
  pthread_sigmask (SIG_BLOCK, &sigs, NULL); /* before any thread exists */
  signal (SIGPIPE, SIG_IGN);
  cli_env_nbd (&a.opts);
  if ((srv = nbds_new (&a.opts)) == NULL) {
    fprintf (stderr, "buse nbd: %s\n", err_get ());
    return 1;
  }
  if (a.home) {
    struct layer_store_opts so = { 0 };
    cli_env_store (&so);
    if ((st = layer_store_open (a.home, &so)) == NULL) {
      fprintf (stderr, "buse nbd: %s\n", err_get ());
      goto out;
    }
    mm_layer_resolver (&filter.inner, st, a.read_only);
    if (a.nnames > 0) {
      filter.ids = a.names, filter.n = a.nnames;
      nbds_set_resolver (srv, &(struct nbds_resolver){ filter_open, filter_list, &filter });
    } else {
      nbds_set_resolver (srv, &filter.inner);
    }
  } else if (add_files (srv, &a) == -1) {
    goto out;
  }
  rc = serve (srv, &a, &sigs);
out:
  nbds_free (srv);
  layer_store_close (st);
  return rc;
}
