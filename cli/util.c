/* util.c: what several commands of cli/ share — option parsing with operands shifted down,
 * and the one-line error exit. */
#include <stdio.h>

#include "cli/cli.h"

int
cli_parse (const struct opt_cmd *cmd, void *obj, int *argc, char **argv)
{
  int n = opts_parse (cmd, obj, *argc, argv);

  if (n < 0)
    return opts_exit (cmd, n) == 0 ? -2 : -1;
  *argc = 1 + n;
  return 1;
}

int
cli_fail (const char *cmd)
{
  fprintf (stderr, "buse %s: %s\n", cmd, err_get ());
  return 1;
}
