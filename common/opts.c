/* opts.c: the command-line parser of every buse command.  A command is a table of options
 * {long name, letter, kind, field offset, metavar, help}; one walk over argv fills the
 * command's struct, keeps the operands, and --help is printed from the same table, so a
 * usage text cannot drift from what is parsed.  Written here rather than on getopt_long so
 * that every error names the command and the option ("buse attach: --mode: ...") and the
 * parser keeps no global state (optind) between commands or unit tests. */
#include <stdio.h>
#include <string.h>

#include "common/common.h"

/* A usage error: the message alone, without strerror's "Invalid argument". */
static void ATTR_PRINTF (1, 2) bad (const char *fmt, ...)
{
  char msg[512];
  va_list ap;

  va_start (ap, fmt);
  vsnprintf (msg, sizeof msg, fmt, ap);
  va_end (ap);
  err_set (0, "%s", msg);
  errno = EINVAL;
}

static bool
is_help_letter (const struct opt_cmd *cmd, char c)
{
  for (const struct opt *o = cmd->opts; o->name; o++)
    if (o->letter == 'h')
      return false;
  return c == 'h';
}

/* The option named NAME (LEN bytes): an exact match, else a unique prefix. */
static const struct opt *
find_long (const struct opt_cmd *cmd, const char *name, size_t len)
{
  const struct opt *hit = NULL;
  int n = 0;

  for (const struct opt *o = cmd->opts; o->name; o++) {
    if (strncmp (o->name, name, len) != 0)
      continue;
    if (o->name[len] == '\0')
      return o;
    hit = o, n++;
  }
  if (n > 1) {
    bad ("%s: option '--%.*s' is ambiguous", cmd->name, (int)len, name);
    return NULL;
  }
  if (n == 0)
    bad ("%s: unknown option '--%.*s'", cmd->name, (int)len, name);
  return hit;
}

static const struct opt *
find_short (const struct opt_cmd *cmd, char c)
{
  for (const struct opt *o = cmd->opts; o->name; o++)
    if (o->letter == c)
      return o;
  bad ("%s: unknown option '-%c'", cmd->name, c);
  return NULL;
}

static int
set_uint (const char *arg, unsigned *out)
{
  char *end;
  unsigned long v;

  errno = 0;
  v = strtoul (arg, &end, 10);
  if (errno || end == arg || *end || arg[0] == '-' || v > 0xffffffffUL) {
    bad ("expected a number, not '%s'", arg);
    return -1;
  }
  *out = (unsigned)v;
  return 0;
}

static int
check_range (const struct opt *o, uint64_t v, const char *arg)
{
  if (o->max && (v < o->min || v > o->max)) {
    bad ("'%s' is out of range (%llu to %llu)", arg, (unsigned long long)o->min,
         (unsigned long long)o->max);
    return -1;
  }
  return 0;
}

/* Store ARG (NULL for a flag) into OBJ's field; -1 + err without the option's name. */
static int
store (const struct opt *o, void *obj, const char *arg)
{
  char *field = (char *)obj + o->offset;

  switch (o->kind) {
  case OPT_FLAG: *(bool *)field = true; return 0;
  case OPT_STRING: *(const char **)field = arg; return 0;
  case OPT_SIZE:
    if (parse_size (arg, (uint64_t *)field) == -1)
      return -1;
    return check_range (o, *(uint64_t *)field, arg);
  case OPT_UINT:
    if (set_uint (arg, (unsigned *)field) == -1)
      return -1;
    return check_range (o, *(unsigned *)field, arg);
  case OPT_LIST: {
    struct opt_list *l = (struct opt_list *)field;
    const char **v = realloc (l->v, (l->n + 1) * sizeof *v);
    if (!v) {
      err_set (errno, "realloc");
      return -1;
    }
    v[l->n++] = arg, l->v = v;
    return 0;
  }
  case OPT_CALL: return o->set (field, arg);
  }
  return -1;
}

static int
apply (const struct opt_cmd *cmd, const struct opt *o, void *obj, const char *arg)
{
  if (store (o, obj, arg) == -1) {
    err_prefix ("%s: --%s", cmd->name, o->name);
    return -1;
  }
  return 0;
}

static int
missing (const struct opt_cmd *cmd, const struct opt *o)
{
  bad ("%s: --%s: missing argument %s", cmd->name, o->name, o->metavar ? o->metavar : "");
  return -1;
}

/* "--name", "--name=value", "--name value"; *i is advanced past a separate argument.
 * 1 when it was --help. */
static int
parse_long (const struct opt_cmd *cmd, void *obj, int argc, char **argv, int *i)
{
  const char *name = argv[*i] + 2, *eq = strchr (name, '=');
  size_t len = eq ? (size_t)(eq - name) : strlen (name);
  const struct opt *o;

  if (len == 4 && strncmp (name, "help", 4) == 0 && !eq)
    return 1;
  if (!(o = find_long (cmd, name, len)))
    return -1;
  if (o->kind == OPT_FLAG) {
    if (eq) {
      bad ("%s: --%s: takes no argument", cmd->name, o->name);
      return -1;
    }
    return apply (cmd, o, obj, NULL);
  }
  if (eq)
    return apply (cmd, o, obj, eq + 1);
  if (*i + 1 >= argc)
    return missing (cmd, o);
  return apply (cmd, o, obj, argv[++*i]);
}

/* "-x", "-xyz" (flags), "-xVALUE", "-x VALUE".  1 when it was -h. */
static int
parse_short (const struct opt_cmd *cmd, void *obj, int argc, char **argv, int *i)
{
  for (const char *p = argv[*i] + 1; *p; p++) {
    const struct opt *o;
    if (is_help_letter (cmd, *p))
      return 1;
    if (!(o = find_short (cmd, *p)))
      return -1;
    if (o->kind == OPT_FLAG) {
      if (apply (cmd, o, obj, NULL) == -1)
        return -1;
      continue;
    }
    if (p[1])
      return apply (cmd, o, obj, p + 1);
    if (*i + 1 >= argc)
      return missing (cmd, o);
    return apply (cmd, o, obj, argv[++*i]);
  }
  return 0;
}

int
opts_parse (const struct opt_cmd *cmd, void *obj, int argc, char **argv)
{
  CLEANUP_FREE char **ops = calloc (argc > 0 ? argc : 1, sizeof *ops);
  int n = 0, r = 0;

  if (!ops) {
    err_set (errno, "calloc");
    return -1;
  }
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp (a, "--") == 0) {
      while (++i < argc)
        ops[n++] = argv[i];
      break;
    }
    if (a[0] != '-' || a[1] == '\0') { /* an operand; "-" is one too */
      ops[n++] = argv[i];
      if (cmd->stop_at_operand) {
        while (++i < argc)
          ops[n++] = argv[i];
        break;
      }
      continue;
    }
    r = a[1] == '-' ? parse_long (cmd, obj, argc, argv, &i)
                    : parse_short (cmd, obj, argc, argv, &i);
    if (r == -1)
      return -1;
    if (r == 1) {
      opts_usage (cmd, stdout);
      return OPTS_HELP;
    }
  }
  memcpy (argv + 1, ops, n * sizeof *ops);
  return n;
}

int
opts_exit (const struct opt_cmd *cmd, int r)
{
  if (r == OPTS_HELP)
    return 0;
  fprintf (stderr, "%s\n(`%s --help` lists the options)\n", err_get (), cmd->name);
  return 2;
}

/* "-r, --read-only", "    --home DIR" into BUF. */
static const char *
opt_label (const struct opt *o, char *buf, size_t len)
{
  snprintf (buf, len, "%c%c%c --%s%s%s", o->letter ? '-' : ' ', o->letter ? o->letter : ' ',
            o->letter ? ',' : ' ', o->name, o->metavar ? " " : "", o->metavar ? o->metavar : "");
  return buf;
}

/* TEXT from column COL on, wrapped at spaces before column 80 onto lines indented to COL. */
static void
print_wrapped (FILE *fp, const char *text, int col)
{
  int room = MAX (80 - col, 30);

  while ((int)strlen (text) > room) {
    int cut = room;
    while (cut > 0 && text[cut] != ' ')
      cut--;
    if (cut == 0)
      break;
    fprintf (fp, "%.*s\n%*s", cut, text, col, "");
    text += cut + 1;
  }
  fprintf (fp, "%s\n", text);
}

void
opts_usage (const struct opt_cmd *cmd, FILE *fp)
{
  char buf[128];
  int w = 10;

  fprintf (fp, "usage: %s %s\n", cmd->name, cmd->synopsis);
  if (cmd->about)
    fprintf (fp, "\n%s\n", cmd->about);
  for (const struct opt *o = cmd->opts; o->name; o++)
    w = MAX (w, (int)strlen (opt_label (o, buf, sizeof buf)));
  w = MIN (w, 30);
  fprintf (fp, "\noptions:\n");
  for (const struct opt *o = cmd->opts; o->name; o++) {
    int len = (int)strlen (opt_label (o, buf, sizeof buf));
    if (len > w) /* a long label: its help starts on the next line */
      fprintf (fp, "  %s\n%*s", buf, w + 4, "");
    else
      fprintf (fp, "  %-*s  ", w, buf);
    print_wrapped (fp, o->help, w + 4);
  }
  fprintf (fp, "  %-*s  %s\n", w, is_help_letter (cmd, 'h') ? "-h, --help" : "    --help",
           "this help");
  if (cmd->epilog)
    cmd->epilog (fp);
}

void
opts_free (const struct opt_cmd *cmd, void *obj)
{
  for (const struct opt *o = cmd->opts; o->name; o++)
    if (o->kind == OPT_LIST) {
      struct opt_list *l = (struct opt_list *)((char *)obj + o->offset);
      free (l->v);
      l->v = NULL, l->n = 0;
    }
}
