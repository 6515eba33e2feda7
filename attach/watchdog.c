/* watchdog.c: a daemon killed while one of its threads waits for I/O to a filesystem it
 * serves itself cannot finish dying: that thread never leaves the kernel, so the daemon's
 * /dev/fuse descriptors (our own FUSE server, fusesrv.c) or its sockets to its nbdfuse
 * helpers stay open, and the I/O waits for a reply forever.  Every daemon that attaches in
 * fuse mode (`buse serve`, `buse snapshotter`) starts this watchdog first. */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/sysmacros.h>
#include <sys/stat.h>

#define FUSECTL "/sys/fs/fuse/connections"

#include "common/common.h"
#include "attach/internal.h"

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

/* Abort the FUSE connections of PARENT's own FUSE mounts (source "buse:<parent>", see
 * fusectl's <dir>/<minor>/abort); their stuck requests fail at once. */
static void
abort_fuse_of (pid_t parent)
{
  char want[64], line[4096];
  FILE *fp = fopen ("/proc/self/mountinfo", "re");
  bool mounted = false;

  snprintf (want, sizeof want, FUSESRV_SOURCE "%d", (int)parent);
  while (fp && fgets (line, sizeof line, fp)) {
    /* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [TAGS...] - FSTYPE SOURCE SUPER-OPTS */
    unsigned maj, min;
    char type[64], src[64], path[128];
    const char *tail = strstr (line, " - ");
    if (sscanf (line, "%*u %*u %u:%u", &maj, &min) != 2 || !tail ||
        sscanf (tail, " - %63s %63s", type, src) != 2 || strcmp (type, "fuse." FUSESRV_TYPE) != 0 ||
        strcmp (src, want) != 0)
      continue;
    if (!mounted) { /* fusectl is not always mounted: mount it (an EBUSY means it is) */
      mount ("fusectl", FUSECTL, "fusectl", 0, NULL);
      mounted = true;
    }
    snprintf (path, sizeof path, FUSECTL "/%u/abort",
              maj == 0 ? min : (unsigned)makedev (maj, min));
    int fd = open (path, O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
      if (write (fd, "1", 1) != 1)
        perror (path);
      close (fd);
    }
  }
  if (fp)
    fclose (fp);
}

/* A watchdog process, forked while we are single-threaded.  If we are killed while one of
 * our threads waits for I/O to a filesystem we serve ourselves (syncfs, umount, a write held
 * by writeback), that thread cannot die, so our sockets stay open and nbdfuse waits for
 * replies forever: a zombie that never goes.  The watchdog learns of our main thread's death
 * (PR_SET_PDEATHSIG), aborts our own FUSE connections and kills our nbdfuse children; the
 * stuck I/O fails, and the process can finish dying.  After a clean exit it finds none. */
void
kdev_start_watchdog (void)
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
  abort_fuse_of (parent);
  kill_nbdfuse_of (parent);
  _exit (0);
}
