/* config.c: options described by tables {key, type, offset, default, help}.  One parser
 * serves the CLI and GraphDriver.Init's "buse.key=value" strings, and an unknown key is an
 * error that names it. */
#include <stdio.h>
#include <string.h>

#include "common/common.h"

static const struct cfg_opt *
find (const struct cfg_opt *t, const char *key)
{
  if (strncmp (key, "buse.", 5) == 0)
    key += 5;
  for (; t->key; t++)
    if (strcmp (t->key, key) == 0)
      return t;
  return NULL;
}

static int
store (const struct cfg_opt *o, void *obj, const char *value)
{
  char *field = (char *)obj + o->offset;

  switch (o->type) {
  case CFG_STRING: {
    char *copy = strdup (value);
    if (!copy) {
      err_set (errno, "strdup");
      return -1;
    }
    free (*(char **)field);
    *(char **)field = copy;
    return 0;
  }
  case CFG_SIZE: return parse_size (value, (uint64_t *)field);
  case CFG_BOOL: return parse_bool (value, (bool *)field);
  case CFG_INT: {
    char *end;
    long v;
    errno = 0;
    v = strtol (value, &end, 10);
    if (errno || end == value || *end || v < 0 || v > 1 << 30) {
      err_set (EINVAL, "invalid number '%s'", value);
      return -1;
    }
    *(int *)field = (int)v;
    return 0;
  }
  }
  return -1;
}

int
cfg_set_kv (const struct cfg_opt *table, void *obj, const char *key, const char *value)
{
  const struct cfg_opt *o = find (table, key);

  if (!o) {
    err_set (EINVAL, "unknown option '%s'", key);
    return -1;
  }
  if (store (o, obj, value) == -1) {
    err_prefix ("option '%s'", key);
    return -1;
  }
  return 0;
}

int
cfg_set (const struct cfg_opt *table, void *obj, const char *kv)
{
  CLEANUP_FREE char *key = strdup (kv);
  char *eq;

  if (!key) {
    err_set (errno, "strdup");
    return -1;
  }
  eq = strchr (key, '=');
  if (!eq) {
    err_set (EINVAL, "option '%s' is not key=value", kv);
    return -1;
  }
  *eq = '\0';
  return cfg_set_kv (table, obj, key, eq + 1);
}

int
cfg_defaults (const struct cfg_opt *table, void *obj)
{
  for (const struct cfg_opt *o = table; o->key; o++)
    if (o->def && store (o, obj, o->def) == -1) {
      err_prefix ("default of '%s'", o->key);
      return -1;
    }
  return 0;
}

void
cfg_free (const struct cfg_opt *table, void *obj)
{
  for (const struct cfg_opt *o = table; o->key; o++)
    if (o->type == CFG_STRING) {
      char **f = (char **)((char *)obj + o->offset);
      free (*f);
      *f = NULL;
    }
}

void
cfg_print_help (const struct cfg_opt *table, const char *prefix, FILE *fp)
{
  for (const struct cfg_opt *o = table; o->key; o++)
    fprintf (fp, "  %s%-12s %s%s%s%s\n", prefix ? prefix : "", o->key, o->help,
             o->def ? " (default " : "", o->def ? o->def : "", o->def ? ")" : "");
}
