/* serve.c: `buse serve` — the graphdriver plugin daemon dockerd talks to.
 *
 * Signals are blocked in every thread and taken with sigwait by the main thread, so no
 * handler ever runs inside libmicrohttpd or the NBD server.  On TERM/INT the HTTP server
 * stops first (no new calls), then every layer is unmounted and detached; the saved mount
 * counts stay, so the next start mounts again what dockerd still holds. */
#include <signal.h>
#include <stddef.h>
#include <string.h>

#include "cli/cli.h"

struct serve_args {
  const char *home, *sock, *state, *metrics, *export;
};

static void
init_help (FILE *fp)
{
  fprintf (fp, "\nInit options (dockerd --storage-opt buse.KEY=VALUE):\n");
  cfg_print_help (gd_init_options, "buse.", fp);
}

#define A(f) offsetof (struct serve_args, f)
static const struct opt serve_opts[] = {
  { "home", 0, OPT_STRING, A (home), "DIR",
    .help = "the home to use, with default options, if a call needs Init and none was ever made "
            "(dockerd's Init wins)" },
  { "socket", 0, OPT_STRING, A (sock), "PATH",
    .help = "the plugin socket, mode 0600 (default " CLI_DEFAULT_SOCKET ")" },
  { "state", 0, OPT_STRING, A (state), "DIR",
    .help =
        "where the last Init, mount counts and device records are kept (default /var/lib/buse)" },
  { "metrics", 0, OPT_STRING, A (metrics), "HOST:PORT",
    .help =
        "Prometheus text on http://HOST:PORT/metrics (NBD requests, bytes and latency per layer; "
        "layers, mounts, disk used)" },
  { "export", 0, OPT_STRING, A (export), "tcp://HOST:PORT",
    .help =
        "serve committed layers read-only over NBD to other hosts (export name = layer id); off by "
        "default" },
  { NULL },
};
#undef A

static const struct opt_cmd serve_cmd = {
  .name = "buse serve",
  .synopsis = "[OPTIONS]",
  .about = "Answer dockerd's graphdriver plugin API (POST /GraphDriver.*) on a unix socket.",
  .opts = serve_opts,
  .epilog = init_help,
};

/* -1 to go on, else the exit status */
static int
parse_args (int argc, char **argv, struct serve_args *a)
{
  int n = opts_parse (&serve_cmd, a, argc, argv);

  if (n < 0)
    return opts_exit (&serve_cmd, n);
  if (n > 0) {
    fprintf (stderr, "buse serve: takes no operands ('%s')\n", argv[1]);
    return 2;
  }
  return -1;
}

/* The daemon with its options: --metrics and --export must be in place before any Init. */
static struct gd_daemon *
daemon_new (const struct serve_args *a, struct mm_metrics **metrics)
{
  struct gd_daemon_opts o = { 0 };
  struct gd_daemon *d;

  cli_env_daemon (&o);
  d = gd_daemon_new (a->state, a->home, &o);

  if (!d)
    return NULL;
  if (a->metrics && !(d->metrics = *metrics = mm_metrics_new ()))
    goto err;
  if (a->export && !(d->export_spec = strdup (a->export)))
    goto err;
  if (a->metrics && mm_metrics_listen (*metrics, a->metrics, gd_daemon_gauges, d) == -1)
    goto err;
  if (gd_daemon_restore (d) == -1) /* the last Init, if one was saved */
    log_error ("restoring the last Init: %s (waiting for a new Init)", err_get ());
  return d;
err:
  mm_metrics_stop (*metrics);
  gd_daemon_free (d, false);
  return NULL;
}

int
cmd_serve (int argc, char **argv)
{
  struct serve_args a = { .sock = CLI_DEFAULT_SOCKET, .state = "/var/lib/buse" };
  struct mm_metrics *metrics = NULL;
  struct gd_daemon *d;
  struct gd_http *h = NULL;
  sigset_t set;
  int r, sig = 0;

  r = parse_args (argc, argv, &a);
  if (r >= 0)
    return r;
  sigemptyset (&set);
  sigaddset (&set, SIGTERM);
  sigaddset (&set, SIGINT);
  sigaddset (&set, SIGHUP);
  pthread_sigmask (SIG_BLOCK, &set, NULL); /* before any thread starts */
  signal (SIGPIPE, SIG_IGN);
  kdev_start_watchdog ();

  d = daemon_new (&a, &metrics);
  if (d)
    h = gd_http_start (d, a.sock);
  if (!h) {
    fprintf (stderr, "buse serve: %s\n", err_get ());
    r = 1;
  } else {
    log_info ("buse %s serving on %s", BUSE_VERSION, a.sock);
    sigwait (&set, &sig);
    log_info ("signal %d: stopping", sig);
    r = 0;
  }
  gd_http_stop (h);
  mm_metrics_stop (metrics); /* before the daemon its gauges read */
  gd_daemon_free (d, false);
  mm_metrics_free (metrics); /* after every server that counted into it */
  return r;
}
