/* kdev-fuse.c: fuse mode — an export as a block device on kernels without an NBD client.
 *
 * nbdfuse (libnbd) is started as our child on one end of a socketpair (--fd), the other end is
 * served by our NBD server with the export as its default; it shows the export as the file
 * <rec>/fuse/disk, and `losetup --direct-io=on` makes a loop device of that file (direct I/O
 * so the page cache does not hold every block twice).  Each step is recorded before it is
 * taken (kdev.c) and undone in reverse order on failure, on detach and by kdev_fuse_reap.
 * The losetup command can be replaced with $BUSE_LOSETUP (tests simulate a full system). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "common/common.h"
#include "nbd/kdev-internal.h"

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

static int
wait_ready (struct kdev *dev)
{
  CLEANUP_FREE char *pidfile = xasprintf ("%s/nbdfuse.ready", dev->rec);
  struct stat st;

  for (int ms = 0; ms < READY_TIMEOUT_MS; ms += 10) {
    if (nbdfuse_exited (dev))
      return -1;
    if (pidfile && access (pidfile, F_OK) == 0 && stat (dev->fuse_file, &st) == 0)
      return 0;
    sleep_ms (10);
  }
  err_set (ETIMEDOUT, "nbdfuse did not come up within %d s", READY_TIMEOUT_MS / 1000);
  return -1;
}

/* losetup --find --show [--direct-io=on] [--read-only] FILE; *out gets /dev/loopN. */
static int
run_losetup (struct kdev *dev, bool dio, char **out)
{
  const char *cmd = getenv ("BUSE_LOSETUP");
  char *argv[8];
  int n = 0;

  argv[n++] = (char *)(cmd && *cmd ? cmd : "losetup");
  argv[n++] = "--find";
  argv[n++] = "--show";
  if (dio)
    argv[n++] = "--direct-io=on";
  if (dev->opts.read_only)
    argv[n++] = "--read-only";
  argv[n++] = dev->fuse_file;
  argv[n] = NULL;
  *out = NULL;
  if (run_cmd (argv, out) != 0) {
    free (*out);
    *out = NULL;
    return -1;
  }
  (*out)[strcspn (*out, "\n")] = '\0';
  if (strncmp (*out, "/dev/", 5) != 0) {
    err_set (EIO, "losetup printed '%s', not a device", *out);
    free (*out);
    *out = NULL;
    return -1;
  }
  return 0;
}

static int
make_loop (struct kdev *dev)
{
  if (kdev_rec_write (dev, "loop-file", "%s\n", dev->fuse_file) == -1)
    return -1;
  if (run_losetup (dev, true, &dev->loop) == -1) {
    log_info ("layer %s: losetup --direct-io=on refused (%s); trying buffered I/O", dev->name,
              err_get ());
    if (run_losetup (dev, false, &dev->loop) == -1)
      return -1;
    log_info ("layer %s: %s uses buffered I/O", dev->name, dev->loop);
  }
  if (kdev_rec_write (dev, "loop", "%s\n", dev->loop) == -1)
    return -1;
  CLEANUP_FREE char *sys = xasprintf ("/sys/block/%s/loop", dev->loop + 5);
  CLEANUP_FREE char *dio = sys ? kdev_rec_read (sys, "dio") : NULL;
  if (dio && strcmp (dio, "0") == 0) /* losetup may only warn when the kernel refuses */
    log_info ("layer %s: %s uses buffered I/O (direct I/O refused)", dev->name, dev->loop);
  dev->path = strdup (dev->loop);
  return dev->path ? 0 : -1;
}

int
kdev_fuse_attach (struct kdev *dev, struct nbds_server *srv)
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
  return make_loop (dev);
}

/* LOOP_CLR_FD on DEVPATH; 0 if it was already free. */
static int
loop_clear (const char *devpath)
{
  int fd = open (devpath, O_RDONLY | O_CLOEXEC);

  if (fd == -1) {
    if (errno == ENOENT || errno == ENXIO)
      return 0;
    err_set (errno, "open %s", devpath);
    return -1;
  }
  if (ioctl (fd, LOOP_CLR_FD, 0) == -1 && errno != ENXIO) {
    err_set (errno, "detach %s", devpath);
    close (fd);
    return -1;
  }
  close (fd);
  log_debug ("kdev", "detached %s", devpath);
  return 0;
}

/* Detach every loop device whose backing file is FILE (unmounting its users if FORCE). */
static int
loops_clear (const char *file, bool force)
{
  DIR *d = opendir ("/sys/block");
  struct dirent *e;
  int r = 0;

  if (d == NULL)
    return 0;
  while ((e = readdir (d)) != NULL) {
    CLEANUP_FREE char *bf = NULL;
    CLEANUP_FREE char *dev = NULL;
    if (strncmp (e->d_name, "loop", 4) != 0)
      continue;
    CLEANUP_FREE char *p = xasprintf ("/sys/block/%s/loop", e->d_name);
    if (p == NULL || (bf = kdev_rec_read (p, "backing_file")) == NULL)
      continue;
    if (strcmp (bf, file) != 0)
      continue;
    dev = xasprintf ("/dev/%s", e->d_name);
    if (dev == NULL || (force && kdev_umount_users (dev) == -1) || loop_clear (dev) == -1)
      r = -1;
  }
  closedir (d);
  return r;
}

/* Stop nbdfuse PID (once its mount is gone it exits by itself). */
static void
stop_nbdfuse (pid_t pid, bool child)
{
  for (int ms = 0; ms < 8000; ms += 10) {
    pid_t r = child ? waitpid (pid, NULL, WNOHANG) : -1;
    if (r == pid || ((!child || (r == -1 && errno == ECHILD)) && kill (pid, 0) == -1))
      return;
    if (ms == 3000)
      kill (pid, SIGTERM);
    if (ms == 6000)
      kill (pid, SIGKILL);
    sleep_ms (10);
  }
  log_warn ("nbdfuse pid %d did not exit", (int)pid);
}

int
kdev_fuse_detach (struct kdev *dev)
{
  CLEANUP_FREE char *where = NULL;
  int r = 0;

  if (dev->loop && kdev_mounted (dev->loop, &where) == 1) {
    err_set (EBUSY, "%s is still mounted on %s", dev->loop, where);
    return -1;
  }
  if (dev->fuse_file && loops_clear (dev->fuse_file, false) == -1)
    r = -1;
  if (dev->loop && loop_clear (dev->loop) == -1)
    r = -1;
  if (r == 0)
    kdev_rec_remove (dev, "loop");
  if (dev->fuse_mnt && mnt_umount (dev->fuse_mnt) == -1)
    r = -1;
  if (dev->fuse_pid > 0) {
    stop_nbdfuse (dev->fuse_pid, true);
    dev->fuse_pid = 0;
    kdev_rec_remove (dev, "nbdfuse.pid");
  }
  return r;
}

int
kdev_fuse_check (struct kdev *dev)
{
  CLEANUP_FREE char *p = NULL;

  if (nbdfuse_exited (dev))
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

int
kdev_fuse_reap (const char *rec)
{
  CLEANUP_FREE char *mnt = xasprintf ("%s/fuse", rec);
  CLEANUP_FREE char *file = xasprintf ("%s/fuse/disk", rec);
  CLEANUP_FREE char *pid = kdev_rec_read (rec, "nbdfuse.pid");
  int r = 0;

  if (mnt == NULL || file == NULL)
    return -1;
  if (loops_clear (file, true) == -1)
    r = -1;
  if (mnt_umount (mnt) == -1)
    r = -1;
  if (pid && atoi (pid) > 0 && is_nbdfuse (atoi (pid))) {
    kill (atoi (pid), SIGTERM);
    stop_nbdfuse (atoi (pid), waitpid (atoi (pid), NULL, WNOHANG) == 0);
  }
  return r;
}
