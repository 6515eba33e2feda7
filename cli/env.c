/* env.c: the environment variables of buse, read in one place.  They are switches for tests,
 * comparisons and odd hosts (the README names them); main.c reads them once, before the
 * command runs, and the commands pass the values down through the option structs of the
 * modules (layer_store_opts, nbds_opts, kdev_opts, gd_daemon_opts), so no module below cli/
 * looks at the environment and every front end can set the same options. */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

#define HANDSHAKE_DEFAULT_S 60 /* nbds_new's default, named in the warning */

/* BUSE_NBD_HANDSHAKE_TIMEOUT: seconds, decimals allowed; 0 (the default) when unset or bad. */
static unsigned
handshake_timeout_ms (const char *s)
{
  char *end;
  double v;

  if (s == NULL || *s == '\0')
    return 0;
  errno = 0;
  v = strtod (s, &end);
  if (errno || *end || !(v >= 0.001 && v <= 86400)) {
    log_warn ("nbd: BUSE_NBD_HANDSHAKE_TIMEOUT=%s: not a number of seconds; using %u", s,
              HANDSHAKE_DEFAULT_S);
    return 0;
  }
  return (unsigned)(v * 1000);
}

static bool
is (const char *name, const char *value)
{
  const char *e = getenv (name);
  return e && strcmp (e, value) == 0;
}

void
cli_env_read (struct cli_env *e)
{
  const char *losetup = getenv ("BUSE_LOSETUP");

  memset (e, 0, sizeof *e);
  e->buffered_io = is ("BUSE_DIRECT_IO", "off");
  e->handshake_timeout_ms = handshake_timeout_ms (getenv ("BUSE_NBD_HANDSHAKE_TIMEOUT"));
  e->nbd_ioctl = is ("BUSE_NBD_IOCTL", "1");
  e->kdev_no_reconfigure = (getenv ("BUSE_KDEV_NO_RECONFIGURE") ?: "")[0] == '1';
  e->losetup = losetup && *losetup ? losetup : NULL;
  e->fuse_helper = is ("BUSE_FUSE_HELPER", "nbdfuse");
  e->changes = is ("BUSE_CHANGES", "naive")    ? AR_CHANGES_NAIVE
               : is ("BUSE_CHANGES", "verify") ? AR_CHANGES_VERIFY
                                               : AR_CHANGES_GUIDED;
  e->no_commit_clone = is ("BUSE_COMMIT_CLONE", "off");
}

void
cli_env_store (struct layer_store_opts *o)
{
  o->buffered_io = cli_env ()->buffered_io;
}

void
cli_env_nbd (struct nbds_opts *o)
{
  o->handshake_timeout_ms = cli_env ()->handshake_timeout_ms;
}

void
cli_env_kdev (struct kdev_opts *o)
{
  const struct cli_env *e = cli_env ();

  o->force_ioctl = e->nbd_ioctl;
  o->no_reconfigure = e->kdev_no_reconfigure;
  o->losetup = e->losetup;
  o->fuse_helper = e->fuse_helper;
}

void
cli_env_daemon (struct gd_daemon_opts *o)
{
  const struct cli_env *e = cli_env ();

  o->buffered_io = e->buffered_io;
  cli_env_nbd (&o->nbd);
  cli_env_kdev (&o->kdev);
  o->changes = e->changes;
  o->no_clone = e->no_commit_clone;
}
