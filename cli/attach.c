/* attach.c: `buse attach` — attach one layer (or a plain file) as a block device, in the
 * foreground: an in-process NBD server with the layer as its export, kdev_attach, an optional
 * mount, the device path on stdout, then wait for SIGINT/SIGTERM and undo it all.
 *
 * Tests and people use it to look inside a layer without dockerd.  Signals are blocked before
 * any thread starts and taken with sigtimedwait, so they arrive only here; every second the
 * device is checked, and if it was lost (nbdfuse died, the connection broke) the command
 * reports which layer, unmounts and detaches, and exits 1.  State lives in <home>/kdev (or
 * --state), where leftovers of a killed run are reaped on the next start (or with --reap). */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"

#define MAX_IDS 256

struct attach_args {
  const char *home, *state, *mount, *file, *mount_opts, *fstype;
  const char *ids[MAX_IDS];
  size_t n_ids;
  enum kdev_mode mode;
  bool ro, reap, reattach, no_dm;
  unsigned connections, timeout;
};

struct attach_one {
  struct kdev *dev;
  char *mount; /* where it is mounted, NULL if not */
};

struct attach_run {
  struct layer_store *st;
  struct nbds_server *srv;
  struct attach_one one[MAX_IDS];
};

static void
usage (FILE *fp)
{
  fprintf (fp, "usage: buse attach [--home DIR | --file FILE] [--mode auto|kernel|fuse] [--ro]\n"
               "                   [--mount DIR [--mount-opts O] [--fstype T]] [--state DIR]\n"
               "                   [--connections N] [--timeout S] [--no-dm] [--reattach] ID...\n"
               "       buse attach --reap [--home DIR | --state DIR]\n\n"
               "Attach layers of the store in --home (or FILE, exported as ID) as block devices,\n"
               "print their paths (one a line), stay in the foreground until SIGINT/SIGTERM,\n"
               "then unmount and detach.  --mount DIR: the mount point (DIR/ID with several IDs).\n"
               "  --reattach  kernel mode: take over ID's device left by a killed run\n"
               "  --reap      undo devices, mounts and nbdfuse processes of killed runs, and exit\n"
               "SIGUSR1 suspends I/O on the devices, SIGUSR2 resumes it (dm wrapper only).\n");
}

static int
parse_args (int argc, char **argv, struct attach_args *a)
{
  static const struct option opts[] = {
    { "home", required_argument, NULL, 'H' },
    { "mode", required_argument, NULL, 'm' },
    { "mount", required_argument, NULL, 'M' },
    { "ro", no_argument, NULL, 'r' },
    { "file", required_argument, NULL, 'f' },
    { "state", required_argument, NULL, 's' },
    { "mount-opts", required_argument, NULL, 'o' },
    { "fstype", required_argument, NULL, 't' },
    { "connections", required_argument, NULL, 'c' },
    { "timeout", required_argument, NULL, 'T' },
    { "no-dm", no_argument, NULL, 'D' },
    { "reap", no_argument, NULL, 'R' },
    { "reattach", no_argument, NULL, 'A' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  int c;

  memset (a, 0, sizeof *a);
  a->fstype = "ext4";
  while ((c = getopt_long (argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case 'H': a->home = optarg; break;
    case 'm':
      if (kdev_mode_parse (optarg, &a->mode) == -1)
        return -1;
      break;
    case 'M': a->mount = optarg; break;
    case 'r': a->ro = true; break;
    case 'f': a->file = optarg; break;
    case 's': a->state = optarg; break;
    case 'o': a->mount_opts = optarg; break;
    case 't': a->fstype = optarg; break;
    case 'c': a->connections = (unsigned)atoi (optarg); break;
    case 'T': a->timeout = (unsigned)atoi (optarg); break;
    case 'D': a->no_dm = true; break;
    case 'R': a->reap = true; break;
    case 'A': a->reattach = true; break;
    case 'h': usage (stdout); return 1;
    default: usage (stderr); return -1;
    }
  }
  while (optind < argc && a->n_ids < MAX_IDS)
    a->ids[a->n_ids++] = argv[optind++];
  if ((a->n_ids == 0 && !a->reap) || optind < argc || (!a->home && !a->file && !a->reap) ||
      (a->file && a->n_ids > 1)) {
    usage (stderr);
    err_set (EINVAL, "expected --home DIR and IDs, or --file FILE and one ID");
    return -1;
  }
  return 0;
}

/* Start the server with every ID as an export: layers of the store, or a plain file. */
static int
start_server (const struct attach_args *a, struct attach_run *run)
{
  struct nbds_opts no = { 0 };
  struct layer_store_opts so = { 0 };

  cli_env_nbd (&no);
  cli_env_store (&so);
  run->srv = nbds_new (&no);
  if (run->srv == NULL)
    return -1;
  if (a->file) {
    void *h = nbds_file_open (a->file, a->ro);
    return h ? nbds_add_export (run->srv, a->ids[0], a->file, &nbds_file_backend, h, a->ro) : -1;
  }
  run->st = layer_store_open (a->home, &so);
  if (run->st == NULL)
    return -1;
  for (size_t i = 0; i < a->n_ids; i++) {
    struct layer_stack *ls = layer_stack_open (run->st, a->ids[i], !a->ro);
    if (ls == NULL || nbds_add_export (run->srv, a->ids[i], "layer", &mm_layer_backend, ls,
                                       a->ro || !layer_stack_writable (ls)) == -1)
      return -1;
  }
  return 0;
}

/* With one ID, --mount DIR is its mount point; with several, DIR/ID. */
static int
mount_one (const struct attach_args *a, struct attach_one *one, const char *id)
{
  char *dir = a->n_ids == 1 ? strdup (a->mount) : xasprintf ("%s/%s", a->mount, id);

  if (dir == NULL || (a->n_ids > 1 && mkdir_p (dir, 0755) == -1) ||
      mnt_mount (kdev_path (one->dev), dir, a->fstype, a->mount_opts, a->ro) == -1) {
    free (dir);
    err_prefix ("layer %s", id);
    return -1;
  }
  one->mount = dir;
  return 0;
}

static int
attach_and_mount (const struct attach_args *a, struct attach_run *run, const char *state)
{
  struct kdev_opts ko = {
    .state_dir = state,
    .connections = a->connections,
    .timeout_s = a->timeout,
    .read_only = a->ro,
    .use_dm = !a->no_dm,
  };

  cli_env_kdev (&ko);
  if (start_server (a, run) == -1)
    return -1;
  for (size_t i = 0; i < a->n_ids; i++) {
    struct attach_one *one = &run->one[i];
    one->dev = a->reattach ? kdev_reattach (run->srv, a->ids[i], &ko)
                           : kdev_attach (run->srv, a->ids[i], a->mode, &ko);
    if (one->dev == NULL)
      return -1;
    if (a->mount && !a->reattach && mount_one (a, one, a->ids[i]) == -1)
      return -1;
  }
  for (size_t i = 0; i < a->n_ids; i++)
    printf ("%s\n", kdev_path (run->one[i].dev));
  fflush (stdout);
  return 0;
}

/* Wait for a signal; check the devices every second.  0 on a signal, -1 if one was lost. */
static int
wait_for_signal (const sigset_t *set, const struct attach_args *a, struct attach_run *run)
{
  struct timespec ts = { 1, 0 };

  for (;;) {
    int sig = sigtimedwait (set, NULL, &ts);
    if (sig == SIGUSR1 || sig == SIGUSR2) { /* hold / release I/O (dm wrapper only) */
      for (size_t i = 0; i < a->n_ids; i++)
        if ((sig == SIGUSR1 ? kdev_suspend : kdev_resume) (run->one[i].dev) == -1)
          fprintf (stderr, "buse attach: layer %s: %s\n", a->ids[i], err_get ());
      fprintf (stderr, "buse attach: I/O %s\n", sig == SIGUSR1 ? "suspended" : "resumed");
      continue;
    }
    if (sig > 0) {
      log_info ("signal %d: detaching", sig);
      return 0;
    }
    for (size_t i = 0; i < a->n_ids; i++)
      if (kdev_check (run->one[i].dev) == -1)
        return -1;
  }
}

static int
teardown (const struct attach_args *a, struct attach_run *run)
{
  int r = 0;

  for (size_t i = a->n_ids; i-- > 0;) {
    struct attach_one *one = &run->one[i];
    if (one->mount && mnt_umount (one->mount) == -1) {
      fprintf (stderr, "buse attach: layer %s: %s\n", a->ids[i], err_get ());
      r = -1;
    }
    free (one->mount);
    if (kdev_detach (one->dev) == -1) {
      fprintf (stderr, "buse attach: %s\n", err_get ());
      r = -1;
    }
  }
  nbds_free (run->srv);
  layer_store_close (run->st);
  return r;
}

int
cmd_attach (int argc, char **argv)
{
  struct attach_args a;
  struct attach_run run = { 0 };
  CLEANUP_FREE char *state = NULL;
  sigset_t set;
  int rc = 0;

  rc = parse_args (argc, argv, &a);
  if (rc != 0) {
    if (rc == -1)
      fprintf (stderr, "buse attach: %s\n", err_get ());
    return rc == 1 ? 0 : 2;
  }
  state = a.state  ? strdup (a.state)
          : a.home ? xasprintf ("%s/kdev", a.home)
                   : strdup ("/run/buse/kdev");
  sigemptyset (&set);
  sigaddset (&set, SIGINT);
  sigaddset (&set, SIGTERM);
  sigaddset (&set, SIGHUP);
  sigaddset (&set, SIGUSR1);
  sigaddset (&set, SIGUSR2);
  pthread_sigmask (SIG_BLOCK, &set, NULL); /* before any thread starts */
  signal (SIGPIPE, SIG_IGN);               /* a client gone is that connection's error */
  struct kdev_opts ro = { .state_dir = state };
  cli_env_kdev (&ro);
  if (!a.reattach && kdev_reap (&ro) == -1)
    fprintf (stderr, "buse attach: reap %s: %s\n", state, err_get ());
  if (a.reap)
    return 0;
  if (attach_and_mount (&a, &run, state) == -1) {
    fprintf (stderr, "buse attach: %s\n", err_get ());
    rc = 1;
  } else if (wait_for_signal (&set, &a, &run) == -1) {
    fprintf (stderr, "buse attach: %s\n", err_get ());
    rc = 1;
  }
  if (teardown (&a, &run) == -1)
    rc = 1;
  return rc;
}
