/* nstime.c: run a command and print its wall time in seconds (nanosecond clock) on stderr
 * as "nstime SECONDS".  Built static by the bench rows and copied into images, so a time is
 * taken inside the container (busybox's date has no %N; docker exec would add ~0.1 s). */
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int
main (int argc, char **argv)
{
  struct timespec a, b;
  int status;
  pid_t pid;

  if (argc < 2) {
    fprintf (stderr, "usage: nstime COMMAND [ARGS]\n");
    return 2;
  }
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
