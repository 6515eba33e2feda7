/* cli.h: the subcommands of the buse binary (one file each in cli/) and their defaults. */
#ifndef BUSE_CLI_H
#define BUSE_CLI_H

#include "archive/archive.h"
#include "common/common.h"
#include "graphdriver/graphdriver.h"
#include "layers/layers.h"
#include "mounts/mounts.h"

/* Subcommands: int cmd_X (int argc, char **argv), argv[0] is the subcommand name.
 * Return the process exit status.  */
int cmd_nbd (int argc, char **argv);     /* nbd.c */
int cmd_layer (int argc, char **argv);   /* layer.c: layer create|rm */
int cmd_ls (int argc, char **argv);      /* layer.c */
int cmd_inspect (int argc, char **argv); /* layer.c */
int cmd_attach (int argc, char **argv);  /* attach.c */
int cmd_serve (int argc, char **argv);   /* serve.c */
int cmd_du (int argc, char **argv);      /* ops.c */
int cmd_export (int argc, char **argv);  /* ops.c */
int cmd_gc (int argc, char **argv);      /* ops.c */
int cmd_fsck (int argc, char **argv);    /* fsck.c */

/* Default home for CLI commands when --home is not given. */
#define CLI_DEFAULT_HOME   "/var/lib/docker/buse"
#define CLI_DEFAULT_SOCKET "/run/docker/plugins/buse.sock"

#endif
