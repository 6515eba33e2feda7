/* snapshotter.c: `buse snapshotter` — the containerd proxy snapshotter in the foreground.
 *
 * Every snapshot is known (records loaded, held mounts mounted again) before the socket
 * accepts: after a restart containerd's first call may be Mounts of a container it starts.
 * Signals are blocked in every thread and taken with sigwait; on TERM/INT the server stops
 * (calls in flight finish), then everything is unmounted and detached.  References stay
 * saved, so the next start mounts the active snapshots again. */
#include <signal.h>
#include <stddef.h>
#include <string.h>

#include "cli/cli.h"

struct snap_args {
  const char *home, *sock, *attach;
};

#define A(f) offsetof (struct snap_args, f)
static const struct opt snap_opts[] = {
  { "home", 0, OPT_STRING, A (home), "DIR",
    .help = "layers, mounts and snapshot records (default " SNAP_DEFAULT_HOME ")" },
  { "socket", 0, OPT_STRING, A (sock), "PATH",
    .help = "the gRPC socket, mode 0600 (default " SNAP_DEFAULT_SOCKET ")" },
  { "attach", 0, OPT_STRING, A (attach), "MODE",
    .help = "auto, kernel (NBD) or fuse (nbdfuse + loop); default auto" },
  { NULL },
};
#undef A

static const struct opt_cmd snap_cmd = {
  .name = "buse snapshotter",
  .synopsis = "[OPTIONS]",
  .about = "Serve containerd's snapshots API (a proxy snapshotter) on a unix socket.\ncontainerd: "
           "[proxy_plugins.buse] type = \"snapshot\" address = \"PATH\".",
  .opts = snap_opts,
};

int
cmd_snapshotter (int argc, char **argv)
{
  struct snap_args a = { .home = SNAP_DEFAULT_HOME, .sock = SNAP_DEFAULT_SOCKET };
  struct snap_server *srv = NULL;
  struct snap *s;
  sigset_t set;
  int n, sig = 0;

  n = opts_parse (&snap_cmd, &a, argc, argv);
  if (n < 0)
    return opts_exit (&snap_cmd, n);
  if (n > 0 || !*a.home || !*a.sock) {
    fprintf (stderr, "buse snapshotter: %s (see --help)\n",
             n > 0 ? "takes no operands" : "--home and --socket must not be empty");
    return 2;
  }
  const char *home = a.home, *sock = a.sock;
  struct snap_opts so = { .attach = a.attach };

  so.buffered_io = cli_env ()->buffered_io;
  cli_env_nbd (&so.nbd);
  cli_env_kdev (&so.kdev);
  sigemptyset (&set);
  sigaddset (&set, SIGTERM);
  sigaddset (&set, SIGINT);
  sigaddset (&set, SIGHUP);
  pthread_sigmask (SIG_BLOCK, &set, NULL); /* before any thread starts */
  signal (SIGPIPE, SIG_IGN);
  kdev_start_watchdog ();

  s = snap_open (home, &so);
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
