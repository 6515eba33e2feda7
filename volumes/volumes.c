/* volumes.c: block volumes — the engine behind VolumeDriver.* and `buse volume`.
 *
 * Volumes live in a layer store of their own under the volumes home (<vhome>/store), so a
 * volume is never visible as an image layer and a volume name can never collide with a layer
 * id.  That store's base is a small empty ext4 (VOL_BASE_SIZE, 4 KiB blocks); a volume is a
 * writable layer on it whose virtual device has the volume's size: the mount manager grows
 * the filesystem to the device (mm_quota_grow) at the first mount, and since only written
 * blocks are stored, a 100G volume costs what it holds.  `from=SRC` is mm_create with SRC as
 * parent: O(1), SRC frozen for the instant when mounted; the clone then reads SRC's content
 * of that instant and neither side sees the other's later writes.
 *
 * Per volume, <vhome>/vols/<name>.json records its options and the mount ids dockerd holds
 * on it; each id is one mm_get reference (saved by the mount manager), so a restarted buse
 * re-mounts in-use volumes at open and answers Get/Path/Unmount from disk at once.
 * Names are checked (check_id's charset: no '/', "..", NUL, empty or overlong) before any
 * path is built from them. */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>

#include "volumes/volumes.h"

#define VOL_BASE_SIZE    (64ULL << 20)
#define VOL_DEFAULT_SIZE (10ULL << 30)
#define VOL_NAME_MAX     64

struct vol_store {
  pthread_mutex_t lock;
  char *home;
  struct layer_store *st;
  struct nbds_server *srv;
  struct mm_mounts *mounts;
  struct mm_export *export; /* --export-volumes (may be NULL) */
};

const char *const vol_known_opts = "size, from, ro, fs";

int
vol_check_name (const char *name)
{
  if (!name || !*name) {
    err_set_plain (EINVAL, "empty volume name");
    return -1;
  }
  if (strlen (name) > VOL_NAME_MAX) {
    err_set_plain (EINVAL, "volume name too long (at most %d characters)", VOL_NAME_MAX);
    return -1;
  }
  if (strchr (name, '/') || strstr (name, "..") || check_id (name) == -1) {
    err_set_plain (EINVAL,
                   "invalid volume name '%s': use letters, digits, '_', '.', '-' (no '/' or '..')",
                   name);
    return -1;
  }
  return 0;
}

static char *
rec_path (struct vol_store *v, const char *name)
{
  return xasprintf ("%s/vols/%s.json", v->home, name);
}

static json_t *
rec_load (struct vol_store *v, const char *name)
{
  CLEANUP_FREE char *p = rec_path (v, name);
  struct stat sb;

  if (!p)
    return NULL;
  if (stat (p, &sb) == -1) {
    err_set_plain (ENOENT, "no such volume: %s", name);
    return NULL;
  }
  return json_load_path (p);
}

static int
rec_save (struct vol_store *v, const char *name, const json_t *rec)
{
  CLEANUP_FREE char *p = rec_path (v, name);

  return p ? json_save_path (p, rec) : -1;
}

/* Every volume's record, {name: record}; NULL + err when the folder cannot be read. */
static json_t *
list_records (struct vol_store *v)
{
  CLEANUP_FREE char *dir = xasprintf ("%s/vols", v->home);
  json_t *all = json_object ();
  struct dirent *de;
  DIR *dp;

  if (!dir || !all || !(dp = opendir (dir))) {
    err_set (errno, "opendir %s", dir ? dir : "vols");
    json_decref (all);
    return NULL;
  }
  while ((de = readdir (dp))) {
    size_t n = strlen (de->d_name);
    char name[VOL_NAME_MAX + 6];
    json_t *rec;

    if (n < 6 || n >= sizeof name || strcmp (de->d_name + n - 5, ".json") != 0)
      continue;
    memcpy (name, de->d_name, n - 5);
    name[n - 5] = '\0';
    if (vol_check_name (name) == -1 || !(rec = rec_load (v, name)))
      continue;
    json_object_set_new (all, name, rec);
  }
  closedir (dp);
  err_clear ();
  return all;
}

/* The mount manager saved its counts on its own; a crash between its save and a record's
 * leaves them apart: the records' mount ids win (one reference each). */
static void
reconcile (struct vol_store *v)
{
  CLEANUP_JSON_DECREF json_t *all = list_records (v);
  const char *name;
  json_t *rec;

  json_object_foreach (all, name, rec)
  {
    size_t want = json_array_size (json_object_get (rec, "MountIDs"));
    size_t have = mm_count (v->mounts, name);

    for (; have < want; have++) {
      char *p = mm_get (v->mounts, name, false);
      if (!p) {
        log_error ("volume %s: mounting again for its %zu mount ids: %s", name, want, err_get ());
        break;
      }
      free (p);
    }
    for (; have > want; have--)
      mm_put (v->mounts, name, false);
    if (want)
      log_info ("volume %s: mounted for %zu containers", name, want);
  }
}

struct vol_store *
vol_open (const char *home, const struct vol_open_opts *o)
{
  struct vol_store *v = calloc (1, sizeof *v);
  CLEANUP_FREE char *store = NULL, *vols = NULL;
  struct layer_store_opts so = { .base_size = VOL_BASE_SIZE,
                                 .block_size = LAYER_BLOCK_SIZE,
                                 .mkfs_args = "-b 4096 -m 0 -T default",
                                 .fs = "ext4",
                                 .buffered_io = o ? o->buffered_io : false };
  struct nbds_resolver r;

  if (!v) {
    err_set (ENOMEM, "volumes");
    return NULL;
  }
  pthread_mutex_init (&v->lock, NULL);
  v->home = strdup (home);
  store = xasprintf ("%s/store", home);
  vols = xasprintf ("%s/vols", home);
  if (!v->home || !store || !vols || mkdir_p (vols, 0700) == -1)
    goto err;
  if (!(v->st = layer_store_open (store, &so)) || !(v->srv = nbds_new (o ? o->nbd : NULL)))
    goto err;
  mm_layer_resolver (&r, v->st, false);
  nbds_set_resolver (v->srv, &r);
  struct mm_cfg mc = { .home = store,
                       .state_dir = v->home,
                       .st = v->st,
                       .srv = v->srv,
                       .mode = kdev_mode_resolve (o ? o->mode : KDEV_AUTO),
                       .kdev = o ? o->kdev : (struct kdev_opts){ 0 } };
  if (!(v->mounts = mm_new (&mc)))
    goto err;
  reconcile (v);
  return v;
err:
  err_prefix ("volumes home %s", home);
  vol_close (v);
  return NULL;
}

void
vol_close (struct vol_store *v)
{
  if (!v)
    return;
  mm_export_stop (v->export);
  mm_free (v->mounts, false);
  nbds_free (v->srv);
  layer_store_close (v->st);
  pthread_mutex_destroy (&v->lock);
  free (v->home);
  free (v);
}

/* Check OPTS (a JSON object of strings, or NULL) into the new record REC. */
static int
parse_opts (struct vol_store *v, const json_t *opts, json_t *rec, uint64_t *size, const char **from)
{
  const char *key;
  json_t *val;

  *size = 0;
  *from = NULL;
  if (opts && !json_is_null (opts) && !json_is_object (opts)) {
    err_set_plain (EINVAL, "Opts is not an object");
    return -1;
  }
  json_object_foreach ((json_t *)opts, key, val)
  {
    const char *s = json_is_string (val) ? json_string_value (val) : "";
    bool b;

    if (strcmp (key, "size") == 0) {
      if (parse_size (s, size) == -1 || *size < VOL_BASE_SIZE) {
        err_set_plain (EINVAL, "bad size '%s' (a size of at least 64M, e.g. 10G)", s);
        return -1;
      }
    } else if (strcmp (key, "from") == 0) {
      CLEANUP_JSON_DECREF json_t *src = NULL;
      if (vol_check_name (s) == -1 || !(src = rec_load (v, s))) {
        err_prefix ("from");
        return -1;
      }
      *from = s;
    } else if (strcmp (key, "ro") == 0) {
      if (*s && parse_bool (s, &b) == -1) {
        err_set_plain (EINVAL, "bad ro '%s' (empty, true or false)", s);
        return -1;
      }
      if (!*s)
        b = true;
      json_object_set_new (rec, "ReadOnly", json_boolean (b));
    } else if (strcmp (key, "fs") == 0) {
      if (strcmp (s, "ext4") != 0) {
        err_set_plain (EINVAL, "unsupported fs '%s' (only ext4)", s);
        return -1;
      }
    } else {
      err_set_plain (EINVAL, "unknown volume option '%s' (known: %s)", key, vol_known_opts);
      return -1;
    }
    json_object_set_new (rec, key, json_string (s));
  }
  return 0;
}

int
vol_create (struct vol_store *v, const char *name, const json_t *opts)
{
  CLEANUP_JSON_DECREF json_t *rec = json_object ();
  CLEANUP_JSON_DECREF json_t *old = NULL;
  CLEANUP_FREE char *p = NULL;
  struct layer_info info;
  const char *from;
  uint64_t size;
  int r = -1;

  if (vol_check_name (name) == -1)
    return -1;
  pthread_mutex_lock (&v->lock);
  if ((old = rec_load (v, name))) {
    err_set_plain (EEXIST, "volume %s exists", name);
    goto out;
  }
  err_clear ();
  if (!rec || parse_opts (v, opts, rec, &size, &from) == -1)
    goto out;
  if (from && !size && layer_info (v->st, from, &info) == 0)
    size = info.virtual_size;
  if (!size)
    size = VOL_DEFAULT_SIZE;
  size = (size + LAYER_BLOCK_SIZE - 1) / LAYER_BLOCK_SIZE * LAYER_BLOCK_SIZE;
  if (from && layer_info (v->st, from, &info) == 0 && size < info.virtual_size) {
    err_set_plain (EINVAL, "size %llu is smaller than volume %s", (unsigned long long)size, from);
    goto out;
  }
  if (mm_create (v->mounts, name, from, size) == -1)
    goto out;
  json_object_set_new (rec, "Name", json_string (name));
  json_object_set_new (rec, "CreatedAt", json_integer ((json_int_t)time (NULL)));
  json_object_set_new (rec, "SizeBytes", json_integer ((json_int_t)size));
  json_object_set_new (rec, "MountIDs", json_array ());
  if (rec_save (v, name, rec) == -1) {
    layer_remove (v->st, name);
    goto out;
  }
  log_info ("volume %s created (%llu bytes%s%s)", name, (unsigned long long)size,
            from ? ", from " : "", from ? from : "");
  r = 0;
out:
  pthread_mutex_unlock (&v->lock);
  return r;
}

int
vol_remove (struct vol_store *v, const char *name)
{
  CLEANUP_JSON_DECREF json_t *rec = NULL;
  CLEANUP_FREE char *p = NULL;
  int r = -1;

  if (vol_check_name (name) == -1)
    return -1;
  pthread_mutex_lock (&v->lock);
  if (!(rec = rec_load (v, name)))
    goto out;
  /* dockerd sends no Unmount before Remove, and refuses Remove of a volume a container
   * uses: drop the references of mount ids left from dead containers. */
  size_t n = json_array_size (json_object_get (rec, "MountIDs"));
  for (size_t i = 0; i < n; i++)
    mm_put (v->mounts, name, false);
  if (mm_remove (v->mounts, name) == -1 && layer_exists (v->st, name))
    goto out;
  if (!(p = rec_path (v, name)) || (unlink (p) == -1 && errno != ENOENT)) {
    err_set (errno, "unlink %s", p ? p : name);
    goto out;
  }
  fsync_dir_of (p);
  log_info ("volume %s removed", name);
  r = 0;
out:
  pthread_mutex_unlock (&v->lock);
  return r;
}

/* The volume's data directory (its filesystem's rootfs/), mounted or not. */
static char *
data_path (struct vol_store *v, const char *name)
{
  return xasprintf ("%s/store/mnt/%s/rootfs", v->home, name);
}

static bool
has_id (const json_t *ids, const char *id)
{
  size_t i;
  json_t *e;

  json_array_foreach (ids, i, e) if (json_is_string (e) &&
                                     strcmp (json_string_value (e), id) == 0) return true;
  return false;
}

char *
vol_mount (struct vol_store *v, const char *name, const char *mount_id)
{
  CLEANUP_JSON_DECREF json_t *rec = NULL;
  char *path = NULL;
  json_t *ids;

  if (vol_check_name (name) == -1)
    return NULL;
  pthread_mutex_lock (&v->lock);
  if (!(rec = rec_load (v, name)))
    goto out;
  ids = json_object_get (rec, "MountIDs");
  if (!json_is_array (ids))
    json_object_set_new (rec, "MountIDs", ids = json_array ());
  if (mount_id && *mount_id && has_id (ids, mount_id)) {
    path = data_path (v, name); /* a repeated Mount: no second reference */
    goto out;
  }
  if (!(path = mm_get (v->mounts, name, false)))
    goto out;
  /* ro: the data directory is a bind mount of the filesystem's rootfs/; make it read-only */
  if (json_is_true (json_object_get (rec, "ReadOnly")) &&
      mount (NULL, path, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) == -1) {
    err_set (errno, "volume %s: read-only remount of %s", name, path);
    mm_put (v->mounts, name, false);
    free (path);
    path = NULL;
    goto out;
  }
  json_array_append_new (ids, json_string (mount_id ? mount_id : ""));
  if (rec_save (v, name, rec) == -1) {
    mm_put (v->mounts, name, false);
    free (path);
    path = NULL;
  }
out:
  pthread_mutex_unlock (&v->lock);
  return path;
}

int
vol_unmount (struct vol_store *v, const char *name, const char *mount_id)
{
  CLEANUP_JSON_DECREF json_t *rec = NULL;
  json_t *ids, *e;
  size_t i;
  int r = -1;

  if (vol_check_name (name) == -1)
    return -1;
  pthread_mutex_lock (&v->lock);
  if (!(rec = rec_load (v, name)))
    goto out;
  ids = json_object_get (rec, "MountIDs");
  r = 0;
  json_array_foreach (ids, i, e)
  {
    if (!json_is_string (e) || strcmp (json_string_value (e), mount_id ? mount_id : "") != 0)
      continue;
    json_array_remove (ids, i);
    if (rec_save (v, name, rec) == -1 || mm_put (v->mounts, name, false) == -1)
      r = -1;
    goto out;
  }
  log_debug ("vol", "unmount %s: unknown id %s (ignored)", name, mount_id ? mount_id : "");
out:
  pthread_mutex_unlock (&v->lock);
  return r;
}

/* The mount point when VOLUME is mounted, "" otherwise (moby's Mountpoint). */
static char *
mountpoint (struct vol_store *v, const char *name)
{
  return mm_count (v->mounts, name) ? data_path (v, name) : strdup ("");
}

char *
vol_path (struct vol_store *v, const char *name)
{
  CLEANUP_JSON_DECREF json_t *rec = NULL;
  char *p = NULL;

  if (vol_check_name (name) == -1)
    return NULL;
  pthread_mutex_lock (&v->lock);
  if ((rec = rec_load (v, name)))
    p = mountpoint (v, name);
  pthread_mutex_unlock (&v->lock);
  return p;
}

/* {"Name","Mountpoint","CreatedAt","Status":{options, size, bytes held}} of one volume. */
static json_t *
describe (struct vol_store *v, const char *name, json_t *rec)
{
  CLEANUP_FREE char *mp = mountpoint (v, name);
  json_t *status = json_object ();
  struct layer_info info;
  const char *key;
  json_t *val;
  char ts[32];
  time_t t = (time_t)json_integer_value (json_object_get (rec, "CreatedAt"));
  struct tm tm;

  json_object_foreach (rec, key, val)
  {
    if (strcmp (key, "Name") && strcmp (key, "CreatedAt") && strcmp (key, "MountIDs"))
      json_object_set (status, key, val);
  }
  if (layer_info (v->st, name, &info) == 0)
    json_object_set_new (status, "DiskBytes", json_integer ((json_int_t)info.disk_bytes));
  json_object_set_new (status, "Mounts", json_integer (mm_count (v->mounts, name)));
  gmtime_r (&t, &tm);
  strftime (ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return json_pack ("{s:s, s:s, s:s, s:o}", "Name", name, "Mountpoint", mp ? mp : "", "CreatedAt",
                    ts, "Status", status);
}

json_t *
vol_get (struct vol_store *v, const char *name)
{
  CLEANUP_JSON_DECREF json_t *rec = NULL;
  json_t *d = NULL;

  if (vol_check_name (name) == -1)
    return NULL;
  pthread_mutex_lock (&v->lock);
  if ((rec = rec_load (v, name)))
    d = describe (v, name, rec);
  pthread_mutex_unlock (&v->lock);
  return d;
}

json_t *
vol_list (struct vol_store *v)
{
  CLEANUP_JSON_DECREF json_t *all = NULL;
  json_t *arr = json_array (), *rec;
  const char *name;

  pthread_mutex_lock (&v->lock);
  all = list_records (v);
  json_object_foreach (all, name, rec) json_array_append_new (arr, describe (v, name, rec));
  pthread_mutex_unlock (&v->lock);
  if (!all) {
    json_decref (arr);
    return NULL;
  }
  return arr;
}

int
vol_export_start (struct vol_store *v, const char *spec, struct mm_metrics *m,
                  const struct nbds_opts *nbd)
{
  if (!(v->export = mm_export_start (v->st, spec, m, nbd))) {
    err_prefix ("volumes");
    return -1;
  }
  return 0;
}
