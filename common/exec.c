/* exec.c: run an external tool (mke2fs, losetup, e2fsck, resize2fs …) and wait for it.
 * posix_spawnp is safe in our multi-threaded daemon; stderr is captured so that a failure
 * reads "mke2fs: <what it said>" in the error state instead of going to the daemon's log. */
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "common/common.h"

extern char **environ;

struct sink {
  char *buf;
  size_t len, cap, limit;
};

static void
sink_add (struct sink *s, const char *data, size_t n)
{
  if (s->len + n > s->limit) { /* keep the tail: the last lines say what went wrong */
    size_t drop = MIN (s->len, s->len + n - s->limit);
    memmove (s->buf, s->buf + drop, s->len - drop);
    s->len -= drop;
    if (n > s->limit)
      data += n - s->limit, n = s->limit;
  }
  if (s->len + n + 1 > s->cap) {
    size_t cap = MAX (s->cap * 2, s->len + n + 1);
    char *nb = realloc (s->buf, cap);
    if (!nb)
      return;
    s->buf = nb, s->cap = cap;
  }
  memcpy (s->buf + s->len, data, n);
  s->len += n;
  s->buf[s->len] = '\0';
}

/* Drain both pipes until EOF on each. */
static void
drain (int out_fd, int err_fd, struct sink *out, struct sink *err)
{
  struct pollfd p[2] = { { .fd = out_fd, .events = POLLIN }, { .fd = err_fd, .events = POLLIN } };
  char buf[8192];

  while (p[0].fd >= 0 || p[1].fd >= 0) {
    if (poll (p, 2, -1) == -1) {
      if (errno == EINTR)
        continue;
      break;
    }
    for (int i = 0; i < 2; i++) {
      if (p[i].fd < 0 || !p[i].revents)
        continue;
      ssize_t r = read (p[i].fd, buf, sizeof buf);
      if (r > 0)
        sink_add (i ? err : out, buf, r);
      else if (r == 0 || errno != EINTR)
        p[i].fd = -1;
    }
  }
}

int
run_cmd (char *const argv[], char **out_text)
{
  struct sink out = { .limit = 64 << 20 }, err = { .limit = 2048 };
  int po[2] = { -1, -1 }, pe[2] = { -1, -1 }, status = 0, rc = -1;
  posix_spawn_file_actions_t fa;
  pid_t pid;

  if (pipe2 (po, O_CLOEXEC) == -1 || pipe2 (pe, O_CLOEXEC) == -1) {
    err_set (errno, "pipe");
    goto out;
  }
  posix_spawn_file_actions_init (&fa);
  posix_spawn_file_actions_addopen (&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2 (&fa, po[1], 1);
  posix_spawn_file_actions_adddup2 (&fa, pe[1], 2);
  errno = posix_spawnp (&pid, argv[0], &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy (&fa);
  if (errno) {
    err_set (errno, "%s", argv[0]);
    goto out;
  }
  close (po[1]), close (pe[1]);
  po[1] = pe[1] = -1;
  drain (po[0], pe[0], &out, &err);
  while (waitpid (pid, &status, 0) == -1 && errno == EINTR)
    ;
  if (WIFEXITED (status) && WEXITSTATUS (status) == 0)
    rc = 0;
  else {
    rc = WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
    while (err.len && (err.buf[err.len - 1] == '\n' || err.buf[err.len - 1] == ' '))
      err.buf[--err.len] = '\0';
    err_set (0, "%s failed (status %d)%s%s", argv[0], rc, err.len ? ": " : "",
             err.len ? err.buf : "");
  }
  if (out_text) {
    *out_text = out.buf ? out.buf : strdup ("");
    out.buf = NULL;
  }
out:
  for (int i = 0; i < 2; i++) {
    if (po[i] >= 0)
      close (po[i]);
    if (pe[i] >= 0)
      close (pe[i]);
  }
  free (out.buf);
  free (err.buf);
  return rc;
}
