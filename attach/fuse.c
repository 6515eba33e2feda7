/* fuse.c: fuse mode — an export as a block device on kernels without an NBD client.
 *
 * nbdfuse (libnbd) is started as our child on one end of a socketpair (--fd), the other end is
 * served by our NBD server with the export as its default; it shows the export as the file
 * <rec>/fuse/disk, and a loop device with direct I/O makes a block device of it (loop.c).
 * Each step is recorded before it is taken (kdev.c) and undone in reverse order on failure, on
 * detach and by fuse_reap.  Every Get of `docker run` waits here, so nothing sleeps on a
 * clock: nbdfuse's readiness (its pidfile) is awaited with inotify, its death with a pidfd;
 * polling every 10 ms remains only where those are unavailable. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include "common/common.h"
#include "attach/internal.h"

#define READY_TIMEOUT_MS 20000

static void
sleep_ms (long ms)
{
  struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
  nanosleep (&ts, NULL);
}

/* Start nbdfuse on socket FD (which stays ours: the child gets a copy as fd 3). */
static int
spawn_nbdfuse (struct kdev *dev, int fd)
{
  CLEANUP_FREE char *log = xasprintf ("%s/nbdfuse.log", dev->rec);
  CLEANUP_FREE char *pidfile = xasprintf ("%s/nbdfuse.ready", dev->rec);
  char *argv[] = { "nbdfuse", "-P", pidfile, dev->fuse_file, "--fd", "3", NULL, NULL };
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  sigset_t none, dfl;
  pid_t pid;
  int r;

  if (log == NULL || pidfile == NULL)
    return -1;
  if (dev->opts.read_only) /* nbdfuse -r MOUNT --fd 3 */
    memmove (argv + 4, argv + 3, 4 * sizeof *argv), argv[3] = "-r";
  posix_spawn_file_actions_init (&fa);
  posix_spawn_file_actions_adddup2 (&fa, fd, 3);
  posix_spawn_file_actions_addopen (&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen (&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2 (&fa, 1, 2);
  posix_spawn_file_actions_addclosefrom_np (&fa, 4);
  posix_spawnattr_init (&attr);
  sigemptyset (&none);
  sigfillset (&dfl);
  posix_spawnattr_setsigmask (&attr, &none);
  posix_spawnattr_setsigdefault (&attr, &dfl);
  /* own session: a ^C meant for us must not kill it before the loop device is gone */
  posix_spawnattr_setflags (&attr,
                            POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSID);
  r = posix_spawnp (&pid, "nbdfuse", &fa, &attr, argv, environ);
  posix_spawn_file_actions_destroy (&fa);
  posix_spawnattr_destroy (&attr);
  if (r != 0) {
    err_set (r, r == ENOENT ? "nbdfuse not found in PATH (package libnbd-bin)" : "spawn nbdfuse");
    return -1;
  }
  dev->fuse_pid = pid;
  return kdev_rec_write (dev, "nbdfuse.pid", "%d\n", (int)pid);
}

/* The last line nbdfuse wrote to its log, for error messages. */
static char *
nbdfuse_log_tail (struct kdev *dev)
{
  CLEANUP_FREE char *path = xasprintf ("%s/nbdfuse.log", dev->rec);
  char *text = path ? read_file (path, NULL) : NULL;
  char *end, *start;

  if (text == NULL) {
    err_clear ();
    return strdup ("");
  }
  end = text + strlen (text);
  while (end > text && (end[-1] == '\n' || end[-1] == ' '))
    *--end = '\0';
  start = strrchr (text, '\n');
  start = strdup (start ? start + 1 : text);
  free (text);
  return start;
}

/* Reap our nbdfuse child if it has exited; 1 if it has (err set), 0 if running. */
static int
nbdfuse_exited (struct kdev *dev)
{
  int status = -1;
  CLEANUP_FREE char *tail = NULL;
  pid_t r;

  if (dev->fuse_pid <= 0)
    return 0;
  r = waitpid (dev->fuse_pid, &status, WNOHANG);
  /* ECHILD: someone reaped it for us (SIGCHLD ignored); gone if it cannot be signalled */
  if (r != dev->fuse_pid && !(r == -1 && errno == ECHILD && kill (dev->fuse_pid, 0) == -1))
    return 0;
  dev->fuse_pid = 0;
  kdev_rec_remove (dev, "nbdfuse.pid");
  tail = nbdfuse_log_tail (dev);
  if (status == -1)
    err_set (EIO, "nbdfuse exited%s%s", *tail ? ": " : "", tail);
  else if (WIFSIGNALED (status))
    err_set (EIO, "nbdfuse was killed by signal %d%s%s", WTERMSIG (status), *tail ? ": " : "",
             tail);
  else
    err_set (EIO, "nbdfuse exited with status %d%s%s", WEXITSTATUS (status), *tail ? ": " : "",
             tail);
  return 1;
}

/* A pidfd for PID (readable once it has exited); -1 where the kernel has none. */
static int
pidfd_of (pid_t pid)
{
  return (int)syscall (SYS_pidfd_open, pid, 0);
}

static bool
is_ready (struct kdev *dev, const char *pidfile)
{
  struct stat st;

  return pidfile && access (pidfile, F_OK) == 0 && stat (dev->fuse_file, &st) == 0;
}

/* Wait until nbdfuse has written its pidfile (it does once its FUSE mount is up). */
static int
wait_ready (struct kdev *dev)
{
  CLEANUP_FREE char *pidfile = xasprintf ("%s/nbdfuse.ready", dev->rec);
  CLEANUP_CLOSE int in = inotify_init1 (IN_CLOEXEC | IN_NONBLOCK);
  CLEANUP_CLOSE int pfd = pidfd_of (dev->fuse_pid);
  uint64_t deadline = now_ns () + READY_TIMEOUT_MS * UINT64_C (1000000);
  char buf[4096];

  if (in >= 0 && inotify_add_watch (in, dev->rec, IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE) == -1)
    close (in), in = -1;
  while (now_ns () < deadline) {
    if (nbdfuse_exited (dev))
      return -1;
    if (is_ready (dev, pidfile))
      return 0;
    struct pollfd p[2] = { { in, POLLIN, 0 }, { pfd, POLLIN, 0 } };
    /* with both events at hand, the timeout only guards against a missed one */
    if (poll (p, 2, in >= 0 && pfd >= 0 ? 100 : 10) > 0 && in >= 0)
      while (read (in, buf, sizeof buf) > 0)
        ;
  }
  err_set (ETIMEDOUT, "nbdfuse did not come up within %d s", READY_TIMEOUT_MS / 1000);
  return -1;
}

static int
fuse_attach (struct kdev *dev, struct nbds_server *srv)
{
  int sv[2];
  int r;

  dev->fuse_mnt = xasprintf ("%s/fuse", dev->rec);
  dev->fuse_file = xasprintf ("%s/fuse/disk", dev->rec);
  if (dev->fuse_mnt == NULL || dev->fuse_file == NULL)
    return -1;
  if (mkdir (dev->fuse_mnt, 0700) == -1 && errno != EEXIST) {
    err_set (errno, "mkdir %s", dev->fuse_mnt);
    return -1;
  }
  if (!dev->opts.fuse_helper) {
    if ((dev->fsrv = fusesrv_start (srv, dev->name, dev->fuse_mnt, dev->opts.read_only)) == NULL)
      return -1;
    return kdev_loop_make (dev);
  }
  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
    err_set (errno, "socketpair");
    return -1;
  }
  if (nbds_serve_fd (srv, sv[0], dev->name) == -1) { /* the server owns sv[0] now */
    close (sv[1]);
    return -1;
  }
  if (sv[1] <= 3) { /* dup2 onto itself would keep FD_CLOEXEC: move it out of the way */
    int fd = fcntl (sv[1], F_DUPFD_CLOEXEC, 10);
    close (sv[1]);
    sv[1] = fd;
  }
  r = sv[1] == -1 ? (err_set (errno, "dup socket"), -1) : spawn_nbdfuse (dev, sv[1]);
  if (sv[1] != -1)
    close (sv[1]);
  if (r == -1 || wait_ready (dev) == -1)
    return -1;
  return kdev_loop_make (dev);
}

/* Has PID (our child if CHILD) exited?  Reaps it if it is our child. */
static bool
nbdfuse_gone (pid_t pid, bool child)
{
  pid_t r = child ? waitpid (pid, NULL, WNOHANG) : -1;

  return r == pid || ((!child || (r == -1 && errno == ECHILD)) && kill (pid, 0) == -1);
}

/* Stop nbdfuse PID (once its mount is gone it exits by itself; TERM, then KILL if not). */
static void
stop_nbdfuse (pid_t pid, bool child)
{
  CLEANUP_CLOSE int pfd = pidfd_of (pid);

  for (int ms = 0; ms < 8000; ms += 10) {
    if (nbdfuse_gone (pid, child))
      return;
    if (ms == 3000)
      kill (pid, SIGTERM);
    if (ms == 6000)
      kill (pid, SIGKILL);
    struct pollfd p = { pfd, POLLIN, 0 };
    if (pfd < 0)
      sleep_ms (10);
    else if (poll (&p, 1, 10) == 1) { /* it has exited: reap it (a zombie is not gone) */
      if (child)
        waitpid (pid, NULL, 0);
      return;
    }
  }
  log_warn ("nbdfuse pid %d did not exit", (int)pid);
}

static int
fuse_detach (struct kdev *dev)
{
  CLEANUP_FREE char *where = NULL;
  int r = 0;

  if (dev->loop && kdev_mounted (dev->loop, &where) == 1) {
    err_set (EBUSY, "%s is still mounted on %s", dev->loop, where);
    return -1;
  }
  if (!dev->loop && dev->fuse_file && kdev_loops_clear (dev->fuse_file, false) == -1)
    r = -1;
  if (dev->loop && kdev_loop_clear (dev->loop) == -1)
    r = -1;
  if (r == 0)
    kdev_rec_remove (dev, "loop");
  fusesrv_unmounting (dev->fsrv);
  if (dev->fuse_mnt && mnt_umount (dev->fuse_mnt) == -1)
    r = -1;
  fusesrv_stop (dev->fsrv);
  dev->fsrv = NULL;
  if (dev->fuse_pid > 0) {
    stop_nbdfuse (dev->fuse_pid, true);
    dev->fuse_pid = 0;
    kdev_rec_remove (dev, "nbdfuse.pid");
  }
  return r;
}

static int
fuse_check (struct kdev *dev)
{
  CLEANUP_FREE char *p = NULL;

  if (fusesrv_check (dev->fsrv) == -1 || nbdfuse_exited (dev))
    return -1;
  p = xasprintf ("/sys/block/%s/loop/backing_file", dev->loop ? dev->loop + 5 : "none");
  if (p && access (p, F_OK) != 0) {
    err_set (ENXIO, "loop device %s is gone", dev->loop);
    return -1;
  }
  return 0;
}

/* Is PID an nbdfuse process? */
static bool
is_nbdfuse (int pid)
{
  char path[64];
  char buf[64] = "";
  int fd;

  snprintf (path, sizeof path, "/proc/%d/cmdline", pid);
  fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd == -1)
    return false;
  if (read (fd, buf, sizeof buf - 1) < 0)
    buf[0] = '\0';
  close (fd);
  return strcmp (buf, "nbdfuse") == 0 || strstr (buf, "/nbdfuse") != NULL;
}

static int
fuse_reap (const char *rec, const struct kdev_opts *opts)
{
  (void)opts;
  CLEANUP_FREE char *mnt = xasprintf ("%s/fuse", rec);
  CLEANUP_FREE char *file = xasprintf ("%s/fuse/disk", rec);
  CLEANUP_FREE char *pid = kdev_rec_read (rec, "nbdfuse.pid");
  int r = 0;

  if (mnt == NULL || file == NULL)
    return -1;
  if (kdev_loops_clear (file, true) == -1)
    r = -1;
  if (mnt_umount (mnt) == -1)
    r = -1;
  if (pid && atoi (pid) > 0 && is_nbdfuse (atoi (pid))) {
    kill (atoi (pid), SIGTERM);
    stop_nbdfuse (atoi (pid), waitpid (atoi (pid), NULL, WNOHANG) == 0);
  }
  return r;
}

const struct kdev_mode_ops kdev_fuse_ops = {
  .name = "fuse",
  .attach = fuse_attach,
  .detach = fuse_detach,
  .check = fuse_check,
  .reap = fuse_reap,
};
