/* cmd.c: `buse snapshotter` — the containerd proxy snapshotter in the foreground.
 *
 * Every snapshot is known (records loaded, held mounts mounted again) before the socket
 * accepts: after a restart containerd's first call may be Mounts of a container it starts.
 * Signals are blocked in every thread and taken with sigwait; on TERM/INT the server stops
 * (calls in flight finish), then everything is unmounted and detached.  References stay
 * saved, so the next start mounts the active snapshots again. */
#include <getopt.h>
#include <signal.h>
#include <string.h>

#include "attach/attach.h"
#include "snapshotter/internal.h"

static void
usage (FILE *fp)
{
  fprintf (fp,
           "usage: buse snapshotter [--home DIR] [--socket PATH] [--attach MODE]\n\n"
           "Serve containerd's snapshots API (a proxy snapshotter) on a unix socket.\n"
           "containerd: [proxy_plugins.buse] type = \"snapshot\" address = \"PATH\".\n\n"
           "  --home DIR     layers, mounts and snapshot records (default %s)\n"
           "  --socket PATH  the gRPC socket, mode 0600 (default %s)\n"
           "  --attach MODE  auto, kernel (NBD) or fuse (nbdfuse + loop); default auto\n",
           SNAP_DEFAULT_HOME, SNAP_DEFAULT_SOCKET);
}

int
cmd_snapshotter (int argc, char **argv)
{
  static const struct option opts[] = {
    { "home", required_argument, NULL, 'H' },
    { "socket", required_argument, NULL, 's' },
    { "attach", required_argument, NULL, 'a' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  const char *home = SNAP_DEFAULT_HOME, *sock = SNAP_DEFAULT_SOCKET, *attach = NULL;
  struct snap_server *srv = NULL;
  struct snap *s;
  sigset_t set;
  int c, sig = 0;

  while ((c = getopt_long (argc, argv, "h", opts, NULL)) != -1) {
    switch (c) {
    case 'H': home = optarg; break;
    case 's': sock = optarg; break;
    case 'a': attach = optarg; break;
    case 'h': usage (stdout); return 0;
    default: usage (stderr); return 2;
    }
  }
  if (optind != argc || !*home || !*sock) {
    usage (stderr);
    return 2;
  }
  sigemptyset (&set);
  sigaddset (&set, SIGTERM);
  sigaddset (&set, SIGINT);
  sigaddset (&set, SIGHUP);
  pthread_sigmask (SIG_BLOCK, &set, NULL); /* before any thread starts */
  signal (SIGPIPE, SIG_IGN);
  kdev_start_watchdog ();

  s = snap_open (home, attach);
  if (s)
    srv = snap_server_start (s, sock);
  if (!srv) {
    fprintf (stderr, "buse snapshotter: %s\n", err_get ());
    snap_close (s);
    return 1;
  }
  log_info ("buse %s: snapshotter serving on %s (home %s)", BUSE_VERSION, sock, home);
  sigwait (&set, &sig);
  log_info ("signal %d: stopping", sig);
  snap_server_stop (srv);
  snap_close (s);
  return 0;
}
