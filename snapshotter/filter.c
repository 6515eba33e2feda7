/* filter.c: containerd's filter syntax for List, on snapshot records.
 *
 *   filters   := filter (OR between the list's entries; no entry or "" matches all)
 *   filter    := selector ("," selector)*            (AND)
 *   selector  := fieldpath [("==" | "!=" | "~=") value]   (no operator: the field is present)
 *   fieldpath := field ("." field)*      field, value := bare word or "quoted" / 'quoted'
 *
 * Fields: kind (active, view, committed), name, parent, labels.<key>.  "~=" is a POSIX
 * extended regular expression.  containerd checks what a Walk returns against its filter,
 * so this only has to be right, never clever. */
#include <regex.h>
#include <string.h>

#include "snapshotter/internal.h"

struct lex {
  const char *p;
};

static bool
bare_char (char c, bool value)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         (value && c != ',' && c != '"' && c != '\'' && c != ' ' && c != '\0' && c != '=' &&
          c != '!' && c != '~');
}

/* A bare word or a quoted string into BUF (LEN bytes); -1 + err. */
static int
word (struct lex *l, char *buf, size_t len, bool value)
{
  size_t n = 0;

  if (*l->p == '"' || *l->p == '\'') {
    char q = *l->p++;
    while (*l->p && *l->p != q) {
      if (*l->p == '\\' && l->p[1])
        l->p++;
      if (n + 1 < len)
        buf[n++] = *l->p;
      l->p++;
    }
    if (*l->p != q) {
      err_set (EINVAL, "filter: unterminated quote");
      return -1;
    }
    l->p++;
  } else {
    while (bare_char (*l->p, value)) {
      if (n + 1 < len)
        buf[n++] = *l->p;
      l->p++;
    }
    if (n == 0 && !value) {
      err_set (EINVAL, "filter: a field name is missing at '%.32s'", l->p);
      return -1;
    }
  }
  buf[n] = '\0';
  return 0;
}

static const char *
field_value (const struct snap_info *info, const char *path)
{
  static const char *const kinds[] = { "", "view", "active", "committed" };

  if (strcmp (path, "kind") == 0)
    return kinds[info->kind];
  if (strcmp (path, "name") == 0)
    return info->key;
  if (strcmp (path, "parent") == 0)
    return info->parent ? info->parent : "";
  if (strncmp (path, "labels.", 7) == 0)
    return snap_info_label (info, path + 7);
  return NULL;
}

static int
compare (const char *have, const char *op, const char *want)
{
  regex_t re;
  int r;

  if (!have)
    return 0;
  if (op[0] == '=')
    return strcmp (have, want) == 0;
  if (op[0] == '!')
    return strcmp (have, want) != 0;
  if (regcomp (&re, want, REG_EXTENDED | REG_NOSUB) != 0) {
    err_set (EINVAL, "filter: bad regular expression %s", want);
    return -1;
  }
  r = regexec (&re, have, 0, NULL, 0) == 0;
  regfree (&re);
  return r;
}

/* One selector at L: 1 match, 0 no match, -1 + err. */
static int
selector (struct lex *l, const struct snap_info *info)
{
  char path[SNAP_LABEL_MAX + 16] = "", part[SNAP_LABEL_MAX + 1], value[SNAP_LABEL_MAX + 1];
  char op[3] = "";

  for (;;) {
    if (word (l, part, sizeof part, false) == -1)
      return -1;
    if (strlen (path) + strlen (part) + 2 > sizeof path) {
      err_set (EINVAL, "filter: field path too long");
      return -1;
    }
    strcat (strcat (path, *path ? "." : ""), part);
    if (*l->p != '.')
      break;
    l->p++;
  }
  while (*l->p == ' ')
    l->p++;
  if ((l->p[0] == '=' || l->p[0] == '!' || l->p[0] == '~') && l->p[1] == '=') {
    op[0] = l->p[0], op[1] = '=';
    l->p += 2;
    while (*l->p == ' ')
      l->p++;
    if (word (l, value, sizeof value, true) == -1)
      return -1;
  }
  while (*l->p == ' ')
    l->p++;
  if (*l->p && *l->p != ',') {
    err_set (EINVAL, "filter: unexpected '%.32s'", l->p);
    return -1;
  }
  if (!op[0])
    return field_value (info, path) != NULL;
  return compare (field_value (info, path), op, value);
}

static int
match_one (const char *filter, const struct snap_info *info)
{
  struct lex l = { filter };
  int all = 1;

  while (*l.p == ' ')
    l.p++;
  if (!*l.p)
    return 1;
  for (;;) {
    int r = selector (&l, info);
    if (r == -1)
      return -1;
    all &= r;
    if (*l.p != ',')
      return all;
    l.p++;
  }
}

int
snap_filter_match (char *const *filters, size_t n, const struct snap_info *info)
{
  int any = n == 0;

  for (size_t i = 0; i < n; i++) {
    int r = match_one (filters[i], info);
    if (r == -1)
      return -1;
    any |= r;
  }
  return any;
}
