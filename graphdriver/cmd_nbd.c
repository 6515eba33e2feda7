/* cmd_nbd.c: placeholder until the subcommand is built. */
#include <stdio.h>

#include "graphdriver/gd.h"

int
cmd_nbd (int argc, char **argv)
{
  (void)argc;
  fprintf (stderr, "buse %s: not built yet\n", argv[0]);
  return 2;
}
