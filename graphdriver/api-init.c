/* api-init.c: the daemon's life — GraphDriver.Init and Cleanup, and restoring the last Init
 * when `buse serve` restarts.
 *
 * dockerd sends Init once, when it starts; if buse restarts under a running dockerd nobody
 * sends it again.  So a successful Init is saved as <state>/init.json and replayed at start.
 * Init opens the layer store, starts the in-process NBD server (every layer is an export,
 * found by the resolver) and the mount manager, which reaps what a crashed run left behind.
 * A read-write lock separates Init (exclusive) from every other call (shared). */
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

#include "graphdriver/internal.h"

static int init_locked (struct gd_daemon *d, const json_t *req);

struct gd_daemon *
gd_daemon_new (const char *state_dir, const char *default_home, const struct gd_daemon_opts *opts)
{
  struct gd_daemon *d = calloc (1, sizeof *d);

  if (!d || !(d->state_dir = strdup (state_dir)) ||
      (default_home && !(d->default_home = realpath (default_home, NULL)) &&
       !(d->default_home = strdup (default_home)))) {
    gd_daemon_free (d, false);
    err_set (ENOMEM, "daemon");
    return NULL;
  }
  if (opts)
    d->dopts = *opts;
  pthread_rwlock_init (&d->lock, NULL);
  if (mkdir_p (state_dir, 0700) == -1) {
    gd_daemon_free (d, false);
    return NULL;
  }
  return d;
}

/* Undo setup (mounts, server, store); the daemon is uninitialised after. */
static void
teardown (struct gd_daemon *d, bool forget)
{
  mm_export_stop (d->export);
  mm_lowspace_stop (d->lowspace);
  d->lowspace = NULL;
  mm_free (d->mounts, forget);
  nbds_free (d->srv);
  layer_store_close (d->st);
  gd_options_free (&d->opts);
  free (d->home);
  free (d->uid);
  free (d->gid);
  d->export = NULL;
  d->mounts = NULL;
  d->srv = NULL;
  d->st = NULL;
  d->home = NULL;
  d->uid = d->gid = NULL;
  memset (&d->maps, 0, sizeof d->maps);
  d->ready = false;
}

void
gd_daemon_free (struct gd_daemon *d, bool forget)
{
  if (!d)
    return;
  teardown (d, forget);
  pthread_rwlock_destroy (&d->lock);
  free (d->export_spec);
  free (d->default_home);
  free (d->state_dir);
  free (d);
}

/* `buse serve --home DIR` without a saved Init: the first call that needs one initialises
 * with DIR and default options (lazily, so that dockerd's own Init, which comes first, is
 * the one that formats the store with its options). */
static void
default_init (struct gd_daemon *d)
{
  CLEANUP_JSON_DECREF json_t *req = NULL;

  pthread_rwlock_wrlock (&d->lock);
  if (!d->ready && d->default_home) {
    req = json_pack ("{s:s, s:[]}", "Home", d->default_home, "Opts");
    if (!req || init_locked (d, req) == -1)
      log_error ("init with --home %s: %s", d->default_home, err_get ());
  }
  pthread_rwlock_unlock (&d->lock);
}

int
gd_daemon_enter (struct gd_daemon *d)
{
  pthread_rwlock_rdlock (&d->lock);
  if (!d->ready && d->default_home) {
    pthread_rwlock_unlock (&d->lock);
    default_init (d);
    pthread_rwlock_rdlock (&d->lock);
  }
  if (!d->ready) {
    pthread_rwlock_unlock (&d->lock);
    err_set (EINVAL, "buse is not initialised (GraphDriver.Init has not been called)");
    return -1;
  }
  return 0;
}

void
gd_daemon_leave (struct gd_daemon *d)
{
  pthread_rwlock_unlock (&d->lock);
}

/* UIDMaps/GIDMaps: [{"container_id","host_id","size"}] (null or missing: identity). */
static int
parse_idmap (const json_t *arr, const char *what, struct ar_idmap **out, size_t *n)
{
  size_t i;
  json_t *e;

  *out = NULL;
  *n = 0;
  if (!arr || json_is_null (arr) || json_array_size (arr) == 0)
    return 0;
  if (!json_is_array (arr) || !(*out = calloc (json_array_size (arr), sizeof **out))) {
    err_set (EINVAL, "%s is not a list", what);
    return -1;
  }
  json_array_foreach (arr, i, e)
  {
    json_int_t c = json_integer_value (json_object_get (e, "container_id"));
    json_int_t h = json_integer_value (json_object_get (e, "host_id"));
    json_int_t s = json_integer_value (json_object_get (e, "size"));
    if (!json_is_object (e) || c < 0 || h < 0 || s <= 0 || c > UINT32_MAX || h > UINT32_MAX ||
        s > UINT32_MAX) {
      err_set (EINVAL, "%s[%zu] is not {container_id, host_id, size}", what, i);
      return -1;
    }
    (*out)[i] = (struct ar_idmap){ (uint32_t)c, (uint32_t)h, (uint32_t)s };
  }
  *n = json_array_size (arr);
  return 0;
}

/* Validate the maps of REQ before anything running is torn down. */
static int
check_idmaps (const json_t *req)
{
  struct ar_idmap *u = NULL, *g = NULL;
  size_t nu, ng;
  int r = parse_idmap (json_object_get (req, "UIDMaps"), "UIDMaps", &u, &nu);

  if (r == 0)
    r = parse_idmap (json_object_get (req, "GIDMaps"), "GIDMaps", &g, &ng);
  free (u);
  free (g);
  return r;
}

static int
open_store (struct gd_daemon *d)
{
  struct layer_store_opts so;
  CLEANUP_FREE char *args = NULL;
  struct nbds_resolver r;

  if (gd_options_store (&d->opts, &so, &args) == -1)
    return -1;
  so.buffered_io = d->dopts.buffered_io;
  d->st = layer_store_open (d->home, &so);
  if (!d->st)
    return -1;
  d->srv = nbds_new (&d->dopts.nbd);
  if (!d->srv)
    return -1;
  mm_layer_resolver (&r, d->st, false);
  if (d->metrics && mm_metrics_wrap (d->metrics, &r) == -1)
    return -1;
  nbds_set_resolver (d->srv, &r);
  return 0;
}

/* Bring the daemon up from an Init request (already validated options in O, moved in). */
static int
setup (struct gd_daemon *d, const json_t *req, struct gd_options *o)
{
  const char *home = json_str (req, "Home");
  char real[PATH_MAX];
  enum kdev_mode mode;

  d->opts = *o;
  memset (o, 0, sizeof *o);
  if (parse_idmap (json_object_get (req, "UIDMaps"), "UIDMaps", &d->uid, &d->maps.n_uid) == -1 ||
      parse_idmap (json_object_get (req, "GIDMaps"), "GIDMaps", &d->gid, &d->maps.n_gid) == -1)
    goto err;
  d->maps.uid = d->uid;
  d->maps.gid = d->gid;
  if (mkdir_p (home, 0700) == -1 || !realpath (home, real) || !(d->home = strdup (real))) {
    err_set (errno, "home %s", home);
    goto err;
  }
  kdev_mode_parse (d->opts.attach, &mode);
  d->mode = kdev_mode_resolve (mode);
  if (open_store (d) == -1)
    goto err;
  struct mm_cfg mc = { .home = d->home,
                       .state_dir = d->state_dir,
                       .st = d->st,
                       .srv = d->srv,
                       .mode = d->mode,
                       .mountopt = d->opts.mountopt,
                       .kdev = d->dopts.kdev };
  d->mounts = mm_new (&mc);
  if (!d->mounts || !(d->lowspace = mm_lowspace_start (d->home, d->mounts, d->opts.min_free_space)))
    goto err;
  if (d->export_spec &&
      !(d->export = mm_export_start (d->st, d->export_spec, d->metrics, &d->dopts.nbd)))
    goto err;
  d->engine = (struct ar_engine){ .st = d->st,
                                  .mounts = d->mounts,
                                  .home = d->home,
                                  .maps = &d->maps,
                                  .changes = d->dopts.changes,
                                  .no_clone = d->dopts.no_clone };
  d->ready = true;
  log_info ("initialised: home %s, attach %s", d->home, kdev_mode_name (d->mode));
  return 0;
err:
  err_prefix ("Init");
  teardown (d, false);
  return -1;
}

/* The subset of an Init request worth saving and comparing. */
static json_t *
init_record (const json_t *req)
{
  json_t *rec = json_object ();
  const char *keys[] = { "Home", "Opts", "UIDMaps", "GIDMaps" };

  for (size_t i = 0; rec && i < ARRAY_SIZE (keys); i++) {
    json_t *v = json_object_get (req, keys[i]);
    json_object_set (rec, keys[i], v ? v : json_null ());
  }
  return rec;
}

/* Init with the daemon lock held exclusively. */
static int
init_locked (struct gd_daemon *d, const json_t *req)
{
  CLEANUP_JSON_DECREF json_t *rec = init_record (req);
  CLEANUP_FREE char *path = xasprintf ("%s/init.json", d->state_dir);
  CLEANUP_JSON_DECREF json_t *old = NULL;
  struct gd_options o = { 0 };
  const char *home = json_str (req, "Home");
  int r = -1;

  if (!home || home[0] != '/') {
    err_set (EINVAL, "Init: Home must be an absolute path");
    return -1;
  }
  if (!rec || !path || check_idmaps (req) == -1 ||
      gd_options_parse (&o, json_object_get (req, "Opts")) == -1) {
    err_prefix ("Init");
    gd_options_free (&o);
    return -1;
  }
  if (d->ready && (old = json_load_path (path)) && json_equal (old, rec)) {
    log_info ("Init again with the same home and options: nothing to do");
    mm_new_session (d->mounts);
    r = 0;
  } else if (d->ready && mm_active (d->mounts) > 0) {
    char real[PATH_MAX];
    if (realpath (home, real) && strcmp (real, d->home) == 0) {
      log_warn ("Init while %zu layers are mounted: options unchanged until they are put",
                mm_active (d->mounts));
      mm_new_session (d->mounts);
      r = 0;
    } else
      err_set (EBUSY, "Init: already initialised with home %s and %zu layers mounted", d->home,
               mm_active (d->mounts));
  } else {
    teardown (d, true); /* nothing is mounted: no reference worth keeping */
    r = setup (d, req, &o);
    if (r == 0 && json_save_path (path, rec) == -1)
      log_warn ("cannot save %s: %s", path, err_get ());
  }
  gd_options_free (&o);
  return r;
}

int
gd_api_init (struct gd_daemon *d, const json_t *req, json_t *reply)
{
  int r;

  (void)reply;
  pthread_rwlock_wrlock (&d->lock);
  r = init_locked (d, req);
  pthread_rwlock_unlock (&d->lock);
  return r;
}

int
gd_daemon_restore (struct gd_daemon *d)
{
  CLEANUP_FREE char *path = xasprintf ("%s/init.json", d->state_dir);
  CLEANUP_JSON_DECREF json_t *rec = NULL;
  struct gd_options o = { 0 };
  int r;

  if (!path)
    return -1;
  if (access (path, F_OK) == -1)
    return 0;
  rec = json_load_path (path);
  if (!rec || gd_options_parse (&o, json_object_get (rec, "Opts")) == -1) {
    gd_options_free (&o);
    return -1;
  }
  pthread_rwlock_wrlock (&d->lock);
  r = setup (d, rec, &o);
  pthread_rwlock_unlock (&d->lock);
  gd_options_free (&o);
  return r;
}

int
gd_api_cleanup (struct gd_daemon *d, const json_t *req, json_t *reply)
{
  (void)req, (void)reply;
  mm_cleanup (d->mounts);
  log_info ("Cleanup: every layer unmounted");
  return 0;
}
