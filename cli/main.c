/* main.c: the buse binary — global options, then one subcommand from a table. */
#include <getopt.h>
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
usage (FILE *fp)
{
  fprintf (fp, "usage: buse [--debug=AREAS] [-v] COMMAND [ARGS]\n\n"
               "  --debug=AREAS  debug logs for areas: nbd,layers,kdev,gd,http,archive or all\n"
               "  -v, --verbose  info logs (default: warnings and errors)\n\ncommands:\n");
  for (size_t i = 0; i < ARRAY_SIZE (commands); i++)
    fprintf (fp, "  %-9s %s\n", commands[i].name, commands[i].summary);
  fprintf (fp, "\n`buse COMMAND --help` describes a command's options.\n");
}

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
  usage (stdout);
  return 0;
}

int
main (int argc, char **argv)
{
  static const struct option opts[] = {
    { "debug", required_argument, NULL, 'd' },
    { "verbose", no_argument, NULL, 'v' },
    { "help", no_argument, NULL, 'h' },
    { "version", no_argument, NULL, 'V' },
    { NULL, 0, NULL, 0 },
  };
  int c;

  while ((c = getopt_long (argc, argv, "+vhV", opts, NULL)) != -1) {
    switch (c) {
    case 'd':
      if (log_set_debug (optarg) == -1) {
        fprintf (stderr, "buse: %s\n", err_get ());
        return 2;
      }
      break;
    case 'v': log_set_level (LOG_LEVEL_INFO); break;
    case 'h': usage (stdout); return 0;
    case 'V': return cmd_version (0, NULL);
    default: usage (stderr); return 2;
    }
  }
  if (optind >= argc) {
    usage (stderr);
    return 2;
  }
  cli_env_read (&env);
  for (size_t i = 0; i < ARRAY_SIZE (commands); i++)
    if (strcmp (argv[optind], commands[i].name) == 0) {
      char **sub = argv + optind;
      optind = 1; /* each command runs getopt_long from its own argv[0] */
      return commands[i].fn (argc - (int)(sub - argv), sub);
    }
  fprintf (stderr, "buse: unknown command '%s'\n", argv[optind]);
  usage (stderr);
  return 2;
}
