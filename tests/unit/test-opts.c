/* test-opts.c: unit tests of common/opts.c — flags, strings, sizes, numbers, repeated options,
 * setters, operands in any order, errors that name the command and the option, and --help
 * generated from the table. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "common/common.h"

#include "tests/unit/check.h"

struct args {
  bool ro, all;
  const char *home, *tag_file;
  uint64_t size;
  unsigned n;
  struct opt_list tags;
  int mode;
};

static int
set_mode (void *field, const char *arg)
{
  if (strcmp (arg, "fast") && strcmp (arg, "slow")) {
    err_set (0, "expected fast|slow");
    return -1;
  }
  *(int *)field = arg[0] == 'f' ? 1 : 2;
  return 0;
}

#define A(f) offsetof (struct args, f)
static const struct opt table[] = {
  { "read-only", 'r', OPT_FLAG, A (ro), NULL, .help = "read-only exports" },
  { "all", 'a', OPT_FLAG, A (all), NULL, .help = "every layer" },
  { "home", 0, OPT_STRING, A (home), "DIR", .help = "the store" },
  { "size", 's', OPT_SIZE, A (size), "SIZE", .help = "virtual size" },
  { "workers", 0, OPT_UINT, A (n), "N", "worker threads", .min = 1, .max = 64 },
  { "tag", 't', OPT_LIST, A (tags), "TAG", .help = "a tag (repeatable)" },
  { "tag-file", 0, OPT_STRING, A (tag_file), "FILE", .help = "tags from FILE" },
  { "mode", 0, OPT_CALL, A (mode), "MODE", .help = "fast|slow", .set = set_mode },
  { NULL },
};
#undef A

static const struct opt_cmd cmd = {
  .name = "buse test",
  .synopsis = "[OPTIONS] NAME...",
  .about = "A command for the test.",
  .opts = table,
};

/* Parse a NULL-terminated list of arguments (copied: opts_parse reorders argv). */
static int
parse (struct args *a, char **argv, const char *const *in)
{
  int argc = 0;

  memset (a, 0, sizeof *a);
  while (in[argc]) {
    argv[argc] = (char *)in[argc];
    argc++;
  }
  argv[argc] = NULL;
  return opts_parse (&cmd, a, argc, argv);
}

static void
test_values (void)
{
  static const char *const in[] = { "test", "one",       "-r",  "--home", "/h",   "--size=64M",
                                    "two",  "--workers", "8",   "--mode", "slow", "-t",
                                    "x",    "--tag=y",   "-tz", "--",     "-a",   NULL };
  char *argv[32];
  struct args a;
  int n = parse (&a, argv, in);

  CHECK (n == 3);
  CHECK (n == 3 && !strcmp (argv[1], "one") && !strcmp (argv[2], "two") &&
         !strcmp (argv[3], "-a")); /* "--" ends options */
  CHECK (a.ro && !a.all);
  CHECK (a.home && !strcmp (a.home, "/h"));
  CHECK (a.size == 64u << 20);
  CHECK (a.n == 8);
  CHECK (a.mode == 2);
  CHECK (a.tags.n == 3);
  CHECK (a.tags.n == 3 && !strcmp (a.tags.v[0], "x") && !strcmp (a.tags.v[1], "y") &&
         !strcmp (a.tags.v[2], "z"));
  opts_free (&cmd, &a);
  CHECK (a.tags.v == NULL && a.tags.n == 0);
}

static void
test_short_and_prefix (void)
{
  static const char *const bundled[] = { "test", "-ra", "-s", "1k", "-", NULL };
  static const char *const prefix[] = { "test", "--read", "--wor=2", NULL };
  char *argv[16];
  struct args a;

  CHECK (parse (&a, argv, bundled) == 1 && !strcmp (argv[1], "-")); /* "-" is an operand */
  CHECK (a.ro && a.all && a.size == 1024);
  CHECK (parse (&a, argv, prefix) == 0 && a.ro && a.n == 2);
}

/* Parse IN, expect -1 and an error containing WANT. */
static void
check_error (const char *const *in, const char *want)
{
  char *argv[16];
  struct args a;
  int r = parse (&a, argv, in);

  CHECK (r == -1);
  if (!strstr (err_get (), want)) {
    fprintf (stderr, "error '%s' lacks '%s'\n", err_get (), want);
    failures++;
  }
  CHECK (opts_exit (&cmd, r) == 2);
  opts_free (&cmd, &a);
}

static void
test_errors (void)
{
  static const char *const unknown[] = { "test", "--no-such", NULL };
  static const char *const unknown_short[] = { "test", "-q", NULL };
  static const char *const missing[] = { "test", "x", "--home", NULL };
  static const char *const missing_short[] = { "test", "-s", NULL };
  static const char *const bad_size[] = { "test", "--size", "12q", NULL };
  static const char *const range[] = { "test", "--workers", "65", NULL };
  static const char *const number[] = { "test", "--workers", "8x", NULL };
  static const char *const flag_arg[] = { "test", "--all=yes", NULL };
  static const char *const setter[] = { "test", "--mode", "medium", NULL };
  static const char *const ambiguous[] = { "test", "--ta", "x", NULL };

  check_error (unknown, "buse test: unknown option '--no-such'");
  check_error (unknown_short, "buse test: unknown option '-q'");
  check_error (missing, "buse test: --home: missing argument DIR");
  check_error (missing_short, "buse test: --size: missing argument SIZE");
  check_error (bad_size, "buse test: --size: ");
  check_error (range, "buse test: --workers: '65' is out of range (1 to 64)");
  check_error (number, "buse test: --workers: expected a number");
  check_error (flag_arg, "buse test: --all: takes no argument");
  check_error (setter, "buse test: --mode: expected fast|slow");
  check_error (ambiguous, "buse test: option '--ta' is ambiguous");
}

static void
test_help (void)
{
  static const char *const in[] = { "test", "--home", "/h", "--help", "--no-such", NULL };
  static const char *const in_short[] = { "test", "-h", NULL };
  static const char *const want[] = {
    "usage: buse test [OPTIONS] NAME...\n",
    "A command for the test.",
    "  -r, --read-only",
    "read-only exports",
    "  -a, --all",
    "      --home DIR",
    "the store",
    "  -s, --size SIZE",
    "      --workers N",
    "  -t, --tag TAG",
    "a tag (repeatable)",
    "      --tag-file FILE",
    "      --mode MODE",
    "  -h, --help",
  };
  char *argv[16], buf[4096] = "";
  struct args a;
  FILE *saved = stdout;
  FILE *fp = fmemopen (buf, sizeof buf - 1, "w");
  int r, r2;

  CHECK (fp != NULL);
  if (!fp)
    return;
  stdout = fp; /* opts_parse prints --help to stdout */
  r = parse (&a, argv, in);
  r2 = parse (&a, argv, in_short);
  stdout = saved;
  fclose (fp);
  CHECK (r == OPTS_HELP); /* help wins over a later unknown option */
  CHECK (r2 == OPTS_HELP);
  CHECK (opts_exit (&cmd, r) == 0);
  for (size_t i = 0; i < ARRAY_SIZE (want); i++)
    if (!strstr (buf, want[i])) {
      fprintf (stderr, "--help lacks '%s':\n%s", want[i], buf);
      failures++;
    }
}

int
main (void)
{
  test_values ();
  test_short_and_prefix ();
  test_errors ();
  test_help ();
  if (!failures)
    printf ("test-opts: ok\n");
  return failures ? 1 : 0;
}
