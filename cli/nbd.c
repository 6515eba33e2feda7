/* nbd.c: `buse nbd` — serve plain files (NAME=FILE) or the layers of a store (--home)
 * as NBD exports on a unix socket and/or TCP, in the foreground, until SIGINT/SIGTERM.
 * Signals are blocked in every thread and taken synchronously with sigwait in the main
 * thread, which then stops the server; nbds_free flushes and closes every backend. */
#include <signal.h>
#include <stddef.h>
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

static int
set_payload (void *field, const char *arg)
{
  uint64_t v;

  if (parse_size (arg, &v) == -1)
    return -1;
  if (v < 4096 || v > (256u << 20)) {
    err_set (EINVAL, "bad size '%s' (4K to 256M)", arg);
    return -1;
  }
  *(uint32_t *)field = v;
  return 0;
}

#define A(f) offsetof (struct nbd_args, f)
static const struct opt nbd_opts[] = {
  { "unix", 0, OPT_STRING, A (unix_path), "PATH",
    .help = "listen on a unix socket (created mode 0600)" },
  { "tcp", 0, OPT_STRING, A (tcp), "HOST:PORT",
    .help = "listen on TCP (e.g. 127.0.0.1:10809, [::1]:10809); --unix or --tcp is required" },
  { "read-only", 'r', OPT_FLAG, A (read_only), NULL, .help = "serve every export read-only" },
  { "home", 0, OPT_STRING, A (home), "DIR",
    .help = "serve the layers of the store in DIR by id (all of them, or only the IDs given)" },
  { "workers", 0, OPT_UINT, A (opts.workers), "N",
    .help = "worker threads per connection (default 8)", 1, 4096 },
  { "max-requests", 0, OPT_UINT, A (opts.max_requests), "N",
    .help = "requests in flight per connection (default 64)", .min = 1, .max = 4096 },
  { "max-payload", 0, OPT_CALL, A (opts.max_payload), "SIZE",
    .help = "largest READ/WRITE (default 32M)", .set = set_payload },
  { NULL },
};
#undef A

static const struct opt_cmd nbd_cmd = {
  .name = "buse nbd",
  .synopsis = "[OPTIONS] NAME=FILE...  |  [OPTIONS] --home DIR [ID...]",
  .about = "Serve files, or the layers of a store, as NBD exports until SIGINT/SIGTERM.\n"
           "NAME is the export name clients ask for (nbd+unix:///NAME?socket=PATH).\n"
           "`buse --debug=nbd nbd ...` logs every request.",
  .opts = nbd_opts,
};

/* 0 ok, 1 --help, -1 error (message printed). */
static int
parse_args (int argc, char **argv, struct nbd_args *a)
{
  int n = opts_parse (&nbd_cmd, a, argc, argv);

  if (n < 0)
    return opts_exit (&nbd_cmd, n) == 0 ? 1 : -1;
  a->names = argv + 1, a->nnames = n;
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
