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
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
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

static int
set_mode (void *field, const char *arg)
{
  if (kdev_mode_parse (arg, field) == -1) {
    err_set (0, "expected auto|kernel|fuse, not '%s'", arg);
    errno = EINVAL;
    return -1;
  }
  return 0;
}

#define A(f) offsetof (struct attach_args, f)
static const struct opt attach_opts[] = {
  { "home", 0, OPT_STRING, A (home), "DIR", .help = "attach layers of the store in DIR" },
  { "file", 0, OPT_STRING, A (file), "FILE",
    .help = "attach FILE instead, exported as the one ID" },
  { "mode", 0, OPT_CALL, A (mode), "MODE", .help = "auto|kernel|fuse (default auto)",
    .set = set_mode },
  { "ro", 0, OPT_FLAG, A (ro), NULL, .help = "read-only devices (and mounts)" },
  { "mount", 0, OPT_STRING, A (mount), "DIR", .help = "mount point (DIR/ID with several IDs)" },
  { "mount-opts", 0, OPT_STRING, A (mount_opts), "O", .help = "mount options" },
  { "fstype", 0, OPT_STRING, A (fstype), "T", .help = "filesystem type (default ext4)" },
  { "state", 0, OPT_STRING, A (state), "DIR",
    .help = "device records (default HOME/kdev, or /run/buse/kdev with --file)" },
  { "connections", 0, OPT_UINT, A (connections), "N",
    .help = "kernel mode: NBD connections per device (default 2)" },
  { "timeout", 0, OPT_UINT, A (timeout), "S",
    .help = "kernel mode: dead-connection timeout in seconds (default 30)" },
  { "no-dm", 0, OPT_FLAG, A (no_dm), NULL, .help = "no dm wrapper over the device" },
  { "reattach", 0, OPT_FLAG, A (reattach), NULL,
    .help = "kernel mode: take over ID's device left by a killed run" },
  { "reap", 0, OPT_FLAG, A (reap), NULL,
    .help = "undo devices, mounts and nbdfuse processes of killed runs, and exit" },
  { NULL },
};
#undef A

static const struct opt_cmd attach_cmd = {
  .name = "buse attach",
  .synopsis = "[--home DIR | --file FILE] [OPTIONS] ID...  |  --reap [--home DIR | --state DIR]",
  .about = "Attach layers of the store in --home (or FILE, exported as ID) as block devices,\n"
           "print their paths (one a line), stay in the foreground until SIGINT/SIGTERM,\n"
           "then unmount and detach.  SIGUSR1 suspends I/O on the devices, SIGUSR2 resumes\n"
           "it (dm wrapper only).",
  .opts = attach_opts,
};

/* 0 ok, 1 help shown, -1 error (message printed) */
static int
parse_args (int argc, char **argv, struct attach_args *a)
{
  int n;

  memset (a, 0, sizeof *a);
  a->fstype = "ext4";
  n = opts_parse (&attach_cmd, a, argc, argv);
  if (n < 0)
    return opts_exit (&attach_cmd, n) == 0 ? 1 : -1;
  if (n > MAX_IDS) {
    fprintf (stderr, "buse attach: at most %d IDs\n", MAX_IDS);
    return -1;
  }
  for (int i = 0; i < n; i++)
    a->ids[a->n_ids++] = argv[1 + i];
  if ((a->n_ids == 0 && !a->reap) || (!a->home && !a->file && !a->reap) ||
      (a->file && a->n_ids > 1)) {
    fprintf (stderr, "buse attach: expected --home DIR and IDs, or --file FILE and one ID\n");
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
  if (rc != 0)
    return rc == 1 ? 0 : 2;
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
