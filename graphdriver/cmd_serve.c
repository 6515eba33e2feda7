/* cmd_serve.c: `buse serve` — the graphdriver plugin daemon dockerd talks to.
 *
 * Signals are blocked in every thread and taken with sigwait by the main thread, so no
 * handler ever runs inside libmicrohttpd or the NBD server.  On TERM/INT the HTTP server
 * stops first (no new calls), then every layer is unmounted and detached; the saved mount
 * counts stay, so the next start mounts again what dockerd still holds. */
#include <getopt.h>
#include <signal.h>
#include <string.h>

#include "graphdriver/api.h"

static void
usage (FILE *fp)
{
  fprintf (fp,
           "usage: buse serve [--home DIR] [--socket PATH] [--state DIR]\n\n"
           "Answer dockerd's graphdriver plugin API (POST /GraphDriver.*) on a unix socket.\n\n"
           "  --home DIR     the home to use, with default options, if a call needs Init\n"
           "                 and none was ever made (dockerd's Init wins)\n"
           "  --socket PATH  the plugin socket, mode 0600 (default %s)\n"
           "  --state DIR    where the last Init, mount counts and device records are kept\n"
           "                 (default /var/lib/buse)\n\n"
           "Init options (dockerd --storage-opt buse.KEY=VALUE):\n",
           GD_DEFAULT_SOCKET);
  cfg_print_help (gd_init_options, "buse.", fp);
}

static int
parse_args (int argc, char **argv, const char **home, const char **sock, const char **state)
{
  static const struct option opts[] = {
    { "home", required_argument, NULL, 'H' },
    { "socket", required_argument, NULL, 's' },
    { "state", required_argument, NULL, 'S' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  int c;

  while ((c = getopt_long (argc, argv, "h", opts, NULL)) != -1) {
    switch (c) {
    case 'H': *home = optarg; break;
    case 's': *sock = optarg; break;
    case 'S': *state = optarg; break;
    case 'h': usage (stdout); return 0;
    default: usage (stderr); return 2;
    }
  }
  if (optind != argc) {
    usage (stderr);
    return 2;
  }
  return -1;
}

int
cmd_serve (int argc, char **argv)
{
  const char *home = NULL, *sock = GD_DEFAULT_SOCKET, *state = "/var/lib/buse";
  struct gd_daemon *d;
  struct gd_http *h;
  sigset_t set;
  int r, sig = 0;

  r = parse_args (argc, argv, &home, &sock, &state);
  if (r >= 0)
    return r;
  sigemptyset (&set);
  sigaddset (&set, SIGTERM);
  sigaddset (&set, SIGINT);
  sigaddset (&set, SIGHUP);
  pthread_sigmask (SIG_BLOCK, &set, NULL); /* before any thread starts */
  signal (SIGPIPE, SIG_IGN);

  d = gd_daemon_new (state, home);
  if (!d) {
    fprintf (stderr, "buse serve: %s\n", err_get ());
    return 1;
  }
  if (gd_daemon_restore (d) == -1) /* the last Init, if one was saved */
    log_error ("restoring the last Init: %s (waiting for a new Init)", err_get ());
  h = gd_http_start (d, sock);
  if (!h) {
    fprintf (stderr, "buse serve: %s\n", err_get ());
    gd_daemon_free (d, false);
    return 1;
  }
  log_info ("buse %s serving on %s", BUSE_VERSION, sock);
  sigwait (&set, &sig);
  log_info ("signal %d: stopping", sig);
  gd_http_stop (h);
  gd_daemon_free (d, false);
  return 0;
}
