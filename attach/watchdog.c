/* watchdog.c: the nbdfuse helpers of a daemon outlive a kill -9 of it unless someone kills
 * them: a thread of the daemon stuck in I/O to a filesystem it serves itself cannot die, so
 * its sockets stay open and nbdfuse waits for replies forever.  Every daemon that attaches in
 * fuse mode (`buse serve`, `buse snapshotter`) starts this watchdog first. */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>

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

/* A watchdog process, forked while we are single-threaded.  If we are killed while one of
 * our threads waits for I/O to a filesystem we serve ourselves (syncfs, umount, a write held
 * by writeback), that thread cannot die, so our sockets stay open and nbdfuse waits for
 * replies forever: a zombie that never goes.  The watchdog learns of our main thread's death
 * (PR_SET_PDEATHSIG) and kills our nbdfuse children; their FUSE connections abort, the
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
  kill_nbdfuse_of (parent);
  _exit (0);
}
