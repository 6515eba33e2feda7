/* gd-archive.c: a command-line front end to the tar code of archive/ for the
 * tests/archive/ scripts, so they can drive it with GNU tar, python tarfile and friends.
 *   gd-archive apply ROOT [--map C:H:N] < TAR     prints the size
 *   gd-archive changes ROOT [PARENT]              prints "KIND PATH" lines (A/C/D)
 *   gd-archive diff ROOT [PARENT] [--map C:H:N] > TAR
 *   gd-archive size ROOT [PARENT]                 prints ar_diff_size */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static ssize_t
rd_stdin (void *ctx, void *buf, size_t len)
{
  ssize_t r = read (*(int *)ctx, buf, len);
  if (r < 0)
    err_set (errno, "read stdin");
  return r;
}

static int
wr_stdout (void *ctx, const void *buf, size_t len)
{
  if (write_full (*(int *)ctx, buf, len) == -1) {
    err_set (errno, "write stdout");
    return -1;
  }
  return 0;
}

static int
run (int argc, char **argv, const struct ar_idmaps *maps)
{
  const char *cmd = argv[1], *root = argv[2], *parent = argc > 3 ? argv[3] : NULL;
  int fd;

  if (strcmp (cmd, "apply") == 0) {
    uint64_t size;
    fd = 0;
    if (ar_apply_tar (root, rd_stdin, &fd, maps, &size) == -1)
      return -1;
    printf ("%" PRIu64 "\n", size);
  } else if (strcmp (cmd, "changes") == 0) {
    struct ar_change *v;
    size_t n, i;
    ar_changes_loose_times (true); /* any two trees, e.g. one applied from a tar */
    if (ar_changes (root, parent, &v, &n) == -1)
      return -1;
    for (i = 0; i < n; i++)
      printf ("%c %s\n", "CAD"[v[i].kind], v[i].path);
    ar_changes_free (v, n);
  } else if (strcmp (cmd, "diff") == 0) {
    fd = 1;
    return ar_write_diff (root, parent, maps, wr_stdout, &fd);
  } else if (strcmp (cmd, "size") == 0) {
    uint64_t size;
    if (ar_diff_size (root, parent, &size) == -1)
      return -1;
    printf ("%" PRIu64 "\n", size);
  } else {
    err_set (EINVAL, "unknown command %s", cmd);
    return -1;
  }
  return 0;
}

int
main (int argc, char **argv)
{
  struct ar_idmap map;
  struct ar_idmaps maps = { &map, &map, 1, 1 };
  bool mapped = false;

  if (argc >= 5 && strcmp (argv[argc - 2], "--map") == 0) {
    if (sscanf (argv[argc - 1], "%u:%u:%u", &map.container_id, &map.host_id, &map.size) != 3)
      return 2;
    mapped = true;
    argc -= 2;
  }
  if (argc < 3) {
    fprintf (stderr, "usage: gd-archive apply|changes|diff|size ROOT [PARENT] [--map C:H:N]\n");
    return 2;
  }
  argv[argc] = NULL;
  if (run (argc, argv, mapped ? &maps : NULL) == -1) {
    fprintf (stderr, "gd-archive: %s\n", err_get ());
    return 1;
  }
  return 0;
}
