/* serve.c: `buse serve` — the graphdriver plugin daemon dockerd talks to.
 *
 * Signals are blocked in every thread and taken with sigwait by the main thread, so no
 * handler ever runs inside libmicrohttpd or the NBD server.  On TERM/INT the HTTP server
 * stops first (no new calls), then every layer is unmounted and detached; the saved mount
 * counts stay, so the next start mounts again what dockerd still holds. */
#include <dirent.h>
#include <getopt.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>

#include "cli/cli.h"

static void
usage (FILE *fp)
{
  fprintf (fp,
           "usage: buse serve [--home DIR] [--socket PATH] [--state DIR] [--metrics HOST:PORT]\n"
           "                  [--export tcp://HOST:PORT]\n\n"
           "Answer dockerd's graphdriver plugin API (POST /GraphDriver.*) on a unix socket.\n\n"
           "  --home DIR     the home to use, with default options, if a call needs Init\n"
           "                 and none was ever made (dockerd's Init wins)\n"
           "  --socket PATH  the plugin socket, mode 0600 (default %s)\n"
           "  --state DIR    where the last Init, mount counts and device records are kept\n"
           "                 (default /var/lib/buse)\n"
           "  --metrics HOST:PORT  Prometheus text on http://HOST:PORT/metrics (NBD requests,\n"
           "                 bytes and latency per layer; layers, mounts, disk used)\n"
           "  --export tcp://HOST:PORT  serve committed layers read-only over NBD to other\n"
           "                 hosts (export name = layer id); off by default\n\n"
           "Init options (dockerd --storage-opt buse.KEY=VALUE):\n",
           CLI_DEFAULT_SOCKET);
  cfg_print_help (gd_init_options, "buse.", fp);
}

struct serve_args {
  const char *home, *sock, *state, *metrics, *export;
};

static int
parse_args (int argc, char **argv, struct serve_args *a)
{
  static const struct option opts[] = {
    { "home", required_argument, NULL, 'H' },
    { "socket", required_argument, NULL, 's' },
    { "state", required_argument, NULL, 'S' },
    { "metrics", required_argument, NULL, 'm' },
    { "export", required_argument, NULL, 'e' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  int c;

  while ((c = getopt_long (argc, argv, "h", opts, NULL)) != -1) {
    switch (c) {
    case 'H': a->home = optarg; break;
    case 's': a->sock = optarg; break;
    case 'S': a->state = optarg; break;
    case 'm': a->metrics = optarg; break;
    case 'e': a->export = optarg; break;
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

/* Kill the nbdfuse processes PARENT started (its direct children named nbdfuse). */
static void
kill_nbdfuse_of (pid_t parent)
{
  DIR *dp = opendir ("/proc");
  struct dirent *de;

  while (dp && (de = readdir (dp))) {
    char path[300], buf[512], comm[64];
    int ppid = 0;
    FILE *fp;
    snprintf (path, sizeof path, "/proc/%s/stat", de->d_name);
    if (de->d_name[0] < '1' || de->d_name[0] > '9' || !(fp = fopen (path, "re")))
      continue;
    if (fgets (buf, sizeof buf, fp) && sscanf (buf, "%*d (%63[^)]) %*c %d", comm, &ppid) == 2 &&
        ppid == parent && strcmp (comm, "nbdfuse") == 0)
      kill (atoi (de->d_name), SIGKILL);
    fclose (fp);
  }
  if (dp)
    closedir (dp);
}

/* A watchdog process, forked while we are single-threaded.  If we are killed while one of
 * our threads waits for I/O to a filesystem we serve ourselves (syncfs, umount, a write held
 * by writeback), that thread cannot die, so our sockets stay open and nbdfuse waits for
 * replies forever: a zombie that never goes.  The watchdog learns of our main thread's death
 * (PR_SET_PDEATHSIG) and kills our nbdfuse children; their FUSE connections abort, the
 * stuck I/O fails, and the process can finish dying.  After a clean exit it finds none. */
static void
start_watchdog (void)
{
  pid_t parent = getpid ();
  pid_t pid = fork ();
  sigset_t set;
  int sig;

  if (pid != 0) {
    if (pid == -1)
      log_warn ("fork watchdog: %m");
    return;
  }
  sigemptyset (&set);
  sigaddset (&set, SIGUSR1);
  sigprocmask (SIG_BLOCK, &set, NULL);
  if (prctl (PR_SET_PDEATHSIG, SIGUSR1) == -1 || getppid () != parent)
    _exit (0);
  for (int fd = 3; fd < 1024; fd++)
    close (fd);
  sigwait (&set, &sig);
  kill_nbdfuse_of (parent);
  _exit (0);
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
  start_watchdog ();

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
