/* gd.h: graphdriver/ internals — the subcommands of the buse binary, the glue that offers
 * a layer stack to the NBD server, the HTTP API and the mount manager. */
#ifndef BUSE_GD_H
#define BUSE_GD_H

#include "common/common.h"
#include "layers/layers.h"
#include "nbd/nbds.h"

/* Subcommands: int cmd_X (int argc, char **argv), argv[0] is the subcommand name.
 * Return the process exit status.  Each lives in graphdriver/cmd_<name>.c. */
int cmd_nbd (int argc, char **argv);     /* cmd_nbd.c */
int cmd_layer (int argc, char **argv);   /* cmd_layer.c: layer create|rm */
int cmd_ls (int argc, char **argv);      /* cmd_layer.c */
int cmd_inspect (int argc, char **argv); /* cmd_layer.c */
int cmd_attach (int argc, char **argv);  /* cmd_attach.c */
int cmd_serve (int argc, char **argv);   /* cmd_serve.c */

/* backend.c — a layer stack as an NBD backend (handle: struct layer_stack *). */
extern const struct nbds_backend gd_layer_backend;
/* A resolver that opens any layer of ST by id as an export (read-only when READ_ONLY or the
 * layer is not writable).  R is filled in; ST must outlive the server. */
void gd_layer_resolver (struct nbds_resolver *r, struct layer_store *st, bool read_only);

/* Default home for CLI commands when --home is not given. */
#define GD_DEFAULT_HOME   "/var/lib/docker/buse"
#define GD_DEFAULT_SOCKET "/run/docker/plugins/buse.sock"

#endif
