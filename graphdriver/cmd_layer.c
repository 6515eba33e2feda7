/* cmd_layer.c: placeholder until the subcommand is built. */
#include <stdio.h>

#include "graphdriver/gd.h"

int
cmd_layer (int argc, char **argv)
{
  (void)argc;
  fprintf (stderr, "buse %s: not built yet\n", argv[0]);
  return 2;
}

int
cmd_ls (int argc, char **argv)
{
  (void)argc;
  fprintf (stderr, "buse %s: not built yet\n", argv[0]);
  return 2;
}

int
cmd_inspect (int argc, char **argv)
{
  (void)argc;
  fprintf (stderr, "buse %s: not built yet\n", argv[0]);
  return 2;
}
