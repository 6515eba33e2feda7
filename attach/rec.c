/* rec.c: the helpers every attach mode shares — the files of a device's record directory
 * (written atomically, read, removed) and keeping the first error across cleanup.  They sit
 * below the modes (fuse.c, kernel.c, loop.c, dm.c) and kdev.c alike, so the dependencies run
 * one way: kdev.c -> the modes' ops tables -> these helpers. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>

#include "common/common.h"
#include "attach/internal.h"

/* Write PATH atomically (temp file, rename) but without fsync: a record names kernel objects
 * (processes, mounts, loop devices), which a power loss takes away with it, so it only has to
 * outlive our process, and fsyncs here would cost several ms on every attach. */
static int
rec_write_file (const char *path, const char *text, size_t len)
{
  CLEANUP_FREE char *tmp = xasprintf ("%s.tmp", path);
  int fd = tmp ? open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600) : -1;

  if (fd == -1) {
    err_set (errno, "create %s", tmp ? tmp : path);
    return -1;
  }
  int w = write_full (fd, text, len);
  if (close (fd) == -1 || w == -1 || rename (tmp, path) == -1) {
    err_set (errno, "write %s", path);
    unlink (tmp);
    return -1;
  }
  return 0;
}

int
kdev_rec_write (struct kdev *dev, const char *key, const char *fmt, ...)
{
  CLEANUP_FREE char *path = xasprintf ("%s/%s", dev->rec, key);
  char *text = NULL;
  va_list ap;
  int r, len;

  if (path == NULL)
    return -1;
  va_start (ap, fmt);
  len = vasprintf (&text, fmt, ap);
  va_end (ap);
  if (len < 0) {
    err_set (ENOMEM, "record %s", key);
    return -1;
  }
  r = rec_write_file (path, text, (size_t)len);
  free (text);
  return r;
}

char *
kdev_rec_read (const char *rec, const char *key)
{
  CLEANUP_FREE char *path = xasprintf ("%s/%s", rec, key);
  char *s;

  if (path == NULL || access (path, F_OK) != 0)
    return NULL;
  s = read_file (path, NULL);
  if (s)
    s[strcspn (s, "\n")] = '\0';
  return s;
}

void
kdev_rec_remove (struct kdev *dev, const char *key)
{
  CLEANUP_FREE char *path = xasprintf ("%s/%s", dev->rec, key);

  if (path)
    unlink (path);
}

void
kdev_err_save (struct kdev_err *e)
{
  e->errnum = err_errno ();
  e->msg = strdup (err_get ());
}

void
kdev_err_restore (struct kdev_err *e)
{
  /* err_set appends ": strerror" again: take the old one off first */
  if (e->msg && e->errnum) {
    size_t n = strlen (e->msg), m = strlen (strerror (e->errnum));
    if (n >= m + 2 && strcmp (e->msg + n - m, strerror (e->errnum)) == 0)
      e->msg[n - m - 2] = '\0';
  }
  err_set (e->errnum, "%s", e->msg ? e->msg : "unknown error");
  free (e->msg);
  e->msg = NULL;
}
