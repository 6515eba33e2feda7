/* ops-serve.c: test harness for the remote export and the metrics of tests/ops — what
 * `buse serve --export/--metrics` will wire, without dockerd: a store opened read-write, its
 * layers served writable on a unix socket through a metrics-counting resolver (the daemon's
 * local attach path), the remote export on TCP, /metrics on TCP.  Runs until SIGTERM/SIGINT.
 *   ops-serve HOME UNIX-SOCKET EXPORT-SPEC|- METRICS-HOSTPORT|-                              */
#include <signal.h>
#include <string.h>

#include "cli/cli.h"

struct gauge_ctx {
  struct layer_store *st;
};

static int
count (void *cbdata, const struct layer_info *info)
{
  (void)info;
  (*(uint64_t *)cbdata)++;
  return 0;
}

static void
gauges (void *ctx, struct mm_metrics_gauges *g)
{
  struct gauge_ctx *gc = ctx;

  g->valid = layer_list (gc->st, count, &g->layers) == 0;
  g->disk_bytes = layer_store_disk_bytes (gc->st);
}

int
main (int argc, char **argv)
{
  struct layer_store *st = NULL;
  struct nbds_server *srv = NULL;
  struct mm_metrics *m = NULL;
  struct mm_export *e = NULL;
  struct nbds_resolver r;
  struct gauge_ctx gc;
  sigset_t set;
  int sig, rc = 1;

  if (argc != 5) {
    fprintf (stderr, "usage: ops-serve HOME UNIX-SOCKET EXPORT-SPEC|- METRICS-HOSTPORT|-\n");
    return 2;
  }
  sigemptyset (&set);
  sigaddset (&set, SIGTERM);
  sigaddset (&set, SIGINT);
  pthread_sigmask (SIG_BLOCK, &set, NULL);
  signal (SIGPIPE, SIG_IGN);
  if (!(st = layer_store_open (argv[1], NULL)) || !(srv = nbds_new (NULL)) ||
      !(m = mm_metrics_new ()))
    goto out;
  gc.st = st;
  mm_layer_resolver (&r, st, false);
  if (mm_metrics_wrap (m, &r) == -1)
    goto out;
  nbds_set_resolver (srv, &r);
  if (nbds_listen_unix (srv, argv[2]) == -1)
    goto out;
  if (strcmp (argv[3], "-") && !(e = mm_export_start (st, argv[3], m, NULL)))
    goto out;
  if (strcmp (argv[4], "-") && mm_metrics_listen (m, argv[4], gauges, &gc) == -1)
    goto out;
  fprintf (stderr, "ops-serve: ready\n");
  sigwait (&set, &sig);
  rc = 0;
out:
  if (rc)
    fprintf (stderr, "ops-serve: %s\n", err_get ());
  mm_export_stop (e);
  nbds_free (srv);
  mm_metrics_free (m);
  layer_store_close (st);
  return rc;
}
