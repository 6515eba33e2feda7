/* fs.c: confined filesystem operations for applying a layer tar.
 *
 * A layer tar is hostile input: member names may hold "..", be absolute, or walk through a
 * symlink that an earlier member planted.  Instead of checking names by hand, every
 * directory is resolved by the kernel with openat2 (RESOLVE_IN_ROOT) relative to an O_PATH
 * fd of the layer root — exactly what Docker gets by chrooting into the layer — and every
 * entry is then created or removed with an *at() call on that directory fd with a single
 * name component, never following a final symlink.  Nothing can land outside the root. */
#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>

#include "archive/internal.h"

static int
sys_openat2 (int dfd, const char *path, int flags)
{
  struct open_how how = { .flags = flags, .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
  int fd, tries = 0;

  do
    fd = syscall (SYS_openat2, dfd, path, &how, sizeof how);
  while (fd == -1 && errno == EAGAIN && ++tries < 16);
  return fd;
}

int
afs_open_root (const char *root)
{
  int fd = open (root, O_PATH | O_DIRECTORY | O_CLOEXEC);

  if (fd == -1)
    err_set (errno, "open %s", root);
  return fd;
}

int
afs_open_dir (int root_fd, const char *rel)
{
  return sys_openat2 (root_fd, *rel ? rel : ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
}

/* Creating: each prefix of REL is resolved in the root; a missing component is made with
 * mkdirat in its (already resolved, so confined) parent. */
int
afs_make_dirs (int root_fd, const char *rel)
{
  int cur, fd;
  size_t i, len = strlen (rel);
  CLEANUP_FREE char *prefix = strdup (rel);

  fd = afs_open_dir (root_fd, rel);
  if (fd >= 0 || errno != ENOENT || prefix == NULL)
    return fd;
  cur = afs_open_dir (root_fd, "");
  for (i = 0; cur >= 0 && i < len; i++) {
    size_t start = i;
    while (i < len && rel[i] != '/')
      i++;
    prefix[i] = '\0';
    fd = afs_open_dir (root_fd, prefix);
    if (fd == -1 && errno == ENOENT) {
      if (mkdirat (cur, prefix + start, 0755) == 0)
        fchmodat (cur, prefix + start, 0755, 0); /* whatever the umask */
      else if (errno != EEXIST) {
        close (cur);
        return -1;
      }
      fd = afs_open_dir (root_fd, prefix);
    }
    if (i < len)
      prefix[i] = '/';
    close (cur);
    cur = fd;
  }
  return cur;
}

static int
remove_children (int dfd)
{
  DIR *d = fdopendir (dfd);
  struct dirent *de;
  int r = 0;

  if (d == NULL) {
    close (dfd);
    return -1;
  }
  while (r == 0 && (errno = 0, de = readdir (d)) != NULL) {
    if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
      continue;
    r = afs_remove_at (dirfd (d), de->d_name);
  }
  if (r == 0 && errno != 0)
    r = -1;
  closedir (d);
  return r;
}

int
afs_remove_at (int dfd, const char *name)
{
  struct stat st;
  int fd;

  if (fstatat (dfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1)
    return errno == ENOENT ? 0 : -1;
  if (!S_ISDIR (st.st_mode))
    return unlinkat (dfd, name, 0) == -1 && errno != ENOENT ? -1 : 0;
  fd = openat (dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd == -1 || remove_children (fd) == -1)
    return -1;
  return unlinkat (dfd, name, AT_REMOVEDIR) == -1 && errno != ENOENT ? -1 : 0;
}

int
afs_lsetxattr (int dfd, const char *name, const char *key, const void *val, size_t len)
{
  char path[64 + NAME_MAX];
  struct stat st;
  int fd, r;

  /* Files and directories through an fd; the rest (symlinks, devices, fifos: opening them
   * would follow or block) through /proc: the magic link names the confined directory and
   * NAME is one component, not followed. */
  if (fstatat (dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
      (S_ISREG (st.st_mode) || S_ISDIR (st.st_mode))) {
    fd = openat (dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd == -1)
      return -1;
    r = fsetxattr (fd, key, val, len, 0);
    close (fd);
    return r;
  }
  snprintf (path, sizeof path, "/proc/self/fd/%d/%s", dfd, name);
  return lsetxattr (path, key, val, len, 0);
}

char *
afs_clean_name (const char *name)
{
  bool absolute = name[0] == '/';
  size_t len = strlen (name), o = 0, i = 0;
  char *out = malloc (len + 1);

  if (out == NULL) {
    err_set (errno, "malloc");
    return NULL;
  }
  while (i < len) {
    size_t s = i, n;
    while (i < len && name[i] != '/')
      i++;
    n = i - s;
    i++;
    if (n == 0 || (n == 1 && name[s] == '.'))
      continue;
    if (n == 2 && name[s] == '.' && name[s + 1] == '.') {
      if (o == 0 && !absolute) {
        free (out);
        err_set (EXDEV, "%s is outside of the layer", name);
        return NULL;
      }
      while (o > 0 && out[o - 1] != '/')
        o--;
      if (o > 0)
        o--;
      continue;
    }
    if (o > 0)
      out[o++] = '/';
    memcpy (out + o, name + s, n);
    o += n;
  }
  out[o] = '\0';
  return out;
}

/* FNV-1a; open addressing, the table at most half full. */
static size_t
str_hash (const char *s)
{
  size_t h = 1469598103934665603ull;
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

static int
strset_grow (struct afs_strset *s)
{
  size_t cap = s->cap ? s->cap * 2 : 256, i;
  char **slots = calloc (cap, sizeof *slots);

  if (slots == NULL) {
    err_set (errno, "calloc");
    return -1;
  }
  for (i = 0; i < s->cap; i++) {
    size_t j;
    if (s->slots[i] == NULL)
      continue;
    for (j = str_hash (s->slots[i]) & (cap - 1); slots[j]; j = (j + 1) & (cap - 1))
      ;
    slots[j] = s->slots[i];
  }
  free (s->slots);
  s->slots = slots;
  s->cap = cap;
  return 0;
}

bool
afs_strset_has (const struct afs_strset *s, const char *str)
{
  size_t j;

  if (s->cap == 0)
    return false;
  for (j = str_hash (str) & (s->cap - 1); s->slots[j]; j = (j + 1) & (s->cap - 1))
    if (strcmp (s->slots[j], str) == 0)
      return true;
  return false;
}

int
afs_strset_add (struct afs_strset *s, const char *str)
{
  size_t j;

  if (afs_strset_has (s, str))
    return 0;
  if (2 * (s->n + 1) > s->cap && strset_grow (s) == -1)
    return -1;
  for (j = str_hash (str) & (s->cap - 1); s->slots[j]; j = (j + 1) & (s->cap - 1))
    ;
  s->slots[j] = strdup (str);
  if (s->slots[j] == NULL) {
    err_set (errno, "strdup");
    return -1;
  }
  s->n++;
  return 0;
}

void
afs_strset_free (struct afs_strset *s)
{
  size_t i;

  for (i = 0; i < s->cap; i++)
    free (s->slots[i]);
  free (s->slots);
  s->slots = NULL;
  s->n = s->cap = 0;
}

int
afs_map_id (const struct ar_idmap *m, size_t n, uint32_t id, bool to_host, uint32_t *out)
{
  size_t i;

  if (n == 0) {
    *out = id;
    return 0;
  }
  for (i = 0; i < n; i++) {
    uint32_t from = to_host ? m[i].container_id : m[i].host_id;
    uint32_t to = to_host ? m[i].host_id : m[i].container_id;
    if (id >= from && (uint64_t)id - from < m[i].size) {
      *out = to + (id - from);
      return 0;
    }
  }
  err_set (EINVAL, "%s id %u is not mapped", to_host ? "container" : "host", id);
  return -1;
}
