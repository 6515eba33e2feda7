/* meta.c: snapshot records — containerd's key → {layer id, kind, parent, labels, times}.
 *
 * One JSON file per snapshot, <dir>/<id>.json, named by the layer id we generated (a key is
 * never a path).  Every change touches exactly one file and is written atomically (temp
 * file, fsync, rename, directory fsync), so after kill -9 or a power loss each record is
 * either the old one or the new one: Commit (key → name, active → committed) is one rewrite
 * of the same file.  All records are read at start and kept in memory; callers lock. */
#include <dirent.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "snapshotter/internal.h"

struct snap_meta {
  char *dir;
  struct snap_info **v;
  size_t n, cap;
};

static const char *const kind_names[] = {
  [SNAP_VIEW] = "view", [SNAP_ACTIVE] = "active", [SNAP_COMMITTED] = "committed"
};

int64_t
snap_now (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void
snap_info_free (struct snap_info *info)
{
  if (!info)
    return;
  for (size_t i = 0; i < info->n_labels; i++) {
    free (info->labels[i].key);
    free (info->labels[i].value);
  }
  free (info->labels);
  free (info->key);
  free (info->parent);
  free (info);
}

const char *
snap_info_label (const struct snap_info *info, const char *key)
{
  for (size_t i = 0; i < info->n_labels; i++)
    if (strcmp (info->labels[i].key, key) == 0)
      return info->labels[i].value;
  return NULL;
}

int
snap_info_set_label (struct snap_info *info, const char *key, const char *value)
{
  struct snap_label *l = NULL, *nl;

  for (size_t i = 0; i < info->n_labels; i++)
    if (strcmp (info->labels[i].key, key) == 0)
      l = &info->labels[i];
  if (l && !value) {
    free (l->key);
    free (l->value);
    *l = info->labels[--info->n_labels];
    return 0;
  }
  if (!value)
    return 0;
  if (!l) {
    nl = realloc (info->labels, (info->n_labels + 1) * sizeof *nl);
    if (!nl)
      goto nomem;
    info->labels = nl;
    l = &nl[info->n_labels];
    if (!(l->key = strdup (key)))
      goto nomem;
    l->value = NULL;
    info->n_labels++;
  }
  free (l->value);
  if (!(l->value = strdup (value)))
    goto nomem;
  return 0;
nomem:
  err_set (ENOMEM, "labels");
  return -1;
}

int
snap_info_set_labels (struct snap_info *info, const struct snap_label *labels, size_t n)
{
  while (info->n_labels > 0)
    snap_info_set_label (info, info->labels[0].key, NULL);
  for (size_t i = 0; i < n; i++)
    if (snap_info_set_label (info, labels[i].key, labels[i].value) == -1)
      return -1;
  return 0;
}

static json_t *
to_json (const struct snap_info *info)
{
  json_t *labels = json_object ();
  json_t *obj;

  for (size_t i = 0; labels && i < info->n_labels; i++)
    if (json_object_set_new (labels, info->labels[i].key, json_string (info->labels[i].value))) {
      json_decref (labels);
      return NULL;
    }
  obj = json_pack ("{s:s, s:s, s:s, s:s*, s:o, s:I, s:I, s:I}", "key", info->key, "id", info->id,
                   "kind", kind_names[info->kind], "parent", info->parent, "labels", labels,
                   "created", (json_int_t)info->created, "updated", (json_int_t)info->updated,
                   "inodes", (json_int_t)info->inodes);
  if (obj && info->lost_writes)
    json_object_set_new (obj, "lost_writes", json_true ());
  return obj;
}

static struct snap_info *
from_json (const json_t *obj)
{
  struct snap_info *info = calloc (1, sizeof *info);
  const char *key = NULL, *id = NULL, *kind = NULL, *parent = NULL, *lk;
  json_t *labels = NULL, *lv, *jparent = NULL;
  json_int_t created = 0, updated = 0, inodes = -1;

  if (!info ||
      json_unpack ((json_t *)obj, "{s:s, s:s, s:s, s?:o, s:o, s:I, s:I, s?:I}", "key", &key, "id",
                   &id, "kind", &kind, "parent", &jparent, "labels", &labels, "created", &created,
                   "updated", &updated, "inodes", &inodes) ||
      !json_is_object (labels) || check_id (id) == -1)
    goto bad;
  if (jparent && !json_is_null (jparent) && !(parent = json_string_value (jparent)))
    goto bad;
  for (int k = SNAP_VIEW; k <= SNAP_COMMITTED; k++)
    if (strcmp (kind, kind_names[k]) == 0)
      info->kind = k;
  if (!info->kind || !(info->key = strdup (key)) || (parent && !(info->parent = strdup (parent))))
    goto bad;
  snprintf (info->id, sizeof info->id, "%s", id);
  info->created = created, info->updated = updated, info->inodes = inodes;
  info->lost_writes = json_is_true (json_object_get (obj, "lost_writes"));
  json_object_foreach (labels, lk, lv)
  {
    if (!json_is_string (lv) || snap_info_set_label (info, lk, json_string_value (lv)) == -1)
      goto bad;
  }
  return info;
bad:
  snap_info_free (info);
  err_set (EINVAL, "not a snapshot record");
  return NULL;
}

static char *
path_of (struct snap_meta *m, const struct snap_info *info)
{
  return xasprintf ("%s/%s.json", m->dir, info->id);
}

static int
push (struct snap_meta *m, struct snap_info *info)
{
  if (m->n == m->cap) {
    size_t cap = m->cap ? m->cap * 2 : 64;
    struct snap_info **nv = realloc (m->v, cap * sizeof *nv);
    if (!nv) {
      err_set (ENOMEM, "snapshots");
      return -1;
    }
    m->v = nv;
    m->cap = cap;
  }
  m->v[m->n++] = info;
  return 0;
}

/* Read one record file NAME of the directory. */
static int
load_one (struct snap_meta *m, const char *name)
{
  CLEANUP_FREE char *path = xasprintf ("%s/%s", m->dir, name);
  CLEANUP_JSON_DECREF json_t *obj = path ? json_load_path (path) : NULL;
  struct snap_info *info = obj ? from_json (obj) : NULL;
  size_t len = strlen (name);

  if (!info || strncmp (name, info->id, len - 5) != 0 || strlen (info->id) != len - 5 ||
      meta_find (m, info->key) || push (m, info) == -1) {
    if (info && !err_errno ())
      err_set (EINVAL, "duplicate or misnamed record");
    err_prefix ("snapshot record %s", path ? path : name);
    snap_info_free (info);
    return -1;
  }
  return 0;
}

struct snap_meta *
meta_open (const char *dir)
{
  struct snap_meta *m = calloc (1, sizeof *m);
  struct dirent *de;
  struct stat sb;
  DIR *dp;

  if (!m || !(m->dir = strdup (dir))) {
    free (m);
    err_set (ENOMEM, "snapshots");
    return NULL;
  }
  if (mkdir_p (dir, 0700) == -1 || !(dp = opendir (dir))) {
    err_set (errno, "snapshot records %s", dir);
    meta_close (m);
    return NULL;
  }
  while ((de = readdir (dp))) {
    size_t len = strlen (de->d_name);
    if (len > 9 && strcmp (de->d_name + len - 9, ".json.tmp") == 0) {
      unlinkat (dirfd (dp), de->d_name, 0); /* a write that never finished */
      continue;
    }
    if (len <= 5 || strcmp (de->d_name + len - 5, ".json") != 0)
      continue;
    if (fstatat (dirfd (dp), de->d_name, &sb, 0) == 0 && sb.st_size == 0) {
      /* a Prepare that a crash stopped before its record reached the disk: never answered,
       * so no client knows the key; Cleanup reaps its layer */
      log_warn ("snapshot record %s/%s is empty: an unfinished create, dropped", dir, de->d_name);
      unlinkat (dirfd (dp), de->d_name, 0);
      continue;
    }
    err_clear ();
    if (load_one (m, de->d_name) == -1) {
      closedir (dp);
      meta_close (m);
      return NULL;
    }
  }
  closedir (dp);
  return m;
}

void
meta_close (struct snap_meta *m)
{
  if (!m)
    return;
  for (size_t i = 0; i < m->n; i++)
    snap_info_free (m->v[i]);
  free (m->v);
  free (m->dir);
  free (m);
}

struct snap_info *
meta_find (struct snap_meta *m, const char *key)
{
  for (size_t i = 0; i < m->n; i++)
    if (strcmp (m->v[i]->key, key) == 0)
      return m->v[i];
  return NULL;
}

struct snap_info *
meta_find_id (struct snap_meta *m, const char *id)
{
  for (size_t i = 0; i < m->n; i++)
    if (strcmp (m->v[i]->id, id) == 0)
      return m->v[i];
  return NULL;
}

size_t
meta_count (struct snap_meta *m)
{
  return m->n;
}

struct snap_info *
meta_at (struct snap_meta *m, size_t i)
{
  return i < m->n ? m->v[i] : NULL;
}

bool
meta_has_children (struct snap_meta *m, const char *key)
{
  for (size_t i = 0; i < m->n; i++)
    if (m->v[i]->parent && strcmp (m->v[i]->parent, key) == 0)
      return true;
  return false;
}

/* INFO's record: replaced atomically and durably, or with B a new file that joins B (an
 * empty file after a crash is an unfinished create: meta_open). */
static int
write_record (struct snap_meta *m, struct snap_info *info, struct fsync_batch *b)
{
  CLEANUP_JSON_DECREF json_t *obj = to_json (info);
  CLEANUP_FREE char *path = path_of (m, info);

  if (!obj) {
    err_set (EINVAL, "snapshot %s: a key or label is not valid UTF-8", info->id);
    return -1;
  }
  if (!path)
    return -1;
  return b ? json_save_new (path, obj, b) : json_save_path (path, obj);
}

int
meta_save (struct snap_meta *m, struct snap_info *info)
{
  return write_record (m, info, NULL);
}

int
meta_add (struct snap_meta *m, struct snap_info *info, struct fsync_batch *b)
{
  if (push (m, info) == -1)
    return -1;
  if (write_record (m, info, b) == -1) {
    m->n--;
    return -1;
  }
  return 0;
}

int
meta_remove (struct snap_meta *m, struct snap_info *info)
{
  CLEANUP_FREE char *path = path_of (m, info);
  size_t i;

  for (i = 0; i < m->n && m->v[i] != info; i++)
    ;
  if (!path || i == m->n) {
    err_set (ENOENT, "snapshot record %s", info->id);
    return -1;
  }
  if ((unlink (path) == -1 && errno != ENOENT) || fsync_dir_of (path) == -1) {
    err_set (errno, "remove %s", path);
    return -1;
  }
  m->v[i] = m->v[--m->n];
  snap_info_free (info);
  return 0;
}
