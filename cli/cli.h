/* cli.h: the subcommands of the buse binary (one file each in cli/) and their defaults. */
#ifndef BUSE_CLI_H
#define BUSE_CLI_H

#include "archive/archive.h"
#include "common/common.h"
#include "graphdriver/graphdriver.h"
#include "layers/layers.h"
#include "mounts/mounts.h"
#include "snapshotter/snapshotter.h"

/* Subcommands: int cmd_X (int argc, char **argv), argv[0] is the subcommand name.
 * Return the process exit status.  */
int cmd_nbd (int argc, char **argv);         /* nbd.c */
int cmd_layer (int argc, char **argv);       /* layer.c: layer create|rm */
int cmd_ls (int argc, char **argv);          /* layer.c */
int cmd_inspect (int argc, char **argv);     /* layer.c */
int cmd_attach (int argc, char **argv);      /* attach.c */
int cmd_serve (int argc, char **argv);       /* serve.c */
int cmd_snapshotter (int argc, char **argv); /* snapshotter.c */
int cmd_du (int argc, char **argv);          /* ops.c */
int cmd_export (int argc, char **argv);      /* ops.c */
int cmd_gc (int argc, char **argv);          /* ops.c */
int cmd_fsck (int argc, char **argv);        /* fsck.c */
int cmd_volume (int argc, char **argv);      /* volume.c: volume ls|inspect|create|snapshot|rm */

/* util.c: opts_parse for a command whose operands follow: *ARGC becomes 1 + the number of
 * operands (now ARGV[1..]).  1 to go on, -1 (exit 2: the error was printed) or -2 (help was
 * shown, exit 0). */
int cli_parse (const struct opt_cmd *cmd, void *obj, int *argc, char **argv);
/* Print "buse CMD: <last error>" on stderr; returns 1 (the exit status). */
int cli_fail (const char *cmd);

/* env.c: the environment variables, read once by main () before the command runs; the
 * commands copy them into the option structs of what they create. */
struct cli_env {
  bool buffered_io;              /* BUSE_DIRECT_IO=off */
  unsigned handshake_timeout_ms; /* BUSE_NBD_HANDSHAKE_TIMEOUT=SECONDS (0: unset or bad) */
  bool nbd_ioctl;                /* BUSE_NBD_IOCTL=1 */
  bool kdev_no_reconfigure;      /* BUSE_KDEV_NO_RECONFIGURE=1 */
  const char *losetup;           /* BUSE_LOSETUP=COMMAND (NULL: unset or empty) */
  bool fuse_helper;              /* BUSE_FUSE_HELPER=nbdfuse */
  enum ar_changes_mode changes;  /* BUSE_CHANGES=naive|verify */
  bool no_commit_clone;          /* BUSE_COMMIT_CLONE=off */
};
void cli_env_read (struct cli_env *e);
const struct cli_env *cli_env (void); /* main.c: what main () read */
void cli_env_store (struct layer_store_opts *o);
void cli_env_nbd (struct nbds_opts *o);
void cli_env_kdev (struct kdev_opts *o);
void cli_env_daemon (struct gd_daemon_opts *o);

/* Default home for CLI commands when --home is not given. */
#define CLI_DEFAULT_HOME   "/var/lib/docker/buse"
#define CLI_DEFAULT_SOCKET "/run/docker/plugins/buse.sock"

#endif
