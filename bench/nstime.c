/* nstime.c: two small tools for the bench rows, built static so they can be copied into
 * images and run inside containers:
 *   nstime COMMAND [ARGS]   run COMMAND, print its wall time in seconds on stderr as
 *                           "nstime SECONDS" (busybox's date has no %N, and timing around
 *                           `docker exec` would add ~0.1 s);
 *   nstime --drop FILE...   flush each FILE and drop its pages from the page cache
 *                           (fadvise DONTNEED): cold reads without a global drop_caches,
 *                           which blocks on any stuck filesystem of this shared machine. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int
drop (int n, char **files)
{
  int i, fd, rc = 0;

  for (i = 0; i < n; i++) {
    fd = open (files[i], O_RDONLY);
    if (fd < 0 || fdatasync (fd) < 0 || posix_fadvise (fd, 0, 0, POSIX_FADV_DONTNEED) != 0) {
      perror (files[i]);
      rc = 1;
    }
    if (fd >= 0)
      close (fd);
  }
  return rc;
}

int
main (int argc, char **argv)
{
  struct timespec a, b;
  int status;
  pid_t pid;

  if (argc < 2) {
    fprintf (stderr, "usage: nstime COMMAND [ARGS] | nstime --drop FILE...\n");
    return 2;
  }
  if (strcmp (argv[1], "--drop") == 0)
    return drop (argc - 2, argv + 2);
  clock_gettime (CLOCK_MONOTONIC, &a);
  pid = fork ();
  if (pid == 0) {
    execvp (argv[1], argv + 1);
    perror (argv[1]);
    _exit (127);
  }
  if (pid < 0 || waitpid (pid, &status, 0) < 0) {
    perror ("nstime");
    return 1;
  }
  clock_gettime (CLOCK_MONOTONIC, &b);
  fprintf (stderr, "nstime %.6f\n", (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9);
  return WIFEXITED (status) ? WEXITSTATUS (status) : 1;
}
