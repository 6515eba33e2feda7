/* util.c: file and process helpers — full reads and writes, atomic file replacement,
 * mkdir -p / rm -rf, and running external tools (mke2fs, losetup, nbdfuse) with their
 * stderr captured into the error state. */
#include <dirent.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "common/common.h"

void
cleanup_free (void *ptr)
{
  free (*(void **)ptr);
}

void
cleanup_close (int *fd)
{
  if (*fd >= 0)
    close (*fd);
}

void
cleanup_fclose (void *fp)
{
  FILE *f = *(FILE **)fp;
  if (f)
    fclose (f);
}

ssize_t
read_full (int fd, void *buf, size_t len)
{
  size_t done = 0;
  while (done < len) {
    ssize_t r = read (fd, (char *)buf + done, len - done);
    if (r == -1 && errno == EINTR)
      continue;
    if (r == -1)
      return -1;
    if (r == 0)
      break;
    done += r;
  }
  return done;
}

int
write_full (int fd, const void *buf, size_t len)
{
  while (len > 0) {
    ssize_t r = write (fd, buf, len);
    if (r == -1 && errno == EINTR)
      continue;
    if (r == -1)
      return -1;
    buf = (const char *)buf + r;
    len -= r;
  }
  return 0;
}

int
pread_full (int fd, void *buf, size_t len, off_t off)
{
  while (len > 0) {
    ssize_t r = pread (fd, buf, len, off);
    if (r == -1 && errno == EINTR)
      continue;
    if (r == -1)
      return -1;
    if (r == 0) {
      memset (buf, 0, len);
      return 0;
    }
    buf = (char *)buf + r, len -= r, off += r;
  }
  return 0;
}

int
pwrite_full (int fd, const void *buf, size_t len, off_t off)
{
  while (len > 0) {
    ssize_t r = pwrite (fd, buf, len, off);
    if (r == -1 && errno == EINTR)
      continue;
    if (r == -1)
      return -1;
    buf = (const char *)buf + r, len -= r, off += r;
  }
  return 0;
}

int
mkdir_p (const char *path, mode_t mode)
{
  CLEANUP_FREE char *p = strdup (path);
  if (!p) {
    err_set (errno, "strdup");
    return -1;
  }
  for (char *s = p + 1; *s; s++)
    if (*s == '/') {
      *s = '\0';
      if (mkdir (p, mode) == -1 && errno != EEXIST) {
        err_set (errno, "mkdir %s", p);
        return -1;
      }
      *s = '/';
    }
  if (mkdir (p, mode) == -1 && errno != EEXIST) {
    err_set (errno, "mkdir %s", p);
    return -1;
  }
  return 0;
}

static int
remove_at (int dirfd, const char *name, dev_t dev)
{
  struct stat st;

  if (fstatat (dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1)
    return errno == ENOENT ? 0 : -1;
  if (S_ISDIR (st.st_mode)) {
    DIR *d;
    struct dirent *e;
    int fd;
    if (st.st_dev != dev) {
      errno = EBUSY; /* a mount point: never cross it */
      return -1;
    }
    fd = openat (dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd == -1 || !(d = fdopendir (fd))) {
      if (fd >= 0)
        close (fd);
      return -1;
    }
    while ((e = readdir (d)))
      if (strcmp (e->d_name, ".") && strcmp (e->d_name, "..") &&
          remove_at (fd, e->d_name, dev) == -1) {
        closedir (d);
        return -1;
      }
    closedir (d);
    return unlinkat (dirfd, name, AT_REMOVEDIR);
  }
  return unlinkat (dirfd, name, 0);
}

int
remove_tree (const char *path)
{
  struct stat st;

  if (lstat (path, &st) == -1) {
    if (errno == ENOENT)
      return 0;
    err_set (errno, "stat %s", path);
    return -1;
  }
  if (remove_at (AT_FDCWD, path, st.st_dev) == -1) {
    err_set (errno, "remove %s", path);
    return -1;
  }
  return 0;
}

int
fsync_dir_of (const char *path)
{
  CLEANUP_FREE char *copy = strdup (path);
  CLEANUP_CLOSE int fd = -1;

  if (!copy) {
    err_set (errno, "strdup");
    return -1;
  }
  fd = open (dirname (copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd == -1 || fsync (fd) == -1) {
    err_set (errno, "fsync directory of %s", path);
    return -1;
  }
  return 0;
}

int
fsync_batch_add (struct fsync_batch *b, const char *path)
{
  for (size_t i = 0; i < b->n; i++)
    if (strcmp (b->paths[i], path) == 0)
      return 0;
  if (b->n == FSYNC_BATCH_MAX) {
    err_set (E2BIG, "fsync batch full at %s", path);
    return -1;
  }
  if (!(b->paths[b->n] = strdup (path))) {
    err_set (errno, "strdup");
    return -1;
  }
  b->n++;
  return 0;
}

int
fsync_batch_add_dir_of (struct fsync_batch *b, const char *path)
{
  CLEANUP_FREE char *copy = strdup (path);

  if (!copy) {
    err_set (errno, "strdup");
    return -1;
  }
  return fsync_batch_add (b, dirname (copy));
}

void
fsync_batch_clear (struct fsync_batch *b)
{
  for (size_t i = 0; i < b->n; i++)
    free (b->paths[i]);
  b->n = 0;
}

int
fsync_batch_run (struct fsync_batch *b)
{
  int fds[FSYNC_BATCH_MAX], r = 0;
  size_t i;

  for (i = 0; i < b->n; i++) {
    fds[i] = open (b->paths[i], O_RDONLY | O_CLOEXEC);
    if (fds[i] == -1) {
      err_set (errno, "open %s", b->paths[i]);
      r = -1;
      break;
    }
    /* a directory refuses it (ESPIPE/EINVAL): its entries are metadata, in the journal */
    sync_file_range (fds[i], 0, 0,
                     SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                         SYNC_FILE_RANGE_WAIT_AFTER);
  }
  for (size_t j = 0; r == 0 && j < i; j++)
    if (fsync (fds[j]) == -1) {
      err_set (errno, "fsync %s", b->paths[j]);
      r = -1;
    }
  while (i > 0)
    close (fds[--i]);
  fsync_batch_clear (b);
  return r;
}

/* DATA into PATH.tmp (fsynced when SYNC), then renamed onto PATH. */
static int
write_renamed (const char *path, const void *data, size_t len, bool sync)
{
  CLEANUP_FREE char *tmp = xasprintf ("%s.tmp", path);
  CLEANUP_CLOSE int fd = -1;

  if (!tmp)
    return -1;
  fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd == -1) {
    err_set (errno, "create %s", tmp);
    return -1;
  }
  if (write_full (fd, data, len) == -1 || (sync && fsync (fd) == -1)) {
    err_set (errno, "write %s", tmp);
    unlink (tmp);
    return -1;
  }
  if (rename (tmp, path) == -1) {
    err_set (errno, "rename %s", tmp);
    unlink (tmp);
    return -1;
  }
  return 0;
}

int
write_file_new (const char *path, const void *data, size_t len, struct fsync_batch *b)
{
  if (write_renamed (path, data, len, false) == -1)
    return -1;
  return fsync_batch_add (b, path) == -1 || fsync_batch_add_dir_of (b, path) == -1 ? -1 : 0;
}

int
write_file_atomic (const char *path, const void *data, size_t len)
{
  if (write_renamed (path, data, len, true) == -1)
    return -1;
  return fsync_dir_of (path);
}

char *
read_file (const char *path, size_t *len_out)
{
  CLEANUP_CLOSE int fd = open (path, O_RDONLY | O_CLOEXEC);
  size_t cap = 4096, len = 0;
  char *buf;

  if (fd == -1) {
    err_set (errno, "open %s", path);
    return NULL;
  }
  if (!(buf = malloc (cap + 1))) {
    err_set (errno, "malloc");
    return NULL;
  }
  for (;;) {
    ssize_t r = read_full (fd, buf + len, cap - len);
    if (r == -1) {
      err_set (errno, "read %s", path);
      free (buf);
      return NULL;
    }
    len += r;
    if (len < cap)
      break;
    char *nb = realloc (buf, cap * 2 + 1);
    if (!nb) {
      err_set (errno, "realloc");
      free (buf);
      return NULL;
    }
    buf = nb, cap *= 2;
  }
  buf[len] = '\0';
  if (len_out)
    *len_out = len;
  return buf;
}

char *
xasprintf (const char *fmt, ...)
{
  va_list ap;
  char *s;
  int r;

  va_start (ap, fmt);
  r = vasprintf (&s, fmt, ap);
  va_end (ap);
  if (r == -1) {
    err_set (ENOMEM, "asprintf");
    return NULL;
  }
  return s;
}

uint64_t
now_ns (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

int
is_mountpoint (const char *path)
{
  CLEANUP_FCLOSE FILE *fp = fopen ("/proc/self/mountinfo", "re");
  char line[4096], mp[4096];

  if (!fp) {
    err_set (errno, "open /proc/self/mountinfo");
    return -1;
  }
  /* field 5 is the mount point, with spaces etc. escaped as \040 */
  while (fgets (line, sizeof line, fp))
    if (sscanf (line, "%*s %*s %*s %*s %4095s", mp) == 1 && strcmp (mp, path) == 0)
      return 1;
  return 0;
}
