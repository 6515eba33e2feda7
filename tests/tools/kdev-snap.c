/* kdev-snap.c: test helper for live snapshots of a mounted layer, the way the daemon takes
 * them: it owns the store, serves layer PARENT, attaches it (fuse mode) and mounts it on MNT,
 * prints "ready", then obeys lines on stdin:
 *   snap CHILD   freeze MNT, layer_create (CHILD on PARENT), thaw; prints "ok" or "error: …"
 *   quit         (or end of input) unmount, detach, close the store, exit 0
 * A shell test drives it while a writer keeps the filesystem busy. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static int
snapshot (struct layer_store *st, const char *parent, const char *child, const char *mnt)
{
  uint64_t t0 = now_ns ();
  int r;

  if (mnt_freeze (mnt) == -1)
    return -1;
  r = layer_create (st, child, parent, 0, true);
  if (mnt_thaw (mnt) == -1)
    r = -1;
  fprintf (stderr, "kdev-snap: %s frozen for %.1f ms\n", mnt, (double)(now_ns () - t0) / 1e6);
  return r;
}

static void
serve_commands (struct layer_store *st, const char *parent, const char *mnt)
{
  char line[512];

  printf ("ready\n");
  fflush (stdout);
  while (fgets (line, sizeof line, stdin)) {
    char child[256];
    line[strcspn (line, "\n")] = '\0';
    if (strcmp (line, "quit") == 0)
      break;
    if (sscanf (line, "snap %255s", child) == 1 && snapshot (st, parent, child, mnt) == 0)
      printf ("ok\n");
    else
      printf ("error: %s\n", err_get ());
    fflush (stdout);
  }
}

int
main (int argc, char **argv)
{
  struct layer_store *st = NULL;
  struct nbds_server *srv = NULL;
  struct layer_stack *ls;
  struct kdev *dev = NULL;
  struct kdev_opts ko = { .state_dir = NULL };
  int rc = 1;

  if (argc != 5) {
    fprintf (stderr, "usage: kdev-snap HOME PARENT MNT STATE_DIR\n");
    return 2;
  }
  ko.state_dir = argv[4];
  st = layer_store_open (argv[1], NULL);
  srv = nbds_new (NULL);
  if (st == NULL || srv == NULL || (ls = layer_stack_open (st, argv[2], true)) == NULL ||
      nbds_add_export (srv, argv[2], "layer", &mm_layer_backend, ls, false) == -1 ||
      (dev = kdev_attach (srv, argv[2], KDEV_FUSE, &ko)) == NULL ||
      mnt_mount (kdev_path (dev), argv[3], "ext4", NULL, false) == -1) {
    fprintf (stderr, "kdev-snap: %s\n", err_get ());
    printf ("error: %s\n", err_get ());
    fflush (stdout);
  } else {
    serve_commands (st, argv[2], argv[3]);
    rc = mnt_umount (argv[3]) == 0 ? 0 : 1;
  }
  if (kdev_detach (dev) == -1) {
    fprintf (stderr, "kdev-snap: %s\n", err_get ());
    rc = 1;
  }
  nbds_free (srv);
  layer_store_close (st);
  return rc;
}
