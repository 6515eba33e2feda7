/* test-attach.c: unit tests of the mode-independent half of attach/ (kdev.c, mount.c):
 * mode names, id checks, and kdev_reap on hand-made records — a dead owner's record is
 * undone and removed, a live owner's record and a half-made hidden one are left alone.
 * Needs no root and no devices: the records name nothing that exists. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "common/common.h"
#include "attach/attach.h"

#include "tests/unit/check.h"

static void
test_modes (void)
{
  enum kdev_mode m;

  CHECK (kdev_mode_parse ("auto", &m) == 0 && m == KDEV_AUTO);
  CHECK (kdev_mode_parse ("kernel", &m) == 0 && m == KDEV_KERNEL);
  CHECK (kdev_mode_parse ("fuse", &m) == 0 && m == KDEV_FUSE);
  CHECK (kdev_mode_parse ("nbd", &m) == -1 && strstr (err_get (), "nbd") != NULL);
  CHECK (strcmp (kdev_mode_name (KDEV_FUSE), "fuse") == 0);
  CHECK (strcmp (kdev_mode_name (KDEV_KERNEL), "kernel") == 0);
  CHECK (kdev_mode_resolve (KDEV_FUSE) == KDEV_FUSE);
}

static void
put (const char *dir, const char *name, const char *text)
{
  char *path = xasprintf ("%s/%s", dir, name);
  CHECK (path && write_file_atomic (path, text, strlen (text)) == 0);
  free (path);
}

/* Our own "PID STARTTIME", as kdev.c records owners. */
static char *
self_identity (void)
{
  char *stat = read_file ("/proc/self/stat", NULL);
  char *p = stat ? strrchr (stat, ')') : NULL;
  unsigned long long start = 0;
  char *r;

  for (int field = 2; p && field < 22; field++)
    p = strchr (p + 1, ' ');
  if (p)
    sscanf (p + 1, "%llu", &start);
  r = xasprintf ("%d %llu\n", (int)getpid (), start);
  free (stat);
  return r;
}

static void
make_record (const char *state, const char *rec, const char *owner)
{
  char *dir = xasprintf ("%s/%s", state, rec);
  char *fuse = xasprintf ("%s/fuse", dir);

  CHECK (mkdir (dir, 0700) == 0 && mkdir (fuse, 0700) == 0);
  put (dir, "owner", owner);
  put (dir, "name", "lay1\n");
  put (dir, "mode", "fuse\n");
  put (dir, "nbdfuse.pid", "999999999\n"); /* no such process */
  free (fuse);
  free (dir);
}

static bool
exists (const char *state, const char *rec)
{
  char *path = xasprintf ("%s/%s", state, rec);
  bool r = access (path, F_OK) == 0;
  free (path);
  return r;
}

static void
test_reap (void)
{
  char tmpl[] = "/tmp/test-kdev.XXXXXX";
  char *state = mkdtemp (tmpl);
  char *me = self_identity ();

  CHECK (state != NULL && me != NULL);
  make_record (state, "dead.0", "1 0\n"); /* pid 1 did not start at tick 0 */
  make_record (state, "orphan.0", "0 0\n");
  make_record (state, "live.0", me);
  make_record (state, ".new-1-0x1", "1 0\n");         /* pid 1 lives: kept */
  make_record (state, ".new-999999999-0x1", "1 0\n"); /* no such pid: removed */
  CHECK (kdev_reap (&(struct kdev_opts){ .state_dir = state }) == 0);
  CHECK (!exists (state, "dead.0"));
  CHECK (!exists (state, "orphan.0"));
  CHECK (exists (state, "live.0"));
  CHECK (exists (state, ".new-1-0x1"));
  CHECK (!exists (state, ".new-999999999-0x1"));
  CHECK (kdev_reap (&(struct kdev_opts){ .state_dir = "/nonexistent/kdev-state" }) == 0);
  remove_tree (state);
  free (me);
}

static void
test_errors (void)
{
  struct kdev_opts o = { .state_dir = "/nonexistent" };

  CHECK (kdev_attach (NULL, "../bad", KDEV_FUSE, &o) == NULL);
  CHECK (strstr (err_get (), "bad") != NULL);
  CHECK (kdev_detach (NULL) == 0);
  CHECK (mnt_mount ("/nonexistent/dev", "/nonexistent/dir", "ext4", "noatime,data=ordered",
                    false) == -1);
  CHECK (strstr (err_get (), "/nonexistent/dev") != NULL);
  CHECK (mnt_umount ("/nonexistent/dir") == 0); /* not mounted: nothing to do */
  CHECK (mnt_freeze ("/nonexistent/dir") == -1);
}

int
main (void)
{
  test_modes ();
  test_reap ();
  test_errors ();
  if (failures) {
    fprintf (stderr, "test-kdev: %d failures\n", failures);
    return 1;
  }
  printf ("test-kdev: ok\n");
  return 0;
}
