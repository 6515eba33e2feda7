/* main.c: the buse binary — global options, then one subcommand from a table. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static int cmd_version (int argc, char **argv);
static int cmd_help (int argc, char **argv);

static const struct command {
  const char *name;
  int (*fn) (int argc, char **argv);
  const char *summary;
} commands[] = {
  { "serve", cmd_serve, "answer dockerd's graphdriver plugin API (the daemon)" },
  { "snapshotter", cmd_snapshotter, "answer containerd's snapshots API (a proxy snapshotter)" },
  { "nbd", cmd_nbd, "serve files or layers as NBD exports" },
  { "layer", cmd_layer, "create or remove layers in a store (layer create|rm)" },
  { "ls", cmd_ls, "list the layers of a store" },
  { "inspect", cmd_inspect, "show one layer as JSON" },
  { "attach", cmd_attach, "attach a layer as a block device, in the foreground" },
  { "du", cmd_du, "disk space per layer, shared and owned" },
  { "export", cmd_export, "write a layer's stack as a sparse raw image" },
  { "fsck", cmd_fsck, "check a store's diffs, maps, metadata and filesystems" },
  { "gc", cmd_gc, "remove diffs and mount dirs no layer owns" },
  { "version", cmd_version, "print the version" },
  { "help", cmd_help, "list the commands" },
};

/* The environment (cli/env.c), read once at start. */
static struct cli_env env;

const struct cli_env *
cli_env (void)
{
  return &env;
}

static void
list_commands (FILE *fp)
{
  fprintf (fp, "\ncommands:\n");
  for (size_t i = 0; i < ARRAY_SIZE (commands); i++)
    fprintf (fp, "  %-9s %s\n", commands[i].name, commands[i].summary);
  fprintf (fp, "\n`buse COMMAND --help` describes a command's options.\n");
}

struct global_args {
  bool verbose, version;
};

static int
set_debug (void *field, const char *areas)
{
  (void)field;
  return log_set_debug (areas);
}

static const struct opt global_opts[] = {
  { "debug", 0, OPT_CALL, 0, "AREAS",
    .help = "debug logs for areas: nbd,layers,kdev,gd,http,archive,snap,vol or all",
    .set = set_debug },
  { "verbose", 'v', OPT_FLAG, offsetof (struct global_args, verbose), NULL,
    .help = "info logs (default: warnings and errors)" },
  { "version", 'V', OPT_FLAG, offsetof (struct global_args, version), NULL,
    .help = "print the version" },
  { NULL },
};

static const struct opt_cmd buse_cmd = {
  .name = "buse",
  .synopsis = "[--debug=AREAS] [-v] COMMAND [ARGS]",
  .opts = global_opts,
  .stop_at_operand = true,
  .epilog = list_commands,
};

static int
cmd_version (int argc, char **argv)
{
  (void)argc, (void)argv;
  printf ("buse %s\n", BUSE_VERSION);
  return 0;
}

static int
cmd_help (int argc, char **argv)
{
  (void)argc, (void)argv;
  opts_usage (&buse_cmd, stdout);
  return 0;
}

int
main (int argc, char **argv)
{
  struct global_args g = { 0 };
  int n = opts_parse (&buse_cmd, &g, argc, argv);

  if (n < 0)
    return opts_exit (&buse_cmd, n);
  if (g.verbose)
    log_set_level (LOG_LEVEL_INFO);
  if (g.version)
    return cmd_version (0, NULL);
  if (n == 0) {
    opts_usage (&buse_cmd, stderr);
    return 2;
  }
  cli_env_read (&env);
  for (size_t i = 0; i < ARRAY_SIZE (commands); i++)
    if (strcmp (argv[1], commands[i].name) == 0)
      return commands[i].fn (n, argv + 1);
  fprintf (stderr, "buse: unknown command '%s'\n", argv[1]);
  opts_usage (&buse_cmd, stderr);
  return 2;
}
